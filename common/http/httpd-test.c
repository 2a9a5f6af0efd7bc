/*
 * httpd-test.c - kr_httpd against raw sockets: keep-alive, streamed and
 * chunked bodies, 100-continue, early answers, malformed requests.
 *
 * The server runs in a forked child with its own event base; the test
 * talks to it with blocking sockets and checks exactly what a client sees.
 */
#include <arpa/inet.h>
#include "core/check_run.h"
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "http/http_server.h"
#include "http/httpd.h"
#include "core/log.h"

static pid_t child;
static int port;

struct counter {
	size_t n;
};

static int
count_data(struct kr_httpd_req *r, const void *data, size_t len, void *ctx)
{
	(void)r;
	(void)data;
	((struct counter *)ctx)->n += len;
	return 0;
}

static void
count_end(struct kr_httpd_req *r, void *ctx)
{
	char out[64];
	int n = snprintf(out, sizeof(out), "len=%zu", ((struct counter *)ctx)->n);

	kr_httpd_respond(r, 200, "text/plain", out, (size_t)n);
}

static void
free_ctx(void *ctx, bool completed)
{
	(void)completed;
	free(ctx);
}

static void
all_done(struct kr_httpd_req *r, const char *body, size_t len, void *ctx)
{
	(void)ctx;
	if (!body)
		kr_httpd_respond(r, 413, "text/plain", "big", 3);
	else
		kr_httpd_respond(r, 200, "text/plain", body, len);
}

static void
handler(struct kr_httpd_req *r, void *arg)
{
	(void)arg;
	if (strcmp(r->path, "/count") == 0) {
		struct counter *c = calloc(1, sizeof(*c));
		kr_httpd_on_done(r, free_ctx, c);
		kr_httpd_read_body(r, count_data, count_end, c);
	} else if (strcmp(r->path, "/all") == 0) {
		kr_httpd_read_body_all(r, 16, all_done, NULL);
	} else if (strcmp(r->path, "/reject") == 0) {
		kr_httpd_add_header(r, "X-Why", "no\r\nInjected: yes");
		kr_httpd_respond(r, 403, "text/plain", "denied", 6);
	} else {
		char out[256];
		int n = snprintf(out, sizeof(out), "%s %s ?%s", r->method, r->path, r->query);
		kr_httpd_respond(r, 200, "text/plain", out, (size_t)n);
	}
}

static void
setup(void)
{
	int fd = kr_http_listen("127.0.0.1", 0);
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	ck_assert_int_ge(fd, 0);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct event_base *base = event_base_new();
		kr_log_set_level(KR_LOG_WARN);
		signal(SIGPIPE, SIG_IGN);
		kr_httpd_new(base, fd, &(struct kr_httpd_opts){ .max_header_bytes = 4096,
		    .timeout_s = 5 }, handler, NULL);
		event_base_dispatch(base);
		_exit(0);
	}
	close(fd);
}

static void
teardown(void)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

static int
connect_server(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
send_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = write(fd, s, len);
		ck_assert_int_gt(n, 0);
		s += n;
		len -= (size_t)n;
	}
}

/* Read one response (headers + Content-Length body) into out; returns its length. */
static size_t
read_response(int fd, char *out, size_t max)
{
	size_t len = 0;
	char *end;
	long body = -1;

	for (;;) {
		ssize_t n;
		out[len] = '\0';
		if ((end = strstr(out, "\r\n\r\n"))) {
			char *cl = strcasestr(out, "Content-Length: ");
			if (body < 0)
				body = cl ? atol(cl + 16) : 0;
			if ((size_t)(end + 4 - out) + (size_t)body <= len)
				return len;
		}
		n = read(fd, out + len, max - 1 - len);
		if (n <= 0)
			return len;
		len += (size_t)n;
	}
}

static bool
closed_by_server(int fd)
{
	char c;

	return read(fd, &c, 1) == 0;
}

