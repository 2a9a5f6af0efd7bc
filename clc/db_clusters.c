/*
 * db_clusters.c - the registered clusters (availability zones) and instance
 * types, as the CLC keeps them in memory between polls.
 *
 * `karri register-cluster` writes the services table of clc.db; every poll
 * (reconcile.c) reloads that table, so a registration is seen within one
 * poll without talking to the CLC.  Each cluster's liveness and capacity
 * come from its last DescribeResources and are cached here, so that
 * DescribeAvailabilityZones stays cheap however often clients call it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clc_cc.h"
#include "core/db.h"
#include "core/error.h"

int
clc_clusters_load(struct clc *clc)
{
	struct clc_cluster *fresh = calloc(CLC_MAX_CLUSTERS, sizeof(*fresh));
	sqlite3_stmt *st;
	size_t n = 0;
	int rc;

	if (fresh == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	if (kr_db_prepare(clc->db, "SELECT name, host, port, scheme FROM services"
	    " WHERE kind = 'cluster' ORDER BY name", &st) < 0) {
		free(fresh);
		return -1;
	}
	while (n < CLC_MAX_CLUSTERS && (rc = kr_db_step(st)) == 1) {
		struct clc_cluster *c = &fresh[n++];

		snprintf(c->name, sizeof(c->name), "%s", sqlite3_column_text(st, 0));
		snprintf(c->host, sizeof(c->host), "%s", sqlite3_column_text(st, 1));
		c->port = sqlite3_column_int(st, 2);
		snprintf(c->url, sizeof(c->url), "%s://%s:%d/", sqlite3_column_text(st, 3),
		    c->host, c->port);
		/* Keep what the last poll learnt of a cluster that is still registered. */
		for (size_t i = 0; i < clc->nclusters; i++)
			if (strcmp(clc->clusters[i].name, c->name) == 0 &&
			    strcmp(clc->clusters[i].url, c->url) == 0)
				*c = clc->clusters[i];
	}
	sqlite3_finalize(st);
	free(clc->clusters);
	clc->clusters = fresh;
	clc->nclusters = n;
	return 0;
}

struct clc_cluster *
clc_cluster_find(struct clc *clc, const char *zone)
{
	for (size_t i = 0; i < clc->nclusters; i++)
		if (strcmp(clc->clusters[i].name, zone) == 0)
			return &clc->clusters[i];
	kr_error("InvalidParameterValue", "Invalid availability zone: [%.64s]", zone);
	return NULL;
}

/*
 * How many more instances of type the cluster can take, from its last
 * DescribeResources: 0 when it did not say (its CC will decide).
 */
static int
free_for_type(const struct clc_cluster *c, const char *type)
{
	for (int t = 0; type && t < c->ntypes; t++)
		if (strcmp(c->types[t].name, type) == 0)
			return c->types[t].available;
	return 0;
}

/*
 * No zone asked for: the cluster that is up with the most room for type
 * (ties: the first by name, the order clusters are loaded in), so that
 * launches spread over the zones as they fill; else the first cluster at
 * all (its CC then answers why not).
 */
struct clc_cluster *
clc_cluster_pick(struct clc *clc, const char *type, const char *code)
{
	struct clc_cluster *best = NULL;
	int best_free = -1;

	if (clc->nclusters == 0 && clc_clusters_load(clc) < 0)
		return NULL;
	for (size_t i = 0; i < clc->nclusters; i++) {
		int n = free_for_type(&clc->clusters[i], type);

		if (clc->clusters[i].up && n > best_free) {
			best = &clc->clusters[i];
			best_free = n;
		}
	}
	if (best)
		return best;
	if (clc->nclusters)
		return &clc->clusters[0];
	kr_error(code, "no cluster is registered with this cloud (karri register-cluster)");
	return NULL;
}

static void
type_from_row(sqlite3_stmt *st, struct clc_type_cap *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", sqlite3_column_text(st, 0));
	t->cores = sqlite3_column_int(st, 1);
	t->memory = sqlite3_column_int(st, 2);
	t->disk = sqlite3_column_int(st, 3);
	snprintf(t->io_class, sizeof(t->io_class), "%s", sqlite3_column_text(st, 4));
}

#define TYPE_COLS "SELECT name, cores, memory, disk, io_class FROM instance_types"

/* Every type, in size order, as the contract's structs (pointing into caps). */
int
clc_types_load(sqlite3 *db, struct kr__virtualMachineType *out, int max,
    struct clc_type_cap *caps)
{
	sqlite3_stmt *st;
	int n = 0, rc;

	if (kr_db_prepare(db, TYPE_COLS " ORDER BY sort, name", &st) < 0)
		return -1;
	while (n < max && (rc = kr_db_step(st)) == 1) {
		type_from_row(st, &caps[n]);
		out[n] = (struct kr__virtualMachineType){ .name = caps[n].name,
			.memory = caps[n].memory, .cores = caps[n].cores, .disk = caps[n].disk,
			.ioClass = caps[n].io_class };
		n++;
	}
	sqlite3_finalize(st);
	return n;
}

/* One type by name: 0, or -1 + InvalidParameterValue. */
int
clc_type_get(sqlite3 *db, const char *name, struct clc_type_cap *t)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, TYPE_COLS " WHERE name = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = kr_db_step(st)) == 1)
		type_from_row(st, t);
	sqlite3_finalize(st);
	if (rc == 0)
		kr_error("InvalidParameterValue", "Invalid value '%.32s' for InstanceType", name);
	return rc == 1 ? 0 : -1;
}
