/*
 * action_instance_status.c - DescribeInstanceStatus and
 * DescribeAccountAttributes, which awscli, the SDKs and tools such as
 * `aws ec2 wait instance-status-ok` call before anything else.
 *
 * Karri has no separate health probes: a running instance is one its node
 * reports running, so its system and instance checks are "ok"/"passed";
 * a pending one is "initializing"; every other state "not-applicable", as
 * EC2 answers.  No scheduled events exist.  Without IncludeAllInstances
 * only running instances are listed (EC2's rule).
 */
#include <stdio.h>
#include <string.h>

#include "clc.h"
#include "clc_actions.h"
#include "clc_cc.h"
#include "clc_instance.h"
#include "core/db.h"
#include "core/error.h"

struct status_row {
	sqlite3_stmt *st;		/* id, zone, state */
	char code[8];
};

static const char *
check_status(const char *state)
{
	return strcmp(state, "running") == 0 ? "ok" : strcmp(state, "pending") == 0 ?
	    "initializing" : "not-applicable";
}

static const char *
reachability(const char *state)
{
	return strcmp(state, "running") == 0 ? "passed" : strcmp(state, "pending") == 0 ?
	    "initializing" : "not-applicable";
}

static const char *
status_field(void *item, const char *name, size_t idx)
{
	struct status_row *w = item;
	const char *state = (const char *)sqlite3_column_text(w->st, 2);

	if (idx)
		return NULL;
	if (strcmp(name, "availability-zone") == 0)
		return (const char *)sqlite3_column_text(w->st, 1);
	if (strcmp(name, "instance-state-name") == 0)
		return state;
	if (strcmp(name, "instance-state-code") == 0) {
		snprintf(w->code, sizeof(w->code), "%d", clc_state_code(state));
		return w->code;
	}
	if (strcmp(name, "system-status.status") == 0 ||
	    strcmp(name, "instance-status.status") == 0)
		return check_status(state);
	if (strcmp(name, "system-status.reachability") == 0 ||
	    strcmp(name, "instance-status.reachability") == 0)
		return reachability(state);
	return NULL;
}

static void
summary(struct kr_buf *b, const char *tag, const char *state)
{
	kr_buf_addf(b, "<%s><status>%s</status><details><item><name>reachability</name>"
	    "<status>%s</status></item></details></%s>", tag, check_status(state),
	    reachability(state), tag);
}

static void
status_item(struct clc_req *r, sqlite3_stmt *st)
{
	const char *state = (const char *)sqlite3_column_text(st, 2);

	kr_buf_add(r->out, "<item>");
	clc_xml_col(r->out, "instanceId", st, 0);
	clc_xml_col(r->out, "availabilityZone", st, 1);
	kr_buf_addf(r->out, "<eventsSet/><instanceState><code>%d</code><name>%s</name>"
	    "</instanceState>", clc_state_code(state), state);
	summary(r->out, "systemStatus", state);
	summary(r->out, "instanceStatus", state);
	kr_buf_add(r->out, "</item>");
}

static int
check_ids(struct clc_req *r, const char **ids, size_t n)
{
	char one[8];

	for (size_t i = 0; i < n; i++) {
		if (clc_check_id("InstanceId", ids[i], "i", "InvalidInstanceID.Malformed") < 0)
			return -1;
		if (clc_db_text(r->db, "SELECT 1 FROM instances WHERE id = ? AND owner = ?", ids[i],
		    r->account, one, sizeof(one)) != 1) {
			if (*kr_error_code() == '\0')
				kr_error("InvalidInstanceID.NotFound", "The instance ID '%s' does not "
				    "exist", ids[i]);
			return -1;
		}
	}
	return 0;
}

