/*
 * soap_server.c - a threaded gSOAP listener with a bounded queue.
 *
 * The accept thread never blocks on a slow client: it hands each accepted
 * socket to a queue served by a fixed pool of workers, and drops (closes)
 * connections when the queue is full rather than letting them pile up.
 * Each worker keeps one gSOAP context for its whole life.  A kept-alive
 * connection keeps its worker between requests only while nobody else
 * waits for one, and for IDLE_TIMEOUT_S at most; each connection ends with
 * one log line (requests served, TLS handshake full or resumed).
 *
 * With TLS the worker does the handshake (bounded by the I/O timeout) and
 * gSOAP checks that the client presented a certificate the cloud CA
 * signed.  A client that speaks plain HTTP to a TLS port gets a short
 * plain-text 400 saying so, not just a closed connection.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "core/config.h"
#include "daemon/daemon.h"
#include "core/error.h"
#include "core/log.h"
#include "soap/soap_error.h"
#include "soap/soap_pool.h"
#include "soap/soap_server.h"

#define DEFAULT_WORKERS 8
#define DEFAULT_QUEUE 64
#define DEFAULT_TIMEOUT 30
/*
 * How long a kept-alive connection may sit idle between requests: longer
 * than a Karri client keeps one (KR_SOAP_POOL_IDLE_S), so the client, not
 * the server, is the one that drops it, and never a request in flight.
 */
#define IDLE_TIMEOUT_S (2 * KR_SOAP_POOL_IDLE_S)
#define IDLE_SLICE_MS 100

struct worker {
	struct kr_soap_server *srv;
	pthread_t thread;
	struct soap *soap;
	SOAP_SOCKET active;		/* the connection it serves, for shutdown */
	int requests;			/* served on the current connection */
	const char *tls_kind;		/* "" (plain), "resumed" or "full" handshake */
};

struct kr_soap_server {
	struct kr_soap_server_opts opts;
	struct soap *master;		/* owns the listening socket */
	pthread_mutex_t lock;
	pthread_cond_t nonempty;
	SOAP_SOCKET *queue;		/* ring of accepted sockets */
	int head, count;
	bool closing;
	struct worker *workers;
	int nworkers;
	struct kr_tls_files tls;	/* when opts.tls */
};

void
kr_soap_setup(struct soap *soap, int io_timeout_s)
{
	/* The one table generated from every contract (wsdl/soap_namespaces.c). */
	soap_set_namespaces(soap, namespaces);
	soap_set_mode(soap, SOAP_IO_KEEPALIVE | SOAP_C_UTFSTRING);
	soap->send_timeout = io_timeout_s;
	soap->recv_timeout = io_timeout_s;
	soap->connect_timeout = io_timeout_s;
	soap->transfer_timeout = 4 * io_timeout_s;	/* whole message, against trickling peers */
	soap->max_keep_alive = 10000;	/* gSOAP's default of 100 closes busy connections */
	soap->bind_flags = SO_REUSEADDR;
	soap->recv_maxlength = 16 * 1024 * 1024;	/* largest message accepted */
	kr_tls_soap_client(soap);	/* https:// peers: the cloud CA, our certificate */
}

int
kr_soap_not_implemented(struct soap *soap, const char *operation)
{
	kr_error("NotImplemented", "this Karri version does not implement %s yet", operation);
	return kr_soap_error_fault(soap);
}

/*
 * gSOAP hands a POST whose body is not SOAP to an HTTP-POST plugin (error
 * SOAP_POST) and sends nothing itself; Karri has no such plugin, so answer
 * with a Client fault and close, instead of leaving the client waiting.
 */
static int
reject_non_soap(struct soap *soap)
{
	soap->error = SOAP_OK;
	soap->version = 1;
	soap->keep_alive = 0;
	soap_clr_omode(soap, SOAP_IO_KEEPALIVE);
	kr_error("NotSOAP", "the request body is not a SOAP envelope");
	kr_soap_error_fault(soap);
	soap_send_fault(soap);
	return SOAP_FAULT;
}

static bool wait_next_request(struct worker *w);

