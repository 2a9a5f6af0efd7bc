/*
 * upload.c - streaming a request body into a blob (PutObject, UploadPart).
 *
 * Bytes go from the socket buffer straight to write(2), with MD5 (the
 * ETag; blob_md5.c), SHA-256 (when the signature covers the payload) and the size
 * limit (quota room, 5 GiB) checked on the way.  The server layer reads
 * from the socket only as fast as this consumes, so memory stays bounded
 * whatever the object's size.  Only a body that arrived whole and whose
 * digests match is committed; anything else - an error, a closed
 * connection - removes the temporary file (see upload_free).
 *
 * An aws-chunked body (SigV4 streaming) goes through aws_chunked.c first,
 * which strips the framing, checks each chunk's signature and hands the
 * data on to the same write path; its size limit is then the declared
 * x-amz-decoded-content-length rather than Content-Length.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/error.h"
#include "core/log.h"
#include "walrus.h"

struct wl_upload {
	struct wl_blob blob;
	struct wl_chunked *chunked;	/* aws-chunked decoder, or NULL */
	uint64_t room;
	wl_upload_done_fn done;
	void *done_arg;
};

static void
upload_free(void *op, bool completed)
{
	struct wl_upload *u = op;

	(void)completed;
	wl_blob_abort(&u->blob);	/* no-op once committed */
	wl_chunked_free(u->chunked);
	free(u);
}

int
wl_check_content_md5(struct wl_req *rq, const unsigned char md5[16])
{
	const char *given = kr_httpd_header(rq->http, "Content-MD5");
	unsigned char dec[32];
	int n;

	if (!given)
		return 0;
	n = strlen(given) == 24 ? EVP_DecodeBlock(dec, (const unsigned char *)given, 24) : -1;
	/* 24 base64 characters decode to 18 bytes, the last two padding. */
	if (n != 18 || given[22] != '=' || given[23] != '=') {
		wl_error(rq, 400, "InvalidDigest", "The Content-MD5 you specified is not valid.");
		return -1;
	}
	if (memcmp(dec, md5, 16) != 0) {
		wl_error(rq, 400, "BadDigest", "The Content-MD5 you specified did not match what "
		    "we received.");
		return -1;
	}
	return 0;
}

int
wl_quota_room(struct wl_req *rq, const struct wl_bucket *b, uint64_t *room)
{
	uint64_t bb, ub;

	*room = WL_MAX_PUT;
	if (!rq->w->bucket_quota && !rq->w->user_quota)
		return 0;
	if (wl_usage(rq->w, b->name, b->owner, &bb, &ub) < 0) {
		wl_error_from_kr(rq);
		return -1;
	}
	if (rq->w->bucket_quota)
		*room = rq->w->bucket_quota > bb ? rq->w->bucket_quota - bb : 0;
	if (rq->w->user_quota) {
		uint64_t r = rq->w->user_quota > ub ? rq->w->user_quota - ub : 0;
		*room = r < *room ? r : *room;
	}
	if (*room > WL_MAX_PUT)
		*room = WL_MAX_PUT;
	return 0;
}

static void
too_large(struct wl_req *rq, uint64_t room)
{
	if (room < WL_MAX_PUT)
		wl_error(rq, 400, "EntityTooLarge", "Your proposed upload exceeds the quota "
		    "(%llu bytes left)", (unsigned long long)room);
	else
		wl_error(rq, 400, "EntityTooLarge", "Your proposed upload exceeds the maximum "
		    "allowed object size.");
}

/* Decoded body bytes: into the blob, within the room left. */
static int
write_data(struct wl_req *rq, const void *data, size_t len)
{
	struct wl_upload *u = rq->op;

	if (u->blob.size + len > u->room) {
		too_large(rq, u->room);
		return -1;
	}
	wl_auth_body(rq, data, len);
	if (wl_blob_write(&u->blob, data, len) < 0) {
		wl_error_from_kr(rq);
		return -1;
	}
	return 0;
}

static int
on_data(struct kr_httpd_req *http, const void *data, size_t len, void *ctx)
{
	struct wl_req *rq = ctx;
	struct wl_upload *u = rq->op;

	(void)http;
	if (u->chunked)
		return wl_chunked_feed(rq, u->chunked, data, len, write_data);
	return write_data(rq, data, len);
}

static void
on_end(struct kr_httpd_req *http, void *ctx)
{
	struct wl_req *rq = ctx;
	struct wl_upload *u = rq->op;
	unsigned char md5[16];

	(void)http;
	if (u->chunked && wl_chunked_end(rq, u->chunked) < 0)
		return;
	if (wl_blob_md5(&u->blob, md5) < 0) {
		wl_error_from_kr(rq);
		return;
	}
	if (wl_check_content_md5(rq, md5) < 0 || wl_auth_body_end(rq) < 0)
		return;
	if (wl_blob_commit(rq->w, &u->blob, NULL) < 0) {
		wl_error_from_kr(rq);
		return;
	}
	u->done(rq, &u->blob, md5);
}

/* x-amz-decoded-content-length: the size of an aws-chunked body's data. */
static int
decoded_length(struct wl_req *rq, uint64_t *len)
{
	const char *v = kr_httpd_header(rq->http, "x-amz-decoded-content-length");

	if (!v || !*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 19) {
		wl_error(rq, 411, "MissingContentLength", "aws-chunked uploads must carry "
		    "x-amz-decoded-content-length (a decimal byte count).");
		return -1;
	}
	*len = strtoull(v, NULL, 10);	/* 19 digits cannot overflow */
	return 0;
}

void
wl_upload_start(struct wl_req *rq, uint64_t room, wl_upload_done_fn done, void *done_arg)
{
	struct kr_httpd_req *http = rq->http;
	uint64_t declared = 0;
	struct wl_upload *u;

	if (!http->chunked && kr_httpd_header(http, "Content-Length") == NULL) {
		wl_error(rq, 411, "MissingContentLength", "You must provide the Content-Length "
		    "HTTP header.");
		return;
	}
	/* An aws-chunked body is larger than its data by the framing. */
	if (rq->aws_chunked) {
		if (decoded_length(rq, &declared) < 0)
			return;
		if (declared > room) {
			too_large(rq, room);
			return;
		}
	} else if (http->content_length > 0 && (uint64_t)http->content_length > room) {
		too_large(rq, room);
		return;
	}
	if (!(u = calloc(1, sizeof(*u)))) {
		wl_error(rq, 503, "SlowDown", "out of memory");
		return;
	}
	u->blob.fd = -1;
	u->room = room;
	u->done = done;
	u->done_arg = done_arg;
	rq->op = u;
	rq->op_free = upload_free;
	if (rq->aws_chunked && !(u->chunked = wl_chunked_new(rq, declared)))
		return;
	if (wl_blob_begin(rq->w, &u->blob) < 0) {
		wl_error_from_kr(rq);
		return;
	}
	kr_httpd_read_body(http, on_data, on_end, rq);
}

void *
wl_upload_arg(struct wl_req *rq)
{
	return ((struct wl_upload *)rq->op)->done_arg;
}
