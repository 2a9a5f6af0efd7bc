/*
 * sig_util.c - what sigv4.c and sigv2.c share (parameters, headers, the
 * secret lookup, hashes, constant-time comparison, the clock window, the
 * canonical query string), below sig.c, which calls them: no cycle.
 */
#define KR_SIG_PRIVATE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/error.h"
#include "sig/sig.h"
#include "core/uri.h"

int
kr_sig_fail(struct kr_sig_result *res, enum kr_sig_failure why)
{
	res->failure = why;
	return -1;
}

const char *
kr_sig_header(const struct kr_sig_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

const char *
kr_sig_param(const struct kr_sig_params *p, const char *key)
{
	const char *v = kr_form_get(&p->query, key);

	return v ? v : kr_form_get(&p->body, key);
}

int
kr_sig_lookup(kr_sig_secret_fn lookup, void *ctx, const char *access_key, char *secret,
    size_t secret_len, struct kr_sig_result *res)
{
	memset(secret, 0, secret_len);
	if (lookup(ctx, access_key, secret, secret_len) < 0) {
		kr_error("AuthFailure", "AWS was not able to validate the provided access "
		    "credentials: unknown access key %.40s", access_key);
		return kr_sig_fail(res, KR_SIG_UNKNOWN_KEY);
	}
	secret[secret_len - 1] = '\0';
	return 0;
}

int
kr_sig_hmac(const EVP_MD *md, const void *key, size_t key_len, const void *data, size_t len,
    unsigned char *out, unsigned *out_len, struct kr_sig_result *res)
{
	if (!HMAC(md, key, (int)key_len, data, len, out, out_len)) {
		kr_error("InternalError", "HMAC failed");
		return kr_sig_fail(res, KR_SIG_INTERNAL);
	}
	return 0;
}

void
kr_sig_hex(const unsigned char *bin, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[bin[i] >> 4];
		out[2 * i + 1] = digits[bin[i] & 0xf];
	}
	out[2 * len] = '\0';
}

int
kr_sig_sha256_hex(const void *data, size_t len, char hex[65], struct kr_sig_result *res)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if (!EVP_Digest(data ? data : "", len, md, &n, EVP_sha256(), NULL)) {
		kr_error("InternalError", "SHA-256 failed");
		return kr_sig_fail(res, KR_SIG_INTERNAL);
	}
	kr_sig_hex(md, n, hex);
	return 0;
}

/* Constant time in the contents, so a signature cannot be guessed bytewise. */
bool
kr_sig_equal(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

int
kr_sig_check_skew(time_t t, time_t now, const char *what, struct kr_sig_result *res)
{
	if (t < now - KR_SIG_SKEW || t > now + KR_SIG_SKEW) {
		kr_error("RequestExpired", "request has expired: %s is more than %d minutes "
		    "from the server's time", what, KR_SIG_SKEW / 60);
		return kr_sig_fail(res, KR_SIG_EXPIRED);
	}
	return 0;
}

/* --- canonical query strings --------------------------------------------- */

struct qparam {
	const struct kr_form_param *p;
	char *key;		/* RFC 3986 encoded */
	char *value;
};

static int
cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

/* SigV4: by encoded name, then encoded value (botocore sorts the pairs). */
static int
cmp_encoded(const void *x, const void *y)
{
	const struct qparam *a = x, *b = y;
	int c = strcmp(a->key, b->key);

	return c ? c : strcmp(a->value, b->value);
}

/* SigV2: by the name's bytes before encoding ("natural byte order"). */
static int
cmp_decoded(const void *x, const void *y)
{
	const struct qparam *a = x, *b = y;
	int c = cmp_bytes(a->p->key, a->p->key_len, b->p->key, b->p->key_len);

	return c ? c : cmp_bytes(a->p->value, a->p->value_len, b->p->value, b->p->value_len);
}

static char *
encode(const char *s, size_t len)
{
	struct kr_buf b = KR_BUF_INIT;

	kr_uri_encode(&b, s, len, 0);
	return kr_buf_detach(&b, NULL);
}

static size_t
collect(struct qparam *q, size_t n, const struct kr_form *f, const char *skip)
{
	size_t i;

	for (i = 0; f && i < f->n; i++) {
		if (skip && strcmp(f->params[i].key, skip) == 0 &&
		    f->params[i].key_len == strlen(skip))
			continue;
		q[n].p = &f->params[i];
		q[n].key = encode(f->params[i].key, f->params[i].key_len);
		q[n].value = encode(f->params[i].value, f->params[i].value_len);
		n++;
	}
	return n;
}

int
kr_sig_canonical_query(struct kr_buf *out, const struct kr_form *a, const struct kr_form *b,
    const char *skip, bool sort_encoded, struct kr_sig_result *res)
{
	size_t total = (a ? a->n : 0) + (b ? b->n : 0), n, i;
	struct qparam *q = calloc(total ? total : 1, sizeof(*q));
	int rc = -1;

	if (!q) {
		kr_error("InternalError", "out of memory");
		return kr_sig_fail(res, KR_SIG_INTERNAL);
	}
	n = collect(q, 0, a, skip);
	n = collect(q, n, b, skip);
	for (i = 0; i < n; i++)
		if (!q[i].key || !q[i].value)
			goto cleanup;	/* kr_buf_detach recorded it */
	qsort(q, n, sizeof(*q), sort_encoded ? cmp_encoded : cmp_decoded);
	for (i = 0; i < n; i++)
		kr_buf_addf(out, "%s%s=%s", i ? "&" : "", q[i].key, q[i].value);
	rc = 0;
cleanup:
	for (i = 0; i < n; i++) {
		free(q[i].key);
		free(q[i].value);
	}
	free(q);
	return rc < 0 ? kr_sig_fail(res, KR_SIG_INTERNAL) : 0;
}
