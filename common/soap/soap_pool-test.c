/*
 * soap_pool-test.c - unit tests for soap_pool.c against a small HTTP peer
 * in a thread of the test: calls from fresh contexts share one kept-alive
 * connection, and a connection the peer closed while idle is not reused
 * (the next call opens a new one and succeeds).
 */
#include "core/check_run.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "karriH.h"
#include "soap/soap_pool.h"
#include "soap/soap_server.h"

static const char answer_body[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="
    "\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:svc=\"urn:karri:service:2026-11\">"
    "<SOAP-ENV:Body><svc:DescribeServiceResponse><svc:return>true</svc:return>"
    "<svc:serviceName>peer</svc:serviceName></svc:DescribeServiceResponse></SOAP-ENV:Body>"
    "</SOAP-ENV:Envelope>";

struct peer {
	int listener;
	int port;
	int close_after;	/* requests per connection before the peer closes it */
	int accepted;		/* connections, read by the test after the calls */
	int requests;
	int closed;		/* connections the peer has closed */
	pthread_mutex_t lock;
};

/* One request (headers, then Content-Length bytes); false at EOF. */
static bool
read_request(int fd)
{
	char buf[8192];
	size_t have = 0;
	char *end, *cl;
	long len;

	while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have - 1);

		if (n <= 0)
			return false;
		have += (size_t)n;
	}
	buf[have] = '\0';
	cl = strcasestr(buf, "Content-Length:");
	len = cl ? strtol(cl + 15, NULL, 10) : 0;
	len -= (long)(have - (size_t)(end + 4 - buf));
	while (len > 0) {
		ssize_t n = read(fd, buf, sizeof(buf) < (size_t)len ? sizeof(buf) : (size_t)len);

		if (n <= 0)
			return false;
		len -= n;
	}
	return true;
}

static void *
peer_main(void *arg)
{
	struct peer *p = arg;
	char head[256];
	int fd;

	while ((fd = accept(p->listener, NULL, NULL)) >= 0) {
		int served = 0;

		pthread_mutex_lock(&p->lock);
		p->accepted++;
		pthread_mutex_unlock(&p->lock);
		while (served < p->close_after && read_request(fd)) {
			int n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: text/xml; "
			    "charset=utf-8\r\nContent-Length: %zu\r\n\r\n", sizeof(answer_body) - 1);

			if (write(fd, head, (size_t)n) != n ||
			    write(fd, answer_body, sizeof(answer_body) - 1) < 0)
				break;
			served++;
			pthread_mutex_lock(&p->lock);
			p->requests++;
			pthread_mutex_unlock(&p->lock);
		}
		close(fd);
		pthread_mutex_lock(&p->lock);
		p->closed++;
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

static pthread_t
peer_start(struct peer *p, int close_after)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	pthread_t t;

	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->close_after = close_after;
	p->listener = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(p->listener, 0);
	ck_assert_int_eq(bind(p->listener, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(p->listener, 8), 0);
	ck_assert_int_eq(getsockname(p->listener, (struct sockaddr *)&a, &len), 0);
	p->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&t, NULL, peer_main, p), 0);
	return t;
}

static int
peer_closed(struct peer *p)
{
	int n;

	pthread_mutex_lock(&p->lock);
	n = p->closed;
	pthread_mutex_unlock(&p->lock);
	return n;
}

static void
peer_stop(struct peer *p, pthread_t t)
{
	kr_soap_pool_flush();		/* the peer's read of a kept connection ends */
	shutdown(p->listener, SHUT_RDWR);
	pthread_join(t, NULL);
	close(p->listener);
}

/* One DescribeService from a fresh context, as the CLC calls: 0 when answered. */
static int
call(const struct peer *p)
{
	struct soap *soap = soap_new();
	struct _svc__DescribeService req = { "corr", "test" };
	struct _svc__DescribeServiceResponse resp;
	char url[64];
	int rc;

	kr_soap_setup(soap, 5);
	kr_soap_pool_use(soap);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", p->port);
	rc = soap_call___svc__DescribeService(soap, url, NULL, &req, &resp);
	if (rc == SOAP_OK && resp._return != true_)
		rc = -1;
	kr_soap_pool_put(soap, rc == SOAP_OK);
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
	return rc;
}

START_TEST(calls_share_one_kept_alive_connection)
{
	struct kr_soap_pool_stats before, after;
	struct peer p;
	pthread_t t = peer_start(&p, 1000);

	kr_soap_pool_stats(&before);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(call(&p), SOAP_OK);
	kr_soap_pool_stats(&after);
	ck_assert_int_eq(p.requests, 10);
	ck_assert_int_eq(p.accepted, 1);
	ck_assert_uint_eq(after.reused - before.reused, 9);
	ck_assert_uint_eq(after.connects - before.connects, 1);
	peer_stop(&p, t);
}
END_TEST

START_TEST(a_connection_the_peer_closed_is_not_reused)
{
	struct peer p;
	pthread_t t = peer_start(&p, 2);	/* closes every connection after 2 requests */

	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(call(&p), SOAP_OK);
		/* The event: the peer has closed the used-up connection (idle in the pool). */
		for (int w = 0; i % 2 == 1 && w < 5000 && peer_closed(&p) < (i + 1) / 2; w++)
			usleep(1000);
	}
	ck_assert_int_eq(p.requests, 6);
	ck_assert_int_eq(p.accepted, 3);
	peer_stop(&p, t);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("soap_pool", &tc);

	tcase_add_test(tc, calls_share_one_kept_alive_connection);
	tcase_add_test(tc, a_connection_the_peer_closed_is_not_reused);
	return kr_check_run(s);
}
