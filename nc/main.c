/*
 * main.c - karri-nc: Karri node controller: runs instances on this host through libvirt
 *
 * Start-up (config, the libvirt connection and hypervisor driver, the image
 * cache check, adoption of running domains), the SOAP listener and
 * shut-down.  Shutting down leaves instances running: a restarted NC adopts
 * them.  The operations of the nc contract live in ops_*.c.
 */
#include "karriH.h"
#include "daemon/daemon.h"
#include "dispatch.h"
#include "core/error.h"
#include "core/log.h"
#include "nc.h"
#include "soap/soap_server.h"

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
	if (nc_node_init(d.cfg) < 0 || (nc_node.ready && nc_adopt() < 0) ||
	    nc_monitor_start() < 0)
		kr_daemon_fatal(&d, kr_error_message());
	kr_soap_daemon_serve(&d, srv);
	kr_daemon_finish(&d);
	return 0;
}
