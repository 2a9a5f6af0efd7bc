/*
 * sigv4.c - AWS Signature Version 4: the Authorization header form and the
 * query-parameter ("presigned") form.
 *
 * The server rebuilds the client's canonical request from what arrived and
 * recomputes the HMAC chain with the scope the client named.  What real
 * clients do, checked against botocore (Python and awscrt signers), awscli
 * and boto2 by the vectors in testdata/sig/:
 *  - non-S3 services: the path has "." / ".." / empty segments removed and
 *    is encoded once more on top of its wire encoding; S3: as sent;
 *  - the query is decoded, re-encoded per RFC 3986 and sorted by name then
 *    value ('+' on the wire is a space: botocore sends spaces that way);
 *  - header values are trimmed with inner whitespace runs collapsed, and
 *    repeated headers are joined with ",";
 *  - X-Amz-Date, or failing that the Date header, dates the request.
 */
#define KR_SIG_PRIVATE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "core/error.h"
#include "sig/sig.h"
#include "core/uri.h"

#define AUTH_MAX 4096		/* longest Authorization value we parse */

/* What the client claims: its credential scope, headers and signature. */
struct v4 {
	char access_key[128];
	char date[9];		/* scope date, YYYYMMDD */
	char region[64];
	char service[64];
	char amz_date[17];	/* the request's time, YYYYMMDDTHHMMSSZ */
	time_t t;
	const char *signed_headers;
	const char *signature;
	bool presigned;
	bool params_in_body;	/* presigned parameters came in a form body */
};

static int
incomplete(struct kr_sig_result *res, const char *what)
{
	kr_error("IncompleteSignature", "the request signature is incomplete: %s", what);
	return kr_sig_fail(res, KR_SIG_MALFORMED);
}

/* Copy s[0..len) into dst[size] when it fits and is non-empty. */
static bool
copy_part(char *dst, size_t size, const char *s, size_t len)
{
	if (len == 0 || len >= size)
		return false;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return true;
}

/* "AKID/20240301/region/service/aws4_request" */
static int
parse_credential(const char *cred, struct v4 *v, struct kr_sig_result *res)
{
	const char *part[5], *p = cred;
	size_t len[5];
	int i;

	for (i = 0; i < 5; i++) {
		const char *slash = i < 4 ? strchr(p, '/') : p + strlen(p);

		if (!slash)
			return incomplete(res, "Credential must be key/date/region/service/aws4_request");
		part[i] = p;
		len[i] = (size_t)(slash - p);
		p = slash + 1;
	}
	if (!copy_part(v->access_key, sizeof(v->access_key), part[0], len[0]) ||
	    !copy_part(v->date, sizeof(v->date), part[1], len[1]) || len[1] != 8 ||
	    !copy_part(v->region, sizeof(v->region), part[2], len[2]) ||
	    !copy_part(v->service, sizeof(v->service), part[3], len[3]) ||
	    len[4] != 12 || memcmp(part[4], "aws4_request", 12) != 0)
		return incomplete(res, "malformed Credential scope");
	return 0;
}

/* Lower-case names separated by ';', host among them. */
static int
check_signed_headers(const char *sh, struct kr_sig_result *res)
{
	const char *p;
	bool host = false;

	for (p = sh; *p; p++)
		if (isupper((unsigned char)*p) || isspace((unsigned char)*p))
			return incomplete(res, "SignedHeaders must be lower-case names");
	for (p = sh; p;) {
		const char *semi = strchr(p, ';');
		size_t len = semi ? (size_t)(semi - p) : strlen(p);

		if (len == 0)
			return incomplete(res, "empty name in SignedHeaders");
		if (len == 4 && memcmp(p, "host", 4) == 0)
			host = true;
		p = semi ? semi + 1 : NULL;
	}
	if (!host)
		return incomplete(res, "SignedHeaders must include host");
	return 0;
}

