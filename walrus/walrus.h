/*
 * walrus.h - Walrus's private interfaces, grouped by file.
 *
 * A request goes: route.c (path, subresource, authentication, dispatch) ->
 * one s3_*.c handler -> store.c (sqlite rows + object files) -> the answer
 * through s3_xml.c's helpers.  Object data never sits in memory whole: it
 * streams from the socket into a temporary file (store.c's wl_blob), which
 * becomes visible only once renamed into place and recorded in the
 * database.
 */
#ifndef KARRI_WALRUS_H
#define KARRI_WALRUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

struct event_base;
#include <sqlite3.h>

#include "core/buf.h"
#include "bundle.h"
#include "sig/form.h"
#include "http/httpd.h"
#include "sig/sig.h"
#include "core/sizes.h"
#include "sig/userdb.h"

#define WL_S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define WL_MAX_KEY 1024			/* bytes of an object key, as S3 */
#define WL_MAX_PUT (5ull << 30)		/* largest single PUT, as S3 */
#define WL_MIN_PART (5ull << 20)	/* smallest part but the last, as S3 */
#define WL_MAX_PARTS 10000
#define WL_MAX_XML_BODY (2u << 20)	/* DeleteObjects, CompleteMultipartUpload, ACLs */

struct walrus {
	const struct kr_daemon *daemon;
	sqlite3 *db;			/* walrus.db */
	sqlite3 *users;			/* users.db (shared with the CLC) */
	char storage[900];		/* WALRUS_STORAGE_DIR */
	uint64_t bucket_quota;		/* bytes, 0: none */
	uint64_t user_quota;
	/* image bundles (image.c, image_cache.c) */
	char cloud_key[1024];		/* KARRI_CLOUD_KEY: decrypts bundles' AES keys */
	char image_dir[1000];		/* WALRUS_STORAGE_DIR/image-cache */
	uint64_t image_cache_max;	/* bytes (WALRUS_IMAGE_CACHE_SIZE) */
	struct wl_image_job *image_jobs;	/* decryptions in progress */
	unsigned long image_decryptions;	/* since start, for the log and tests */
};

/* A bundle found in the store: its parsed manifest and its parts' blobs. */
struct wl_bundle_src {
	char bucket[256];
	char key[WL_MAX_KEY + 1];
	char id[65];			/* cache id: SHA-256 of the manifest's and parts' ETags */
	struct wl_manifest m;
	char (*blobs)[40];		/* blob id of part i */
};

/* The requester: anonymous, or a user who signed the request. */
struct wl_requester {
	bool authenticated;
	struct kr_user user;
};

/* One S3 request being served. */
struct wl_req {
	struct walrus *w;
	struct kr_httpd_req *http;
	char request_id[KR_UUID_MAX];
	char bucket[256];		/* decoded; "" for the service */
	char *key;			/* decoded; NULL for a bucket */
	struct kr_form query;		/* decoded subresources and parameters */
	struct wl_requester who;
	struct kr_sig_result sig;
	EVP_MD_CTX *body_sha256;	/* set when the signed payload hash must be checked */
	bool aws_chunked;		/* body is aws-chunked, signed per chunk (aws_chunked.c) */
	void *op;			/* the handler's own state, freed by op_free */
	void (*op_free)(void *op, bool completed);
};

struct wl_bucket {
	char name[256];
	char owner[KR_USER_NAME_MAX + 1];
	char owner_id[KR_ACCOUNT_ID_LEN + 1];
	char acl[32];
	time_t created;
};

struct wl_object {
	char *key;
	uint64_t size;
	char etag[80];			/* with quotes */
	char owner[KR_USER_NAME_MAX + 1];
	char owner_id[KR_ACCOUNT_ID_LEN + 1];
	char acl[32];
	char blob[40];
	char *headers;			/* "Name: value\n" lines kept with the object */
	time_t modified;
};

enum wl_perm { WL_READ, WL_WRITE, WL_READ_ACP, WL_WRITE_ACP };

/* A file being written from a request body. */
struct wl_blob {
	int fd;
	char id[40];
	char tmp[1024];
	uint64_t size;
	uint64_t queued;	/* bytes handed to writeback so far (store.c) */
	struct wl_md5 *md5;	/* of what was written (blob_md5.c) */
};


/*
 * A request's query parameters, for route.c and every operation it calls:
 * inline here, so that the operations need nothing of route.c (no cycle).
 */
static inline const char *
wl_query(const struct wl_req *rq, const char *name)	/* or NULL */
{
	return kr_form_get(&rq->query, name);
}

static inline bool
wl_has_query(const struct wl_req *rq, const char *name)
{
	return kr_form_count(&rq->query, name) > 0;
}

/* route.c */
void wl_route(struct kr_httpd_req *http, void *arg);

