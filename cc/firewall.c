/*
 * firewall.c - security groups, elastic IP NAT and the metadata redirect as
 * one iptables ruleset, applied atomically; and ConfigureNetwork.
 *
 * Karri owns its chains and only those: KARRI-FWD (filter, jumped to from
 * FORWARD), one KARRI-G<net> per group network, and KARRI-PRE / KARRI-OUT /
 * KARRI-POST in nat.  Every change rebuilds all of them from V and hands
 * the text to one `iptables-restore --noflush`: declaring a chain in the
 * batch flushes it, the rest of the host's rules are untouched, and the
 * kernel swaps the whole batch in at once, so no packet ever sees half a
 * change (an elastic IP moves from one instance to the other in one step).
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

#include "karriH.h"
#include "core/buf.h"
#include "core/command.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"
#include "vnet.h"

static bool jumps_done, scanned;

static const struct { const char *table, *chain, *from; } jumps[] = {
	{ "filter", "KARRI-FWD", "FORWARD" },
	{ "nat", "KARRI-PRE", "PREROUTING" },
	{ "nat", "KARRI-OUT", "OUTPUT" },
	{ "nat", "KARRI-POST", "POSTROUTING" },
};

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
rule_lines(struct kr_buf *b, const char *chain, const struct vnet_rule *r)
{
	char src[32] = "";

	if (r->source_name[0]) {
		struct vnet_net *s = vnet_net_by_name(r->source_user, r->source_name);

		if (!s)
			return;		/* that group has no network (yet): nothing to match */
		cidr_of(s->vlan, src);
	} else {
		snprintf(src, sizeof(src), "%s", r->source_net[0] ? r->source_net : "0.0.0.0/0");
	}
	kr_buf_addf(b, "-A %s -s %s -p %s", chain, src, r->protocol);
	if (strcmp(r->protocol, "icmp") == 0) {
		if (r->port_min >= 0 && r->port_max >= 0)
			kr_buf_addf(b, " --icmp-type %d/%d", r->port_min, r->port_max);
		else if (r->port_min >= 0)
			kr_buf_addf(b, " --icmp-type %d", r->port_min);
	} else {
		kr_buf_addf(b, " --dport %d:%d", r->port_min, r->port_max);
	}
	kr_buf_add(b, " -j ACCEPT\n");
}

