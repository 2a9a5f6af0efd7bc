/*
 * firewall_rules.c - the privileged parent's side of the firewall: security
 * groups, elastic IP NAT and the metadata redirect as one iptables ruleset,
 * applied atomically (the child's side, ConfigureNetwork and the picture it
 * sends, is firewall.c).
 *
 * Karri owns its chains and only those: KARRI-FWD (filter, jumped to from
 * FORWARD), one KARRI-G<net> per group network, and KARRI-PRE / KARRI-OUT /
 * KARRI-POST in nat.  Every change rebuilds all of them from the child's
 * picture (struct cc_priv_firewall: numbers only, checked by priv_parent.c)
 * and hands the text to one `iptables-restore --noflush`: declaring a chain
 * in the batch flushes it, the rest of the host's rules are untouched, and
 * the kernel swaps the whole batch in at once, so no packet ever sees half a
 * change (an elastic IP moves from one instance to the other in one step).
 * The text is written here, by the parent, from numbers: nothing the child
 * sends reaches iptables as text.
 *
 * Policy: traffic to a group's network goes through its chain; within a
 * group everything is allowed, from elsewhere only what a rule opens
 * (protocol, ports, source CIDR or source group), the rest is dropped
 * (default deny between groups).  Replies pass by conntrack.  Instances
 * may go out; those without an elastic IP are masqueraded.
 *
 * Metadata: 169.254.169.254:80 is DNATed to VNET_CLOUDIP:CLC_PORT, and
 * traffic to VNET_CLOUDIP is never SNATed, so the CLC sees the instance's
 * own private address as the source and answers for that instance only.
 * (The CLC host routes VNET_SUBNET via the CC; when they share a host, as in
 * the front end, the route is the CC's own gateway address.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/command.h"
#include "core/error.h"
#include "core/log.h"
#include "priv.h"
#include "vnet.h"

static bool jumps_done, scanned;

static const struct { const char *table, *chain, *from; } jumps[] = {
	{ "filter", "KARRI-FWD", "FORWARD" },
	{ "nat", "KARRI-PRE", "PREROUTING" },
	{ "nat", "KARRI-OUT", "OUTPUT" },
	{ "nat", "KARRI-POST", "POSTROUTING" },
};

static const char *const proto_names[] = { [CC_PRIV_TCP] = "tcp", [CC_PRIV_UDP] = "udp",
	[CC_PRIV_ICMP] = "icmp" };

static void
cidr_of(int vlan, char out[32])
{
	char ip[16];

	vnet_ip_str(vnet_net_base(vlan), ip);
	snprintf(out, 32, "%s/%d", ip, vnet_plen());
}

static void
subnet_cidr(char out[32])
{
	char ip[16];
	int plen = 0;

	for (uint32_t m = V.netmask; m & 0x80000000u; m <<= 1)
		plen++;
	vnet_ip_str(V.subnet, ip);
	snprintf(out, 32, "%s/%d", ip, plen);
}

static void
rule_lines(struct kr_buf *b, const char *chain, const struct cc_priv_rule *r)
{
	char src[16];

	vnet_ip_str(r->src, src);
	kr_buf_addf(b, "-A %s -s %s/%d -p %s", chain, src, r->src_plen, proto_names[r->proto]);
	if (r->proto == CC_PRIV_ICMP) {
		if (r->port_min >= 0 && r->port_max >= 0)
			kr_buf_addf(b, " --icmp-type %d/%d", (int)r->port_min, (int)r->port_max);
		else if (r->port_min >= 0)
			kr_buf_addf(b, " --icmp-type %d", (int)r->port_min);
	} else {
		kr_buf_addf(b, " --dport %d:%d", (int)r->port_min, (int)r->port_max);
	}
	kr_buf_add(b, " -j ACCEPT\n");
}

/* The whole ruleset, as iptables-restore reads it. */
static void
ruleset(struct kr_buf *b, const struct cc_priv_firewall *fw)
{
	char all[32], cidr[32], pub[16], priv[16];

	subnet_cidr(all);
	kr_buf_add(b, "*filter\n:KARRI-FWD - [0:0]\n");
	for (uint32_t i = 0; i < fw->nnets; i++)
		kr_buf_addf(b, ":KARRI-G%d - [0:0]\n", fw->nets[i]);
	kr_buf_add(b, "-A KARRI-FWD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
	for (uint32_t i = 0; i < fw->nnets; i++) {
		cidr_of(fw->nets[i], cidr);
		kr_buf_addf(b, "-A KARRI-FWD -d %s -j KARRI-G%d\n", cidr, fw->nets[i]);
	}
	kr_buf_addf(b, "-A KARRI-FWD -s %s -j ACCEPT\n", all);
	for (uint32_t i = 0; i < fw->nnets; i++) {
		char chain[24];

		snprintf(chain, sizeof(chain), "KARRI-G%d", fw->nets[i]);
		cidr_of(fw->nets[i], cidr);
		kr_buf_addf(b, "-A %s -s %s -j ACCEPT\n", chain, cidr);
		for (uint32_t r = 0; r < fw->nrules; r++)
			if (fw->rules[r].vlan == fw->nets[i])
				rule_lines(b, chain, &fw->rules[r]);
		kr_buf_addf(b, "-A %s -j DROP\n", chain);
	}
	kr_buf_add(b, "COMMIT\n*nat\n:KARRI-PRE - [0:0]\n:KARRI-OUT - [0:0]\n:KARRI-POST - [0:0]\n");
	if (V.cloudip[0]) {
		kr_buf_addf(b, "-A KARRI-PRE -s %s -d 169.254.169.254/32 -p tcp --dport 80 "
		    "-j DNAT --to-destination %s:%d\n", all, V.cloudip, V.clc_port);
		kr_buf_addf(b, "-A KARRI-POST -s %s -d %s/32 -j RETURN\n", all, V.cloudip);
	}
	for (uint32_t i = 0; i < fw->nnat; i++) {
		vnet_ip_str(fw->nat[i].pub, pub);
		vnet_ip_str(fw->nat[i].priv, priv);
		kr_buf_addf(b, "-A KARRI-PRE -d %s/32 -j DNAT --to-destination %s\n", pub, priv);
		kr_buf_addf(b, "-A KARRI-OUT -d %s/32 -j DNAT --to-destination %s\n", pub, priv);
	}
	kr_buf_addf(b, "-A KARRI-POST -s %s -d %s -j RETURN\n", all, all);
	for (uint32_t i = 0; i < fw->nnat; i++) {
		vnet_ip_str(fw->nat[i].pub, pub);
		vnet_ip_str(fw->nat[i].priv, priv);
		kr_buf_addf(b, "-A KARRI-POST -s %s/32 -j SNAT --to-source %s\n", priv, pub);
	}
	kr_buf_addf(b, "-A KARRI-POST -s %s -o %s -j MASQUERADE\nCOMMIT\n", all, V.pubif);
}

static int
ipt(const char *table, const char *op, const char *chain, const char *target)
{
	const char *argv[] = { "iptables", "-w", "-t", table, op, chain,
		target ? "-j" : NULL, target, NULL };
	struct kr_command_opts o = { .timeout_ms = 15000 };

	return kr_command_run(argv, &o, NULL);
}

/* Group chains left by an earlier run (a crash) that this one did not make. */
static void
scan_chains(void)
{
	const char *argv[] = { "iptables", "-w", "-t", "filter", "-S", NULL };
	struct kr_command_opts o = { .timeout_ms = 15000 };
	struct kr_command_result r = { 0 };

	if (kr_command_run(argv, &o, &r) == 0)
		for (char *p = r.out; (p = strstr(p, "-N KARRI-G")) != NULL; p++) {
			int v = atoi(p + 10);

			if (v >= 0 && v <= VNET_NETS_MAX)
				V.applied_chains[v] = true;
		}
	kr_command_result_free(&r);
}

int
cc_fw_apply(const struct cc_priv_firewall *fw)
{
	const char *argv[] = { "iptables-restore", "-w", "--noflush", NULL };
	struct kr_buf b = KR_BUF_INIT;
	struct kr_command_opts o = { .timeout_ms = 30000 };
	bool now[VNET_NETS_MAX + 1] = { false };
	int rc;

	if (!scanned) {
		scan_chains();
		scanned = true;
	}
	ruleset(&b, fw);
	if (kr_buf_failed(&b)) {
		kr_buf_free(&b);
		kr_error("InternalError", "firewall ruleset too large");
		return -1;
	}
	o.input = kr_buf_str(&b);
	o.input_len = kr_buf_len(&b);
	rc = kr_command_run(argv, &o, NULL);
	kr_buf_free(&b);
	if (rc < 0) {
		kr_log_warnx("firewall: %s", kr_error_message());
		return -1;
	}
	if (!jumps_done) {
		for (size_t i = 0; i < sizeof(jumps) / sizeof(jumps[0]); i++)
			if (ipt(jumps[i].table, "-C", jumps[i].from, jumps[i].chain) < 0 &&
			    ipt(jumps[i].table, "-I", jumps[i].from, jumps[i].chain) < 0)
				return -1;
		jumps_done = true;
	}
	for (uint32_t i = 0; i < fw->nnets; i++)
		if (fw->nets[i] <= VNET_NETS_MAX)
			now[fw->nets[i]] = true;
	for (int v = 0; v <= VNET_NETS_MAX; v++) {
		char chain[24];

		if (!V.applied_chains[v] || now[v])
			continue;
		snprintf(chain, sizeof(chain), "KARRI-G%d", v);
		ipt("filter", "-F", chain, NULL);
		ipt("filter", "-X", chain, NULL);
	}
	memcpy(V.applied_chains, now, sizeof(now));
	return 0;
}

void
cc_fw_remove(void)
{
	for (size_t i = 0; i < sizeof(jumps) / sizeof(jumps[0]); i++) {
		while (ipt(jumps[i].table, "-D", jumps[i].from, jumps[i].chain) == 0)
			;
		ipt(jumps[i].table, "-F", jumps[i].chain, NULL);
		ipt(jumps[i].table, "-X", jumps[i].chain, NULL);
	}
	for (int v = 0; v <= VNET_NETS_MAX; v++) {
		char chain[24];

		if (!V.applied_chains[v])
			continue;
		snprintf(chain, sizeof(chain), "KARRI-G%d", v);
		ipt("filter", "-F", chain, NULL);
		ipt("filter", "-X", chain, NULL);
		V.applied_chains[v] = false;
	}
	jumps_done = false;
}
