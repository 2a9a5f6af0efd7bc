/*
 * priv_parent-test.c - karri-cc's privileged parent's table (priv_parent.c)
 * served in-process over a real socketpair, with the limits a karri.conf
 * would give (MANAGED, 10.100.0.0/16 in networks of 32, two public
 * addresses).  What is asked is what a child could send; nothing here
 * reaches the host: the requests are either refused by their validators
 * or change only the parent's picture of the DHCP leases.
 */
#include "core/check_run.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cc.h"
#include "core/error.h"
#include "daemon/privsep.h"
#include "priv.h"
#include "vnet.h"

#define SUBNET 0x0a640000u	/* 10.100.0.0 */
#define PUB0 0xc000020au	/* 192.0.2.10, in the pool */

struct parent {
	pthread_t thread;
	int fd;
	int rc;
};

static void *
serve_main(void *arg)
{
	struct parent *p = arg;

	p->rc = kr_privsep_serve(p->fd, cc_priv_ops, NULL);
	close(p->fd);		/* as the parent's exit would: the child sees the end */
	return NULL;
}

static void
configure(void)
{
	free(V.nets);
	free(V.leases);
	free(V.pubs);
	memset(&V, 0, sizeof(V));
	V.mode = VNET_MANAGED;
	V.mode_name = "MANAGED";
	V.subnet = SUBNET;
	V.netmask = 0xffff0000u;
	V.apn = 32;
	V.vlan_min = 2;
	V.vlan_max = 2047;
	V.nets = calloc(VNET_NETS_MAX, sizeof(*V.nets));
	V.leases = calloc(VNET_LEASES_MAX, sizeof(*V.leases));
	V.pubs = calloc(VNET_PUBLIC_MAX, sizeof(*V.pubs));
	ck_assert_ptr_nonnull(V.nets);
	ck_assert_ptr_nonnull(V.leases);
	ck_assert_ptr_nonnull(V.pubs);
	strcpy(V.pubs[V.npubs++].pub, "192.0.2.10");
	strcpy(V.pubs[V.npubs++].pub, "192.0.2.11");
}

static void
start(struct parent *p, struct kr_privsep_client *c)
{
	int fds[2];

	configure();
	ck_assert_int_eq(kr_privsep_pair(fds), 0);
	p->fd = fds[0];
	kr_privsep_client_init(c, fds[1]);
	ck_assert_int_eq(pthread_create(&p->thread, NULL, serve_main, p), 0);
}

/* The parent's loop's end: 0 when the child hung up, -1 on a breach. */
static int
finish(struct parent *p, struct kr_privsep_client *c)
{
	close(c->fd);
	pthread_join(p->thread, NULL);
	return p->rc;
}

/* One request the child's code never sends: refused, and the parent stops. */
static void
assert_refused(uint32_t op, const void *req, size_t len)
{
	struct parent p;
	struct kr_privsep_client c;

	start(&p, &c);
	ck_assert_int_eq(kr_privsep_call(&c, op, req, len, NULL, 0, NULL), -1);
	ck_assert_str_eq(kr_error_code(), "InternalError");
	ck_assert_int_eq(finish(&p, &c), -1);
}

START_TEST(dhcp_picture_is_taken_within_the_networks)
{
	static struct cc_priv_dhcp_nets nets = { .nnets = 1, .nets = { 5 } };
	static struct cc_priv_dhcp_leases chunk = { .n = 1, .l = { { .vlan = 5,
		.mac = { 0xd0, 0x0d, 0x12, 0x34, 0x56, 0x78 }, .ip = SUBNET + 5 * 32 + 2 } } };
	struct parent p;
	struct kr_privsep_client c;

	start(&p, &c);
	ck_assert_int_eq(kr_privsep_call(&c, CC_PRIV_DHCP_BEGIN, &nets, sizeof(nets), NULL, 0,
	    NULL), 0);
	ck_assert_int_eq(kr_privsep_call(&c, CC_PRIV_DHCP_LEASES, &chunk, sizeof(chunk), NULL, 0,
	    NULL), 0);
	ck_assert_int_eq(finish(&p, &c), 0);
	ck_assert_int_eq(V.nnets, 1);
	ck_assert_int_eq(V.nets[0].vlan, 5);
	ck_assert_int_eq(V.nleases, 1);
	ck_assert_str_eq(V.leases[0].ip, "10.100.0.162");
	ck_assert_str_eq(V.leases[0].mac, "d0:0d:12:34:56:78");
}
END_TEST

START_TEST(addresses_outside_the_pool_are_refused)
{
	struct cc_priv_address out = { .pub = PUB0 + 50 }, in_subnet = { .pub = SUBNET + 7 };

	assert_refused(CC_PRIV_ADDRESS_ASSIGN, &out, sizeof(out));
	assert_refused(CC_PRIV_ADDRESS_UNASSIGN, &in_subnet, sizeof(in_subnet));
	assert_refused(CC_PRIV_CONNTRACK_FLUSH, &out, sizeof(out));
}
END_TEST

