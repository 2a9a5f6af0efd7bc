/*
 * client_cc_instances.c - the CC calls about instances: RunInstances,
 * TerminateInstances, RebootInstances, GetConsoleOutput, and the poll
 * (DescribeInstances) that reconciles the CLC's rows with what runs.
 *
 * State names: the CC passes on the NC's (Eucalyptus: Pending, Extant,
 * Teardown) or EC2's; both map to EC2's pending/running/shutting-down/
 * terminated here.  The key pair travels as its OpenSSH public line in
 * keyName, as Eucalyptus' CC/NC contract carried it, since the node needs
 * the key, not its name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clc_backend.h"
#include "clc_cc.h"
#include "clc_instance.h"
#include "core/db.h"
#include "core/error.h"
#include "core/id.h"
#include "core/log.h"
#include "core/sizes.h"

#define PENDING_GRACE_S 120	/* a launch the CC does not report yet is not lost */

static const char *
ec2_state(const char *s)
{
	static const struct { const char *in, *out; } map[] = {
		{ "Pending", "pending" }, { "Extant", "running" }, { "Teardown", "terminated" },
		{ "pending", "pending" }, { "running", "running" },
		{ "shutting-down", "shutting-down" }, { "terminated", "terminated" },
		{ "Staging", "pending" }, { "Booting", "pending" }, { "Shutoff", "shutting-down" },
		{ "BundlingShutdown", "shutting-down" },
	};

	for (size_t i = 0; s && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(s, map[i].in) == 0)
			return map[i].out;
	return NULL;
}