/* The requests of one connection; w (a listener's worker) or NULL (a buffer). */
static int
serve_connection(struct soap *soap, const kr_soap_dispatch_fn *dispatchers, struct worker *w)
{
	bool first = true;

	soap->keep_alive = soap->max_keep_alive + 1;
	do {
		int rc = SOAP_NO_METHOD;

		if (w && !first && !wait_next_request(w))
			break;
		first = false;
		if (soap->keep_alive > 0 && soap->max_keep_alive > 0)
			soap->keep_alive--;
		if (soap_begin_serve(soap)) {
			if (soap->error == SOAP_POST)
				return reject_non_soap(soap);
			if (soap->error >= SOAP_STOP)	/* e.g. an HTTP GET already answered */
				continue;
			return soap->error;
		}
		if (w)
			w->requests++;
		/* Each dispatcher peeks at the body's first element; the peek is kept. */
		for (const kr_soap_dispatch_fn *d = dispatchers; *d && rc == SOAP_NO_METHOD; d++) {
			soap->error = SOAP_OK;
			rc = (*d)(soap);
		}
		if (rc == SOAP_NO_METHOD)
			soap->error = SOAP_NO_METHOD;
		if (rc != SOAP_OK && soap->error && soap->error < SOAP_STOP)
			return soap_send_fault(soap);
		soap_destroy(soap);
		soap_end(soap);
	} while (soap->keep_alive && !kr_daemon_stopping());
	return SOAP_OK;
}

int
kr_soap_serve(struct soap *soap, const kr_soap_dispatch_fn *dispatchers)
{
	return serve_connection(soap, dispatchers, NULL);
}

static bool
connections_waiting(struct kr_soap_server *srv)
{
	bool waiting;

	pthread_mutex_lock(&srv->lock);
	waiting = srv->count > 0;
	pthread_mutex_unlock(&srv->lock);
	return waiting;
}

/*
 * Between two requests of a kept-alive connection: true when the next one
 * is there.  False after IDLE_TIMEOUT_S, and at once when other connections
 * wait for a worker -- an idle connection must not keep a new one out (the
 * client sees the close before it reuses the connection: soap_pool.c).
 */
static bool
wait_next_request(struct worker *w)
{
	struct soap *soap = w->soap;
	int idle_ms = 0;

	if (soap->bufidx < soap->buflen || (soap->ssl && SSL_pending(soap->ssl) > 0))
		return true;	/* the next request is read already */
	while (!kr_daemon_stopping() && idle_ms < IDLE_TIMEOUT_S * 1000) {
		struct pollfd p = { .fd = soap->socket, .events = POLLIN };
		int n = poll(&p, 1, IDLE_SLICE_MS);

		if (n > 0)
			return true;	/* a request, or the client's close (begin_serve sees it) */
		if (n < 0 && errno != EINTR)
			return false;
		idle_ms += IDLE_SLICE_MS;
		if (connections_waiting(w->srv))
			return false;
	}
	return false;
}

static bool
dequeue(struct kr_soap_server *srv, SOAP_SOCKET *s, struct worker *w)
{
	pthread_mutex_lock(&srv->lock);
	while (srv->count == 0 && !srv->closing)
		pthread_cond_wait(&srv->nonempty, &srv->lock);
	/* Once closing, queued connections are closed unserved (stop_workers). */
	if (srv->closing) {
		pthread_mutex_unlock(&srv->lock);
		return false;
	}
	*s = srv->queue[srv->head];
	srv->head = (srv->head + 1) % srv->opts.queue_max;
	srv->count--;
	w->active = *s;
	pthread_mutex_unlock(&srv->lock);
	return true;
}

/*
 * A TLS client's first byte is a handshake record (0x16); a plain HTTP
 * request starts with a method name.  Peek (bounded by the I/O timeout) and
 * answer the latter in plain text, so `curl http://` says what is wrong.
 */
static bool
tls_hello(SOAP_SOCKET s, int timeout_s)
{
	static const char body[] =
	    "This Karri service speaks HTTPS with client certificates from the cloud CA.\r\n";
	struct pollfd p = { .fd = s, .events = POLLIN };
	unsigned char c;
	char answer[256];
	int n;

	if (poll(&p, 1, timeout_s * 1000) != 1 || recv(s, &c, 1, MSG_PEEK) != 1)
		return false;
	if (c == 0x16)
		return true;
	n = snprintf(answer, sizeof(answer), "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
	    sizeof(body) - 1, body);
	if (c >= 'A' && c <= 'Z' && send(s, answer, (size_t)n, MSG_NOSIGNAL) < 0)
		kr_log_debug("cannot tell a plain HTTP client to use TLS: %s", strerror(errno));
	return false;
}

/* "address:port" of the peer, for the log. */
static const char *
peer_name(SOAP_SOCKET s, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[64] = "?", port[8] = "?";

	if (getpeername(s, (struct sockaddr *)&ss, &sl) == 0)
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(buf, len, "%s:%s", host, port);
	return buf;
}

