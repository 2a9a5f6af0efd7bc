/*
 * route.c - where an HTTP request to Walrus goes.
 *
 * SOAP on /services/Karri reaches DescribeService; /services/Karri/manifest
 * and /services/Karri/image are the internal image operations (image.c).
 * Everything else is S3,
 * path-style, served on /, /services/Walrus and /services/objectstorage:
 * /bucket/key?subresource.  A request is parsed, authenticated (auth.c),
 * checked against the bucket, and handed to one handler by method and
 * subresource.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "dispatch.h"
#include "core/error.h"
#include "http/http_server.h"
#include "core/log.h"
#include "soap/soap_http.h"
#include "core/uri.h"
#include "walrus.h"

static const kr_soap_dispatch_fn soap_dispatchers[] = { svc_serve_request, NULL };

static void
soap_body(struct kr_httpd_req *http, const char *body, size_t len, void *ctx)
{
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	int status = 500;

	if (!body) {
		kr_httpd_respond(http, 413, "text/plain", "too large\n", 10);
	} else if (in && out) {
		evbuffer_add(in, body, len);
		status = kr_soap_http_serve_buffers(in, out, soap_dispatchers, ctx);
		kr_httpd_respond(http, status, "text/xml; charset=utf-8",
		    evbuffer_pullup(out, -1), evbuffer_get_length(out));
	} else
		kr_httpd_respond(http, 500, "text/plain", "out of memory\n", 14);
	if (in)
		evbuffer_free(in);
	if (out)
		evbuffer_free(out);
}

static bool
is_soap(const struct kr_httpd_req *http)
{
	const char *ct = kr_httpd_header(http, "Content-Type");

	if (strcmp(http->method, "POST") != 0 || strcmp(http->path, "/services/Karri") != 0)
		return false;
	return kr_httpd_header(http, "SOAPAction") || (ct &&
	    (strncasecmp(ct, "application/soap+xml", 20) == 0 || strncasecmp(ct, "text/xml", 8) == 0));
}

static void
req_done(void *ctx, bool completed)
{
	struct wl_req *rq = ctx;

	if (rq->op_free)
		rq->op_free(rq->op, completed);
	EVP_MD_CTX_free(rq->body_sha256);
	kr_form_free(&rq->query);
	free(rq->key);
	free(rq);
}

/*
 * Decode one path segment into a fresh string, or NULL if it has a bad
 * %-escape or a %00 (a NUL would cut the name short and so name another
 * bucket or key than the one the client sent), or on lack of memory.
 * Never hands back a half-decoded buffer: the caller quotes what it keeps
 * in error answers, before any authentication (issue 17).
 */
static char *
decode_segment(const char *s, size_t len)
{
	char *dec = malloc(len + 1);
	ssize_t n;

	if (!dec)
		return NULL;
	n = kr_uri_decode(dec, s, len, 0, NULL);
	if (n < 0 || strlen(dec) != (size_t)n) {
		free(dec);
		return NULL;
	}
	return dec;
}

/* Split the path into bucket and key; -1 having answered. */
static int
parse_path(struct wl_req *rq)
{
	const char *p = rq->http->path, *slash;
	static const char *prefixes[] = { "/services/Walrus", "/services/objectstorage" };
	char *dec;

	for (size_t i = 0; i < 2; i++) {
		size_t l = strlen(prefixes[i]);
		if (strncmp(p, prefixes[i], l) == 0 && (p[l] == '/' || p[l] == '\0')) {
			p += l;
			break;
		}
	}
	while (*p == '/')
		p++;
	if (!*p)
		return 0;
	slash = strchr(p, '/');
	dec = decode_segment(p, slash ? (size_t)(slash - p) : strlen(p));
	if (!dec || strlen(dec) >= sizeof(rq->bucket)) {
		free(dec);
		wl_error(rq, 400, "InvalidBucketName", "The specified bucket is not valid.");
		return -1;
	}
	snprintf(rq->bucket, sizeof(rq->bucket), "%s", dec);
	free(dec);
	if (!slash || !slash[1])
		return 0;
	/* rq->key stays NULL on failure, so the answer has no <Key>. */
	if (!(rq->key = decode_segment(slash + 1, strlen(slash + 1)))) {
		wl_error(rq, 400, "InvalidURI", "Couldn't parse the specified URI.");
		return -1;
	}
	if (strlen(rq->key) > WL_MAX_KEY) {
		wl_error(rq, 400, "KeyTooLongError", "Your key is too long");
		return -1;
	}
	return 0;
}

