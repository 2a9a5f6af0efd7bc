/*
 * sign.c - SigV4 for requests Karri itself sends: presigned URLs and signed
 * headers (see sign.h).
 *
 * The canonical request is built with the same pieces the verifier uses
 * (sig_util.c's canonical query, sigv4.c's path normalisation and signing key),
 * so what is signed here is by construction what kr_sig_verify() rebuilds.
 * The Host signed is the URL's authority without a default port (:80 for
 * http, :443 for https), which is what libcurl and Python send.
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
#include "sig/sign.h"
#include "core/uri.h"

#define HOST_MAX 256
#define SCOPE_MAX 256

/* A URL split into what signing needs. */
struct url {
	char host[HOST_MAX];	/* the Host header value */
	const char *base;	/* the URL up to its query */
	size_t base_len;
	char *path;		/* "/" when the URL has none */
	const char *query;	/* "" when none */
	bool no_path;		/* "http://h?q": the output gets the "/" signed */
};

static int
invalid(const char *what, const char *detail)
{
	kr_error("InvalidParameterValue", "cannot sign: %s%s%.80s", what, *detail ? ": " : "",
	    detail);
	return -1;
}

static int
parse_url(const char *u, struct url *out)
{
	bool https = strncasecmp(u, "https://", 8) == 0;
	const char *auth, *end, *q;
	size_t alen, plen;

	memset(out, 0, sizeof(*out));
	if (!https && strncasecmp(u, "http://", 7) != 0)
		return invalid("the URL is not http:// or https://", u);
	auth = u + (https ? 8 : 7);
	alen = strcspn(auth, "/?#");
	if (alen == 0 || alen >= HOST_MAX || memchr(auth, '@', alen))
		return invalid("the URL has no host (or user info)", u);
	for (end = auth; *end; end++)
		if ((unsigned char)*end <= ' ' || *end == '#' || (unsigned char)*end >= 0x7f)
			return invalid("the URL has a space, control character or fragment", u);
	memcpy(out->host, auth, alen);
	/* Clients leave the default port out of Host. */
	if (alen > 3 && !https && strcmp(out->host + alen - 3, ":80") == 0)
		alen -= 3;
	else if (alen > 4 && https && strcmp(out->host + alen - 4, ":443") == 0)
		alen -= 4;
	out->host[alen] = '\0';
	q = strchr(auth, '?');
	out->base = u;
	out->base_len = q ? (size_t)(q - u) : strlen(u);
	out->query = q ? q + 1 : "";
	end = auth + strcspn(auth, "/?");
	plen = (size_t)((q ? q : auth + strlen(auth)) - end);
	out->no_path = plen == 0;
	if (!(out->path = plen ? strndup(end, plen) : strdup("/"))) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	return 0;
}

