/*
 * priv_parent.c - what karri-cc's root parent does for its child: the table
 * of operations (priv.h), each with its validator and its action.
 *
 * The validators check every field against the parent's own V, filled from
 * karri.conf before the fork (cc_vnet_configure): the mode, VNET_SUBNET and
 * its networks (VLAN range, addresses per network), the VNET_PUBLICIPS pool.
 * The child cannot change those; it can only ask.  A request outside them
 * is one the child's code never makes (it checks the same things before
 * asking), so the validator logs why and returns false, and privsep.c
 * stops the parent -- and with it the child.  A valid request that fails
 * on the host (iptables said no) is an answer, not a breach.
 *
 * The actions are the host-side files' (vnet_host.c, dhcp.c,
 * firewall_rules.c, vnet_conntrack.c), run on the parent's V: its networks
 * and leases are what the child last sent, its names and paths its own.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "daemon/privsep.h"
#include "priv.h"
#include "vnet.h"

static bool __attribute__((format(printf, 1, 2)))
refuse(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kr_log_errorx("privileged parent: refused: %s", msg);
	return false;
}

static bool
vlan_ok(const char *op, long vlan)
{
	if (!vnet_managed())
		return refuse("%s: VNET_MODE %s has no networks", op, V.mode_name);
	if (vlan < V.vlan_min || vlan > V.vlan_max)
		return refuse("%s: network %ld is not in %d..%d", op, vlan, V.vlan_min, V.vlan_max);
	return true;
}

static bool
in_subnet(uint32_t ip)
{
	return (ip & V.netmask) == V.subnet;
}

static bool
in_pool(uint32_t ip)
{
	char s[16];

	vnet_ip_str(ip, s);
	for (int i = 0; i < V.npubs; i++)
		if (strcmp(V.pubs[i].pub, s) == 0)
			return true;
	return false;
}

/* An instance's address: inside its network, past the network and gateway, before broadcast. */
static bool
lease_ok(const char *op, const struct cc_priv_lease *l)
{
	char ip[16];

	vnet_ip_str(l->ip, ip);
	if (V.mode == VNET_STATIC) {
		if (!in_subnet(l->ip))
			return refuse("%s: %s is not in VNET_SUBNET", op, ip);
		return true;
	}
	if (!vlan_ok(op, l->vlan))
		return false;
	if (l->ip < vnet_net_base(l->vlan) + 2 || l->ip > vnet_net_base(l->vlan) + (uint32_t)V.apn - 2)
		return refuse("%s: %s is not an instance address of network %d", op, ip, l->vlan);
	return true;
}

static void
mac_str(const uint8_t m[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* --- networks, forwarding, public addresses, conntrack ------------------------- */

static bool
check_net(const void *req, size_t len)
{
	(void)len;
	return vlan_ok("NET", ((const struct cc_priv_net *)req)->vlan);
}

static int
run_net_up(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return vnet_host_net_up(((const struct cc_priv_net *)req)->vlan);
}

static int
run_net_down(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	vnet_host_net_down(((const struct cc_priv_net *)req)->vlan);
	return 0;
}

static bool
check_not_system(const void *req, size_t len)
{
	(void)req, (void)len;
	return V.mode != VNET_SYSTEM || refuse("VNET_MODE SYSTEM changes nothing on this host");
}

static int
run_forwarding_on(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)req, (void)len, (void)reply, (void)arg;
	*reply_len = 0;
	vnet_host_forwarding_on();
	return 0;
}

static bool
check_address(const void *req, size_t len)
{
	uint32_t pub = ((const struct cc_priv_address *)req)->pub;
	char s[16];

	(void)len;
	vnet_ip_str(pub, s);
	if (!vnet_managed())
		return refuse("ADDRESS: VNET_MODE %s has no elastic IPs", V.mode_name);
	return in_pool(pub) || refuse("ADDRESS: %s is not in VNET_PUBLICIPS", s);
}

static int
run_address(const void *req, size_t len, void *reply, size_t *reply_len, bool add, bool flush)
{
	char pub[16];

	(void)len, (void)reply;
	*reply_len = 0;
	vnet_ip_str(((const struct cc_priv_address *)req)->pub, pub);
	if (flush) {
		vnet_conntrack_flush(pub);
		return 0;
	}
	return vnet_host_public(add, pub);
}

static int
run_assign(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)arg;
	return run_address(req, len, reply, reply_len, true, false);
}

