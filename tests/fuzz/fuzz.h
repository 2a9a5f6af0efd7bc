/*
 * fuzz.h - what Karri's libFuzzer harnesses share: a quiet logger, a
 * scratch directory, and a loopback client that hands bytes to a server
 * running in the harness's own event loop (the daemon's real HTTP front
 * end, not a copy of its parser) and waits until the server closes.
 *
 * Each harness is one file, tests/fuzz/<name>.c, built and run by
 * tests/fuzz/run against the objects of a sanitizer build (build/fuzz).
 */
#ifndef KARRI_FUZZ_H
#define KARRI_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * Logs of the code under test go nowhere: a fuzzer prints its own.  With
 * KARRI_FUZZ_LOG=1 they go to stderr at INFO, to see what a seed reaches
 * (e.g. `KARRI_FUZZ_LOG=1 build/fuzz/bin/metadata SEED...`).
 */
static inline void
fz_quiet(void)
{
	const char *v = getenv("KARRI_FUZZ_LOG");

	signal(SIGPIPE, SIG_IGN);
	if (v && *v && strcmp(v, "0") != 0)
		kr_log_open("karri-fuzz", NULL, KR_LOG_INFO, 0, 0);
	else
		kr_log_open("karri-fuzz", "/dev/null", KR_LOG_ERROR, 0, 0);
}

/* The LLVMFuzzerInitialize of a harness that needs only quiet logs. */
#define FZ_INIT_QUIET \
	int LLVMFuzzerInitialize(int *argc, char ***argv) \
	{ \
		(void)argc, (void)argv; \
		fz_quiet(); \
		return 0; \
	}

/* A fresh scratch directory under $TMPDIR (tests/fuzz/run cleans it). */
static inline const char *
fz_tmpdir(void)
{
	static char dir[512];
	const char *t = getenv("TMPDIR");

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "%s/karri-fuzz-XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			abort();
		}
	}
	return dir;
}

/* A listening TCP socket on 127.0.0.1, its port in *port. */
static inline int
fz_listen(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		perror("fuzz: listen");
		abort();
	}
	*port = ntohs(a.sin_port);
	return fd;
}

struct fz_client {
	struct event_base *base;
	int fd;
	const uint8_t *out;
	size_t out_len, sent;
	size_t got;		/* answer bytes */
	bool closed;
};

static void
fz_client_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fz_client *c = arg;
	char buf[65536];

	if (what & EV_TIMEOUT) {
		event_base_loopbreak(c->base);
		return;
	}
	if (what & EV_WRITE && c->sent < c->out_len) {
		ssize_t n = send(fd, c->out + c->sent, c->out_len - c->sent, MSG_NOSIGNAL);

		if (n > 0)
			c->sent += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			c->sent = c->out_len;	/* the server closed early: fine */
		if (c->sent == c->out_len)
			shutdown(fd, SHUT_WR);
	}
	if (what & EV_READ) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n > 0)
			c->got += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			c->closed = true;
			event_base_loopbreak(c->base);
		}
	}
}

/*
 * Connect to 127.0.0.1:port, send len bytes, half-close, and run `base`
 * (the server's loop) until the server closes the connection or
 * timeout_ms passes.  Returns the bytes of answer received.
 */
static inline size_t
fz_exchange(struct event_base *base, int port, const void *data, size_t len, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct fz_client c = { .base = base, .out = data, .out_len = len };
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct event *ev, *tmo;
	bool reading = false;

	c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("fuzz: connect");
		abort();
	}
	fcntl(c.fd, F_SETFL, O_NONBLOCK);
	if (len == 0)
		shutdown(c.fd, SHUT_WR);
	ev = event_new(base, c.fd, EV_READ | EV_WRITE | EV_PERSIST, fz_client_cb, &c);
	tmo = evtimer_new(base, fz_client_cb, &c);
	event_add(ev, NULL);
	evtimer_add(tmo, &tv);
	while (!c.closed) {
		struct timeval t0;

		event_base_loop(base, EVLOOP_ONCE);
		if (!evtimer_pending(tmo, &t0))
			break;
		if (!reading && c.sent == c.out_len && !c.closed) {	/* reading only now */
			event_del(ev);
			event_assign(ev, base, c.fd, EV_READ | EV_PERSIST, fz_client_cb, &c);
			event_add(ev, NULL);
			reading = true;
		}
	}
	event_free(ev);
	event_free(tmo);
	close(c.fd);
	/* Let the server see the close and free the connection. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	return c.got;
}

#endif
