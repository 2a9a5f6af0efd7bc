/*
 * vnet.c - the cluster's virtual network: modes, configuration, start and
 * clean shutdown, networks started and stopped, and each instance's
 * address (its lease).  The SOAP operations are in ops_network.c, the
 * state in vnet_state.c; the host's side is the privileged parent's
 * (priv.h), asked through priv_client.c.
 *
 *   SYSTEM          instances join VNET_BRIDGE on the node and get their
 *                   address from the LAN; the CC only gives MACs.
 *   STATIC          MAC/IP pairs from VNET_MACMAP, served by the CC's dnsmasq.
 *   MANAGED-NOVLAN  a subnet per security group, all on the private LAN; the
 *                   CC is every group's gateway, so traffic between groups
 *                   is routed through it and filtered (firewall.c).
 *   MANAGED         the same, plus a VLAN and a bridge per group on the CC
 *                   and on each node running the group's instances
 *                   (common/vnet/vnet_bridge.c; a node's end made by the NC's
 *                   launch of the instance): isolation at layer 2.
 *
 * Every change is written to cc.db first and then applied to the host, each
 * applying step idempotent, so a CC that restarts re-applies the same state
 * over what it left and nothing running notices.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc.h"
#include "daemon/daemon.h"
#include "core/error.h"
#include "core/log.h"
#include "priv.h"
#include "vnet.h"

/* --- configuration ------------------------------------------------------------- */

static int
load_macmap(void)
{
	char **items = NULL;
	size_t n = kr_config_list(cc.cfg, "VNET_MACMAP", &items);

	V.macmap = calloc(n + 1, sizeof(*V.macmap));
	for (size_t i = 0; V.macmap && i < n; i++) {
		char *eq = strchr(items[i], '=');
		uint32_t ip;

		if (!eq || eq - items[i] != 17 || vnet_ip_parse(eq + 1, &ip) < 0) {
			kr_log_warnx("VNET_MACMAP: '%s' is not MAC=IP: ignored", items[i]);
			continue;
		}
		memcpy(V.macmap[V.nmacmap][0], items[i], 17);
		V.macmap[V.nmacmap][0][17] = '\0';
		snprintf(V.macmap[V.nmacmap][1], 18, "%s", eq + 1);
		V.nmacmap++;
	}
	kr_config_list_free(items, n);
	return 0;
}

static void
copy_ip_key(const char *key, char out[16])
{
	const char *v = kr_config_get(cc.cfg, key);

	snprintf(out, 16, "%s", v ? v : "");
}

