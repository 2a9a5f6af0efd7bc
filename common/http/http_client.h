/*
 * http_client.h - one bounded libcurl request, set up the same way
 * everywhere a daemon calls out over HTTP (the CLC to Walrus and to remote
 * clouds, the NC fetching images, EBS moving snapshots).
 *
 * Every handle speaks only http and https (redirects included), never
 * raises SIGALRM, and is bounded by a connect timeout plus whichever of a
 * total timeout, a stall timeout and a size limit its caller asks for.
 * The caller adds what is its own (a body, headers, callbacks) to
 * h->curl before kr_http_perform().  Only code that includes this header
 * pulls http_client.o, and so libcurl, into a program.
 */
#ifndef KARRI_HTTP_CLIENT_H
#define KARRI_HTTP_CLIENT_H

#include <stddef.h>

#include <curl/curl.h>

struct kr_http_opts {
	const char *url;
	const char *user_agent;		/* NULL: curl sends none */
	long connect_timeout_s;
	long timeout_s;			/* the whole request; 0: unbounded */
	long stall_bytes_per_s;		/* slower than this ... */
	long stall_time_s;		/* ... for this long fails; 0: never */
	curl_off_t max_bytes;		/* the answer's body; 0: unbounded */
	long max_redirects;		/* 0: redirects are not followed */
};

struct kr_http {
	CURL *curl;
	long status;			/* the answer's HTTP status, 0 without one */
	char errbuf[CURL_ERROR_SIZE];	/* curl's own words on a failure */
};

/* curl_global_init, once per process whoever asks first: 0 or -1 + kr_error. */
int kr_http_init(void);

/* A handle set up from o: 0, or -1 + kr_error (h needs no kr_http_close then). */
int kr_http_open(struct kr_http *h, const struct kr_http_opts *o);
/* Run the request: curl's code, with h->status set. */
CURLcode kr_http_perform(struct kr_http *h);
/* What went wrong with cc, in curl's words (never the URL). */
const char *kr_http_strerror(const struct kr_http *h, CURLcode cc);
void kr_http_close(struct kr_http *h);	/* NULL-safe, idempotent */

/* A write callback collecting the body into the struct kr_buf it is given; its bound stops curl. */
size_t kr_http_collect(char *data, size_t size, size_t n, void *buf);

/* url without its query (a presigned URL's credentials live there), for logs and errors. */
void kr_http_url_for_log(const char *url, char *out, size_t len);

#endif
