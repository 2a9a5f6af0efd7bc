/*
 * s3_multipart.c - multipart uploads: initiate, upload part, complete,
 * abort, list parts, list uploads.  awscli switches to these above 8 MiB.
 *
 * Each part is a blob of its own with a row in `parts`.  Completing
 * concatenates the chosen parts into one new blob (copy_file_range: the
 * kernel copies, nothing passes through Walrus's memory), then in one
 * transaction records the object and deletes the upload; the part blobs
 * are unlinked after the commit.  The ETag is S3's: the MD5 of the parts'
 * binary MD5s, "-" and the number of parts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "walrus.h"

struct upload_row {
	char id[40];
	char key[WL_MAX_KEY + 1];
	char owner[KR_USER_NAME_MAX + 1];
	char owner_id[KR_ACCOUNT_ID_LEN + 1];
	char acl[32];
	char *headers;
	time_t initiated;
};

static void
text(char *dst, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

/* The upload ?uploadId= names, for this bucket and key: 1 found, 0 answered NoSuchUpload, -1 answered. */
static int
get_upload(struct wl_req *rq, struct upload_row *u)
{
	const char *id = wl_query(rq, "uploadId");
	sqlite3_stmt *st = NULL;
	int r;

	memset(u, 0, sizeof(*u));
	if (kr_db_prepare(rq->w->db, "SELECT upload_id, key, owner, owner_id, acl, headers,"
	    " initiated FROM uploads WHERE upload_id = ? AND bucket = ? AND key = ?", &st) < 0) {
		wl_error_from_kr(rq);
		return -1;
	}
	sqlite3_bind_text(st, 1, id ? id : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rq->bucket, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, rq->key, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	if (r == 1) {
		text(u->id, sizeof(u->id), st, 0);
		text(u->key, sizeof(u->key), st, 1);
		text(u->owner, sizeof(u->owner), st, 2);
		text(u->owner_id, sizeof(u->owner_id), st, 3);
		text(u->acl, sizeof(u->acl), st, 4);
		u->headers = strdup((const char *)sqlite3_column_text(st, 5));
		u->initiated = (time_t)sqlite3_column_int64(st, 6);
	}
	sqlite3_finalize(st);
	if (r < 0) {
		wl_error_from_kr(rq);
		return -1;
	}
	if (r == 0) {
		wl_error(rq, 404, "NoSuchUpload", "The specified upload does not exist. The upload "
		    "ID may be invalid, or the upload may have been aborted or completed.");
		return 0;
	}
	/* Only who started an upload may add to, finish or see it. */
	if (!rq->who.authenticated || strcmp(rq->who.user.name, u->owner) != 0) {
		free(u->headers);
		wl_error(rq, 403, "AccessDenied", "Access Denied");
		return -1;
	}
	return 1;
}

void
wl_mpu_initiate(struct wl_req *rq, const struct wl_bucket *b)
{
	const char *acl = wl_acl_canned(rq, "private");
	sqlite3_stmt *st = NULL;
	struct kr_buf x = KR_BUF_INIT;
	unsigned char rnd[24];
	char id[64], *headers;
	int r;

	if (!rq->who.authenticated || !wl_acl_allows(rq, b->owner, b->acl, WL_WRITE)) {
		wl_error(rq, 403, "AccessDenied", "Access Denied");
		return;
	}
	if (!acl) {
		wl_error(rq, 400, "InvalidArgument", "unknown canned ACL");
		return;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		wl_error(rq, 500, "InternalError", "no randomness");
		return;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	if (!(headers = wl_object_headers(rq->http)) ||
	    kr_db_prepare(rq->w->db, "INSERT INTO uploads(upload_id, bucket, key, owner, owner_id,"
	    " acl, headers, initiated) VALUES (?,?,?,?,?,?,?,?)", &st) < 0) {
		free(headers);
		wl_error_from_kr(rq);
		return;
	}
	sqlite3_bind_text(st, 1, id, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rq->bucket, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, rq->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, rq->who.user.name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, rq->who.user.account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, acl, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, headers, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)time(NULL));
	r = kr_db_step(st);
	sqlite3_finalize(st);
	free(headers);
	if (r < 0) {
		wl_error_from_kr(rq);
		return;
	}
	id[32] = '\0';
	wl_xml_start(&x, "InitiateMultipartUploadResult");
	kr_buf_add_xml_elem(&x, "Bucket", rq->bucket);
	kr_buf_add_xml_elem(&x, "Key", rq->key);
	kr_buf_add_xml_elem(&x, "UploadId", id);
	kr_buf_add(&x, "</InitiateMultipartUploadResult>");
	wl_reply_xml(rq, 200, &x);
}

static long
part_number(struct wl_req *rq)
{
	const char *s = wl_query(rq, "partNumber");
	char *e;
	long n;

	if (!s)
		return -1;
	n = strtol(s, &e, 10);
	return *e || e == s || n < 1 || n > WL_MAX_PARTS ? -1 : n;
}

static void
part_done(struct wl_req *rq, struct wl_blob *blob, const unsigned char md5[16])
{
	sqlite3 *db = rq->w->db;
	sqlite3_stmt *st = NULL;
	char etag[80], old[40] = "";
	int r;

	wl_etag_hex(md5, etag);
	if (kr_db_begin(db) < 0)
		goto fail;
	if (kr_db_prepare(db, "SELECT blob FROM parts WHERE upload_id = ? AND number = ?", &st) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, wl_query(rq, "uploadId"), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, part_number(rq));
	if ((r = kr_db_step(st)) < 0)
		goto fail;
	if (r == 1)
		text(old, sizeof(old), st, 0);
	sqlite3_finalize(st);
	st = NULL;
	/* The upload may have been completed or aborted meanwhile: then no row matches. */
	if (kr_db_prepare(db, "INSERT OR REPLACE INTO parts(upload_id, number, size, etag, blob,"
	    " modified) SELECT upload_id, ?, ?, ?, ?, ? FROM uploads WHERE upload_id = ?", &st) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, part_number(rq));
	sqlite3_bind_int64(st, 2, (sqlite3_int64)blob->size);
	sqlite3_bind_text(st, 3, etag, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, blob->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 6, wl_query(rq, "uploadId"), -1, SQLITE_STATIC);
	if (kr_db_step(st) < 0)
		goto fail;
	if (sqlite3_changes(db) == 0) {
		sqlite3_finalize(st);
		kr_db_rollback(db);
		wl_blob_unlink(rq->w, blob->id);
		wl_error(rq, 404, "NoSuchUpload", "The specified upload does not exist.");
		return;
	}
	if (kr_db_commit(db) < 0)
		goto fail;
	sqlite3_finalize(st);
	if (old[0])
		wl_blob_unlink(rq->w, old);
	kr_httpd_add_header(rq->http, "ETag", "%s", etag);
	kr_httpd_add_header(rq->http, "x-amz-request-id", "%s", rq->request_id);
	kr_httpd_respond(rq->http, 200, NULL, "", 0);
	return;
fail:
	sqlite3_finalize(st);
	kr_db_rollback(db);
	wl_blob_unlink(rq->w, blob->id);
	wl_error_from_kr(rq);
}

void
wl_mpu_part(struct wl_req *rq, const struct wl_bucket *b)
{
	struct upload_row u;
	uint64_t room;

	if (part_number(rq) < 0) {
		wl_error(rq, 400, "InvalidArgument", "Part number must be an integer between 1 and "
		    "10000, inclusive");
		return;
	}
	if (kr_httpd_header(rq->http, "x-amz-copy-source")) {
		wl_error(rq, 501, "NotImplemented", "UploadPartCopy is not supported");
		return;
	}
	if (get_upload(rq, &u) <= 0)
		return;
	free(u.headers);
	if (wl_quota_room(rq, b, &room) < 0)
		return;
	wl_upload_start(rq, room, part_done, NULL);
}

/* --- complete ------------------------------------------------------------- */

struct chosen {
	long number;
	char etag[80];
	char blob[40];
	uint64_t size;
	unsigned char md5[16];
};

struct complete {
	struct chosen *parts;
	size_t n, cap;
	bool bad;
};

static int
one_part(const char *t, size_t len, void *arg)
{
	struct complete *c = arg;
	char *num = wl_xml_text(t, t + len, "PartNumber"), *etag = wl_xml_text(t, t + len, "ETag");
	char *e = NULL;
	struct chosen *p;

	if (!num || !etag || c->n >= WL_MAX_PARTS) {
		c->bad = true;
		goto out;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		struct chosen *np = realloc(c->parts, cap * sizeof(*np));
		if (!np) {
			c->bad = true;
			goto out;
		}
		c->parts = np;
		c->cap = cap;
	}
	p = &c->parts[c->n++];
	memset(p, 0, sizeof(*p));
	p->number = strtol(num, &e, 10);
	if (*e || e == num)
		c->bad = true;
	/* Clients send the ETag with or without its quotes. */
	snprintf(p->etag, sizeof(p->etag), "%s%s%s", etag[0] == '"' ? "" : "\"", etag,
	    etag[0] == '"' ? "" : "\"");
out:
	free(num);
	free(etag);
	return c->bad ? 1 : 0;
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Look the chosen parts up; 0, or -1 having answered. */
static int
check_parts(struct wl_req *rq, const char *upload_id, struct complete *c)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (kr_db_prepare(rq->w->db, "SELECT etag, blob, size FROM parts WHERE upload_id = ?"
	    " AND number = ?", &st) < 0) {
		wl_error_from_kr(rq);
		return -1;
	}
	for (size_t i = 1; i < c->n; i++)
		if (c->parts[i].number <= c->parts[i - 1].number) {
			wl_error(rq, 400, "InvalidPartOrder", "The list of parts was not in "
			    "ascending order. The parts list must be specified in order by part number.");
			goto out;
		}
	for (size_t i = 0; i < c->n; i++) {
		struct chosen *p = &c->parts[i];
		int r;

		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, p->number);
		if ((r = kr_db_step(st)) < 0) {
			wl_error_from_kr(rq);
			goto out;
		}
		if (r == 0 || strcmp((const char *)sqlite3_column_text(st, 0), p->etag) != 0) {
			wl_error(rq, 400, "InvalidPart", "One or more of the specified parts could "
			    "not be found. The part may not have been uploaded, or the specified "
			    "entity tag may not match the part's entity tag.");
			goto out;
		}
		text(p->blob, sizeof(p->blob), st, 1);
		p->size = (uint64_t)sqlite3_column_int64(st, 2);
		if (i + 1 < c->n && p->size < WL_MIN_PART) {
			wl_error(rq, 400, "EntityTooSmall", "Your proposed upload is smaller than the "
			    "minimum allowed object size.");
			goto out;
		}
		for (int k = 0; k < 16; k++)
			p->md5[k] = (unsigned char)(hexval(p->etag[1 + 2 * k]) << 4 |
			    hexval(p->etag[2 + 2 * k]));
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Concatenate the parts into a new committed blob; 0 or -1 with kr_error. */
static int
concatenate(struct walrus *w, const struct complete *c, struct wl_blob *out)
{
	if (wl_blob_begin(w, out) < 0)
		return -1;
	for (size_t i = 0; i < c->n; i++) {
		int fd = wl_blob_open(w, c->parts[i].blob);
		uint64_t left = c->parts[i].size;

		if (fd < 0)
			goto fail;
		while (left > 0) {
			ssize_t n = copy_file_range(fd, NULL, out->fd, NULL, left, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				kr_error_errno("InternalError", "copying part %ld", c->parts[i].number);
				close(fd);
				goto fail;
			}
			left -= (uint64_t)n;
			out->size += (uint64_t)n;
		}
		close(fd);
	}
	if (wl_blob_commit(w, out, NULL) == 0)
		return 0;
fail:
	wl_blob_abort(out);
	return -1;
}

/* Blobs of every part of the upload (chosen or not), to unlink after the commit. */
static char **
all_part_blobs(struct walrus *w, const char *upload_id, size_t *n)
{
	sqlite3_stmt *st = NULL;
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	if (kr_db_prepare(w->db, "SELECT blob FROM parts WHERE upload_id = ?", &st) < 0)
		return NULL;
	sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
	while (kr_db_step(st) == 1) {
		if (*n == cap) {
			char **nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[(*n)++] = strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return v;
}

static void
unlink_blobs(struct walrus *w, char **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		wl_blob_unlink(w, v[i]);
		free(v[i]);
	}
	free(v);
}

static void
complete_body(struct kr_httpd_req *http, const char *body, size_t len, void *ctx)
{
	struct wl_req *rq = ctx;
	struct complete c = { 0 };
	struct upload_row u;
	struct wl_object o = { 0 };
	struct wl_blob blob = { .fd = -1 };
	struct kr_buf x = KR_BUF_INIT;
	EVP_MD_CTX *m = NULL;
	unsigned char md5[16];
	unsigned int ml = 16;
	char **old = NULL;
	size_t nold = 0;

	(void)http;
	if (!body) {
		wl_error(rq, 400, "MalformedXML", "The parts list is too large");
		return;
	}
	if (wl_auth_body(rq, body, len) < 0 || wl_auth_body_end(rq) < 0)
		return;
	if (get_upload(rq, &u) <= 0)
		return;
	if (wl_xml_each(body, body + len, "Part", one_part, &c) != 0 || c.bad || c.n == 0) {
		wl_error(rq, 400, "MalformedXML", "The XML you provided was not well-formed or did "
		    "not validate against our published schema");
		goto out;
	}
	if (check_parts(rq, u.id, &c) < 0)
		goto out;
	m = EVP_MD_CTX_new();
	if (!m || !EVP_DigestInit_ex(m, EVP_md5(), NULL))
		goto internal;
	for (size_t i = 0; i < c.n; i++)
		EVP_DigestUpdate(m, c.parts[i].md5, 16);
	EVP_DigestFinal_ex(m, md5, &ml);
	if (concatenate(rq->w, &c, &blob) < 0)
		goto internal;
	wl_etag_hex(md5, o.etag);
	snprintf(o.etag + 33, sizeof(o.etag) - 33, "-%zu\"", c.n);
	o.key = rq->key;
	o.size = blob.size;
	o.modified = time(NULL);
	snprintf(o.owner, sizeof(o.owner), "%s", u.owner);
	snprintf(o.owner_id, sizeof(o.owner_id), "%s", u.owner_id);
	snprintf(o.acl, sizeof(o.acl), "%s", u.acl);
	snprintf(o.blob, sizeof(o.blob), "%s", blob.id);
	o.headers = u.headers;
	old = all_part_blobs(rq->w, u.id, &nold);
	if (wl_object_put(rq->w, rq->bucket, &o, u.id) < 0) {
		wl_blob_unlink(rq->w, blob.id);
		for (size_t i = 0; i < nold; i++)
			free(old[i]);
		free(old);
		goto internal;
	}
	unlink_blobs(rq->w, old, nold);
	kr_log_info("multipart upload %s/%s completed: %zu parts, %llu bytes", rq->bucket,
	    rq->key, c.n, (unsigned long long)o.size);
	wl_xml_start(&x, "CompleteMultipartUploadResult");
	kr_buf_addf(&x, "<Location>/%s/", rq->bucket);
	kr_buf_add_xml(&x, rq->key);
	kr_buf_add(&x, "</Location>");
	kr_buf_add_xml_elem(&x, "Bucket", rq->bucket);
	kr_buf_add_xml_elem(&x, "Key", rq->key);
	kr_buf_add_xml_elem(&x, "ETag", o.etag);
	kr_buf_add(&x, "</CompleteMultipartUploadResult>");
	wl_reply_xml(rq, 200, &x);
	goto out;
internal:
	wl_error_from_kr(rq);
out:
	EVP_MD_CTX_free(m);
	free(c.parts);
	free(u.headers);
}

void
wl_mpu_complete(struct wl_req *rq, const struct wl_bucket *b)
{
	(void)b;
	kr_httpd_read_body_all(rq->http, WL_MAX_XML_BODY, complete_body, rq);
}

void
wl_mpu_abort(struct wl_req *rq, const struct wl_bucket *b)
{
	struct upload_row u;
	sqlite3_stmt *st = NULL;
	char **blobs;
	size_t n;
	int r;

	(void)b;
	if (get_upload(rq, &u) <= 0)
		return;
	free(u.headers);
	blobs = all_part_blobs(rq->w, u.id, &n);
	if (kr_db_prepare(rq->w->db, "DELETE FROM uploads WHERE upload_id = ?", &st) < 0) {
		unlink_blobs(rq->w, NULL, 0);
		wl_error_from_kr(rq);
		return;
	}
	sqlite3_bind_text(st, 1, u.id, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	sqlite3_finalize(st);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(blobs[i]);
		free(blobs);
		wl_error_from_kr(rq);
		return;
	}
	unlink_blobs(rq->w, blobs, n);
	kr_httpd_add_header(rq->http, "x-amz-request-id", "%s", rq->request_id);
	kr_httpd_respond(rq->http, 204, NULL, "", 0);
}

static void
add_owner(struct kr_buf *x, const char *tag, const char *id, const char *name)
{
	kr_buf_addf(x, "<%s>", tag);
	kr_buf_add_xml_elem(x, "ID", id);
	kr_buf_add_xml_elem(x, "DisplayName", name);
	kr_buf_addf(x, "</%s>", tag);
}

void
wl_mpu_list_parts(struct wl_req *rq, const struct wl_bucket *b)
{
	struct upload_row u;
	struct kr_buf x = KR_BUF_INIT;
	sqlite3_stmt *st = NULL;
	const char *ms = wl_query(rq, "max-parts"), *mk = wl_query(rq, "part-number-marker");
	long max = ms ? atol(ms) : 1000, marker = mk ? atol(mk) : 0, last = 0, count = 0;
	bool truncated = false;
	char when[32];
	int r;

	(void)b;
	if (max <= 0 || max > 1000)
		max = 1000;
	if (get_upload(rq, &u) <= 0)
		return;
	if (kr_db_prepare(rq->w->db, "SELECT number, size, etag, modified FROM parts"
	    " WHERE upload_id = ? AND number > ? ORDER BY number", &st) < 0) {
		free(u.headers);
		wl_error_from_kr(rq);
		return;
	}
	sqlite3_bind_text(st, 1, u.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, marker);
	wl_xml_start(&x, "ListPartsResult");
	kr_buf_add_xml_elem(&x, "Bucket", rq->bucket);
	kr_buf_add_xml_elem(&x, "Key", rq->key);
	kr_buf_add_xml_elem(&x, "UploadId", u.id);
	add_owner(&x, "Initiator", u.owner_id, u.owner);
	add_owner(&x, "Owner", u.owner_id, u.owner);
	kr_buf_add(&x, "<StorageClass>STANDARD</StorageClass>");
	kr_buf_addf(&x, "<PartNumberMarker>%ld</PartNumberMarker><MaxParts>%ld</MaxParts>",
	    marker, max);
	{
		struct kr_buf parts = KR_BUF_INIT;
		while ((r = kr_db_step(st)) == 1) {
			if (count == max) {
				truncated = true;
				break;
			}
			last = (long)sqlite3_column_int64(st, 0);
			wl_time_iso((time_t)sqlite3_column_int64(st, 3), when);
			kr_buf_addf(&parts, "<Part><PartNumber>%ld</PartNumber>", last);
			kr_buf_add_xml_elem(&parts, "LastModified", when);
			kr_buf_add_xml_elem(&parts, "ETag", (const char *)sqlite3_column_text(st, 2));
			kr_buf_addf(&parts, "<Size>%lld</Size></Part>",
			    (long long)sqlite3_column_int64(st, 1));
			count++;
		}
		kr_buf_addf(&x, "<NextPartNumberMarker>%ld</NextPartNumberMarker>"
		    "<IsTruncated>%s</IsTruncated>", last, truncated ? "true" : "false");
		kr_buf_add_len(&x, kr_buf_str(&parts), kr_buf_len(&parts));
		kr_buf_free(&parts);
	}
	sqlite3_finalize(st);
	free(u.headers);
	kr_buf_add(&x, "</ListPartsResult>");
	if (r < 0) {
		kr_buf_free(&x);
		wl_error_from_kr(rq);
		return;
	}
	wl_reply_xml(rq, 200, &x);
}

void
wl_mpu_list_uploads(struct wl_req *rq, const struct wl_bucket *b)
{
	struct kr_buf x = KR_BUF_INIT;
	sqlite3_stmt *st = NULL;
	const char *prefix = wl_query(rq, "prefix") ? wl_query(rq, "prefix") : "";
	char when[32];
	int r, count = 0;
	bool truncated = false;

	if (!rq->who.authenticated || strcmp(rq->who.user.name, b->owner) != 0) {
		wl_error(rq, 403, "AccessDenied", "Access Denied");
		return;
	}
	if (kr_db_prepare(rq->w->db, "SELECT key, upload_id, owner, owner_id, initiated"
	    " FROM uploads WHERE bucket = ? AND substr(key, 1, length(?2)) = ?2"
	    " ORDER BY key, initiated", &st) < 0) {
		wl_error_from_kr(rq);
		return;
	}
	sqlite3_bind_text(st, 1, rq->bucket, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
	wl_xml_start(&x, "ListMultipartUploadsResult");
	kr_buf_add_xml_elem(&x, "Bucket", rq->bucket);
	kr_buf_add(&x, "<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>");
	kr_buf_add_xml_elem(&x, "Prefix", prefix);
	kr_buf_add(&x, "<MaxUploads>1000</MaxUploads>");
	{
		struct kr_buf ups = KR_BUF_INIT;
		while ((r = kr_db_step(st)) == 1) {
			if (count == 1000) {
				truncated = true;
				break;
			}
			wl_time_iso((time_t)sqlite3_column_int64(st, 4), when);
			kr_buf_add(&ups, "<Upload>");
			kr_buf_add_xml_elem(&ups, "Key", (const char *)sqlite3_column_text(st, 0));
			kr_buf_add_xml_elem(&ups, "UploadId", (const char *)sqlite3_column_text(st, 1));
			add_owner(&ups, "Initiator", (const char *)sqlite3_column_text(st, 3),
			    (const char *)sqlite3_column_text(st, 2));
			add_owner(&ups, "Owner", (const char *)sqlite3_column_text(st, 3),
			    (const char *)sqlite3_column_text(st, 2));
			kr_buf_add(&ups, "<StorageClass>STANDARD</StorageClass>");
			kr_buf_add_xml_elem(&ups, "Initiated", when);
			kr_buf_add(&ups, "</Upload>");
			count++;
		}
		kr_buf_addf(&x, "<IsTruncated>%s</IsTruncated>", truncated ? "true" : "false");
		kr_buf_add_len(&x, kr_buf_str(&ups), kr_buf_len(&ups));
		kr_buf_free(&ups);
	}
	sqlite3_finalize(st);
	kr_buf_add(&x, "</ListMultipartUploadsResult>");
	if (r < 0) {
		kr_buf_free(&x);
		wl_error_from_kr(rq);
		return;
	}
	wl_reply_xml(rq, 200, &x);
}
