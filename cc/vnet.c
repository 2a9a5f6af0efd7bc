/*
 * vnet.c - the cluster's virtual network: modes, address allocation, and
 * StartNetwork / StopNetwork / DescribeNetworks.
 *
 *   SYSTEM          instances join VNET_BRIDGE on the node and get their
 *                   address from the LAN; the CC only gives MACs.
 *   STATIC          MAC/IP pairs from VNET_MACMAP, served by the CC's dnsmasq.
 *   MANAGED-NOVLAN  a subnet per security group, all on the private LAN; the
 *                   CC is every group's gateway, so traffic between groups
 *                   is routed through it and filtered (firewall.c).
 *   MANAGED         the same, plus a VLAN and a bridge per group on the CC
 *                   and on each node running the group's instances
 *                   (common/vnet_bridge.c; a node's end made by the NC's
 *                   launch of the instance): isolation at layer 2.
 *
 * Every change is written to cc.db first and then applied to the host, each
 * applying step idempotent, so a CC that restarts re-applies the same state
 * over what it left and nothing running notices.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "karriH.h"
#include "cc.h"
#include "command.h"
#include "daemon.h"
#include "db.h"
#include "error.h"
#include "log.h"
#include "soap_error.h"
#include "soap_server.h"
#include "vnet.h"

struct vnet V = { .lock = PTHREAD_MUTEX_INITIALIZER };

void
vnet_ip_str(uint32_t ip, char out[16])
{
	struct in_addr a = { htonl(ip) };

	inet_ntop(AF_INET, &a, out, 16);
}

int
vnet_ip_parse(const char *s, uint32_t *ip)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1) {
		kr_error("InvalidParameterValue", "'%.32s' is not an IPv4 address", s ? s : "");
		return -1;
	}
	*ip = ntohl(a.s_addr);
	return 0;
}

int
vnet_plen(void)
{
	int p = 32;

	for (int n = V.apn; n > 1; n >>= 1)
		p--;
	return p;
}

uint32_t
vnet_net_base(int vlan)
{
	return V.subnet + (uint32_t)vlan * (uint32_t)V.apn;
}

bool
vnet_managed(void)
{
	return V.mode == VNET_MANAGED || V.mode == VNET_MANAGED_NOVLAN;
}

struct vnet_net *
vnet_net_find(int vlan)
{
	for (int i = 0; i < V.nnets; i++)
		if (V.nets[i].vlan == vlan)
			return &V.nets[i];
	return NULL;
}

struct vnet_net *
vnet_net_by_name(const char *user, const char *name)
{
	for (int i = 0; i < V.nnets; i++)
		if (strcmp(V.nets[i].user, user ? user : "") == 0 &&
		    strcmp(V.nets[i].name, name ? name : "") == 0)
			return &V.nets[i];
	return NULL;
}

/* `ip addr add|del ADDR dev DEV`, where "already so" counts as done. */
static int
ip_addr(const char *verb, const char *addr, const char *dev)
{
	const char *argv[] = { "ip", "addr", verb, addr, "dev", dev, NULL };
	struct kr_command_opts o = { .timeout_ms = 10000 };
	struct kr_command_result r = { 0 };
	int rc = kr_command_run(argv, &o, &r);

	if (rc < 0 && r.err && (strstr(r.err, "File exists") || strstr(r.err, "already assigned") ||
	    strstr(r.err, "Cannot assign") || strstr(r.err, "not found")))
		rc = 0;
	if (rc < 0)
		kr_log_warnx("%s", kr_error_message());
	kr_command_result_free(&r);
	return rc;
}

static void
gateway(int vlan, char out[32])
{
	char ip[16];

	vnet_ip_str(vnet_net_base(vlan) + 1, ip);
	snprintf(out, 32, "%s/%d", ip, vnet_plen());
}

/* The CC's side of one network: bridge (MANAGED) and gateway address. */
static int
net_up(int vlan)
{
	char gw[32], br[KR_VNET_IFNAME];

	gateway(vlan, gw);
	if (V.mode == VNET_MANAGED) {
		if (kr_vnet_bridge_up(V.privif, vlan, br) < 0)
			return -1;
		return ip_addr("add", gw, br);
	}
	return ip_addr("add", gw, V.privif);
}

static void
net_down(int vlan)
{
	char gw[32];

	gateway(vlan, gw);
	if (V.mode == VNET_MANAGED)
		kr_vnet_bridge_down(vlan);
	else
		ip_addr("del", gw, V.privif);
}

