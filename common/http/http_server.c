/*
 * http_server.c - libevent HTTP serving loop (see http_server.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "daemon/daemon.h"
#include "core/error.h"
#include "http/http_server.h"
#include "core/log.h"
#include "core/sizes.h"

void
kr_http_request_id(char out[KR_UUID_MAX])
{
	unsigned char r[16];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memset(r, 0, sizeof(r));	/* ids are for correlation, not secrets */
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(out, KR_UUID_MAX, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
	    r[13], r[14], r[15]);
}

void
kr_http_reply(struct evhttp_request *req, int status, const char *content_type,
    struct kr_buf *body)
{
	struct evbuffer *out = evbuffer_new();
	const char *reason = status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";

	if (out == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	if (body && !kr_buf_failed(body))
		evbuffer_add(out, kr_buf_str(body), kr_buf_len(body));
	if (content_type)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
	evhttp_send_reply(req, status, reason, out);
	evbuffer_free(out);
	if (body)
		kr_buf_reset(body);
}

/* A listening socket of our own, so a taken port is reported with its errno. */
int
kr_http_listen(const char *address, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd, one = 1;

	if (address == NULL || *address == '\0')
		address = "0.0.0.0";
	if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) {
		kr_error("InvalidConfiguration", "KARRI_BIND_ADDRESS '%s' is not an IPv4 address",
		    address);
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		kr_error_errno("InternalError", "socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 256) < 0) {
		kr_error_errno("InternalError", "cannot listen on %s:%d", address, port);
		close(fd);
		return -1;
	}
	return fd;
}

static void
on_stop_signal(evutil_socket_t sig, short events, void *arg)
{
	(void)events;
	kr_log_info("signal %d: stopping", (int)sig);
	kr_daemon_request_stop();
	event_base_loopbreak(arg);
}

void
kr_http_run_loop(struct kr_daemon *d, struct event_base *base)
{
	struct event *sigterm = evsignal_new(base, SIGTERM, on_stop_signal, base);
	struct event *sigint = evsignal_new(base, SIGINT, on_stop_signal, base);

	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	kr_log_info("serving HTTP on %s:%d", d->bind_address ? d->bind_address : "0.0.0.0",
	    d->port);
	if (!kr_daemon_stopping())
		event_base_dispatch(base);
	event_free(sigterm);
	event_free(sigint);
}