/* Copy what the CC knows of one instance into its row. */
static int
update_row(sqlite3 *db, const struct cc__instanceType *in, time_t now)
{
	static const char sql[] =
		"UPDATE instances SET"
		" state = coalesce(?2, state),"
		" state_reason = CASE WHEN ?2 IS NOT NULL AND ?2 <> state THEN ?3"
		"  ELSE state_reason END,"
		" state_changed = CASE WHEN ?2 IS NOT NULL AND ?2 <> state THEN ?4"
		"  ELSE state_changed END,"
		" private_ip = coalesce(nullif(?5, ''), private_ip),"
		" public_ip = coalesce(nullif(?6, ''), public_ip),"
		" mac = coalesce(nullif(?7, ''), mac), node = coalesce(?8, node),"
		" disk_attachment = coalesce(?9, disk_attachment),"
		" net_attachment = coalesce(?10, net_attachment)"
		" WHERE id = ?1 AND state <> 'terminated'";
	const struct kr__netConfigType *net = in->netParams;
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, sql, &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, in->instanceId, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ec2_state(in->stateName), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, in->stateReason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_text(st, 5, net ? net->privateIp : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, net ? net->publicIp : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, net ? net->privateMacAddress : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, in->serviceTag, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, in->diskAttachment, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, in->netAttachment, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : sqlite3_changes(db);
}

/*
 * A launch on a CC, in three steps: prepared on the loop (the type's
 * numbers from clc.db), called on a worker, applied on the loop.  The
 * gSOAP context lives from the call to the apply, so the answer is read
 * where gSOAP put it.
 */
struct clc_cc_run {
	struct clc *clc;
	char url[300];
	const struct clc_launch *l;
	struct kr__virtualMachineType vm;
	struct clc_type_cap cap;
	struct soap *soap;
	struct _cc__RunInstancesResponse resp;
};

struct clc_cc_run *
clc_cc_run_prepare(struct clc *clc, sqlite3 *db, const char *url, const struct clc_launch *l)
{
	struct clc_cc_run *x = calloc(1, sizeof(*x));

	if (x == NULL) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	if (clc_type_get(db, l->type, &x->cap) < 0) {
		free(x);
		return NULL;
	}
	x->clc = clc;
	x->l = l;
	snprintf(x->url, sizeof(x->url), "%s", url);
	x->vm = (struct kr__virtualMachineType){ x->cap.name, x->cap.memory, x->cap.cores,
		x->cap.disk, x->cap.io_class };
	return x;
}

int
clc_cc_run_call(struct clc_cc_run *x)
{
	const struct clc_launch *l = x->l;
	struct _cc__RunInstances req;
	char corr[KR_UUID_MAX], user[16];

	if ((x->soap = clc_cc_soap(x->clc)) == NULL)
		return -1;
	clc_cc_ids(corr, user);
	req = (struct _cc__RunInstances){ .correlationId = corr, .userId = user,
		.imageId = (char *)l->image_id, .imageURL = (char *)l->image_url,
		.kernelId = (char *)l->kernel_id, .kernelURL = (char *)l->kernel_url,
		.ramdiskId = (char *)l->ramdisk_id, .ramdiskURL = (char *)l->ramdisk_url,
		.reservationId = (char *)l->reservation_id, .__sizeinstanceIds = l->count,
		.instanceIds = (char **)l->instance_ids, .__sizenetNames = l->ngroups,
		.netNames = (char **)l->groups, .__sizemacAddresses = l->count,
		.macAddresses = (char **)l->macs, .vlan = -1, .minCount = l->min_count,
		.maxCount = l->count, .keyName = (char *)l->key_material,
		.userData = (char *)l->user_data, .instanceType = &x->vm,
		.ownerId = (char *)l->owner };
	memset(&x->resp, 0, sizeof(x->resp));
	return clc_soap_check(x->soap, soap_call___cc__RunInstances(x->soap, x->url, NULL, &req,
	    &x->resp), &x->resp._return, &x->resp.statusMessage,
	    "InsufficientInstanceCapacity", "InsufficientInstanceCapacity", "RunInstances",
	    x->url);
}

/* The rows of what the CC started; *started how many. */
int
clc_cc_run_apply(struct clc_cc_run *x, sqlite3 *db, int *started)
{
	/* A CC that schedules asynchronously lists none: all were accepted. */
	*started = x->resp.__sizeinstances ? 0 : x->l->count;
	for (int i = 0; i < x->resp.__sizeinstances; i++) {
		int n = update_row(db, &x->resp.instances[i], time(NULL));

		if (n < 0)
			return -1;
		*started += n;
	}
	return 0;
}

void
clc_cc_run_free(struct clc_cc_run *x)
{
	if (x == NULL)
		return;
	clc_cc_done(x->soap);
	free(x);
}

static int
ids_call(struct clc *clc, const char *url, const char **ids, int n, bool terminate)
{
	struct soap *soap = clc_cc_soap(clc);
	char corr[KR_UUID_MAX], user[16];
	int rc = -1;

	if (soap == NULL)
		return -1;
	clc_cc_ids(corr, user);
	if (terminate) {
		struct _cc__TerminateInstances req = { corr, user, n, (char **)ids, NULL };
		struct _cc__TerminateInstancesResponse resp = { 0 };

		rc = clc_soap_check(soap, soap_call___cc__TerminateInstances(soap, url, NULL, &req, &resp),
		    &resp._return, &resp.statusMessage, "Unavailable", "InternalError",
		    "TerminateInstances", url);
	} else {
		struct _cc__RebootInstances req = { corr, user, n, (char **)ids };
		struct _cc__RebootInstancesResponse resp = { 0 };

		rc = clc_soap_check(soap, soap_call___cc__RebootInstances(soap, url, NULL, &req, &resp),
		    &resp._return, &resp.statusMessage, "Unavailable", "InternalError",
		    "RebootInstances", url);
	}
	clc_cc_done(soap);
	return rc;
}

int
clc_cc_terminate(struct clc *clc, const char *url, const char **ids, int n)
{
	return ids_call(clc, url, ids, n, true);
}

/* A TerminateInstances no client waits for, on a worker. */
struct later {
	struct clc *clc;
	char zone[64], url[300];
	int n;
	char (*ids)[KR_ID_MAX];
};

static int
later_work(void *arg)
{
	struct later *x = arg;
	const char *ptrs[CLC_TERMINATE_BATCH];

	for (int i = 0; i < x->n; i++)
		ptrs[i] = x->ids[i];
	return clc_cc_terminate(x->clc, x->url, ptrs, x->n);
}

static void
later_done(int rc, void *arg)
{
	struct later *x = arg;

	if (rc < 0)
		kr_log_warnx("cluster %s: TerminateInstances: %s (asked again on the next poll)",
		    x->zone, kr_error_message());
	free(x->ids);
	free(x);
}

void
clc_cc_terminate_later(struct clc *clc, const char *zone, const char *url, const char **ids,
    int n)
{
	struct later *x = calloc(1, sizeof(*x));
	char key[CLC_BACKEND_KEY_MAX];

	if (n > CLC_TERMINATE_BATCH)
		n = CLC_TERMINATE_BATCH;
	if (n <= 0 || !x || !(x->ids = calloc((size_t)n, KR_ID_MAX))) {
		free(x);
		return;
	}
	x->clc = clc;
	x->n = n;
	snprintf(x->zone, sizeof(x->zone), "%s", zone);
	snprintf(x->url, sizeof(x->url), "%s", url);
	for (int i = 0; i < n; i++)
		snprintf(x->ids[i], KR_ID_MAX, "%s", ids[i]);
	clc_backend_key(key, "cc", zone);
	if (clc_backend_run(key, later_work, later_done, x) < 0) {
		kr_log_warnx("cluster %s: %s (asked again on the next poll)", zone,
		    kr_error_message());
		later_done(0, x);
	}
	kr_error_clear();
}

int
clc_cc_reboot(struct clc *clc, const char *url, const char **ids, int n)
{
	return ids_call(clc, url, ids, n, false);
}

/* On a worker: the console of one instance, *output malloc'd (base64, as the CC has it). */
int
clc_cc_console(struct clc *clc, const char *url, const char *id, char **output)
{
	struct soap *soap = clc_cc_soap(clc);
	char corr[KR_UUID_MAX], user[16];
	struct _cc__GetConsoleOutput req = { corr, user, (char *)id };
	struct _cc__GetConsoleOutputResponse resp = { 0 };
	int rc = -1;

	if (soap == NULL)
		return -1;
	clc_cc_ids(corr, user);
	if (clc_soap_check(soap, soap_call___cc__GetConsoleOutput(soap, url, NULL, &req, &resp),
	    &resp._return, &resp.statusMessage, "Unavailable", "InternalError",
	    "GetConsoleOutput", url) == 0) {
		if ((*output = strdup(resp.consoleOutput ? resp.consoleOutput : "")) != NULL)
			rc = 0;
		else
			kr_error("InternalError", "out of memory");
	}
	clc_cc_done(soap);
	return rc;
}

/*
 * Is a row the CC does not list gone?  Only when the CC has heard from its
 * node since it started: a CC restarted while a node was unreachable (or
 * before its first poll of it) lists none of that node's instances, and
 * taking that for their end would terminate live instances.  A row not
 * placed on a node yet keeps the launch's grace period (the query).
 */
static bool
lost(const char *id, const char *node, const struct clc_cc_poll *poll, const char **seen,
    int nseen)
{
	const struct _cc__DescribeInstancesResponse *r = &poll->resp;

	if (clc_in_list(id, seen, (size_t)nseen))
		return false;
	return node == NULL || node[0] == '\0' ||
	    clc_in_list(node, (const char **)r->heardNodes, (size_t)r->__sizeheardNodes);
}

/* Rows of this zone that the CC no longer reports end as terminated. */
static int
mark_lost(sqlite3 *db, const char *zone, const struct clc_cc_poll *poll, const char **seen,
    int n, time_t now)
{
	sqlite3_stmt *st, *up;
	int rc;

	/* A launch the CC does not list yet gets a grace period; a termination does not. */
	if (kr_db_prepare(db, "SELECT id, node FROM instances WHERE zone = ?"
	    " AND (state = 'shutting-down' OR (state <> 'terminated' AND launched < ?))", &st) < 0)
		return -1;
	if (kr_db_prepare(db, "UPDATE instances SET state_changed = ?2, state_reason ="
	    " CASE state WHEN 'shutting-down' THEN state_reason ELSE 'Server.InternalError:"
	    " the cluster no longer reports the instance' END, state = 'terminated'"
	    " WHERE id = ?1", &up) < 0) {
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now - PENDING_GRACE_S);
	while ((rc = kr_db_step(st)) == 1) {
		const char *id = (const char *)sqlite3_column_text(st, 0);

		if (!lost(id, (const char *)sqlite3_column_text(st, 1), poll, seen, n))
			continue;
		sqlite3_bind_text(up, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(up, 2, now);
		kr_db_step(up);
		sqlite3_reset(up);
		kr_log_info("instance %s: no longer reported by cluster %s: terminated", id, zone);
	}
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	return rc < 0 ? -1 : 0;
}

/* One poll of one cluster, on a worker: the CC's DescribeInstances, kept in *poll. */
int
clc_cc_poll_call(struct clc *clc, const char *url, struct clc_cc_poll *poll)
{
	struct _cc__DescribeInstances req = { 0 };
	char corr[KR_UUID_MAX], user[16];

	memset(&poll->resp, 0, sizeof(poll->resp));
	if ((poll->soap = clc_cc_soap(clc)) == NULL)
		return -1;
	clc_cc_ids(corr, user);
	req.correlationId = corr;
	req.userId = user;
	return clc_soap_check(poll->soap, soap_call___cc__DescribeInstances(poll->soap, url, NULL,
	    &req, &poll->resp), &poll->resp._return, &poll->resp.statusMessage, "Unavailable",
	    "Unavailable", "DescribeInstances", url);
}

/* Whether clc.db has instance id (an unsure answer is yes: never treat it as an orphan). */
static bool
instance_known(sqlite3 *db, const char *id)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "SELECT 1 FROM instances WHERE id = ?", &st) < 0)
		return true;	/* unsure: never treat it as an orphan */
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc != 0;
}

