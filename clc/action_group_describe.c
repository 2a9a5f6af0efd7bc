/*
 * action_group_describe.c - DescribeSecurityGroups: the caller's groups
 * with their ingress rules, by name, id and filters.
 */
#include <stdio.h>
#include <string.h>

#include "clc.h"
#include "clc_actions.h"
#include "core/db.h"
#include "core/error.h"

struct group_item {
	const char *id, *owner, *name, *description;
};

static const char *
group_field(void *item, const char *name, size_t idx)
{
	struct group_item *g = item;

	if (idx)
		return NULL;
	if (strcmp(name, "group-name") == 0)
		return g->name;
	if (strcmp(name, "group-id") == 0)
		return g->id;
	if (strcmp(name, "description") == 0)
		return g->description;
	if (strcmp(name, "owner-id") == 0)
		return g->owner;
	return NULL;
}

/* One <item> of ipPermissions per rule; rules are one source each. */
static int
rules_xml(struct clc_req *r, const char *group_id)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(r->db, "SELECT protocol, from_port, to_port, cidr, src_owner,"
	    " src_group, (SELECT id FROM groups g WHERE g.owner = src_owner"
	    " AND g.name = src_group) FROM group_rules WHERE group_id = ?"
	    " ORDER BY rowid", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, group_id, -1, SQLITE_STATIC);
	kr_buf_add(r->out, "<ipPermissions>");
	while ((rc = kr_db_step(st)) == 1) {
		const char *cidr = (const char *)sqlite3_column_text(st, 3);
		const char *proto = (const char *)sqlite3_column_text(st, 0);

		kr_buf_add(r->out, "<item>");
		clc_xml_elem(r->out, "ipProtocol", proto);
		if (strcmp(proto, "-1") != 0) {
			clc_xml_elem_int(r->out, "fromPort", sqlite3_column_int(st, 1));
			clc_xml_elem_int(r->out, "toPort", sqlite3_column_int(st, 2));
		}
		if (*cidr) {
			kr_buf_add(r->out, "<groups/><ipRanges><item>");
			clc_xml_elem(r->out, "cidrIp", cidr);
			kr_buf_add(r->out, "</item></ipRanges>");
		} else {
			kr_buf_add(r->out, "<groups><item>");
			clc_xml_col(r->out, "userId", st, 4);
			clc_xml_col(r->out, "groupId", st, 6);
			clc_xml_col(r->out, "groupName", st, 5);
			kr_buf_add(r->out, "</item></groups><ipRanges/>");
		}
		kr_buf_add(r->out, "</item>");
	}
	kr_buf_add(r->out, "</ipPermissions><ipPermissionsEgress/>");
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

/* Every asked-for name or id must exist: EC2 fails the whole call otherwise. */
static int
check_all_exist(struct clc_req *r, const char **vals, size_t n, bool ids)
{
	char id[64], name[CLC_MAX_NAME + 1];

	for (size_t i = 0; i < n; i++) {
		int rc = clc_group_lookup(r->db, r->account, ids ? NULL : vals[i],
		    ids ? vals[i] : NULL, id, sizeof(id), name, sizeof(name));

		if (rc < 0)
			return -1;
		if (rc == 1) {
			kr_error(ids ? "InvalidGroup.NotFound" : "InvalidGroup.NotFound",
			    "The security group '%.64s' does not exist", vals[i]);
			return -1;
		}
	}
	return 0;
}

int
clc_describe_security_groups(struct clc_req *r)
{
	static const char *const known[] = { "GroupName", "GroupId", "Filter", "MaxResults",
		"NextToken", NULL };
	static const char *const filters[] = { "group-name", "group-id", "description",
		"owner-id", NULL };
	const char *names[CLC_MAX_IDS], *ids[CLC_MAX_IDS];
	struct clc_filters fs;
	struct clc_pager pg;
	char def[64], last[64] = "";
	sqlite3_stmt *st;
	size_t nn, ni;
	int rc;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_param_list_checked(r, "GroupName", NULL, names, CLC_MAX_IDS, &nn) < 0 ||
	    clc_param_list_checked(r, "GroupId", NULL, ids, CLC_MAX_IDS, &ni) < 0 ||
	    clc_filters_parse(r, filters, &fs) < 0 || clc_pager_init(r, 5, 1000, &pg) < 0 ||
	    clc_group_ensure_default(r->db, r->account, def, sizeof(def)) < 0 ||
	    check_all_exist(r, names, nn, false) < 0 || check_all_exist(r, ids, ni, true) < 0)
		return -1;
	if (kr_db_prepare(r->db, "SELECT id, owner, name, description FROM groups"
	    " WHERE owner = ? AND id > ? ORDER BY id", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pg.after ? pg.after : "", -1, SQLITE_STATIC);
	kr_buf_add(r->out, "<securityGroupInfo>");
	while ((rc = kr_db_step(st)) == 1) {
		struct group_item g = { (const char *)sqlite3_column_text(st, 0),
			(const char *)sqlite3_column_text(st, 1),
			(const char *)sqlite3_column_text(st, 2),
			(const char *)sqlite3_column_text(st, 3) };

		if ((nn && !clc_in_list(g.name, names, nn)) || (ni && !clc_in_list(g.id, ids, ni)) ||
		    !clc_filters_match(r, &fs, g.id, group_field, &g))
			continue;
		if (!clc_pager_take(&pg))
			break;
		snprintf(last, sizeof(last), "%s", g.id);
		kr_buf_add(r->out, "<item>");
		clc_xml_elem(r->out, "ownerId", g.owner);
		clc_xml_elem(r->out, "groupId", g.id);
		clc_xml_elem(r->out, "groupName", g.name);
		clc_xml_elem(r->out, "groupDescription", g.description);
		if (rules_xml(r, g.id) < 0)
			break;
		clc_tags_xml(r, g.id);
		kr_buf_add(r->out, "</item>");
	}
	sqlite3_finalize(st);
	kr_buf_add(r->out, "</securityGroupInfo>");
	if (rc == 1)
		clc_pager_finish(r, &pg, last);
	return rc < 0 || *kr_error_code() ? -1 : 0;
}
