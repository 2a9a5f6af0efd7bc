/*
 * firewall.c - security groups (ConfigureNetwork) and the picture of the
 * whole ruleset that the privileged parent applies (firewall_rules.c: the
 * chains, the policy, the metadata redirect and the elastic IP NAT).
 *
 * The rules are kept as the CLC sent them (user, group, protocol, ports,
 * source CIDR or source group) in V and cc.db; what goes to the parent is
 * numbers only, each source group resolved to its network's CIDR, so the
 * parent checks ranges rather than parsing names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "karriH.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"
#include "priv.h"
#include "vnet.h"

static uint8_t
proto_of(const char *name)
{
	return strcmp(name, "tcp") == 0 ? CC_PRIV_TCP : strcmp(name, "udp") == 0 ? CC_PRIV_UDP :
	    CC_PRIV_ICMP;
}

/* A stored rule as numbers, its source group resolved; false when it matches nothing yet. */
static bool
rule_picture(const struct vnet_rule *r, int vlan, struct cc_priv_rule *out)
{
	uint32_t src = 0;
	int plen = 0;

	if (r->source_name[0]) {
		struct vnet_net *s = vnet_net_by_name(r->source_user, r->source_name);

		if (!s)
			return false;	/* that group has no network (yet): nothing to match */
		src = vnet_net_base(s->vlan);
		plen = vnet_plen();
	} else if (r->source_net[0]) {
		char ip[20], *slash;

		snprintf(ip, sizeof(ip), "%s", r->source_net);
		if ((slash = strchr(ip, '/')) == NULL)
			return false;
		*slash = '\0';
		plen = atoi(slash + 1);
		if (vnet_ip_parse(ip, &src) < 0 || plen < 0 || plen > 32)
			return false;
		/* iptables would take 10.1.2.3/8 as 10.0.0.0/8: say so in numbers. */
		src &= plen ? ~0u << (32 - plen) : 0;
	}
	*out = (struct cc_priv_rule){ .vlan = (uint16_t)vlan, .proto = proto_of(r->protocol),
		.src_plen = (uint8_t)plen, .src = src, .port_min = r->port_min,
		.port_max = r->port_max };
	return true;
}

/* V as the parent's ruleset wants it (V.lock held). */
static void
picture(struct cc_priv_firewall *fw)
{
	uint32_t ip;

	for (int i = 0; i < V.nnets && fw->nnets < VNET_NETS_MAX; i++) {
		const struct vnet_net *n = &V.nets[i];

		fw->nets[fw->nnets++] = (uint16_t)n->vlan;
		for (int r = 0; r < V.nrules && fw->nrules < VNET_RULES_MAX; r++)
			if (strcmp(V.rules[r].user, n->user) == 0 &&
			    strcmp(V.rules[r].name, n->name) == 0 &&
			    rule_picture(&V.rules[r], n->vlan, &fw->rules[fw->nrules]))
				fw->nrules++;
	}
	for (int i = 0; i < V.npubs && fw->nnat < VNET_PUBLIC_MAX; i++)
		if (V.pubs[i].priv[0] && vnet_ip_parse(V.pubs[i].pub, &fw->nat[fw->nnat].pub) == 0 &&
		    vnet_ip_parse(V.pubs[i].priv, &ip) == 0)
			fw->nat[fw->nnat++].priv = ip;
}

int
vnet_firewall_apply(void)
{
	struct cc_priv_firewall *fw;
	int rc;

	if (!vnet_managed())
		return 0;
	if ((fw = calloc(1, sizeof(*fw))) == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	picture(fw);
	if ((rc = cc_priv_firewall_set(fw)) < 0)
		kr_log_warnx("firewall: %s", kr_error_message());
	free(fw);
	return rc;
}

void
vnet_firewall_remove(void)
{
	if (cc_priv_simple(CC_PRIV_FIREWALL_REMOVE) < 0)
		kr_log_warnx("firewall: %s", kr_error_message());
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