static int
read_config(void)
{
	const char *mode = kr_config_get(cc.cfg, "VNET_MODE");
	const struct kr_daemon *d = kr_daemon_current();

	V.mode_name = mode;
	V.mode = strcmp(mode, "SYSTEM") == 0 ? VNET_SYSTEM : strcmp(mode, "STATIC") == 0 ?
	    VNET_STATIC : strcmp(mode, "MANAGED") == 0 ? VNET_MANAGED : VNET_MANAGED_NOVLAN;
	V.privif = kr_config_get(cc.cfg, "VNET_PRIVINTERFACE");
	V.pubif = kr_config_get(cc.cfg, "VNET_PUBINTERFACE");
	V.bridge = kr_config_get(cc.cfg, "VNET_BRIDGE");
	V.dhcpd = kr_config_get(cc.cfg, "VNET_DHCPDAEMON");
	V.dhcpuser = kr_config_get(cc.cfg, "VNET_DHCPUSER");
	V.macprefix = kr_config_get(cc.cfg, "VNET_MACPREFIX");
	V.apn = (int)kr_config_int(cc.cfg, "VNET_ADDRSPERNET");
	V.clc_port = (int)kr_config_int(cc.cfg, "CLC_PORT");
	copy_ip_key("VNET_DNS", V.dns);
	copy_ip_key("VNET_CLOUDIP", V.cloudip);
	copy_ip_key("VNET_ROUTER", V.router);
	copy_ip_key("VNET_BROADCAST", V.broadcast);
	if (d)
		snprintf(V.dir, sizeof(V.dir), "%s/var/lib/karri-cc", d->home);
	if (V.mode == VNET_SYSTEM)
		return 0;
	if (vnet_ip_parse(kr_config_get(cc.cfg, "VNET_SUBNET"), &V.subnet) < 0 ||
	    vnet_ip_parse(kr_config_get(cc.cfg, "VNET_NETMASK"), &V.netmask) < 0) {
		kr_error("InvalidConfiguration", "VNET_MODE %s needs VNET_SUBNET and VNET_NETMASK",
		    mode);
		return -1;
	}
	if ((V.subnet & V.netmask) != V.subnet || (~V.netmask & (~V.netmask + 1)) != 0) {
		kr_error("InvalidConfiguration", "VNET_SUBNET/VNET_NETMASK is not a network");
		return -1;
	}
	{
		uint64_t size = (uint64_t)(~V.netmask) + 1;
		uint64_t nets = size / (uint64_t)V.apn;

		V.vlan_min = 2;
		V.vlan_max = nets - 1 > 4094 ? 4094 : (int)nets - 1;
		if (vnet_managed() && V.vlan_max < V.vlan_min) {
			kr_error("InvalidConfiguration", "VNET_SUBNET holds no network of %d "
			    "addresses past the first two", V.apn);
			return -1;
		}
	}
	return V.mode == VNET_STATIC ? load_macmap() : 0;
}

/*
 * As root, before the fork (cc/priv.h): both processes get V's settings
 * from karri.conf here -- the child to run the network, the parent as the
 * limits it checks the child's requests against.  The parent's directory
 * (dnsmasq's hosts and pid files, its log) is made now, root's, outside
 * what the child owns: a child that could swap it for a symbolic link
 * could make the parent write or signal elsewhere.
 */
int
cc_vnet_configure(void)
{
	if (read_config() < 0)
		return -1;
	V.nets = calloc(VNET_NETS_MAX, sizeof(*V.nets));
	V.leases = calloc(VNET_LEASES_MAX, sizeof(*V.leases));
	V.rules = calloc(VNET_RULES_MAX, sizeof(*V.rules));
	V.pubs = calloc(VNET_PUBLIC_MAX, sizeof(*V.pubs));
	V.dhcp = calloc(VNET_NETS_MAX + 1, sizeof(*V.dhcp));
	if (!V.nets || !V.leases || !V.rules || !V.pubs || !V.dhcp) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	if (vnet_managed())
		vnet_public_pool();
	return V.mode == VNET_SYSTEM ? 0 : kr_mkdir_p(V.dir);
}

/* The child: V from cc.db, then the host made to match it, through the parent. */
int
cc_vnet_init(void)
{
	if (vnet_state_load() < 0)
		return -1;
	kr_log_info("network mode %s: %d network(s), %d address lease(s), %d rule(s)",
	    V.mode_name, V.nnets, V.nleases, V.nrules);
	if (V.mode == VNET_SYSTEM)
		return 0;
	pthread_mutex_lock(&V.lock);
	if (cc_priv_simple(CC_PRIV_FORWARDING_ON) < 0)
		kr_log_warnx("%s", kr_error_message());
	for (int i = 0; vnet_managed() && i < V.nnets; i++)
		if (cc_priv_net(CC_PRIV_NET_UP, V.nets[i].vlan) < 0)
			kr_log_warnx("%s", kr_error_message());
	if (vnet_managed())
		vnet_public_load();
	if (cc_priv_dhcp_sync() < 0)
		kr_log_warnx("%s", kr_error_message());
	if (vnet_managed())
		vnet_firewall_apply();
	pthread_mutex_unlock(&V.lock);
	return 0;
}

