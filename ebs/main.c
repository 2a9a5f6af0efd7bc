/*
 * main.c - karri-ebs: Karri elastic block storage: volumes exported over ATA-over-Ethernet
 *
 * Start-up, the SOAP listener and shut-down; the operations of the
 * ebs contract live in their own files.
 */
#include "karriH.h"
#include "daemon.h"
#include "dispatch.h"
#include "soap_server.h"

int
main(int argc, char **argv)
{
	static const kr_soap_dispatch_fn dispatchers[] = {
		ebs_serve_request, svc_serve_request, NULL
	};
	struct kr_daemon d = {
		.name = "karri-ebs",
		.port_key = "EBS_PORT",
		.summary = "Karri elastic block storage: volumes exported over ATA-over-Ethernet",
		.internal = true,
	};

	return kr_soap_daemon_main(&d, dispatchers, argc, argv);
}
