/*
 * action_group.c - CreateSecurityGroup, DeleteSecurityGroup,
 * DescribeSecurityGroups (EC2-Classic style groups, as Eucalyptus had).
 *
 * Every account has a group "default", made the first time the account
 * touches groups or launches; it cannot be deleted.  A group that a live
 * instance uses cannot be deleted either (InvalidGroup.InUse).
 */
#include <stdio.h>
#include <string.h>

#include "clc.h"
#include "clc_actions.h"
#include "core/db.h"
#include "core/error.h"
#include "core/id.h"

struct new_group {
	const char *owner, *name, *description;
};

static int
insert_group(sqlite3 *db, const char *id, void *arg)
{
	struct new_group *g = arg;
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "INSERT INTO groups (id, owner, name, description)"
	    " VALUES (?, ?, ?, ?)", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, g->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, g->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, g->description, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

/*
 * Find a group by name or id among the account's: 0 and the id and name,
 * 1 when there is none (no error recorded), -1 on a database error.
 */
int
clc_group_lookup(sqlite3 *db, const char *account, const char *name, const char *id,
    char *out_id, size_t idlen, char *out_name, size_t namelen)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, id ? "SELECT id, name FROM groups WHERE owner = ? AND id = ?" :
	    "SELECT id, name FROM groups WHERE owner = ? AND name = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id ? id : name, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	if (rc == 1) {
		snprintf(out_id, idlen, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(out_name, namelen, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	return rc < 0 ? -1 : rc == 1 ? 0 : 1;
}

int
clc_group_ensure_default(sqlite3 *db, const char *account, char *id, size_t idlen)
{
	struct new_group g = { account, "default", "default group" };
	char name[16];
	int rc = clc_group_lookup(db, account, "default", NULL, id, idlen, name, sizeof(name));

	if (rc <= 0)
		return rc;
	return kr_db_insert_new_id(db, "sg", id, idlen, insert_group, &g);
}

int
clc_create_security_group(struct clc_req *r)
{
	static const char *const known[] = { "GroupName", "GroupDescription", "VpcId",
		"TagSpecification", NULL };
	struct new_group g = { r->account, NULL, NULL };
	char id[KR_ID_MAX];

	if (clc_param_check_known(r, known) < 0 ||
	    !(g.name = clc_param_required(r, "GroupName")) ||
	    !(g.description = clc_param_required(r, "GroupDescription")) ||
	    clc_check_name("GroupName", g.name, CLC_MAX_NAME) < 0 ||
	    clc_check_name("GroupDescription", g.description, CLC_MAX_NAME) < 0)
		return -1;
	if (clc_param(r, "VpcId")) {
		kr_error("UnsupportedOperation", "Karri has no VPCs: security groups are "
		    "EC2-Classic groups");
		return -1;
	}
	if (clc_group_ensure_default(r->db, r->account, id, sizeof(id)) < 0)
		return -1;
	if (kr_db_insert_new_id(r->db, "sg", id, sizeof(id), insert_group, &g) < 0) {
		if (kr_db_unique_violation(r->db) || strcmp(g.name, "default") == 0)
			kr_error("InvalidGroup.Duplicate", "The security group '%s' already "
			    "exists", g.name);
		return -1;
	}
	clc_return_true(r);
	clc_xml_elem(r->out, "groupId", id);
	return 0;
}

/* The group named by GroupName or GroupId: 0, or -1 + InvalidGroup.NotFound. */
int
clc_group_from_params(struct clc_req *r, char *id, size_t idlen, char *name, size_t namelen)
{
	const char *gname = clc_param(r, "GroupName"), *gid = clc_param(r, "GroupId");
	int rc;

	if (!gname && !gid) {
		kr_error("MissingParameter", "the request must contain GroupName or GroupId");
		return -1;
	}
	if (clc_group_ensure_default(r->db, r->account, id, idlen) < 0)
		return -1;
	rc = clc_group_lookup(r->db, r->account, gname, gid, id, idlen, name, namelen);
	if (rc == 1)
		kr_error(gid ? "InvalidGroup.NotFound" : "InvalidGroup.NotFound",
		    "The security group '%.64s' does not exist", gid ? gid : gname);
	return rc == 0 ? 0 : -1;
}

int
clc_delete_security_group(struct clc_req *r)
{
	static const char *const known[] = { "GroupName", "GroupId", NULL };
	char id[KR_ID_MAX], name[CLC_MAX_NAME + 1];
	sqlite3_stmt *st;
	int rc;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_group_from_params(r, id, sizeof(id), name, sizeof(name)) < 0)
		return -1;
	if (strcmp(name, "default") == 0) {
		kr_error("CannotDelete", "the default security group cannot be deleted");
		return -1;
	}
	if (kr_db_prepare(r->db, "SELECT 1 FROM reservation_groups g JOIN instances i"
	    " ON i.reservation_id = g.reservation_id WHERE g.group_id = ?"
	    " AND i.state <> 'terminated' LIMIT 1", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	if (rc != 0) {
		if (rc == 1)
			kr_error("InvalidGroup.InUse", "Group %s is used by instances", id);
		return -1;
	}
	if (clc_db_run(r->db, "DELETE FROM groups WHERE id = ?", id, NULL, NULL) < 0 ||
	    clc_tags_delete_all(r->db, id) < 0)
		return -1;
	return clc_return_true(r);
}
