/*
 * action_run.c - RunInstances.
 *
 * Everything is checked first (image, type, key, groups, zone, user data,
 * counts); then the reservation and its instances are written, pending, and
 * committed (the "decide" step), and the CC is asked to launch them from a
 * worker thread (clc_backend.h) while the event loop serves everyone else.
 * Its answer is applied in a second transaction: the rows of what started
 * are kept, the rest deleted.  So a launch ends complete or absent: a CC
 * that refuses, or does not answer within SOAP_TIMEOUT, leaves no rows (and
 * instances a late CC starts anyway are orphans, which the next poll
 * terminates, client_cc_instances.c); a CLC killed during the call leaves pending
 * rows the poll marks terminated once the CC does not report them.
 * ClientToken makes a retry return the first reservation (pending while the
 * first call waits) instead of launching again.
 *
 * The zone may also be a remote cloud (karri register-cloud): the rows are
 * the same, the launch is burst_run.c's.  With no zone asked for, a launch
 * no local cluster can fit goes to the `overflow` cloud, if there is one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clc_backend.h"
#include "clc_burst.h"
#include "clc_cc.h"
#include "clc_actions.h"
#include "clc_image.h"
#include "clc_instance.h"
#include "clc_keys.h"
#include "clc_run.h"
#include "core/db.h"
#include "core/error.h"
#include "core/id.h"
#include "core/log.h"

#define MAX_INSTANCES 100	/* per RunInstances, like an EC2 account's default limit */
#define MAX_GROUPS 16

struct run {
	struct clc_launch l;
	struct clc_cc_run *cc;		/* the call to the CC, or */
	struct clc_burst_job *burst;	/* to a remote cloud */
	struct clc_burst_launch bl;	/* what burst points at, alive as long */
	bool zone_asked;
	char cluster[64], url[300], backend[CLC_BACKEND_KEY_MAX];
	const char *ids[MAX_INSTANCES], *macs[MAX_INSTANCES], *groups[MAX_GROUPS];
	const char *group_ids[MAX_GROUPS];
	char idbuf[MAX_INSTANCES][KR_ID_MAX], macbuf[MAX_INSTANCES][18];
	char gidbuf[MAX_GROUPS][KR_ID_MAX], gnamebuf[MAX_GROUPS][CLC_MAX_NAME + 1];
	char res[KR_ID_MAX], key_line[1200], image_url[1200], kernel_url[1200],
	    ramdisk_url[1200];
	char kernel[KR_ID_MAX], ramdisk[KR_ID_MAX];
	const char *key_name, *token, *zone;
	char zonebuf[64];
	long min, max;
	struct clc_req *r;
	int index;
};

static int
insert_reservation(sqlite3 *db, const char *id, void *arg)
{
	struct run *run = arg;
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "INSERT INTO reservations (id, owner, client_token, created)"
	    " VALUES (?, ?, ?, ?)", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, run->r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, run->token, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, run->r->now);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

