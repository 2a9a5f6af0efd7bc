/*
 * http_server.h - the libevent HTTP front end of the CLC and Walrus.
 *
 * One event base, one evhttp server with bounded header and body sizes and
 * timeouts, SIGTERM/SIGINT ending the loop.  The daemon supplies a single
 * handler that routes by path and method.
 */
#ifndef KARRI_HTTP_SERVER_H
#define KARRI_HTTP_SERVER_H

#include <stddef.h>

#include <event2/http.h>

#include "buf.h"

struct kr_daemon;

typedef void (*kr_http_handler_fn)(struct evhttp_request *req, void *arg);

struct kr_http_opts {
	size_t max_body;		/* bigger requests get 413; 0: 16 MiB */
	size_t max_headers;		/* 0: 64 KiB */
	int timeout_s;			/* per request; 0: 60 */
};

/* Listen on the daemon's port and serve until SIGTERM; exit 1 when the port is taken. */
void kr_http_serve_daemon(struct kr_daemon *d, const struct kr_http_opts *opts,
    kr_http_handler_fn handler, void *arg);

struct event_base;

/* Dispatch base until SIGTERM or SIGINT (which also set kr_daemon_stopping()). */
void kr_http_run_loop(struct kr_daemon *d, struct event_base *base);

/* main() of an HTTP daemon: start, serve, finish; the handler gets the daemon as arg. */
int kr_http_daemon_main(struct kr_daemon *d, const struct kr_http_opts *opts,
    kr_http_handler_fn handler, int argc, char **argv);

/*
 * A non-blocking listening socket on address:port (NULL or "": all IPv4
 * addresses); -1 + kr_error naming them (with errno) when it cannot.
 */
int kr_http_listen(const char *address, int port);

/* A fresh request id (UUID v4 text) for responses and logs. */
void kr_http_request_id(char out[37]);

/* Send body with a status and content type; the buffer is emptied. */
void kr_http_reply(struct evhttp_request *req, int status, const char *content_type,
    struct kr_buf *body);

#endif
