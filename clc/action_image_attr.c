/*
 * action_image_attr.c - Describe/Modify/ResetImageAttribute: launch
 * permissions (public = group "all", or account ids) and the description.
 * Only the image's owner (or the admin) reads or changes them.
 *
 * ModifyImageAttribute arrives in two shapes: boto2/euca2ools send
 * Attribute=launchPermission, OperationType=add|remove, UserId.N and
 * UserGroup.N=all; awscli/boto3 send LaunchPermission.Add.N.UserId|Group
 * and LaunchPermission.Remove.N.*.
 */
#include <stdio.h>
#include <string.h>

#include "clc.h"
#include "clc_actions.h"
#include "clc_image.h"
#include "core/db.h"
#include "core/error.h"

static const char *
owned_image(struct clc_req *r)
{
	const char *id = clc_param_required(r, "ImageId");

	if (id == NULL || clc_image_check_id(id) < 0 || clc_image_owned(r, id) < 0)
		return NULL;
	return id;
}

static int
run(struct clc_req *r, const char *sql, const char *id, const char *arg)
{
	return clc_db_run(r->db, sql, id, arg, NULL) < 0 ? -1 : 0;
}

static int
permit(struct clc_req *r, const char *id, bool add, const char *user, const char *group)
{
	if (group) {
		if (strcmp(group, "all") != 0) {
			kr_error("InvalidParameterValue", "the only launch permission group is "
			    "'all'");
			return -1;
		}
		return run(r, add ? "UPDATE images SET is_public = 1 WHERE id = ?" :
		    "UPDATE images SET is_public = 0 WHERE id = ?", id, NULL);
	}
	if (strlen(user) != 12 || strspn(user, "0123456789") != 12) {
		kr_error("InvalidUserID.Malformed", "User ID '%.32s' is not a 12-digit account id",
		    user);
		return -1;
	}
	return run(r, add ? "INSERT OR IGNORE INTO image_launch (image_id, account) VALUES (?, ?)" :
	    "DELETE FROM image_launch WHERE image_id = ? AND account = ?", id, user);
}

/* awscli's LaunchPermission.Add.N.UserId|Group / .Remove.N. */
static int
modern(struct clc_req *r, const char *id, const char *op, bool add, int *count)
{
	char ukey[64], gkey[64];

	for (int n = 1; n <= CLC_MAX_IDS; n++) {
		const char *u, *g;

		snprintf(ukey, sizeof(ukey), "LaunchPermission.%s.%d.UserId", op, n);
		snprintf(gkey, sizeof(gkey), "LaunchPermission.%s.%d.Group", op, n);
		u = clc_param(r, ukey);
		g = clc_param(r, gkey);
		if (!u && !g)
			continue;
		if ((u && permit(r, id, add, u, NULL) < 0) || (g && permit(r, id, add, NULL, g) < 0))
			return -1;
		(*count)++;
	}
	return 0;
}

int
clc_modify_image_attribute(struct clc_req *r)
{
	static const char *const known[] = { "ImageId", "Attribute", "OperationType", "UserId",
		"UserGroup", "LaunchPermission", "Description", "Value", "ProductCode",
		"OrganizationArn", "OrganizationalUnitArn", "ImdsSupport", NULL };
	const char *users[CLC_MAX_IDS], *groups[CLC_MAX_IDS], *id, *op, *desc;
	size_t nu, ng;
	int count = 0;

	if (clc_param_check_known(r, known) < 0 || !(id = owned_image(r)))
		return -1;
	desc = clc_param(r, "Description.Value");
	if (desc) {
		if (clc_check_name("Description", desc, 255) < 0 ||
		    run(r, "UPDATE images SET description = ?2 WHERE id = ?1", id, desc) < 0)
			return -1;
		return clc_return_true(r);
	}
	if (modern(r, id, "Add", true, &count) < 0 || modern(r, id, "Remove", false, &count) < 0 ||
	    clc_param_list_checked(r, "UserId", NULL, users, CLC_MAX_IDS, &nu) < 0 ||
	    clc_param_list_checked(r, "UserGroup", NULL, groups, CLC_MAX_IDS, &ng) < 0)
		return -1;
	if (nu + ng) {
		bool add;

		op = clc_param(r, "OperationType");
		if (!op || (strcmp(op, "add") != 0 && strcmp(op, "remove") != 0)) {
			kr_error("InvalidParameterValue", "OperationType must be add or remove");
			return -1;
		}
		add = strcmp(op, "add") == 0;
		for (size_t i = 0; i < nu; i++)
			if (permit(r, id, add, users[i], NULL) < 0)
				return -1;
		for (size_t i = 0; i < ng; i++)
			if (permit(r, id, add, NULL, groups[i]) < 0)
				return -1;
		count++;
	}
	if (count == 0) {
		kr_error("MissingParameter", "nothing to change: give LaunchPermission, UserId, "
		    "UserGroup or Description");
		return -1;
	}
	return clc_return_true(r);
}