/* --- cc.db -------------------------------------------------------------------- */

static int
db_exec_bind(const char *sql, const char *t1, const char *t2, const char *t3, int i1, int i2)
{
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&cc.dblock);
	if ((rc = kr_db_prepare(cc.db, sql, &st)) == 0) {
		int k = 1;

		if (t1) sqlite3_bind_text(st, k++, t1, -1, SQLITE_STATIC);
		if (t2) sqlite3_bind_text(st, k++, t2, -1, SQLITE_STATIC);
		if (t3) sqlite3_bind_text(st, k++, t3, -1, SQLITE_STATIC);
		if (i1 != -1) sqlite3_bind_int(st, k++, i1);
		if (i2 != -1) sqlite3_bind_int(st, k++, i2);
		rc = kr_db_step(st) < 0 ? -1 : 0;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&cc.dblock);
	return rc;
}

static int
load_state(void)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	pthread_mutex_lock(&cc.dblock);
	if (kr_db_prepare(cc.db, "SELECT vlan, user, name FROM networks", &st) == 0)
		while (V.nnets < VNET_NETS_MAX && kr_db_step(st) == 1) {
			struct vnet_net *n = &V.nets[V.nnets++];

			n->vlan = sqlite3_column_int(st, 0);
			snprintf(n->user, sizeof(n->user), "%s", sqlite3_column_text(st, 1));
			snprintf(n->name, sizeof(n->name), "%s", sqlite3_column_text(st, 2));
		}
	else
		rc = -1;
	sqlite3_finalize(st);
	st = NULL;
	if (kr_db_prepare(cc.db, "SELECT instance_id, vlan, net_index, mac, ip FROM leases", &st) == 0)
		while (V.nleases < VNET_LEASES_MAX && kr_db_step(st) == 1) {
			struct vnet_lease *l = &V.leases[V.nleases++];

			snprintf(l->id, sizeof(l->id), "%s", sqlite3_column_text(st, 0));
			l->vlan = sqlite3_column_int(st, 1);
			l->index = sqlite3_column_int(st, 2);
			snprintf(l->mac, sizeof(l->mac), "%s", sqlite3_column_text(st, 3));
			snprintf(l->ip, sizeof(l->ip), "%s", sqlite3_column_text(st, 4));
		}
	else
		rc = -1;
	sqlite3_finalize(st);
	st = NULL;
	if (kr_db_prepare(cc.db, "SELECT user, name, protocol, port_min, port_max, source_net,"
	    " source_user, source_name FROM rules ORDER BY id", &st) == 0)
		while (V.nrules < VNET_RULES_MAX && kr_db_step(st) == 1) {
			struct vnet_rule *r = &V.rules[V.nrules++];
			const unsigned char *t;

			snprintf(r->user, sizeof(r->user), "%s", sqlite3_column_text(st, 0));
			snprintf(r->name, sizeof(r->name), "%s", sqlite3_column_text(st, 1));
			snprintf(r->protocol, sizeof(r->protocol), "%s", sqlite3_column_text(st, 2));
			r->port_min = sqlite3_column_int(st, 3);
			r->port_max = sqlite3_column_int(st, 4);
			t = sqlite3_column_text(st, 5);
			snprintf(r->source_net, sizeof(r->source_net), "%s", t ? (const char *)t : "");
			t = sqlite3_column_text(st, 6);
			snprintf(r->source_user, sizeof(r->source_user), "%s", t ? (const char *)t : "");
			t = sqlite3_column_text(st, 7);
			snprintf(r->source_name, sizeof(r->source_name), "%s", t ? (const char *)t : "");
		}
	else
		rc = -1;
	sqlite3_finalize(st);
	pthread_mutex_unlock(&cc.dblock);
	return rc;
}

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
		snprintf(V.dir, sizeof(V.dir), "%s/var/lib/karri/cc-net", d->home);
	if (d)
		snprintf(V.logdir, sizeof(V.logdir), "%s/var/log/karri", d->home);
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

static void
sysctl_set(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(value, f) < 0)
		kr_log_warn("cannot set %s", path);
	if (f)
		fclose(f);
}

static void
forwarding_on(void)
{
	char path[128];

	/* The CC routes between groups and to the outside: it must forward. */
	sysctl_set("/proc/sys/net/ipv4/ip_forward", "1\n");
	/*
	 * No ICMP redirects: in MANAGED-NOVLAN every group shares the private
	 * LAN, and a redirect would tell an instance to reach another group
	 * directly, around the firewall.
	 */
	sysctl_set("/proc/sys/net/ipv4/conf/all/send_redirects", "0\n");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/send_redirects", V.privif);
	sysctl_set(path, "0\n");
}

