/*
 * req_param.c - reading an action's parameters, each one checked.
 *
 * Every getter records the EC2 error a bad value deserves (MissingParameter,
 * InvalidParameterValue, UnknownParameter) and returns -1/NULL, so an action
 * reads its parameters in a few lines and passes failures up.  List
 * parameters are EC2's numbered form, Name.1, Name.2, ...; numbers may be
 * sparse (boto2 and awscli number from 1 without gaps, but EC2 accepts
 * gaps, so Karri does too) and are bounded by CLC_MAX_IDS.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clc.h"
#include "core/error.h"
#include "core/id.h"

const char *
clc_param(const struct clc_req *r, const char *name)
{
	return kr_form_get(r->params, name);
}

const char *
clc_param_required(const struct clc_req *r, const char *name)
{
	const char *v = kr_form_get(r->params, name);

	if (v == NULL || *v == '\0') {
		kr_error("MissingParameter", "the request must contain the parameter %s", name);
		return NULL;
	}
	return v;
}

int
clc_param_int(const struct clc_req *r, const char *name, long min, long max, long def,
    long *out)
{
	const char *v = kr_form_get(r->params, name);
	char *end;
	long n;

	if (v == NULL || *v == '\0') {
		*out = def;
		return 0;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || end == v || !(isdigit((unsigned char)*v) || *v == '-') ||
	    n < min || n > max) {
		kr_error("InvalidParameterValue", "value (%.32s) for parameter %s is invalid: "
		    "expected an integer from %ld to %ld", v, name, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

int
clc_param_bool(const struct clc_req *r, const char *name, bool def, bool *out)
{
	const char *v = kr_form_get(r->params, name);

	if (v == NULL || *v == '\0')
		*out = def;
	else if (strcasecmp(v, "true") == 0)
		*out = true;
	else if (strcasecmp(v, "false") == 0)
		*out = false;
	else {
		kr_error("InvalidParameterValue", "value (%.32s) for parameter %s is invalid: "
		    "expected true or false", v, name);
		return -1;
	}
	return 0;
}

/* The N of "<prefix>.N[.<suffix>]", or 0 when key is not of that shape. */
static long
list_index(const char *key, const char *prefix, const char *suffix)
{
	size_t pl = strlen(prefix);
	const char *p;
	char *end;
	long n;

	if (strncmp(key, prefix, pl) != 0 || key[pl] != '.' || !isdigit((unsigned char)key[pl + 1]))
		return 0;
	p = key + pl + 1;
	n = strtol(p, &end, 10);
	if (n <= 0 || n > 100000)
		return 0;
	if (suffix == NULL)
		return *end == '\0' ? n : 0;
	return *end == '.' && strcmp(end + 1, suffix) == 0 ? n : 0;
}

size_t
clc_param_list(const struct clc_req *r, const char *prefix, const char *suffix,
    const char **vals, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < r->params->n; i++) {
		const struct kr_form_param *p = &r->params->params[i];

		if (list_index(p->key, prefix, suffix) == 0)
			continue;
		if (n == max)
			return max + 1;
		vals[n++] = p->value;
	}
	return n;
}

int
clc_param_list_checked(const struct clc_req *r, const char *prefix, const char *suffix,
    const char **vals, size_t max, size_t *n)
{
	*n = clc_param_list(r, prefix, suffix, vals, max);
	if (*n > max) {
		kr_error("InvalidParameterValue", "too many values for %s (at most %zu)", prefix,
		    max);
		return -1;
	}
	return 0;
}

/* Printable ASCII, as EC2 allows in key pair and group names. */
bool
clc_name_ok(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return n > 0 && n <= max;
}

int
clc_check_name(const char *param, const char *s, size_t max)
{
	if (!clc_name_ok(s, max)) {
		kr_error("InvalidParameterValue", "value for %s must be 1 to %zu printable "
		    "ASCII characters", param, max);
		return -1;
	}
	return 0;
}

int
clc_check_id(const char *param, const char *id, const char *prefix, const char *code)
{
	if (!kr_id_valid(id, prefix)) {
		kr_error(code, "invalid id: \"%.64s\" (%s)", id, param);
		return -1;
	}
	return 0;
}

/* Parameters every request may carry besides the action's own. */
static const char *const common[] = {
	"Action", "Version", "DryRun", "AWSAccessKeyId", "SignatureVersion", "SignatureMethod",
	"Signature", "Timestamp", "Expires", "X-Amz-Algorithm", "X-Amz-Credential",
	"X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature",
	"X-Amz-Security-Token", NULL,
};

/* key is name, or starts with name followed by '.' (a list or structure). */
static bool
known_name(const char *key, const char *const *names)
{
	for (size_t i = 0; names[i]; i++) {
		size_t n = strlen(names[i]);

		if (strncmp(key, names[i], n) == 0 && (key[n] == '\0' || key[n] == '.'))
			return true;
	}
	return false;
}

int
clc_param_check_known(const struct clc_req *r, const char *const *known)
{
	for (size_t i = 0; i < r->params->n; i++) {
		const char *key = r->params->params[i].key;

		if (!known_name(key, common) && !known_name(key, known)) {
			kr_error("UnknownParameter", "the parameter %.64s is not recognized by %s",
			    key, r->action);
			return -1;
		}
	}
	return 0;
}