/* Then on the loop: update known rows, terminate orphans, mark lost ones. */
int
clc_cc_poll_apply(struct clc *clc, const char *zone, const char *url, struct clc_cc_poll *poll)
{
	struct _cc__DescribeInstancesResponse *resp = &poll->resp;
	const char *orphans[64], *gone[64], *seen[4096];
	int norphans = 0, ngone = 0, nseen = 0, rc = -1;
	time_t now = time(NULL);

	if (kr_db_begin(clc->db) < 0)
		return -1;
	for (int i = 0; i < resp->__sizeinstances; i++) {
		struct cc__instanceType *in = &resp->instances[i];
		int n;

		if (in->instanceId == NULL)
			continue;
		if (nseen < (int)(sizeof(seen) / sizeof(seen[0])))
			seen[nseen++] = in->instanceId;
		if ((n = update_row(clc->db, in, now)) < 0)
			break;
		if (n == 0 && norphans < 64 && ec2_state(in->stateName) &&
		    strcmp(ec2_state(in->stateName), "terminated") != 0 &&
		    !instance_known(clc->db, in->instanceId))
			orphans[norphans++] = in->instanceId;
		/*
		 * Torn down on the node and recorded as terminated here: the NC
		 * keeps reporting it (as a node's instance) until a second
		 * terminate makes it forget it (nc/ops_lifecycle.c), so say it.
		 * Without this a node never looked empty again (found by the
		 * end-to-end test: "instances 2" on an idle node).
		 */
		else if (n == 0 && ngone < 64 && ec2_state(in->stateName) &&
		    strcmp(ec2_state(in->stateName), "terminated") == 0)
			gone[ngone++] = in->instanceId;
	}
	/* With more instances than `seen` holds, never guess which are lost. */
	if (nseen < (int)(sizeof(seen) / sizeof(seen[0])))
		mark_lost(clc->db, zone, poll, seen, nseen, now);
	if ((rc = kr_db_commit(clc->db)) < 0)
		kr_db_rollback(clc->db);
	if (norphans) {
		/* Launched by a RunInstances that never committed (CLC killed mid-call). */
		kr_log_warnx("cluster %s runs %d instance(s) the CLC never recorded: terminating",
		    zone, norphans);
		clc_cc_terminate_later(clc, zone, url, orphans, norphans);
	}
	if (ngone)
		clc_cc_terminate_later(clc, zone, url, gone, ngone);
	return rc;
}

void
clc_cc_poll_free(struct clc_cc_poll *poll)
{
	clc_cc_done(poll->soap);
	poll->soap = NULL;
}
