/*
 * action_instance_call.c - RebootInstances and GetConsoleOutput off the event loop.
 *
 * Both ask a backend about running instances: the CC of their zone, or the
 * remote cloud they were burst to.  On the loop the action finds where each
 * instance is (a CC's URL; a remote cloud's endpoint, credentials and the
 * instance's remote id, since a worker never reads clc.db) and defers
 * (clc_backend.h); a worker makes the calls; back on the loop the answer is
 * written.  A request holds a place in each backend's bounded queue, and a
 * deferral holds at most two: a reboot of instances in more than two zones
 * is refused rather than let one request sidestep the bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clc_backend.h"
#include "clc_burst.h"
#include "clc_cc.h"
#include "clc_instance.h"
#include "core/error.h"

#define TARGETS_MAX 2		/* backends one deferral can hold (clc_req_defer) */

/* The instances of one zone, and how to reach them. */
struct target {
	char zone[64], backend[CLC_BACKEND_KEY_MAX];
	bool remote;
	char url[300];			/* the zone's CC */
	struct clc_remote c;		/* or the remote cloud */
	int n;
	char (*ids)[KR_ID_MAX];		/* local ids for a CC, remote ids for a cloud */
};

struct inst_call {
	struct clc *clc;
	char id[KR_ID_MAX];		/* GetConsoleOutput's instance */
	int ntargets;
	struct target t[TARGETS_MAX];
	char *output;			/* the CC's console answer */
	xmlDoc *doc;			/* the remote cloud's */
};

static void
call_free(void *arg)
{
	struct inst_call *x = arg;

	if (x == NULL)
		return;
	for (int i = 0; i < x->ntargets; i++) {
		if (x->t[i].remote)
			clc_burst_wipe(&x->t[i].c);
		free(x->t[i].ids);
	}
	free(x->output);
	xmlFreeDoc(x->doc);
	free(x);
}

static int
target_init(struct clc_req *r, struct target *t, const char *zone, int max_ids)
{
	struct clc_cluster *cl;
	int found;

	snprintf(t->zone, sizeof(t->zone), "%s", zone);
	if (!(t->ids = calloc((size_t)max_ids, KR_ID_MAX))) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	if ((found = clc_burst_get(r->db, zone, &t->c)) < 0)
		return -1;
	if ((t->remote = found == 1)) {
		clc_backend_key(t->backend, "cloud", zone);
		return 0;
	}
	if (!(cl = clc_cluster_find(r->clc, zone)))
		return -1;
	snprintf(t->url, sizeof(t->url), "%s", cl->url);
	clc_backend_key(t->backend, "cc", zone);
	return 0;
}

/* Where instance id (in zone) is asked; max_ids: how many the request has. */
int
clc_inst_call_add(struct clc_req *r, struct inst_call *x, const char *id, const char *zone, int max_ids)
{
	struct target *t = NULL;
	char cloud[64];

	for (int i = 0; i < x->ntargets && !t; i++)
		if (strcmp(x->t[i].zone, zone) == 0)
			t = &x->t[i];
	if (t == NULL) {
		if (x->ntargets == TARGETS_MAX) {
			kr_error("InvalidParameterCombination", "the instances are in more than %d "
			    "zones: ask for those of at most %d zones at a time", TARGETS_MAX,
			    TARGETS_MAX);
			return -1;
		}
		t = &x->t[x->ntargets++];
		if (target_init(r, t, zone, max_ids) < 0)
			return -1;
	}
	if (!t->remote) {
		snprintf(t->ids[t->n++], KR_ID_MAX, "%s", id);
		return 0;
	}
	if (clc_burst_remote_id(r->db, id, cloud, sizeof(cloud), t->ids[t->n], KR_ID_MAX) != 1) {
		kr_error("InternalError", "instance %s has no remote id", id);
		return -1;
	}
	t->n++;
	return 0;
}

struct inst_call *
clc_inst_call_new(struct clc_req *r, const char *console_id)
{
	struct inst_call *x = calloc(1, sizeof(*x));

	if (x == NULL) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	x->clc = r->clc;
	snprintf(x->id, sizeof(x->id), "%s", console_id ? console_id : "");
	return x;
}

/* --- RebootInstances ------------------------------------------------------------- */

static int
reboot_work(void *arg)
{
	struct inst_call *x = arg;

	for (int i = 0; i < x->ntargets; i++) {
		struct target *t = &x->t[i];
		const char **ptrs = calloc((size_t)t->n, sizeof(*ptrs));
		int rc;

		if (ptrs == NULL) {
			kr_error("InternalError", "out of memory");
			return -1;
		}
		for (int j = 0; j < t->n; j++)
			ptrs[j] = t->ids[j];
		rc = t->remote ? clc_burst_ids_call(&t->c, "RebootInstances", ptrs, t->n) :
		    clc_cc_reboot(x->clc, t->url, ptrs, t->n);
		free(ptrs);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int
reboot_resume(struct clc_req *r, int rc, void *arg)
{
	(void)arg;
	return rc < 0 ? -1 : clc_return_true(r);
}

int
clc_inst_call_reboot(struct clc_req *r, struct inst_call *x)
{
	return clc_req_defer(r, x->t[0].backend, x->ntargets > 1 ? x->t[1].backend : NULL,
	    reboot_work, reboot_resume, x, call_free);
}

/* --- GetConsoleOutput ------------------------------------------------------------ */

static int
console_work(void *arg)
{
	struct inst_call *x = arg;
	struct target *t = &x->t[0];

	return t->remote ? clc_burst_console_call(&t->c, t->ids[0], &x->doc) :
	    clc_cc_console(x->clc, t->url, x->id, &x->output);
}

static int
console_resume(struct clc_req *r, int rc, void *arg)
{
	struct inst_call *x = arg;

	if (rc < 0)
		return -1;
	if (x->doc) {
		clc_burst_console_xml(r, x->id, x->doc);
		return 0;
	}
	clc_xml_elem(r->out, "instanceId", x->id);
	clc_xml_time(r->out, "timestamp", time(NULL));
	clc_xml_elem(r->out, "output", x->output ? x->output : "");
	return 0;
}

int
clc_inst_call_console(struct clc_req *r, struct inst_call *x)
{
	return clc_req_defer(r, x->t[0].backend, NULL, console_work, console_resume, x,
	    call_free);
}

void
clc_inst_call_free(struct inst_call *x)
{
	call_free(x);
}
