/*
 * httpd.c - a small streaming HTTP/1.1 server on libevent bufferevents
 * (see httpd.h).
 *
 * A connection is a state machine driven by drive(): HEADERS (waiting for
 * the blank line ending the header section), HANDLER (the handler has the
 * request and has neither answered nor asked for the body yet), BODY (body
 * bytes go to the handler), WAIT (the body is in, the answer not yet
 * given), RESPONDING (the answer is queued; more of a file is added as the
 * socket drains), LINGER (answered a request whose body we did not read:
 * drain the input briefly before closing, so the client reads the answer
 * instead of a reset).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "buf.h"
#include "daemon.h"
#include "error.h"
#include "http_server.h"
#include "httpd.h"
#include "log.h"

/*
 * File answers go out by sendfile(2), one queued segment per call.  A few
 * segments stay queued so the output never runs dry between calls: an
 * empty output takes the write event out of epoll and puts it back, two
 * epoll_ctl calls per segment.  (Asking the kernel to read ahead with
 * POSIX_FADV_WILLNEED was tried for files not in the page cache and did
 * not beat its own readahead; bench/walrus measures that case.)
 */
#define FILE_CHUNK (1u << 20)		/* bytes per queued segment */
#define FILE_QUEUE (4u << 20)		/* bytes of file kept queued */
#define FILE_LOW_WATER (FILE_QUEUE - FILE_CHUNK)	/* top up below this */
/* Bytes per read(2)/write(2) of a connection (libevent's default: 16 KiB). */
#define IO_MAX_SINGLE (256u << 10)
/* Bytes read straight from the socket per drive() while a body streams. */
#define BODY_READ_MAX (4u << 20)
#define LINGER_MAX (16u << 20)		/* unread body bytes drained before closing */
#define LINGER_TIMEOUT_S 2
#define CHUNK_LINE_MAX 1024

enum conn_state { ST_HEADERS, ST_HANDLER, ST_BODY, ST_WAIT, ST_RESPONDING, ST_LINGER };
enum chunk_state { CH_SIZE, CH_DATA, CH_CRLF, CH_TRAILER, CH_DONE };

struct kr_httpd {
	struct event_base *base;
	struct evconnlistener *listener;
	struct kr_httpd_opts opts;
	kr_httpd_handler_fn handler;
	void *arg;
	struct kr_httpd_conn *conns;	/* every open connection */
	size_t n_conns;
	bool paused;			/* listener off: at max_conns */
};

struct kr_httpd_conn {
	struct kr_httpd *srv;
	struct kr_httpd_conn *prev, *next;
	struct bufferevent *bev;
	enum conn_state state;
	struct kr_httpd_req req;
	char peer[64];			/* "address:port", for every request's log lines */
	char *head;			/* the header section, parsed in place */
	struct kr_httpd_header *headers;
	bool keep_alive;

	/* body */
	int64_t body_left;		/* Content-Length left, or of the current chunk */
	enum chunk_state chunk;
	bool body_done;
	kr_httpd_body_fn on_data;
	kr_httpd_end_fn on_end;
	void *body_ctx;
	struct kr_buf all;		/* kr_httpd_read_body_all */
	kr_httpd_all_fn on_all;
	size_t lingered;

	/* answer */
	struct kr_buf out_headers;
	bool responded;
	int file_fd;
	off_t file_off, file_left;
	off_t file_ready;		/* bytes of the file that exist (a growing file) */
	bool file_stalled;		/* everything ready was queued: wait for more */
	kr_httpd_done_fn on_done;
	void *done_ctx;
};

static void drive(struct kr_httpd_conn *c);
static void conn_free(struct kr_httpd_conn *c, bool completed);

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