/* The request's time from X-Amz-Date, else from the Date header. */
static int
request_time(const char *amz_date, const char *http_date, struct v4 *v,
    struct kr_sig_result *res)
{
	struct tm tm;

	if (amz_date) {
		if (kr_sig_time_iso_basic(amz_date, &v->t) < 0) {
			kr_error("InvalidParameterValue", "X-Amz-Date \"%.32s\" is not "
			    "YYYYMMDDTHHMMSSZ", amz_date);
			return kr_sig_fail(res, KR_SIG_MALFORMED);
		}
	} else if (http_date) {
		if (kr_sig_time_http(http_date, &v->t) < 0) {
			kr_error("InvalidParameterValue", "malformed Date header \"%.40s\"",
			    http_date);
			return kr_sig_fail(res, KR_SIG_MALFORMED);
		}
	} else {
		kr_error("MissingParameter", "the request must carry X-Amz-Date or Date");
		return kr_sig_fail(res, KR_SIG_MALFORMED);
	}
	gmtime_r(&v->t, &tm);
	strftime(v->amz_date, sizeof(v->amz_date), "%Y%m%dT%H%M%SZ", &tm);
	if (memcmp(v->amz_date, v->date, 8) != 0) {
		kr_error("AuthFailure", "the Credential scope date %s is not the request's "
		    "date %.8s", v->date, v->amz_date);
		return kr_sig_fail(res, KR_SIG_MISMATCH);
	}
	return 0;
}

/* --- the canonical request ------------------------------------------------ */

/*
 * botocore's remove_dot_segments(): drop "", "." and ".." segments; shared
 * with sign.c, which must build the same canonical URI.
 */
int
kr_sig_v4_normalized_path(struct kr_buf *b, const char *path)
{
	size_t len = strlen(path), n = 0, cap = len / 2 + 1, i;
	const char **seg = calloc(cap, sizeof(*seg));
	size_t *seglen = calloc(cap, sizeof(*seglen));
	const char *p = path;
	int rc = -1;

	if (!seg || !seglen)
		goto cleanup;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t l = slash ? (size_t)(slash - p) : strlen(p);

		if (l == 2 && memcmp(p, "..", 2) == 0) {
			if (n)
				n--;
		} else if (l && !(l == 1 && *p == '.')) {
			seg[n] = p;
			seglen[n++] = l;
		}
		p += l + (slash != NULL);
	}
	if (path[0] == '/' || len == 0)
		kr_buf_add_char(b, '/');
	for (i = 0; i < n; i++) {
		if (i)
			kr_buf_add_char(b, '/');
		kr_uri_encode(b, seg[i], seglen[i], 0);
	}
	if (n && len && path[len - 1] == '/')
		kr_buf_add_char(b, '/');
	rc = 0;
cleanup:
	free(seg);
	free(seglen);
	return rc;
}

/* The canonical URI, variant 0 or 1; 1 only exists for s3 (NULL otherwise). */
static char *
canonical_uri(const struct kr_sig_request *req, const struct v4 *v, int variant)
{
	const char *path = req->path && *req->path ? req->path : "/";
	struct kr_buf b = KR_BUF_INIT;
	char *raw, *again;
	ssize_t n;

	if (strcmp(v->service, "s3") != 0) {
		if (variant)
			return NULL;
		if (kr_sig_v4_normalized_path(&b, path) < 0) {
			kr_buf_free(&b);
			return NULL;
		}
		return kr_buf_detach(&b, NULL);
	}
	if (variant == 0)
		return strdup(path);
	/* boto2 style: decode, then encode everything but '/' once. */
	if (!(raw = malloc(strlen(path) + 1)))
		return NULL;
	n = kr_uri_decode(raw, path, strlen(path), 0, NULL);
	if (n >= 0)
		kr_uri_encode(&b, raw, (size_t)n, KR_URI_KEEP_SLASH);
	free(raw);
	if (n < 0 || !(again = kr_buf_detach(&b, NULL)))
		return NULL;
	if (strcmp(again, path) == 0) {	/* same as variant 0: nothing new */
		free(again);
		return NULL;
	}
	return again;
}