static int
insert_instance(sqlite3 *db, const char *id, void *arg)
{
	struct run *run = arg;
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "INSERT INTO instances (id, reservation_id, owner, image_id,"
	    " kernel_id, ramdisk_id, type, key_name, key_material, launch_index, state,"
	    " zone, user_data, launched, state_changed, mac, state_reason)"
	    " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,'pending',?11,?12,?13,?13,?14,"
	    " '" CLC_LAUNCHING "')", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, run->res, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, run->r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, run->l.image_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, *run->kernel ? run->kernel : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, *run->ramdisk ? run->ramdisk : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, run->l.type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, run->key_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, run->key_name ? run->key_line : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 10, run->index);
	sqlite3_bind_text(st, 11, run->zone, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, run->l.user_data, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 13, run->r->now);
	kr_id_mac_from_instance(id, NULL, run->macbuf[run->index]);
	sqlite3_bind_text(st, 14, run->macbuf[run->index], -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

static int
insert_groups(struct run *run)
{
	sqlite3_stmt *st;
	int rc = 0;

	if (kr_db_prepare(run->r->db, "INSERT OR IGNORE INTO reservation_groups"
	    " (reservation_id, group_id, group_name) VALUES (?, ?, ?)", &st) < 0)
		return -1;
	for (int i = 0; i < run->l.ngroups && rc == 0; i++) {
		sqlite3_bind_text(st, 1, run->res, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, run->group_ids[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, run->groups[i], -1, SQLITE_STATIC);
		rc = kr_db_step(st) < 0 ? -1 : 0;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Write the reservation and its instances, pending. */
static int
write_rows(struct run *run)
{
	sqlite3 *db = run->r->db;

	if (kr_db_insert_new_id(db, "r", run->res, sizeof(run->res), insert_reservation,
	    run) < 0 || insert_groups(run) < 0)
		return -1;
	for (run->index = 0; run->index < run->max; run->index++) {
		if (kr_db_insert_new_id(db, "i", run->idbuf[run->index], KR_ID_MAX,
		    insert_instance, run) < 0)
			return -1;
		run->ids[run->index] = run->idbuf[run->index];
		run->macs[run->index] = run->macbuf[run->index];
	}
	return 0;
}

/*
 * Launches whose answer a CLC killed mid-call never applied: their client
 * was never told they exist, so they go; what a CC did start of them is
 * then an orphan its poll terminates (client_cc_instances.c).  At start only.
 */
int
clc_run_forget_unfinished(sqlite3 *db)
{
	int rc = kr_db_exec(db, "DELETE FROM reservations WHERE id IN (SELECT reservation_id"
	    " FROM instances WHERE state = 'pending' AND state_reason = '" CLC_LAUNCHING "')");

	if (rc == 0 && sqlite3_changes(db) > 0)
		kr_log_warnx("forgot %d launch(es) a previous CLC did not finish",
		    sqlite3_changes(db));
	return rc;
}

/* Instances beyond what the CC started are not kept; the others are launched. */
static int
drop_unstarted(struct run *run)
{
	sqlite3_stmt *st;
	int rc;

	if (clc_db_run(run->r->db, "UPDATE instances SET state_reason = NULL WHERE"
	    " reservation_id = ? AND state_reason = '" CLC_LAUNCHING "'", run->res, NULL,
	    NULL) < 0)
		return -1;

	if (kr_db_prepare(run->r->db, "DELETE FROM instances WHERE reservation_id = ?"
	    " AND launch_index >= ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, run->res, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, run->l.count);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

/* A launch that did not happen: its rows go (instances and groups with the reservation). */
static void
drop_all(struct run *run)
{
	struct kr_err e;

	kr_error_save(&e);
	clc_db_run(run->r->db, "DELETE FROM reservations WHERE id = ?", run->res, NULL, NULL);
	kr_error_restore(&e);
}

/* Whether some local cluster that is up has room for min instances of the type. */
static bool
local_fits(struct clc *clc, const char *type, long min)
{
	if (clc->nclusters == 0 && clc_clusters_load(clc) < 0) {
		kr_error_clear();
		return false;
	}
	for (size_t i = 0; i < clc->nclusters; i++) {
		const struct clc_cluster *c = &clc->clusters[i];

		if (!c->up)
			continue;
		if (c->ntypes == 0)
			return true;	/* up, capacity not reported: let its CC decide */
		for (int t = 0; t < c->ntypes; t++)
			if (strcmp(c->types[t].name, type) == 0 && c->types[t].available >= min)
				return true;
	}
	return false;
}

static void
run_free(void *arg)
{
	struct run *run = arg;

	clc_cc_run_free(run->cc);
	clc_burst_run_free(run->burst);
	free(run);
}

static int
run_work(void *arg)
{
	struct run *run = arg;

	return run->burst ? clc_burst_run_call(run->burst) : clc_cc_run_call(run->cc);
}

static int run_resume(struct clc_req *r, int rc, void *arg);

/* The launch in a remote cloud: rows first (committed), then there. */
static int
run_remote(struct run *run, const struct clc_remote *remote)
{

	if (clc_param(run->r, "KernelId") || clc_param(run->r, "RamdiskId")) {
		kr_error("InvalidParameterCombination", "KernelId and RamdiskId cannot be given "
		    "for a launch in the cloud %s: its image brings its own", remote->name);
		return -1;
	}
	if (clc_image_usable(run->r, run->l.image_id, "machine") < 0)
		return -1;
	snprintf(run->zonebuf, sizeof(run->zonebuf), "%s", remote->name);
	run->zone = run->zonebuf;
	if (write_rows(run) < 0 || clc_run_tag(run->r, run->ids, (int)run->max) < 0)
		return -1;
	run->bl = (struct clc_burst_launch){ .image_id = run->l.image_id, .type = run->l.type,
		.key_name = run->key_name, .key_line = run->key_line,
		.user_data = run->l.user_data, .reservation_id = run->res,
		.group_names = run->groups, .ngroups = run->l.ngroups, .min = run->min,
		.max = run->max, .ids = run->ids };
	if (!(run->burst = clc_burst_run_prepare(run->r, remote, &run->bl)))
		return -1;
	clc_backend_key(run->backend, "cloud", remote->name);
	return 0;
}

/* The remote cloud's answer: its instances recorded, or the rows gone. */
static int
remote_done(struct run *run, int rc)
{
	struct clc_req *r = run->r;
	int started = 0;

	if (rc < 0 || clc_burst_run_apply(r, run->burst, &started) < 0) {
		drop_all(run);
		return -1;
	}
	if (started < run->min) {
		if (started)
			clc_burst_terminate_later(r->db, run->zone, run->ids, started);
		kr_error("InsufficientInstanceCapacity", "the cloud %s started %d of the %ld "
		    "instances asked for", run->zone, started, run->min);
		drop_all(run);
		return -1;
	}
	run->l.count = started;
	if (drop_unstarted(run) < 0)
		return -1;
	return clc_run_describe(r, run->res);
}

/*
 * Where the launch goes: the zone asked for (a cluster or a remote cloud),
 * else a local cluster with room, else the overflow cloud if one is
 * registered, else the first cluster (whose CC then answers).  1: remote.
 */
static int
choose(struct run *run, struct clc_cluster **c, struct clc_remote *remote)
{
	struct clc_req *r = run->r;
	int rc;

	run->zone = clc_param(r, "Placement.AvailabilityZone");
	if (run->zone && *run->zone) {
		if ((rc = clc_burst_get(r->db, run->zone, remote)) != 0)
			return rc;
		if (r->clc->nclusters == 0 && clc_clusters_load(r->clc) < 0)
			return -1;
		return (*c = clc_cluster_find(r->clc, run->zone)) ? 0 : -1;
	}
	if (!local_fits(r->clc, run->l.type, run->min) &&
	    (rc = clc_burst_overflow(r->db, remote)) != 0)
		return rc;
	return (*c = clc_cluster_pick(r->clc, run->l.type, "InsufficientInstanceCapacity")) ?
	    0 : -1;
}

static int
run_local(struct run *run, struct clc_cluster *c)
{
	struct clc_req *r = run->r;

	if (clc_run_check_image(r, &run->l, run->kernel, run->ramdisk, run->image_url,
	    run->kernel_url, run->ramdisk_url) < 0)
		return -1;
	snprintf(run->cluster, sizeof(run->cluster), "%s", c->name);
	snprintf(run->url, sizeof(run->url), "%s", c->url);
	run->zone = run->cluster;
	if (write_rows(run) < 0 || clc_run_tag(r, run->ids, (int)run->max) < 0)
		return -1;
	run->l.reservation_id = run->res;
	run->l.instance_ids = run->ids;
	run->l.macs = run->macs;
	run->l.count = (int)run->max;
	run->l.min_count = (int)run->min;
	run->l.key_material = run->key_name ? run->key_line : NULL;
	run->l.owner = r->account;
	if (!(run->cc = clc_cc_run_prepare(r->clc, r->db, c->url, &run->l)))
		return -1;
	clc_backend_key(run->backend, "cc", c->name);
	return 0;
}

/*
 * A local launch the cluster refused for capacity, with no zone asked for,
 * goes on to the overflow cloud: the local rows are gone already, and the
 * remote launch is one more backend call (clc_req_defer again).
 */
static int
overflow(struct run *run)
{
	struct clc_remote remote;
	int rc;

	if (run->zone_asked || strcmp(kr_error_code(), "InsufficientInstanceCapacity") != 0 ||
	    clc_burst_overflow(run->r->db, &remote) != 1)
		return -1;
	kr_log_info("RunInstances: cluster %s is full (%s): overflow to cloud %s", run->cluster,
	    kr_error_message(), remote.name);
	kr_error_clear();
	clc_cc_run_free(run->cc);
	run->cc = NULL;
	rc = run_remote(run, &remote);
	clc_burst_wipe(&remote);
	if (rc < 0)
		return -1;
	return clc_req_defer(run->r, run->backend, NULL, run_work, run_resume, run, run_free);
}

/* The CC's answer: rows of what started kept, the rest gone. */
static int
local_done(struct run *run, int rc)
{
	struct clc_req *r = run->r;
	int started = 0;

	if (rc < 0) {
		drop_all(run);
		return overflow(run);
	}
	if (clc_cc_run_apply(run->cc, r->db, &started) < 0)
		return -1;
	if (started < run->min) {
		kr_error("InsufficientInstanceCapacity", "the cluster %s started %d of the %ld "
		    "instances asked for", run->cluster, started, run->min);
		if (started)
			clc_cc_terminate_later(r->clc, run->cluster, run->url, run->ids, started);
		drop_all(run);
		return -1;
	}
	run->l.count = started;
	if (drop_unstarted(run) < 0)
		return -1;
	kr_log_info("RunInstances: %s: %d instance(s) of %s in %s for %s", run->res, started,
	    run->l.image_id, run->cluster, r->account);
	return clc_run_describe(r, run->res);
}

static int
run_resume(struct clc_req *r, int rc, void *arg)
{
	struct run *run = arg;

	run->r = r;		/* the request now lives on the heap */
	return run->burst ? remote_done(run, rc) : local_done(run, rc);
}

int
clc_run_instances(struct clc_req *r)
{
	struct run *run = calloc(1, sizeof(*run));
	struct clc_remote remote;
	struct clc_cluster *c = NULL;
	int rc;

	if (run == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	run->r = r;
	run->l.groups = run->groups;
	run->zone_asked = clc_param(r, "Placement.AvailabilityZone") != NULL;
	rc = -1;
	if (clc_run_parse(r, &run->l, &run->min, &run->max, &run->token, &run->key_name) < 0)
		goto fail;
	if (run->token && clc_run_replay(r, run->token) != 0) {
		rc = *kr_error_code() ? -1 : 0;
		goto fail;
	}
	if (clc_run_key(r, run->key_name, run->key_line, sizeof(run->key_line)) < 0 ||
	    clc_run_groups(r, run->groups, run->group_ids, run->gidbuf, run->gnamebuf,
	    MAX_GROUPS, &run->l.ngroups) < 0)
		goto fail;
	if (run->max > MAX_INSTANCES) {
		kr_error("InstanceLimitExceeded", "at most %d instances per RunInstances",
		    MAX_INSTANCES);
		goto fail;
	}
	if ((rc = choose(run, &c, &remote)) < 0)
		goto fail;
	if (rc == 1) {
		rc = run_remote(run, &remote);
		clc_burst_wipe(&remote);
	} else {
		rc = run_local(run, c);
	}
	if (rc < 0)
		goto fail;
	/* run belongs to the deferred call from here on, even when it is refused. */
	return clc_req_defer(r, run->backend, NULL, run_work, run_resume, run, run_free);
fail:
	run_free(run);
	return rc;
}
