/*
 * reconcile.c - the CLC's poll of its clusters, every CLC_RECONCILE_S.
 *
 * For each registered cluster: DescribeResources (liveness and capacity,
 * cached for DescribeAvailabilityZones), then DescribeInstances to move
 * instance rows along pending -> running -> shutting-down -> terminated
 * (cc_instances.c).  Terminations the CC did not acknowledge are asked
 * again; terminated instances are forgotten CLC_TERMINATED_KEEP_S after
 * they ended, as EC2 stops showing them after a while.  Changed security
 * group rules are pushed to the clusters here too (network.c).
 */
#include <string.h>
#include <time.h>

#include "clc_burst.h"
#include "clc_cc.h"
#include "clc_instance.h"
#include "clc_volume.h"
#include "db.h"
#include "error.h"
#include "log.h"

#define MAX_RETRY 64

/* Instances still shutting down in a zone: ask the CC again. */
static void
retry_terminations(struct clc *clc, struct clc_cluster *c)
{
	static char buf[MAX_RETRY][24];
	const char *ids[MAX_RETRY];
	sqlite3_stmt *st;
	int n = 0;

	if (kr_db_prepare(clc->db, "SELECT id FROM instances WHERE zone = ?"
	    " AND state = 'shutting-down' LIMIT 64", &st) < 0)
		return;
	sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
	while (n < MAX_RETRY && kr_db_step(st) == 1) {
		snprintf(buf[n], sizeof(buf[n]), "%s", sqlite3_column_text(st, 0));
		ids[n] = buf[n];
		n++;
	}
	sqlite3_finalize(st);
	if (n && clc_cc_terminate(clc, c->url, ids, n) < 0)
		kr_log_debug("cluster %s: %s", c->name, kr_error_message());
}

static void
purge_terminated(struct clc *clc)
{
	sqlite3_stmt *st;

	/* Reservations go with their last instance (ON DELETE CASCADE goes the other way). */
	if (kr_db_prepare(clc->db, "DELETE FROM instances WHERE state = 'terminated'"
	    " AND state_changed < ?", &st) < 0)
		return;
	sqlite3_bind_int64(st, 1, time(NULL) - CLC_TERMINATED_KEEP_S);
	kr_db_step(st);
	sqlite3_finalize(st);
	kr_db_exec(clc->db, "DELETE FROM reservations WHERE NOT EXISTS (SELECT 1 FROM"
	    " instances i WHERE i.reservation_id = reservations.id);"
	    "DELETE FROM tags WHERE resource_id LIKE 'i-%' AND NOT EXISTS (SELECT 1 FROM"
	    " instances i WHERE i.id = tags.resource_id);");
}

void
clc_reconcile(struct clc *clc)
{
	kr_error_clear();
	if (clc_clusters_load(clc) < 0) {
		kr_log_warnx("poll: %s", kr_error_message());
		return;
	}
	for (size_t i = 0; i < clc->nclusters; i++) {
		struct clc_cluster *c = &clc->clusters[i];
		bool was_up = c->up;

		c->checked = true;
		if (clc_cc_describe_resources(clc, c) < 0) {
			if (was_up)
				kr_log_warnx("cluster %s is down: %s", c->name, c->why);
			continue;
		}
		if (!was_up) {
			kr_log_info("cluster %s at %s is up", c->name, c->url);
			clc->network_dirty = true;	/* it may have missed changes */
		}
		if (clc_cc_poll_instances(clc, c->name, c->url) < 0)
			kr_log_debug("cluster %s: DescribeInstances: %s", c->name,
			    kr_error_message());
		retry_terminations(clc, c);
	}
	/* Stays dirty until every cluster that is up took the rules. */
	if (clc->network_dirty && clc_network_push(clc) == 0)
		clc->network_dirty = false;
	clc_burst_poll(clc);		/* remote clouds (burst_instances.c) */
	clc_volumes_poll(clc);
	purge_terminated(clc);
	kr_error_clear();
}

void
clc_network_changed(struct clc_req *r)
{
	r->clc->network_dirty = true;
}
