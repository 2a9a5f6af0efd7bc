/*
 * s3_object.c - objects: PutObject, GetObject (with Range) / HeadObject,
 * DeleteObject, DeleteObjects, CopyObject and object ACLs.
 *
 * With an object, Walrus keeps the headers S3 gives back on GET: the
 * Content-Type and friends and every x-amz-meta-* header, as sent - but
 * for "aws-chunked" in Content-Encoding, which describes the upload's
 * framing, not the object (S3 drops it too).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "core/uri.h"
#include "walrus.h"

static const char *const kept_headers[] = {
	"Content-Type", "Content-Encoding", "Content-Disposition", "Content-Language",
	"Cache-Control", "Expires",
};

void
wl_etag_hex(const unsigned char md5[16], char out[80])
{
	out[0] = '"';
	for (int i = 0; i < 16; i++)
		snprintf(out + 1 + 2 * i, 3, "%02x", md5[i]);
	snprintf(out + 33, 47, "\"");
}

/* Content-Encoding without its aws-chunked token; nothing when that was all. */
static void
add_content_encoding(struct kr_buf *b, const char *v)
{
	bool any = false;

	while (*v) {
		size_t len = strcspn(v, ","), t = len;
		const char *tok = v;

		while (t && (*tok == ' ' || *tok == '\t'))
			tok++, t--;
		while (t && (tok[t - 1] == ' ' || tok[t - 1] == '\t'))
			t--;
		if (t && !(t == 11 && strncasecmp(tok, "aws-chunked", 11) == 0)) {
			kr_buf_add(b, any ? "," : "Content-Encoding: ");
			kr_buf_add_len(b, tok, t);
			any = true;
		}
		v += len + (v[len] == ',');
	}
	if (any)
		kr_buf_add_char(b, '\n');
}