int
cc_vnet_init(void)
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
	if (load_state() < 0)
		return -1;
	kr_log_info("network mode %s: %d network(s), %d address lease(s), %d rule(s)",
	    V.mode_name, V.nnets, V.nleases, V.nrules);
	if (V.mode == VNET_SYSTEM)
		return 0;
	if (kr_mkdir_p(V.dir) < 0)
		return -1;
	pthread_mutex_lock(&V.lock);
	forwarding_on();
	for (int i = 0; vnet_managed() && i < V.nnets; i++)
		net_up(V.nets[i].vlan);
	if (vnet_managed())
		vnet_public_load();
	vnet_dhcp_sync();
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
	vnet_dhcp_stop_all();
	if (vnet_managed()) {
		vnet_firewall_remove();
		vnet_public_remove_all();
		for (int i = 0; i < V.nnets; i++)
			net_down(V.nets[i].vlan);
	}
	pthread_mutex_unlock(&V.lock);
	kr_log_info("network removed from this host (clean shutdown)");
}

/* --- instances ----------------------------------------------------------------- */

static struct vnet_lease *
lease_find(const char *id)
{
	for (int i = 0; i < V.nleases; i++)
		if (strcmp(V.leases[i].id, id) == 0)
			return &V.leases[i];
	return NULL;
}

static bool
index_used(int vlan, int index)
{
	for (int i = 0; i < V.nleases; i++)
		if (V.leases[i].vlan == vlan && V.leases[i].index == index)
			return true;
	return false;
}

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

