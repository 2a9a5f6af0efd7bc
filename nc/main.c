/*
 * main.c - karri-nc: Karri node controller: runs instances on this host through libvirt
 *
 * Start-up (config, the libvirt connection and hypervisor driver, the image
 * cache check, adoption of running domains), the SOAP listener and
 * shut-down.  Shutting down leaves instances running: a restarted NC adopts
 * them.  The operations of the nc contract live in ops_*.c.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "karriH.h"
#include "daemon/daemon.h"
#include "dispatch.h"
#include "core/error.h"
#include "core/log.h"
#include "nc.h"
#include "soap/soap_server.h"

/*
 * NC_PRIVSEP=Y: fork.  The parent keeps a little of root and serves the
 * child's requests (priv_parent.c) until the child ends, then exits; the
 * child returns from here as EUCA_USER with INSTANCE_PATH handed over, and
 * is the NC.  Before the fork: the port and its TLS pair, which stays
 * root's to read (as karri-ebs's and karri-cc's), the parent's own reading
 * of the config, and whether loop devices can be made (the child cannot
 * look).
 */
static void
privsep_split(struct kr_daemon *d, struct kr_soap_server *srv)
{
	static const struct kr_daemon_path child_paths[] = {
		{ "INSTANCE_PATH", KR_OWN_DIR }, { NULL, 0 }
	};
	pid_t parent = getpid(), pid;
	bool loops;
	int fds[2];

	if (geteuid() != 0)
		kr_daemon_fatal(d, "NC_PRIVSEP=Y: start karri-nc as root (it drops to EUCA_USER)");
	if (nc_priv_parent_init(d->cfg) < 0 || kr_privsep_pair(fds) < 0)
		kr_daemon_fatal(d, kr_error_message());
	loops = nc_loop_available();
	if ((pid = fork()) < 0)
		kr_daemon_fatal(d, "NC_PRIVSEP=Y: cannot fork");
	if (pid > 0) {
		int code;

		close(fds[1]);
		kr_soap_server_free(srv);	/* the port is the child's */
		if (nc_priv_parent_limit() < 0) {
			kill(pid, SIGKILL);
			kr_daemon_fatal(d, kr_error_message());
		}
		code = nc_priv_parent_serve(fds[0], pid);
		kr_daemon_finish(d);
		exit(code);
	}
	close(fds[0]);
	if (nc_priv_hand_over(d->cfg, d->home, kr_config_get(d->cfg, "EUCA_USER")) < 0)
		kr_log_warnx("%s", kr_error_message());
	kr_daemon_become_user(d, child_paths);
	/* cleared by the change of user: set it now, and see the parent is still there */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
		_exit(1);
	nc_priv_client_init(fds[1], loops);
	nc_node.read_only = true;
	kr_log_info("privsep: child %d as %s", (int)getpid(), kr_config_get(d->cfg, "EUCA_USER"));
}

int
main(int argc, char **argv)
{
	static const kr_soap_dispatch_fn dispatchers[] = {
		nc_serve_request, svc_serve_request, NULL
	};
	struct kr_soap_server *srv;
	struct kr_daemon d = {
		.name = "karri-nc",
		.port_key = "NC_PORT",
		.summary = "Karri node controller: runs instances on this host through libvirt",
		.internal = true,
	};

	kr_daemon_start(&d, argc, argv);
	/* The port first: a second copy must fail before it touches anything. */
	srv = kr_soap_daemon_listen(&d, dispatchers);
	if (kr_config_bool(d.cfg, "NC_PRIVSEP"))
		privsep_split(&d, srv);
	if (nc_node_init(d.cfg) < 0 || (nc_node.ready && nc_adopt() < 0) ||
	    nc_monitor_start() < 0)
		kr_daemon_fatal(&d, kr_error_message());
	kr_soap_daemon_serve(&d, srv);
	kr_daemon_finish(&d);
	return 0;
}
