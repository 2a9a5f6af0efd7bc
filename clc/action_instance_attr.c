/*
 * action_instance_attr.c - DescribeInstanceAttribute, ModifyInstanceAttribute,
 * ResetInstanceAttribute, and the termination protection TerminateInstances
 * asks about.
 *
 * The table below holds EC2's rule for each attribute: read-only, changed
 * only while the instance is stopped, or changed at any time.  A Karri
 * instance is instance-store and is never 'stopped', so the "stopped only"
 * changes (instance type, kernel, ramdisk, user data, EBS-optimised, ENA,
 * SR-IOV) always answer EC2's IncorrectInstanceState, as EC2 does for a
 * running instance.  What may change at run time: termination protection
 * (enforced by TerminateInstances), the source/destination check (recorded),
 * the shutdown behaviour (only 'terminate' exists for instance-store), the
 * deleteOnTermination flag of attached volumes (only false: Karri never
 * deletes a volume at termination).  Security groups belong to the
 * reservation and choose the instance's network (a VLAN in MANAGED mode),
 * so, as on EC2-Classic, they cannot change on a running instance.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clc.h"
#include "clc_actions.h"
#include "core/db.h"
#include "core/error.h"

enum rule { R_READ_ONLY, R_STOPPED, R_ANY_TIME };

static const struct attr {
	const char *name;		/* Attribute=, and the element of the answer */
	const char *param;		/* Modify's "<param>.Value" (or list) parameter */
	enum rule rule;
} attrs[] = {
	{ "instanceType", "InstanceType", R_STOPPED },
	{ "kernel", "Kernel", R_STOPPED },
	{ "ramdisk", "Ramdisk", R_STOPPED },
	{ "userData", "UserData", R_STOPPED },
	{ "disableApiTermination", "DisableApiTermination", R_ANY_TIME },
	{ "instanceInitiatedShutdownBehavior", "InstanceInitiatedShutdownBehavior", R_ANY_TIME },
	{ "rootDeviceName", NULL, R_READ_ONLY },
	{ "blockDeviceMapping", "BlockDeviceMapping", R_ANY_TIME },
	{ "productCodes", NULL, R_READ_ONLY },
	{ "sourceDestCheck", "SourceDestCheck", R_ANY_TIME },
	{ "groupSet", "GroupId", R_ANY_TIME },
	{ "ebsOptimized", "EbsOptimized", R_STOPPED },
	{ "sriovNetSupport", "SriovNetSupport", R_STOPPED },
	{ "enaSupport", "EnaSupport", R_STOPPED },
	{ "enclaveOptions", NULL, R_READ_ONLY },
	{ "disableApiStop", "DisableApiStop", R_ANY_TIME },
};
#define NATTRS (sizeof(attrs) / sizeof(attrs[0]))

enum { I_TYPE, I_KERNEL, I_RAMDISK, I_USERDATA, I_DAT, I_SDC, I_DISK, I_STATE, I_RES };

static const struct attr *
attr_named(const char *name)
{
	for (size_t i = 0; i < NATTRS; i++)
		if (strcmp(attrs[i].name, name) == 0)
			return &attrs[i];
	kr_error("InvalidParameterValue", "Value (%.64s) for parameter attribute is invalid. "
	    "Unknown attribute.", name);
	return NULL;
}