char *
wl_object_headers(const struct kr_httpd_req *http)
{
	struct kr_buf b = KR_BUF_INIT;

	kr_buf_init(&b, 64u << 10);
	for (size_t i = 0; i < sizeof(kept_headers) / sizeof(kept_headers[0]); i++) {
		const char *v = kr_httpd_header(http, kept_headers[i]);
		if (v && strcmp(kept_headers[i], "Content-Encoding") == 0)
			add_content_encoding(&b, v);
		else if (v)
			kr_buf_addf(&b, "%s: %s\n", kept_headers[i], v);
	}
	if (!kr_httpd_header(http, "Content-Type"))
		kr_buf_add(&b, "Content-Type: binary/octet-stream\n");
	for (size_t i = 0; i < http->n_headers; i++)
		if (strncasecmp(http->headers[i].name, "x-amz-meta-", 11) == 0) {
			char name[256];
			snprintf(name, sizeof(name), "%s", http->headers[i].name);
			for (char *p = name; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			kr_buf_addf(&b, "%s: %s\n", name, http->headers[i].value);
		}
	kr_buf_add(&b, "");	/* never NULL data, even when empty */
	return kr_buf_detach(&b, NULL);
}

/* PutObject: a bucket the requester may WRITE. */
static bool
may_write(struct wl_req *rq, const struct wl_bucket *b)
{
	if (rq->who.authenticated && wl_acl_allows(rq, b->owner, b->acl, WL_WRITE))
		return true;
	wl_error(rq, 403, "AccessDenied", "Access Denied");
	return false;
}

static void
put_done(struct wl_req *rq, struct wl_blob *blob, const unsigned char md5[16])
{
	struct wl_object o = {
		.key = rq->key,
		.size = blob->size,
		.modified = time(NULL),
	};

	wl_etag_hex(md5, o.etag);
	snprintf(o.owner, sizeof(o.owner), "%s", rq->who.user.name);
	snprintf(o.owner_id, sizeof(o.owner_id), "%s", rq->who.user.account_id);
	snprintf(o.acl, sizeof(o.acl), "%s", wl_acl_canned(rq, "private"));
	snprintf(o.blob, sizeof(o.blob), "%s", blob->id);
	o.headers = wl_object_headers(rq->http);
	if (!o.headers || wl_object_put(rq->w, rq->bucket, &o, NULL) < 0) {
		wl_blob_unlink(rq->w, blob->id);
		free(o.headers);
		wl_error_from_kr(rq);
		return;
	}
	free(o.headers);
	kr_log_debug("put %s/%s (%llu bytes)", rq->bucket, rq->key, (unsigned long long)o.size);
	kr_httpd_add_header(rq->http, "ETag", "%s", o.etag);
	kr_httpd_add_header(rq->http, "x-amz-request-id", "%s", rq->request_id);
	kr_httpd_respond(rq->http, 200, NULL, "", 0);
}

void
wl_object_put_op(struct wl_req *rq, const struct wl_bucket *b)
{
	uint64_t room;

	if (!may_write(rq, b))
		return;
	if (!wl_acl_canned(rq, "private")) {
		wl_error(rq, 400, "InvalidArgument", "unknown canned ACL");
		return;
	}
	if (wl_quota_room(rq, b, &room) < 0)
		return;
	wl_upload_start(rq, room, put_done, NULL);
}

int
wl_parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	unsigned long long a, b;
	char *end;

	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;	/* not a single byte range: S3 sends the whole object */
	h += 6;
	if (*h == '-') {
		a = strtoull(h + 1, &end, 10);
		if (*end || end == h + 1)
			return 0;
		if (a == 0)
			return -1;
		*len = a < size ? a : size;
		*off = size - *len;
		return size ? 1 : -1;
	}
	a = strtoull(h, &end, 10);
	if (end == h || *end != '-')
		return 0;
	if (end[1] == '\0')
		b = size ? size - 1 : 0;
	else {
		char *e2;
		b = strtoull(end + 1, &e2, 10);
		if (*e2 || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	if (b >= size)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return 1;
}

static bool
etag_matches(const char *list, const char *etag)
{
	const char *bare = etag + 1;
	size_t bl = strlen(etag) - 2;

	if (strcmp(list, "*") == 0)
		return true;
	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '"')
			p++;
		if (strncmp(p, bare, bl) == 0 && (p[bl] == '"' || p[bl] == ',' || !p[bl]))
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

static void
add_stored_headers(struct wl_req *rq, const char *headers)
{
	static const struct { const char *param, *header; } overrides[] = {
		{ "response-content-type", "Content-Type" },
		{ "response-content-language", "Content-Language" },
		{ "response-expires", "Expires" },
		{ "response-cache-control", "Cache-Control" },
		{ "response-content-disposition", "Content-Disposition" },
		{ "response-content-encoding", "Content-Encoding" },
	};
	const char *line = headers;

	while (*line) {
		const char *nl = strchr(line, '\n'), *colon = strchr(line, ':');
		char name[256];
		bool overridden = false;

		if (!nl)
			break;
		if (colon && colon < nl && colon - line < (long)sizeof(name)) {
			snprintf(name, sizeof(name), "%.*s", (int)(colon - line), line);
			for (size_t i = 0; i < sizeof(overrides) / sizeof(overrides[0]); i++)
				if (strcasecmp(name, overrides[i].header) == 0 &&
				    wl_query(rq, overrides[i].param))
					overridden = true;
			if (!overridden)
				kr_httpd_add_header(rq->http, name, "%.*s", (int)(nl - colon - 2),
				    colon + 2);
		}
		line = nl + 1;
	}
	for (size_t i = 0; i < sizeof(overrides) / sizeof(overrides[0]); i++)
		if (wl_query(rq, overrides[i].param) && rq->who.authenticated)
			kr_httpd_add_header(rq->http, overrides[i].header, "%s",
			    wl_query(rq, overrides[i].param));
}

void
wl_object_get_op(struct wl_req *rq, const struct wl_bucket *b)
{
	struct wl_object o;
	const char *im = kr_httpd_header(rq->http, "If-Match");
	const char *inm = kr_httpd_header(rq->http, "If-None-Match");
	uint64_t off = 0, len;
	char when[40];
	int r, fd = -1;

	r = wl_object_get(rq->w, rq->bucket, rq->key, &o);
	if (r < 0) {
		wl_error_from_kr(rq);
		return;
	}
	if (r == 0) {
		wl_error(rq, 404, "NoSuchKey", "The specified key does not exist.");
		return;
	}
	if (!wl_acl_object_allows(rq, b->name, &o, WL_READ)) {
		wl_error(rq, 403, "AccessDenied", "Access Denied");
		goto out;
	}
	if (im && !etag_matches(im, o.etag)) {
		wl_error(rq, 412, "PreconditionFailed", "At least one of the pre-conditions you "
		    "specified did not hold");
		goto out;
	}
	wl_time_http(o.modified, when);
	kr_httpd_add_header(rq->http, "ETag", "%s", o.etag);
	kr_httpd_add_header(rq->http, "Last-Modified", "%s", when);
	kr_httpd_add_header(rq->http, "x-amz-request-id", "%s", rq->request_id);
	if (inm && etag_matches(inm, o.etag)) {
		kr_httpd_respond(rq->http, 304, NULL, "", 0);
		goto out;
	}
	kr_httpd_add_header(rq->http, "Accept-Ranges", "bytes");
	len = o.size;
	r = wl_parse_range(kr_httpd_header(rq->http, "Range"), o.size, &off, &len);
	if (r < 0) {
		kr_httpd_add_header(rq->http, "Content-Range", "bytes */%llu",
		    (unsigned long long)o.size);
		wl_error(rq, 416, "InvalidRange", "The requested range is not satisfiable");
		goto out;
	}
	add_stored_headers(rq, o.headers);
	if (r == 1)
		kr_httpd_add_header(rq->http, "Content-Range", "bytes %llu-%llu/%llu",
		    (unsigned long long)off, (unsigned long long)(off + len - 1),
		    (unsigned long long)o.size);
	if (strcmp(rq->http->method, "GET") == 0 && len > 0 &&
	    (fd = wl_blob_open(rq->w, o.blob)) < 0) {
		wl_error_from_kr(rq);
		goto out;
	}
	kr_httpd_respond_file(rq->http, r == 1 ? 206 : 200, NULL, fd, (off_t)off, (off_t)len);
out:
	wl_object_clear(&o);
}

void
wl_object_delete_op(struct wl_req *rq, const struct wl_bucket *b)
{
	if (!may_write(rq, b))
		return;
	if (wl_object_delete(rq->w, rq->bucket, rq->key) < 0) {
		wl_error_from_kr(rq);
		return;
	}
	kr_httpd_add_header(rq->http, "x-amz-request-id", "%s", rq->request_id);
	kr_httpd_respond(rq->http, 204, NULL, "", 0);
}

/* --- CopyObject ----------------------------------------------------------- */

/* Copy the source blob into a new blob: 0, or -1 with kr_error. */
static int
copy_blob(struct walrus *w, const char *src_id, struct wl_blob *dst, unsigned char md5[16])
{
	char *buf = malloc(1u << 20);
	int fd = wl_blob_open(w, src_id), rc = -1;
	ssize_t n;

	if (fd < 0 || !buf || wl_blob_begin(w, dst) < 0)
		goto out;
	while ((n = read(fd, buf, 1u << 20)) > 0)
		if (wl_blob_write(dst, buf, (size_t)n) < 0)
			goto out;
	if (n < 0) {
		kr_error_errno("InternalError", "reading blob %s", src_id);
		goto out;
	}
	rc = wl_blob_commit(w, dst, md5);
out:
	if (rc < 0)
		wl_blob_abort(dst);
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

void
wl_object_copy_op(struct wl_req *rq, const struct wl_bucket *b)
{
	const char *src = kr_httpd_header(rq->http, "x-amz-copy-source");
	const char *directive = kr_httpd_header(rq->http, "x-amz-metadata-directive");
	char *dec = NULL, *slash;
	const char *q;
	struct wl_object so = { 0 }, no = { 0 };
	struct wl_blob blob = { .fd = -1 };
	unsigned char md5[16];
	uint64_t room;
	char when[32];
	struct kr_buf x = KR_BUF_INIT;
	ssize_t n;
	size_t plen;
	int r;

	if (!may_write(rq, b) || wl_quota_room(rq, b, &room) < 0)
		return;
	if (!wl_acl_canned(rq, "private")) {	/* as PutObject: never a silent private */
		wl_error(rq, 400, "InvalidArgument", "unknown canned ACL");
		return;
	}
	/*
	 * "bucket/key[?versionId=...]": the query is split off before decoding,
	 * so a %3F in the key stays in the key, and a %00 is refused rather than
	 * cutting the key short.
	 */
	plen = (q = strchr(src, '?')) ? (size_t)(q - src) : strlen(src);
	if (!(dec = malloc(plen + 1)) ||
	    (n = kr_uri_decode(dec, src, plen, 0, NULL)) < 0 || strlen(dec) != (size_t)n) {
		wl_error(rq, 400, "InvalidArgument", "bad x-amz-copy-source");
		goto out;
	}
	slash = strchr(dec + (dec[0] == '/'), '/');
	if (!slash || !slash[1]) {
		wl_error(rq, 400, "InvalidArgument", "x-amz-copy-source must be bucket/key");
		goto out;
	}
	*slash = '\0';
	r = wl_object_get(rq->w, dec + (dec[0] == '/'), slash + 1, &so);
	if (r <= 0) {
		if (r < 0)
			wl_error_from_kr(rq);
		else
			wl_error(rq, 404, "NoSuchKey", "The specified key does not exist.");
		goto out;
	}
	if (!wl_acl_object_allows(rq, dec + (dec[0] == '/'), &so, WL_READ)) {
		wl_error(rq, 403, "AccessDenied", "Access Denied");
		goto out;
	}
	if (so.size > room) {
		wl_error(rq, 400, "EntityTooLarge", "The copy exceeds the quota");
		goto out;
	}
	if (directive && strcmp(directive, "REPLACE") != 0 && strcmp(directive, "COPY") != 0) {
		wl_error(rq, 400, "InvalidArgument", "Unknown metadata directive.");
		goto out;
	}
	if (copy_blob(rq->w, so.blob, &blob, md5) < 0) {
		wl_error_from_kr(rq);
		goto out;
	}
	no.key = rq->key;
	no.size = so.size;
	no.modified = time(NULL);
	wl_etag_hex(md5, no.etag);
	snprintf(no.owner, sizeof(no.owner), "%s", rq->who.user.name);
	snprintf(no.owner_id, sizeof(no.owner_id), "%s", rq->who.user.account_id);
	snprintf(no.acl, sizeof(no.acl), "%s", wl_acl_canned(rq, "private"));
	snprintf(no.blob, sizeof(no.blob), "%s", blob.id);
	no.headers = directive && strcmp(directive, "REPLACE") == 0 ?
	    wl_object_headers(rq->http) : strdup(so.headers);
	if (!no.headers || wl_object_put(rq->w, rq->bucket, &no, NULL) < 0) {
		wl_blob_unlink(rq->w, blob.id);
		wl_error_from_kr(rq);
		goto out;
	}
	wl_time_iso(no.modified, when);
	wl_xml_start(&x, "CopyObjectResult");
	kr_buf_add_xml_elem(&x, "LastModified", when);
	kr_buf_add_xml_elem(&x, "ETag", no.etag);
	kr_buf_add(&x, "</CopyObjectResult>");
	wl_reply_xml(rq, 200, &x);
out:
	free(no.headers);
	wl_object_clear(&so);
	free(dec);
}

/* --- object ACLs ---------------------------------------------------------- */

static void
set_object_acl(struct wl_req *rq, const char *acl)
{
	wl_acl_store(rq, acl, true);
}

void
wl_object_acl_op(struct wl_req *rq, const struct wl_bucket *b)
{
	struct wl_object o;
	bool put;
	int r;

	r = wl_object_get(rq->w, rq->bucket, rq->key, &o);
	if (r <= 0) {
		if (r < 0)
			wl_error_from_kr(rq);
		else
			wl_error(rq, 404, "NoSuchKey", "The specified key does not exist.");
		return;
	}
	put = strcmp(rq->http->method, "PUT") == 0;
	if (!wl_acl_object_allows(rq, b->name, &o, put ? WL_WRITE_ACP : WL_READ_ACP))
		wl_error(rq, 403, "AccessDenied", "Access Denied");
	else if (put)
		wl_acl_put(rq, o.owner_id, b, set_object_acl);
	else
		wl_acl_get(rq, o.owner, o.owner_id, o.acl, b);
	wl_object_clear(&o);
}

/* --- DeleteObjects -------------------------------------------------------- */

struct multi_delete {
	struct wl_req *rq;
	struct kr_buf *out;
	bool quiet;
	int count;
};

static int
delete_one(const char *text, size_t len, void *arg)
{
	struct multi_delete *md = arg;
	char *key = wl_xml_text(text, text + len, "Key");

	if (++md->count > 1000)
		return 1;
	if (!key)
		return 0;
	if (wl_object_delete(md->rq->w, md->rq->bucket, key) < 0) {
		kr_buf_add(md->out, "<Error>");
		kr_buf_add_xml_elem(md->out, "Key", key);
		kr_buf_add_xml_elem(md->out, "Code", "InternalError");
		kr_buf_add_xml_elem(md->out, "Message", "We encountered an internal error.");
		kr_buf_add(md->out, "</Error>");
	} else if (!md->quiet) {
		kr_buf_add(md->out, "<Deleted>");
		kr_buf_add_xml_elem(md->out, "Key", key);
		kr_buf_add(md->out, "</Deleted>");
	}
	free(key);
	return 0;
}

static void
delete_body(struct kr_httpd_req *http, const char *body, size_t len, void *ctx)
{
	struct wl_req *rq = ctx;
	struct kr_buf out = KR_BUF_INIT;
	struct multi_delete md = { rq, &out, false, 0 };
	char *quiet;
	EVP_MD_CTX *m = NULL;
	unsigned char md5[16];
	unsigned int n = 16;

	(void)http;
	if (!body) {
		wl_error(rq, 400, "MalformedXML", "The Delete document is too large");
		return;
	}
	if (wl_auth_body(rq, body, len) < 0 || wl_auth_body_end(rq) < 0)
		return;
	if (kr_httpd_header(rq->http, "Content-MD5")) {
		m = EVP_MD_CTX_new();
		if (!m || !EVP_DigestInit_ex(m, EVP_md5(), NULL) || !EVP_DigestUpdate(m, body, len) ||
		    !EVP_DigestFinal_ex(m, md5, &n)) {
			EVP_MD_CTX_free(m);
			wl_error(rq, 500, "InternalError", "MD5 failed");
			return;
		}
		EVP_MD_CTX_free(m);
		if (wl_check_content_md5(rq, md5) < 0)
			return;
	}
	quiet = wl_xml_text(body, body + len, "Quiet");
	md.quiet = quiet && strcmp(quiet, "true") == 0;
	free(quiet);
	wl_xml_start(&out, "DeleteResult");
	if (wl_xml_each(body, body + len, "Object", delete_one, &md) != 0) {
		kr_buf_free(&out);
		wl_error(rq, 400, "MalformedXML", "The XML you provided was not well-formed or did "
		    "not validate against our published schema (at most 1000 keys)");
		return;
	}
	kr_buf_add(&out, "</DeleteResult>");
	wl_reply_xml(rq, 200, &out);
}

void
wl_objects_delete_op(struct wl_req *rq, const struct wl_bucket *b)
{
	if (!may_write(rq, b))
		return;
	kr_httpd_read_body_all(rq->http, WL_MAX_XML_BODY, delete_body, rq);
}