static int
launch_permission_xml(struct clc_req *r, const char *id)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(r->db, "SELECT is_public FROM images WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	kr_buf_add(r->out, "<launchPermission>");
	if (kr_db_step(st) == 1 && sqlite3_column_int(st, 0))
		kr_buf_add(r->out, "<item><group>all</group></item>");
	sqlite3_finalize(st);
	if (kr_db_prepare(r->db, "SELECT account FROM image_launch WHERE image_id = ?"
	    " ORDER BY account", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = kr_db_step(st)) == 1) {
		kr_buf_add(r->out, "<item>");
		clc_xml_col(r->out, "userId", st, 0);
		kr_buf_add(r->out, "</item>");
	}
	sqlite3_finalize(st);
	kr_buf_add(r->out, "</launchPermission>");
	return rc < 0 ? -1 : 0;
}

static int
column_attr(struct clc_req *r, const char *id, const char *col, const char *tag)
{
	char sql[96];
	sqlite3_stmt *st;

	snprintf(sql, sizeof(sql), "SELECT %s FROM images WHERE id = ?", col);
	if (kr_db_prepare(r->db, sql, &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	kr_buf_addf(r->out, "<%s>", tag);
	if (kr_db_step(st) == 1 && sqlite3_column_text(st, 0))
		clc_xml_col(r->out, "value", st, 0);
	kr_buf_addf(r->out, "</%s>", tag);
	sqlite3_finalize(st);
	return 0;
}

int
clc_describe_image_attribute(struct clc_req *r)
{
	static const char *const known[] = { "ImageId", "Attribute", NULL };
	const char *id, *attr;

	if (clc_param_check_known(r, known) < 0 || !(id = owned_image(r)) ||
	    !(attr = clc_param_required(r, "Attribute")))
		return -1;
	clc_xml_elem(r->out, "imageId", id);
	if (strcmp(attr, "launchPermission") == 0)
		return launch_permission_xml(r, id);
	if (strcmp(attr, "description") == 0)
		return column_attr(r, id, "description", "description");
	if (strcmp(attr, "kernel") == 0)
		return column_attr(r, id, "kernel_id", "kernel");
	if (strcmp(attr, "ramdisk") == 0)
		return column_attr(r, id, "ramdisk_id", "ramdisk");
	if (strcmp(attr, "productCodes") == 0 || strcmp(attr, "blockDeviceMapping") == 0) {
		kr_buf_addf(r->out, "<%s/>", attr);
		return 0;
	}
	kr_error("InvalidParameterValue", "Value (%.32s) for parameter Attribute is invalid",
	    attr);
	return -1;
}

int
clc_reset_image_attribute(struct clc_req *r)
{
	static const char *const known[] = { "ImageId", "Attribute", NULL };
	const char *id, *attr;

	if (clc_param_check_known(r, known) < 0 || !(id = owned_image(r)) ||
	    !(attr = clc_param_required(r, "Attribute")))
		return -1;
	if (strcmp(attr, "launchPermission") != 0) {
		kr_error("InvalidParameterValue", "only launchPermission can be reset");
		return -1;
	}
	if (run(r, "UPDATE images SET is_public = 0 WHERE id = ?", id, NULL) < 0 ||
	    run(r, "DELETE FROM image_launch WHERE image_id = ?", id, NULL) < 0)
		return -1;
	return clc_return_true(r);
}