const char *
kr_httpd_header(const struct kr_httpd_req *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

bool
kr_httpd_responded(const struct kr_httpd_req *r)
{
	return r->conn->responded;
}

/* Forget the request just served, ready for the next on the connection. */
static void
request_end(struct kr_httpd_conn *c, bool completed)
{
	if (c->on_done) {
		kr_httpd_done_fn fn = c->on_done;
		c->on_done = NULL;
		fn(c->done_ctx, completed);
	}
	if (c->file_fd >= 0)
		close(c->file_fd);
	c->file_fd = -1;
	c->file_left = 0;
	free(c->head);
	free(c->headers);
	c->head = NULL;
	c->headers = NULL;
	kr_buf_free(&c->all);
	kr_buf_reset(&c->out_headers);
	memset(&c->req, 0, sizeof(c->req));
	memcpy(c->req.peer, c->peer, sizeof(c->req.peer));
	c->on_data = NULL;
	c->on_end = NULL;
	c->on_all = NULL;
	c->responded = false;
	c->body_done = false;
}

static void
conn_free(struct kr_httpd_conn *c, bool completed)
{
	struct kr_httpd *srv = c->srv;

	request_end(c, completed);
	kr_buf_free(&c->out_headers);
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	srv->n_conns--;
	if (srv->paused && srv->n_conns < srv->opts.max_conns) {
		evconnlistener_enable(srv->listener);
		srv->paused = false;
	}
}

/* An answer of our own to a request we could not parse; the connection then closes. */
static void
fail_request(struct kr_httpd_conn *c, int status, const char *why)
{
	struct kr_httpd_req *r = &c->req;

	kr_log_info("%s: HTTP %d: %s", c->req.peer, status, why);
	if (r->method == NULL)
		r->method = "GET";	/* unparsed: answer with a body anyway */
	r->conn = c;
	c->keep_alive = false;
	kr_httpd_respond(r, status, "text/plain", why, strlen(why));
}

/* Split the header section (NUL-terminated, CRLF lines) into the request. */
static int
parse_head(struct kr_httpd_conn *c, int *status, const char **why)
{
	struct kr_httpd_req *r = &c->req;
	char *line = c->head, *end, *sp1, *sp2, *q;
	size_t max = c->srv->opts.max_headers;
	const char *conn_hdr, *te, *cl;

	*status = 400;
	if (!(end = strstr(line, "\r\n")))
		return (*why = "no request line", -1);
	*end = '\0';
	if (!(sp1 = strchr(line, ' ')) || !(sp2 = strchr(sp1 + 1, ' ')))
		return (*why = "malformed request line", -1);
	*sp1 = *sp2 = '\0';
	r->method = line;
	r->path = sp1 + 1;
	for (const char *m = r->method; *m; m++)
		if (*m < 'A' || *m > 'Z')
			return (*why = "malformed method", -1);
	if (strcmp(sp2 + 1, "HTTP/1.1") == 0)
		r->version_minor = 1;
	else if (strcmp(sp2 + 1, "HTTP/1.0") == 0)
		r->version_minor = 0;
	else
		return (*status = 505, *why = "HTTP version not supported", -1);
	if (r->path[0] != '/')
		return (*why = "the request target must be a path", -1);
	if ((q = strchr(sp1 + 1, '?'))) {
		*q = '\0';
		r->query = q + 1;
	} else
		r->query = "";
	if (!(c->headers = calloc(max, sizeof(*c->headers))))
		return (*status = 500, *why = "out of memory", -1);
	for (line = end + 2; *line; line = end + 2) {
		char *colon, *v, *e;

		if (!(end = strstr(line, "\r\n")))
			return (*why = "header line without CRLF", -1);
		*end = '\0';
		if (*line == '\0')
			break;
		if (*line == ' ' || *line == '\t')
			return (*why = "folded header lines are not accepted", -1);
		if (!(colon = strchr(line, ':')) || colon == line)
			return (*why = "malformed header line", -1);
		for (char *n = line; n < colon; n++)
			if (*n <= ' ' || *n >= 127)
				return (*why = "malformed header name", -1);
		if (r->n_headers == max)
			return (*status = 431, *why = "too many header lines", -1);
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		c->headers[r->n_headers].name = line;
		c->headers[r->n_headers].value = v;
		r->n_headers++;
	}
	r->headers = c->headers;

	te = kr_httpd_header(r, "Transfer-Encoding");
	cl = kr_httpd_header(r, "Content-Length");
	if (te) {
		if (cl)
			return (*why = "both Transfer-Encoding and Content-Length", -1);
		if (strcasecmp(te, "chunked") != 0)
			return (*status = 501, *why = "only chunked transfer coding is supported", -1);
		r->chunked = true;
		r->content_length = -1;
	} else if (cl) {
		char *endp;
		unsigned long long n;

		errno = 0;
		n = strtoull(cl, &endp, 10);
		if (*cl < '0' || *cl > '9' || *endp || errno || n > INT64_MAX)
			return (*why = "malformed Content-Length", -1);
		/* Repeated Content-Length headers must agree. */
		for (size_t i = 0; i < r->n_headers; i++)
			if (strcasecmp(r->headers[i].name, "Content-Length") == 0 &&
			    strcmp(r->headers[i].value, cl) != 0)
				return (*why = "conflicting Content-Length headers", -1);
		r->content_length = (int64_t)n;
	}
	c->body_left = r->chunked ? 0 : r->content_length;
	c->chunk = CH_SIZE;
	c->body_done = !r->chunked && r->content_length == 0;

	conn_hdr = kr_httpd_header(r, "Connection");
	if (r->version_minor == 1)
		c->keep_alive = !(conn_hdr && strcasecmp(conn_hdr, "close") == 0);
	else
		c->keep_alive = conn_hdr && strcasecmp(conn_hdr, "keep-alive") == 0;
	r->expect_continue = r->version_minor == 1 &&
	    kr_httpd_header(r, "Expect") &&
	    strcasecmp(kr_httpd_header(r, "Expect"), "100-continue") == 0;
	return 0;
}

/* ST_HEADERS: 0 when more input is needed or a request was dispatched, -1 to stop. */
static int
read_headers(struct kr_httpd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr end;
	size_t max = c->srv->opts.max_header_bytes, len;
	const char *why;
	int status;

	/* Blank lines between requests are allowed (RFC 9112 2.2). */
	while (evbuffer_get_length(in) >= 2) {
		unsigned char two[2];
		evbuffer_copyout(in, two, 2);
		if (two[0] != '\r' || two[1] != '\n')
			break;
		evbuffer_drain(in, 2);
	}
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) > max) {
			fail_request(c, 431, "request header section too large");
			return -1;
		}
		return 0;
	}
	len = (size_t)end.pos + 4;
	if (len > max) {
		fail_request(c, 431, "request header section too large");
		return -1;
	}
	if (!(c->head = malloc(len + 1))) {
		fail_request(c, 500, "out of memory");
		return -1;
	}
	evbuffer_remove(in, c->head, len);
	c->head[len] = '\0';
	c->req.conn = c;
	c->req.content_length = 0;
	memcpy(c->req.peer, c->peer, sizeof(c->req.peer));
	if (parse_head(c, &status, &why) < 0) {
		fail_request(c, status, why);
		return -1;
	}
	c->state = ST_HANDLER;
	c->srv->handler(&c->req, c->srv->arg);
	return 0;
}

