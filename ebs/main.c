/*
 * main.c - karri-ebs: Karri elastic block storage: volumes exported over ATA-over-Ethernet
 *
 * Start-up (database, crash leftovers, the AoE target, re-exports), the
 * SOAP listener and shut-down.  The daemon's one struct ebs is made here and
 * handed to the SOAP listener (soap->user) and the transfer workers; the
 * operations of the ebs contract live in ops_volume.c, ops_export.c and
 * ops_snapshot.c, the data plane in aoe_target.c.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "karriH.h"
#include "daemon/daemon.h"
#include "core/db.h"
#include "dispatch.h"
#include "ebs.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sizes.h"
#include "soap/soap_server.h"

/*
 * Remove what a crash left half-made: the caller never got a success for
 * it.  Transfers to and from Walrus were answered "pending"/"creating" and
 * stay: jobs.c starts them over (a volume's half-filled file goes).
 */
static void
recover(struct ebs *e)
{
	const char *q[] = { "SELECT id, source_urls FROM volumes WHERE status = 'creating'",
	    "SELECT id, NULL FROM snapshots WHERE status = 'pending' AND NOT (copied = 1 AND "
	    "urls IS NOT NULL)" };
	int i;

	for (i = 0; i < 2; i++) {
		sqlite3_stmt *st = NULL;

		if (kr_db_prepare(e->db, q[i], &st) < 0)
			continue;
		while (kr_db_step(st) == 1) {
			const char *id = (const char *)sqlite3_column_text(st, 0);
			char path[KR_PATH_MAX], tmp[KR_TMP_PATH_MAX];

			if ((i == 0 ? ebs_volume_path(e, id, path, sizeof(path)) :
			    ebs_snapshot_path(e, id, path, sizeof(path))) < 0)
				continue;
			snprintf(tmp, sizeof(tmp), "%s.tmp", path);
			(void)unlink(tmp);
			if (i == 1)
				(void)unlink(path);	/* copied, but never answered */
			kr_log_warnx("%s %s, left half-made by a crash", sqlite3_column_type(st, 1) ==
			    SQLITE_NULL ? "removing" : "starting over", id);
		}
		sqlite3_finalize(st);
	}
	(void)kr_db_exec(e->db, "DELETE FROM volumes WHERE status = 'creating' AND "
	    "source_urls IS NULL;"
	    "DELETE FROM snapshots WHERE status = 'pending' AND NOT (copied = 1 AND "
	    "urls IS NOT NULL);");
}

static void
ebs_init(struct ebs *e, struct kr_daemon *d)
{
	char db_path[1024];

	e->cfg = d->cfg;
	if ((size_t)snprintf(e->volumes_dir, sizeof(e->volumes_dir), "%s",
	    kr_config_get(d->cfg, "EBS_VOLUMES_DIR")) >= sizeof(e->volumes_dir) ||
	    (size_t)snprintf(e->snapshots_dir, sizeof(e->snapshots_dir),
	    "%s/snapshots", e->volumes_dir) >= sizeof(e->snapshots_dir))
		kr_daemon_fatal(d, "EBS_VOLUMES_DIR is too long");
	e->max_volume_gib = kr_config_int(d->cfg, "EBS_MAX_VOLUME_SIZE");
	e->max_total_gib = kr_config_int(d->cfg, "EBS_MAX_TOTAL_SIZE");
	e->direct_io = kr_config_bool(d->cfg, "EBS_DIRECT_IO");
	if (kr_mkdir_p(e->snapshots_dir) < 0)
		kr_daemon_fatal(d, kr_error_message());
	if (kr_daemon_path(d, "var/lib/karri", db_path, sizeof(db_path)) < 0 ||
	    kr_mkdir_p(db_path) < 0 ||
	    kr_daemon_path(d, "var/lib/karri/ebs.db", db_path, sizeof(db_path)) < 0 ||
	    ebs_db_open(db_path, &e->db) < 0)
		kr_daemon_fatal(d, kr_error_message());
	recover(e);
	if (ebs_xfer_init() < 0 || ebs_jobs_start(e) < 0)
		kr_daemon_fatal(d, kr_error_message());
	if (e->target != NULL &&
	    ebs_target_run(e->target, (int)kr_config_int(d->cfg, "EBS_AOE_WORKERS")) < 0)
		kr_daemon_fatal(d, kr_error_message());
	if (e->target == NULL)
		kr_log_warnx("EBS_STORAGE_INTERFACE is not set: volumes cannot be exported");
	if (ebs_export_restore(e) < 0)
		kr_daemon_fatal(d, kr_error_message());
}

/*
 * EBS needs root for one thing, the AoE socket (CAP_NET_RAW): it opens it,
 * then runs as EUCA_USER with these, the volumes its own (docs/decisions.md).
 * Its TLS pair was read as root when the SOAP port opened.
 */
static const struct kr_daemon_path ebs_user_paths[] = {
	{ "EBS_VOLUMES_DIR", KR_OWN_DIR },
	{ "var/lib/karri/ebs.db", KR_OWN_DB },
	{ "var/log/karri/karri-ebs.log", KR_OWN_FILE },	/* opened by root, rotated by the user */
	{ NULL, KR_OWN_FILE },
};

/* As root: the AoE socket, if there is a storage NIC; then root is given up. */
static void
open_target_and_drop_root(struct ebs *e, struct kr_daemon *d)
{
	const char *ifname = kr_config_get(d->cfg, "EBS_STORAGE_INTERFACE");

	if (ifname != NULL && ifname[0] != '\0' &&
	    (e->target = ebs_target_open(ifname)) == NULL)
		kr_daemon_fatal(d, kr_error_message());
	kr_daemon_become_user(d, ebs_user_paths);
}

int
main(int argc, char **argv)
{
	static const kr_soap_dispatch_fn dispatchers[] = {
		ebs_serve_request, svc_serve_request, NULL
	};
	struct kr_soap_server *srv;
	struct kr_daemon d = {
		.name = "karri-ebs",
		.port_key = "EBS_PORT",
		.summary = "Karri elastic block storage: volumes exported over ATA-over-Ethernet",
		.internal = true,
	};
	struct ebs ebs = { .lock = PTHREAD_MUTEX_INITIALIZER };

	kr_daemon_start(&d, argc, argv);
	/* The port first: a second copy must fail before it touches anything. */
	srv = kr_soap_daemon_listen(&d, dispatchers);
	kr_soap_server_set_user(srv, &ebs);	/* what the operations find (ebs_from_soap) */
	open_target_and_drop_root(&ebs, &d);	/* before any thread exists */
	ebs_init(&ebs, &d);
	kr_soap_daemon_serve(&d, srv);
	ebs_jobs_stop(&ebs);
	ebs_target_stop(ebs.target);
	kr_db_close(ebs.db);
	kr_daemon_finish(&d);
	return 0;
}
