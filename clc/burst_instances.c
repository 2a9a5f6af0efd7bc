/*
 * burst_instances.c - the calls about instances running in a remote cloud
 * (TerminateInstances, RebootInstances, GetConsoleOutput, each forwarded
 * with the remote id) and the poll that keeps their rows true.
 *
 * The poll asks each remote cloud for DescribeInstances once per
 * reconcile (clc_burst_poll, from reconcile.c) and, as the cluster poll
 * does for local zones: copies state and addresses into the rows; marks
 * terminated the rows whose instance the remote no longer lists or lists
 * as terminated (terminated behind Karri's back); asks again to terminate
 * what is shutting down here but still runs there; and terminates remote
 * instances that carry this cloud's tag but have no row here (a launch
 * whose answer was lost).  The call runs on a worker thread (clc_backend.h)
 * and its answer is applied on the loop; a poll waits at most
 * POLL_TIMEOUT_S, one at a time per cloud, and a cloud that failed one is
 * asked again only after CLC_BURST_DOWN_RETRY_S.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clc_backend.h"
#include "clc_burst.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"

#define POLL_TIMEOUT_S 5
#define PENDING_GRACE_S 60	/* a launch not listed yet is not lost */
#define MAX_SEEN 4096
#define MAX_BATCH 64

static int
id_params(const struct clc_remote *c, const char *action, const char **remote, int n,
    xmlDoc **doc)
{
	struct clc_burst_params p;

	clc_burst_params_init(&p, action);
	for (int i = 0; i < n; i++)
		clc_burst_paramf(&p, remote[i], "InstanceId.%d", i + 1);
	return clc_burst_call(c, &p, doc);
}

/* Local ids -> remote ids of one cloud; -1 when one is not a burst instance. */
static int
remote_ids(sqlite3 *db, const char **ids, int n, char (*out)[KR_ID_MAX], const char **ptrs)
{
	char cloud[64];

	for (int i = 0; i < n; i++) {
		if (clc_burst_remote_id(db, ids[i], cloud, sizeof(cloud), out[i], KR_ID_MAX) != 1) {
			kr_error("InternalError", "instance %s has no remote id", ids[i]);
			return -1;
		}
		ptrs[i] = out[i];
	}
	return 0;
}

/* A TerminateInstances no client waits for, on a worker. */
struct later {
	struct clc_remote c;
	int n;
	char ids[MAX_BATCH][KR_ID_MAX];
};

static int
later_work(void *arg)
{
	struct later *x = arg;
	const char *ptrs[MAX_BATCH];
	xmlDoc *doc;

	for (int i = 0; i < x->n; i++)
		ptrs[i] = x->ids[i];
	if (id_params(&x->c, "TerminateInstances", ptrs, x->n, &doc) < 0)
		return -1;
	xmlFreeDoc(doc);
	return 0;
}

static void
later_done(int rc, void *arg)
{
	struct later *x = arg;

	if (rc < 0)
		kr_log_warnx("cloud %s: TerminateInstances: %s (asked again on the next poll)",
		    x->c.name, kr_error_message());
	clc_burst_wipe(&x->c);
	free(x);
}

void
clc_burst_terminate_remote_later(const struct clc_remote *c, const char **remote_ids, int n)
{
	struct later *x;
	char key[CLC_BACKEND_KEY_MAX];

	if (n <= 0 || !(x = calloc(1, sizeof(*x))))
		return;
	x->c = *c;
	x->n = n < MAX_BATCH ? n : MAX_BATCH;
	for (int i = 0; i < x->n; i++)
		snprintf(x->ids[i], KR_ID_MAX, "%s", remote_ids[i]);
	clc_backend_key(key, "cloud", c->name);
	if (clc_backend_run(key, later_work, later_done, x) < 0) {
		kr_log_warnx("cloud %s: %s (asked again on the next poll)", c->name,
		    kr_error_message());
		later_done(0, x);
	}
}

void
clc_burst_terminate_later(sqlite3 *db, const char *zone, const char **ids, int n)
{
	static char buf[MAX_BATCH][KR_ID_MAX];
	const char *remote[MAX_BATCH];
	struct clc_remote c;

	if (n > MAX_BATCH)
		n = MAX_BATCH;
	if (clc_burst_get(db, zone, &c) == 1 && remote_ids(db, ids, n, buf, remote) == 0)
		clc_burst_terminate_remote_later(&c, remote, n);
	else
		kr_log_warnx("cloud %s: cannot ask to terminate: %s", zone, kr_error_message());
	clc_burst_wipe(&c);
	kr_error_clear();
}

/* On a worker: an action about instances (RebootInstances), by their remote ids. */
int
clc_burst_ids_call(const struct clc_remote *c, const char *action, const char **remote, int n)
{
	xmlDoc *doc;

	if (id_params(c, action, remote, n, &doc) < 0)
		return -1;
	xmlFreeDoc(doc);
	return 0;
}

