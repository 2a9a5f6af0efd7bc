/*
 * action_instance_xml.c - reservations and instances as RunInstances and
 * DescribeInstances answer them (one writer, so both answer alike).
 *
 * The rows come from one SELECT (clc_instance_cols) ordered by
 * reservation; the writer opens a <item> per reservation with its groups
 * and closes it when the next reservation starts.  The NC's attachment
 * choice reaches the owner as the tags karri:disk and karri:net of the
 * <tagSet> (clc_tags_xml), like any tag.
 *
 * What the XML needs beyond the row is looked up once, not per row (struct
 * clc_instance_ctx): a reservation's groups when the reservation changes,
 * and which instances have stored tags once per answer.  As correlated
 * subqueries of the SELECT they were two thirds of sqlite's time in a
 * DescribeInstances of 10,000 instances (docs/decisions.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clc.h"
#include "clc_instance.h"
#include "core/db.h"
#include "core/error.h"

const char clc_instance_cols[] =
	"SELECT i.id, i.reservation_id, i.owner, i.image_id, i.kernel_id, i.ramdisk_id,"
	" i.type, i.key_name, i.launch_index, i.state, i.state_reason, i.zone,"
	" i.private_ip, i.public_ip, i.launched, i.disk_attachment, i.net_attachment"
	" FROM instances i";

/* Instance ids with stored tags, sorted as sqlite sorts text (memcmp: strcmp). */
static const char tagged_sql[] =
	"SELECT DISTINCT resource_id FROM tags WHERE owner = ?1"
	" AND resource_id >= 'i-' AND resource_id < 'i.' ORDER BY resource_id";
static const char tagged_all_sql[] =
	"SELECT DISTINCT resource_id FROM tags"
	" WHERE resource_id >= 'i-' AND resource_id < 'i.' ORDER BY resource_id";

static void
free_tagged(struct clc_instance_ctx *x)
{
	for (size_t i = 0; i < x->ntagged; i++)
		free(x->tagged[i]);
	free(x->tagged);
	x->tagged = NULL;
	x->ntagged = 0;
}

/*
 * A tag's owner is its resource's (action_tag.c tags only the caller's own
 * resources), so the owner's tagged ids are all its instances can have.
 */
static int
load_tagged(struct clc_instance_ctx *x, sqlite3 *db, const char *owner)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	if (kr_db_prepare(db, owner ? tagged_sql : tagged_all_sql, &st) < 0)
		return -1;
	if (owner)
		sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
	while ((rc = kr_db_step(st)) == 1) {
		if (x->ntagged == cap) {
			char **p = realloc(x->tagged, (cap = cap ? cap * 2 : 16) * sizeof(*p));

			if (p == NULL)
				break;
			x->tagged = p;
		}
		if ((x->tagged[x->ntagged] = strdup((const char *)sqlite3_column_text(st, 0)))
		    == NULL)
			break;
		x->ntagged++;
	}
	sqlite3_finalize(st);
	if (rc == 1) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	return rc;
}

int
clc_instance_ctx_init(struct clc_instance_ctx *x, sqlite3 *db, const char *owner)
{
	memset(x, 0, sizeof(*x));
	kr_buf_init(&x->groups, 0);
	kr_buf_init(&x->groups_xml, 0);
	if (kr_db_prepare(db, "SELECT group_concat(group_id || ' ' || group_name, char(10))"
	    " FROM reservation_groups WHERE reservation_id = ?", &x->groups_st) < 0 ||
	    load_tagged(x, db, owner) < 0) {
		clc_instance_ctx_free(x);
		return -1;
	}
	return 0;
}

void
clc_instance_ctx_free(struct clc_instance_ctx *x)
{
	sqlite3_finalize(x->groups_st);
	x->groups_st = NULL;
	kr_buf_free(&x->groups);
	kr_buf_free(&x->groups_xml);
	free_tagged(x);
}

/* "sg-1 default\nsg-2 web", or NULL (none, or the lookup failed: kr_error set). */
const char *
clc_instance_groups(struct clc_instance_ctx *x, const char *reservation_id)
{
	const char *g;
	int rc;

	if (x->have_groups && strcmp(x->res, reservation_id) == 0)
		return x->groups_null ? NULL : kr_buf_str(&x->groups);
	kr_buf_reset(&x->groups);
	sqlite3_bind_text(x->groups_st, 1, reservation_id, -1, SQLITE_STATIC);
	rc = kr_db_step(x->groups_st);
	g = rc == 1 ? (const char *)sqlite3_column_text(x->groups_st, 0) : NULL;
	kr_buf_add(&x->groups, g);
	sqlite3_reset(x->groups_st);
	x->groups_null = g == NULL;
	kr_buf_reset(&x->groups_xml);
	clc_groups_xml(&x->groups_xml, x->groups_null ? NULL : kr_buf_str(&x->groups));
	if (rc == 1 && (kr_buf_failed(&x->groups) || kr_buf_failed(&x->groups_xml))) {
		kr_error("InternalError", "out of memory");
		rc = -1;
	}
	if (rc < 0)
		x->failed = true;
	/* Remembered only when the whole id fits, so that a longer one never matches. */
	x->have_groups = rc == 1 && strlen(reservation_id) < sizeof(x->res);
	if (x->have_groups)
		memcpy(x->res, reservation_id, strlen(reservation_id) + 1);
	return x->groups_null ? NULL : kr_buf_str(&x->groups);
}

