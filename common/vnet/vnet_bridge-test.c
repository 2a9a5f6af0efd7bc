/*
 * vnet_bridge-test.c - unit tests for vnet_bridge.c.
 *
 * The argument checks run anywhere.  As root, each test that makes devices
 * first moves into a network namespace of its own (Check forks every test,
 * so the namespace dies with it): a veth pair stands for the private
 * interface, and several threads bring the same network up at once.
 */
#include "core/check_run.h"
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/command.h"
#include "core/error.h"
#include "vnet/vnet_bridge.h"

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

START_TEST(names)
{
	char v[KR_VNET_IFNAME], b[KR_VNET_IFNAME];

	kr_vnet_bridge_names(4094, v, b);
	ck_assert_str_eq(v, "krv4094");
	ck_assert_str_eq(b, "krbr4094");
	kr_vnet_bridge_names(10, NULL, b);
	ck_assert_str_eq(b, "krbr10");
}
END_TEST

START_TEST(bad_arguments)
{
	ck_assert_int_eq(kr_vnet_bridge_up("lo", 0, NULL), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	ck_assert_int_eq(kr_vnet_bridge_up("lo", 4095, NULL), -1);
	ck_assert_int_eq(kr_vnet_bridge_up("no-such-if0", 10, NULL), -1);
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "does not exist"));
	ck_assert_int_eq(kr_vnet_bridge_up(NULL, 10, NULL), -1);
	ck_assert_int_eq(kr_vnet_bridge_up("an-interface-name-too-long", 10, NULL), -1);
}
END_TEST

/* A private network namespace with a veth pair kt0/kt1 up; false if not root. */
static bool
own_netns(void)
{
	if (geteuid() != 0)
		return false;
	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	ck_assert_int_eq(kr_command_run(ARGV("ip", "link", "add", "kt0", "type", "veth", "peer",
	    "name", "kt1"), NULL, NULL), 0);
	ck_assert_int_eq(kr_command_run(ARGV("ip", "link", "set", "kt0", "up"), NULL, NULL), 0);
	return true;
}

/* (/sys shows the namespace it was mounted in, not ours: ask ip.) */
static void
assert_enslaved(const char *vdev, const char *br)
{
	struct kr_command_result r;
	char want[64];

	ck_assert_int_eq(kr_command_run(ARGV("ip", "-o", "link", "show", vdev), NULL, &r), 0);
	snprintf(want, sizeof(want), " master %s state ", br);
	ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, ",UP"));
	kr_command_result_free(&r);
}

struct up_arg {
	int vlan, rc;
	char br[KR_VNET_IFNAME];
};

static void *
up_thread(void *p)
{
	struct up_arg *a = p;

	a->rc = kr_vnet_bridge_up("kt0", a->vlan, a->br);
	return NULL;
}

START_TEST(up_is_idempotent_and_concurrent)
{
	pthread_t t[6];
	struct up_arg a[6];

	if (!own_netns())
		return;		/* not root: nothing to make devices in */
	for (int i = 0; i < 6; i++) {
		a[i] = (struct up_arg){ .vlan = i % 2 ? 11 : 10 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, up_thread, &a[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(a[i].rc, 0);
		ck_assert_str_eq(a[i].br, i % 2 ? "krbr11" : "krbr10");
	}
	assert_enslaved("krv10", "krbr10");
	assert_enslaved("krv11", "krbr11");
	ck_assert_uint_ne(if_nametoindex("krbr10"), 0);
	/* once more, after the fact: still 0, nothing changed */
	ck_assert_int_eq(kr_vnet_bridge_up("kt0", 10, NULL), 0);
	assert_enslaved("krv10", "krbr10");
	/* a device left half-made (bridge gone) is completed */
	ck_assert_int_eq(kr_command_run(ARGV("ip", "link", "del", "krbr11"), NULL, NULL), 0);
	ck_assert_int_eq(kr_vnet_bridge_up("kt0", 11, NULL), 0);
	assert_enslaved("krv11", "krbr11");
	ck_assert_int_eq(kr_vnet_bridge_down(10), 0);
	ck_assert_int_eq(kr_vnet_bridge_down(10), 0);
	ck_assert_uint_eq(if_nametoindex("krbr10"), 0);
	ck_assert_uint_eq(if_nametoindex("krv10"), 0);
	ck_assert_uint_ne(if_nametoindex("krbr11"), 0);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("vnet_bridge", &tc);

	tcase_add_test(tc, names);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, up_is_idempotent_and_concurrent);
	return kr_check_run(s);
}
