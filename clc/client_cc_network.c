/*
 * client_cc_network.c - pushing the security-group rules to the clusters
 * (ConfigureNetwork), as Eucalyptus' CLC did.
 *
 * Every rule of every group goes in one call (the CC applies them as one
 * firewall batch), so a CC that restarted or missed a change is simply
 * given the whole truth again.  Rule changes mark the network dirty
 * (clc_network_changed); the next poll pushes it to every cluster that is
 * up, and so does a cluster coming up.
 */
#include <stdlib.h>
#include <string.h>

#include "clc_backend.h"
#include "clc_cc.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sizes.h"
#include "soap/soap_error.h"

#define MAX_RULES 4096

struct rule_rows {
	struct cc__networkRuleType rules[MAX_RULES];
	char *nets[MAX_RULES], *names[MAX_RULES], *users[MAX_RULES];
	int n;
};

static char *
dup_col(sqlite3_stmt *st, int c)
{
	const char *v = (const char *)sqlite3_column_text(st, c);

	return strdup(v ? v : "");
}

static int
load_rules(sqlite3 *db, struct rule_rows *rr)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "SELECT g.name, g.owner, r.protocol, r.from_port, r.to_port,"
	    " r.cidr, r.src_group, r.src_owner FROM group_rules r JOIN groups g"
	    " ON g.id = r.group_id ORDER BY g.owner, g.name", &st) < 0)
		return -1;
	while (rr->n < MAX_RULES && (rc = kr_db_step(st)) == 1) {
		struct cc__networkRuleType *r = &rr->rules[rr->n];
		const char *cidr = (const char *)sqlite3_column_text(st, 5);

		memset(r, 0, sizeof(*r));
		r->type = "firewall-open";
		r->destName = dup_col(st, 0);
		r->destUserName = dup_col(st, 1);
		r->protocol = dup_col(st, 2);
		r->portRangeMin = sqlite3_column_int(st, 3);
		r->portRangeMax = sqlite3_column_int(st, 4);
		if (cidr && *cidr) {
			rr->nets[rr->n] = dup_col(st, 5);
			r->__sizesourceNets = 1;
			r->sourceNets = &rr->nets[rr->n];
		} else {
			rr->names[rr->n] = dup_col(st, 6);
			rr->users[rr->n] = dup_col(st, 7);
			r->__sizesourceNames = r->__sizeuserNames = 1;
			r->sourceNames = &rr->names[rr->n];
			r->userNames = &rr->users[rr->n];
		}
		rr->n++;
	}
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

static void
free_rules(struct rule_rows *rr)
{
	for (int i = 0; i < rr->n; i++) {
		free(rr->rules[i].destName);
		free(rr->rules[i].destUserName);
		free(rr->rules[i].protocol);
		free(rr->nets[i]);
		free(rr->names[i]);
		free(rr->users[i]);
	}
	free(rr);
}

/* A push of every rule to the clusters that are up, on a worker. */
struct push {
	struct clc *clc;
	struct rule_rows *rr;
	int n, failed;
	char names[CLC_MAX_CLUSTERS][64], urls[CLC_MAX_CLUSTERS][300];
};

static int
push_work(void *arg)
{
	struct push *p = arg;

	for (int i = 0; i < p->n; i++) {
		struct soap *soap = clc_cc_soap(p->clc);
		char corr[KR_UUID_MAX], user[16];
		struct _cc__ConfigureNetwork req = { corr, user, p->rr->n, p->rr->rules };
		struct _cc__ConfigureNetworkResponse resp = { 0 };

		if (soap == NULL) {
			p->failed++;
			continue;
		}
		clc_cc_ids(corr, user);
		if (kr_soap_error_read(soap, soap_call___cc__ConfigureNetwork(soap, p->urls[i], NULL,
		    &req, &resp), &resp._return, &resp.statusMessage, NULL, "ConfigureNetwork",
		    p->urls[i]) < 0) {
			p->failed++;
			kr_log_debug("ConfigureNetwork to %s did not succeed: %s: %s", p->names[i],
			    kr_error_code(), kr_error_message());
			kr_error_clear();	/* pushed again on the next poll */
		}
		clc_cc_done(soap);
	}
	return 0;
}

static void
push_done(int rc, void *arg)
{
	struct push *p = arg;

	(void)rc;
	if (p->failed)
		p->clc->network_dirty = true;	/* again on the next poll */
	free_rules(p->rr);
	free(p);
}

/*
 * Push every rule to each cluster that is up, from a worker, one push at a
 * time; the rules stay dirty until every cluster took them.
 */
int
clc_network_push(struct clc *clc)
{
	struct push *p;

	if (clc_backend_inflight("cc-network") > 0)
		return 0;
	if (!(p = calloc(1, sizeof(*p))) || !(p->rr = calloc(1, sizeof(*p->rr))) ||
	    load_rules(clc->db, p->rr) < 0) {
		if (p && p->rr)
			free_rules(p->rr);
		free(p);
		return -1;
	}
	p->clc = clc;
	for (size_t i = 0; i < clc->nclusters; i++)
		if (clc->clusters[i].up) {
			snprintf(p->names[p->n], sizeof(p->names[0]), "%s", clc->clusters[i].name);
			snprintf(p->urls[p->n], sizeof(p->urls[0]), "%s", clc->clusters[i].url);
			p->n++;
		}
	/* A change made while this push runs marks them dirty again: pushed next time. */
	clc->network_dirty = false;
	if (clc_backend_run("cc-network", push_work, push_done, p) < 0) {
		clc->network_dirty = true;
		free_rules(p->rr);
		free(p);
		return -1;
	}
	return 0;
}
