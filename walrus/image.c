/*
 * image.c - Walrus's internal image operations, for the CLC and the nodes.
 *
 *   GET  /services/Karri/manifest?bucket=B&key=K&user-signature=skip
 *   POST /services/Karri/manifest?bucket=B&key=K    (body: the user's X.509, PEM)
 *	Validate a bundle for RegisterImage: the manifest parses, its user
 *	signature verifies against the certificate sent (or the check is
 *	skipped, only when asked, and the answer says so), every part exists
 *	and the parts add up to <bundled_size>, the AES key and IV decrypt
 *	with the cloud's private key.  Answers <ValidateManifestResponse> with
 *	the image's kind, name, size, the uploader's account
 *	(ManifestOwnerId)..., or S3-style error InvalidManifest
 *	(HTTP 400) whose message says what is wrong.
 *
 *   GET|HEAD /services/Karri/image?bucket=B&key=K   (Range: accepted)
 *	The DECRYPTED image of a bundle, streamed (image_cache.c).
 *
 * Both are signed like any S3 request (SigV4 or SigV2, auth.c) and only
 * for admin users: components call them with the cloud's admin key until
 * the internal mutual-TLS identities exist.  Part objects are found next to
 * the manifest: the key of part "x.part.00" of manifest "dir/x.manifest.xml"
 * is "dir/x.part.00", as euca-upload-bundle and `aws s3 cp --recursive`
 * lay them out.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/error.h"
#include "core/log.h"
#include "walrus.h"

#define KARRI_NS "http://karri.dev/doc/walrus/2025-01-01/"
#define MAX_CERT_PEM (64u << 10)

bool
wl_is_internal(const struct kr_httpd_req *http)
{
	return strncmp(http->path, "/services/Karri/", 16) == 0;
}

/* The manifest object's text, read whole (bounded). */
static char *
read_manifest(struct walrus *w, const struct wl_object *o, size_t *len)
{
	int fd;
	char *buf;
	size_t got = 0;

	if (o->size > WL_BUNDLE_MAX_MANIFEST) {
		kr_error("InvalidManifest", "the manifest is larger than %u bytes",
		    WL_BUNDLE_MAX_MANIFEST);
		return NULL;
	}
	if ((fd = wl_blob_open(w, o->blob)) < 0)
		return NULL;
	if (!(buf = malloc(o->size + 1))) {
		close(fd);
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	while (got < o->size) {
		ssize_t n = read(fd, buf + got, o->size - got);
		if (n <= 0) {
			kr_error_errno("InternalError", "reading the manifest");
			free(buf);
			close(fd);
			return NULL;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* Each part: present, its blob noted; the sizes add up.  Feeds the cache id. */
static int
find_parts(struct walrus *w, struct wl_bundle_src *s, EVP_MD_CTX *id)
{
	const char *slash = strrchr(s->key, '/');
	size_t dir = slash ? (size_t)(slash - s->key) + 1 : 0;
	uint64_t total = 0;

	if (!(s->blobs = calloc(s->m.n_parts, sizeof(*s->blobs)))) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	for (size_t i = 0; i < s->m.n_parts; i++) {
		char key[WL_MAX_KEY + WL_BUNDLE_MAX_NAME + 2];
		struct wl_object o;
		int r;

		snprintf(key, sizeof(key), "%.*s%s", (int)dir, s->key, s->m.parts[i].filename);
		if ((r = wl_object_get(w, s->bucket, key, &o)) < 0)
			return -1;
		if (r == 0) {
			kr_error("InvalidManifest", "part %zu is missing: no object %s/%s", i,
			    s->bucket, key);
			return -1;
		}
		if (o.size == 0)
			kr_error("InvalidManifest", "part %zu (%s) is empty", i, key);
		snprintf(s->blobs[i], sizeof(s->blobs[i]), "%s", o.blob);
		EVP_DigestUpdate(id, o.etag, strlen(o.etag) + 1);
		total += o.size;
		wl_object_clear(&o);
		if (kr_error_code()[0])
			return -1;
	}
	if (total != s->m.bundled_size) {
		kr_error("InvalidManifest", "the parts hold %llu bytes, <bundled_size> says %llu",
		    (unsigned long long)total, (unsigned long long)s->m.bundled_size);
		return -1;
	}
	return 0;
}

/*
 * Find, read and parse the bundle named by ?bucket&key; -1 having answered.
 * owner_id (NULL: not wanted) gets the account that uploaded the manifest.
 */
static int
load_bundle(struct wl_req *rq, struct wl_bundle_src *s, char owner_id[KR_ACCOUNT_ID_LEN + 1])
{
	const char *bucket = wl_query(rq, "bucket"), *key = wl_query(rq, "key");
	struct wl_object o = { 0 };
	EVP_MD_CTX *id = NULL;
	unsigned char md[32];
	unsigned int mdlen = 0;
	char *xml = NULL;
	size_t len = 0;
	int r, rc = -1;

	memset(s, 0, sizeof(*s));
	if (!bucket || !key || !*bucket || !*key || strlen(bucket) >= sizeof(s->bucket) ||
	    strlen(key) > WL_MAX_KEY) {
		wl_error(rq, 400, "MissingParameter", "bucket and key name the bundle's manifest");
		return -1;
	}
	snprintf(s->bucket, sizeof(s->bucket), "%s", bucket);
	snprintf(s->key, sizeof(s->key), "%s", key);
	kr_error_clear();
	if ((r = wl_object_get(rq->w, bucket, key, &o)) <= 0) {
		if (r == 0)
			wl_error(rq, 404, "NoSuchKey", "no manifest %s/%s", bucket, key);
		else
			wl_error_from_kr(rq);
		return -1;
	}
	if (!(id = EVP_MD_CTX_new()) || EVP_DigestInit_ex(id, EVP_sha256(), NULL) != 1) {
		kr_error("InternalError", "SHA-256 unavailable");
		goto out;
	}
	EVP_DigestUpdate(id, bucket, strlen(bucket) + 1);
	EVP_DigestUpdate(id, key, strlen(key) + 1);
	EVP_DigestUpdate(id, o.etag, strlen(o.etag) + 1);
	if (owner_id)
		snprintf(owner_id, KR_ACCOUNT_ID_LEN + 1, "%s", o.owner_id);
	if (!(xml = read_manifest(rq->w, &o, &len)) || wl_manifest_parse(xml, len, &s->m) < 0 ||
	    find_parts(rq->w, s, id) < 0)
		goto out;
	EVP_DigestFinal_ex(id, md, &mdlen);
	wl_hex(md, 32, s->id);
	rc = 0;
out:
	if (rc < 0) {
		if (strcmp(kr_error_code(), "InvalidManifest") == 0)
			wl_error(rq, 400, "InvalidManifest", "%s/%s: %s", bucket, key,
			    kr_error_message());
		else
			wl_error_from_kr(rq);
		wl_bundle_src_free(s);
	}
	EVP_MD_CTX_free(id);
	free(xml);
	wl_object_clear(&o);
	return rc;
}

/* The AES key and IV with the cloud's key; -1 having answered. */
static int
bundle_keys(struct wl_req *rq, const struct wl_bundle_src *s, unsigned char key[16],
    unsigned char iv[16])
{
	EVP_PKEY *ck = wl_pem_key_load(rq->w->cloud_key);
	int rc;

	if (!ck) {
		wl_error(rq, 503, "ServiceUnavailable", "the cloud's private key (KARRI_CLOUD_KEY) "
		    "cannot be loaded: %s", kr_error_message());
		return -1;
	}
	rc = wl_manifest_keys(&s->m, ck, key, iv);
	EVP_PKEY_free(ck);
	if (rc < 0)
		wl_error(rq, 400, "InvalidManifest", "%s/%s: %s", s->bucket, s->key,
		    kr_error_message());
	return rc;
}

static void
validate(struct wl_req *rq, const char *cert, size_t cert_len)
{
	struct wl_bundle_src s;
	unsigned char key[16], iv[16];
	struct kr_buf x = KR_BUF_INIT;
	bool skip = cert_len == 0;
	const char *flag = wl_query(rq, "user-signature");
	char owner_id[KR_ACCOUNT_ID_LEN + 1] = "";

	if (skip && (!flag || strcmp(flag, "skip") != 0)) {
		wl_error(rq, 400, "MissingParameter", "send the user's X.509 certificate (PEM) as "
		    "the body to check the manifest's signature, or user-signature=skip");
		return;
	}
	if (load_bundle(rq, &s, owner_id) < 0)
		return;
	if (!skip && wl_manifest_verify(&s.m, cert, cert_len) < 0) {
		if (strcmp(kr_error_code(), "InvalidManifest") == 0)
			wl_error(rq, 400, "InvalidManifest", "%s/%s: %s", s.bucket, s.key,
			    kr_error_message());
		else
			wl_error(rq, 400, "InvalidArgument", "user certificate: %s",
			    kr_error_message());
		goto out;
	}
	if (bundle_keys(rq, &s, key, iv) < 0)
		goto out;
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	kr_log_info("manifest %s/%s valid: %s image %s, %llu bytes, %zu parts, signature %s",
	    s.bucket, s.key, wl_image_kind_name(s.m.kind), s.m.name,
	    (unsigned long long)s.m.size, s.m.n_parts, skip ? "not checked" : "verified");
	kr_buf_addf(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<ValidateManifestResponse xmlns=\"%s\">", KARRI_NS);
	kr_buf_add_xml_elem(&x, "Bucket", s.bucket);
	kr_buf_add_xml_elem(&x, "Key", s.key);
	kr_buf_add_xml_elem(&x, "ImageKind", wl_image_kind_name(s.m.kind));
	kr_buf_add_xml_elem(&x, "Name", s.m.name);
	kr_buf_addf(&x, "<Size>%llu</Size><BundledSize>%llu</BundledSize><PartCount>%zu</PartCount>",
	    (unsigned long long)s.m.size, (unsigned long long)s.m.bundled_size, s.m.n_parts);
	kr_buf_add_xml_elem(&x, "Architecture", s.m.arch);
	kr_buf_add_xml_elem(&x, "Owner", s.m.user);
	/* Who uploaded it: the CLC registers a bundle only for its uploader. */
	kr_buf_add_xml_elem(&x, "ManifestOwnerId", owner_id);
	if (s.m.kernel_id[0])
		kr_buf_add_xml_elem(&x, "KernelId", s.m.kernel_id);
	if (s.m.ramdisk_id[0])
		kr_buf_add_xml_elem(&x, "RamdiskId", s.m.ramdisk_id);
	kr_buf_add_xml_elem(&x, "UserSignature", skip ? "skipped" : "verified");
	kr_buf_add_xml_elem(&x, "ImageId", s.id);
	kr_buf_add(&x, "</ValidateManifestResponse>");
	wl_reply_xml(rq, 200, &x);
out:
	wl_bundle_src_free(&s);
}

static void
validate_body(struct kr_httpd_req *http, const char *body, size_t len, void *ctx)
{
	struct wl_req *rq = ctx;

	(void)http;
	if (!body) {
		wl_error(rq, 400, "EntityTooLarge", "a certificate is at most %u bytes", MAX_CERT_PEM);
		return;
	}
	wl_auth_body(rq, body, len);
	if (wl_auth_body_end(rq) < 0)
		return;
	validate(rq, body, len);
}

static void
image_get(struct wl_req *rq)
{
	struct wl_bundle_src s;
	struct wl_image_job *j;
	unsigned char key[16], iv[16];
	uint64_t off = 0, len;
	const char *how;
	int fd, r;

	if (load_bundle(rq, &s, NULL) < 0)
		return;
	len = s.m.size;
	r = wl_parse_range(kr_httpd_header(rq->http, "Range"), s.m.size, &off, &len);
	if (r < 0) {
		kr_httpd_add_header(rq->http, "Content-Range", "bytes */%llu",
		    (unsigned long long)s.m.size);
		wl_error(rq, 416, "InvalidRange", "The requested range is not satisfiable");
		goto out;
	}
	kr_httpd_add_header(rq->http, "ETag", "\"%s\"", s.id);
	kr_httpd_add_header(rq->http, "Accept-Ranges", "bytes");
	kr_httpd_add_header(rq->http, "x-karri-image-kind", "%s", wl_image_kind_name(s.m.kind));
	kr_httpd_add_header(rq->http, "x-amz-request-id", "%s", rq->request_id);
	if (r == 1)
		kr_httpd_add_header(rq->http, "Content-Range", "bytes %llu-%llu/%llu",
		    (unsigned long long)off, (unsigned long long)(off + len - 1),
		    (unsigned long long)s.m.size);
	if ((fd = wl_image_cache_lookup(rq->w, s.id)) >= 0) {
		kr_httpd_add_header(rq->http, "x-karri-image-cache", "hit");
		if (strcmp(rq->http->method, "HEAD") == 0) {
			close(fd);
			fd = -1;
		}
		kr_httpd_respond_file(rq->http, r == 1 ? 206 : 200, "application/octet-stream", fd,
		    (off_t)off, (off_t)len);
		goto out;
	}
	if ((j = wl_image_job_find(rq->w, s.id)))
		how = "joined";
	else {
		if (bundle_keys(rq, &s, key, iv) < 0)
			goto out;
		j = wl_image_job_start(rq->w, kr_httpd_base(rq->http), &s, key, iv);
		OPENSSL_cleanse(key, sizeof(key));
		OPENSSL_cleanse(iv, sizeof(iv));
		how = "miss";
	}
	if (j)
		kr_httpd_add_header(rq->http, "x-karri-image-cache", "%s", how);
	if (!j || wl_image_job_join(j, rq, r == 1 ? 206 : 200, off, len) < 0)
		wl_error_from_kr(rq);
out:
	wl_bundle_src_free(&s);
}

void
wl_internal_route(struct wl_req *rq)
{
	const char *op = rq->http->path + 16, *m = rq->http->method;

	if (!rq->who.authenticated || !rq->who.user.is_admin) {
		wl_error(rq, 403, "AccessDenied", "internal image operations are for the cloud's "
		    "administrators and components");
		return;
	}
	if (strcmp(op, "manifest") == 0 && strcmp(m, "POST") == 0)
		kr_httpd_read_body_all(rq->http, MAX_CERT_PEM, validate_body, rq);
	else if (strcmp(op, "manifest") == 0 && strcmp(m, "GET") == 0)
		validate(rq, NULL, 0);
	else if (strcmp(op, "image") == 0 && (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0))
		image_get(rq);
	else
		wl_error(rq, 404, "InvalidURI", "no internal operation %s %s", m, rq->http->path);
}
