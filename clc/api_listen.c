/*
 * api_listen.c - the CLC's listeners: HTTP on CLC_PORT and, when the cloud CA
 * has made the CLC a certificate, HTTPS on CLC_HTTPS_PORT.
 *
 * Both serve the same handler (clc_route) with the same limits.  HTTPS is
 * libevent's OpenSSL bufferevents under evhttp (evhttp_set_bevcb); the
 * certificate is $KARRI_HOME/var/lib/karri/keys/clc-cert.pem with its key
 * clc-pk.pem, which `karri` makes with the CA (tools/karri_ca.c) the first time
 * it creates the CA.  Without them the CLC serves HTTP only and says so.
 * (The same certificate is the CLC's client identity towards the CC and
 * EBS over mutual TLS: common/tls/tls.h.)
 */
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "clc.h"
#include "core/config.h"
#include "daemon/daemon.h"
#include "core/error.h"
#include "http/http_server.h"
#include "core/log.h"
#include "tls/tls.h"

struct evhttp *
clc_http_new(struct clc *clc, int port)
{
	struct kr_daemon *d = clc->daemon;
	int fd = kr_http_listen(d->bind_address, port);
	struct evhttp *http;

	if (fd < 0)
		kr_daemon_fatal(d, kr_error_message());
	http = evhttp_new(clc->base);
	if (!http || evhttp_accept_socket_with_handle(http, fd) == NULL)
		kr_daemon_fatal(d, "cannot set up the HTTP server");
	evhttp_set_max_body_size(http, CLC_MAX_REQUEST);
	evhttp_set_max_headers_size(http, 64u << 10);
	evhttp_set_timeout(http, 60);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_PUT);	/* PUT: IMDSv2 tokens (metadata.c) */
	evhttp_set_gencb(http, clc_route, clc);
	kr_log_info("serving %s on %s:%d", port == d->port ? "HTTP" : "HTTPS",
	    d->bind_address ? d->bind_address : "0.0.0.0", port);
	return http;
}

static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
}

/* The HTTPS listener, or NULL (logged) when there is no certificate yet. */
struct evhttp *
clc_https_new(struct clc *clc, SSL_CTX **ctxp)
{
	struct kr_daemon *d = clc->daemon;
	char cert[1024], key[1024];
	struct evhttp *http;

	*ctxp = NULL;
	if (kr_daemon_path(d, "var/lib/karri/keys/clc-cert.pem", cert, sizeof(cert)) < 0 ||
	    kr_daemon_path(d, "var/lib/karri/keys/clc-pk.pem", key, sizeof(key)) < 0 ||
	    access(cert, R_OK) != 0) {
		kr_log_info("HTTPS is off: no %s yet (`karri` makes it with the cloud CA)", cert);
		return NULL;
	}
	if ((*ctxp = kr_tls_ctx_new(cert, key, true)) == NULL)
		kr_daemon_fatal(d, kr_error_message());
	http = clc_http_new(clc, (int)kr_config_int(clc->cfg, "CLC_HTTPS_PORT"));
	evhttp_set_bevcb(http, tls_bev, *ctxp);
	return http;
}
