/*
 * auth.c - who sent an S3 request: SigV4 and EC2-style SigV2 through the
 * common verifier (common/sig/sig.c), S3's own SigV2 through s3v2.c, keys from
 * the front end's user database.  No signature at all is an anonymous
 * request, which only a public ACL lets through.
 *
 * Bodies are streamed, so a SigV4 request is verified against the
 * x-amz-content-sha256 header before its body is read; when that header is
 * a real hash, the body is hashed on the way to disk and compared at its
 * end (a mismatch discards the upload).  euca2ools signs the path without
 * the /services/objectstorage (or /services/Walrus) prefix it sends, so a
 * mismatch is retried with the prefix removed.
 */
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/error.h"
#include "core/log.h"
#include "walrus.h"

static int
answer_failure(struct wl_req *rq, const struct kr_sig_result *res)
{
	const char *msg = kr_error_message();

	switch (res->failure) {
	case KR_SIG_UNKNOWN_KEY:
		wl_error(rq, 403, "InvalidAccessKeyId",
		    "The AWS Access Key Id you provided does not exist in our records.");
		break;
	case KR_SIG_MISMATCH:
		wl_error(rq, 403, "SignatureDoesNotMatch", "The request signature we calculated "
		    "does not match the signature you provided. Check your key and signing method.");
		break;
	case KR_SIG_EXPIRED:
		if (res->presigned)
			wl_error(rq, 403, "AccessDenied", "Request has expired");
		else
			wl_error(rq, 403, "RequestTimeTooSkewed", "The difference between the "
			    "request time and the current time is too large.");
		break;
	case KR_SIG_PAYLOAD_MISMATCH:
		wl_error(rq, 400, "XAmzContentSHA256Mismatch",
		    "The provided 'x-amz-content-sha256' header does not match what was computed.");
		break;
	case KR_SIG_MALFORMED:
		wl_error(rq, 400, "AuthorizationHeaderMalformed", "%s", msg);
		break;
	case KR_SIG_UNSUPPORTED:
		wl_error(rq, 400, "InvalidRequest", "%s", msg);
		break;
	case KR_SIG_NO_AUTH:
	case KR_SIG_OK:
	case KR_SIG_INTERNAL:
	default:
		wl_error_from_kr(rq);
		break;
	}
	return -1;
}

/* The path without the /services/Walrus or /services/objectstorage prefix, or NULL. */
static const char *
unprefixed(const char *path)
{
	static const char *prefixes[] = { "/services/Walrus", "/services/objectstorage" };

	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(prefixes[i]);
		if (strncmp(path, prefixes[i], n) == 0 && (path[n] == '/' || path[n] == '\0'))
			return path[n] ? path + n : "/";
	}
	return NULL;
}

static int
verify(struct wl_req *rq, const char *path, struct kr_sig_result *res)
{
	struct kr_httpd_req *h = rq->http;
	struct kr_sig_header hdrs[128];
	struct kr_sig_request sr = {
		.method = h->method,
		.path = path,
		.query = h->query,
		.headers = hdrs,
		.n_headers = h->n_headers < 128 ? h->n_headers : 128,
		.body_deferred = h->chunked || h->content_length > 0,
	};

	for (size_t i = 0; i < sr.n_headers; i++) {
		hdrs[i].name = h->headers[i].name;
		hdrs[i].value = h->headers[i].value;
	}
	if (wl_s3v2_present(h))
		return wl_s3v2_verify(rq, path, res);
	return kr_sig_verify(&sr, kr_userdb_secret, rq->w->users, time(NULL), res);
}

static bool
is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!strchr("0123456789abcdef", *s))
			return false;
	return true;
}

int
wl_auth(struct wl_req *rq)
{
	struct kr_sig_result *res = &rq->sig;
	const char *bare;

	memset(&rq->who, 0, sizeof(rq->who));
	if (verify(rq, rq->http->path, res) < 0) {
		if (res->failure == KR_SIG_NO_AUTH)
			return 0;	/* anonymous */
		if (res->failure != KR_SIG_MISMATCH || !(bare = unprefixed(rq->http->path)) ||
		    verify(rq, bare, res) < 0)
			return answer_failure(rq, res);
	}
	if (kr_userdb_lookup(rq->w->users, res->access_key, NULL, &rq->who.user) < 0) {
		/* The key went away (or its user was disabled) since the check. */
		res->failure = KR_SIG_UNKNOWN_KEY;
		return answer_failure(rq, res);
	}
	rq->who.authenticated = true;
	if (res->version == 4 && is_hex64(res->payload_hash) &&
	    (rq->http->chunked || rq->http->content_length > 0)) {
		rq->body_sha256 = EVP_MD_CTX_new();
		if (!rq->body_sha256 || !EVP_DigestInit_ex(rq->body_sha256, EVP_sha256(), NULL)) {
			wl_error(rq, 500, "InternalError", "SHA-256 unavailable");
			return -1;
		}
	}
	return 0;
}

int
wl_auth_body(struct wl_req *rq, const void *data, size_t len)
{
	if (rq->body_sha256)
		EVP_DigestUpdate(rq->body_sha256, data, len);
	return 0;
}

int
wl_auth_body_end(struct wl_req *rq)
{
	unsigned char md[32];
	unsigned int n = 0;
	char hex[65];

	if (!rq->body_sha256)
		return 0;
	EVP_DigestFinal_ex(rq->body_sha256, md, &n);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (CRYPTO_memcmp(hex, rq->sig.payload_hash, 64) != 0) {
		rq->sig.failure = KR_SIG_PAYLOAD_MISMATCH;
		return answer_failure(rq, &rq->sig);
	}
	return 0;
}
