/*
 * action_instance.c - TerminateInstances, RebootInstances, StartInstances,
 * StopInstances, GetConsoleOutput.
 *
 * Termination is recorded first (shutting-down) and then asked of the CC
 * from a worker thread, the client answered at once (clc_backend.h); a CC
 * that cannot be reached is asked again on every poll (reconcile.c) until it
 * reports the instance gone, so a termination is never lost.
 * Karri's instances are instance-store, so Start/Stop answer as EC2 does
 * for such instances: UnsupportedOperation.  Instances in a remote cloud
 * (burst) are asked of that cloud instead; a termination it does not take
 * now is asked again by its poll (burst_instances.c), like a CC's.
 * Reboot and console output wait for their backend on a worker
 * (action_instance_call.c) while the loop serves everyone else.
 */
#include <stdio.h>
#include <string.h>

#include "clc_burst.h"
#include "clc_cc.h"
#include "clc_actions.h"
#include "clc_instance.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"

#define MAX_IDS 1000

/* A well-formed id of the caller's instance (any instance, for the admin). */
static int
owned_one(struct clc_req *r, const char *id)
{
	sqlite3_stmt *st;
	int rc;

	if (clc_check_id("InstanceId", id, "i", "InvalidInstanceID.Malformed") < 0 ||
	    kr_db_prepare(r->db, "SELECT 1 FROM instances WHERE id = ? AND (owner = ? OR ?)",
	    &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, r->admin);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	if (rc == 0)
		kr_error("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id);
	return rc == 1 ? 0 : -1;
}

/* InstanceId.N, each owned_one(). */
static int
owned_ids(struct clc_req *r, const char **ids, size_t *n)
{
	if (clc_param_list_checked(r, "InstanceId", NULL, ids, MAX_IDS, n) < 0)
		return -1;
	if (*n == 0) {
		kr_error("MissingParameter", "the request must contain the parameter InstanceId");
		return -1;
	}
	for (size_t i = 0; i < *n; i++)
		if (owned_one(r, ids[i]) < 0)
			return -1;
	return 0;
}

static int
instance_zone(struct clc_req *r, const char *id, char *state, size_t slen, char *zone,
    size_t zlen)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(r->db, "SELECT state, zone FROM instances WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = kr_db_step(st)) == 1) {
		snprintf(state, slen, "%s", sqlite3_column_text(st, 0));
		snprintf(zone, zlen, "%s", sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	return rc == 1 ? 0 : -1;
}

/* Whether the zone is a remote cloud's (its instances are the cloud's to act on). */
static bool
is_remote(struct clc_req *r, const char *zone)
{
	char name[64];

	return clc_db_text(r->db, "SELECT name FROM remote_clouds WHERE name = ?", zone, NULL,
	    name, sizeof(name)) == 1;
}

static int
set_shutting_down(struct clc_req *r, const char *id)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(r->db, "UPDATE instances SET state = 'shutting-down',"
	    " state_changed = ?2, state_reason = 'User initiated' WHERE id = ?1"
	    " AND state IN ('pending', 'running')", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->now);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

/*
 * Ask each zone (a cluster or a remote cloud) once for all its instances
 * that were terminated here, from a worker: the answer does not change the
 * reply, and a zone that misses it is asked again by its poll.
 */
static void
terminate_in_zones(struct clc_req *r, const char **ids, char (*zones)[64], size_t n)
{
	static bool done[MAX_IDS];
	const char *batch[MAX_IDS];

	memset(done, 0, sizeof(done));
	for (size_t i = 0; i < n; i++) {
		struct clc_cluster *c;
		int nb = 0;

		if (done[i] || !*zones[i])
			continue;
		for (size_t j = i; j < n; j++)
			if (!done[j] && strcmp(zones[j], zones[i]) == 0) {
				batch[nb++] = ids[j];
				done[j] = true;
			}
		if (is_remote(r, zones[i]))
			clc_burst_terminate_later(r->db, zones[i], batch, nb);
		else if ((c = clc_cluster_find(r->clc, zones[i])) != NULL)
			clc_cc_terminate_later(r->clc, c->name, c->url, batch, nb);
		kr_error_clear();
	}
}

int
clc_terminate_instances(struct clc_req *r)
{
	static const char *const known[] = { "InstanceId", NULL };
	static char zones[MAX_IDS][64];
	const char *ids[MAX_IDS];
	char prev[32];
	size_t n;

	if (clc_param_check_known(r, known) < 0 || owned_ids(r, ids, &n) < 0 ||
	    clc_instances_check_protection(r, ids, n) < 0)
		return -1;
	kr_buf_add(r->out, "<instancesSet>");
	for (size_t i = 0; i < n; i++) {
		const char *now;

		if (instance_zone(r, ids[i], prev, sizeof(prev), zones[i], sizeof(zones[i])) < 0 ||
		    set_shutting_down(r, ids[i]) < 0)
			return -1;
		now = strcmp(prev, "terminated") == 0 ? "terminated" : "shutting-down";
		if (strcmp(prev, "terminated") == 0)
			zones[i][0] = '\0';	/* nothing to ask */
		kr_buf_add(r->out, "<item>");
		clc_xml_elem(r->out, "instanceId", ids[i]);
		kr_buf_addf(r->out, "<currentState><code>%d</code><name>%s</name></currentState>"
		    "<previousState><code>%d</code><name>%s</name></previousState>",
		    clc_state_code(now), now, clc_state_code(prev), prev);
		kr_buf_add(r->out, "</item>");
	}
	kr_buf_add(r->out, "</instancesSet>");
	terminate_in_zones(r, ids, zones, n);
	return 0;
}

int
clc_reboot_instances(struct clc_req *r)
{
	static const char *const known[] = { "InstanceId", NULL };
	const char *ids[MAX_IDS];
	char state[32], zone[64];
	struct inst_call *x;
	size_t n;

	if (clc_param_check_known(r, known) < 0 || owned_ids(r, ids, &n) < 0 ||
	    !(x = clc_inst_call_new(r, NULL)))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (instance_zone(r, ids[i], state, sizeof(state), zone, sizeof(zone)) < 0)
			goto fail;
		if (strcmp(state, "running") != 0) {
			kr_error("IncorrectState", "instance %s is %s, not running", ids[i], state);
			goto fail;
		}
		if (clc_inst_call_add(r, x, ids[i], zone, (int)n) < 0)
			goto fail;
	}
	return clc_inst_call_reboot(r, x);
fail:
	clc_inst_call_free(x);
	return -1;
}

static int
instance_store(struct clc_req *r, const char *verb)
{
	static const char *const known[] = { "InstanceId", "Force", "Hibernate",
		"AdditionalInfo", NULL };
	const char *ids[MAX_IDS];
	size_t n;

	if (clc_param_check_known(r, known) < 0 || owned_ids(r, ids, &n) < 0)
		return -1;
	kr_error("UnsupportedOperation", "The instance '%s' does not have an 'ebs' root device "
	    "type and cannot be %s.", ids[0], verb);
	return -1;
}

int
clc_start_instances(struct clc_req *r)
{
	return instance_store(r, "started");
}

int
clc_stop_instances(struct clc_req *r)
{
	return instance_store(r, "stopped");
}

int
clc_get_console_output(struct clc_req *r)
{
	static const char *const known[] = { "InstanceId", "Latest", NULL };
	const char *id;
	char state[32], zone[64];
	struct inst_call *x;

	if (clc_param_check_known(r, known) < 0 || !(id = clc_param_required(r, "InstanceId")))
		return -1;
	if (owned_one(r, id) < 0 ||
	    instance_zone(r, id, state, sizeof(state), zone, sizeof(zone)) < 0 ||
	    !(x = clc_inst_call_new(r, id)))
		return -1;
	if (clc_inst_call_add(r, x, id, zone, 1) < 0) {
		clc_inst_call_free(x);
		return -1;
	}
	return clc_inst_call_console(r, x);
}