static int
run_unassign(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)arg;
	return run_address(req, len, reply, reply_len, false, false);
}

static int
run_flush(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)arg;
	return run_address(req, len, reply, reply_len, false, true);
}

/* --- the firewall ---------------------------------------------------------------- */

static bool
rule_ok(const struct cc_priv_rule *r, const bool *net)
{
	uint32_t host = r->src_plen >= 32 ? 0 : ~0u >> r->src_plen;

	if (r->vlan > VNET_NETS_MAX || !net[r->vlan])
		return refuse("FIREWALL_SET: a rule for network %d, which is not in the set", r->vlan);
	if (r->proto < CC_PRIV_TCP || r->proto > CC_PRIV_ICMP)
		return refuse("FIREWALL_SET: protocol %d", r->proto);
	if (r->src_plen > 32 || (r->src & host) != 0)
		return refuse("FIREWALL_SET: source %08x/%d is not a network", (unsigned)r->src,
		    r->src_plen);
	if (r->proto == CC_PRIV_ICMP ? r->port_min < -1 || r->port_min > 255 ||
	    r->port_max < -1 || r->port_max > 255 :
	    r->port_min < 0 || r->port_max > 65535 || r->port_min > r->port_max)
		return refuse("FIREWALL_SET: ports %d-%d", (int)r->port_min, (int)r->port_max);
	return true;
}

static bool
check_firewall(const void *req, size_t len)
{
	const struct cc_priv_firewall *fw = req;
	bool net[VNET_NETS_MAX + 1] = { false };

	(void)len;
	if (!vnet_managed())
		return refuse("FIREWALL_SET: VNET_MODE %s has no security groups", V.mode_name);
	if (fw->nnets > VNET_NETS_MAX || fw->nrules > VNET_RULES_MAX || fw->nnat > VNET_PUBLIC_MAX)
		return refuse("FIREWALL_SET: %u networks, %u rules, %u NAT pairs", fw->nnets,
		    fw->nrules, fw->nnat);
	for (uint32_t i = 0; i < fw->nnets; i++) {
		if (!vlan_ok("FIREWALL_SET", fw->nets[i]))
			return false;
		net[fw->nets[i]] = true;
	}
	for (uint32_t i = 0; i < fw->nrules; i++)
		if (!rule_ok(&fw->rules[i], net))
			return false;
	for (uint32_t i = 0; i < fw->nnat; i++) {
		char pub[16], priv[16];

		vnet_ip_str(fw->nat[i].pub, pub);
		vnet_ip_str(fw->nat[i].priv, priv);
		if (!in_pool(fw->nat[i].pub) || !in_subnet(fw->nat[i].priv))
			return refuse("FIREWALL_SET: NAT %s -> %s is not VNET_PUBLICIPS -> VNET_SUBNET",
			    pub, priv);
	}
	return true;
}

static int
run_firewall(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return cc_fw_apply(req);
}

static bool
check_managed(const void *req, size_t len)
{
	(void)req, (void)len;
	return vnet_managed() || refuse("VNET_MODE %s has no firewall", V.mode_name);
}

static int
run_firewall_remove(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)req, (void)len, (void)reply, (void)arg;
	*reply_len = 0;
	cc_fw_remove();
	return 0;
}

/* --- DHCP: the picture in pieces, then the commit --------------------------------- */

static bool
check_dhcp_nets(const void *req, size_t len)
{
	const struct cc_priv_dhcp_nets *n = req;

	(void)len;
	if (V.mode == VNET_SYSTEM || n->nnets > VNET_NETS_MAX)
		return refuse("DHCP_BEGIN: %u networks in VNET_MODE %s", n->nnets, V.mode_name);
	for (uint32_t i = 0; i < n->nnets; i++)
		if (!vlan_ok("DHCP_BEGIN", n->nets[i]))
			return false;
	return true;
}

static int
run_dhcp_begin(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	const struct cc_priv_dhcp_nets *n = req;

	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	memset(V.nets, 0, (size_t)V.nnets * sizeof(*V.nets));
	V.nnets = (int)n->nnets;
	for (uint32_t i = 0; i < n->nnets; i++)
		V.nets[i].vlan = n->nets[i];
	V.nleases = 0;
	return 0;
}