static int
deliver(struct kr_httpd_conn *c, const void *data, size_t len)
{
	if (c->on_data)
		return c->on_data(&c->req, data, len, c->body_ctx);
	if (c->on_all) {
		kr_buf_add_len(&c->all, data, len);
		return 0;
	}
	return 0;	/* lingering: dropped */
}

/* Hand up to `want` bytes of input to the handler; the count delivered, or -1. */
static ssize_t
deliver_input(struct kr_httpd_conn *c, struct evbuffer *in, size_t want)
{
	struct evbuffer_iovec v[8];
	size_t done = 0;
	int n = evbuffer_peek(in, (ev_ssize_t)want, NULL, v, 8);

	for (int i = 0; i < n && i < 8 && done < want; i++) {
		size_t l = v[i].iov_len < want - done ? v[i].iov_len : want - done;
		if (deliver(c, v[i].iov_base, l) < 0) {
			evbuffer_drain(in, done + l);
			return -1;
		}
		done += l;
	}
	evbuffer_drain(in, done);
	return (ssize_t)done;
}

/* ST_BODY: feed what input there is; 1 when the body ended, 0 for more, -1 on error. */
static int
read_body(struct kr_httpd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	for (;;) {
		size_t avail = evbuffer_get_length(in);
		ssize_t n;

		if (!c->req.chunked) {
			if (c->body_left == 0)
				return 1;
			if (avail == 0)
				return 0;
			n = deliver_input(c, in, (uint64_t)c->body_left < avail ?
			    (size_t)c->body_left : avail);
			if (n < 0)
				return -1;
			c->body_left -= n;
			continue;
		}
		switch (c->chunk) {
		case CH_SIZE:
		case CH_TRAILER: {
			size_t ll;
			char *line = evbuffer_readln(in, &ll, EVBUFFER_EOL_CRLF_STRICT);
			char *endp;

			if (!line) {
				if (avail > CHUNK_LINE_MAX) {
					fail_request(c, 400, "chunk size line too long");
					return -1;
				}
				return 0;
			}
			if (c->chunk == CH_TRAILER) {
				c->chunk = ll == 0 ? CH_DONE : CH_TRAILER;
				free(line);
				break;
			}
			errno = 0;
			c->body_left = (int64_t)strtoll(line, &endp, 16);
			if (endp == line || errno || c->body_left < 0 ||
			    (*endp && *endp != ';' && *endp != ' ')) {
				free(line);
				fail_request(c, 400, "malformed chunk size");
				return -1;
			}
			free(line);
			c->chunk = c->body_left == 0 ? CH_TRAILER : CH_DATA;
			break;
		}
		case CH_DATA:
			if (avail == 0)
				return 0;
			n = deliver_input(c, in, (uint64_t)c->body_left < avail ?
			    (size_t)c->body_left : avail);
			if (n < 0)
				return -1;
			c->body_left -= n;
			if (c->body_left == 0)
				c->chunk = CH_CRLF;
			break;
		case CH_CRLF: {
			char two[2];
			if (avail < 2)
				return 0;
			evbuffer_remove(in, two, 2);
			if (two[0] != '\r' || two[1] != '\n') {
				fail_request(c, 400, "chunk not followed by CRLF");
				return -1;
			}
			c->chunk = CH_SIZE;
			break;
		}
		case CH_DONE:
			return 1;
		}
	}
}

