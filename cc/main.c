/*
 * main.c - karri-cc: Karri cluster controller: nodes, scheduling and the
 * virtual network of one cluster.
 *
 * Start-up (config, cc.db, node registry, the network re-applied over what
 * a previous run left), the pollers, the SOAP listener, and shut-down.  A
 * clean shutdown (SIGTERM) removes everything the CC made on this host;
 * a killed CC leaves it all in place for the next start to adopt.  The
 * operations of the cc contract live in their own files.
 *
 * Started as root, karri-cc reads its config, opens its port (its TLS pair
 * is root's to read), forks, and from then on is two processes (priv.h):
 * a root parent with a few network capabilities that changes the host when
 * asked, and a child, EUCA_USER without any capability, that does all the
 * rest -- every byte from the network is parsed there.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "karriH.h"
#include "cc.h"
#include "daemon/daemon.h"
#include "dispatch.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sizes.h"
#include "priv.h"
#include "soap/soap_server.h"

/* What the child writes, handed to EUCA_USER by root before it drops. */
static const struct kr_daemon_path cc_user_paths[] = {
	{ "var/lib/karri/cc.db", KR_OWN_DB },
	{ "var/log/karri/karri-cc.log", KR_OWN_FILE },	/* opened by root, rotated by the user */
	{ NULL, KR_OWN_FILE },
};

/* The child's state is under KARRI_HOME: say so plainly when EUCA_USER cannot get there. */
static void
check_home_reachable(struct kr_daemon *d)
{
	const char *home = d->home[0] ? d->home : "/";
	char what[1200];

	if (access(home, X_OK) == 0)
		return;
	snprintf(what, sizeof(what), "KARRI_HOME %s cannot be reached by EUCA_USER '%.64s', which "
	    "the unprivileged part of karri-cc runs as: let it search every directory on the way "
	    "(o+x)", home, kr_config_get(d->cfg, "EUCA_USER"));
	kr_daemon_fatal(d, what);
}

static void
settings(struct kr_daemon *d)
{
	long soap_timeout = kr_config_int(d->cfg, "SOAP_TIMEOUT");
	struct rlimit rl;

	cc.cfg = d->cfg;
	cc.nc_port = (int)kr_config_int(d->cfg, "NC_PORT");
	cc.poll_s = (int)kr_config_int(d->cfg, "NC_POLLING_FREQUENCY");
	/* A poll must end before the next one is due: a hung node costs one period. */
	cc.poll_timeout_s = cc.poll_s < soap_timeout ? cc.poll_s : (int)soap_timeout;
	cc.call_timeout_s = (int)soap_timeout;
	/* One kept-alive connection per node. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
}

int
main(int argc, char **argv)
{
	static const kr_soap_dispatch_fn dispatchers[] = {
		cc_serve_request, svc_serve_request, NULL
	};
	struct kr_soap_server *srv;
	struct kr_daemon d = {
		.name = "karri-cc",
		.port_key = "CC_PORT",
		.summary = "Karri cluster controller: nodes, scheduling and the virtual network of one cluster",
		.internal = true,
	};
	char dir[KR_DIR_MAX], db[KR_PATH_MAX];

	kr_daemon_start(&d, argc, argv);
	/* The port first: a second copy must fail before it touches anything. */
	srv = kr_soap_daemon_listen(&d, dispatchers);
	settings(&d);
	if (cc_vnet_configure() < 0)
		kr_daemon_fatal(&d, kr_error_message());
	switch (cc_priv_fork()) {
	case -1:
		kr_daemon_fatal(&d, kr_error_message());
	case 0:
		break;
	default:
		kr_soap_server_free(srv);	/* the port is the child's */
		cc_priv_parent_run(&d);
	}
	kr_daemon_become_user(&d, cc_user_paths);
	check_home_reachable(&d);
	cc_priv_child_ready();
	if (kr_daemon_path(&d, "var/lib/karri", dir, sizeof(dir)) < 0 || kr_mkdir_p(dir) < 0)
		kr_daemon_fatal(&d, kr_error_message());
	snprintf(db, sizeof(db), "%s/cc.db", dir);
	if (cc_state_open(db) < 0 || cc_registry_load() < 0)
		kr_daemon_fatal(&d, kr_error_message());
	if (cc_vnet_init() < 0)
		kr_daemon_fatal(&d, kr_error_message());
	if (cc_poller_start() < 0)
		kr_daemon_fatal(&d, kr_error_message());
	kr_soap_daemon_serve(&d, srv);
	cc_poller_stop();
	cc_vnet_shutdown();
	cc_state_close();
	kr_daemon_finish(&d);
	return 0;
}
