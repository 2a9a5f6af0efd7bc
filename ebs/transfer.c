/*
 * transfer.c - moving snapshot bytes to and from Walrus with libcurl.
 *
 * EBS holds no Walrus keys: every request goes to a URL the CLC presigned.
 * The body streams between the file and the socket through curl's own
 * buffer (pread/pwrite at an offset, no copy of the object in memory; a
 * download skips writing zeros, its file being freshly pre-allocated), with
 * a connect timeout, a stall timeout and no redirects; only http and https.
 * The query of a presigned URL is a credential: it is never logged nor put
 * in an error message (see kr_http_url_for_log).  A transfer can be cancelled
 * from another thread through the flag it was given.
 */
#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ebs.h"
#include "error.h"
#include "http_client.h"

#define XFER_CONNECT_TIMEOUT_S 10L
#define XFER_STALL_BYTES_PER_S 1024L	/* slower than this ... */
#define XFER_STALL_TIME_S 30L		/* ... for this long is a failure */
#define XFER_ERROR_BODY_MAX 4096	/* the S3 error document kept for the reason */

struct xfer {
	int fd;
	uint64_t off, len, done;	/* the file range moved, and how far */
	bool overflow;			/* a GET body longer than its range */
	bool io_error;
	int saved_errno;
	char body[XFER_ERROR_BODY_MAX];	/* the answer's body when it is not data */
	size_t body_len;
	bool body_is_data;
	struct ebs_xfer_progress *progress;
};

int
ebs_xfer_init(void)
{
	return kr_http_init();
}

bool
ebs_xfer_url_ok(const char *url)
{
	size_t i;

	if (url == NULL || strlen(url) >= EBS_URL_MAX ||
	    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return false;
	for (i = 0; url[i]; i++)
		if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f)
			return false;
	return true;
}

static size_t
read_body(char *buf, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	size_t want = size * nitems;
	ssize_t n;

	if (want > x->len - x->done)
		want = (size_t)(x->len - x->done);
	if (want == 0)
		return 0;
	do {
		n = pread(x->fd, buf, want, (off_t)(x->off + x->done));
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		x->io_error = true;
		x->saved_errno = n < 0 ? errno : EIO;
		return CURL_READFUNC_ABORT;
	}
	x->done += (uint64_t)n;
	return (size_t)n;
}

static size_t
write_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * nmemb, off = 0;

	if (x->body_is_data && x->fd < 0)	/* a request without data: ignore it */
		return len;
	if (!x->body_is_data) {		/* keep the start of an error document */
		size_t room = sizeof(x->body) - 1 - x->body_len;

		memcpy(x->body + x->body_len, data, len < room ? len : room);
		x->body_len += len < room ? len : room;
		return len;
	}
	if (x->done + len > x->len) {
		x->overflow = true;
		return 0;
	}
	/* The file is freshly pre-allocated: its zeros need no writing. */
	if (ebs_all_zero(data, len)) {
		x->done += len;
		return len;
	}
	while (off < len) {
		ssize_t w = pwrite(x->fd, data + off, len - off, (off_t)(x->off + x->done));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			x->io_error = true;
			x->saved_errno = w < 0 ? errno : EIO;
			return 0;
		}
		off += (size_t)w;
		x->done += (uint64_t)w;
	}
	return len;
}

/* Only a 2xx answer's body is data; anything else is kept as the reason. */
static size_t
on_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	int code;

	if (sscanf(line, "HTTP/%*s %d", &code) == 1)
		x->body_is_data = code >= 200 && code < 300;
	return size * nitems;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct xfer *x = arg;
	struct ebs_xfer_progress *p = x->progress;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	if (p == NULL)
		return 0;
	if (p->fn != NULL)
		p->fn(p, x->done);
	return atomic_load(p->cancel) ? 1 : 0;
}

/* The <Code> of an S3 error document, for the reason (a name, nothing else). */
static void
s3_code(const char *body, char *out, size_t len)
{
	const char *b = strstr(body, "<Code>"), *e;

	out[0] = '\0';
	if (b == NULL || (e = strstr(b + 6, "</Code>")) == NULL || e - b - 6 >= 64)
		return;
	for (const char *p = b + 6; p < e; p++)
		if (!isalnum((unsigned char)*p) && *p != '.')
			return;
	snprintf(out, len, " %.*s", (int)(e - b - 6), b + 6);
}

