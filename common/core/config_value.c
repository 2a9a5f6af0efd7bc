/*
 * config_value.c - from the text after KEY= to a checked, canonical value.
 *
 * Lexing follows a POSIX shell reading one assignment, but nothing is
 * executed or expanded beyond $KARRI_HOME: the file is data.  Shell features
 * that would make `source karri.conf` behave differently from us (command
 * substitution, operators, several words) are refused, so the two readings
 * of a file never disagree silently.
 *
 * Checking happens when a value is read, never when it is used, so a daemon
 * refuses a bad karri.conf at start instead of failing on first use.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config_value.h"
#include "core/log.h"

static int
why(char *reason, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
why(char *reason, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, len, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Handle the '$' at *pp (inside double quotes or unquoted): append the
 * expansion (or the text itself) to out and move *pp past it.  -1 with
 * *reason set on a construct we refuse.
 */
static int
expand_dollar(const char *home, const struct kr_cfg_where *w, const char **pp,
    struct kr_buf *out, bool *expanded, const char **reason)
{
	const char *p = *pp + 1, *name, *end;
	size_t len;

	if (*p == '(') {
		*reason = "command substitution $(...) is not supported";
		return -1;
	}
	if (*p == '{') {
		name = p + 1;
		if (!(end = strchr(name, '}'))) {
			*reason = "unterminated ${";
			return -1;
		}
		len = (size_t)(end - name);
		end++;
	} else if (*p == '_' || isalpha((unsigned char)*p)) {
		name = p;
		for (end = p; *end == '_' || isalnum((unsigned char)*end); end++)
			;
		len = (size_t)(end - name);
	} else {
		kr_buf_add_char(out, '$');	/* a lone '$' is just a dollar sign */
		*pp = p;
		return 0;
	}
	if ((len == 10 && strncmp(name, "KARRI_HOME", len) == 0) ||
	    (len == 10 && strncmp(name, "EUCALYPTUS", len) == 0)) {
		size_t hl = strlen(home);

		while (hl > 0 && home[hl - 1] == '/')
			hl--;
		kr_buf_add_len(out, home, hl);
		*expanded = true;
	} else {
		kr_log_warnx("%s:%d: %s: $%.*s is not expanded (only $KARRI_HOME is); kept literally",
		    w->path, w->line, w->key, (int)len, name);
		kr_buf_add_len(out, *pp, (size_t)(end - *pp));
	}
	*pp = end;
	return 0;
}

int
kr_cfg_value_lex(const char *home, const struct kr_cfg_where *w, const char *p,
    struct kr_buf *out, const char **reason)
{
	bool expanded = false;
	const char *q;

	while (*p) {
		if (*p == ' ' || *p == '\t') {
			p += strspn(p, " \t");
			if (*p && *p != '#') {
				*reason = "unquoted space in the value (quote it: KEY=\"a b\")";
				return -1;
			}
			break;
		} else if (*p == '\'') {
			if (!(q = strchr(p + 1, '\''))) {
				*reason = "unterminated single quote";
				return -1;
			}
			kr_buf_add_len(out, p + 1, (size_t)(q - p - 1));
			p = q + 1;
		} else if (*p == '"') {
			for (p++; *p && *p != '"';) {
				if (*p == '\\' && p[1] && strchr("\"\\$`", p[1])) {
					kr_buf_add_char(out, p[1]);
					p += 2;
				} else if (*p == '$') {
					if (expand_dollar(home, w, &p, out, &expanded, reason) < 0)
						return -1;
				} else if (*p == '`') {
					*reason = "command substitution `...` is not supported";
					return -1;
				} else {
					kr_buf_add_char(out, *p++);
				}
			}
			if (*p != '"') {
				*reason = "unterminated double quote";
				return -1;
			}
			p++;
		} else if (*p == '\\') {
			if (!p[1]) {
				*reason = "line continuation is not supported";
				return -1;
			}
			kr_buf_add_char(out, p[1]);
			p += 2;
		} else if (*p == '$') {
			if (expand_dollar(home, w, &p, out, &expanded, reason) < 0)
				return -1;
		} else if (strchr(";&|<>()`", *p)) {
			*reason = "shell operator in the value (quote it)";
			return -1;
		} else {
			kr_buf_add_char(out, *p++);
		}
	}
	/* "$KARRI_HOME" alone with KARRI_HOME=/ is the root, not "". */
	if (expanded && kr_buf_len(out) == 0)
		kr_buf_add_char(out, '/');
	return 0;
}

static int
parse_long(const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return (errno || end == s || *end) ? -1 : 0;
}

