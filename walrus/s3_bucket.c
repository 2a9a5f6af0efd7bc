/*
 * s3_bucket.c - the service and its buckets: ListBuckets, CreateBucket,
 * DeleteBucket (only when empty), HeadBucket, GetBucketLocation, bucket
 * ACLs.  A user sees only their own buckets; another user's bucket answers
 * AccessDenied unless its ACL grants the operation.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "walrus.h"

/*
 * Buckets named karri-* belong to the cloud itself (the CLC's internal user
 * keeps EBS snapshots in karri-snapshots, clc/clc_volume.h): a user who took
 * such a name first could read or block what the cloud stores there.
 */
#define RESERVED_PREFIX "karri-"
#define RESERVED_OWNER WL_SYSTEM_USER

/* S3's rules for new buckets (DNS-compatible), which path-style clients also follow. */
bool
wl_bucket_name_valid(const char *name)
{
	size_t n = strlen(name);
	int dots = 0;
	bool digits_and_dots = true;

	if (n < 3 || n > 63 || !isalnum((unsigned char)name[0]) ||
	    !isalnum((unsigned char)name[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '.' || c == '-'))
			return false;
		if (c == '.' && (name[i + 1] == '.' || name[i + 1] == '-' || (i && name[i - 1] == '-')))
			return false;
		dots += c == '.';
		digits_and_dots &= isdigit((unsigned char)c) || c == '.';
	}
	return !(digits_and_dots && dots == 3);	/* not an IP address */
}

void
wl_list_buckets(struct wl_req *rq)
{
	struct kr_buf b = KR_BUF_INIT;
	sqlite3_stmt *st = NULL;
	char when[32];
	int r;

	if (kr_db_prepare(rq->w->db, "SELECT name, created FROM buckets WHERE owner = ?"
	    " ORDER BY name", &st) < 0) {
		wl_error_from_kr(rq);
		return;
	}
	sqlite3_bind_text(st, 1, rq->who.user.name, -1, SQLITE_STATIC);
	wl_xml_start(&b, "ListAllMyBucketsResult");
	kr_buf_add(&b, "<Owner>");
	kr_buf_add_xml_elem(&b, "ID", rq->who.user.account_id);
	kr_buf_add_xml_elem(&b, "DisplayName", rq->who.user.name);
	kr_buf_add(&b, "</Owner><Buckets>");
	while ((r = kr_db_step(st)) == 1) {
		wl_time_iso((time_t)sqlite3_column_int64(st, 1), when);
		kr_buf_add(&b, "<Bucket>");
		kr_buf_add_xml_elem(&b, "Name", (const char *)sqlite3_column_text(st, 0));
		kr_buf_add_xml_elem(&b, "CreationDate", when);
		kr_buf_add(&b, "</Bucket>");
	}
	sqlite3_finalize(st);
	kr_buf_add(&b, "</Buckets></ListAllMyBucketsResult>");
	if (r < 0) {
		kr_buf_free(&b);
		wl_error_from_kr(rq);
		return;
	}
	wl_reply_xml(rq, 200, &b);
}

