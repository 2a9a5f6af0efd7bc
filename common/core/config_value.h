/*
 * config_value.h - reading and checking one configuration value (private
 * to config.c, which handles files, lines and keys).
 */
#ifndef KARRI_CONFIG_VALUE_H
#define KARRI_CONFIG_VALUE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/config.h"

/* Where a value was read, for messages: "path:line: KEY". */
struct kr_cfg_where {
	const char *path;
	int line;
	const char *key;
};

/*
 * Lex the text after "KEY=" through the end of the line into out (quotes
 * removed, escapes applied, $KARRI_HOME replaced by `home`).  0, or -1 with
 * *reason set.  Other $NAMEs are kept, with a warning naming w.
 */
int kr_cfg_value_lex(const char *home, const struct kr_cfg_where *w, const char *p,
    struct kr_buf *out, const char **reason);

/*
 * Check `raw` against `key`.  0: *canon is the malloc'd canonical spelling
 * ("Y"/"N" for BOOL, the choice's spelling for ENUM), or NULL when raw is
 * empty (unset).  -1: `reason` says why, in words for the admin ("must be
 * one of ..."); kr_error() is left to the caller, who knows file:line.
 */
int kr_cfg_value_check(const struct kr_cfg_key *key, const char *raw, char **canon,
    char *reason, size_t reasonlen);

#endif
