/*
 * serve.c - karri-ncsim's connections.  They are kept alive (the CC holds
 * one per node): an epoll loop (main.c) watches them all and hands a
 * readable one to a small pool of workers, which serve exactly one request
 * and give it back.  A thousand idle keep-alive connections therefore cost
 * a thousand fds, not threads.
 *
 * --tls HOME serves mutual TLS as karri-nc does (HOME/var/lib/karri/keys/
 * node-cert.pem, node-pk.pem, ca-cert.pem; common/tls/tls.h): each kept-alive
 * connection keeps its OpenSSL state beside its fd (sim.tls_conn[fd]).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dispatch.h"
#include "core/error.h"
#include "core/log.h"
#include "soap/soap_server.h"
#include "ncsim.h"

static struct sim_node *
node_for_socket(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	long k;

	if (sim.nodes == 1)
		return &sim.node[0];
	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0 || a.sin_family != AF_INET)
		return NULL;
	k = (long)ntohl(a.sin_addr.s_addr) - (long)sim.first;
	return k >= 0 && k < sim.nodes ? &sim.node[k] : NULL;
}

/* Close a connection, with its TLS state. */
void
ncsim_conn_close(int fd)
{
	if (sim.tls_conn && fd < sim.tls_max) {
		kr_tls_free(sim.tls_conn[fd]);
		sim.tls_conn[fd] = NULL;
	}
	close(fd);
}

void
ncsim_arm(int fd, int op)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT | EPOLLRDHUP, .data.fd = fd };

	if (epoll_ctl(sim.epfd, op, fd, &ev) < 0)
		ncsim_conn_close(fd);
}

/* Give soap the connection's TLS state, shaking hands on its first request. */
static bool
tls_begin(struct soap *soap, int fd)
{
	if (!sim.tls_conn)
		return true;
	if (fd >= sim.tls_max)
		return false;
	if (sim.tls_conn[fd]) {
		kr_tls_soap_lend(soap, sim.tls_conn[fd]);
		sim.tls_conn[fd] = NULL;
		return true;
	}
	if (soap_ssl_accept(soap) == SOAP_OK)
		return true;
	kr_log_info("ncsim: TLS handshake refused: %s", *soap_faultstring(soap) ?
	    *soap_faultstring(soap) : "error");
	return false;
}

void
ncsim_enqueue(int fd)
{
	pthread_mutex_lock(&sim.qlock);
	if (sim.qcount == QUEUE_MAX) {
		pthread_mutex_unlock(&sim.qlock);
		ncsim_conn_close(fd);
		return;
	}
	sim.queue[(sim.qhead + sim.qcount++) % QUEUE_MAX] = fd;
	pthread_cond_signal(&sim.qcond);
	pthread_mutex_unlock(&sim.qlock);
}

/* Serve one request on fd; true when the connection stays open. */
static bool
serve_one(struct soap *soap, int fd)
{
	struct sim_node *n = node_for_socket(fd);
	bool keep;
	int rc;

	pthread_mutex_lock(&sim.lock);
	if (n && n->off && !ncsim_wake)
		n = NULL;
	pthread_mutex_unlock(&sim.lock);
	if (!n) {
		ncsim_conn_close(fd);	/* a switched-off host: the connection just dies */
		return false;
	}
	soap->socket = fd;
	soap->user = n;
	soap->keep_alive = 2;	/* gSOAP counts it down per request: allow this one and more */
	soap->error = SOAP_OK;
	if (!tls_begin(soap, fd) || soap_begin_serve(soap)) {
		keep = false;
	} else {
		rc = nc_serve_request(soap);
		if (rc == SOAP_NO_METHOD)
			soap->error = SOAP_NO_METHOD;
		if (rc != SOAP_OK && soap->error && soap->error < SOAP_STOP)
			soap_send_fault(soap);
		keep = soap->keep_alive != 0 && soap_valid_socket(soap->socket) && rc == SOAP_OK;
	}
	soap_destroy(soap);
	soap_end(soap);
	if (sim.tls_conn)
		sim.tls_conn[fd] = kr_tls_soap_take(soap);
	if (!soap_valid_socket(soap->socket)) {
		keep = false;	/* gSOAP closed it already */
		if (sim.tls_conn) {
			kr_tls_free(sim.tls_conn[fd]);
			sim.tls_conn[fd] = NULL;
		}
	} else if (!keep) {
		ncsim_conn_close(fd);
	}
	soap->socket = SOAP_INVALID_SOCKET;
	return keep;
}

void *
ncsim_worker(void *arg)
{
	struct soap *soap = soap_new();

	(void)arg;
	kr_soap_setup(soap, 30);
	if (sim.tls_files && kr_tls_soap_server(soap, sim.tls_files) < 0) {
		fprintf(stderr, "ncsim: %s\n", kr_error_message());
		exit(1);
	}
	soap->accept_timeout = 10;	/* bounds the handshake */
	for (;;) {
		int fd;

		pthread_mutex_lock(&sim.qlock);
		while (sim.qcount == 0)
			pthread_cond_wait(&sim.qcond, &sim.qlock);
		fd = sim.queue[sim.qhead];
		sim.qhead = (sim.qhead + 1) % QUEUE_MAX;
		sim.qcount--;
		pthread_mutex_unlock(&sim.qlock);
		if (serve_one(soap, fd))
			ncsim_arm(fd, EPOLL_CTL_MOD);
	}
	return NULL;
}

/* Fill each node with `per_node` m1.small-like instances. */
