/*
 * httpd.c - a small streaming HTTP/1.1 server on libevent bufferevents
 * (see httpd.h): connections, their state machine and the handler-facing
 * body calls.  Reading requests is httpd_read.c, writing answers
 * httpd_write.c; httpd_conn.h is what the three share.
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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon/daemon.h"
#include "core/error.h"
#include "http/http_server.h"
#include "http/httpd_conn.h"
#include "core/log.h"

/* Bytes per read(2)/write(2) of a connection (libevent's default: 16 KiB). */
#define IO_MAX_SINGLE (256u << 10)
/* Bytes read straight from the socket per drive() while a body streams. */
#define BODY_READ_MAX (4u << 20)
#define LINGER_MAX (16u << 20)		/* unread body bytes drained before closing */
#define LINGER_TIMEOUT_S 2

static void drive(struct kr_httpd_conn *c);
static void conn_free(struct kr_httpd_conn *c, bool completed);

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
			if (httpd_read_headers(c) < 0 || c->state == ST_HEADERS)
				return;
			break;
		case ST_BODY:
			r = httpd_read_body(c);
			if (r < 0) {
				/* The handler stopped or the framing was bad: it answered. */
				c->body_done = false;
				if (!c->responded) {
					kr_log_warnx("%s: body handler stopped without answering",
					    c->req.peer);
					httpd_fail_request(c, 500, "internal error");
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

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct kr_httpd_conn *c = arg;

	if (c->state != ST_RESPONDING)
		return;
	if (c->file_left > 0) {
		if (httpd_queue_file(c) < 0)
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
	/*
	 * Even for an empty body: botocore (boto3, awscli), answered at once
	 * with a final status, keeps that status for the next answer on the
	 * connection and misreads it (a read timeout, then a retry).
	 */
	if (c->req.expect_continue)
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
