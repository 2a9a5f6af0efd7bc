/*
 * main.c - karri-clc: the cloud controller.
 *
 * Users reach the CLC with EC2 tools over HTTP; other daemons and the admin
 * CLI reach its DescribeService over SOAP on the same port.  The CLC runs
 * its own event loop (not Walrus's httpd.c) because besides its evhttp
 * servers it owns a timer, the reconciliation of instance state with the
 * CCs, and an HTTPS listener (api_listen.c).
 */
#include <signal.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "clc.h"
#include "clc_backend.h"
#include "clc_run.h"
#include "core/config.h"
#include "daemon/daemon.h"
#include "core/db.h"
#include "core/error.h"
#include "http/http_server.h"
#include "core/log.h"
#include "core/sizes.h"

static void
on_stop_signal(evutil_socket_t sig, short events, void *arg)
{
	(void)events;
	kr_log_info("signal %d: stopping", (int)sig);
	kr_daemon_request_stop();
	event_base_loopbreak(arg);
}

static void
on_reconcile(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	clc_reconcile(arg);
}

static void
open_state(struct clc *clc)
{
	const char *path = kr_config_get(clc->cfg, "CLC_DB");
	const char *users = kr_config_get(clc->cfg, "USERS_DB");
	char dir[KR_DIR_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		kr_mkdir_p(dir);
	}
	if (clc_db_open(path, &clc->db) < 0 || kr_userdb_open(users, &clc->users) < 0)
		kr_daemon_fatal(clc->daemon, kr_error_message());
	if (clc_addresses_sync(clc) < 0 || clc_run_forget_unfinished(clc->db) < 0)
		kr_daemon_fatal(clc->daemon, kr_error_message());
}

static void
serve(struct clc *clc)
{
	struct kr_daemon *d = clc->daemon;
	struct evhttp *http, *https;
	struct event *sigterm, *sigint, *timer;
	struct timeval every = { .tv_sec = CLC_RECONCILE_S };
	SSL_CTX *tls;

	if ((clc->base = event_base_new()) == NULL)
		kr_daemon_fatal(d, "cannot set up the event loop");
	if (clc_backend_init(clc->base, clc->max_backend_calls) < 0)
		kr_daemon_fatal(d, kr_error_message());
	http = clc_http_new(clc, d->port);
	https = clc_https_new(clc, &tls);
	sigterm = evsignal_new(clc->base, SIGTERM, on_stop_signal, clc->base);
	sigint = evsignal_new(clc->base, SIGINT, on_stop_signal, clc->base);
	timer = event_new(clc->base, -1, EV_PERSIST, on_reconcile, clc);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_add(timer, &every);
	event_active(timer, EV_TIMEOUT, 0);	/* first poll now, not in CLC_RECONCILE_S */
	if (!kr_daemon_stopping())
		event_base_dispatch(clc->base);
	event_free(timer);
	event_free(sigterm);
	event_free(sigint);
	if (https)
		evhttp_free(https);
	SSL_CTX_free(tls);
	evhttp_free(http);
	event_base_free(clc->base);
}

/*
 * The CLC needs nothing of root's (ports above 1024, its own files): it runs
 * as EUCA_USER with what it writes and the keys it reads (daemon.h).
 */
static const struct kr_daemon_path clc_user_paths[] = {
	{ "CLC_DB", KR_OWN_DB },
	{ "USERS_DB", KR_OWN_DB },
	{ "KARRI_CLOUD_KEY", KR_OWN_FILE },	/* instance identity documents */
	{ "KARRI_CLOUD_CERT", KR_OWN_FILE },
	{ "var/lib/karri/keys/clc-cert.pem", KR_OWN_FILE },	/* HTTPS, TLS client */
	{ "var/lib/karri/keys/clc-pk.pem", KR_OWN_FILE },
	{ NULL, KR_OWN_FILE },
};

int
main(int argc, char **argv)
{
	struct kr_daemon d = {
		.name = "karri-clc",
		.port_key = "CLC_PORT",
		.summary = "Karri cloud controller: the EC2 API, users and all persistent cloud state",
		.user_paths = clc_user_paths,
	};
	struct clc clc = { .daemon = &d, .out = KR_BUF_INIT };

	signal(SIGPIPE, SIG_IGN);
	kr_daemon_start(&d, argc, argv);
	clc.cfg = d.cfg;
	clc.soap_timeout = (int)kr_config_int(d.cfg, "SOAP_TIMEOUT");
	clc.max_backend_calls = (int)kr_config_int(d.cfg, "CLC_MAX_BACKEND_CALLS");
	open_state(&clc);
	serve(&clc);
	kr_buf_free(&clc.out);
	kr_db_close(clc.db);
	kr_userdb_close(clc.users);
	kr_daemon_finish(&d);
	return 0;
}