static bool
check_dhcp_leases(const void *req, size_t len)
{
	const struct cc_priv_dhcp_leases *c = req;

	(void)len;
	if (V.mode == VNET_SYSTEM || c->n > CC_PRIV_LEASES_CHUNK)
		return refuse("DHCP_LEASES: %u leases in VNET_MODE %s", c->n, V.mode_name);
	for (uint32_t i = 0; i < c->n; i++)
		if (!lease_ok("DHCP_LEASES", &c->l[i]))
			return false;
	return true;
}

static int
run_dhcp_leases(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	const struct cc_priv_dhcp_leases *c = req;

	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	if (V.nleases + (int)c->n > VNET_LEASES_MAX) {
		kr_error("InsufficientAddressCapacity", "more than %d leases", VNET_LEASES_MAX);
		return -1;
	}
	for (uint32_t i = 0; i < c->n; i++) {
		struct vnet_lease *l = &V.leases[V.nleases++];

		memset(l, 0, sizeof(*l));
		l->vlan = c->l[i].vlan;
		mac_str(c->l[i].mac, l->mac);
		vnet_ip_str(c->l[i].ip, l->ip);
	}
	return 0;
}

static int
run_dhcp_commit(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)req, (void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return vnet_dhcp_sync();
}

static bool
check_dhcp_release(const void *req, size_t len)
{
	(void)len;
	return check_not_system(req, len) &&
	    lease_ok("DHCP_RELEASE", &((const struct cc_priv_dhcp_release *)req)->lease);
}

static int
run_dhcp_release(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	const struct cc_priv_lease *l = &((const struct cc_priv_dhcp_release *)req)->lease;
	char ip[16], mac[18];

	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	vnet_ip_str(l->ip, ip);
	mac_str(l->mac, mac);
	vnet_dhcp_release(l->vlan, ip, mac);
	return 0;
}

static int
run_dhcp_stop(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)req, (void)len, (void)reply, (void)arg;
	*reply_len = 0;
	vnet_dhcp_stop_all();
	return 0;
}

#define FIXED(t) sizeof(t), sizeof(t)

const struct kr_privsep_op cc_priv_ops[] = {
	{ CC_PRIV_NET_UP, "NET_UP", FIXED(struct cc_priv_net), check_net, run_net_up },
	{ CC_PRIV_NET_DOWN, "NET_DOWN", FIXED(struct cc_priv_net), check_net, run_net_down },
	{ CC_PRIV_FORWARDING_ON, "FORWARDING_ON", 0, 0, check_not_system, run_forwarding_on },
	{ CC_PRIV_FIREWALL_SET, "FIREWALL_SET", FIXED(struct cc_priv_firewall), check_firewall,
	    run_firewall },
	{ CC_PRIV_FIREWALL_REMOVE, "FIREWALL_REMOVE", 0, 0, check_managed, run_firewall_remove },
	{ CC_PRIV_ADDRESS_ASSIGN, "ADDRESS_ASSIGN", FIXED(struct cc_priv_address), check_address,
	    run_assign },
	{ CC_PRIV_ADDRESS_UNASSIGN, "ADDRESS_UNASSIGN", FIXED(struct cc_priv_address),
	    check_address, run_unassign },
	{ CC_PRIV_CONNTRACK_FLUSH, "CONNTRACK_FLUSH", FIXED(struct cc_priv_address),
	    check_address, run_flush },
	{ CC_PRIV_DHCP_BEGIN, "DHCP_BEGIN", FIXED(struct cc_priv_dhcp_nets), check_dhcp_nets,
	    run_dhcp_begin },
	{ CC_PRIV_DHCP_LEASES, "DHCP_LEASES", FIXED(struct cc_priv_dhcp_leases),
	    check_dhcp_leases, run_dhcp_leases },
	{ CC_PRIV_DHCP_COMMIT, "DHCP_COMMIT", 0, 0, check_not_system, run_dhcp_commit },
	{ CC_PRIV_DHCP_RELEASE, "DHCP_RELEASE", FIXED(struct cc_priv_dhcp_release),
	    check_dhcp_release, run_dhcp_release },
	{ CC_PRIV_DHCP_STOP, "DHCP_STOP", 0, 0, check_not_system, run_dhcp_stop },
	{ 0, NULL, 0, 0, NULL, NULL },
};