static void
body_ended(struct kr_httpd_conn *c)
{
	c->body_done = true;
	c->state = ST_WAIT;
	if (c->on_end)
		c->on_end(&c->req, c->body_ctx);
	else if (c->on_all) {
		if (kr_buf_failed(&c->all))
			c->on_all(&c->req, NULL, 0, c->body_ctx);
		else
			c->on_all(&c->req, kr_buf_str(&c->all), kr_buf_len(&c->all), c->body_ctx);
	}
}

static void
linger_start(struct kr_httpd_conn *c)
{
	struct timeval tv = { LINGER_TIMEOUT_S, 0 };

	c->state = ST_LINGER;
	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ);
	drive(c);
}

/* All of the answer is written: next request, linger, or close. */
static void
response_sent(struct kr_httpd_conn *c)
{
	bool body_unread = !c->body_done;
	struct timeval tv = { c->srv->opts.timeout_s, 0 };

	request_end(c, true);
	if (!c->keep_alive || body_unread) {
		if (body_unread)
			linger_start(c);
		else
			conn_free(c, true);
		return;
	}
	c->state = ST_HEADERS;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ);
	drive(c);
}

/*
 * While a body streams, read the socket directly in IO_MAX_SINGLE pieces:
 * libevent 2.1's bufferevent reads at most 4 KiB per read event
 * (EVBUFFER_MAX_READ), which made a 1 GiB upload 262144 trips round the
 * event loop, each with an ioctl, a read and a write(2) of 4 KiB.  Only up
 * to the read high-water mark, so memory stays bounded; 1 when bytes came.
 */
