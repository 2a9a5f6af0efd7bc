/*
 * vnet_host.c - what the cluster network changes on the CC's host besides
 * dnsmasq (dhcp.c) and iptables (firewall_rules.c): each network's bridge
 * and gateway address, the public addresses on VNET_PUBINTERFACE, and the
 * forwarding sysctls.  Every step is idempotent ("already so" is done), so
 * a restarted CC re-applies its state over what it left.  Run by the
 * privileged parent (priv_parent.c) on the child's checked request, with
 * the parent's own V: names and addresses come from its karri.conf.
 */
#include <stdio.h>
#include <string.h>

#include "core/command.h"
#include "core/error.h"
#include "core/log.h"
#include "vnet.h"

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
int
vnet_host_net_up(int vlan)
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

void
vnet_host_net_down(int vlan)
{
	char gw[32];

	gateway(vlan, gw);
	if (V.mode == VNET_MANAGED)
		kr_vnet_bridge_down(vlan);
	else
		ip_addr("del", gw, V.privif);
}

/* pub/32 on VNET_PUBINTERFACE, so the CC answers ARP for it; or taken off. */
int
vnet_host_public(bool add, const char *pub)
{
	char a[24];

	snprintf(a, sizeof(a), "%s/32", pub);
	return ip_addr(add ? "add" : "del", a, V.pubif);
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

void
vnet_host_forwarding_on(void)
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