/* Trim, collapse inner whitespace runs to one space (SigV4 "Trimall"). */
static void
add_trimmed(struct kr_buf *b, const char *s)
{
	bool space = false, any = false;

	for (; *s; s++) {
		if (isspace((unsigned char)*s)) {
			space = any;
			continue;
		}
		if (space)
			kr_buf_add_char(b, ' ');
		kr_buf_add_char(b, *s);
		space = false;
		any = true;
	}
}

static int
add_canonical_headers(struct kr_buf *b, const struct kr_sig_request *req, const char *sh,
    struct kr_sig_result *res)
{
	const char *p = sh;

	while (p) {
		const char *semi = strchr(p, ';');
		size_t len = semi ? (size_t)(semi - p) : strlen(p), i, found = 0;

		kr_buf_add_len(b, p, len);
		kr_buf_add_char(b, ':');
		for (i = 0; i < req->n_headers; i++) {
			if (strlen(req->headers[i].name) != len ||
			    strncasecmp(req->headers[i].name, p, len) != 0)
				continue;
			if (found++)
				kr_buf_add_char(b, ',');
			add_trimmed(b, req->headers[i].value);
		}
		if (!found) {
			kr_error("AuthFailure", "signed header %.*s is not in the request",
			    (int)len, p);
			return kr_sig_fail(res, KR_SIG_MISMATCH);
		}
		kr_buf_add_char(b, '\n');
		p = semi ? semi + 1 : NULL;
	}
	return 0;
}

static bool
is_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return s[64] == '\0';
}

static bool
is_literal_payload(const char *s)
{
	static const char *const literal[] = {
		"UNSIGNED-PAYLOAD",
		"STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
		"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
		"STREAMING-UNSIGNED-PAYLOAD-TRAILER",
		"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
		"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
	};
	size_t i;

	for (i = 0; i < sizeof(literal) / sizeof(literal[0]); i++)
		if (strcmp(s, literal[i]) == 0)
			return true;
	return false;
}

/* The hash of the body as it arrived; "" when the caller deferred it. */
static int
actual_payload(const struct kr_sig_request *req, char out[65], struct kr_sig_result *res)
{
	out[0] = '\0';
	if (req->payload_hash) {
		snprintf(out, 65, "%s", req->payload_hash);
		return 0;
	}
	if (req->body_deferred)
		return 0;
	return kr_sig_sha256_hex(req->body, req->body_len, out, res);
}

/* The payload line of the canonical request, into res->payload_hash. */
static int
signed_payload(const struct kr_sig_request *req, const struct v4 *v, struct kr_sig_result *res)
{
	const char *claim = kr_sig_header(req, "x-amz-content-sha256");
	char *out = res->payload_hash;

	if (claim) {
		if (!is_hex64(claim) && !is_literal_payload(claim)) {
			kr_error("InvalidParameterValue", "x-amz-content-sha256 must be a "
			    "SHA-256 in hex or UNSIGNED-PAYLOAD");
			return kr_sig_fail(res, KR_SIG_MALFORMED);
		}
		snprintf(out, sizeof(res->payload_hash), "%s", claim);
		return 0;
	}
	if (v->presigned && strcmp(v->service, "s3") == 0) {
		snprintf(out, sizeof(res->payload_hash), "UNSIGNED-PAYLOAD");
		return 0;
	}
	if (v->params_in_body)	/* as if the parameters had been in the URL */
		return kr_sig_sha256_hex("", 0, out, res);
	if (!req->payload_hash && req->body_deferred) {
		kr_error("MissingParameter", "x-amz-content-sha256 is required when the body "
		    "is streamed");
		return kr_sig_fail(res, KR_SIG_MALFORMED);
	}
	return actual_payload(req, out, res);
}

