/*
 * config.h - karri.conf: eucalyptus.conf-style configuration.
 *
 * The file is a list of shell assignments, so an admin's eucalyptus.conf
 * carries over and scripts may still `source` it:
 *
 *	# comment                       blank lines are fine
 *	NODES="10.0.0.2 10.0.0.3"       double quotes: \" \\ \$ \` escapes
 *	CC_PORT=8774                    unquoted: one word
 *	VNET_MODE='MANAGED-NOVLAN'      single quotes: taken literally
 *	export LOGLEVEL=INFO            "export" is tolerated
 *	HYPERVISOR="kvm"  # trailing comments are fine
 *
 * Anything else (spaces around '=', two words unquoted, an unterminated
 * quote, a line that is not KEY=VALUE) is an error naming file:line.
 *
 * Keys come from a table (struct kr_cfg_key; Karri's is kr_config_keys in
 * config_keys.c).  Every value is checked against its key's type when it is
 * read, so bad values are refused at start with file:line and the key named.
 * A key not in the table is warned about and ignored; a key given twice:
 * the last one wins, as in the shell.  An empty value (KEY="") means "not
 * set": the key keeps its default, the way eucalyptus.conf writes unset keys.
 *
 * $-expansion: values are NOT expanded by a shell.  Exactly $KARRI_HOME,
 * ${KARRI_HOME}, $EUCALYPTUS and ${EUCALYPTUS} are replaced (outside single
 * quotes) by the value of the KARRI_HOME key at that point of the file, with
 * its trailing slash dropped ("$KARRI_HOME/var" is "/var" when KARRI_HOME is
 * "/").  KARRI_HOME comes from the environment variable KARRI_HOME, else its
 * default "/", and the file may set it.  Any other $name is kept literally
 * and warned about with file:line.  Defaults in the table may use
 * $KARRI_HOME too; they follow the final KARRI_HOME.
 *
 * A loaded kr_config is read-only and may be shared by threads; reloading
 * builds a new one (which replaces the old only when it parsed whole).
 */
#ifndef KARRI_CONFIG_H
#define KARRI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum kr_cfg_type {
	KR_CFG_STRING,	/* any text */
	KR_CFG_INT,	/* decimal; min..max unless both are 0 */
	KR_CFG_BOOL,	/* Y/N/yes/no/true/false/1/0, any case; stored "Y" or "N" */
	KR_CFG_ENUM,	/* one of choices, any case; stored as spelled in choices */
	KR_CFG_PORT,	/* 1..65535 */
	KR_CFG_PATH,	/* absolute path */
	KR_CFG_LIST,	/* whitespace-separated words */
};

/*
 * One key.  `choices` means, by type:
 *   ENUM:   "GREEDY|ROUNDROBIN|POWERSAVE"; an entry "ALIAS=NAME" accepts
 *           ALIAS and stores NAME (LOGLEVEL's "TRACE=DEBUG").
 *   INT:    NULL, or "pow2": the value must be a power of two.
 *   STRING: NULL, "ipv4" (a dotted quad) or "macprefix" (two hex octets,
 *           "d0:0d", unicast).
 *   LIST:   NULL, or "path": every item must be an absolute path.
 * `def` is the default as the file would spell it (NULL: unset).
 */
struct kr_cfg_key {
	const char *name;
	enum kr_cfg_type type;
	const char *def;
	long min;
	long max;
	const char *choices;
	const char *help;
};

/* THE table of every key Karri knows, terminated by { NULL }. */
extern const struct kr_cfg_key kr_config_keys[];

struct kr_config;

/*
 * Parse `path` against `keys` (NULL: kr_config_keys).  NULL with
 * kr_error("InvalidConfiguration", "<path>:<line>: <KEY>: <reason>") on a
 * bad value or syntax, or naming the file when it cannot be read.
 */
struct kr_config *kr_config_load(const char *path, const struct kr_cfg_key *keys);

/* Only the defaults (and KARRI_HOME from the environment). */
struct kr_config *kr_config_defaults(const struct kr_cfg_key *keys);

void kr_config_free(struct kr_config *cfg);	/* NULL-safe */

/* Set a value as if read from a file; -1 + kr_error naming the key. */
int kr_config_set(struct kr_config *cfg, const char *key, const char *value);

/*
 * The value or the default; NULL when unset without a default.  Asking for
 * a key not in the table is a programming error: it is logged, NULL.
 */
const char *kr_config_get(const struct kr_config *cfg, const char *key);

/* INT or PORT keys; 0 when unset (or, logged, for a key of another type). */
long kr_config_int(const struct kr_config *cfg, const char *key);

/* BOOL keys; false when unset. */
bool kr_config_bool(const struct kr_config *cfg, const char *key);

/*
 * Split a LIST key into *items (caller frees with kr_config_list_free());
 * returns the count.  0 items: *items is NULL (also on out of memory, with
 * kr_error set).
 */
size_t kr_config_list(const struct kr_config *cfg, const char *key, char ***items);
void kr_config_list_free(char **items, size_t n);

/* Where the value came from: "path:line", "environment" or "default". */
const char *kr_config_source(const struct kr_config *cfg, const char *key);

/*
 * KARRI_HOME joined with a relative path, e.g. the default log file when
 * LOG_FILE is unset: kr_config_home_path(cfg, "var/log/karri/karri-nc.log").
 * malloc'd; NULL + kr_error on out of memory.
 */
char *kr_config_home_path(const struct kr_config *cfg, const char *rel);

#endif