START_TEST(unknown_operations_and_wrong_sizes_are_refused)
{
	struct cc_priv_net net = { .vlan = 5 };

	assert_refused(99, &net, sizeof(net));
	assert_refused(0, NULL, 0);
	assert_refused(CC_PRIV_NET_UP, &net, sizeof(net) - 1);
	assert_refused(CC_PRIV_FORWARDING_ON, &net, sizeof(net));	/* takes nothing */
}
END_TEST

START_TEST(networks_outside_the_subnet_are_refused)
{
	struct cc_priv_net low = { .vlan = 1 }, high = { .vlan = 2048 }, neg = { .vlan = -3 };
	static struct cc_priv_dhcp_nets nets = { .nnets = 1, .nets = { 4095 } };
	static struct cc_priv_dhcp_leases gateway = { .n = 1, .l = { { .vlan = 5,
		.ip = SUBNET + 5 * 32 + 1 } } };
	static struct cc_priv_dhcp_leases elsewhere = { .n = 1, .l = { { .vlan = 5,
		.ip = SUBNET + 6 * 32 + 2 } } };
	static struct cc_priv_dhcp_leases too_many = { .n = CC_PRIV_LEASES_CHUNK + 1 };

	assert_refused(CC_PRIV_NET_UP, &low, sizeof(low));
	assert_refused(CC_PRIV_NET_DOWN, &high, sizeof(high));
	assert_refused(CC_PRIV_NET_UP, &neg, sizeof(neg));
	assert_refused(CC_PRIV_DHCP_BEGIN, &nets, sizeof(nets));
	assert_refused(CC_PRIV_DHCP_LEASES, &gateway, sizeof(gateway));
	assert_refused(CC_PRIV_DHCP_LEASES, &elsewhere, sizeof(elsewhere));
	assert_refused(CC_PRIV_DHCP_LEASES, &too_many, sizeof(too_many));
}
END_TEST

START_TEST(firewall_pictures_off_the_limits_are_refused)
{
	static struct cc_priv_firewall fw;
	const struct cc_priv_rule ok = { .vlan = 5, .proto = CC_PRIV_TCP, .src_plen = 24,
		.src = 0xc0a80100u, .port_min = 22, .port_max = 22 };

	memset(&fw, 0, sizeof(fw));
	fw.nnets = 1;
	fw.nets[0] = 5;
	fw.nrules = 1;
	fw.rules[0] = ok;
	fw.rules[0].src |= 7;			/* host bits: not a network */
	assert_refused(CC_PRIV_FIREWALL_SET, &fw, sizeof(fw));
	fw.rules[0] = ok;
	fw.rules[0].proto = 9;
	assert_refused(CC_PRIV_FIREWALL_SET, &fw, sizeof(fw));
	fw.rules[0] = ok;
	fw.rules[0].vlan = 6;			/* a network not in the set */
	assert_refused(CC_PRIV_FIREWALL_SET, &fw, sizeof(fw));
	fw.rules[0] = ok;
	fw.rules[0].port_min = 100;
	fw.rules[0].port_max = 70000;
	assert_refused(CC_PRIV_FIREWALL_SET, &fw, sizeof(fw));
	fw.rules[0] = ok;
	fw.nnat = 1;
	fw.nat[0].pub = PUB0;
	fw.nat[0].priv = 0x0a650002u;		/* 10.101.0.2: outside VNET_SUBNET */
	assert_refused(CC_PRIV_FIREWALL_SET, &fw, sizeof(fw));
	fw.nat[0].pub = 0x08080808u;		/* not in VNET_PUBLICIPS */
	fw.nat[0].priv = SUBNET + 5 * 32 + 2;
	assert_refused(CC_PRIV_FIREWALL_SET, &fw, sizeof(fw));
	fw.nnat = 0;
	fw.nrules = VNET_RULES_MAX + 1;
	assert_refused(CC_PRIV_FIREWALL_SET, &fw, sizeof(fw));
}
END_TEST

START_TEST(system_mode_asks_for_nothing)
{
	struct parent p;
	struct kr_privsep_client c;

	start(&p, &c);
	V.mode = VNET_SYSTEM;
	V.mode_name = "SYSTEM";
	ck_assert_int_eq(kr_privsep_call(&c, CC_PRIV_FORWARDING_ON, NULL, 0, NULL, 0, NULL), -1);
	ck_assert_int_eq(finish(&p, &c), -1);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("priv_parent", &tc);

	tcase_add_test(tc, dhcp_picture_is_taken_within_the_networks);
	tcase_add_test(tc, addresses_outside_the_pool_are_refused);
	tcase_add_test(tc, unknown_operations_and_wrong_sizes_are_refused);
	tcase_add_test(tc, networks_outside_the_subnet_are_refused);
	tcase_add_test(tc, firewall_pictures_off_the_limits_are_refused);
	tcase_add_test(tc, system_mode_asks_for_nothing);
	return kr_check_run(s);
}
