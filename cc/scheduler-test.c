/*
 * scheduler-test.c - placement under each SCHEDPOLICY, reservations and
 * all-or-nothing, on nodes made in memory (no network).
 */
#include "core/check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc.h"
#include "core/config.h"
#include "core/error.h"

struct cc cc = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct cc_node nodes[3];
static struct cc_node *ptrs[3];
static const struct cc_res small = { 1, 512, 5 };

static void
setup(const char *policy)
{
	kr_config_free(cc.cfg);
	cc.cfg = kr_config_defaults(NULL);
	ck_assert_int_eq(kr_config_set(cc.cfg, "SCHEDPOLICY", policy), 0);
	memset(nodes, 0, sizeof(nodes));
	for (int i = 0; i < 3; i++) {
		nodes[i].state = CC_NODE_UP;
		nodes[i].max = nodes[i].avail = (struct cc_res){ 4, 4096, 100 };
		snprintf(nodes[i].url, sizeof(nodes[i].url), "http://n%d:8775/", i);
		ptrs[i] = &nodes[i];
	}
	cc.nodes = ptrs;
	cc.nnodes = 3;
	cc.rr_next = 0;
}

static void
reserve(struct cc_node **where, int n)
{
	for (int i = 0; i < n; i++) {
		struct cc_inst in = { .need = small };

		snprintf(in.id, sizeof(in.id), "i-%08x", (unsigned)rand());
		ck_assert_ptr_nonnull(cc_resv_add(where[i], &in));
	}
}

START_TEST(greedy_fills_first_node)
{
	struct cc_node *w[5];

	setup("GREEDY");
	ck_assert_int_eq(cc_sched_place(&small, 5, 5, w), 5);
	for (int i = 0; i < 4; i++)
		ck_assert_ptr_eq(w[i], &nodes[0]);
	ck_assert_ptr_eq(w[4], &nodes[1]);
}
END_TEST

START_TEST(roundrobin_spreads)
{
	struct cc_node *w[3], *x[1];

	setup("ROUNDROBIN");
	ck_assert_int_eq(cc_sched_place(&small, 3, 3, w), 3);
	ck_assert_ptr_eq(w[0], &nodes[0]);
	ck_assert_ptr_eq(w[1], &nodes[1]);
	ck_assert_ptr_eq(w[2], &nodes[2]);
	reserve(w, 3);
	ck_assert_int_eq(cc_sched_place(&small, 1, 1, x), 1);
	ck_assert_ptr_eq(x[0], &nodes[0]);
}
END_TEST

START_TEST(powersave_packs_and_skips_powered_off)
{
	struct cc_node *w[6];

	setup("POWERSAVE");
	nodes[1].avail.cores = 1;	/* the fullest node that fits wins */
	nodes[2].state = CC_NODE_POWEREDOFF;
	nodes[2].avail.cores = 2;
	ck_assert_int_eq(cc_sched_place(&small, 2, 2, w), 2);
	ck_assert_ptr_eq(w[0], &nodes[1]);
	ck_assert_ptr_eq(w[1], &nodes[0]);
	ck_assert_int_eq(cc_sched_place(&small, 6, 6, w), -1);	/* never on a powered-off node */
}
END_TEST

START_TEST(reservations_prevent_overcommit)
{
	struct cc_node *w[12], *x[1];

	setup("GREEDY");
	ck_assert_int_eq(cc_sched_place(&small, 12, 12, w), 12);
	reserve(w, 12);
	ck_assert_int_eq(cc_sched_place(&small, 1, 1, x), -1);
	ck_assert_str_eq(kr_error_code(), "InsufficientInstanceCapacity");
	/* the node reports one instance: its reservation goes, its numbers count it */
	nodes[0].avail.cores = 3;
	cc_resv_drop(&nodes[0], nodes[0].resv[0].inst.id);
	ck_assert_int_eq(cc_sched_place(&small, 1, 1, x), -1);
}
END_TEST

START_TEST(all_or_nothing_and_down_nodes)
{
	struct cc_node *w[13];

	setup("ROUNDROBIN");
	nodes[2].state = CC_NODE_DOWN;
	ck_assert_int_eq(cc_sched_place(&small, 9, 9, w), -1);
	ck_assert_int_eq(cc.rr_next, 0);	/* a failed placement moves nothing */
	ck_assert_int_eq(nodes[0].nresv + nodes[1].nresv, 0);
	ck_assert_int_eq(cc_sched_place(&small, 8, 8, w), 8);
	for (int i = 0; i < 8; i++)
		ck_assert_ptr_ne(w[i], &nodes[2]);
	/* MinCount/MaxCount: as many as fit up to max, if at least min do. */
	ck_assert_int_eq(cc_sched_place(&small, 2, 12, w), 8);
	ck_assert_int_eq(cc_sched_place(&small, 9, 12, w), -1);
}
END_TEST

START_TEST(memory_and_disk_count)
{
	struct cc_node *w[2];
	struct cc_res big = { 1, 3000, 5 };

	setup("GREEDY");
	ck_assert_int_eq(cc_sched_place(&big, 2, 2, w), 2);
	ck_assert_ptr_ne(w[0], w[1]);	/* two do not fit 4096 MiB */
	ck_assert_int_eq(cc_fits_count(&nodes[0].max, &big), 1);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("scheduler", &tc);
	int rc;

	tcase_add_test(tc, greedy_fills_first_node);
	tcase_add_test(tc, roundrobin_spreads);
	tcase_add_test(tc, powersave_packs_and_skips_powered_off);
	tcase_add_test(tc, reservations_prevent_overcommit);
	tcase_add_test(tc, all_or_nothing_and_down_nodes);
	tcase_add_test(tc, memory_and_disk_count);
	rc = kr_check_run(s);
	for (int i = 0; i < 3; i++)
		free(nodes[i].resv);
	return rc;
}
