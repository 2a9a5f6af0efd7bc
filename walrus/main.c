/*
 * main.c - karri-walrus: the S3-compatible object store.
 */
#include "daemon.h"
#include "http_server.h"
#include "walrus.h"

int
main(int argc, char **argv)
{
	struct kr_daemon d = {
		.name = "karri-walrus",
		.port_key = "WALRUS_PORT",
		.summary = "Karri Walrus: S3-compatible storage for images, snapshots and user data",
	};
	const struct kr_http_opts opts = { .max_body = WALRUS_MAX_BUFFERED_BODY };

	return kr_http_daemon_main(&d, &opts, walrus_route, argc, argv);
}
