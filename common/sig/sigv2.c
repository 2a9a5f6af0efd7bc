/*
 * sigv2.c - AWS Signature Version 2 (EC2 Query): parameters in the query
 * string or a POST form body, signed as
 *
 *   METHOD \n host \n path \n name=value&... (every parameter but Signature,
 *   sorted by name, RFC 3986 encoded)
 *
 * with HMAC-SHA256 or HMAC-SHA1, base64.  The host is the Host header as
 * received, lowercased, and nothing else: boto2 sends and signs the host
 * without its port even on :8773, botocore sends and signs host:port, and
 * both agree with their own Host header.  (Trying the host without its
 * port as well would let a request move between ports.)
 */
#define KR_SIG_PRIVATE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/error.h"
#include "sig/sig.h"

struct v2 {
	const char *access_key;
	const char *signature;
	const EVP_MD *md;
};

static int
missing(struct kr_sig_result *res, const char *name)
{
	kr_error("MissingParameter", "the request must contain the parameter %s", name);
	return kr_sig_fail(res, KR_SIG_MALFORMED);
}

static int
check_time(const struct kr_sig_params *p, time_t now, struct kr_sig_result *res)
{
	const char *ts = kr_sig_param(p, "Timestamp"), *ex = kr_sig_param(p, "Expires");
	time_t t;

	if (ts && ex) {
		kr_error("InvalidParameterValue", "Timestamp and Expires are mutually exclusive");
		return kr_sig_fail(res, KR_SIG_MALFORMED);
	}
	if (!ts && !ex)
		return missing(res, "Timestamp");
	if (kr_sig_time_iso(ts ? ts : ex, &t) < 0) {
		kr_error("InvalidParameterValue", "%s \"%.40s\" is not an ISO 8601 time",
		    ts ? "Timestamp" : "Expires", ts ? ts : ex);
		return kr_sig_fail(res, KR_SIG_MALFORMED);
	}
	if (ts) {
		res->signed_at = t;
		return kr_sig_check_skew(t, now, "Timestamp", res);
	}
	res->expires = t;
	if (now > t) {
		kr_error("RequestExpired", "request has expired: Expires is in the past");
		return kr_sig_fail(res, KR_SIG_EXPIRED);
	}
	return 0;
}

static int
parse_auth(const struct kr_sig_params *p, struct v2 *v, struct kr_sig_result *res)
{
	const char *ver = kr_sig_param(p, "SignatureVersion");
	const char *method = kr_sig_param(p, "SignatureMethod");

	if (!(v->access_key = kr_sig_param(p, "AWSAccessKeyId")))
		return missing(res, "AWSAccessKeyId");
	if (!(v->signature = kr_sig_param(p, "Signature")))
		return missing(res, "Signature");
	if (!ver)
		return missing(res, "SignatureVersion");
	if (!method)
		return missing(res, "SignatureMethod");
	if (kr_form_count(&p->query, "Signature") + kr_form_count(&p->body, "Signature") > 1) {
		kr_error("IncompleteSignature", "Signature is repeated");
		return kr_sig_fail(res, KR_SIG_MALFORMED);
	}
	if (strcmp(ver, "2") != 0) {
		kr_error("AuthFailure", "unsupported SignatureVersion %.10s (Karri takes 2 and "
		    "AWS4-HMAC-SHA256)", ver);
		return kr_sig_fail(res, KR_SIG_UNSUPPORTED);
	}
	if (strcmp(method, "HmacSHA256") == 0)
		v->md = EVP_sha256();
	else if (strcmp(method, "HmacSHA1") == 0)
		v->md = EVP_sha1();
	else {
		kr_error("InvalidParameterValue", "SignatureMethod must be HmacSHA256 or HmacSHA1");
		return kr_sig_fail(res, KR_SIG_MALFORMED);
	}
	if (strlen(v->access_key) >= sizeof(res->access_key)) {
		kr_error("AuthFailure", "AWSAccessKeyId too long");
		return kr_sig_fail(res, KR_SIG_UNKNOWN_KEY);
	}
	return 0;
}

/* Base64 HMAC of METHOD\nhost\npath\nquery; -1 on error. */
static int
sign(const struct v2 *v, const char *secret, const struct kr_sig_request *req,
    const char *host, const char *query, char *out,
    struct kr_sig_result *res)
{
	struct kr_buf b = KR_BUF_INIT;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	char *sts;
	int rc;

	kr_buf_addf(&b, "%s\n", req->method);
	for (; *host; host++)
		kr_buf_add_char(&b, (char)tolower((unsigned char)*host));
	kr_buf_addf(&b, "\n%s\n%s", req->path && *req->path ? req->path : "/", query);
	if (!(sts = kr_buf_detach(&b, NULL)))
		return kr_sig_fail(res, KR_SIG_INTERNAL);
	rc = kr_sig_hmac(v->md, secret, strlen(secret), sts, strlen(sts), md, &n, res);
	free(sts);
	if (rc == 0)
		EVP_EncodeBlock((unsigned char *)out, md, (int)n);
	OPENSSL_cleanse(md, sizeof(md));
	return rc;
}

/* The received signature; a '+' sent unescaped in a query decodes to ' '. */
static void
received_signature(const char *s, char *out, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		out[i] = s[i] == ' ' ? '+' : s[i];
	out[i] = '\0';
}

static int
verify(const struct kr_sig_request *req, const struct kr_sig_params *p, const struct v2 *v,
    const char *secret, struct kr_sig_result *res)
{
	const char *host = kr_sig_header(req, "Host");
	char want[EVP_MAX_MD_SIZE * 2], got[EVP_MAX_MD_SIZE * 2];
	struct kr_buf q = KR_BUF_INIT;
	int ok;

	if (!host)
		return missing(res, "Host (header)");
	if (kr_sig_canonical_query(&q, &p->query, &p->body, "Signature", false, res) < 0 ||
	    kr_buf_failed(&q)) {
		kr_buf_free(&q);
		kr_error("InternalError", "out of memory");
		return kr_sig_fail(res, KR_SIG_INTERNAL);
	}
	received_signature(v->signature, got, sizeof(got));
	if (sign(v, secret, req, host, kr_buf_str(&q), want, res) < 0) {
		kr_buf_free(&q);
		return -1;
	}
	ok = kr_sig_equal(want, got);
	kr_buf_free(&q);
	if (!ok) {
		kr_error("AuthFailure", "the request signature we calculated does not match "
		    "the signature you provided (SigV2, key %s)", v->access_key);
		return kr_sig_fail(res, KR_SIG_MISMATCH);
	}
	return 0;
}

int
kr_sig_v2(const struct kr_sig_request *req, const struct kr_sig_params *p,
    kr_sig_secret_fn lookup, void *ctx, time_t now, struct kr_sig_result *res)
{
	char secret[KR_SIG_SECRET_MAX];
	struct v2 v = { 0 };
	int rc;

	if (parse_auth(p, &v, res) < 0 || check_time(p, now, res) < 0 ||
	    kr_sig_lookup(lookup, ctx, v.access_key, secret, sizeof(secret), res) < 0)
		return -1;
	rc = verify(req, p, &v, secret, res);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (rc < 0)
		return -1;
	snprintf(res->access_key, sizeof(res->access_key), "%s", v.access_key);
	res->version = 2;
	res->presigned = true;
	return 0;
}