/* On a worker: GetConsoleOutput of one instance, by its remote id; *doc the answer. */
int
clc_burst_console_call(const struct clc_remote *c, const char *remote, xmlDoc **doc)
{
	struct clc_burst_params p;

	clc_burst_params_init(&p, "GetConsoleOutput");
	clc_burst_param(&p, "InstanceId", remote);
	return clc_burst_call(c, &p, doc);
}

/* Back on the loop: the answer, under the local id. */
void
clc_burst_console_xml(struct clc_req *r, const char *id, xmlDoc *doc)
{
	xmlNode *root = xmlDocGetRootElement(doc), *output = clc_burst_child(root, "output");
	xmlChar *out = output ? xmlNodeGetContent(output) : NULL;
	char ts[40];

	clc_xml_elem(r->out, "instanceId", id);
	clc_burst_text(root, "timestamp", ts, sizeof(ts));
	if (*ts)
		clc_xml_elem(r->out, "timestamp", ts);
	else
		clc_xml_time(r->out, "timestamp", time(NULL));
	clc_xml_elem(r->out, "output", out ? (const char *)out : "");
	xmlFree(out);
}

/* One poll of one cloud. */
struct poll {
	sqlite3 *db;
	const struct clc_remote *c;
	const char *identity;
	time_t now;
	char (*seen)[KR_ID_MAX];
	int nseen;
	char retry[MAX_BATCH][KR_ID_MAX], orphan[MAX_BATCH][KR_ID_MAX];
	int nretry, norphan;
};

static bool
tagged_ours(xmlNode *item, const char *identity)
{
	char key[64], value[64];

	for (xmlNode *t = clc_burst_child(clc_burst_child(item, "tagSet"), "item"); t;
	    t = t->next) {
		clc_burst_text(t, "key", key, sizeof(key));
		clc_burst_text(t, "value", value, sizeof(value));
		if (strcmp(key, CLC_BURST_TAG) == 0 && strcmp(value, identity) == 0)
			return true;
	}
	return false;
}

