/*
 * nc_client.c - calling a node controller: one kept-alive connection per
 * node, lent to whichever thread calls it.
 *
 * gSOAP keeps a connection open per context, not per peer, and a context
 * (with its 64 KiB buffer) per node would cost a thousand contexts at 1,000
 * nodes.  So each node owns only a socket; a caller (a polling worker or an
 * operation) puts it into its own context for one call and takes it back.
 * gSOAP reuses an open socket when keep-alive is on and the endpoint's host
 * and port equal the context's last ones, which is what cc_nc_begin sets up.
 * When the connection is lent already (a poll and a RunInstances at once),
 * the second caller simply opens a connection of its own for that call.
 * Over TLS the connection is the socket plus its OpenSSL state (n->ssl):
 * they are lent and taken back together, so a kept-alive connection costs
 * one handshake for its whole life.
 */
#include <string.h>
#include <unistd.h>

#include "karriH.h"
#include "cc.h"
#include "core/error.h"
#include "core/log.h"
#include "soap/soap_pool.h"
#include "soap/soap_server.h"

struct soap *
cc_nc_soap_new(int timeout_s)
{
	struct soap *soap = soap_new();

	if (!soap) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	kr_soap_setup(soap, timeout_s);
	soap->transfer_timeout = 2 * timeout_s;	/* one bound on the whole call */
	/* A node on the LAN accepts in milliseconds; a dead one should cost little. */
	soap->connect_timeout = timeout_s < 3 ? timeout_s : 3;
	return soap;
}

bool
cc_nc_begin(struct soap *soap, struct cc_node *n)
{
	bool borrowed = false;
	void *ssl = NULL;
	int fd = -1;

	pthread_mutex_lock(&cc.lock);
	cc_node_hold(n);
	if (!n->busy) {
		n->busy = borrowed = true;
		fd = n->fd;
		ssl = n->ssl;
		n->fd = -1;
		n->ssl = NULL;
	}
	pthread_mutex_unlock(&cc.lock);
	if (fd >= 0 && !kr_soap_conn_alive(fd, ssl)) {
		/* The node closed it while idle (soap_server.c): a new one, not a failed call. */
		kr_tls_free(ssl);
		close(fd);
		fd = -1;
		ssl = NULL;
	}
	soap->socket = fd >= 0 ? fd : SOAP_INVALID_SOCKET;
	kr_tls_soap_lend(soap, fd >= 0 ? ssl : NULL);
	if (fd >= 0) {
		/* gSOAP reuses the socket only for the same host and port as before. */
		soap->keep_alive = -1;
		snprintf(soap->host, sizeof(soap->host), "%s", n->host);
		soap->port = n->port;
	} else {
		soap->keep_alive = 0;
	}
	return borrowed;
}

void
cc_nc_end(struct soap *soap, struct cc_node *n, bool borrowed, bool ok)
{
	int fd = soap_valid_socket(soap->socket) ? soap->socket : -1;
	bool keep = borrowed && ok && fd >= 0 && soap->keep_alive != 0;
	void *ssl = kr_tls_soap_take(soap);

	soap->socket = SOAP_INVALID_SOCKET;
	if (!keep) {
		kr_tls_free(ssl);
		if (fd >= 0)
			close(fd);
	}
	pthread_mutex_lock(&cc.lock);
	if (borrowed) {
		n->busy = false;
		if (keep && !n->removed) {
			n->fd = fd;
			n->ssl = ssl;
		} else if (keep) {
			kr_tls_free(ssl);
			close(fd);
		}
	}
	cc_node_release(n);
	pthread_mutex_unlock(&cc.lock);
	soap_destroy(soap);
	soap_end(soap);
}
