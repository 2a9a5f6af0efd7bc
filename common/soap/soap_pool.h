/*
 * soap_pool.h - kept-alive connections and TLS sessions to SOAP peers,
 * shared by the threads of a process (the CLC's backend workers).
 *
 * A call that made a new mutual-TLS connection for every request paid a
 * TCP connect and a full RSA handshake each time (about 4 ms).  Here a
 * context made with kr_soap_pool_use() asks the pool first when gSOAP
 * opens a connection (its fopen callback): an idle connection to the same
 * scheme, host and port is lent to it; else a new one is made, resuming
 * the TLS session last seen with that peer.  kr_soap_pool_put() gives the
 * connection back after the call when the peer kept it open and the call
 * ended well.
 *
 * Bounded: KR_SOAP_POOL_IDLE idle connections per peer, KR_SOAP_POOL_PEERS
 * peers (the least recently used one is forgotten), and an idle connection
 * is closed after KR_SOAP_POOL_IDLE_S seconds -- well before a Karri
 * server gives up on it (soap_server.c) -- or when the peer closed it.
 */
#ifndef KARRI_SOAP_POOL_H
#define KARRI_SOAP_POOL_H

#include <stdbool.h>

#include <stdsoap2.h>

#define KR_SOAP_POOL_IDLE 4
#define KR_SOAP_POOL_PEERS 64
#define KR_SOAP_POOL_IDLE_S 10

/*
 * Make soap's connections come from (and go back to) the pool; not when
 * the environment has KARRI_SOAP_POOL=0 (a measurement's anchor run).
 */
void kr_soap_pool_use(struct soap *soap);

/*
 * After the call (before soap_destroy/soap_end/soap_free): the connection
 * back to the pool when the peer keeps it open and ok, else closed.
 */
void kr_soap_pool_put(struct soap *soap, bool ok);

/*
 * An idle kept-alive connection the peer has neither closed nor written to
 * since: safe to send a request into.  (Also for cc/nc_client.c's own
 * per-node connections.)
 */
bool kr_soap_conn_alive(SOAP_SOCKET fd, void *ssl);

/* What the pool did since the process started (tests, bench, log). */
struct kr_soap_pool_stats {
	unsigned long reused;		/* calls that took an idle connection */
	unsigned long connects;		/* new connections made */
	unsigned long resumed;		/* ... of which resumed a TLS session */
	unsigned long full_handshakes;	/* ... of which made a new TLS session */
};
void kr_soap_pool_stats(struct kr_soap_pool_stats *out);

/* Close every idle connection and forget the sessions (shutdown, tests). */
void kr_soap_pool_flush(void);

#endif
