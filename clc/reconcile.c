/*
 * reconcile.c - the CLC's poll of its clusters, every CLC_RECONCILE_S.
 *
 * For each registered cluster: DescribeResources (liveness and capacity,
 * cached for DescribeAvailabilityZones), then DescribeInstances to move
 * instance rows along pending -> running -> shutting-down -> terminated
 * (client_cc_instances.c).  The calls run on a worker thread, one poll at a
 * time per cluster (a stopped CC is not asked again before its poll timed
 * out), and their answers are applied on the loop (clc_backend.h).
 * Terminations the CC did not acknowledge are asked again; terminated
 * instances are forgotten CLC_TERMINATED_KEEP_S after they ended, as EC2
 * stops showing them after a while.  Changed security group rules are
 * pushed to the clusters here too (client_cc_network.c).  The clusters
 * themselves, as the last poll found them: db_clusters.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clc_backend.h"
#include "clc_burst.h"
#include "clc_cc.h"
#include "clc_instance.h"
#include "clc_volume.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"

#define MAX_RETRY 64

/* One cluster's poll: the calls on a worker, their answers applied on the loop. */
struct cluster_poll {
	struct clc *clc;
	struct clc_cluster c;		/* a copy, the worker's to fill */
	bool was_up;
	char retry[MAX_RETRY][24];	/* still shutting down: ask the CC again */
	int nretry;
	int polled;			/* DescribeInstances: 0 answered */
	struct clc_cc_poll poll;
};

/* Instances still shutting down in a zone (read on the loop). */
static void
load_retries(struct clc *clc, struct cluster_poll *cp)
{
	sqlite3_stmt *st;

	if (kr_db_prepare(clc->db, "SELECT id FROM instances WHERE zone = ?"
	    " AND state = 'shutting-down' LIMIT 64", &st) < 0)
		return;
	sqlite3_bind_text(st, 1, cp->c.name, -1, SQLITE_STATIC);
	while (cp->nretry < MAX_RETRY && kr_db_step(st) == 1) {
		snprintf(cp->retry[cp->nretry], sizeof(cp->retry[0]), "%s",
		    sqlite3_column_text(st, 0));
		cp->nretry++;
	}
	sqlite3_finalize(st);
}

static int
poll_work(void *arg)
{
	struct cluster_poll *cp = arg;
	const char *ids[MAX_RETRY];

	cp->polled = -1;
	if (clc_cc_describe_resources(cp->clc, &cp->c) < 0)
		return 0;		/* down: said in cp->c */
	if ((cp->polled = clc_cc_poll_call(cp->clc, cp->c.url, &cp->poll)) < 0)
		kr_log_debug("cluster %s: DescribeInstances: %s", cp->c.name, kr_error_message());
	for (int i = 0; i < cp->nretry; i++)
		ids[i] = cp->retry[i];
	if (cp->nretry && clc_cc_terminate(cp->clc, cp->c.url, ids, cp->nretry) < 0)
		kr_log_debug("cluster %s: %s", cp->c.name, kr_error_message());
	return 0;
}

static void
poll_done(int rc, void *arg)
{
	struct cluster_poll *cp = arg;
	struct clc *clc = cp->clc;
	struct clc_cluster *c = NULL;

	(void)rc;
	/* The cluster may have been deregistered (or moved) while the poll ran. */
	for (size_t i = 0; i < clc->nclusters && !c; i++)
		if (strcmp(clc->clusters[i].name, cp->c.name) == 0 &&
		    strcmp(clc->clusters[i].url, cp->c.url) == 0)
			c = &clc->clusters[i];
	if (c) {
		c->checked = true;
		c->up = cp->c.up;
		c->ntypes = cp->c.ntypes;
		memcpy(c->types, cp->c.types, sizeof(c->types));
		c->nodes = cp->c.nodes;
		snprintf(c->why, sizeof(c->why), "%s", cp->c.why);
		if (cp->was_up && !c->up)
			kr_log_warnx("cluster %s is down: %s", c->name, c->why);
		if (!cp->was_up && c->up) {
			kr_log_info("cluster %s at %s is up", c->name, c->url);
			clc->network_dirty = true;	/* it may have missed changes */
			clc_network_push(clc);
		}
		if (cp->polled == 0) {
			clc_cc_poll_apply(clc, cp->c.name, cp->c.url, &cp->poll);
			/* Tests wait for this line ("two more polls") instead of a time. */
			kr_log_debug("cluster %s: poll applied", c->name);
		}
	}
	clc_cc_poll_free(&cp->poll);
	free(cp);
}

/* Start a cluster's poll unless its last one is still waiting for the CC. */
static void
poll_cluster(struct clc *clc, struct clc_cluster *c)
{
	struct kr__virtualMachineType types[CLC_MAX_TYPES];
	char key[CLC_BACKEND_KEY_MAX];
	struct cluster_poll *cp;
	int n;

	clc_backend_key(key, "cc-poll", c->name);
	if (clc_backend_inflight(key) > 0 || !(cp = calloc(1, sizeof(*cp))))
		return;
	cp->clc = clc;
	cp->c = *c;
	cp->was_up = c->up;
	n = clc_types_load(clc->db, types, CLC_MAX_TYPES, cp->c.types);
	cp->c.ntypes = n < 0 ? 0 : n;
	load_retries(clc, cp);
	if (clc_backend_run(key, poll_work, poll_done, cp) < 0)
		free(cp);
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
	for (size_t i = 0; i < clc->nclusters; i++)
		poll_cluster(clc, &clc->clusters[i]);
	/* Stays dirty until every cluster that is up took the rules (client_cc_network.c). */
	if (clc->network_dirty)
		clc_network_push(clc);
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
