/*
 * soap_pool.c - kept-alive connections and TLS sessions to SOAP peers (see
 * soap_pool.h).
 *
 * gSOAP keeps one connection per context and forgets it with the context;
 * the CLC makes a context per call on whichever worker runs it.  So the
 * connections (a socket plus its OpenSSL state, as cc/nc_client.c lends
 * them) and the last TLS session of each peer live here instead, keyed by
 * scheme, host and port, under one lock held only to take or give back.
 *
 * A new connection resumes the peer's session through gSOAP's own
 * soap->session (tcp_connect sets it on the SSL before connecting when
 * its host and port match), so verification of the peer stays gSOAP's.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "soap/soap_pool.h"
#include "tls/tls.h"

struct idle_conn {
	SOAP_SOCKET fd;
	void *ssl;
	time_t since;
};

struct peer {
	bool tls;
	char host[SOAP_TAGLEN];
	int port;
	time_t used;
	SSL_SESSION *session;		/* the last one the peer gave; NULL: none */
	int nidle;
	struct idle_conn idle[KR_SOAP_POOL_IDLE];
};

static struct {
	pthread_mutex_t lock;
	struct peer peers[KR_SOAP_POOL_PEERS];
	int npeers;
	struct kr_soap_pool_stats stats;
	SOAP_SOCKET (*connect)(struct soap *, const char *, const char *, int);
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

static time_t
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void
conn_close(struct idle_conn *c)
{
	kr_tls_free(c->ssl);
	close(c->fd);
}

static void
peer_forget(struct peer *p)
{
	for (int i = 0; i < p->nidle; i++)
		conn_close(&p->idle[i]);
	SSL_SESSION_free(p->session);
	memset(p, 0, sizeof(*p));
}

/* The peer's slot (lock held); a new one when make, evicting the least recently used. */
static struct peer *
peer_find(bool tls, const char *host, int port, bool make)
{
	struct peer *oldest = NULL, *p;

	for (int i = 0; i < pool.npeers; i++) {
		p = &pool.peers[i];
		if (p->tls == tls && p->port == port && strcmp(p->host, host) == 0)
			return p;
		if (!oldest || p->used < oldest->used)
			oldest = p;
	}
	if (!make)
		return NULL;
	if (pool.npeers < KR_SOAP_POOL_PEERS)
		p = &pool.peers[pool.npeers++];
	else
		peer_forget(p = oldest);
	p->tls = tls;
	snprintf(p->host, sizeof(p->host), "%s", host);
	p->port = port;
	p->used = now_s();
	return p;
}

/*
 * An idle connection is usable when the peer has neither closed it nor sent
 * anything since (a server's close arrives as readable EOF): otherwise the
 * request would go into a connection the peer is tearing down.
 */
bool
kr_soap_conn_alive(SOAP_SOCKET fd, void *ssl)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	if (ssl && SSL_pending(ssl) > 0)
		return false;
	return poll(&p, 1, 0) == 0;
}

static bool
conn_alive(const struct idle_conn *c, time_t now)
{
	return now - c->since < KR_SOAP_POOL_IDLE_S && kr_soap_conn_alive(c->fd, c->ssl);
}

static bool
is_tls(const char *endpoint)
{
	return endpoint && strncmp(endpoint, "https:", 6) == 0;
}

