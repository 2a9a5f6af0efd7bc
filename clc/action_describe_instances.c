/*
 * action_describe_instances.c - DescribeInstances: the caller's instances
 * grouped by reservation, by id, filters and pages.
 *
 * One SELECT ordered by reservation and launch index (the order of index
 * instances_owner: no sort) feeds the XML writer; ids and filters are
 * applied per row in C.  The admin sees every
 * account's instances when asking with InstanceId.1=verbose (as
 * euca-describe-instances verbose did).  Pages (MaxResults 5..1000) end at
 * a reservation boundary, so a reservation is never split across pages;
 * NextToken is the last reservation id sent.
 */
#include <stdio.h>
#include <string.h>

#include "clc.h"
#include "clc_actions.h"
#include "clc_instance.h"
#include "core/db.h"
#include "core/error.h"

struct row {
	sqlite3_stmt *st;
	char buf[16];
	const char *groups;
	struct clc_instance_ctx ctx;
};

static const char *
col(sqlite3_stmt *st, int c)
{
	return (const char *)sqlite3_column_text(st, c);
}

/* The idx-th group id or name of "sg-1 default\nsg-2 web". */
static const char *
group_part(struct row *w, size_t idx, bool want_id)
{
	static char out[CLC_MAX_NAME + 1];
	const char *g = w->groups;

	for (size_t i = 0; g && *g; i++) {
		const char *sp = strchr(g, ' '), *nl = strchr(g, '\n');
		size_t end = nl ? (size_t)(nl - g) : strlen(g);

		if (i == idx && sp && (size_t)(sp - g) < end) {
			if (want_id)
				snprintf(out, sizeof(out), "%.*s", (int)(sp - g), g);
			else
				snprintf(out, sizeof(out), "%.*s", (int)(end - (size_t)(sp - g) - 1),
				    sp + 1);
			return out;
		}
		g += end + (nl != NULL);
	}
	return NULL;
}

static const char *
instance_field(void *item, const char *name, size_t idx)
{
	static const struct clc_filter_col map[] = {
		{ "instance-id", C_ID }, { "image-id", C_IMAGE }, { "instance-state-name", C_STATE },
		{ "instance-type", C_TYPE }, { "key-name", C_KEY }, { "availability-zone", C_ZONE },
		{ "reservation-id", C_RES }, { "private-ip-address", C_PRIV },
		{ "ip-address", C_PUB }, { "owner-id", C_OWNER }, { "launch-index", C_INDEX },
		{ "kernel-id", C_KERNEL }, { "ramdisk-id", C_RAMDISK },
		{ "private-dns-name", C_PRIV }, { "dns-name", C_PUB }, { NULL, 0 },
	};
	struct row *w = item;

	if (strcmp(name, "group-name") == 0 || strcmp(name, "instance.group-name") == 0)
		return group_part(w, idx, false);
	if (strcmp(name, "group-id") == 0 || strcmp(name, "instance.group-id") == 0)
		return group_part(w, idx, true);
	if (idx)
		return NULL;
	if (strcmp(name, "instance-state-code") == 0) {
		snprintf(w->buf, sizeof(w->buf), "%d", clc_state_code(col(w->st, C_STATE)));
		return w->buf;
	}
	if (strcmp(name, "root-device-type") == 0)
		return "instance-store";
	return clc_filter_column(w->st, map, name, idx);
}

static const char *const filters[] = { "instance-id", "image-id", "instance-state-name",
	"instance-state-code", "instance-type", "key-name", "availability-zone",
	"reservation-id", "private-ip-address", "ip-address", "owner-id", "launch-index",
	"kernel-id", "ramdisk-id", "private-dns-name", "dns-name", "group-name", "group-id",
	"instance.group-name", "instance.group-id", "root-device-type", NULL };

/* Every id asked for must be visible, else InvalidInstanceID.NotFound naming it. */
static int
check_ids(struct clc_req *r, const char **ids, size_t n, bool all)
{
	sqlite3_stmt *st;
	int rc = 0;

	if (kr_db_prepare(r->db, "SELECT 1 FROM instances WHERE id = ? AND (owner = ? OR ?)",
	    &st) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (clc_check_id("InstanceId", ids[i], "i", "InvalidInstanceID.Malformed") < 0) {
			rc = -1;
			break;
		}
		sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->account, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, all);
		if (kr_db_step(st) != 1) {
			kr_error("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist",
			    ids[i]);
			rc = -1;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

int
clc_describe_instances(struct clc_req *r)
{
	static const char *const known[] = { "InstanceId", "Filter", "MaxResults", "NextToken",
		NULL };
	static const char *ids[CLC_MAX_IDS];
	char sql[1400], cur[64] = "";
	struct clc_filters fs;
	struct clc_pager pg;
	struct row w = { 0 };
	bool all = false;
	size_t n;
	int rc;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_param_list_checked(r, "InstanceId", NULL, ids, CLC_MAX_IDS, &n) < 0 ||
	    clc_filters_parse(r, filters, &fs) < 0 || clc_pager_init(r, 5, 1000, &pg) < 0)
		return -1;
	if (n == 1 && strcmp(ids[0], "verbose") == 0 && r->admin) {
		all = true;
		n = 0;
	}
	if (n && pg.max) {
		kr_error("InvalidParameterCombination", "MaxResults cannot be used with "
		    "InstanceId");
		return -1;
	}
	if (check_ids(r, ids, n, all) < 0)
		return -1;
	/* Two statements, so that a user's query uses the (owner, reservation) index. */
	snprintf(sql, sizeof(sql), "%s WHERE %s AND i.reservation_id > ?3"
	    " ORDER BY i.reservation_id, i.launch_index", clc_instance_cols,
	    all ? "?2 IS NOT NULL" : "i.owner = ?2");
	if (clc_instance_ctx_init(&w.ctx, r->db, all ? NULL : r->account) < 0)
		return -1;
	if (kr_db_prepare(r->db, sql, &w.st) < 0) {
		clc_instance_ctx_free(&w.ctx);
		return -1;
	}
	sqlite3_bind_text(w.st, 2, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(w.st, 3, pg.after ? pg.after : "", -1, SQLITE_STATIC);
	kr_buf_add(r->out, "<reservationSet>");
	while ((rc = kr_db_step(w.st)) == 1) {
		const char *id = col(w.st, C_ID), *res = col(w.st, C_RES);

		/* the groups only for filters (group-name, group-id): the writer has its own */
		w.groups = fs.n ? clc_instance_groups(&w.ctx, res) : NULL;
		if ((n && !clc_in_list(id, ids, n)) ||
		    !clc_filters_match(r, &fs, id, instance_field, &w))
			continue;
		/* A page ends before a new reservation once it holds MaxResults instances. */
		if (pg.max && pg.count >= pg.max && strcmp(cur, res) != 0)
			break;
		pg.count++;
		clc_instance_row(r, &w.ctx, w.st, cur, sizeof(cur));
	}
	if (*cur)
		clc_reservation_close(r);
	kr_buf_add(r->out, "</reservationSet>");
	if (rc == 1)
		clc_xml_elem(r->out, "nextToken", cur);
	sqlite3_finalize(w.st);
	if (w.ctx.failed)
		rc = -1;
	clc_instance_ctx_free(&w.ctx);
	return rc < 0 ? -1 : 0;
}