/* Read until `want` shows up (or the server stops sending). */
static void
read_until(int fd, char *buf, size_t max, const char *want)
{
	size_t n = 0;

	buf[0] = '\0';
	while (!strstr(buf, want)) {
		ssize_t r = read(fd, buf + n, max - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
	}
}

START_TEST(keep_alive_two_requests)
{
	int fd = connect_server();
	char buf[4096];
	const char *rq = "GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
	    "GET /second HTTP/1.1\r\nHost: h\r\n\r\n";

	send_all(fd, rq, strlen(rq));
	read_until(fd, buf, sizeof(buf), "GET /second ?");
	ck_assert_ptr_nonnull(strstr(buf, "HTTP/1.1 200 OK\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, "GET /a%20b ?x=1"));
	ck_assert_ptr_nonnull(strstr(buf, "GET /second ?"));
	ck_assert_ptr_null(strstr(buf, "Connection: close"));
	close(fd);
}
END_TEST

START_TEST(streamed_body_with_continue)
{
	int fd = connect_server();
	char buf[4096], *big = malloc(3 << 20);
	const char *rq = "PUT /count HTTP/1.1\r\nHost: h\r\nContent-Length: 3145728\r\n"
	    "Expect: 100-continue\r\n\r\n";

	memset(big, 'x', 3 << 20);
	send_all(fd, rq, strlen(rq));
	ck_assert_int_eq(read(fd, buf, 25), 25);
	buf[25] = '\0';
	ck_assert_str_eq(buf, "HTTP/1.1 100 Continue\r\n\r\n");
	send_all(fd, big, 3 << 20);
	read_response(fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "\r\n\r\nlen=3145728"));
	free(big);
	close(fd);
}
END_TEST

START_TEST(chunked_body)
{
	int fd = connect_server();
	char buf[4096];
	const char *rq = "POST /count HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n"
	    "POST /all HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";

	send_all(fd, rq, strlen(rq));
	/* Both answers may arrive in one read: collect until the second is in. */
	read_until(fd, buf, sizeof(buf), "\r\n\r\nabc");
	ck_assert_ptr_nonnull(strstr(buf, "\r\n\r\nlen=31"));
	ck_assert_ptr_nonnull(strstr(buf, "\r\n\r\nabc"));
	ck_assert(strstr(buf, "len=31") < strstr(buf, "\r\n\r\nabc"));
	close(fd);
}
END_TEST

START_TEST(body_limit)
{
	int fd = connect_server();
	char buf[4096];
	const char *rq = "POST /all HTTP/1.1\r\nContent-Length: 17\r\n\r\n01234567890123456";

	send_all(fd, rq, strlen(rq));
	read_response(fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "HTTP/1.1 413 "));
	ck_assert_ptr_nonnull(strstr(buf, "Connection: close"));
	ck_assert(closed_by_server(fd));
	close(fd);
}
END_TEST

START_TEST(early_answer_closes)
{
	int fd = connect_server();
	char buf[4096];
	const char *rq = "PUT /reject HTTP/1.1\r\nContent-Length: 100000\r\n\r\npartial";

	send_all(fd, rq, strlen(rq));
	read_response(fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "HTTP/1.1 403 Forbidden\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, "X-Why: no  Injected: yes\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, "Connection: close"));
	ck_assert(closed_by_server(fd));
	close(fd);
}
END_TEST

START_TEST(malformed_requests)
{
	static const char *bad[] = {
		"GARBAGE\r\n\r\n",
		"GET /x HTTP/1.1\r\n folded: header\r\n\r\n",
		"GET /x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"GET x HTTP/1.1\r\n\r\n",
		"POST /count HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	};
	char buf[4096];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = connect_server();
		send_all(fd, bad[i], strlen(bad[i]));
		read_response(fd, buf, sizeof(buf));
		ck_assert_msg(strstr(buf, "HTTP/1.1 400 ") != NULL, "case %zu: %s", i, buf);
		close(fd);
	}
}
END_TEST

START_TEST(header_section_too_large)
{
	int fd = connect_server();
	char buf[8192];

	memcpy(buf, "GET / HTTP/1.1\r\nX: ", 19);
	memset(buf + 19, 'a', 5000);
	send_all(fd, buf, 5019);
	read_response(fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "HTTP/1.1 431 "));
	close(fd);
}
END_TEST

START_TEST(head_has_no_body)
{
	int fd = connect_server();
	char buf[4096];
	const char *rq = "HEAD /h HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n";

	send_all(fd, rq, strlen(rq));
	read_until(fd, buf, sizeof(buf), "GET /g ?");
	/* The HEAD answer has the Content-Length of its body but no body. */
	ck_assert_ptr_nonnull(strstr(buf, "Content-Length: 9\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\r\n\r\nHTTP/1.1 200 OK"));
	ck_assert_ptr_nonnull(strstr(buf, "GET /g ?"));
	close(fd);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("httpd", &tc);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, keep_alive_two_requests);
	tcase_add_test(tc, streamed_body_with_continue);
	tcase_add_test(tc, chunked_body);
	tcase_add_test(tc, body_limit);
	tcase_add_test(tc, early_answer_closes);
	tcase_add_test(tc, malformed_requests);
	tcase_add_test(tc, header_section_too_large);
	tcase_add_test(tc, head_has_no_body);
	return kr_check_run(s);
}
