/*
 * s3v2.c - S3's own Signature Version 2 (boto2's and euca2ools' S3
 * signer, and botocore's "s3" signature version): HMAC-SHA1 over
 *
 *	VERB \n Content-MD5 \n Content-Type \n Date (or Expires) \n
 *	x-amz-* headers (lowercased, sorted, "name:value\n") + resource
 *
 * where the resource is the path as sent plus the subresources S3 names,
 * sorted.  Sent as "Authorization: AWS key:signature" or as a presigned
 * URL (?AWSAccessKeyId=&Expires=&Signature=).  EC2's query SigV2 (with
 * SignatureVersion=2) is the common verifier's business, not this file's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/buf.h"
#include "core/error.h"
#include "sig/form.h"
#include "walrus.h"

/* Subresources S3 signs, in sorted order. */
static const char *const subresources[] = {
	"acl", "cors", "delete", "lifecycle", "location", "logging", "notification",
	"partNumber", "policy", "requestPayment", "response-cache-control",
	"response-content-disposition", "response-content-encoding", "response-content-language",
	"response-content-type", "response-expires", "restore", "tagging", "torrent", "uploadId",
	"uploads", "versionId", "versioning", "versions", "website",
};

bool
wl_s3v2_present(const struct kr_httpd_req *http)
{
	const char *auth = kr_httpd_header(http, "Authorization");

	if (auth)
		return strncmp(auth, "AWS ", 4) == 0;
	return strstr(http->query, "AWSAccessKeyId=") && strstr(http->query, "Signature=") &&
	    !strstr(http->query, "SignatureVersion=");
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
add_amz_headers(struct kr_buf *sts, const struct kr_httpd_req *h)
{
	const char *names[128];
	char *lower[128];
	size_t n = 0;

	for (size_t i = 0; i < h->n_headers && n < 128; i++)
		if (strncasecmp(h->headers[i].name, "x-amz-", 6) == 0) {
			bool seen = false;
			for (size_t j = 0; j < n; j++)
				seen |= strcasecmp(names[j], h->headers[i].name) == 0;
			if (!seen)
				names[n++] = h->headers[i].name;
		}
	/* Sort case-insensitively by lowercasing copies. */
	for (size_t i = 0; i < n; i++) {
		lower[i] = strdup(names[i]);
		for (char *p = lower[i]; p && *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	}
	qsort(lower, n, sizeof(lower[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		bool first = true;
		if (!lower[i])
			continue;
		kr_buf_addf(sts, "%s:", lower[i]);
		for (size_t j = 0; j < h->n_headers; j++)
			if (strcasecmp(h->headers[j].name, lower[i]) == 0) {
				kr_buf_addf(sts, "%s%s", first ? "" : ",", h->headers[j].value);
				first = false;
			}
		kr_buf_add_char(sts, '\n');
		free(lower[i]);
	}
}

static void
add_resource(struct kr_buf *sts, const char *path, bool slash, const struct kr_form *q)
{
	bool first = true;

	kr_buf_add(sts, path);
	if (slash)
		kr_buf_add_char(sts, '/');
	for (size_t i = 0; i < sizeof(subresources) / sizeof(subresources[0]); i++) {
		const char *v = kr_form_get(q, subresources[i]);
		if (!kr_form_count(q, subresources[i]))
			continue;
		kr_buf_addf(sts, "%c%s", first ? '?' : '&', subresources[i]);
		if (v && *v)
			kr_buf_addf(sts, "=%s", v);
		first = false;
	}
}

static int
fail(struct kr_sig_result *res, enum kr_sig_failure why, const char *code, const char *msg)
{
	kr_error(code, "%s", msg);
	res->failure = why;
	return -1;
}

/* What the string to sign is made of, besides the request itself. */
struct v2_auth {
	const char *given;		/* the signature sent */
	const char *dates[2];		/* the date lines to try, NULL-ended */
	char expires[24];		/* presigned: the Expires line */
};

/*
 * Authorization: AWS key:signature.  The time is x-amz-date's, else Date's,
 * in any HTTP-date form (common/sig/sig_time.c).  With x-amz-date the Date
 * line is empty, as AWS documents and boto2 signs.  Walrus used to expect
 * the Date header's value there when both were sent, so that is tried too:
 * either way the x-amz-date that was checked is signed, among the x-amz-
 * headers.
 */
static int
header_auth(const struct kr_httpd_req *h, const char *auth, struct v2_auth *a,
    struct kr_sig_result *res)
{
	const char *colon = strchr(auth + 4, ':');
	const char *amz = kr_httpd_header(h, "x-amz-date"), *date = kr_httpd_header(h, "Date");
	const char *when = amz ? amz : date;
	time_t now = time(NULL), t;

	if (!colon || colon - (auth + 4) >= (long)sizeof(res->access_key))
		return fail(res, KR_SIG_MALFORMED, "IncompleteSignature",
		    "Authorization: AWS must be followed by key:signature");
	snprintf(res->access_key, sizeof(res->access_key), "%.*s", (int)(colon - auth - 4),
	    auth + 4);
	a->given = colon + 1;
	if (!when)
		return fail(res, KR_SIG_MALFORMED, "MissingParameter",
		    "a Date or x-amz-date header is required");
	if (kr_sig_time_http(when, &t) < 0) {
		kr_error("InvalidParameterValue", "%s \"%.40s\" is not an HTTP date (RFC 7231, "
		    "e.g. Mon, 07 Dec 2026 14:00:00 GMT)", amz ? "x-amz-date" : "Date", when);
		res->failure = KR_SIG_MALFORMED;
		return -1;
	}
	if (t < now - KR_SIG_SKEW || t > now + KR_SIG_SKEW)
		return fail(res, KR_SIG_EXPIRED, "RequestExpired", "request too old");
	res->signed_at = t;
	a->dates[0] = amz ? "" : date;
	a->dates[1] = amz && date ? date : NULL;
	return 0;
}

/* ?AWSAccessKeyId=&Expires=&Signature=: Expires (epoch seconds) is the date line. */
static int
query_auth(const struct wl_req *rq, struct v2_auth *a, struct kr_sig_result *res)
{
	const char *key = kr_form_get(&rq->query, "AWSAccessKeyId");
	const char *exp = kr_form_get(&rq->query, "Expires");
	time_t e;

	res->presigned = true;	/* also when expired: the edge then answers AccessDenied */
	a->given = kr_form_get(&rq->query, "Signature");
	if (!key || !exp || !a->given || strlen(key) >= sizeof(res->access_key))
		return fail(res, KR_SIG_MALFORMED, "IncompleteSignature",
		    "AWSAccessKeyId, Expires and Signature are all required");
	if (kr_sig_time_epoch(exp, &e) < 0)
		return fail(res, KR_SIG_MALFORMED, "InvalidParameterValue",
		    "Expires must be seconds since the epoch");
	if (e < time(NULL))
		return fail(res, KR_SIG_EXPIRED, "RequestExpired", "Request has expired");
	snprintf(res->access_key, sizeof(res->access_key), "%s", key);
	res->expires = e;
	snprintf(a->expires, sizeof(a->expires), "%lld", (long long)e);
	a->dates[0] = a->expires;
	a->dates[1] = NULL;
	return 0;
}

/* Does a->given sign the request with this date line and path form?  -1: internal. */
static int
matches(const struct wl_req *rq, const char *signed_path, bool slash, const char *date,
    const char *secret, const char *given)
{
	const struct kr_httpd_req *h = rq->http;
	const char *md5 = kr_httpd_header(h, "Content-MD5"), *ct = kr_httpd_header(h, "Content-Type");
	struct kr_buf sts = KR_BUF_INIT;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char expect[64];
	int rc = -1;

	kr_buf_addf(&sts, "%s\n%s\n%s\n%s\n", h->method, md5 ? md5 : "", ct ? ct : "", date);
	add_amz_headers(&sts, h);
	add_resource(&sts, signed_path, slash, &rq->query);
	if (!kr_buf_failed(&sts) && HMAC(EVP_sha1(), secret, (int)strlen(secret),
	    (const unsigned char *)kr_buf_str(&sts), kr_buf_len(&sts), mac, &maclen)) {
		EVP_EncodeBlock((unsigned char *)expect, mac, (int)maclen);
		rc = strlen(given) == strlen(expect) &&
		    CRYPTO_memcmp(given, expect, strlen(expect)) == 0;
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	kr_buf_free(&sts);
	return rc;
}

int
wl_s3v2_verify(struct wl_req *rq, const char *signed_path, struct kr_sig_result *res)
{
	const char *auth = kr_httpd_header(rq->http, "Authorization");
	size_t pl = strlen(signed_path);
	struct v2_auth a = { 0 };
	char secret[128];
	int ok = 0;

	memset(res, 0, sizeof(*res));
	res->version = 2;
	if ((auth ? header_auth(rq->http, auth, &a, res) : query_auth(rq, &a, res)) < 0)
		return -1;
	if (kr_userdb_secret(rq->w->users, res->access_key, secret, sizeof(secret)) < 0)
		return fail(res, KR_SIG_UNKNOWN_KEY, "AuthFailure", "unknown access key");
	/*
	 * botocore signs a bucket's path with a trailing slash it does not send
	 * ("/bkt/" for GET /bkt): try both.
	 */
	for (int d = 0; d < 2 && a.dates[d] && ok == 0; d++)
		for (int slash = 0; slash < 2 && ok == 0; slash++) {
			if (slash && (rq->key || (pl && signed_path[pl - 1] == '/')))
				break;
			ok = matches(rq, signed_path, slash, a.dates[d], secret, a.given);
		}
	explicit_bzero(secret, sizeof(secret));
	if (ok < 0)
		return fail(res, KR_SIG_INTERNAL, "InternalError", "cannot compute the signature");
	if (!ok)
		return fail(res, KR_SIG_MISMATCH, "AuthFailure", "signature mismatch");
	res->failure = KR_SIG_OK;
	return 0;
}