/* The TLS handshake of an accepted connection; false (logged) when it fails. */
static bool
tls_accept(struct worker *w, SOAP_SOCKET s)
{
	struct soap *soap = w->soap;
	char peer[80];

	peer_name(s, peer, sizeof(peer));	/* now: a refused handshake closes s */
	if (!tls_hello(s, w->srv->opts.io_timeout_s)) {
		kr_log_info("connection from %s: not a TLS client (plain HTTP?), closed", peer);
		return false;
	}
	if (soap_ssl_accept(soap) == SOAP_OK) {
		w->tls_kind = SSL_session_reused(soap->ssl) ? "resumed" : "full";
		return true;
	}
	kr_log_warnx("TLS handshake with %s refused: %s%s%s", peer,
	    *soap_faultstring(soap) ? *soap_faultstring(soap) : "error",
	    *soap_faultdetail(soap) ? ": " : "", *soap_faultdetail(soap) ? *soap_faultdetail(soap) : "");
	return false;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct kr_soap_server *srv = w->srv;
	SOAP_SOCKET s;

	while (dequeue(srv, &s, w)) {
		char peer[80];

		w->soap->socket = s;
		w->requests = 0;
		w->tls_kind = "";
		if (srv->opts.tls && !tls_accept(w, s))
			;	/* refused: closed below */
		else if (serve_connection(w->soap, srv->opts.dispatchers, w) != SOAP_OK &&
		    w->soap->error != SOAP_EOF)
			kr_log_debug("SOAP connection from %s ended: gSOAP error %d",
			    w->soap->host, w->soap->error);
		/* One line per connection: how many requests it carried, and how TLS began. */
		if (w->requests > 0)
			kr_log_info("SOAP connection from %s closed: %d request(s)%s%s",
			    peer_name(s, peer, sizeof(peer)), w->requests,
			    *w->tls_kind ? ", TLS " : "", w->tls_kind);
		soap_destroy(w->soap);
		soap_end(w->soap);
		pthread_mutex_lock(&srv->lock);
		w->active = SOAP_INVALID_SOCKET;
		pthread_mutex_unlock(&srv->lock);
		soap_force_closesock(w->soap);
	}
	return NULL;
}

struct kr_soap_server *
kr_soap_server_new(const struct kr_soap_server_opts *opts)
{
	struct kr_soap_server *srv = calloc(1, sizeof(*srv));
	const char *host;

	if (!srv) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	srv->opts = *opts;
	if (opts->tls) {
		srv->tls = *opts->tls;
		srv->opts.tls = &srv->tls;
	}
	if (srv->opts.workers <= 0)
		srv->opts.workers = DEFAULT_WORKERS;
	if (srv->opts.queue_max <= 0)
		srv->opts.queue_max = DEFAULT_QUEUE;
	if (srv->opts.io_timeout_s <= 0)
		srv->opts.io_timeout_s = DEFAULT_TIMEOUT;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->nonempty, NULL);
	srv->master = soap_new();
	srv->queue = calloc((size_t)srv->opts.queue_max, sizeof(*srv->queue));
	if (!srv->master || !srv->queue) {
		kr_error("InternalError", "out of memory");
		kr_soap_server_free(srv);
		return NULL;
	}
	kr_soap_setup(srv->master, srv->opts.io_timeout_s);
	srv->master->accept_timeout = 1;	/* wake up every second to see a stop */
	srv->master->user = opts->user;
	if (srv->opts.tls && kr_tls_soap_server(srv->master, srv->opts.tls) < 0) {
		kr_soap_server_free(srv);
		return NULL;
	}
	host = opts->bind_address && strcmp(opts->bind_address, "0.0.0.0") != 0 ?
	    opts->bind_address : NULL;
	if (!soap_valid_socket(soap_bind(srv->master, host, opts->port, 128))) {
		errno = srv->master->errnum;
		kr_error_errno("InternalError", "cannot listen on %s:%d",
		    host ? host : "0.0.0.0", opts->port);
		kr_soap_server_free(srv);
		return NULL;
	}
	return srv;
}