static int
update(struct poll *p, const char *local, const char *state, const char *priv, const char *pub)
{
	static const char sql[] =
		"UPDATE instances SET"
		" state_reason = CASE WHEN ?2 <> state AND ?2 = 'terminated'"
		"  AND state <> 'shutting-down' THEN ?6 ELSE state_reason END,"
		" state_changed = CASE WHEN ?2 <> state THEN ?5 ELSE state_changed END,"
		" state = ?2, private_ip = coalesce(nullif(?3, ''), private_ip),"
		" public_ip = coalesce(nullif(?4, ''), public_ip)"
		" WHERE id = ?1 AND state <> 'terminated'";
	char reason[160];
	sqlite3_stmt *st;
	int rc;

	snprintf(reason, sizeof(reason), "terminated in the cloud %s outside Karri",
	    p->c->name);
	if (kr_db_prepare(p->db, sql, &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, local, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, priv, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, pub, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, p->now);
	sqlite3_bind_text(st, 6, reason, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

static int
poll_item(xmlNode *item, void *arg)
{
	struct poll *p = arg;
	char id[KR_ID_MAX], state[32], priv[64], pub[64], local[KR_ID_MAX] = "", cur[32] = "";
	int rc;

	clc_burst_text(item, "instanceId", id, sizeof(id));
	clc_burst_text(item, "instanceState/name", state, sizeof(state));
	clc_burst_text(item, "privateIpAddress", priv, sizeof(priv));
	clc_burst_text(item, "ipAddress", pub, sizeof(pub));
	if (!*id || strlen(id) >= 32 || !*state)
		return 0;
	if (p->nseen < MAX_SEEN)
		snprintf(p->seen[p->nseen++], KR_ID_MAX, "%s", id);
	rc = clc_db_text(p->db, "SELECT id FROM remote_instances WHERE cloud = ? AND"
	    " remote_id = ?", p->c->name, id, local, sizeof(local));
	if (rc < 0)
		return -1;
	if (rc == 0) {
		/* Another registration of the same remote account may own it. */
		if ((rc = clc_db_text(p->db, "SELECT id FROM remote_instances WHERE remote_id = ?",
		    id, NULL, local, sizeof(local))) != 0)
			return rc < 0 ? -1 : 0;
		if (strcmp(state, "terminated") != 0 && strcmp(state, "shutting-down") != 0 &&
		    tagged_ours(item, p->identity) && p->norphan < MAX_BATCH)
			snprintf(p->orphan[p->norphan++], KR_ID_MAX, "%s", id);
		return 0;
	}
	if (clc_db_text(p->db, "SELECT state FROM instances WHERE id = ?", local, NULL, cur,
	    sizeof(cur)) < 0)
		return -1;
	/* Shutting down here, still up there: keep asking, keep the state. */
	if (strcmp(cur, "shutting-down") == 0 && strcmp(state, "terminated") != 0) {
		if (strcmp(state, "shutting-down") != 0 && p->nretry < MAX_BATCH)
			snprintf(p->retry[p->nretry++], KR_ID_MAX, "%s", id);
		return 0;
	}
	return update(p, local, state, priv, pub);
}

/* Rows of this cloud that the remote no longer lists end as terminated. */
static int
mark_lost(struct poll *p)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(p->db, "SELECT i.id, m.remote_id FROM instances i JOIN"
	    " remote_instances m ON m.id = i.id WHERE m.cloud = ? AND i.state <> 'terminated'"
	    " AND (i.state = 'shutting-down' OR i.launched < ?)", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, p->c->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, p->now - PENDING_GRACE_S);
	while ((rc = kr_db_step(st)) == 1) {
		const char *local = (const char *)sqlite3_column_text(st, 0);
		const char *remote = (const char *)sqlite3_column_text(st, 1);
		bool listed = false;

		for (int i = 0; i < p->nseen && !listed; i++)
			listed = strcmp(p->seen[i], remote) == 0;
		if (listed)
			continue;
		clc_db_run(p->db, "UPDATE instances SET state_changed = strftime('%s', 'now'),"
		    " state_reason = CASE state WHEN 'shutting-down' THEN state_reason ELSE"
		    " 'Server.InternalError: the remote cloud no longer reports the instance' END,"
		    " state = 'terminated' WHERE id = ?", local, NULL, NULL);
		kr_log_info("instance %s (%s): no longer reported by cloud %s: terminated", local,
		    remote, p->c->name);
	}
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

static void
terminate_remote(const struct clc_remote *c, char (*ids)[KR_ID_MAX], int n, const char *why)
{
	const char *ptrs[MAX_BATCH];

	if (n == 0)
		return;
	for (int i = 0; i < n; i++)
		ptrs[i] = ids[i];
	kr_log_warnx("cloud %s: terminating %d instance(s) %s", c->name, n, why);
	clc_burst_terminate_remote_later(c, ptrs, n);
}

/* One cloud's poll: DescribeInstances on a worker, the rows on the loop. */
struct cloud_poll {
	struct clc *clc;
	struct clc_remote c;
	char identity[40];
	xmlDoc *doc;
};

static int
poll_work(void *arg)
{
	struct cloud_poll *cp = arg;
	struct clc_burst_params params;

	clc_burst_params_init(&params, "DescribeInstances");
	return clc_burst_call(&cp->c, &params, &cp->doc);
}

static void
poll_done(int rc, void *arg)
{
	struct cloud_poll *cp = arg;
	struct clc *clc = cp->clc;
	struct poll *p = calloc(1, sizeof(*p));
	char (*seen)[KR_ID_MAX] = calloc(MAX_SEEN, KR_ID_MAX);

	if (rc < 0) {
		clc_burst_set_state(cp->c.name, false, kr_error_message());
		kr_log_debug("cloud %s: %s", cp->c.name, kr_error_message());
		goto done;
	}
	clc_burst_set_state(cp->c.name, true, NULL);
	if (!p || !seen || kr_db_begin(clc->db) < 0)
		goto done;
	*p = (struct poll){ .db = clc->db, .c = &cp->c, .identity = cp->identity,
		.now = time(NULL), .seen = seen };
	if (clc_burst_each(xmlDocGetRootElement(cp->doc), "instancesSet", poll_item, p) < 0 ||
	    (p->nseen < MAX_SEEN && mark_lost(p) < 0) || kr_db_commit(clc->db) < 0)
		kr_db_rollback(clc->db);
	terminate_remote(&cp->c, p->retry, p->nretry, "that Karri terminated");
	terminate_remote(&cp->c, p->orphan, p->norphan, "launched by this cloud but never recorded");
done:
	if (cp->doc)
		xmlFreeDoc(cp->doc);
	clc_burst_wipe(&cp->c);
	free(cp);
	free(p);
	free(seen);
	kr_error_clear();
}

static void
poll_cloud(struct clc *clc, const char *name, const char *identity)
{
	struct cloud_poll *cp = calloc(1, sizeof(*cp));
	char key[CLC_BACKEND_KEY_MAX];

	if (cp == NULL || clc_burst_get(clc->db, name, &cp->c) != 1) {
		free(cp);
		return;
	}
	if (cp->c.timeout > POLL_TIMEOUT_S)
		cp->c.timeout = POLL_TIMEOUT_S;
	cp->clc = clc;
	snprintf(cp->identity, sizeof(cp->identity), "%s", identity);
	clc_backend_key(key, "cloud-poll", name);
	if (clc_backend_run(key, poll_work, poll_done, cp) < 0) {
		clc_burst_wipe(&cp->c);
		free(cp);
	}
}

void
clc_burst_poll(struct clc *clc)
{
	struct clc_burst_state st[CLC_MAX_CLUSTERS];
	char identity[40], key[CLC_BACKEND_KEY_MAX];
	size_t n = clc_burst_states(clc->db, st, CLC_MAX_CLUSTERS);

	if (n == 0 || clc_burst_identity(clc->db, identity, sizeof(identity)) < 0) {
		kr_error_clear();
		return;
	}
	for (size_t i = 0; i < n; i++) {
		/* One poll at a time per cloud: a hung one is not asked again meanwhile. */
		clc_backend_key(key, "cloud-poll", st[i].name);
		if (st[i].retry_at <= time(NULL) && clc_backend_inflight(key) == 0)
			poll_cloud(clc, st[i].name, identity);
	}
}