static int
fill_input(struct kr_httpd_conn *c, size_t *budget)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t have = evbuffer_get_length(in), want;
	struct evbuffer_iovec v;
	ssize_t n;

	if (*budget == 0 || have >= c->srv->opts.read_high_water)
		return 0;
	want = c->srv->opts.read_high_water - have;
	if (want > IO_MAX_SINGLE)
		want = IO_MAX_SINGLE;
	/* The bufferevent freezes its input's end; it thaws it the same way to read. */
	evbuffer_unfreeze(in, 0);
	if (evbuffer_reserve_space(in, (ev_ssize_t)want, &v, 1) != 1) {
		evbuffer_freeze(in, 0);
		return 0;
	}
	n = recv(bufferevent_getfd(c->bev), v.iov_base, want < v.iov_len ? want : v.iov_len, 0);
	if (n > 0) {
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
	}
	evbuffer_freeze(in, 0);
	/* EAGAIN, EOF or an error: the bufferevent sees it on its next read. */
	if (n <= 0)
		return 0;
	*budget = (size_t)n < *budget ? *budget - (size_t)n : 0;
	return 1;
}

static void
drive(struct kr_httpd_conn *c)
{
	size_t budget = BODY_READ_MAX;	/* then back to the loop, for fairness */
	struct evbuffer *in = bufferevent_get_input(c->bev);

	for (;;) {
		enum conn_state before = c->state;
		int r;

		switch (c->state) {
		case ST_HEADERS:
			if (read_headers(c) < 0 || c->state == ST_HEADERS)
				return;
			break;
		case ST_BODY:
			r = read_body(c);
			if (r < 0) {
				/* The handler stopped or the framing was bad: it answered. */
				c->body_done = false;
				if (!c->responded) {
					kr_log_warnx("%s: body handler stopped without answering",
					    c->req.peer);
					fail_request(c, 500, "internal error");
				}
				return;
			}
			if (r == 0) {
				if (fill_input(c, &budget))
					continue;
				return;
			}
			body_ended(c);
			break;
		case ST_LINGER: {
			size_t n = evbuffer_get_length(in);
			evbuffer_drain(in, n);
			c->lingered += n;
			if (c->lingered > LINGER_MAX)
				conn_free(c, true);
			return;
		}
		default:
			return;
		}
		if (c->state == before)
			return;
	}
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	drive(arg);
}

