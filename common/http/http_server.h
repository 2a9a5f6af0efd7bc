/*
 * http_server.h - pieces of the libevent HTTP front ends (the CLC's and
 * Walrus's): the listening socket, the loop that SIGTERM/SIGINT end, the
 * request id and the reply.  Each daemon sets up its own evhttp (limits,
 * handlers, more listeners) around them.
 */
#ifndef KARRI_HTTP_SERVER_H
#define KARRI_HTTP_SERVER_H

#include <event2/http.h>

#include "core/buf.h"
#include "core/sizes.h"

struct kr_daemon;
struct event_base;

/* Dispatch base until SIGTERM or SIGINT (which also set kr_daemon_stopping()). */
void kr_http_run_loop(struct kr_daemon *d, struct event_base *base);

/*
 * A non-blocking listening socket on address:port (NULL or "": all IPv4
 * addresses); -1 + kr_error naming them (with errno) when it cannot.
 */
int kr_http_listen(const char *address, int port);

/* A fresh request id (UUID v4 text) for responses and logs. */
void kr_http_request_id(char out[KR_UUID_MAX]);

/* Send body with a status and content type; the buffer is emptied. */
void kr_http_reply(struct evhttp_request *req, int status, const char *content_type,
    struct kr_buf *body);

#endif
