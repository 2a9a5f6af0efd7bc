/*
 * transfer.c - moving snapshot bytes to and from Walrus with libcurl.
 *
 * EBS holds no Walrus keys: every request goes to a URL the CLC presigned.
 * The body streams through curl's own buffer between the socket and the
 * caller's callbacks (an upload's body is read from a fill function, a
 * download's is handed to a sink as it comes: no copy of the object in
 * memory), with a connect timeout, a stall timeout and no redirects; only
 * http and https.  What the bytes mean is the caller's business
 * (snapshot_format.c).
 * The query of a presigned URL is a credential: it is never logged nor put
 * in an error message (see kr_http_url_for_log).  A transfer can be cancelled
 * from another thread through the flag it was given.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "ebs.h"
#include "core/error.h"
#include "http/http_client.h"

#define XFER_CONNECT_TIMEOUT_S 10L
#define XFER_STALL_BYTES_PER_S 1024L	/* slower than this ... */
#define XFER_STALL_TIME_S 30L		/* ... for this long is a failure */
#define XFER_ERROR_BODY_MAX 4096	/* the S3 error document kept for the reason */

struct xfer {
	ebs_xfer_fill_fn fill;		/* an upload's body; NULL: empty */
	ebs_xfer_sink_fn sink;		/* a download's body; NULL: ignored */
	void *arg;
	uint64_t len, done;		/* the upload's length; bytes moved */
	bool cb_failed;			/* fill or sink failed: its kr_error is the reason */
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
	if ((n = x->fill(x->arg, buf, want)) <= 0) {
		if (n == 0)
			kr_error("InternalError", "the body ended after %llu of %llu bytes",
			    (unsigned long long)x->done, (unsigned long long)x->len);
		x->cb_failed = true;
		return CURL_READFUNC_ABORT;
	}
	x->done += (uint64_t)n;
	return (size_t)n;
}

static size_t
write_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * nmemb;

	if (x->body_is_data && x->sink == NULL)	/* a request without data: ignore it */
		return len;
	if (!x->body_is_data) {		/* keep the start of an error document */
		size_t room = sizeof(x->body) - 1 - x->body_len;

		memcpy(x->body + x->body_len, data, len < room ? len : room);
		x->body_len += len < room ? len : room;
		return len;
	}
	if (x->sink(x->arg, data, len) < 0) {
		x->cb_failed = true;
		return 0;
	}
	x->done += len;
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
	if (p->fn != NULL)	/* in bytes of what the body stands for */
		p->fn(p, p->body_len > 0 && p->span > 0 ?
		    (uint64_t)((double)x->done / (double)p->body_len * (double)p->span) : x->done);
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
 * One request: method on url, with x's fill as the body (upload), or a 2xx
 * answer's body handed to x's sink (GET).  Returns the
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
	if (x->cb_failed) {
		struct kr_err e;

		kr_error_save(&e);
		kr_error_set(e.file, e.func, e.line, e.code, "%s %s: %s", method, where, e.message);
		return -1;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		kr_error("Cancelled", "%s %s: cancelled", method, where);
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
ebs_xfer_put(const char *url, uint64_t len, ebs_xfer_fill_fn fill, void *arg,
    struct ebs_xfer_progress *p)
{
	struct xfer x = { .fill = fill, .arg = arg, .len = len, .progress = p };
	long status = request("PUT", url, &x, true);

	if (status >= 200 && status < 300 && x.done != len) {
		kr_error("InternalError", "PUT sent %llu of %llu bytes",
		    (unsigned long long)x.done, (unsigned long long)len);
		return -1;
	}
	return status >= 200 && status < 300 ? 0 : -1;
}

int
ebs_xfer_get(const char *url, ebs_xfer_sink_fn sink, void *arg, struct ebs_xfer_progress *p)
{
	struct xfer x = { .sink = sink, .arg = arg, .progress = p };
	long status = request("GET", url, &x, false);

	return status >= 200 && status < 300 ? 0 : -1;
}

int
ebs_xfer_simple(const char *method, const char *url, struct ebs_xfer_progress *p)
{
	struct xfer x = { .progress = p };
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