/* Queue file segments until FILE_QUEUE bytes wait (or the file, or its ready part, ends). */
static int
queue_file(struct kr_httpd_conn *c)
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

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct kr_httpd_conn *c = arg;

	if (c->state != ST_RESPONDING)
		return;
	if (c->file_left > 0) {
		if (queue_file(c) < 0)
			conn_free(c, false);
		else if (c->file_left == 0)
			bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		response_sent(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct kr_httpd_conn *c = arg;

	(void)bev;
	if (c->state == ST_LINGER) {
		conn_free(c, true);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		kr_log_info("%s: connection timed out", c->req.peer);
	else if ((what & BEV_EVENT_ERROR) && c->state != ST_HEADERS)
		kr_log_info("%s: connection lost: %s", c->req.peer,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	/* EOF with a complete request still being answered: finish writing it. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    (c->state == ST_RESPONDING || c->state == ST_WAIT) && c->body_done) {
		c->keep_alive = false;
		return;
	}
	conn_free(c, false);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct kr_httpd *srv = arg;
	struct kr_httpd_conn *c = calloc(1, sizeof(*c));
	struct timeval tv = { srv->opts.timeout_s, 0 };
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	(void)l;
	(void)salen;
	if (!c) {
		close(fd);
		return;
	}
	/* Answers are written whole: waiting for an ACK (Nagle) only adds latency. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	}
	c->srv = srv;
	c->file_fd = -1;
	kr_buf_init(&c->out_headers, 64u << 10);
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		free(c);
		return;
	}
	snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
	memcpy(c->req.peer, c->peer, sizeof(c->req.peer));
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	if (++srv->n_conns >= srv->opts.max_conns) {
		evconnlistener_disable(srv->listener);
		srv->paused = true;
	}
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, srv->opts.read_high_water);
	bufferevent_set_max_single_read(c->bev, IO_MAX_SINGLE);
	bufferevent_set_max_single_write(c->bev, IO_MAX_SINGLE);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

struct kr_httpd *
kr_httpd_new(struct event_base *base, int listen_fd, const struct kr_httpd_opts *opts,
    kr_httpd_handler_fn handler, void *arg)
{
	struct kr_httpd *srv = calloc(1, sizeof(*srv));

	if (!srv) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	if (opts)
		srv->opts = *opts;
	if (!srv->opts.max_header_bytes)
		srv->opts.max_header_bytes = 64u << 10;
	if (!srv->opts.max_headers)
		srv->opts.max_headers = 128;
	if (!srv->opts.timeout_s)
		srv->opts.timeout_s = 60;
	if (!srv->opts.max_conns)
		srv->opts.max_conns = 1024;
	if (!srv->opts.read_high_water)
		srv->opts.read_high_water = 1u << 20;
	srv->base = base;
	srv->handler = handler;
	srv->arg = arg;
	srv->listener = evconnlistener_new(base, on_accept, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, listen_fd);
	if (!srv->listener) {
		kr_error("InternalError", "cannot listen with libevent");
		free(srv);
		return NULL;
	}
	return srv;
}

void
kr_httpd_free(struct kr_httpd *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_free(srv->conns, false);
	evconnlistener_free(srv->listener);
	free(srv);
}

void
kr_httpd_on_done(struct kr_httpd_req *r, kr_httpd_done_fn done, void *ctx)
{
	r->conn->on_done = done;
	r->conn->done_ctx = ctx;
}

static void
start_body(struct kr_httpd_conn *c)
{
	c->state = ST_BODY;
	if (c->req.expect_continue && !c->body_done)
		bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	bufferevent_enable(c->bev, EV_READ);
	/* drive() runs on return to the loop: the caller may still be in the handler. */
	if (c->body_done) {
		body_ended(c);
		return;
	}
	bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS | BEV_TRIG_IGNORE_WATERMARKS);
}

void
kr_httpd_read_body(struct kr_httpd_req *r, kr_httpd_body_fn on_data, kr_httpd_end_fn on_end,
    void *ctx)
{
	struct kr_httpd_conn *c = r->conn;

	c->on_data = on_data;
	c->on_end = on_end;
	c->body_ctx = ctx;
	start_body(c);
}

void
kr_httpd_read_body_all(struct kr_httpd_req *r, size_t max, kr_httpd_all_fn done, void *ctx)
{
	struct kr_httpd_conn *c = r->conn;

	c->on_all = done;
	c->body_ctx = ctx;
	kr_buf_init(&c->all, max);
	if (r->content_length > 0 && (uint64_t)r->content_length > max) {
		c->body_done = false;
		done(r, NULL, 0, ctx);
		return;
	}
	start_body(c);
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

	/* Unread body: the connection cannot be reused. */
	if (!c->body_done)
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

void
kr_httpd_abort(struct kr_httpd_req *r)
{
	kr_log_info("%s: answer abandoned", r->conn->peer);
	conn_free(r->conn, false);
}

struct event_base *
kr_httpd_base(const struct kr_httpd_req *r)
{
	return r->conn->srv->base;
}

void
kr_httpd_serve_daemon(struct kr_daemon *d, const struct kr_httpd_opts *opts,
    kr_httpd_handler_fn handler, void *arg)
{
	struct event_base *base;
	struct kr_httpd *srv;
	int fd = kr_http_listen(d->bind_address, d->port);

	if (fd < 0)
		kr_daemon_fatal(d, kr_error_message());
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	srv = base ? kr_httpd_new(base, fd, opts, handler, arg) : NULL;
	if (!srv)
		kr_daemon_fatal(d, "cannot set up the HTTP server");
	kr_http_run_loop(d, base);
	kr_httpd_free(srv);
	event_base_free(base);
}
