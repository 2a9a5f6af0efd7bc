/*
 * action_instance_xml.c - reservations and instances as RunInstances and
 * DescribeInstances answer them (one writer, so both answer alike).
 *
 * The rows come from one SELECT (CLC_INSTANCE_COLS) ordered by
 * reservation; the writer opens a <item> per reservation with its groups
 * and closes it when the next reservation starts.  The NC's attachment
 * choice reaches the owner as the tags karri:disk and karri:net of the
 * <tagSet> (clc_tags_xml), like any tag.
 */
#include <stdio.h>
#include <string.h>

#include "clc.h"
#include "clc_instance.h"

const char clc_instance_cols[] =
	"SELECT i.id, i.reservation_id, i.owner, i.image_id, i.kernel_id, i.ramdisk_id,"
	" i.type, i.key_name, i.launch_index, i.state, i.state_reason, i.zone,"
	" i.private_ip, i.public_ip, i.launched, i.disk_attachment, i.net_attachment,"
	" (SELECT group_concat(g.group_id || ' ' || g.group_name, char(10))"
	"  FROM reservation_groups g WHERE g.reservation_id = i.reservation_id),"
	/* any tag, stored or derived (karri:disk, karri:net: action_tag.c) */
	" EXISTS (SELECT 1 FROM tags t WHERE t.resource_id = i.id)"
	"  OR i.disk_attachment <> '' OR i.net_attachment <> ''"
	" FROM instances i";

int
clc_state_code(const char *state)
{
	static const struct { const char *name; int code; } codes[] = {
		{ "pending", 0 }, { "running", 16 }, { "shutting-down", 32 },
		{ "terminated", 48 }, { "stopping", 64 }, { "stopped", 80 },
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(state, codes[i].name) == 0)
			return codes[i].code;
	return 0;
}

static const char *
col(sqlite3_stmt *st, int c)
{
	return (const char *)sqlite3_column_text(st, c);
}

/* "sg-1 default\nsg-2 web" -> <groupSet> items. */
void
clc_groups_xml(struct kr_buf *b, const char *groups)
{
	kr_buf_add(b, "<groupSet>");
	while (groups && *groups) {
		const char *sp = strchr(groups, ' '), *nl = strchr(groups, '\n');
		size_t end = nl ? (size_t)(nl - groups) : strlen(groups);

		if (sp && (size_t)(sp - groups) < end) {
			kr_buf_add(b, "<item><groupId>");
			kr_buf_add_xml_len(b, groups, (size_t)(sp - groups));
			kr_buf_add(b, "</groupId><groupName>");
			kr_buf_add_xml_len(b, sp + 1, end - (size_t)(sp - groups) - 1);
			kr_buf_add(b, "</groupName></item>");
		}
		groups += end + (nl != NULL);
	}
	kr_buf_add(b, "</groupSet>");
}

void
clc_instance_item(const struct clc_req *r, sqlite3_stmt *st)
{
	struct kr_buf *b = r->out;
	const char *state = col(st, C_STATE), *reason = col(st, C_REASON);

	kr_buf_add(b, "<item>");
	clc_xml_col(b, "instanceId", st, C_ID);
	clc_xml_col(b, "imageId", st, C_IMAGE);
	kr_buf_add(b, "<instanceState>");
	clc_xml_elem_int(b, "code", clc_state_code(state));
	clc_xml_elem(b, "name", state);
	kr_buf_add(b, "</instanceState>");
	clc_xml_elem(b, "privateDnsName", col(st, C_PRIV) ? col(st, C_PRIV) : "");
	clc_xml_elem(b, "dnsName", col(st, C_PUB) ? col(st, C_PUB) : "");
	clc_xml_elem(b, "reason", reason ? reason : "");
	clc_xml_col(b, "keyName", st, C_KEY);
	clc_xml_col(b, "amiLaunchIndex", st, C_INDEX);
	kr_buf_add(b, "<productCodes/>");
	clc_xml_col(b, "instanceType", st, C_TYPE);
	clc_xml_time(b, "launchTime", (time_t)sqlite3_column_int64(st, C_LAUNCHED));
	kr_buf_add(b, "<placement>");
	clc_xml_col(b, "availabilityZone", st, C_ZONE);
	kr_buf_add(b, "<tenancy>default</tenancy></placement>");
	clc_xml_col(b, "kernelId", st, C_KERNEL);
	clc_xml_col(b, "ramdiskId", st, C_RAMDISK);
	kr_buf_add(b, "<monitoring><state>disabled</state></monitoring>");
	clc_xml_col(b, "privateIpAddress", st, C_PRIV);
	clc_xml_col(b, "ipAddress", st, C_PUB);
	clc_groups_xml(b, col(st, C_GROUPS));
	if (reason && strcmp(state, "running") != 0) {
		kr_buf_add(b, "<stateReason>");
		clc_xml_elem(b, "code", strcmp(state, "pending") == 0 ? "pending" :
		    "Server.InternalError");
		clc_xml_elem(b, "message", reason);
		kr_buf_add(b, "</stateReason>");
	}
	kr_buf_add(b, "<architecture>x86_64</architecture><rootDeviceType>instance-store"
	    "</rootDeviceType><blockDeviceMapping/><virtualizationType>");
	kr_buf_add(b, col(st, C_KERNEL) ? "paravirtual" : "hvm");
	kr_buf_add(b, "</virtualizationType><hypervisor>kvm</hypervisor>");
	if (sqlite3_column_int(st, C_HAS_TAGS))
		clc_tags_xml(r, col(st, C_ID));
	kr_buf_add(b, "</item>");
}

void
clc_reservation_open(const struct clc_req *r, sqlite3_stmt *st)
{
	kr_buf_add(r->out, "<item>");
	clc_xml_col(r->out, "reservationId", st, C_RES);
	clc_xml_col(r->out, "ownerId", st, C_OWNER);
	clc_groups_xml(r->out, col(st, C_GROUPS));
	kr_buf_add(r->out, "<instancesSet>");
}

void
clc_reservation_close(const struct clc_req *r)
{
	kr_buf_add(r->out, "</instancesSet></item>");
}

/* Write the instance; open a new reservation item when the reservation changes. */
void
clc_instance_row(const struct clc_req *r, sqlite3_stmt *st, char *cur_res, size_t len)
{
	const char *res = col(st, C_RES);

	if (strcmp(cur_res, res) != 0) {
		if (*cur_res)
			clc_reservation_close(r);
		clc_reservation_open(r, st);
		snprintf(cur_res, len, "%s", res);
	}
	clc_instance_item(r, st);
}
