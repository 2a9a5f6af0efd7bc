/*
 * form.h - application/x-www-form-urlencoded bodies and query strings.
 *
 * EC2 Query requests arrive either way (GET query or POST form body) and
 * signature checks need the parameters exactly as sent, so the parser keeps
 * order and repeated keys, and records decoded lengths (a %00 is data).
 * '+' decodes to a space, as browsers, botocore and boto2 all encode it.
 * Empty pieces ("a=1&&b=2", a trailing '&') are skipped; a piece without
 * '=' is a key with an empty value ("Flag" == "Flag=").  Everything is
 * bounded by limits, since both strings come straight off the network.
 */
#ifndef KARRI_FORM_H
#define KARRI_FORM_H

#include <stddef.h>

struct kr_form_param {
	char *key;		/* decoded, NUL-terminated */
	char *value;		/* decoded, NUL-terminated, "" when empty */
	size_t key_len;		/* exact lengths: a %00 may hide inside */
	size_t value_len;
};

struct kr_form {
	struct kr_form_param *params;	/* in the order received */
	size_t n;
};

struct kr_form_limits {
	size_t max_params;
	size_t max_key;		/* decoded bytes */
	size_t max_value;	/* decoded bytes */
};

/* 1000 parameters, 256-byte keys, 1 MiB values (UserData may be big). */
extern const struct kr_form_limits kr_form_default_limits;

#define KR_FORM_INIT { NULL, 0 }

/*
 * Parse data[0..len) into *out (which the call initialises).  lim NULL:
 * kr_form_default_limits.  -1 with kr_error() recorded: "MalformedQueryString"
 * for a bad %-escape, "InvalidParameterValue" when a limit is exceeded,
 * "InternalError" when out of memory; *out is then empty.
 */
int kr_form_parse(const char *data, size_t len, const struct kr_form_limits *lim,
    struct kr_form *out);

/* The first value of key, or NULL. */
const char *kr_form_get(const struct kr_form *f, const char *key);

/* How many times key occurs. */
size_t kr_form_count(const struct kr_form *f, const char *key);

void kr_form_free(struct kr_form *f);	/* NULL-safe; leaves it empty */

#endif
