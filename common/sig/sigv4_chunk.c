/*
 * sigv4_chunk.c - the chunk signatures of an aws-chunked SigV4 body
 * (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), see sig.h.
 *
 * The seed request was verified by kr_sig_verify(); here we only keep what
 * its chain needs: the derived signing key (not the secret, which is looked
 * up, used and wiped in kr_sig_v4_chunk_init), the request's time and scope,
 * and the last signature.  Comparisons are constant-time; any failure wipes
 * the key so a broken chain cannot be resumed.
 */
#define KR_SIG_PRIVATE
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/error.h"
#include "sig/sig.h"

#define STREAMING "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
/* Hex SHA-256 of the empty string: the chunk's (absent) "headers" line. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static bool
is_sig_hex(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return s[64] == '\0';
}

void
kr_sig_v4_chunk_wipe(struct kr_sig_chunk *c)
{
	if (c)
		OPENSSL_cleanse(c, sizeof(*c));
}

int
kr_sig_v4_chunk_init(struct kr_sig_chunk *c, const struct kr_sig_result *res,
    kr_sig_secret_fn lookup, void *ctx)
{
	struct kr_sig_result scratch = { 0 };
	char secret[KR_SIG_SECRET_MAX], date[9];
	struct tm tm;
	int rc = -1, n;

	memset(c, 0, sizeof(*c));
	if (res->version != 4 || res->presigned || strcmp(res->payload_hash, STREAMING) != 0 ||
	    !is_sig_hex(res->signature)) {
		kr_error("AuthFailure", "aws-chunked bodies need a SigV4 Authorization header "
		    "signing x-amz-content-sha256: " STREAMING);
		return -1;
	}
	gmtime_r(&res->signed_at, &tm);
	strftime(c->amz_date, sizeof(c->amz_date), "%Y%m%dT%H%M%SZ", &tm);
	/* kr_sig_verify() made sure the scope's date is the request's. */
	snprintf(date, sizeof(date), "%.8s", c->amz_date);
	n = snprintf(c->scope, sizeof(c->scope), "%s/%s/%s/aws4_request", date, res->region,
	    res->service);
	if (n < 0 || (size_t)n >= sizeof(c->scope)) {
		kr_error("AuthFailure", "credential scope too long");
		return -1;
	}
	memcpy(c->prev, res->signature, 65);	/* 64 hex digits and NUL, checked above */
	if (kr_sig_lookup(lookup, ctx, res->access_key, secret, sizeof(secret), &scratch) < 0)
		goto cleanup;
	if (kr_sig_v4_key(secret, date, res->region, res->service, c->key, &scratch) < 0)
		goto cleanup;
	c->ready = true;
	rc = 0;
cleanup:
	OPENSSL_cleanse(secret, sizeof(secret));
	if (rc < 0)
		kr_sig_v4_chunk_wipe(c);
	return rc;
}

int
kr_sig_v4_chunk_verify(struct kr_sig_chunk *c, const unsigned char data_sha256[32],
    const char *signature)
{
	struct kr_sig_result scratch = { 0 };
	char sts[512], data_hex[65], want[65];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	int len;

	if (!c->ready) {
		kr_error("SignatureDoesNotMatch", "the chunk signature chain is broken");
		return -1;
	}
	kr_sig_hex(data_sha256, 32, data_hex);
	len = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n" EMPTY_SHA256
	    "\n%s", c->amz_date, c->scope, c->prev, data_hex);
	if (len < 0 || (size_t)len >= sizeof(sts) ||
	    kr_sig_hmac(EVP_sha256(), c->key, sizeof(c->key), sts, (size_t)len, mac, &n,
	    &scratch) < 0) {
		kr_error("InternalError", "chunk signature: HMAC failed");
		kr_sig_v4_chunk_wipe(c);
		return -1;
	}
	kr_sig_hex(mac, n, want);
	OPENSSL_cleanse(mac, sizeof(mac));
	if (strlen(signature) != 64 || CRYPTO_memcmp(want, signature, 64) != 0) {
		kr_error("SignatureDoesNotMatch", "the chunk signature we calculated does not "
		    "match the one sent");
		kr_sig_v4_chunk_wipe(c);
		return -1;
	}
	memcpy(c->prev, want, sizeof(c->prev));
	return 0;
}
