/*
 * httpd.h - Karri's own small HTTP/1.1 server, with streamed bodies.
 *
 * libevent's evhttp buffers every request body whole before the handler
 * runs; an S3 PUT of 5 GiB must not.  kr_httpd parses the request line and
 * headers (bounded) on a bufferevent, hands the request to the handler, and
 * the handler chooses:
 *
 *   - answer at once (kr_httpd_respond*), the body unread: the connection
 *     then closes after the answer (after draining a little, so the client
 *     sees the answer and not a reset);
 *   - stream the body (kr_httpd_read_body): each piece goes to a callback
 *     as it arrives, Content-Length or chunked, "100 Continue" sent first
 *     when the client asked for it.  The socket is read only while the
 *     input buffer is below a high-water mark and the callback consumes
 *     synchronously (e.g. write(2) to a file), so a slow disk slows the
 *     client down instead of filling memory;
 *   - collect a small body whole (kr_httpd_read_body_all, with a limit).
 *
 * Answers carry Content-Length (never chunked); a file answer is sent in
 * pieces as the socket drains (sendfile where libevent can).  HEAD answers
 * get the headers of the body they describe and no body.  Connections are
 * kept alive (HTTP/1.1 default, 1.0 with "Connection: keep-alive") with
 * idle and I/O timeouts; pipelined requests are served in order.
 *
 * Everything runs on one event base: callbacks must not block for long.
 */
#ifndef KARRI_HTTPD_H
#define KARRI_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct kr_daemon;
struct kr_httpd;
struct kr_httpd_conn;

struct kr_httpd_header {
	const char *name;	/* as received */
	const char *value;	/* leading/trailing blanks removed */
};

/* One request.  Fields are read-only for handlers and live until it ends. */
struct kr_httpd_req {
	const char *method;		/* "GET", ... */
	const char *path;		/* raw (%-encoded) path, without the query */
	const char *query;		/* raw query string, "" when none */
	int version_minor;		/* HTTP/1.<n> */
	const struct kr_httpd_header *headers;	/* in the order received */
	size_t n_headers;
	int64_t content_length;		/* -1 when chunked */
	bool chunked;
	bool expect_continue;
	char peer[64];			/* "address:port" of the client */
	struct kr_httpd_conn *conn;	/* private */
};

struct kr_httpd_opts {
	size_t max_header_bytes;	/* request line + headers; 0: 64 KiB */
	size_t max_headers;		/* 0: 128 */
	int timeout_s;			/* idle and per-I/O; 0: 60 */
	size_t max_conns;		/* 0: 1024 */
	size_t read_high_water;		/* bytes buffered per connection; 0: 1 MiB */
};

/* Called once the request's headers are in. */
typedef void (*kr_httpd_handler_fn)(struct kr_httpd_req *r, void *arg);

/* A piece of the body; return 0 to go on, -1 to stop (having answered). */
typedef int (*kr_httpd_body_fn)(struct kr_httpd_req *r, const void *data, size_t len,
    void *ctx);
/* The body has ended: the handler answers now (or later). */
typedef void (*kr_httpd_end_fn)(struct kr_httpd_req *r, void *ctx);
/* The whole body, or NULL when it passed the limit (answer 413 then). */
typedef void (*kr_httpd_all_fn)(struct kr_httpd_req *r, const char *body, size_t len,
    void *ctx);
/* The request is over (answered and sent, or its connection lost). */
typedef void (*kr_httpd_done_fn)(void *ctx, bool completed);

struct kr_httpd *kr_httpd_new(struct event_base *base, int listen_fd,
    const struct kr_httpd_opts *opts, kr_httpd_handler_fn handler, void *arg);
void kr_httpd_free(struct kr_httpd *srv);	/* closes every connection; NULL-safe */

/* Listen on the daemon's port and serve until SIGTERM/SIGINT; exits 1 when it cannot. */
void kr_httpd_serve_daemon(struct kr_daemon *d, const struct kr_httpd_opts *opts,
    kr_httpd_handler_fn handler, void *arg);

const char *kr_httpd_header(const struct kr_httpd_req *r, const char *name);	/* or NULL */

/* Stream the body (an empty body ends at once). */
void kr_httpd_read_body(struct kr_httpd_req *r, kr_httpd_body_fn on_data, kr_httpd_end_fn on_end,
    void *ctx);
void kr_httpd_read_body_all(struct kr_httpd_req *r, size_t max, kr_httpd_all_fn done, void *ctx);

/* Run done(ctx, completed) when the request ends, whatever way. */
void kr_httpd_on_done(struct kr_httpd_req *r, kr_httpd_done_fn done, void *ctx);

/* Add a response header (before responding); the value is printf-formatted. */
void kr_httpd_add_header(struct kr_httpd_req *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Answer with a body in memory (copied). */
void kr_httpd_respond(struct kr_httpd_req *r, int status, const char *content_type,
    const void *body, size_t len);

/*
 * Answer with len bytes of fd from offset; the server owns fd from now
 * on.  fd -1: no body (HEAD), only Content-Length: len.
 */
void kr_httpd_respond_file(struct kr_httpd_req *r, int status, const char *content_type,
    int fd, off_t offset, off_t len);

/*
 * A file answer from a file still being written (Walrus's decrypted-image
 * cache): only the bytes below `ready` (a file offset) are sent; the writer
 * calls kr_httpd_file_grown() as it writes more.  While the reader waits
 * nothing is queued, so no write timeout runs.
 */
void kr_httpd_respond_growing_file(struct kr_httpd_req *r, int status, const char *content_type,
    int fd, off_t offset, off_t len, off_t ready);
void kr_httpd_file_grown(struct kr_httpd_req *r, off_t ready);

/*
 * Drop the connection mid-answer (a growing file's writer failed), so the
 * client sees a short body instead of waiting; the request's done callback
 * runs.  Not from inside a callback of this request's own kr_httpd calls.
 */
void kr_httpd_abort(struct kr_httpd_req *r);

/* The event base the server runs on (for a handler's own timers). */
struct event_base *kr_httpd_base(const struct kr_httpd_req *r);

#endif
