/*
 * soap_server.h - serving SOAP contracts with gSOAP.
 *
 * Two ways in, one dispatch: the CC, NC and EBS own a gSOAP listener
 * (kr_soap_server_*: one accept thread, a fixed pool of workers, a bounded
 * queue of accepted connections, keep-alive, I/O timeouts); the CLC and
 * Walrus feed SOAP requests that arrive on their libevent HTTP front end
 * through kr_soap_http_handle() (soap_http.c).  Either way a request is
 * offered to a list of dispatchers (the generated <svc>_serve_request
 * functions) in order until one knows its element.
 *
 * A daemon's listener speaks mutual TLS (tls.h) unless its config has
 * KARRI_INSECURE_HTTP="Y": the handshake runs in the worker, so a slow
 * or hostile client never holds up the accept thread.
 */
#ifndef KARRI_SOAP_SERVER_H
#define KARRI_SOAP_SERVER_H

#include <stdsoap2.h>

#include "tls/tls.h"

typedef int (*kr_soap_dispatch_fn)(struct soap *soap);

struct kr_soap_server_opts {
	const char *bind_address;	/* NULL or "0.0.0.0": all */
	int port;
	int workers;			/* 0: 8 */
	int queue_max;			/* accepted connections waiting for a worker; 0: 64 */
	int io_timeout_s;		/* per send/recv (idle keep-alive: 20 s); 0: 30 */
	const kr_soap_dispatch_fn *dispatchers;	/* NULL-terminated, tried in order */
	void *user;			/* becomes soap->user in the operations */
	const struct kr_tls_files *tls;	/* NULL: plain HTTP; else mutual TLS with these */
};

struct kr_soap_server;

/* Bind and listen; NULL with kr_error() naming address and port when it cannot. */
struct kr_soap_server *kr_soap_server_new(const struct kr_soap_server_opts *opts);

/* Serve until kr_daemon_stopping(); then finish in-flight requests and return. */
int kr_soap_server_run(struct kr_soap_server *srv);

void kr_soap_server_free(struct kr_soap_server *srv);

/*
 * Serve the requests of one connection (or one buffered request) on `soap`
 * with the dispatchers: keep-alive aware, sends a fault for an element no
 * dispatcher knows.  Returns SOAP_OK or the gSOAP error.
 */
int kr_soap_serve(struct soap *soap, const kr_soap_dispatch_fn *dispatchers);

/* Configure a gSOAP context as every Karri client and server uses it. */
void kr_soap_setup(struct soap *soap, int io_timeout_s);

/* Answer an operation the daemon does not implement yet, honestly. */
int kr_soap_not_implemented(struct soap *soap, const char *operation);

/* Copy the correlationId/userId of a request into its response. */
#define KR_SOAP_ECHO(resp, req) do { \
	(resp)->correlationId = (req) ? (req)->correlationId : NULL; \
	(resp)->userId = (req) ? (req)->userId : NULL; \
} while (0)

struct kr_daemon;

/*
 * Listen on the daemon's port (TLS unless KARRI_INSECURE_HTTP), or exit 1
 * saying why (e.g. it is taken, or a certificate does not load).  A
 * daemon calls this before it starts anything else (threads, dnsmasq,
 * domains), so a second copy started by mistake changes nothing.
 */
struct kr_soap_server *kr_soap_daemon_listen(struct kr_daemon *d,
    const kr_soap_dispatch_fn *dispatchers);

/*
 * What the operations find in soap->user: the struct kr_daemon unless the
 * daemon hands over a context of its own (EBS: struct ebs) here, before
 * kr_soap_daemon_serve() starts the workers (each copies it then).
 */
void kr_soap_server_set_user(struct kr_soap_server *srv, void *user);

/* Serve until SIGTERM, stop the workers and free the server. */
void kr_soap_daemon_serve(struct kr_daemon *d, struct kr_soap_server *srv);


/*
 * Define a contract operation this version does not implement yet: it answers
 * with a NotImplemented fault, never a silent success.  Replace the line with
 * the real function when the operation is built.
 */
#define KR_SOAP_NOT_IMPLEMENTED(svc, op) \
int __##svc##__##op(struct soap *soap, struct _##svc##__##op *req, \
    struct _##svc##__##op##Response *resp) \
{ \
	KR_SOAP_ECHO(resp, req); \
	return kr_soap_not_implemented(soap, #op); \
}

#endif