/* The network of (user, group): given by the CLC, else found or made. */
static int
net_for(const char *user, const char *group, int vlan)
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
	    db_exec_bind("INSERT INTO networks (user, name, vlan) VALUES (?, ?, ?)",
	    user, group, NULL, vlan, -1) < 0)
		return -1;
	n = &V.nets[V.nnets++];
	n->vlan = vlan;
	snprintf(n->user, sizeof(n->user), "%s", user);
	snprintf(n->name, sizeof(n->name), "%s", group);
	kr_log_info("network %d for group %s of %s", vlan, group, user);
	if (net_up(vlan) < 0)
		return -1;
	vnet_firewall_apply();
	return vlan;
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
	if ((l = lease_find(id)) != NULL) {
		kr_error("InvalidParameterValue", "instance %s has an address already", id);
		goto out;
	}
	if (V.mode == VNET_STATIC) {
		if (assign_static(id, in) < 0)
			goto out;
	} else {
		char ip[16];

		if ((vlan = net_for(user, group, vlan)) < 0)
			goto out;
		if (index < 2 || index > V.apn - 2 || index_used(vlan, index))
			for (index = 2; index <= V.apn - 2 && index_used(vlan, index); index++)
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
	if (db_exec_bind("INSERT INTO leases (instance_id, mac, ip, vlan, net_index) "
	    "VALUES (?, ?, ?, ?, ?)", id, in->mac, in->priv_ip,
	    V.mode == VNET_STATIC ? -2 : vlan, in->net_index) < 0)
		goto out;
	l = &V.leases[V.nleases++];
	snprintf(l->id, sizeof(l->id), "%s", id);
	l->vlan = V.mode == VNET_STATIC ? -2 : vlan;
	l->index = in->net_index;
	snprintf(l->mac, sizeof(l->mac), "%s", in->mac);
	snprintf(l->ip, sizeof(l->ip), "%s", in->priv_ip);
	vnet_dhcp_sync();
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
	if ((l = lease_find(id)) != NULL) {
		db_exec_bind("DELETE FROM leases WHERE instance_id = ?", id, NULL, NULL, -1, -1);
		/* dnsmasq forgets the lease, so the address can go to the next instance */
		vnet_dhcp_release(l->vlan, l->ip, l->mac);
		*l = V.leases[--V.nleases];
		vnet_dhcp_sync();
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

/* --- operations ----------------------------------------------------------------- */

static int
answer(struct soap *soap, enum xsd__boolean *ret, char **msg, int rc)
{
	*ret = true_;
	return rc == 0 ? SOAP_OK : kr_soap_error_reply(soap, ret, msg);
}

int
__cc__StartNetwork(struct soap *soap, struct _cc__StartNetwork *req,
    struct _cc__StartNetworkResponse *resp)
{
	const char *user = req->userId ? req->userId : "";
	const char *name = req->netName ? req->netName : "";
	struct vnet_net *n;
	int rc = 0;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	if (!vnet_managed())
		return answer(soap, &resp->_return, &resp->statusMessage, 0);
	if (!*name || strlen(name) >= 64 || strlen(user) >= 64) {
		kr_error("InvalidParameterValue", "bad network name");
		return answer(soap, &resp->_return, &resp->statusMessage, -1);
	}
	pthread_mutex_lock(&V.lock);
	n = vnet_net_by_name(user, name);
	if (n && n->vlan != req->vlan && req->vlan >= 0) {
		kr_error("InvalidParameterValue", "group %s of %s has network %d, not %d", name, user,
		    n->vlan, req->vlan);
		rc = -1;
	} else if (!n && vnet_net_find(req->vlan)) {
		kr_error("InvalidParameterValue", "network %d belongs to another group", req->vlan);
		rc = -1;
	} else if (!n && (req->vlan < V.vlan_min || req->vlan > V.vlan_max)) {
		kr_error("InvalidParameterValue", "network %d is not in %d..%d", req->vlan,
		    V.vlan_min, V.vlan_max);
		rc = -1;
	} else if (!n) {
		rc = net_for(user, name, req->vlan) < 0 ? -1 : 0;
		if (rc == 0)
			rc = vnet_dhcp_sync();
	}
	pthread_mutex_unlock(&V.lock);
	return answer(soap, &resp->_return, &resp->statusMessage, rc);
}

int
__cc__StopNetwork(struct soap *soap, struct _cc__StopNetwork *req,
    struct _cc__StopNetworkResponse *resp)
{
	struct vnet_net *n;
	int rc = 0;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	if (!vnet_managed())
		return answer(soap, &resp->_return, &resp->statusMessage, 0);
	pthread_mutex_lock(&V.lock);
	n = vnet_net_find(req->vlan);
	if (n && req->netName && strcmp(n->name, req->netName) != 0) {
		kr_error("InvalidParameterValue", "network %d is group %s, not %.64s", req->vlan,
		    n->name, req->netName);
		rc = -1;
	} else if (n) {
		int vlan = n->vlan;

		for (int i = 0; i < V.nleases; i++)
			if (V.leases[i].vlan == vlan) {
				kr_error("InvalidParameterValue", "instance %s still uses network %d",
				    V.leases[i].id, vlan);
				rc = -1;
				break;
			}
		if (rc == 0 && (rc = db_exec_bind("DELETE FROM networks WHERE vlan = ?", NULL, NULL,
		    NULL, vlan, -1)) == 0) {
			*n = V.nets[--V.nnets];
			vnet_dhcp_sync();
			vnet_firewall_apply();
			net_down(vlan);
			kr_log_info("network %d stopped", vlan);
		}
	}
	pthread_mutex_unlock(&V.lock);
	return answer(soap, &resp->_return, &resp->statusMessage, rc);
}

int
__cc__DescribeNetworks(struct soap *soap, struct _cc__DescribeNetworks *req,
    struct _cc__DescribeNetworksResponse *resp)
{
	KR_SOAP_ECHO(resp, req);
	resp->_return = true_;
	resp->mode = (char *)V.mode_name;
	resp->addrsPerNet = V.apn;
	resp->vlanMin = V.vlan_min;
	resp->vlanMax = V.vlan_max;
	pthread_mutex_lock(&V.lock);
	resp->__sizeactiveNetworks = V.nnets;
	resp->activeNetworks = soap_malloc(soap, (size_t)V.nnets * sizeof(*resp->activeNetworks) + 1);
	for (int i = 0; i < V.nnets; i++) {
		struct cc__networkType *w = &resp->activeNetworks[i];
		int k = 0;

		soap_default_cc__networkType(soap, w);
		w->vlan = V.nets[i].vlan;
		w->netName = soap_strdup(soap, V.nets[i].name);
		w->userName = soap_strdup(soap, V.nets[i].user);
		w->activeAddrs = soap_malloc(soap, (size_t)V.apn * sizeof(int));
		for (int j = 0; w->activeAddrs && j < V.nleases && k < V.apn; j++)
			if (V.leases[j].vlan == w->vlan)
				w->activeAddrs[k++] = V.leases[j].index;
		w->__sizeactiveAddrs = k;
	}
	pthread_mutex_unlock(&V.lock);
	return SOAP_OK;
}