/* The whole ruleset, as iptables-restore reads it. */
static void
ruleset(struct kr_buf *b)
{
	char all[32], cidr[32];

	subnet_cidr(all);
	kr_buf_add(b, "*filter\n:KARRI-FWD - [0:0]\n");
	for (int i = 0; i < V.nnets; i++)
		kr_buf_addf(b, ":KARRI-G%d - [0:0]\n", V.nets[i].vlan);
	kr_buf_add(b, "-A KARRI-FWD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
	for (int i = 0; i < V.nnets; i++) {
		cidr_of(V.nets[i].vlan, cidr);
		kr_buf_addf(b, "-A KARRI-FWD -d %s -j KARRI-G%d\n", cidr, V.nets[i].vlan);
	}
	kr_buf_addf(b, "-A KARRI-FWD -s %s -j ACCEPT\n", all);
	for (int i = 0; i < V.nnets; i++) {
		char chain[24];

		snprintf(chain, sizeof(chain), "KARRI-G%d", V.nets[i].vlan);
		cidr_of(V.nets[i].vlan, cidr);
		kr_buf_addf(b, "-A %s -s %s -j ACCEPT\n", chain, cidr);
		for (int r = 0; r < V.nrules; r++)
			if (strcmp(V.rules[r].user, V.nets[i].user) == 0 &&
			    strcmp(V.rules[r].name, V.nets[i].name) == 0)
				rule_lines(b, chain, &V.rules[r]);
		kr_buf_addf(b, "-A %s -j DROP\n", chain);
	}
	kr_buf_add(b, "COMMIT\n*nat\n:KARRI-PRE - [0:0]\n:KARRI-OUT - [0:0]\n:KARRI-POST - [0:0]\n");
	if (V.cloudip[0]) {
		kr_buf_addf(b, "-A KARRI-PRE -s %s -d 169.254.169.254/32 -p tcp --dport 80 "
		    "-j DNAT --to-destination %s:%d\n", all, V.cloudip, V.clc_port);
		kr_buf_addf(b, "-A KARRI-POST -s %s -d %s/32 -j RETURN\n", all, V.cloudip);
	}
	for (int i = 0; i < V.npubs; i++) {
		if (!V.pubs[i].priv[0])
			continue;
		kr_buf_addf(b, "-A KARRI-PRE -d %s/32 -j DNAT --to-destination %s\n",
		    V.pubs[i].pub, V.pubs[i].priv);
		kr_buf_addf(b, "-A KARRI-OUT -d %s/32 -j DNAT --to-destination %s\n",
		    V.pubs[i].pub, V.pubs[i].priv);
	}
	kr_buf_addf(b, "-A KARRI-POST -s %s -d %s -j RETURN\n", all, all);
	for (int i = 0; i < V.npubs; i++)
		if (V.pubs[i].priv[0])
			kr_buf_addf(b, "-A KARRI-POST -s %s/32 -j SNAT --to-source %s\n",
			    V.pubs[i].priv, V.pubs[i].pub);
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
vnet_firewall_apply(void)
{
	const char *argv[] = { "iptables-restore", "-w", "--noflush", NULL };
	struct kr_buf b = KR_BUF_INIT;
	struct kr_command_opts o = { .timeout_ms = 30000 };
	bool now[VNET_NETS_MAX + 1] = { false };
	int rc;

	if (!vnet_managed())
		return 0;
	if (!scanned) {
		scan_chains();
		scanned = true;
	}
	ruleset(&b);
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
	for (int i = 0; i < V.nnets; i++)
		if (V.nets[i].vlan <= VNET_NETS_MAX)
			now[V.nets[i].vlan] = true;
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
vnet_firewall_remove(void)
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

/* --- ConfigureNetwork ------------------------------------------------------------ */

static bool
cidr_valid(const char *s)
{
	char ip[20];
	const char *slash;
	uint32_t a;
	long plen;
	char *end;

	if (!s || !(slash = strchr(s, '/')) || slash - s >= 16)
		return false;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	plen = strtol(slash + 1, &end, 10);
	return *end == '\0' && slash[1] && plen >= 0 && plen <= 32 && vnet_ip_parse(ip, &a) == 0;
}

static bool
name_ok(const char *s)
{
	return s && *s && strlen(s) < 64;
}

/* One wire rule into stored rules (one per source); -1 + kr_error if invalid. */
static int
expand(const struct cc__networkRuleType *w, const char *user, struct vnet_rule *out, int max)
{
	struct vnet_rule base = { 0 };
	int n = 0;

	if (!name_ok(w->destName) || !w->protocol ||
	    (strcmp(w->protocol, "tcp") && strcmp(w->protocol, "udp") && strcmp(w->protocol, "icmp"))) {
		kr_error("InvalidParameterValue", "a rule needs a group and tcp, udp or icmp");
		return -1;
	}
	if (strcmp(w->protocol, "icmp") == 0 ?
	    (w->portRangeMin < -1 || w->portRangeMin > 255 || w->portRangeMax < -1 ||
	    w->portRangeMax > 255) :
	    (w->portRangeMin < 0 || w->portRangeMax > 65535 || w->portRangeMin > w->portRangeMax)) {
		kr_error("InvalidParameterValue", "bad port range %d-%d", w->portRangeMin,
		    w->portRangeMax);
		return -1;
	}
	snprintf(base.user, sizeof(base.user), "%s", name_ok(w->destUserName) ? w->destUserName : user);
	snprintf(base.name, sizeof(base.name), "%s", w->destName);
	snprintf(base.protocol, sizeof(base.protocol), "%s", w->protocol);
	base.port_min = w->portRangeMin;
	base.port_max = w->portRangeMax;
	for (int i = 0; i < w->__sizesourceNets; i++) {
		if (!cidr_valid(w->sourceNets[i])) {
			kr_error("InvalidParameterValue", "bad source network '%.32s'",
			    w->sourceNets[i] ? w->sourceNets[i] : "");
			return -1;
		}
		if (n == max)
			break;
		out[n] = base;
		snprintf(out[n++].source_net, sizeof(base.source_net), "%s", w->sourceNets[i]);
	}
	for (int i = 0; i < w->__sizesourceNames; i++) {
		const char *su = i < w->__sizeuserNames && name_ok(w->userNames[i]) ?
		    w->userNames[i] : base.user;

		if (!name_ok(w->sourceNames[i])) {
			kr_error("InvalidParameterValue", "bad source group");
			return -1;
		}
		if (n == max)
			break;
		out[n] = base;
		snprintf(out[n].source_user, sizeof(base.source_user), "%s", su);
		snprintf(out[n++].source_name, sizeof(base.source_name), "%s", w->sourceNames[i]);
	}
	if (n == 0) {
		kr_error("InvalidParameterValue", "a rule needs a source network or group");
		return -1;
	}
	return n;
}

static bool
rule_same(const struct vnet_rule *a, const struct vnet_rule *b)
{
	return strcmp(a->user, b->user) == 0 && strcmp(a->name, b->name) == 0 &&
	    strcmp(a->protocol, b->protocol) == 0 && a->port_min == b->port_min &&
	    a->port_max == b->port_max && strcmp(a->source_net, b->source_net) == 0 &&
	    strcmp(a->source_user, b->source_user) == 0 &&
	    strcmp(a->source_name, b->source_name) == 0;
}

static int
rule_find(const struct vnet_rule *r)
{
	for (int i = 0; i < V.nrules; i++)
		if (rule_same(&V.rules[i], r))
			return i;
	return -1;
}

static void
rule_db(const struct vnet_rule *r, bool add)
{
	sqlite3_stmt *st = NULL;
	const char *sql = add ?
	    "INSERT INTO rules (user, name, protocol, port_min, port_max, source_net, source_user,"
	    " source_name) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)" :
	    "DELETE FROM rules WHERE user = ?1 AND name = ?2 AND protocol = ?3 AND port_min = ?4"
	    " AND port_max = ?5 AND source_net = ?6 AND source_user = ?7 AND source_name = ?8";

	pthread_mutex_lock(&cc.dblock);
	if (kr_db_prepare(cc.db, sql, &st) == 0) {
		sqlite3_bind_text(st, 1, r->user, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, r->protocol, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, r->port_min);
		sqlite3_bind_int(st, 5, r->port_max);
		sqlite3_bind_text(st, 6, r->source_net, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, r->source_user, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, r->source_name, -1, SQLITE_STATIC);
		if (kr_db_step(st) < 0)
			kr_log_warnx("cc.db rules: %s", kr_error_message());
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&cc.dblock);
}

/*
 * Each rule's type says what to do: "firewall-open" (Eucalyptus' name)
 * adds it, "firewall-close" removes it.  The whole request is checked first
 * and then applied as one batch, so it takes effect entirely or not at all.
 */
int
__cc__ConfigureNetwork(struct soap *soap, struct _cc__ConfigureNetwork *req,
    struct _cc__ConfigureNetworkResponse *resp)
{
	struct vnet_rule *tmp;
	int rc = 0, ntmp = 0;
	bool *close_of;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	if (!vnet_managed()) {
		kr_error("InvalidParameterValue", "security groups need a MANAGED mode");
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	if (req->__sizerules < 0 || req->__sizerules > 256) {
		kr_error("InvalidParameterValue", "0..256 rules per call");
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	tmp = calloc(VNET_RULES_MAX, sizeof(*tmp));
	close_of = calloc(VNET_RULES_MAX, sizeof(*close_of));
	for (int i = 0; tmp && close_of && i < req->__sizerules && rc == 0; i++) {
		const struct cc__networkRuleType *w = &req->rules[i];
		int n = expand(w, req->userId ? req->userId : "", tmp + ntmp, VNET_RULES_MAX - ntmp);

		if (n < 0 || (w->type && strcmp(w->type, "firewall-open") &&
		    strcmp(w->type, "firewall-close"))) {
			if (n >= 0)
				kr_error("InvalidParameterValue", "rule type '%.32s'", w->type);
			rc = -1;
			break;
		}
		for (int k = 0; k < n; k++)
			close_of[ntmp + k] = w->type && strcmp(w->type, "firewall-close") == 0;
		ntmp += n;
	}
	if (!tmp || !close_of) {
		kr_error("InternalError", "out of memory");
		rc = -1;
	}
	if (rc == 0) {
		pthread_mutex_lock(&V.lock);
		for (int i = 0; i < ntmp; i++) {
			int at = rule_find(&tmp[i]);

			if (close_of[i] && at >= 0) {
				rule_db(&V.rules[at], false);
				V.rules[at] = V.rules[--V.nrules];
			} else if (!close_of[i] && at < 0 && V.nrules < VNET_RULES_MAX) {
				V.rules[V.nrules++] = tmp[i];
				rule_db(&tmp[i], true);
			}
		}
		rc = vnet_firewall_apply();
		pthread_mutex_unlock(&V.lock);
	}
	free(tmp);
	free(close_of);
	resp->_return = true_;
	return rc == 0 ? SOAP_OK : kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
}