/*
 * One request: method on url, with the body [off, off+len) of fd (upload),
 * or a 2xx answer's body written there (GET).  Returns the
 * HTTP status (2xx: done; others: the reason recorded with kr_error), or
 * -1 + kr_error when there was no answer.
 */
static long
request(const char *method, const char *url, struct xfer *x, bool upload)
{
	const struct kr_http_opts o = { .url = url, .connect_timeout_s = XFER_CONNECT_TIMEOUT_S,
		.stall_bytes_per_s = XFER_STALL_BYTES_PER_S, .stall_time_s = XFER_STALL_TIME_S };
	char where[201], code[80];	/* where: scheme://host[:port]/path, never the query */
	struct kr_http h;
	CURL *c;
	CURLcode rc;
	long status;

	kr_http_url_for_log(url, where, sizeof(where));
	if (kr_http_open(&h, &o) < 0)
		return -1;
	c = h.curl;
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	if (upload) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(c, CURLOPT_READDATA, x);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->len);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		if (strcmp(method, "PUT") == 0) {	/* an empty body: Content-Length 0 */
			curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
			curl_easy_setopt(c, CURLOPT_READDATA, x);
			curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)0);
		}
	}
	rc = kr_http_perform(&h);
	status = h.status;
	kr_http_close(&h);
	if (x->io_error) {
		errno = x->saved_errno;
		kr_error_errno("InternalError", "%s %s: local file", method, where);
		return -1;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		kr_error("Cancelled", "%s %s: cancelled", method, where);
		return -1;
	}
	if (x->overflow) {
		kr_error("InvalidSnapshot", "%s %s: more than %llu bytes", method, where,
		    (unsigned long long)x->len);
		return -1;
	}
	if (status < 300 && rc != CURLE_OK) {
		kr_error("Unavailable", "%s %s: %s", method, where,
		    kr_http_strerror(&h, rc));
		return -1;
	}
	if (status < 200 || status >= 300) {
		x->body[x->body_len] = '\0';
		s3_code(x->body, code, sizeof(code));
		kr_error(status == 403 ? "AccessDenied" : status == 404 ? "NotFound" : "Unavailable",
		    "%s %s: Walrus answered %ld%s", method, where, status, code);
	}
	return status;
}

int
ebs_xfer_put_range(const char *url, int fd, uint64_t off, uint64_t len,
    struct ebs_xfer_progress *p)
{
	struct xfer x = { .fd = fd, .off = off, .len = len, .progress = p };
	long status = request("PUT", url, &x, true);

	if (status >= 200 && status < 300 && x.done != len) {
		kr_error("InternalError", "PUT sent %llu of %llu bytes",
		    (unsigned long long)x.done, (unsigned long long)len);
		return -1;
	}
	return status >= 200 && status < 300 ? 0 : -1;
}

int
ebs_xfer_get_range(const char *url, int fd, uint64_t off, uint64_t max, uint64_t *got,
    struct ebs_xfer_progress *p)
{
	struct xfer x = { .fd = fd, .off = off, .len = max, .progress = p };
	long status = request("GET", url, &x, false);

	*got = x.done;
	return status >= 200 && status < 300 ? 0 : -1;
}

int
ebs_xfer_simple(const char *method, const char *url, struct ebs_xfer_progress *p)
{
	struct xfer x = { .fd = -1, .progress = p };
	long status = request(method, url, &x, false);

	if (status >= 200 && status < 300)
		return 0;
	/* Creating a bucket one already owns is what we wanted; so is a gone object. */
	if ((strcmp(method, "PUT") == 0 && status == 409 &&
	    strstr(x.body, "<Code>BucketAlreadyOwnedByYou</Code>") != NULL) ||
	    (strcmp(method, "DELETE") == 0 && status == 404)) {
		kr_error_clear();
		return 0;
	}
	return -1;
}
