/*
 * form.c - parse x-www-form-urlencoded data and query strings, with limits.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sig/form.h"
#include "core/uri.h"

const struct kr_form_limits kr_form_default_limits = {
	.max_params = 1000,
	.max_key = 256,
	.max_value = 1u << 20,
};

/* Decode one key or value into a fresh string; -1 with the error recorded. */
static int
decode_part(const char *s, size_t len, size_t max, const char *what, char **out,
    size_t *out_len)
{
	size_t bad = 0;
	ssize_t n;
	char *p;

	/* Decoding never grows, and at most shrinks by three, so an encoded
	 * part over 3 * max cannot fit: refuse it before allocating. */
	if (len / 3 > max) {
		kr_error("InvalidParameterValue", "%s longer than %zu bytes", what, max);
		return -1;
	}
	if (!(p = malloc(len + 1))) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	n = kr_uri_decode(p, s, len, KR_URI_PLUS_SPACE, &bad);
	if (n < 0) {
		kr_error("MalformedQueryString", "bad %%-escape in %s at \"%.*s\"", what,
		    (int)(len - bad < 8 ? len - bad : 8), s + bad);
		free(p);
		return -1;
	}
	if ((size_t)n > max) {
		kr_error("InvalidParameterValue", "%s longer than %zu bytes", what, max);
		free(p);
		return -1;
	}
	*out = p;
	*out_len = (size_t)n;
	return 0;
}

static int
add_param(struct kr_form *f, const char *piece, size_t len, const struct kr_form_limits *lim)
{
	const char *eq = memchr(piece, '=', len);
	size_t klen = eq ? (size_t)(eq - piece) : len;
	struct kr_form_param *np, *p;

	if (f->n >= lim->max_params) {
		kr_error("InvalidParameterValue", "more than %zu parameters", lim->max_params);
		return -1;
	}
	if (!(np = realloc(f->params, (f->n + 1) * sizeof(*np)))) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	f->params = np;
	p = &f->params[f->n];
	memset(p, 0, sizeof(*p));
	if (decode_part(piece, klen, lim->max_key, "parameter name", &p->key, &p->key_len) < 0)
		return -1;
	if (decode_part(eq ? eq + 1 : "", eq ? len - klen - 1 : 0, lim->max_value,
	    "parameter value", &p->value, &p->value_len) < 0) {
		free(p->key);
		return -1;
	}
	f->n++;
	return 0;
}

int
kr_form_parse(const char *data, size_t len, const struct kr_form_limits *lim,
    struct kr_form *out)
{
	const char *p = data, *end = data + len, *amp;

	out->params = NULL;
	out->n = 0;
	if (!lim)
		lim = &kr_form_default_limits;
	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (!amp)
			amp = end;
		if (amp > p && add_param(out, p, (size_t)(amp - p), lim) < 0) {
			kr_form_free(out);
			return -1;
		}
		p = amp + 1;
	}
	return 0;
}

const char *
kr_form_get(const struct kr_form *f, const char *key)
{
	size_t i, klen = strlen(key);

	for (i = 0; i < f->n; i++)
		if (f->params[i].key_len == klen && memcmp(f->params[i].key, key, klen) == 0)
			return f->params[i].value;
	return NULL;
}

size_t
kr_form_count(const struct kr_form *f, const char *key)
{
	size_t i, n = 0, klen = strlen(key);

	for (i = 0; i < f->n; i++)
		if (f->params[i].key_len == klen && memcmp(f->params[i].key, key, klen) == 0)
			n++;
	return n;
}

void
kr_form_free(struct kr_form *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->n; i++) {
		free(f->params[i].key);
		free(f->params[i].value);
	}
	free(f->params);
	f->params = NULL;
	f->n = 0;
}