static void
create_body(struct kr_httpd_req *http, const char *body, size_t len, void *ctx)
{
	struct wl_req *rq = ctx;
	struct wl_bucket existing;
	sqlite3_stmt *st = NULL;
	const char *acl = wl_acl_canned(rq, "private");
	int r;

	(void)http;
	if (!body) {
		wl_error(rq, 400, "MalformedXML", "CreateBucketConfiguration too large");
		return;
	}
	if (wl_auth_body(rq, body, len) < 0 || wl_auth_body_end(rq) < 0)
		return;
	r = wl_bucket_get(rq->w, rq->bucket, &existing);
	if (r < 0) {
		wl_error_from_kr(rq);
		return;
	}
	if (r == 1) {
		if (strcmp(existing.owner, rq->who.user.name) == 0)
			wl_error(rq, 409, "BucketAlreadyOwnedByYou", "Your previous request to create "
			    "the named bucket succeeded and you already own it.");
		else
			wl_error(rq, 409, "BucketAlreadyExists", "The requested bucket name is not "
			    "available. Please select a different name and try again.");
		return;
	}
	if (kr_db_prepare(rq->w->db, "INSERT INTO buckets(name, owner, owner_id, acl, created)"
	    " VALUES (?, ?, ?, ?, ?)", &st) < 0) {
		wl_error_from_kr(rq);
		return;
	}
	sqlite3_bind_text(st, 1, rq->bucket, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rq->who.user.name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, rq->who.user.account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, acl, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	r = kr_db_step(st);
	sqlite3_finalize(st);
	if (r < 0) {
		wl_error_from_kr(rq);
		return;
	}
	kr_log_info("bucket %s created by %s", rq->bucket, rq->who.user.name);
	kr_httpd_add_header(rq->http, "Location", "/%s", rq->bucket);
	kr_httpd_add_header(rq->http, "x-amz-request-id", "%s", rq->request_id);
	kr_httpd_respond(rq->http, 200, NULL, "", 0);
}

void
wl_bucket_create(struct wl_req *rq)
{
	if (!rq->who.authenticated) {
		wl_error(rq, 403, "AccessDenied", "Anonymous users cannot create buckets");
		return;
	}
	if (!wl_bucket_name_valid(rq->bucket)) {
		wl_error(rq, 400, "InvalidBucketName", "The specified bucket is not valid.");
		return;
	}
	if (strncmp(rq->bucket, RESERVED_PREFIX, strlen(RESERVED_PREFIX)) == 0 &&
	    strcmp(rq->who.user.name, RESERVED_OWNER) != 0) {
		wl_error(rq, 403, "AccessDenied", "Bucket names beginning with \"%s\" are "
		    "reserved for the cloud's own use; choose another name.", RESERVED_PREFIX);
		return;
	}
	if (!wl_acl_canned(rq, "private")) {
		wl_error(rq, 400, "InvalidArgument", "unknown canned ACL");
		return;
	}
	/* The body, if any, is a CreateBucketConfiguration: any region is fine. */
	kr_httpd_read_body_all(rq->http, 64u << 10, create_body, rq);
}

static bool
owner_only(struct wl_req *rq, const struct wl_bucket *b)
{
	if (rq->who.authenticated && strcmp(rq->who.user.name, b->owner) == 0)
		return true;
	wl_error(rq, 403, "AccessDenied", "Access Denied");
	return false;
}

void
wl_bucket_delete(struct wl_req *rq, const struct wl_bucket *b)
{
	sqlite3 *db = rq->w->db;
	sqlite3_stmt *st = NULL;
	int r;

	if (!owner_only(rq, b))
		return;
	if (kr_db_begin(db) < 0)
		goto fail;
	if (kr_db_prepare(db, "SELECT 1 FROM objects WHERE bucket = ?1 UNION ALL"
	    " SELECT 1 FROM uploads WHERE bucket = ?1 LIMIT 1", &st) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, b->name, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (r < 0)
		goto fail;
	if (r == 1) {
		kr_db_rollback(db);
		wl_error(rq, 409, "BucketNotEmpty", "The bucket you tried to delete is not empty");
		return;
	}
	if (kr_db_prepare(db, "DELETE FROM buckets WHERE name = ?", &st) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, b->name, -1, SQLITE_STATIC);
	if (kr_db_step(st) < 0 || kr_db_commit(db) < 0)
		goto fail;
	sqlite3_finalize(st);
	kr_log_info("bucket %s deleted by %s", b->name, rq->who.user.name);
	kr_httpd_add_header(rq->http, "x-amz-request-id", "%s", rq->request_id);
	kr_httpd_respond(rq->http, 204, NULL, "", 0);
	return;
fail:
	sqlite3_finalize(st);
	kr_db_rollback(db);
	wl_error_from_kr(rq);
}

void
wl_bucket_head(struct wl_req *rq, const struct wl_bucket *b)
{
	if (!wl_acl_allows(rq, b->owner, b->acl, WL_READ)) {
		kr_httpd_respond(rq->http, 403, NULL, "", 0);
		return;
	}
	kr_httpd_add_header(rq->http, "x-amz-request-id", "%s", rq->request_id);
	kr_httpd_add_header(rq->http, "x-amz-bucket-region", "us-east-1");
	kr_httpd_respond(rq->http, 200, NULL, "", 0);
}

void
wl_bucket_location(struct wl_req *rq, const struct wl_bucket *b)
{
	struct kr_buf x = KR_BUF_INIT;

	if (!owner_only(rq, b))
		return;
	/* Empty means us-east-1, which every client accepts for any endpoint. */
	kr_buf_addf(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<LocationConstraint xmlns=\"%s\"/>", WL_S3_NS);
	wl_reply_xml(rq, 200, &x);
}

static void
set_bucket_acl(struct wl_req *rq, const char *acl)
{
	wl_acl_store(rq, acl, false);
}

void
wl_bucket_acl(struct wl_req *rq, const struct wl_bucket *b)
{
	if (!owner_only(rq, b))
		return;
	if (strcmp(rq->http->method, "GET") == 0)
		wl_acl_get(rq, b->owner, b->owner_id, b->acl, NULL);
	else
		wl_acl_put(rq, b->owner_id, NULL, set_bucket_acl);
}