static int
check_int(const struct kr_cfg_key *k, const char *v, char *reason, size_t rlen)
{
	long n, min = k->min, max = k->max;

	if (k->type == KR_CFG_PORT) {
		min = 1;
		max = 65535;
	}
	if (parse_long(v, &n) < 0)
		return why(reason, rlen, "\"%s\" is not a whole number", v);
	if ((min || max) && (n < min || n > max))
		return why(reason, rlen, "%ld is out of range %ld..%ld", n, min, max);
	if (k->choices && strcmp(k->choices, "pow2") == 0 && (n <= 0 || (n & (n - 1))))
		return why(reason, rlen, "%ld is not a power of two", n);
	return 0;
}

static int
check_bool(const char *v, const char **canon, char *reason, size_t rlen)
{
	static const char *const yes[] = { "Y", "yes", "true", "1" }, *const no[] = { "N", "no", "false", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*canon = "Y";
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*canon = "N";
			return 0;
		}
	}
	return why(reason, rlen, "\"%s\" is not Y or N (yes/no, true/false, 1/0)", v);
}

/* ENUM: choices "A|B|ALIAS=A"; the canonical spelling points into choices. */
static int
check_enum(const struct kr_cfg_key *k, const char *v, const char **canon, size_t *canon_len,
    char *reason, size_t rlen)
{
	const char *p = k->choices ? k->choices : "", *end, *eq;
	size_t len, vlen = strlen(v);

	for (; *p; p = *end ? end + 1 : end) {
		end = p + strcspn(p, "|");
		eq = memchr(p, '=', (size_t)(end - p));
		len = (size_t)((eq ? eq : end) - p);
		if (len == vlen && strncasecmp(p, v, len) == 0) {
			*canon = eq ? eq + 1 : p;
			*canon_len = (size_t)(end - *canon);
			return 0;
		}
	}
	return why(reason, rlen, "\"%s\" is not one of %s", v, k->choices ? k->choices : "(none)");
}

static int
check_macprefix(const char *v, char *reason, size_t rlen)
{
	unsigned int a, b;
	int end = 0;

	if (strlen(v) != 5 || sscanf(v, "%2x:%2x%n", &a, &b, &end) != 2 || end != 5 ||
	    !isxdigit((unsigned char)v[0]) || !isxdigit((unsigned char)v[3]))
		return why(reason, rlen, "\"%s\" is not two hex octets like d0:0d", v);
	if (a & 1)	/* the group bit: guests would get multicast MACs */
		return why(reason, rlen, "\"%s\" would make multicast MACs (first octet is odd)", v);
	return 0;
}

static int
check_string(const struct kr_cfg_key *k, const char *v, char *reason, size_t rlen)
{
	struct in_addr a;

	if (!k->choices)
		return 0;
	if (strcmp(k->choices, "ipv4") == 0 && inet_pton(AF_INET, v, &a) != 1)
		return why(reason, rlen, "\"%s\" is not an IPv4 address", v);
	if (strcmp(k->choices, "macprefix") == 0)
		return check_macprefix(v, reason, rlen);
	return 0;
}

static int
check_list(const struct kr_cfg_key *k, const char *v, char *reason, size_t rlen)
{
	const char *p;
	size_t len;

	if (!k->choices || strcmp(k->choices, "path") != 0)
		return 0;
	for (p = v + strspn(v, " \t"); *p; p += len, p += strspn(p, " \t")) {
		len = strcspn(p, " \t");
		if (*p != '/')
			return why(reason, rlen, "\"%.*s\" is not an absolute path", (int)len, p);
	}
	return 0;
}

int
kr_cfg_value_check(const struct kr_cfg_key *k, const char *raw, char **canon,
    char *reason, size_t rlen)
{
	const char *c = raw, *p;
	size_t clen;
	int rc = 0;

	*canon = NULL;
	if (!raw || !*raw)
		return 0;
	for (p = raw; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return why(reason, rlen, "contains a control character");
	clen = strlen(raw);
	switch (k->type) {
	case KR_CFG_INT:
	case KR_CFG_PORT:
		rc = check_int(k, raw, reason, rlen);
		break;
	case KR_CFG_BOOL:
		rc = check_bool(raw, &c, reason, rlen);
		clen = 1;
		break;
	case KR_CFG_ENUM:
		rc = check_enum(k, raw, &c, &clen, reason, rlen);
		break;
	case KR_CFG_PATH:
		if (raw[0] != '/')
			rc = why(reason, rlen, "\"%s\" is not an absolute path", raw);
		break;
	case KR_CFG_LIST:
		rc = check_list(k, raw, reason, rlen);
		break;
	case KR_CFG_STRING:
		rc = check_string(k, raw, reason, rlen);
		break;
	}
	if (rc < 0)
		return -1;
	if (!(*canon = strndup(c, clen)))
		return why(reason, rlen, "out of memory");
	return 0;
}
