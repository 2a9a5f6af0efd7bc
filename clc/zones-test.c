/*
 * zones-test.c - unit tests of the CLC's availability zones on a real
 * clc.db: where a launch without a zone goes (clc_cluster_pick: the up
 * cluster with the most room for the type, ties by name) and which EBS a
 * zone's volumes go to (clc_ebs_url: the zone's own, else the cloud-wide
 * one, else Unsupported naming the zone).  The EC2 side is tested with
 * real daemons and clients in tests/integration/test_clc_zones.py.
 */
#include "core/check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clc.h"
#include "clc_cc.h"
#include "clc_volume.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"

struct fixture {
	char dir[32], path[64];
	struct clc clc;
};

static void
fixture_open(struct fixture *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/karri-zones-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/clc.db", f->dir);
	kr_log_set_level(KR_LOG_WARN);
	memset(&f->clc, 0, sizeof(f->clc));
	ck_assert_msg(clc_db_open(f->path, &f->clc.db) == 0, "%s", kr_error_message());
}

static void
fixture_close(struct fixture *f)
{
	free(f->clc.clusters);
	kr_db_close(f->clc.db);
	for (size_t i = 0; i < 3; i++) {
		char p[96];

		snprintf(p, sizeof(p), "%s%s", f->path, (const char *[]){ "", "-wal", "-shm" }[i]);
		unlink(p);
	}
	rmdir(f->dir);
}

static void
run_sql(struct fixture *f, const char *sql)
{
	ck_assert_msg(sqlite3_exec(f->clc.db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql,
	    sqlite3_errmsg(f->clc.db));
}

/* What the last poll said of a cluster: up or not, and room for m1.small. */
static void
polled(struct clc *clc, const char *name, bool up, int small_free)
{
	for (size_t i = 0; i < clc->nclusters; i++) {
		struct clc_cluster *c = &clc->clusters[i];

		if (strcmp(c->name, name) != 0)
			continue;
		c->checked = true;
		c->up = up;
		c->ntypes = 2;
		snprintf(c->types[0].name, sizeof(c->types[0].name), "m1.small");
		c->types[0].available = small_free;
		snprintf(c->types[1].name, sizeof(c->types[1].name), "m1.large");
		c->types[1].available = 1;
		return;
	}
	ck_abort_msg("no cluster %s", name);
}

START_TEST(pick_most_room_ties_by_name)
{
	struct fixture f;
	struct clc_cluster *c;

	fixture_open(&f);
	ck_assert_ptr_null(clc_cluster_pick(&f.clc, "m1.small", "InsufficientInstanceCapacity"));
	ck_assert_str_eq(kr_error_last()->code, "InsufficientInstanceCapacity");
	run_sql(&f, "INSERT INTO services (kind, name, host, port, registered) VALUES"
	    " ('cluster', 'zb', 'h', 1, 0), ('cluster', 'za', 'h', 2, 0),"
	    " ('cluster', 'zc', 'h', 3, 0)");
	ck_assert_int_eq(clc_clusters_load(&f.clc), 0);
	/* Never polled: none up, the first by name (its CC answers why not). */
	ck_assert_str_eq(clc_cluster_pick(&f.clc, "m1.small", "X")->name, "za");
	polled(&f.clc, "za", true, 2);
	polled(&f.clc, "zb", true, 5);
	polled(&f.clc, "zc", false, 9);		/* down: never chosen, however much room */
	ck_assert_str_eq(clc_cluster_pick(&f.clc, "m1.small", "X")->name, "zb");
	polled(&f.clc, "za", true, 5);		/* a tie: the first by name */
	ck_assert_str_eq(clc_cluster_pick(&f.clc, "m1.small", "X")->name, "za");
	/* Room counts for the type asked: both have 1 m1.large. */
	polled(&f.clc, "zb", true, 9);
	ck_assert_str_eq(clc_cluster_pick(&f.clc, "m1.large", "X")->name, "za");
	/* Full everywhere: still an up cluster, whose CC then refuses. */
	polled(&f.clc, "za", true, 0);
	polled(&f.clc, "zb", true, 0);
	c = clc_cluster_pick(&f.clc, "m1.small", "X");
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->name, "za");
	fixture_close(&f);
}
END_TEST

START_TEST(ebs_of_each_zone)
{
	char url[300], key[CLC_BACKEND_KEY_MAX];
	struct fixture f;

	fixture_open(&f);
	ck_assert_int_eq(clc_ebs_url(&f.clc, "z1", url, sizeof(url), key), -1);
	ck_assert_str_eq(kr_error_last()->code, "Unsupported");
	run_sql(&f, "INSERT INTO services (kind, name, host, port, registered, zone) VALUES"
	    " ('ebs', 'e1', '10.0.1.1', 8776, 0, 'z1'), ('ebs', 'e2', '10.0.2.1', 8776, 0, 'z2')");
	ck_assert_int_eq(clc_ebs_url(&f.clc, "z2", url, sizeof(url), key), 0);
	ck_assert_str_eq(url, "http://10.0.2.1:8776/");
	ck_assert_str_eq(key, "ebs:e2");
	ck_assert_int_eq(clc_ebs_url(&f.clc, "z1", url, sizeof(url), NULL), 0);
	ck_assert_str_eq(url, "http://10.0.1.1:8776/");
	/* A zone without an EBS says so, naming the zone. */
	ck_assert_int_eq(clc_ebs_url(&f.clc, "z3", url, sizeof(url), key), -1);
	ck_assert_str_eq(kr_error_last()->code, "Unsupported");
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "no block storage service in zone z3"));
	/* A cloud-wide EBS serves the zones without their own, and only those. */
	run_sql(&f, "INSERT INTO services (kind, name, host, port, registered, zone) VALUES"
	    " ('ebs', 'all', '10.0.0.1', 8776, 0, '')");
	ck_assert_int_eq(clc_ebs_url(&f.clc, "z3", url, sizeof(url), key), 0);
	ck_assert_str_eq(key, "ebs:all");
	ck_assert_int_eq(clc_ebs_url(&f.clc, "z1", url, sizeof(url), key), 0);
	ck_assert_str_eq(key, "ebs:e1");
	/* No zone known (a snapshot from before zones): some EBS, the same every time. */
	ck_assert_int_eq(clc_ebs_url(&f.clc, NULL, url, sizeof(url), key), 0);
	ck_assert_str_eq(key, "ebs:e1");
	fixture_close(&f);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("zones", &tc);

	tcase_add_test(tc, pick_most_room_ties_by_name);
	tcase_add_test(tc, ebs_of_each_zone);
	return kr_check_run(s);
}