/* Scope parts go into the Credential between '/'s: no '/', space or control. */
static bool
scope_part_ok(const char *s)
{
	if (!s || !*s || strlen(s) >= 64)
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ',' || *s == '=' || (unsigned char)*s <= ' ' ||
		    (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static int
check_creds(const struct kr_sign_creds *c, const char *method)
{
	const char *m;

	if (!c || !scope_part_ok(c->access_key) || !scope_part_ok(c->region) ||
	    !scope_part_ok(c->service))
		return invalid("access key, region and service must be plain words", "");
	if (!c->secret_key || !*c->secret_key || strlen(c->secret_key) >= KR_SIG_SECRET_MAX)
		return invalid("the secret key is empty or too long", "");
	if (!method || !*method)
		return invalid("no method", "");
	for (m = method; *m; m++)
		if (!isupper((unsigned char)*m))
			return invalid("the method must be upper-case letters", method);
	return 0;
}

/* A header value signed as is must already be SigV4-trimmed and single-line. */
static bool
header_value_ok(const char *s)
{
	const char *p;

	if (!*s || *s == ' ' || s[strlen(s) - 1] == ' ')
		return false;
	for (p = s; *p; p++)
		if ((unsigned char)*p < ' ' || (unsigned char)*p == 0x7f || (p[0] == ' ' && p[1] == ' '))
			return false;
	return true;
}

static void
stamp(time_t now, char amz_date[17], char date[9])
{
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(amz_date, 17, "%Y%m%dT%H%M%SZ", &tm);
	memcpy(date, amz_date, 8);
	date[8] = '\0';
}

/*
 * The hex signature of a request whose canonical headers, signed header
 * names and payload hash are given; the canonical URI and query come from
 * the URL (query `query`, which may differ from the URL's when parameters
 * are added).
 */
static int
signature(const struct kr_sign_creds *c, const char *method, const struct url *u,
    const char *query, const char *headers, const char *signed_headers, const char *payload,
    const char *amz_date, const char *date, char sig[65])
{
	struct kr_sig_result res = { 0 };
	struct kr_form form = KR_FORM_INIT;
	struct kr_buf cr = KR_BUF_INIT, sts = KR_BUF_INIT;
	unsigned char key[32], mac[EVP_MAX_MD_SIZE];
	char crhash[65], *crs = NULL, *stss = NULL;
	unsigned n = 0;
	int rc = -1;

	if (kr_form_parse(query, strlen(query), NULL, &form) < 0)
		goto cleanup;
	kr_buf_addf(&cr, "%s\n", method);
	if (strcmp(c->service, "s3") == 0)
		kr_buf_add(&cr, u->path);
	else if (kr_sig_v4_normalized_path(&cr, u->path) < 0) {
		kr_error("InternalError", "out of memory");
		goto cleanup;
	}
	kr_buf_add_char(&cr, '\n');
	if (kr_sig_canonical_query(&cr, &form, NULL, NULL, true, &res) < 0)
		goto cleanup;
	kr_buf_addf(&cr, "\n%s\n%s\n%s", headers, signed_headers, payload);
	if (!(crs = kr_buf_detach(&cr, NULL)) || kr_sig_sha256_hex(crs, strlen(crs), crhash,
	    &res) < 0)
		goto cleanup;
	kr_buf_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date,
	    c->region, c->service, crhash);
	if (!(stss = kr_buf_detach(&sts, NULL)) ||
	    kr_sig_v4_key(c->secret_key, date, c->region, c->service, key, &res) < 0 ||
	    kr_sig_hmac(EVP_sha256(), key, sizeof(key), stss, strlen(stss), mac, &n, &res) < 0)
		goto cleanup;
	kr_sig_hex(mac, n, sig);
	rc = 0;
cleanup:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(mac, sizeof(mac));
	kr_form_free(&form);
	kr_buf_free(&cr);
	kr_buf_free(&sts);
	free(crs);
	free(stss);
	return rc;
}

int
kr_sign_presign_url(const struct kr_sign_creds *c, const char *method, const char *url,
    time_t now, unsigned expires_s, char *out, size_t out_len)
{
	struct url u;
	struct kr_buf q = KR_BUF_INIT, h = KR_BUF_INIT;
	char amz_date[17], date[9], cred[SCOPE_MAX], sig[65], payload[65];
	char *query = NULL, *headers = NULL;
	struct kr_sig_result res = { 0 };
	int rc = -1, n;

	if (check_creds(c, method) < 0)
		return -1;
	if (expires_s < 1 || expires_s > KR_SIG_MAX_EXPIRES)
		return invalid("the expiry must be 1 to 604800 seconds", "");
	if (parse_url(url, &u) < 0)
		return -1;
	stamp(now, amz_date, date);
	snprintf(cred, sizeof(cred), "%s/%s/%s/%s/aws4_request", c->access_key, date, c->region,
	    c->service);
	/* The URL's own parameters first, as given, then ours. */
	if (*u.query)
		kr_buf_addf(&q, "%s&", u.query);
	kr_buf_add(&q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
	kr_uri_encode(&q, cred, strlen(cred), 0);
	kr_buf_addf(&q, "&X-Amz-Date=%s&X-Amz-Expires=%u&X-Amz-SignedHeaders=host", amz_date,
	    expires_s);
	kr_buf_addf(&h, "host:%s\n", u.host);
	if (!(query = kr_buf_detach(&q, NULL)) || !(headers = kr_buf_detach(&h, NULL)))
		goto cleanup;
	/* s3 presigns the payload as UNSIGNED; others have no body to hash. */
	if (strcmp(c->service, "s3") == 0)
		snprintf(payload, sizeof(payload), "UNSIGNED-PAYLOAD");
	else if (kr_sig_sha256_hex("", 0, payload, &res) < 0)
		goto cleanup;
	if (signature(c, method, &u, query, headers, "host", payload, amz_date, date, sig) < 0)
		goto cleanup;
	n = snprintf(out, out_len, "%.*s%s?%s&X-Amz-Signature=%s", (int)u.base_len, u.base,
	    u.no_path ? "/" : "", query, sig);
	if (n < 0 || (size_t)n >= out_len) {
		invalid("the presigned URL does not fit", "");
		if (out_len)
			out[0] = '\0';
		goto cleanup;
	}
	rc = 0;
cleanup:
	kr_buf_free(&q);
	kr_buf_free(&h);
	free(query);
	free(headers);
	free(u.path);
	return rc;
}

int
kr_sign_v4_headers(const struct kr_sign_creds *c, const char *method, const char *url,
    const char *content_type, const void *body, size_t body_len, time_t now,
    struct kr_sign_headers *out)
{
	struct url u;
	struct kr_buf h = KR_BUF_INIT;
	struct kr_sig_result res = { 0 };
	char date[9], sig[65], *headers = NULL;
	const char *signed_headers = content_type ?
	    "content-type;host;x-amz-content-sha256;x-amz-date" :
	    "host;x-amz-content-sha256;x-amz-date";
	int rc = -1, n;

	memset(out, 0, sizeof(*out));
	if (check_creds(c, method) < 0)
		return -1;
	if (content_type && !header_value_ok(content_type))
		return invalid("the content type must be one trimmed line", content_type);
	if (parse_url(url, &u) < 0)
		return -1;
	stamp(now, out->x_amz_date, date);
	if (kr_sig_sha256_hex(body, body ? body_len : 0, out->x_amz_content_sha256, &res) < 0)
		goto cleanup;
	if (content_type)
		kr_buf_addf(&h, "content-type:%s\n", content_type);
	kr_buf_addf(&h, "host:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\n", u.host,
	    out->x_amz_content_sha256, out->x_amz_date);
	if (!(headers = kr_buf_detach(&h, NULL)) ||
	    signature(c, method, &u, u.query, headers, signed_headers,
	    out->x_amz_content_sha256, out->x_amz_date, date, sig) < 0)
		goto cleanup;
	n = snprintf(out->authorization, sizeof(out->authorization),
	    "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
	    "Signature=%s", c->access_key, date, c->region, c->service, signed_headers, sig);
	if (n < 0 || (size_t)n >= sizeof(out->authorization)) {
		invalid("the Authorization header does not fit", "");
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	kr_buf_free(&h);
	free(headers);
	free(u.path);
	return rc;
}
