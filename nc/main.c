/*
 * main.c - karri-nc: Karri node controller: runs instances on this host through libvirt
 *
 * Start-up, the SOAP listener and shut-down; the operations of the
 * nc contract live in their own files.
 */
#include "karriH.h"
#include "daemon.h"
#include "dispatch.h"
#include "soap_server.h"

int
main(int argc, char **argv)
{
	static const kr_soap_dispatch_fn dispatchers[] = {
		nc_serve_request, svc_serve_request, NULL
	};
	struct kr_daemon d = {
		.name = "karri-nc",
		.port_key = "NC_PORT",
		.summary = "Karri node controller: runs instances on this host through libvirt",
		.internal = true,
	};

	return kr_soap_daemon_main(&d, dispatchers, argc, argv);
}
