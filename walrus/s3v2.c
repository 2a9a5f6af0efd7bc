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

#include "buf.h"
#include "error.h"
#include "form.h"
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

int
wl_s3v2_verify(struct wl_req *rq, const char *signed_path, struct kr_sig_result *res)
{
	const struct kr_httpd_req *h = rq->http;
	const char *auth = kr_httpd_header(h, "Authorization"), *given, *colon, *date;
	const char *md5 = kr_httpd_header(h, "Content-MD5"), *ct = kr_httpd_header(h, "Content-Type");
	struct kr_buf sts = KR_BUF_INIT;
	char secret[128], expect[64], datebuf[32];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	time_t now = time(NULL), t;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	res->version = 2;
	if (auth) {
		if (!(colon = strchr(auth + 4, ':')) || colon - (auth + 4) >= (long)sizeof(res->access_key))
			return fail(res, KR_SIG_MALFORMED, "IncompleteSignature",
			    "Authorization: AWS must be followed by key:signature");
		snprintf(res->access_key, sizeof(res->access_key), "%.*s", (int)(colon - auth - 4),
		    auth + 4);
		given = colon + 1;
		date = kr_httpd_header(h, "Date");
		if (kr_httpd_header(h, "x-amz-date"))
			date = kr_httpd_header(h, "x-amz-date");
		{
			struct tm tm = { 0 };
			const char *end = date ? strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm) : NULL;
			if (!end || *end)
				return fail(res, KR_SIG_MALFORMED, "MissingParameter",
				    "a Date or x-amz-date header (RFC 1123) is required");
			t = timegm(&tm);
			if (t < now - KR_SIG_SKEW || t > now + KR_SIG_SKEW)
				return fail(res, KR_SIG_EXPIRED, "RequestExpired", "request too old");
			res->signed_at = t;
		}
		/* With x-amz-date the Date line is empty (it is signed among the x-amz- headers). */
		date = kr_httpd_header(h, "x-amz-date") ? (kr_httpd_header(h, "Date") ?
		    kr_httpd_header(h, "Date") : "") : date;
	} else {
		const char *key = kr_form_get(&rq->query, "AWSAccessKeyId");
		const char *exp = kr_form_get(&rq->query, "Expires");
		char *endp;
		long long e;

		given = kr_form_get(&rq->query, "Signature");
		if (!key || !exp || !given || strlen(key) >= sizeof(res->access_key))
			return fail(res, KR_SIG_MALFORMED, "IncompleteSignature",
			    "AWSAccessKeyId, Expires and Signature are all required");
		e = strtoll(exp, &endp, 10);
		if (*endp || endp == exp)
			return fail(res, KR_SIG_MALFORMED, "InvalidParameterValue", "bad Expires");
		if (e < now)
			return fail(res, KR_SIG_EXPIRED, "RequestExpired", "Request has expired");
		snprintf(res->access_key, sizeof(res->access_key), "%s", key);
		res->presigned = true;
		res->expires = (time_t)e;
		snprintf(datebuf, sizeof(datebuf), "%lld", e);
		date = datebuf;
	}
	if (kr_userdb_secret(rq->w->users, res->access_key, secret, sizeof(secret)) < 0)
		return fail(res, KR_SIG_UNKNOWN_KEY, "AuthFailure", "unknown access key");
	/*
	 * botocore signs a bucket's path with a trailing slash it does not send
	 * ("/bkt/" for GET /bkt): try both.
	 */
	for (int variant = 0; variant < 2 && rc < 0; variant++) {
		size_t pl = strlen(signed_path);

		if (variant == 1 && (rq->key || (pl && signed_path[pl - 1] == '/')))
			break;
		kr_buf_reset(&sts);
		kr_buf_addf(&sts, "%s\n%s\n%s\n%s\n", h->method, md5 ? md5 : "", ct ? ct : "",
		    date);
		add_amz_headers(&sts, h);
		add_resource(&sts, signed_path, variant == 1, &rq->query);
		if (kr_buf_failed(&sts) || !HMAC(EVP_sha1(), secret, (int)strlen(secret),
		    (const unsigned char *)kr_buf_str(&sts), kr_buf_len(&sts), mac, &maclen)) {
			fail(res, KR_SIG_INTERNAL, "InternalError", "cannot compute the signature");
			goto out;
		}
		EVP_EncodeBlock((unsigned char *)expect, mac, (int)maclen);
		if (strlen(given) == strlen(expect) &&
		    CRYPTO_memcmp(given, expect, strlen(expect)) == 0)
			rc = 0;
	}
	if (rc < 0) {
		fail(res, KR_SIG_MISMATCH, "AuthFailure", "signature mismatch");
		goto out;
	}
	res->failure = KR_SIG_OK;
out:
	explicit_bzero(secret, sizeof(secret));
	kr_buf_free(&sts);
	return rc;
}