/* A signed hex hash must be the body's; literals sign no body. */
static int
check_payload(const struct kr_sig_request *req, struct kr_sig_result *res)
{
	char actual[65];

	if (!is_hex64(res->payload_hash) || !kr_sig_header(req, "x-amz-content-sha256"))
		return 0;
	if (actual_payload(req, actual, res) < 0)
		return -1;
	if (actual[0] && strcasecmp(actual, res->payload_hash) != 0) {
		kr_error("AuthFailure", "the body's SHA-256 does not match x-amz-content-sha256");
		return kr_sig_fail(res, KR_SIG_PAYLOAD_MISMATCH);
	}
	return 0;
}

static char *
canonical_request(const struct kr_sig_request *req, const struct kr_sig_params *p,
    const struct v4 *v, const char *uri, struct kr_sig_result *res)
{
	struct kr_buf b = KR_BUF_INIT;
	char *cr;

	kr_buf_addf(&b, "%s\n%s\n", req->method, uri);
	if (kr_sig_canonical_query(&b, &p->query, v->params_in_body ? &p->body : NULL,
	    v->presigned ? "X-Amz-Signature" : NULL, true, res) < 0 ||
	    (kr_buf_add_char(&b, '\n'), add_canonical_headers(&b, req, v->signed_headers, res)) < 0) {
		kr_buf_free(&b);
		return NULL;
	}
	kr_buf_addf(&b, "\n%s\n%s", v->signed_headers, res->payload_hash);
	if (!(cr = kr_buf_detach(&b, NULL)))
		kr_sig_fail(res, KR_SIG_INTERNAL);
	return cr;
}

/* --- signing -------------------------------------------------------------- */

/*
 * kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service),
 * "aws4_request"); shared with sigv4_chunk.c, which keeps it for a body.
 */
int
kr_sig_v4_key(const char *secret, const char *date, const char *region, const char *service,
    unsigned char key[32], struct kr_sig_result *res)
{
	unsigned char k[EVP_MAX_MD_SIZE], k2[EVP_MAX_MD_SIZE];
	char first[KR_SIG_SECRET_MAX + 8];
	const char *steps[] = { date, region, service, "aws4_request" };
	unsigned n = 0;
	size_t i;
	int rc = -1;

	snprintf(first, sizeof(first), "AWS4%s", secret);
	if (kr_sig_hmac(EVP_sha256(), first, strlen(first), steps[0], strlen(steps[0]), k, &n,
	    res) < 0)
		goto cleanup;
	for (i = 1; i < 4; i++) {
		if (kr_sig_hmac(EVP_sha256(), k, n, steps[i], strlen(steps[i]), k2, &n, res) < 0)
			goto cleanup;
		memcpy(k, k2, n);
	}
	memcpy(key, k, 32);
	rc = 0;
cleanup:
	OPENSSL_cleanse(first, sizeof(first));
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(k2, sizeof(k2));
	return rc;
}