static void
route_service(struct wl_req *rq)
{
	if (strcmp(rq->http->method, "GET") != 0 && strcmp(rq->http->method, "HEAD") != 0) {
		wl_error(rq, 405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
		return;
	}
	if (!rq->who.authenticated) {
		wl_error(rq, 403, "AccessDenied", "Access Denied");
		return;
	}
	wl_list_buckets(rq);
}

static void
route_bucket(struct wl_req *rq, const struct wl_bucket *b)
{
	const char *m = rq->http->method;

	if (strcmp(m, "PUT") == 0) {
		if (wl_has_query(rq, "acl"))
			wl_bucket_acl(rq, b);
		else
			wl_bucket_create(rq);	/* exists: BucketAlreadyOwnedByYou / Exists */
	} else if (strcmp(m, "DELETE") == 0)
		wl_bucket_delete(rq, b);
	else if (strcmp(m, "HEAD") == 0)
		wl_bucket_head(rq, b);
	else if (strcmp(m, "GET") == 0) {
		if (wl_has_query(rq, "acl"))
			wl_bucket_acl(rq, b);
		else if (wl_has_query(rq, "location"))
			wl_bucket_location(rq, b);
		else if (wl_has_query(rq, "uploads"))
			wl_mpu_list_uploads(rq, b);
		else
			wl_list_objects(rq, b);
	} else if (strcmp(m, "POST") == 0 && wl_has_query(rq, "delete"))
		wl_objects_delete_op(rq, b);
	else
		wl_error(rq, 405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
}

static void
route_object(struct wl_req *rq, const struct wl_bucket *b)
{
	const char *m = rq->http->method;

	if (strcmp(m, "PUT") == 0) {
		if (wl_has_query(rq, "acl"))
			wl_object_acl_op(rq, b);
		else if (wl_has_query(rq, "uploadId"))
			wl_mpu_part(rq, b);
		else if (kr_httpd_header(rq->http, "x-amz-copy-source"))
			wl_object_copy_op(rq, b);
		else
			wl_object_put_op(rq, b);
	} else if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
		if (wl_has_query(rq, "acl"))
			wl_object_acl_op(rq, b);
		else if (wl_has_query(rq, "uploadId"))
			wl_mpu_list_parts(rq, b);
		else
			wl_object_get_op(rq, b);
	} else if (strcmp(m, "DELETE") == 0) {
		if (wl_has_query(rq, "uploadId"))
			wl_mpu_abort(rq, b);
		else
			wl_object_delete_op(rq, b);
	} else if (strcmp(m, "POST") == 0) {
		if (wl_has_query(rq, "uploads"))
			wl_mpu_initiate(rq, b);
		else if (wl_has_query(rq, "uploadId"))
			wl_mpu_complete(rq, b);
		else
			wl_error(rq, 405, "MethodNotAllowed", "POST object uploads are not supported");
	} else
		wl_error(rq, 405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
}

/*
 * A streaming payload (x-amz-content-sha256: STREAMING-...): only the signed
 * aws-chunked form, only for the bodies that are objects (PutObject,
 * UploadPart), and only under a SigV4 Authorization header, which is what
 * signs the seed of the chunk chain.  0 go on, -1 having answered.
 */
static int
check_streaming(struct wl_req *rq, const char *sha)
{
	const struct kr_httpd_req *http = rq->http;

	if (strcmp(sha, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") != 0) {
		wl_error(rq, 501, "NotImplemented", "streaming uploads of type %s are not "
		    "supported; send STREAMING-AWS4-HMAC-SHA256-PAYLOAD, the payload hash or "
		    "UNSIGNED-PAYLOAD", sha);
		return -1;
	}
	if (!rq->who.authenticated || rq->sig.version != 4 || rq->sig.presigned) {
		wl_error(rq, 400, "InvalidRequest", "aws-chunked uploads must be signed with a "
		    "SigV4 Authorization header");
		return -1;
	}
	if (strcmp(http->method, "PUT") != 0 || !rq->key || wl_has_query(rq, "acl") ||
	    kr_httpd_header(http, "x-amz-copy-source")) {
		wl_error(rq, 501, "NotImplemented", "aws-chunked bodies are taken by PutObject "
		    "and UploadPart only");
		return -1;
	}
	rq->aws_chunked = true;
	return 0;
}

void
wl_route(struct kr_httpd_req *http, void *arg)
{
	struct walrus *w = arg;
	struct wl_req *rq;
	struct wl_bucket b;
	const char *sha;
	int r;

	if (is_soap(http)) {
		kr_httpd_read_body_all(http, 1u << 20, soap_body, (void *)w->daemon);
		return;
	}
	if (!(rq = calloc(1, sizeof(*rq)))) {
		kr_httpd_respond(http, 503, "text/plain", "out of memory\n", 14);
		return;
	}
	rq->w = w;
	rq->http = http;
	kr_http_request_id(rq->request_id);
	kr_httpd_on_done(http, req_done, rq);
	kr_error_clear();
	if (kr_form_parse(http->query, strlen(http->query), NULL, &rq->query) < 0) {
		wl_error(rq, 400, "InvalidArgument", "%s", kr_error_message());
		return;
	}
	if (wl_is_internal(http)) {
		/* /services/Karri/{manifest,image}: image.c, admin only. */
		if (wl_auth(rq) == 0)
			wl_internal_route(rq);
		return;
	}
	if (parse_path(rq) < 0 || wl_auth(rq) < 0)
		return;
	sha = kr_httpd_header(http, "x-amz-content-sha256");
	if (sha && strncmp(sha, "STREAMING-", 10) == 0 && check_streaming(rq, sha) < 0)
		return;
	kr_log_debug("%s %s %s bucket=%s key=%s user=%s", http->peer, http->method, http->path,
	    rq->bucket, rq->key ? rq->key : "", rq->who.authenticated ? rq->who.user.name : "-");
	if (!rq->bucket[0]) {
		route_service(rq);
		return;
	}
	if (strcmp(http->method, "PUT") == 0 && !rq->key && !wl_has_query(rq, "acl")) {
		wl_bucket_create(rq);
		return;
	}
	r = wl_bucket_get(w, rq->bucket, &b);
	if (r < 0) {
		wl_error_from_kr(rq);
		return;
	}
	if (r == 0) {
		wl_error(rq, 404, "NoSuchBucket", "The specified bucket does not exist");
		return;
	}
	if (rq->key)
		route_object(rq, &b);
	else
		route_bucket(rq, &b);
}
