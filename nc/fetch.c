/*
 * fetch.c - downloading an image over HTTP(S) with libcurl, bounded.
 *
 * Only http and https (redirects included: a redirect to file:// or
 * anything else is refused), a connect timeout, a stall timeout (less than
 * 1 KiB/s for 30 s), an overall timeout, and a size limit enforced while the
 * body streams (Content-Length may lie or be absent).  The body goes straight
 * to a file while sha256 is computed over it, so the digest costs no second
 * read.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "http/http_client.h"
#include "core/log.h"
#include "nc.h"

#define FETCH_CONNECT_TIMEOUT_S 10L
#define FETCH_STALL_BYTES_PER_S 1024L
#define FETCH_STALL_TIME_S 30L
#define FETCH_TOTAL_TIMEOUT_S 3600L

struct sink {
	int fd;
	long long got;
	long long max;
	EVP_MD_CTX *md;
	bool too_big;
	bool io_error;
	int saved_errno;
};

int
nc_fetch_global_init(void)
{
	return kr_http_init();
}

bool
nc_url_valid(const char *url)
{
	if (!url || strlen(url) >= NC_URL_MAX)
		return false;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return false;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

static size_t
sink_write(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n, off = 0;

	if (s->got + (long long)len > s->max) {
		s->too_big = true;
		return 0;
	}
	EVP_DigestUpdate(s->md, data, len);
	while (off < len) {
		ssize_t w = write(s->fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			s->io_error = true;
			s->saved_errno = errno;
			return 0;
		}
		off += (size_t)w;
	}
	s->got += (long long)len;
	return len;
}

static void
digest_hex(EVP_MD_CTX *md, char out[NC_DIGEST_HEX])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	EVP_DigestFinal_ex(md, d, &n);
	for (unsigned i = 0; i < n && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

int
nc_fetch(const char *url, const char *dest, long long max_bytes,
    char digest[NC_DIGEST_HEX], long long *size)
{
	const struct kr_http_opts o = { .url = url, .user_agent = "karri-nc",
		.connect_timeout_s = FETCH_CONNECT_TIMEOUT_S, .timeout_s = FETCH_TOTAL_TIMEOUT_S,
		.stall_bytes_per_s = FETCH_STALL_BYTES_PER_S, .stall_time_s = FETCH_STALL_TIME_S,
		.max_bytes = (curl_off_t)max_bytes, .max_redirects = 5 };
	struct sink s = { .fd = -1, .max = max_bytes };
	struct kr_http h = { .curl = NULL };
	char shown[256];
	CURLcode cc;
	int rc = -1;

	kr_http_url_for_log(url, shown, sizeof(shown));
	if (!nc_url_valid(url)) {
		kr_error("InvalidParameterValue", "not an http(s) URL: %s", shown);
		return -1;
	}
	s.fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (s.fd < 0) {
		kr_error_errno("InternalError", "cannot create %s", dest);
		return -1;
	}
	s.md = EVP_MD_CTX_new();
	if (!s.md || !EVP_DigestInit_ex(s.md, EVP_sha256(), NULL)) {
		kr_error("InternalError", "out of memory starting a download");
		goto cleanup;
	}
	if (kr_http_open(&h, &o) < 0)
		goto cleanup;
	curl_easy_setopt(h.curl, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(h.curl, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h.curl, CURLOPT_WRITEDATA, &s);
	cc = kr_http_perform(&h);
	if (s.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		kr_error("InvalidParameterValue", "%s: image larger than %lld bytes", shown, max_bytes);
		goto cleanup;
	}
	if (s.io_error) {
		errno = s.saved_errno;
		kr_error_errno("InternalError", "writing %s", dest);
		goto cleanup;
	}
	if (cc != CURLE_OK) {
		kr_error("InvalidParameterValue", "GET %s: %s%s%ld", shown,
		    kr_http_strerror(&h, cc), h.status ? ", HTTP " : "", h.status);
		goto cleanup;
	}
	if (fsync(s.fd) < 0) {
		kr_error_errno("InternalError", "fsync %s", dest);
		goto cleanup;
	}
	digest_hex(s.md, digest);
	*size = s.got;
	rc = 0;
cleanup:
	kr_http_close(&h);
	EVP_MD_CTX_free(s.md);
	close(s.fd);
	if (rc < 0)
		unlink(dest);
	return rc;
}

int
nc_sha256_file(const char *path, char digest[NC_DIGEST_HEX], long long *size)
{
	char buf[1 << 16];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long long total = 0;
	ssize_t n;
	int rc = -1;

	if (fd < 0 || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		kr_error_errno("InternalError", "cannot read %s", path);
		goto cleanup;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kr_error_errno("InternalError", "reading %s", path);
			goto cleanup;
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
		total += n;
	}
	digest_hex(md, digest);
	*size = total;
	rc = 0;
cleanup:
	EVP_MD_CTX_free(md);
	if (fd >= 0)
		close(fd);
	return rc;
}