/* gSOAP's fopen: an idle connection to the peer, or a new one resuming its session. */
static SOAP_SOCKET
pool_fopen(struct soap *soap, const char *endpoint, const char *host, int port)
{
	bool tls = is_tls(endpoint);
	struct idle_conn got = { .fd = SOAP_INVALID_SOCKET };
	time_t now = now_s();
	SSL_SESSION *session;
	struct peer *p;
	SOAP_SOCKET fd;

	pthread_mutex_lock(&pool.lock);
	if ((p = peer_find(tls, host, port, false)) != NULL) {
		p->used = now;
		while (p->nidle > 0 && !soap_valid_socket(got.fd)) {
			struct idle_conn c = p->idle[--p->nidle];	/* the newest first */

			if (conn_alive(&c, now))
				got = c;
			else
				conn_close(&c);
		}
		if (!soap_valid_socket(got.fd) && tls && p->session &&
		    SSL_SESSION_up_ref(p->session) == 1) {
			SSL_SESSION_free(soap->session);
			soap->session = p->session;
			snprintf(soap->session_host, sizeof(soap->session_host), "%s", host);
			soap->session_port = port;
		}
	}
	if (soap_valid_socket(got.fd))
		pool.stats.reused++;
	pthread_mutex_unlock(&pool.lock);
	if (soap_valid_socket(got.fd)) {
		kr_tls_soap_lend(soap, got.ssl);
		return got.fd;
	}
	fd = pool.connect(soap, endpoint, host, port);
	/*
	 * The session now, so that a second connection opened before this one
	 * is given back can resume it (TLS 1.2; a TLS 1.3 ticket arrives with
	 * the answer and is taken in kr_soap_pool_put).
	 */
	session = soap_valid_socket(fd) && soap->ssl ? SSL_get1_session(soap->ssl) : NULL;
	if (session && !SSL_SESSION_is_resumable(session)) {
		SSL_SESSION_free(session);
		session = NULL;
	}
	pthread_mutex_lock(&pool.lock);
	if (soap_valid_socket(fd)) {
		pool.stats.connects++;
		if (soap->ssl && SSL_session_reused(soap->ssl))
			pool.stats.resumed++;
		else if (soap->ssl)
			pool.stats.full_handshakes++;
	}
	if (session && (p = peer_find(true, host, port, true)) != NULL) {
		SSL_SESSION_free(p->session);
		p->session = session;
		session = NULL;
	}
	pthread_mutex_unlock(&pool.lock);
	SSL_SESSION_free(session);
	return fd;
}

/*
 * KARRI_SOAP_POOL=0 in the environment: every call makes its own connection,
 * as before the pool -- the anchor a measurement compares against.
 */
static bool
pool_disabled(void)
{
	const char *v = getenv("KARRI_SOAP_POOL");

	return v && strcmp(v, "0") == 0;
}

void
kr_soap_pool_use(struct soap *soap)
{
	if (pool_disabled())
		return;
	pthread_mutex_lock(&pool.lock);
	if (pool.connect == NULL && soap->fopen != pool_fopen)
		pool.connect = soap->fopen;	/* gSOAP's tcp_connect, the same in every context */
	pthread_mutex_unlock(&pool.lock);
	soap->fopen = pool_fopen;
	soap->omode |= SOAP_IO_KEEPALIVE;
	soap->imode |= SOAP_IO_KEEPALIVE;
}

void
kr_soap_pool_put(struct soap *soap, bool ok)
{
	SOAP_SOCKET fd = soap->socket;
	bool keep = ok && soap_valid_socket(fd) && soap->keep_alive != 0 &&
	    soap->error == SOAP_OK && soap->fopen == pool_fopen;
	SSL *ssl = kr_tls_soap_take(soap);
	SSL_SESSION *session = ssl ? SSL_get1_session(ssl) : NULL;
	struct idle_conn c = { .fd = fd, .ssl = ssl, .since = now_s() };
	struct peer *p = NULL;

	soap->socket = SOAP_INVALID_SOCKET;
	if (session == NULL && soap->session) {
		/* gSOAP closed the connection itself and kept its session. */
		session = soap->session;
		soap->session = NULL;
	}
	if (session && !SSL_SESSION_is_resumable(session)) {
		SSL_SESSION_free(session);
		session = NULL;
	}
	pthread_mutex_lock(&pool.lock);
	/* soap->endpoint is cleared by then: TLS is what the connection had. */
	if (soap->host[0] && (session || keep))
		p = peer_find(ssl || session, soap->host, soap->port, true);
	if (p && session) {
		SSL_SESSION_free(p->session);
		p->session = session;
		session = NULL;
	}
	if (p && keep && p->nidle < KR_SOAP_POOL_IDLE) {
		p->idle[p->nidle++] = c;
		c.fd = SOAP_INVALID_SOCKET;
	}
	pthread_mutex_unlock(&pool.lock);
	SSL_SESSION_free(session);
	if (soap_valid_socket(c.fd))
		conn_close(&c);
	else if (!keep && c.ssl)
		kr_tls_free(c.ssl);
}

void
kr_soap_pool_stats(struct kr_soap_pool_stats *out)
{
	pthread_mutex_lock(&pool.lock);
	*out = pool.stats;
	pthread_mutex_unlock(&pool.lock);
}

void
kr_soap_pool_flush(void)
{
	pthread_mutex_lock(&pool.lock);
	for (int i = 0; i < pool.npeers; i++)
		peer_forget(&pool.peers[i]);
	pool.npeers = 0;
	pthread_mutex_unlock(&pool.lock);
}