static int
start_workers(struct kr_soap_server *srv)
{
	srv->workers = calloc((size_t)srv->opts.workers, sizeof(*srv->workers));
	if (!srv->workers) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	for (int i = 0; i < srv->opts.workers; i++) {
		struct worker *w = &srv->workers[i];

		w->srv = srv;
		w->active = SOAP_INVALID_SOCKET;
		w->soap = soap_copy(srv->master);
		if (w->soap && srv->master->ctx) {
			/* Each copy holds its own reference to the one server context. */
			SSL_CTX_up_ref(srv->master->ctx);
			w->soap->ctx = srv->master->ctx;
			w->soap->ssl = NULL;
			w->soap->accept_timeout = srv->opts.io_timeout_s;	/* the handshake's bound */
		}
		if (!w->soap || pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			if (w->soap)
				soap_free(w->soap);
			w->soap = NULL;
			kr_error("InternalError", "cannot start SOAP worker %d", i);
			return -1;
		}
		srv->nworkers++;
	}
	return 0;
}

/* Stop the workers: no new work, wake the idle, cut the connections in progress. */
static void
stop_workers(struct kr_soap_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	srv->closing = true;
	pthread_cond_broadcast(&srv->nonempty);
	for (int i = 0; i < srv->nworkers; i++)
		if (soap_valid_socket(srv->workers[i].active))
			shutdown(srv->workers[i].active, SHUT_RDWR);
	pthread_mutex_unlock(&srv->lock);
	for (int i = 0; i < srv->nworkers; i++) {
		pthread_join(srv->workers[i].thread, NULL);
		soap_free(srv->workers[i].soap);
	}
	srv->nworkers = 0;
	/* Connections still queued were never served: close them. */
	while (srv->count > 0) {
		close(srv->queue[srv->head]);
		srv->head = (srv->head + 1) % srv->opts.queue_max;
		srv->count--;
	}
}

int
kr_soap_server_run(struct kr_soap_server *srv)
{
	if (start_workers(srv) < 0) {
		stop_workers(srv);
		return -1;
	}
	while (!kr_daemon_stopping()) {
		SOAP_SOCKET s = soap_accept(srv->master);

		if (!soap_valid_socket(s)) {
			if (srv->master->errnum != 0 && srv->master->errnum != EINTR)
				kr_log_warnx("accept failed: gSOAP error %d", srv->master->error);
			continue;
		}
		pthread_mutex_lock(&srv->lock);
		if (srv->count == srv->opts.queue_max) {
			pthread_mutex_unlock(&srv->lock);
			kr_log_warnx("%d connections waiting already: dropping one from %s",
			    srv->opts.queue_max, srv->master->host);
			close(s);
			continue;
		}
		srv->queue[(srv->head + srv->count) % srv->opts.queue_max] = s;
		srv->count++;
		pthread_cond_signal(&srv->nonempty);
		pthread_mutex_unlock(&srv->lock);
		srv->master->socket = SOAP_INVALID_SOCKET;	/* the worker owns it now */
	}
	stop_workers(srv);
	return 0;
}

void
kr_soap_server_free(struct kr_soap_server *srv)
{
	if (!srv)
		return;
	if (srv->nworkers)
		stop_workers(srv);
	if (srv->master) {
		soap_destroy(srv->master);
		soap_end(srv->master);
		soap_free(srv->master);
	}
	free(srv->workers);
	free(srv->queue);
	pthread_cond_destroy(&srv->nonempty);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

struct kr_soap_server *
kr_soap_daemon_listen(struct kr_daemon *d, const kr_soap_dispatch_fn *dispatchers)
{
	struct kr_soap_server_opts opts = {
		.bind_address = d->bind_address,
		.port = d->port,
		.io_timeout_s = (int)kr_config_int(d->cfg, "SOAP_TIMEOUT"),
		.dispatchers = dispatchers,
		.user = d,
	};
	const char *role = kr_tls_role(d->name);
	struct kr_tls_files files;
	struct kr_soap_server *srv;

	if (!kr_config_bool(d->cfg, "KARRI_INSECURE_HTTP") && role) {
		kr_tls_files(d->home, role, &files);
		opts.tls = &files;
	}
	if ((srv = kr_soap_server_new(&opts)) == NULL)
		kr_daemon_fatal(d, kr_error_message());
	return srv;
}

void
kr_soap_server_set_user(struct kr_soap_server *srv, void *user)
{
	srv->opts.user = user;
	srv->master->user = user;
}

void
kr_soap_daemon_serve(struct kr_daemon *d, struct kr_soap_server *srv)
{
	kr_log_info("serving SOAP%s on %s:%d", srv->opts.tls ? " over mutual TLS" : " over plain HTTP",
	    d->bind_address ? d->bind_address : "0.0.0.0", d->port);
	kr_soap_server_run(srv);
	kr_soap_server_free(srv);
}
