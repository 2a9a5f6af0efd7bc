/*
 * http_client.c - the one way Karri sets up a libcurl request (see
 * http_client.h): protocols, signals, bounds and error text decided once,
 * so no caller can forget a limit or let a redirect reach file://.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "http/http_client.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_rc;

static void
init_curl(void)
{
	init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
kr_http_init(void)
{
	pthread_once(&init_once, init_curl);
	if (init_rc != CURLE_OK) {
		kr_error("InternalError", "curl_global_init failed");
		return -1;
	}
	return 0;
}

int
kr_http_open(struct kr_http *h, const struct kr_http_opts *o)
{
	CURL *c;

	h->curl = NULL;
	h->status = 0;
	h->errbuf[0] = '\0';
	if (kr_http_init() < 0)
		return -1;
	if ((c = curl_easy_init()) == NULL) {
		kr_error("InternalError", "out of memory starting an HTTP request");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, o->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, o->max_redirects > 0 ? 1L : 0L);
	if (o->max_redirects > 0)
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, o->max_redirects);
	/* Timeouts by alarm() would hit whatever thread the signal lands on. */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
	if (o->timeout_s > 0)
		curl_easy_setopt(c, CURLOPT_TIMEOUT, o->timeout_s);
	if (o->stall_time_s > 0) {
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, o->stall_bytes_per_s);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->stall_time_s);
	}
	if (o->max_bytes > 0)
		curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, o->max_bytes);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	if (o->user_agent)
		curl_easy_setopt(c, CURLOPT_USERAGENT, o->user_agent);
	h->curl = c;
	return 0;
}

CURLcode
kr_http_perform(struct kr_http *h)
{
	CURLcode cc = curl_easy_perform(h->curl);

	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
	return cc;
}

const char *
kr_http_strerror(const struct kr_http *h, CURLcode cc)
{
	return h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc);
}

void
kr_http_close(struct kr_http *h)
{
	if (h && h->curl) {
		curl_easy_cleanup(h->curl);
		h->curl = NULL;
	}
}

size_t
kr_http_collect(char *data, size_t size, size_t n, void *buf)
{
	struct kr_buf *b = buf;

	kr_buf_add_len(b, data, size * n);
	return kr_buf_failed(b) ? 0 : size * n;	/* 0: over the buffer's bound, curl stops */
}

void
kr_http_url_for_log(const char *url, char *out, size_t len)
{
	snprintf(out, len, "%.*s", (int)strcspn(url, "?"), url);
}