void
cc_vnet_shutdown(void)
{
	if (V.mode == VNET_SYSTEM)
		return;
	pthread_mutex_lock(&V.lock);
	cc_priv_simple(CC_PRIV_DHCP_STOP);
	if (vnet_managed()) {
		vnet_firewall_remove();
		vnet_public_remove_all();
		for (int i = 0; i < V.nnets; i++)
			cc_priv_net(CC_PRIV_NET_DOWN, V.nets[i].vlan);
	}
	pthread_mutex_unlock(&V.lock);
	kr_log_info("network removed from this host (clean shutdown)");
}

/* --- instances ----------------------------------------------------------------- */

static bool
mac_valid(const char *m)
{
	if (!m || strlen(m) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? m[i] != ':' : !strchr("0123456789abcdefABCDEF", m[i]))
			return false;
	return true;
}

/* The network of (user, group): given by the CLC, else found or made.  V.lock held. */
int
vnet_net_start(const char *user, const char *group, int vlan)
{
	struct vnet_net *n = vnet_net_by_name(user, group);

	if (n)
		return n->vlan;
	if (vlan < V.vlan_min || vlan > V.vlan_max || vnet_net_find(vlan)) {
		for (vlan = V.vlan_min; vlan <= V.vlan_max && vnet_net_find(vlan); vlan++)
			;
		if (vlan > V.vlan_max) {
			kr_error("InsufficientAddressCapacity", "every network (VLAN %d..%d) is in use",
			    V.vlan_min, V.vlan_max);
			return -1;
		}
	}
	if (V.nnets >= VNET_NETS_MAX ||
	    vnet_db_exec("INSERT INTO networks (user, name, vlan) VALUES (?, ?, ?)",
	    user, group, NULL, vlan, -1) < 0)
		return -1;
	n = &V.nets[V.nnets++];
	n->vlan = vlan;
	snprintf(n->user, sizeof(n->user), "%s", user);
	snprintf(n->name, sizeof(n->name), "%s", group);
	kr_log_info("network %d for group %s of %s", vlan, group, user);
	if (cc_priv_net(CC_PRIV_NET_UP, vlan) < 0)
		return -1;
	vnet_firewall_apply();
	return vlan;
}

/*
 * Stop network n (StopNetwork): refused while an instance still has an
 * address in it; else its row, DHCP, rules and the host's side go.
 * V.lock held.
 */
int
vnet_net_stop(struct vnet_net *n)
{
	int vlan = n->vlan;
	int rc = 0;

	for (int i = 0; i < V.nleases; i++)
		if (V.leases[i].vlan == vlan) {
			kr_error("InvalidParameterValue", "instance %s still uses network %d",
			    V.leases[i].id, vlan);
			rc = -1;
			break;
		}
	if (rc == 0 && (rc = vnet_db_exec("DELETE FROM networks WHERE vlan = ?", NULL, NULL,
	    NULL, vlan, -1)) == 0) {
		*n = V.nets[--V.nnets];
		cc_priv_dhcp_sync();
		vnet_firewall_apply();
		cc_priv_net(CC_PRIV_NET_DOWN, vlan);
		kr_log_info("network %d stopped", vlan);
	}
	return rc;
}

static int
assign_static(const char *id, struct cc_inst *in)
{
	for (int i = 0; i < V.nmacmap; i++) {
		bool used = false;

		for (int j = 0; j < V.nleases && !used; j++)
			used = strcmp(V.leases[j].mac, V.macmap[i][0]) == 0;
		if (used)
			continue;
		snprintf(in->mac, sizeof(in->mac), "%s", V.macmap[i][0]);
		snprintf(in->priv_ip, sizeof(in->priv_ip), "%.15s", V.macmap[i][1]);
		in->net_index = i;
		return 0;
	}
	kr_error("InsufficientAddressCapacity", "every VNET_MACMAP pair is in use (%s)", id);
	return -1;
}