/* auth.c */
int wl_auth(struct wl_req *rq);		/* 0, or -1 having answered */
int wl_auth_body(struct wl_req *rq, const void *data, size_t len);
int wl_auth_body_end(struct wl_req *rq);	/* 0, or -1 having answered */
/* aws_chunked.c: decode a SigV4 streaming body; -1 always means answered. */
struct wl_chunked;
typedef int (*wl_chunked_out_fn)(struct wl_req *rq, const void *data, size_t len);
struct wl_chunked *wl_chunked_new(struct wl_req *rq, uint64_t declared);	/* or NULL */
int wl_chunked_feed(struct wl_req *rq, struct wl_chunked *d, const void *data, size_t len,
    wl_chunked_out_fn out);
int wl_chunked_end(struct wl_req *rq, struct wl_chunked *d);	/* the final chunk came */
void wl_chunked_free(struct wl_chunked *d);	/* NULL-safe; wipes the signing key */
/* s3v2.c: S3's own SigV2 (Authorization: AWS key:sig, or ?AWSAccessKeyId&Expires&Signature) */
bool wl_s3v2_present(const struct kr_httpd_req *http);
int wl_s3v2_verify(struct wl_req *rq, const char *signed_path, struct kr_sig_result *res);

/* s3_xml.c */
void wl_error(struct wl_req *rq, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void wl_error_from_kr(struct wl_req *rq);	/* the kr_error() last recorded */
void wl_reply_xml(struct wl_req *rq, int status, struct kr_buf *xml);
void wl_xml_start(struct kr_buf *b, const char *root);
void wl_time_iso(time_t t, char out[32]);
void wl_time_http(time_t t, char out[40]);
/* The text of each <tag>...</tag> in [s, end), entities decoded; fn returns 0 to go on. */
typedef int (*wl_xml_elem_fn)(const char *text, size_t len, void *arg);
int wl_xml_each(const char *s, const char *end, const char *tag, wl_xml_elem_fn fn, void *arg);
/* First <tag> inside [s, end): its text (malloc'd, decoded) or NULL. */
char *wl_xml_text(const char *s, const char *end, const char *tag);

/* blob_md5.c: MD5 of a blob's bytes, hashed by a thread beside the writer when large. */
struct wl_md5;
struct wl_md5 *wl_md5_new(void);
/* len bytes (data) were just written to fd, after all those before. */
void wl_md5_update(struct wl_md5 *m, int fd, const void *data, size_t len);
int wl_md5_final(struct wl_md5 *m, unsigned char out[16]);	/* once; -1 with kr_error */
void wl_md5_free(struct wl_md5 *m);

/* store.c */
int wl_store_open(struct walrus *w, const char *db_path);
void wl_store_close(struct walrus *w);
int wl_blob_begin(struct walrus *w, struct wl_blob *b);
int wl_blob_write(struct wl_blob *b, const void *data, size_t len);
/* fsync and rename into place; md5 (unless NULL, then see wl_blob_md5) gets the digest. */
int wl_blob_commit(struct walrus *w, struct wl_blob *b, unsigned char md5[16]);
/* The digest of what was written, before a commit with md5 NULL: 0 or -1 with kr_error. */
int wl_blob_md5(struct wl_blob *b, unsigned char md5[16]);
void wl_blob_abort(struct wl_blob *b);
int wl_blob_open(struct walrus *w, const char *id);	/* fd or -1 */
void wl_blob_unlink(struct walrus *w, const char *id);
void wl_blob_path(struct walrus *w, const char *id, char *out, size_t len);
int wl_bucket_get(struct walrus *w, const char *name, struct wl_bucket *b);	/* 1, 0, -1 */
int wl_object_get(struct walrus *w, const char *bucket, const char *key, struct wl_object *o);
void wl_object_clear(struct wl_object *o);
/*
 * Record an object (replacing any of that key; the replaced blob is then
 * unlinked).  upload_id: also delete that multipart upload and its part
 * rows in the same transaction (their blobs are the caller's to unlink).
 */
int wl_object_put(struct walrus *w, const char *bucket, const struct wl_object *o,
    const char *upload_id);
int wl_object_delete(struct walrus *w, const char *bucket, const char *key);	/* 1 deleted, 0 none */
int wl_usage(struct walrus *w, const char *bucket, const char *user, uint64_t *bucket_bytes,
    uint64_t *user_bytes);

/* s3_acl.c */
#define WL_SYSTEM_USER "karri-system"	/* the CLC's identity (CLC_SYSTEM_USER) */
/* May rq do p to a bucket with this owner and canned ACL? */
bool wl_acl_allows(const struct wl_req *rq, const char *owner, const char *acl, enum wl_perm p);
/* ... to object o in `bucket` (whose owner bucket-owner-* ACLs name)? */
bool wl_acl_object_allows(const struct wl_req *rq, const char *bucket, const struct wl_object *o,
    enum wl_perm p);
const char *wl_acl_canned(const struct wl_req *rq, const char *def);	/* x-amz-acl, or NULL if bad */
/* Answer the AccessControlPolicy; bucket: an object's bucket, NULL for a bucket's own ACL. */
void wl_acl_get(struct wl_req *rq, const char *owner, const char *owner_id, const char *acl,
    const struct wl_bucket *bucket);
/*
 * PUT ?acl: the canned ACL from x-amz-acl or an AccessControlPolicy body
 * (whose grants may name owner_id and, for an object, its bucket's owner).
 */
void wl_acl_put(struct wl_req *rq, const char *owner_id, const struct wl_bucket *bucket,
    void (*apply)(struct wl_req *rq, const char *acl));
/* Record canned `acl` on rq's bucket, or on its object, and answer 200. */
void wl_acl_store(struct wl_req *rq, const char *acl, bool object);

/* s3_bucket.c */
void wl_list_buckets(struct wl_req *rq);
void wl_bucket_create(struct wl_req *rq);
void wl_bucket_delete(struct wl_req *rq, const struct wl_bucket *b);
void wl_bucket_head(struct wl_req *rq, const struct wl_bucket *b);
void wl_bucket_location(struct wl_req *rq, const struct wl_bucket *b);
void wl_bucket_acl(struct wl_req *rq, const struct wl_bucket *b);
bool wl_bucket_name_valid(const char *name);

/* s3_list.c */
void wl_list_objects(struct wl_req *rq, const struct wl_bucket *b);

/* s3_object.c */
void wl_object_put_op(struct wl_req *rq, const struct wl_bucket *b);
void wl_object_get_op(struct wl_req *rq, const struct wl_bucket *b);
void wl_object_delete_op(struct wl_req *rq, const struct wl_bucket *b);
void wl_object_copy_op(struct wl_req *rq, const struct wl_bucket *b);
void wl_object_acl_op(struct wl_req *rq, const struct wl_bucket *b);
void wl_objects_delete_op(struct wl_req *rq, const struct wl_bucket *b);
char *wl_object_headers(const struct kr_httpd_req *http);	/* metadata kept with an object */
void wl_etag_hex(const unsigned char md5[16], char out[80]);

/* s3_multipart.c */
void wl_mpu_initiate(struct wl_req *rq, const struct wl_bucket *b);
void wl_mpu_part(struct wl_req *rq, const struct wl_bucket *b);
void wl_mpu_complete(struct wl_req *rq, const struct wl_bucket *b);
void wl_mpu_abort(struct wl_req *rq, const struct wl_bucket *b);
void wl_mpu_list_parts(struct wl_req *rq, const struct wl_bucket *b);
void wl_mpu_list_uploads(struct wl_req *rq, const struct wl_bucket *b);

/* Stream a request body into a blob (shared by PutObject and UploadPart). */
struct wl_upload;
/*
 * The body is in a committed blob whose MD5 is md5 (Content-MD5 and the
 * signed payload hash already checked): record it and answer.  On failure
 * the callee unlinks the blob.
 */
typedef void (*wl_upload_done_fn)(struct wl_req *rq, struct wl_blob *blob,
    const unsigned char md5[16]);
/* done_arg is kept for the callback in the upload's state (wl_upload_arg). */
void wl_upload_start(struct wl_req *rq, uint64_t room, wl_upload_done_fn done, void *done_arg);
void *wl_upload_arg(struct wl_req *rq);
/* Bytes the bucket and its owner may still take (quotas), or -1 having answered. */
int wl_quota_room(struct wl_req *rq, const struct wl_bucket *b, uint64_t *room);
/* Content-MD5 against md5: 0, or -1 having answered (InvalidDigest / BadDigest). */
int wl_check_content_md5(struct wl_req *rq, const unsigned char md5[16]);

/* Parse "bytes=a-b" against size: 1 a range, 0 none (whole object), -1 unsatisfiable. */
int wl_parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len);

/* image.c: the internal /services/Karri/manifest and /services/Karri/image operations */
bool wl_is_internal(const struct kr_httpd_req *http);
void wl_internal_route(struct wl_req *rq);

/* image_cache.c */
struct wl_image_job;
int wl_image_cache_open(struct walrus *w);
int wl_image_cache_lookup(struct walrus *w, const char *id);	/* fd, or -1: not cached */
struct wl_image_job *wl_image_job_find(struct walrus *w, const char *id);
struct wl_image_job *wl_image_job_start(struct walrus *w, struct event_base *base,
    struct wl_bundle_src *src, const unsigned char key[16], const unsigned char iv[16]);
int wl_image_job_join(struct wl_image_job *j, struct wl_req *rq, int status, uint64_t off,
    uint64_t len);
void wl_bundle_src_free(struct wl_bundle_src *s);

#endif
