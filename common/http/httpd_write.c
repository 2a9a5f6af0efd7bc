/*
 * httpd_write.c - answers: the status line and headers, a body from memory,
 * or a file (or the written part of a growing one) sent by sendfile(2) as
 * the socket drains.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "http/httpd_conn.h"
#include "core/log.h"

static const char *
reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
	}
}

/* Queue file segments until FILE_QUEUE bytes wait (or the file, or its ready part, ends). */
int
httpd_queue_file(struct kr_httpd_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_file_segment *seg;
	off_t n;

	c->file_stalled = false;
	while (c->file_left > 0 && evbuffer_get_length(out) < FILE_QUEUE) {
		n = c->file_left < (off_t)FILE_CHUNK ? c->file_left : (off_t)FILE_CHUNK;
		/* Never past what the writer of a growing file has written. */
		if (n > c->file_ready - c->file_off)
			n = c->file_ready - c->file_off;
		if (n <= 0) {
			c->file_stalled = true;
			break;
		}
		seg = evbuffer_file_segment_new(c->file_fd, c->file_off, n, 0);
		if (!seg || evbuffer_add_file_segment(out, seg, 0, n) < 0) {
			if (seg)
				evbuffer_file_segment_free(seg);
			kr_log_warnx("%s: cannot queue file data", c->req.peer);
			return -1;
		}
		evbuffer_file_segment_free(seg);	/* the evbuffer holds its own reference */
		c->file_off += n;
		c->file_left -= n;
	}
	return 0;
}

void
kr_httpd_add_header(struct kr_httpd_req *r, const char *name, const char *fmt, ...)
{
	struct kr_buf *b = &r->conn->out_headers;
	char value[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	/* A value must not be able to start a header line of its own. */
	for (char *p = value; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	kr_buf_addf(b, "%s: %s\r\n", name, value);
}

static void
write_head(struct kr_httpd_conn *c, int status, const char *content_type, off_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	struct timeval tv = { c->srv->opts.timeout_s, 0 };

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);

	/*
	 * Unread body: the connection cannot be reused.  Nor after answering an
	 * Expect: 100-continue without the 100 (the body was never asked for):
	 * botocore would misread the next answer on it (see start_body).
	 */
	if (!c->body_done || (c->req.expect_continue && c->state == ST_HANDLER))
		c->keep_alive = false;
	/* A long download reads nothing from the client: only writes may time out. */
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: Karri\r\n"
	    "Content-Length: %lld\r\n", status, reason(status), date, (long long)len);
	if (content_type)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", content_type);
	if (!c->keep_alive)
		evbuffer_add_printf(out, "Connection: close\r\n");
	evbuffer_add(out, kr_buf_str(&c->out_headers), kr_buf_len(&c->out_headers));
	evbuffer_add(out, "\r\n", 2);
	c->responded = true;
	if (c->state == ST_BODY) {
		/* Answered mid-body: stop handing the body up, drop the rest. */
		c->on_data = NULL;
		c->on_all = NULL;
	}
	c->state = ST_RESPONDING;
}

static bool
is_head(const struct kr_httpd_req *r)
{
	return r->method && strcmp(r->method, "HEAD") == 0;
}

void
kr_httpd_respond(struct kr_httpd_req *r, int status, const char *content_type,
    const void *body, size_t len)
{
	struct kr_httpd_conn *c = r->conn;

	if (c->responded)
		return;
	write_head(c, status, content_type, (off_t)len);
	if (!is_head(r) && len)
		evbuffer_add(bufferevent_get_output(c->bev), body, len);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_enable(c->bev, EV_WRITE);
	bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

void
kr_httpd_respond_file(struct kr_httpd_req *r, int status, const char *content_type,
    int fd, off_t offset, off_t len)
{
	struct kr_httpd_conn *c = r->conn;

	if (c->responded) {
		if (fd >= 0)
			close(fd);
		return;
	}
	write_head(c, status, content_type, len);
	if (fd >= 0 && !is_head(r) && len > 0) {
		c->file_fd = fd;
		c->file_off = offset;
		c->file_left = len;
		c->file_ready = offset + len;
		bufferevent_setwatermark(c->bev, EV_WRITE, FILE_LOW_WATER, 0);
	} else {
		if (fd >= 0)
			close(fd);
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	}
	bufferevent_enable(c->bev, EV_WRITE);
	bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS | BEV_TRIG_IGNORE_WATERMARKS);
}

void
kr_httpd_respond_growing_file(struct kr_httpd_req *r, int status, const char *content_type,
    int fd, off_t offset, off_t len, off_t ready)
{
	struct kr_httpd_conn *c = r->conn;

	kr_httpd_respond_file(r, status, content_type, fd, offset, len);
	if (c->file_fd == fd && fd >= 0)
		c->file_ready = ready;
}

void
kr_httpd_file_grown(struct kr_httpd_req *r, off_t ready)
{
	struct kr_httpd_conn *c = r->conn;

	if (c->file_fd < 0 || ready <= c->file_ready)
		return;
	c->file_ready = ready;
	if (c->file_stalled && c->file_left > 0) {
		/* The write callback will not come by itself: nothing is queued. */
		bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS |
		    BEV_TRIG_IGNORE_WATERMARKS);
	}
}

/* An answer of our own to a request we could not parse; the connection then closes. */
void
httpd_fail_request(struct kr_httpd_conn *c, int status, const char *why)
{
	struct kr_httpd_req *r = &c->req;

	kr_log_info("%s: HTTP %d: %s", c->req.peer, status, why);
	if (r->method == NULL)
		r->method = "GET";	/* unparsed: answer with a body anyway */
	r->conn = c;
	c->keep_alive = false;
	kr_httpd_respond(r, status, "text/plain", why, strlen(why));
}