int
clc_describe_instance_status(struct clc_req *r)
{
	static const char *const known[] = { "InstanceId", "Filter", "MaxResults", "NextToken",
		"IncludeAllInstances", NULL };
	static const char *const filters[] = { "availability-zone", "instance-state-name",
		"instance-state-code", "system-status.status", "system-status.reachability",
		"instance-status.status", "instance-status.reachability", NULL };
	static const char *ids[CLC_MAX_IDS];
	struct status_row w = { 0 };
	struct clc_filters fs;
	struct clc_pager pg;
	char last[32] = "";
	bool all;
	size_t n;
	int rc;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_param_list_checked(r, "InstanceId", NULL, ids, CLC_MAX_IDS, &n) < 0 ||
	    clc_filters_parse(r, filters, &fs) < 0 || clc_pager_init(r, 5, 1000, &pg) < 0 ||
	    clc_param_bool(r, "IncludeAllInstances", false, &all) < 0)
		return -1;
	if (n && pg.max) {
		kr_error("InvalidParameterCombination", "MaxResults cannot be used with InstanceId");
		return -1;
	}
	if (check_ids(r, ids, n) < 0 || kr_db_prepare(r->db, "SELECT id, zone, state FROM"
	    " instances WHERE owner = ?1 AND id > ?2 AND (?3 OR state = 'running') ORDER BY id",
	    &w.st) < 0)
		return -1;
	sqlite3_bind_text(w.st, 1, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(w.st, 2, pg.after ? pg.after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(w.st, 3, all);
	kr_buf_add(r->out, "<instanceStatusSet>");
	while ((rc = kr_db_step(w.st)) == 1) {
		const char *id = (const char *)sqlite3_column_text(w.st, 0);

		if ((n && !clc_in_list(id, ids, n)) || !clc_filters_match(r, &fs, id, status_field,
		    &w))
			continue;
		if (!clc_pager_take(&pg))
			break;
		status_item(r, w.st);
		snprintf(last, sizeof(last), "%s", id);
	}
	kr_buf_add(r->out, "</instanceStatusSet>");
	if (rc == 1)
		clc_pager_finish(r, &pg, last);
	sqlite3_finalize(w.st);
	return rc < 0 ? -1 : 0;
}

/*
 * The attributes EC2 answers, as they are on Karri: its networks are
 * EC2-Classic-like (no VPC); no per-account instance limit exists, so
 * max-instances is how many of the smallest type the zones could start now;
 * max-elastic-ips is the size of the public address pool.
 */
static int
attribute_value(struct clc_req *r, const char *name, char *out, size_t len)
{
	long total = 0;

	if (strcmp(name, "supported-platforms") == 0)
		snprintf(out, len, "EC2");
	else if (strcmp(name, "default-vpc") == 0)
		snprintf(out, len, "none");
	else if (strcmp(name, "vpc-max-security-groups-per-interface") == 0 ||
	    strcmp(name, "vpc-max-elastic-ips") == 0)
		snprintf(out, len, "0");
	else if (strcmp(name, "max-elastic-ips") == 0)
		return clc_db_text(r->db, "SELECT count(*) FROM addresses WHERE in_pool = 1", NULL,
		    NULL, out, len) == 1 ? 0 : -1;
	else if (strcmp(name, "max-instances") == 0) {
		if (r->clc->nclusters == 0 && clc_clusters_load(r->clc) < 0)
			return -1;
		for (size_t i = 0; i < r->clc->nclusters; i++)
			if (r->clc->clusters[i].up)
				total += r->clc->clusters[i].types[0].available;
		snprintf(out, len, "%ld", total);
	} else {
		kr_error("InvalidParameterValue", "Value (%.64s) for parameter attributeName is "
		    "invalid. Unknown attribute.", name);
		return -1;
	}
	return 0;
}

int
clc_describe_account_attributes(struct clc_req *r)
{
	static const char *const known[] = { "AttributeName", NULL };
	static const char *const every[] = { "supported-platforms", "default-vpc",
		"max-instances", "max-elastic-ips", "vpc-max-elastic-ips",
		"vpc-max-security-groups-per-interface" };
	const char *names[CLC_MAX_IDS];
	char value[32];
	size_t n;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_param_list_checked(r, "AttributeName", NULL, names, CLC_MAX_IDS, &n) < 0)
		return -1;
	if (n == 0) {
		n = sizeof(every) / sizeof(every[0]);
		memcpy(names, every, sizeof(every));
	}
	kr_buf_add(r->out, "<accountAttributeSet>");
	for (size_t i = 0; i < n; i++) {
		if (attribute_value(r, names[i], value, sizeof(value)) < 0)
			return -1;
		kr_buf_add(r->out, "<item>");
		clc_xml_elem(r->out, "attributeName", names[i]);
		kr_buf_add(r->out, "<attributeValueSet><item>");
		clc_xml_elem(r->out, "attributeValue", value);
		kr_buf_add(r->out, "</item></attributeValueSet></item>");
	}
	kr_buf_add(r->out, "</accountAttributeSet>");
	return 0;
}