/* The reservation's <groupSet>, written once per reservation and copied per instance. */
static void
groups_xml(struct clc_instance_ctx *x, struct kr_buf *b, const char *reservation_id)
{
	clc_instance_groups(x, reservation_id);
	kr_buf_add_len(b, kr_buf_str(&x->groups_xml), kr_buf_len(&x->groups_xml));
}

static int
cmp_id(const void *key, const void *elem)
{
	return strcmp(key, *(char *const *)elem);
}

/* Any tag, stored or derived from the row (karri:disk, karri:net: action_tag.c). */
static bool
has_tags(const struct clc_instance_ctx *x, const char *const *v)
{
	return (v[C_DISK] && *v[C_DISK]) || (v[C_NET] && *v[C_NET]) || (x->ntagged &&
	    bsearch(v[C_ID], x->tagged, x->ntagged, sizeof(char *), cmp_id) != NULL);
}

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

/* A text column as an element; NULL columns are left out, as EC2 does. */
static void
text_elem(struct kr_buf *b, const char *tag, const char *v)
{
	if (v)
		clc_xml_elem(b, tag, v);
}

void
clc_instance_item(const struct clc_req *r, struct clc_instance_ctx *x, sqlite3_stmt *st)
{
	struct kr_buf *b = r->out;
	const char *v[C_NET + 1], *state, *reason;

	/* Each column asked of sqlite once: every call takes the connection's mutex. */
	for (int c = C_ID; c <= C_NET; c++)
		v[c] = c == C_INDEX || c == C_LAUNCHED ? NULL : col(st, c);
	state = v[C_STATE];
	reason = v[C_REASON];
	kr_buf_add(b, "<item>");
	text_elem(b, "instanceId", v[C_ID]);
	text_elem(b, "imageId", v[C_IMAGE]);
	kr_buf_add(b, "<instanceState>");
	clc_xml_elem_int(b, "code", clc_state_code(state));
	clc_xml_elem(b, "name", state);
	kr_buf_add(b, "</instanceState>");
	clc_xml_elem(b, "privateDnsName", v[C_PRIV] ? v[C_PRIV] : "");
	clc_xml_elem(b, "dnsName", v[C_PUB] ? v[C_PUB] : "");
	clc_xml_elem(b, "reason", reason ? reason : "");
	text_elem(b, "keyName", v[C_KEY]);
	/* launch_index is INTEGER NOT NULL: its digits, without sqlite's conversion to text */
	clc_xml_elem_int(b, "amiLaunchIndex", sqlite3_column_int64(st, C_INDEX));
	kr_buf_add(b, "<productCodes/>");
	text_elem(b, "instanceType", v[C_TYPE]);
	clc_xml_time(b, "launchTime", (time_t)sqlite3_column_int64(st, C_LAUNCHED));
	kr_buf_add(b, "<placement>");
	text_elem(b, "availabilityZone", v[C_ZONE]);
	kr_buf_add(b, "<tenancy>default</tenancy></placement>");
	text_elem(b, "kernelId", v[C_KERNEL]);
	text_elem(b, "ramdiskId", v[C_RAMDISK]);
	kr_buf_add(b, "<monitoring><state>disabled</state></monitoring>");
	text_elem(b, "privateIpAddress", v[C_PRIV]);
	text_elem(b, "ipAddress", v[C_PUB]);
	groups_xml(x, b, v[C_RES]);
	if (reason && strcmp(state, "running") != 0) {
		kr_buf_add(b, "<stateReason>");
		clc_xml_elem(b, "code", strcmp(state, "pending") == 0 ? "pending" :
		    "Server.InternalError");
		clc_xml_elem(b, "message", reason);
		kr_buf_add(b, "</stateReason>");
	}
	kr_buf_add(b, "<architecture>x86_64</architecture><rootDeviceType>instance-store"
	    "</rootDeviceType><blockDeviceMapping/><virtualizationType>");
	kr_buf_add(b, v[C_KERNEL] ? "paravirtual" : "hvm");
	kr_buf_add(b, "</virtualizationType><hypervisor>kvm</hypervisor>");
	if (has_tags(x, v))
		clc_tags_xml(r, v[C_ID]);
	kr_buf_add(b, "</item>");
}

void
clc_reservation_open(const struct clc_req *r, struct clc_instance_ctx *x, sqlite3_stmt *st)
{
	kr_buf_add(r->out, "<item>");
	clc_xml_col(r->out, "reservationId", st, C_RES);
	clc_xml_col(r->out, "ownerId", st, C_OWNER);
	groups_xml(x, r->out, col(st, C_RES));
	kr_buf_add(r->out, "<instancesSet>");
}

void
clc_reservation_close(const struct clc_req *r)
{
	kr_buf_add(r->out, "</instancesSet></item>");
}

/* Write the instance; open a new reservation item when the reservation changes. */
void
clc_instance_row(const struct clc_req *r, struct clc_instance_ctx *x, sqlite3_stmt *st,
    char *cur_res, size_t len)
{
	const char *res = col(st, C_RES);

	if (strcmp(cur_res, res) != 0) {
		if (*cur_res)
			clc_reservation_close(r);
		clc_reservation_open(r, x, st);
		snprintf(cur_res, len, "%s", res);
	}
	clc_instance_item(r, x, st);
}
