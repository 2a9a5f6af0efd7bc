/*
 * walrus_s3.c - fuzz Walrus's S3 front end whole: a real karri-walrus
 * (wl_route on kr_httpd, its sqlite store and blob files in a scratch
 * directory) runs in this process and gets each input as one request:
 *
 *	<METHOD> <target: path and query, raw>\n
 *	<Name>: <value>\n ...
 *	\n
 *	<body>
 *
 * The harness signs the request as alice (SigV4, its body's SHA-256, as
 * boto3 does), so the fuzzer reaches what lies behind authentication: path
 * and key decoding (walrus/route.c), x-amz-copy-source, the XML bodies of
 * CompleteMultipartUpload, PutBucketAcl/PutObjectAcl and DeleteObjects
 * (walrus/s3_xml.c and its callers), Range and conditional headers, listing
 * parameters.  A METHOD starting with '!' is sent unsigned instead
 * (anonymous requests, and S3 signature V2 headers or query parameters the
 * fuzzer writes itself).  "UPLOADID" in the target or body becomes the id
 * of a multipart upload of fuzz/mp with two parts, made at start.
 */
#include "daemon/daemon.h"
#include "fuzz.h"
#include "sig/sign.h"
#include "sig/userdb.h"
#include "walrus.h"

static struct event_base *base;
static struct walrus w;
static struct kr_daemon d = { .name = "karri-walrus" };
static int port;
static struct kr_access_key key;
static char upload_id[128];

/* Send one raw request; the answer, NUL-terminated, in *ans (malloc'd) when asked. */
static void
request(const char *method, const char *target, const char *headers, const void *body,
    size_t body_len, bool sign)
{
	const struct kr_sign_creds creds = { key.access_key, key.secret_key, "karri", "s3" };
	struct kr_sign_headers sh;
	struct kr_buf b = KR_BUF_INIT;
	char url[8192];

	kr_buf_addf(&b, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", method, target, port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, target);
	if (sign && kr_sign_v4_headers(&creds, method, url, NULL, body, body_len, time(NULL),
	    &sh) == 0)
		kr_buf_addf(&b, "X-Amz-Date: %s\r\nX-Amz-Content-Sha256: %s\r\nAuthorization: %s\r\n",
		    sh.x_amz_date, sh.x_amz_content_sha256, sh.authorization);
	kr_buf_add(&b, headers);
	kr_buf_addf(&b, "Content-Length: %zu\r\nConnection: close\r\n\r\n", body_len);
	kr_buf_add_len(&b, body, body_len);
	if (!kr_buf_failed(&b))
		(void)fz_exchange(base, port, kr_buf_str(&b), kr_buf_len(&b), 5000);
	kr_buf_free(&b);
}

/* Walrus answers UploadId in the XML of InitiateMultipartUpload: find it in the store. */
static void
find_upload(void)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(w.db, "SELECT upload_id FROM uploads LIMIT 1", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		snprintf(upload_id, sizeof(upload_id), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const struct kr_httpd_opts opts = { .timeout_s = 5 };
	char path[1024], part[6 << 10];
	struct kr_user u;
	int fd;

	(void)argc, (void)argv;
	fz_quiet();
	w.daemon = &d;
	snprintf(w.storage, sizeof(w.storage), "%s/objects", fz_tmpdir());
	snprintf(path, sizeof(path), "%s/users.db", fz_tmpdir());
	if (kr_userdb_open(path, &w.users) < 0 || kr_userdb_user_add(w.users, "alice", false, &u) < 0 ||
	    kr_userdb_key_create(w.users, "alice", &key) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/walrus.db", fz_tmpdir());
	if (kr_mkdir_p(w.storage) < 0 || wl_store_open(&w, path) < 0 || wl_image_cache_open(&w) < 0)
		abort();
	/* Quick and small: fsync-free is not ours to choose, so keep the store small. */
	w.bucket_quota = 64u << 20;
	fd = fz_listen(&port);
	if (!(base = event_base_new()) || !kr_httpd_new(base, fd, &opts, wl_route, &w))
		abort();
	request("PUT", "/fuzz", "", "", 0, true);
	request("PUT", "/fuzz/src", "x-amz-meta-k: v\r\n", "source object", 13, true);
	request("PUT", "/fuzz/dir/a%20b", "", "x", 1, true);
	request("POST", "/fuzz/mp?uploads", "", "", 0, true);
	find_upload();
	memset(part, 'p', sizeof(part));
	snprintf(path, sizeof(path), "/fuzz/mp?partNumber=1&uploadId=%s", upload_id);
	request("PUT", path, "", part, sizeof(part), true);
	snprintf(path, sizeof(path), "/fuzz/mp?partNumber=2&uploadId=%s", upload_id);
	request("PUT", path, "", part, 100, true);
	if (!upload_id[0])
		abort();
	return 0;
}

/* s with every "UPLOADID" replaced by the upload's id (malloc'd). */
static char *
with_upload(const char *s, size_t len, size_t *out_len)
{
	struct kr_buf b = KR_BUF_INIT;
	const char *p = s, *end = s + len, *m;
	char *r;

	while ((m = memmem(p, (size_t)(end - p), "UPLOADID", 8))) {
		kr_buf_add_len(&b, p, (size_t)(m - p));
		kr_buf_add(&b, upload_id);
		p = m + 8;
	}
	kr_buf_add_len(&b, p, (size_t)(end - p));
	*out_len = kr_buf_len(&b);
	r = malloc(*out_len + 1);
	memcpy(r, kr_buf_str(&b), *out_len);
	r[*out_len] = '\0';
	kr_buf_free(&b);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len;
	char *s = with_upload((const char *)data, size, &len), *nl, *sp, *hdr_end, *body;
	struct kr_buf headers = KR_BUF_INIT;
	bool sign = true;

	if (!(nl = memchr(s, '\n', len)) || !(sp = memchr(s, ' ', (size_t)(nl - s))))
		goto out;
	*nl = *sp = '\0';
	if (s[0] == '!')
		sign = false;
	/* Only what a client can put on a request line. */
	if (strpbrk(s, " \r") || strpbrk(sp + 1, " \r") || !s[sign ? 0 : 1] || sp[1] != '/')
		goto out;
	hdr_end = memmem(nl + 1, len - (size_t)(nl + 1 - s), "\n\n", 2);
	body = hdr_end ? hdr_end + 2 : s + len;
	for (char *l = nl + 1; hdr_end && l <= hdr_end; l = nl + 1) {
		nl = memchr(l, '\n', (size_t)(hdr_end + 1 - l));
		if (!nl)
			break;
		if (nl > l && !memchr(l, '\r', (size_t)(nl - l)) && memchr(l, ':', (size_t)(nl - l))) {
			kr_buf_add_len(&headers, l, (size_t)(nl - l));
			kr_buf_add(&headers, "\r\n");
		}
	}
	request(s + !sign, sp + 1, kr_buf_str(&headers), body, (size_t)(s + len - body), sign);
out:
	kr_buf_free(&headers);
	free(s);
	return 0;
}
