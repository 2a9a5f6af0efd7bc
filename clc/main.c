/*
 * main.c - karri-clc: the cloud controller.
 *
 * Users reach the CLC with EC2 tools over HTTP; other daemons and the admin
 * CLI reach its DescribeService over SOAP on the same port.
 */
#include "daemon.h"
#include "http_server.h"
#include "clc.h"

int
main(int argc, char **argv)
{
	struct kr_daemon d = {
		.name = "karri-clc",
		.port_key = "CLC_PORT",
		.summary = "Karri cloud controller: the EC2 API, users and all persistent cloud state",
	};
	const struct kr_http_opts opts = { .max_body = CLC_MAX_REQUEST };

	return kr_http_daemon_main(&d, &opts, clc_route, argc, argv);
}