/* The caller's instance (any, for the admin): its row in *st, or -1 + kr_error. */
static int
instance_row(struct clc_req *r, const char *id, sqlite3_stmt **st)
{
	if (clc_check_id("InstanceId", id, "i", "InvalidInstanceID.Malformed") < 0 ||
	    kr_db_prepare(r->db, "SELECT type, coalesce(kernel_id, ''), coalesce(ramdisk_id, ''),"
	    " user_data, disable_api_termination, source_dest_check,"
	    " coalesce(disk_attachment, ''), state, reservation_id"
	    " FROM instances WHERE id = ? AND (owner = ? OR ?)", st) < 0)
		return -1;
	sqlite3_bind_text(*st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(*st, 2, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_int(*st, 3, r->admin);
	if (kr_db_step(*st) == 1)
		return 0;
	sqlite3_finalize(*st);
	*st = NULL;
	if (*kr_error_code() == '\0')
		kr_error("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id);
	return -1;
}

static const char *
text(sqlite3_stmt *st, int c)
{
	const char *s = (const char *)sqlite3_column_text(st, c);

	return s ? s : "";
}

/* <name><value>v</value></name>, or <name/> when v is empty. */
static void
value_elem(struct kr_buf *b, const char *name, const char *v)
{
	if (*v == '\0') {
		kr_buf_addf(b, "<%s/>", name);
		return;
	}
	kr_buf_addf(b, "<%s>", name);
	clc_xml_elem(b, "value", v);
	kr_buf_addf(b, "</%s>", name);
}

/* The guest's root device, named from the NC's bus as the metadata service names it. */
static void
root_device(const char *disk, char *out, size_t len)
{
	const char *bus = strncmp(disk, "bus=", 4) == 0 ? disk + 4 : disk;

	snprintf(out, len, "/dev/%sa", strncmp(bus, "virtio", 6) == 0 ? "vd" :
	    strncmp(bus, "ide", 3) == 0 ? "hd" : "sd");
}

static int
volumes_xml(struct clc_req *r, const char *id)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(r->db, "SELECT device, id, attach_status, attached FROM volumes"
	    " WHERE instance_id = ? AND attach_status IS NOT NULL ORDER BY device", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	kr_buf_add(r->out, "<blockDeviceMapping>");
	while ((rc = kr_db_step(st)) == 1) {
		kr_buf_add(r->out, "<item>");
		clc_xml_col(r->out, "deviceName", st, 0);
		kr_buf_add(r->out, "<ebs>");
		clc_xml_col(r->out, "volumeId", st, 1);
		clc_xml_col(r->out, "status", st, 2);
		clc_xml_time(r->out, "attachTime", (time_t)sqlite3_column_int64(st, 3));
		kr_buf_add(r->out, "<deleteOnTermination>false</deleteOnTermination></ebs></item>");
	}
	kr_buf_add(r->out, "</blockDeviceMapping>");
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

static int
groups_xml(struct clc_req *r, const char *reservation)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(r->db, "SELECT group_id, group_name FROM reservation_groups"
	    " WHERE reservation_id = ? ORDER BY group_id", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, reservation, -1, SQLITE_STATIC);
	kr_buf_add(r->out, "<groupSet>");
	while ((rc = kr_db_step(st)) == 1) {
		kr_buf_add(r->out, "<item>");
		clc_xml_col(r->out, "groupId", st, 0);
		clc_xml_col(r->out, "groupName", st, 1);
		kr_buf_add(r->out, "</item>");
	}
	kr_buf_add(r->out, "</groupSet>");
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

static int
describe_one(struct clc_req *r, const struct attr *a, const char *id, sqlite3_stmt *st)
{
	const char *n = a->name;
	char root[16];

	if (strcmp(n, "instanceType") == 0)
		value_elem(r->out, n, text(st, I_TYPE));
	else if (strcmp(n, "kernel") == 0)
		value_elem(r->out, n, text(st, I_KERNEL));
	else if (strcmp(n, "ramdisk") == 0)
		value_elem(r->out, n, text(st, I_RAMDISK));
	else if (strcmp(n, "userData") == 0)
		value_elem(r->out, n, text(st, I_USERDATA));
	else if (strcmp(n, "disableApiTermination") == 0)
		value_elem(r->out, n, sqlite3_column_int(st, I_DAT) ? "true" : "false");
	else if (strcmp(n, "sourceDestCheck") == 0)
		value_elem(r->out, n, sqlite3_column_int(st, I_SDC) ? "true" : "false");
	else if (strcmp(n, "instanceInitiatedShutdownBehavior") == 0)
		value_elem(r->out, n, "terminate");
	else if (strcmp(n, "rootDeviceName") == 0) {
		root_device(text(st, I_DISK), root, sizeof(root));
		value_elem(r->out, n, root);
	} else if (strcmp(n, "blockDeviceMapping") == 0)
		return volumes_xml(r, id);
	else if (strcmp(n, "groupSet") == 0)
		return groups_xml(r, text(st, I_RES));
	else if (strcmp(n, "productCodes") == 0)
		kr_buf_add(r->out, "<productCodes/>");
	else if (strcmp(n, "enclaveOptions") == 0)
		kr_buf_add(r->out, "<enclaveOptions><enabled>false</enabled></enclaveOptions>");
	else if (strcmp(n, "sriovNetSupport") == 0)
		value_elem(r->out, n, "");
	else	/* ebsOptimized, enaSupport, disableApiStop: Karri has none of them */
		value_elem(r->out, n, "false");
	return 0;
}

int
clc_describe_instance_attribute(struct clc_req *r)
{
	static const char *const known[] = { "InstanceId", "Attribute", NULL };
	const struct attr *a;
	const char *id, *name;
	sqlite3_stmt *st = NULL;
	int rc;

	if (clc_param_check_known(r, known) < 0 || !(id = clc_param_required(r, "InstanceId")) ||
	    !(name = clc_param_required(r, "Attribute")) || !(a = attr_named(name)) ||
	    instance_row(r, id, &st) < 0)
		return -1;
	clc_xml_elem(r->out, "instanceId", id);
	rc = describe_one(r, a, id, st);
	sqlite3_finalize(st);
	return rc;
}

/* Whether any parameter is "<prefix>.something". */
static bool
has_prefixed(const struct clc_req *r, const char *prefix)
{
	size_t n = strlen(prefix);

	for (size_t i = 0; i < r->params->n; i++)
		if (strncmp(r->params->params[i].key, prefix, n) == 0 &&
		    r->params->params[i].key[n] == '.')
			return true;
	return false;
}

/*
 * The one attribute a Modify changes and its value: Attribute + Value
 * (boto2, old euca2ools), or one <Param>.Value, GroupId.N or
 * BlockDeviceMapping.N... (awscli, euca2ools 3.4).
 */
static const struct attr *
modify_target(struct clc_req *r, const char **value)
{
	const char *name = clc_param(r, "Attribute");
	const struct attr *found = NULL;
	char key[64];

	for (size_t i = 0; i < NATTRS; i++) {
		const char *p = attrs[i].param;
		bool list = p && (strcmp(p, "GroupId") == 0 || strcmp(p, "BlockDeviceMapping") == 0);

		snprintf(key, sizeof(key), "%s.Value", p ? p : "");
		if (!p || (list ? !has_prefixed(r, p) : !clc_param(r, key)))
			continue;
		if (found || name) {
			kr_error("InvalidParameterCombination", "Fields for multiple attribute "
			    "types specified: %s, %s", found ? found->name : name, attrs[i].name);
			return NULL;
		}
		found = &attrs[i];
		*value = list ? NULL : clc_param(r, key);
	}
	if (found)
		return found;
	if (name == NULL) {
		kr_error("MissingParameter", "the request must name the attribute to modify");
		return NULL;
	}
	*value = clc_param(r, "Value");
	return attr_named(name);
}

static int
set_flag(struct clc_req *r, const char *id, const char *column, const char *param,
    const char *v)
{
	char sql[128];
	bool on;

	if (v == NULL || *v == '\0') {
		kr_error("MissingParameter", "the request must contain the parameter %s", param);
		return -1;
	}
	if (strcasecmp(v, "true") == 0)
		on = true;
	else if (strcasecmp(v, "false") == 0)
		on = false;
	else {
		kr_error("InvalidParameterValue", "Value (%.32s) for parameter %s is invalid. "
		    "Expected true or false.", v, param);
		return -1;
	}
	snprintf(sql, sizeof(sql), "UPDATE instances SET %s = %d WHERE id = ?", column, on);
	return clc_db_run(r->db, sql, id, NULL, NULL);
}

/* BlockDeviceMapping.N.*: only deleteOnTermination=false of an attached volume. */
static int
modify_volumes(struct clc_req *r, const char *id)
{
	const char *devs[CLC_MAX_IDS], *dots[CLC_MAX_IDS];
	char vol[32];
	size_t n, nd;

	if (clc_param_list_checked(r, "BlockDeviceMapping", "DeviceName", devs, CLC_MAX_IDS,
	    &n) < 0 || clc_param_list_checked(r, "BlockDeviceMapping", "Ebs.DeleteOnTermination",
	    dots, CLC_MAX_IDS, &nd) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (clc_db_text(r->db, "SELECT id FROM volumes WHERE instance_id = ? AND device = ?"
		    " AND attach_status IS NOT NULL", id, devs[i], vol, sizeof(vol)) != 1) {
			kr_error("InvalidInstanceAttributeValue", "No device is currently mapped at "
			    "%.64s", devs[i]);
			return -1;
		}
	for (size_t i = 0; i < nd; i++)
		if (strcasecmp(dots[i], "false") != 0) {
			kr_error("UnsupportedOperation", "Karri never deletes a volume when its "
			    "instance terminates: deleteOnTermination can only be false");
			return -1;
		}
	return 0;
}

/* GroupId.N: accepted only when it names the groups the instance has. */
static int
modify_groups(struct clc_req *r, const char *id, const char *reservation)
{
	const char *want[CLC_MAX_IDS];
	char have[32];
	size_t n;

	if (clc_param_list_checked(r, "GroupId", NULL, want, CLC_MAX_IDS, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (clc_db_text(r->db, "SELECT group_id FROM reservation_groups WHERE"
		    " reservation_id = ? AND group_id = ?", reservation, want[i], have,
		    sizeof(have)) != 1)
			goto refuse;
	if (clc_db_text(r->db, "SELECT count(*) FROM reservation_groups WHERE"
	    " reservation_id = ?", reservation, NULL, have, sizeof(have)) == 1 &&
	    strtol(have, NULL, 10) == (long)n)
		return 0;
refuse:
	kr_error("InvalidParameterCombination", "The security groups of instance '%s' cannot "
	    "change while it runs: they choose its network, as on EC2-Classic", id);
	return -1;
}

static int
modify_any_time(struct clc_req *r, const struct attr *a, const char *id, const char *v,
    sqlite3_stmt *st)
{
	const char *n = a->name;

	if (strcmp(n, "disableApiTermination") == 0)
		return set_flag(r, id, "disable_api_termination", "DisableApiTermination", v);
	if (strcmp(n, "sourceDestCheck") == 0)
		return set_flag(r, id, "source_dest_check", "SourceDestCheck", v);
	if (strcmp(n, "blockDeviceMapping") == 0)
		return modify_volumes(r, id);
	if (strcmp(n, "groupSet") == 0)
		return modify_groups(r, id, text(st, I_RES));
	if (v && strcasecmp(v, strcmp(n, "disableApiStop") == 0 ? "false" : "terminate") == 0)
		return 0;	/* what a Karri instance already does */
	if (v && strcmp(n, "instanceInitiatedShutdownBehavior") == 0 && strcmp(v, "stop") != 0) {
		kr_error("InvalidParameterValue", "Value (%.32s) for parameter "
		    "instanceInitiatedShutdownBehavior is invalid: stop or terminate", v);
		return -1;
	}
	kr_error("UnsupportedOperation", "The instance '%s' has an 'instance-store' root device "
	    "and cannot be stopped, so %s can only be %s", id, n,
	    strcmp(n, "disableApiStop") == 0 ? "false" : "terminate");
	return -1;
}

static int
not_stopped(const char *id)
{
	kr_error("IncorrectInstanceState", "The instance '%s' is not in the 'stopped' state.", id);
	return -1;
}

int
clc_modify_instance_attribute(struct clc_req *r)
{
	static const char *const known[] = { "InstanceId", "Attribute", "Value", "InstanceType",
		"Kernel", "Ramdisk", "UserData", "DisableApiTermination",
		"InstanceInitiatedShutdownBehavior", "BlockDeviceMapping", "SourceDestCheck",
		"GroupId", "EbsOptimized", "SriovNetSupport", "EnaSupport", "DisableApiStop", NULL };
	const struct attr *a;
	const char *id, *value = NULL, *state;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (clc_param_check_known(r, known) < 0 || !(id = clc_param_required(r, "InstanceId")) ||
	    !(a = modify_target(r, &value)) || instance_row(r, id, &st) < 0)
		return -1;
	state = text(st, I_STATE);
	if (a->rule == R_READ_ONLY)
		kr_error("InvalidParameterValue", "The attribute '%s' cannot be modified", a->name);
	else if (a->rule == R_STOPPED || strcmp(state, "shutting-down") == 0 ||
	    strcmp(state, "terminated") == 0)
		not_stopped(id);
	else
		rc = modify_any_time(r, a, id, value, st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : clc_return_true(r);
}

int
clc_reset_instance_attribute(struct clc_req *r)
{
	static const char *const known[] = { "InstanceId", "Attribute", NULL };
	const char *id, *name;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (clc_param_check_known(r, known) < 0 || !(id = clc_param_required(r, "InstanceId")) ||
	    !(name = clc_param_required(r, "Attribute")) || !attr_named(name) ||
	    instance_row(r, id, &st) < 0)
		return -1;
	if (strcmp(name, "kernel") == 0 || strcmp(name, "ramdisk") == 0)
		not_stopped(id);
	else if (strcmp(name, "sourceDestCheck") == 0)
		rc = clc_db_run(r->db, "UPDATE instances SET source_dest_check = 1 WHERE id = ?",
		    id, NULL, NULL);
	else
		kr_error("InvalidParameterValue", "The attribute '%s' cannot be reset: only kernel, "
		    "ramdisk and sourceDestCheck can", name);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : clc_return_true(r);
}

/* TerminateInstances: none of ids may be protected (EC2 then terminates none). */
int
clc_instances_check_protection(struct clc_req *r, const char **ids, size_t n)
{
	char on[8];

	for (size_t i = 0; i < n; i++)
		if (clc_db_text(r->db, "SELECT 1 FROM instances WHERE id = ? AND"
		    " disable_api_termination", ids[i], NULL, on, sizeof(on)) == 1) {
			kr_error("OperationNotPermitted", "The instance '%s' may not be terminated. "
			    "Modify its 'disableApiTermination' instance attribute and try again.",
			    ids[i]);
			return -1;
		}
	return 0;
}
