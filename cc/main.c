/*
 * main.c - karri-cc: Karri cluster controller: nodes, scheduling and the virtual network of one cluster
 *
 * Start-up, the SOAP listener and shut-down; the operations of the
 * cc contract live in their own files.
 */
#include "karriH.h"
#include "daemon.h"
#include "dispatch.h"
#include "soap_server.h"

int
main(int argc, char **argv)
{
	static const kr_soap_dispatch_fn dispatchers[] = {
		cc_serve_request, svc_serve_request, NULL
	};
	struct kr_daemon d = {
		.name = "karri-cc",
		.port_key = "CC_PORT",
		.summary = "Karri cluster controller: nodes, scheduling and the virtual network of one cluster",
		.internal = true,
	};

	return kr_soap_daemon_main(&d, dispatchers, argc, argv);
}