/* hex HMAC of the string to sign under the key derived from secret and scope. */
static int
sign(const char *secret, const struct v4 *v, const char *sts, char out[65],
    struct kr_sig_result *res)
{
	unsigned char key[32], mac[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	int rc = -1;

	if (kr_sig_v4_key(secret, v->date, v->region, v->service, key, res) < 0 ||
	    kr_sig_hmac(EVP_sha256(), key, sizeof(key), sts, strlen(sts), mac, &n, res) < 0)
		goto cleanup;
	kr_sig_hex(mac, n, out);
	rc = 0;
cleanup:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/* Does the signature match with the given canonical URI?  1 yes, 0 no, -1 error. */
static int
matches(const struct kr_sig_request *req, const struct kr_sig_params *p, const struct v4 *v,
    const char *uri, const char *secret, struct kr_sig_result *res)
{
	char *cr = canonical_request(req, p, v, uri, res);
	char crhash[65], sig[65];
	struct kr_buf sts = KR_BUF_INIT;
	char *s = NULL;
	int rc = -1;

	if (!cr || kr_sig_sha256_hex(cr, strlen(cr), crhash, res) < 0)
		goto cleanup;
	kr_buf_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", v->amz_date,
	    v->date, v->region, v->service, crhash);
	if (!(s = kr_buf_detach(&sts, NULL))) {
		kr_sig_fail(res, KR_SIG_INTERNAL);
		goto cleanup;
	}
	if (sign(secret, v, s, sig, res) < 0)
		goto cleanup;
	rc = kr_sig_equal(sig, v->signature);
cleanup:
	free(cr);
	free(s);
	return rc;
}

static int
verify(const struct kr_sig_request *req, const struct kr_sig_params *p, struct v4 *v,
    kr_sig_secret_fn lookup, void *ctx, struct kr_sig_result *res)
{
	char secret[KR_SIG_SECRET_MAX], *uri = NULL;
	int variant, ok = 0;

	if (check_signed_headers(v->signed_headers, res) < 0 ||
	    signed_payload(req, v, res) < 0 ||
	    kr_sig_lookup(lookup, ctx, v->access_key, secret, sizeof(secret), res) < 0)
		return -1;
	/* Only s3 has a second way of encoding the path to try. */
	for (variant = 0; variant < 2 && ok == 0; variant++) {
		if (!(uri = canonical_uri(req, v, variant))) {
			if (variant == 0) {
				kr_error("InternalError", "out of memory");
				ok = kr_sig_fail(res, KR_SIG_INTERNAL);
			}
			break;
		}
		ok = matches(req, p, v, uri, secret, res);
		free(uri);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	if (ok < 0)
		return -1;
	if (!ok) {
		kr_error("AuthFailure", "the request signature we calculated does not match "
		    "the signature you provided (key %s, scope %s/%s/%s)", v->access_key,
		    v->date, v->region, v->service);
		return kr_sig_fail(res, KR_SIG_MISMATCH);
	}
	return check_payload(req, res);
}

static void
fill_result(const struct v4 *v, struct kr_sig_result *res)
{
	snprintf(res->access_key, sizeof(res->access_key), "%s", v->access_key);
	snprintf(res->region, sizeof(res->region), "%s", v->region);
	snprintf(res->service, sizeof(res->service), "%s", v->service);
	snprintf(res->signature, sizeof(res->signature), "%s", v->signature);
	res->version = 4;
	res->presigned = v->presigned;
	res->signed_at = v->t;
}

/* --- the two forms -------------------------------------------------------- */

/* "Credential=..., SignedHeaders=..., Signature=..." (boto2 omits the spaces). */
static int
parse_authorization(char *auth, struct v4 *v, const char **cred, struct kr_sig_result *res)
{
	char *save = NULL, *item;

	*cred = NULL;
	for (item = strtok_r(auth, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		while (*item == ' ')
			item++;
		if (strncmp(item, "Credential=", 11) == 0)
			*cred = item + 11;
		else if (strncmp(item, "SignedHeaders=", 14) == 0)
			v->signed_headers = item + 14;
		else if (strncmp(item, "Signature=", 10) == 0)
			v->signature = item + 10;
	}
	if (!*cred)
		return incomplete(res, "Authorization lacks Credential=");
	if (!v->signed_headers)
		return incomplete(res, "Authorization lacks SignedHeaders=");
	if (!v->signature)
		return incomplete(res, "Authorization lacks Signature=");
	return 0;
}

int
kr_sig_v4_header(const struct kr_sig_request *req, const struct kr_sig_params *p,
    const char *auth, kr_sig_secret_fn lookup, void *ctx, time_t now,
    struct kr_sig_result *res)
{
	struct v4 v = { 0 };
	const char *cred;
	char *copy;
	int rc = -1;

	if (strlen(auth) > AUTH_MAX)
		return incomplete(res, "Authorization header too long");
	if (!(copy = strdup(auth))) {
		kr_error("InternalError", "out of memory");
		return kr_sig_fail(res, KR_SIG_INTERNAL);
	}
	if (parse_authorization(copy, &v, &cred, res) < 0 ||
	    parse_credential(cred, &v, res) < 0 ||
	    request_time(kr_sig_header(req, "X-Amz-Date"), kr_sig_header(req, "Date"), &v,
	    res) < 0 ||
	    kr_sig_check_skew(v.t, now, "the request's date", res) < 0 ||
	    verify(req, p, &v, lookup, ctx, res) < 0)
		goto cleanup;
	fill_result(&v, res);
	rc = 0;
cleanup:
	free(copy);
	return rc;
}

/* A presigned URL is good from its date (less the skew) for X-Amz-Expires. */
static int
check_expiry(const struct v4 *v, const char *expires, time_t now, struct kr_sig_result *res)
{
	char *end;
	long secs;

	if (!expires)
		return kr_sig_check_skew(v->t, now, "X-Amz-Date", res);
	secs = strtol(expires, &end, 10);
	if (end == expires || *end || secs < 1 || secs > KR_SIG_MAX_EXPIRES) {
		kr_error("InvalidParameterValue", "X-Amz-Expires must be 1 to %d seconds",
		    KR_SIG_MAX_EXPIRES);
		return kr_sig_fail(res, KR_SIG_MALFORMED);
	}
	res->expires = v->t + secs;
	if (now < v->t - KR_SIG_SKEW || now > v->t + secs) {
		kr_error("RequestExpired", "request has expired: presigned URL valid from "
		    "X-Amz-Date for %ld seconds", secs);
		return kr_sig_fail(res, KR_SIG_EXPIRED);
	}
	return 0;
}

int
kr_sig_v4_query(const struct kr_sig_request *req, const struct kr_sig_params *p,
    kr_sig_secret_fn lookup, void *ctx, time_t now, struct kr_sig_result *res)
{
	const char *alg = kr_sig_param(p, "X-Amz-Algorithm");
	const char *cred = kr_sig_param(p, "X-Amz-Credential");
	const char *date = kr_sig_param(p, "X-Amz-Date");
	struct v4 v = { 0 };

	v.presigned = true;
	v.params_in_body = !kr_form_get(&p->query, "X-Amz-Algorithm");
	v.signed_headers = kr_sig_param(p, "X-Amz-SignedHeaders");
	v.signature = kr_sig_param(p, "X-Amz-Signature");
	if (strcmp(alg, "AWS4-HMAC-SHA256") != 0) {
		kr_error("AuthFailure", "unsupported X-Amz-Algorithm \"%.40s\"", alg);
		return kr_sig_fail(res, KR_SIG_UNSUPPORTED);
	}
	if (!cred)
		return incomplete(res, "X-Amz-Credential is missing");
	if (!v.signed_headers)
		return incomplete(res, "X-Amz-SignedHeaders is missing");
	if (!v.signature)
		return incomplete(res, "X-Amz-Signature is missing");
	if (kr_form_count(&p->query, "X-Amz-Signature") + kr_form_count(&p->body,
	    "X-Amz-Signature") > 1)
		return incomplete(res, "X-Amz-Signature is repeated");
	if (!date) {
		kr_error("MissingParameter", "X-Amz-Date is missing");
		return kr_sig_fail(res, KR_SIG_MALFORMED);
	}
	if (parse_credential(cred, &v, res) < 0 || request_time(date, NULL, &v, res) < 0 ||
	    check_expiry(&v, kr_sig_param(p, "X-Amz-Expires"), now, res) < 0 ||
	    verify(req, p, &v, lookup, ctx, res) < 0)
		return -1;
	fill_result(&v, res);
	return 0;
}