int
cc_vnet_assign(const char *id, const char *user, const char *group, int vlan, int index,
    const char *mac_given, struct cc_inst *in)
{
	struct vnet_lease *l;
	int rc = -1;

	in->vlan = -1;
	in->net_index = -1;
	snprintf(in->bridge, sizeof(in->bridge), "%s", V.bridge ? V.bridge : "");
	if (mac_valid(mac_given))
		snprintf(in->mac, sizeof(in->mac), "%s", mac_given);
	else if (kr_id_mac_from_instance(id, V.macprefix, in->mac) < 0)
		return -1;
	if (V.mode == VNET_SYSTEM)
		return 0;
	pthread_mutex_lock(&V.lock);
	if (V.nleases >= VNET_LEASES_MAX) {
		kr_error("InsufficientAddressCapacity", "too many instances");
		goto out;
	}
	if ((l = vnet_lease_find(id)) != NULL) {
		kr_error("InvalidParameterValue", "instance %s has an address already", id);
		goto out;
	}
	if (V.mode == VNET_STATIC) {
		if (assign_static(id, in) < 0)
			goto out;
	} else {
		char ip[16];

		if ((vlan = vnet_net_start(user, group, vlan)) < 0)
			goto out;
		if (index < 2 || index > V.apn - 2 || vnet_index_used(vlan, index))
			for (index = 2; index <= V.apn - 2 && vnet_index_used(vlan, index); index++)
				;
		if (index > V.apn - 2) {
			kr_error("InsufficientAddressCapacity", "group %s has no free address "
			    "(VNET_ADDRSPERNET %d)", group, V.apn);
			goto out;
		}
		vnet_ip_str(vnet_net_base(vlan) + (uint32_t)index, ip);
		snprintf(in->priv_ip, sizeof(in->priv_ip), "%s", ip);
		in->net_index = index;
		in->vlan = V.mode == VNET_MANAGED ? vlan : -1;
		if (V.mode == VNET_MANAGED)
			kr_vnet_bridge_names(vlan, NULL, in->bridge);
	}
	if (vnet_db_exec("INSERT INTO leases (instance_id, mac, ip, vlan, net_index) "
	    "VALUES (?, ?, ?, ?, ?)", id, in->mac, in->priv_ip,
	    V.mode == VNET_STATIC ? -2 : vlan, in->net_index) < 0)
		goto out;
	l = &V.leases[V.nleases++];
	snprintf(l->id, sizeof(l->id), "%s", id);
	l->vlan = V.mode == VNET_STATIC ? -2 : vlan;
	l->index = in->net_index;
	snprintf(l->mac, sizeof(l->mac), "%s", in->mac);
	snprintf(l->ip, sizeof(l->ip), "%s", in->priv_ip);
	cc_priv_dhcp_sync();
	rc = 0;
out:
	pthread_mutex_unlock(&V.lock);
	return rc;
}

void
cc_vnet_release(const char *id)
{
	struct vnet_lease *l;

	if (V.mode == VNET_SYSTEM)
		return;
	pthread_mutex_lock(&V.lock);
	if ((l = vnet_lease_find(id)) != NULL) {
		vnet_db_exec("DELETE FROM leases WHERE instance_id = ?", id, NULL, NULL, -1, -1);
		/* dnsmasq forgets the lease, so the address can go to the next instance */
		if (cc_priv_dhcp_release(l->vlan, l->ip, l->mac) < 0)
			kr_log_warnx("dhcp_release %s %s: %s", l->ip, l->mac, kr_error_message());
		*l = V.leases[--V.nleases];
		cc_priv_dhcp_sync();
	}
	pthread_mutex_unlock(&V.lock);
}

int
cc_vnet_public_map(char (*out)[2][16], int max)
{
	int n = 0;

	if (!vnet_managed())
		return -1;
	pthread_mutex_lock(&V.lock);
	for (int i = 0; i < V.npubs && n < max; i++)
		if (V.pubs[i].priv[0]) {
			memcpy(out[n][0], V.pubs[i].pub, 16);
			memcpy(out[n][1], V.pubs[i].priv, 16);
			n++;
		}
	pthread_mutex_unlock(&V.lock);
	return n;
}
