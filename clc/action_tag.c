/*
 * action_tag.c - CreateTags, DeleteTags, DescribeTags, and the <tagSet> of
 * every Describe.
 *
 * A tag belongs to a resource the caller owns; the resource is found from
 * its id prefix (i-, sg-, vol-, snap-, emi-/eki-/eri-).  Limits as EC2:
 * 50 tags per resource, keys up to 127 characters, values up to 255, and
 * keys starting "aws:" reserved.
 *
 * Keys starting "karri:" are reserved too: they are derived, read-only
 * tags that show the owner how the NC attached an instance's disk and NIC
 * (karri:disk, karri:net: the instance's disk_attachment/net_attachment)
 * and how an attached volume reached its guest (karri:path).  They are not
 * rows of the tags table but of CLC_DERIVED_TAGS, read beside it wherever tags
 * are read (tagSets, DescribeTags, tag filters), so they can never go stale.
 * The one karri: key a caller may write is CLC_BURST_TAG, and only at
 * launch: it is how a Karri cloud bursting to this one marks its instances
 * (burst_run.c); once there, it cannot be changed or deleted either.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clc.h"
#include "clc_actions.h"
#include "clc_burst.h"
#include "core/db.h"
#include "core/error.h"
#include "core/id.h"

#define MAX_TAGS_PER_RESOURCE 50
#define MAX_TAGS_PER_CALL 50

static const struct {
	const char *prefix, *table, *type, *notfound;
} kinds[] = {
	{ "i", "instances", "instance", "InvalidInstanceID.NotFound" },
	{ "sg", "groups", "security-group", "InvalidGroup.NotFound" },
	{ "vol", "volumes", "volume", "InvalidVolume.NotFound" },
	{ "snap", "snapshots", "snapshot", "InvalidSnapshot.NotFound" },
	{ "emi", "images", "image", "InvalidAMIID.NotFound" },
	{ "eki", "images", "image", "InvalidAMIID.NotFound" },
	{ "eri", "images", "image", "InvalidAMIID.NotFound" },
};

static int
kind_of(const char *id)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kr_id_valid(id, kinds[i].prefix))
			return (int)i;
	return -1;
}

/* The resource exists and the caller owns it: 0, else -1 + the NotFound code. */
static int
check_owned(struct clc_req *r, const char *id)
{
	char sql[128];
	sqlite3_stmt *st;
	int k = kind_of(id), rc;

	if (k < 0) {
		kr_error("InvalidID", "The ID '%.64s' is not valid", id);
		return -1;
	}
	snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id = ? AND owner = ?",
	    kinds[k].table);
	if (kr_db_prepare(r->db, sql, &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->account, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	if (rc == 0)
		kr_error(kinds[k].notfound, "The ID '%s' does not exist", id);
	return rc == 1 ? 0 : -1;
}

/* aws: is EC2's own; karri: is this cloud's (see the top). */
static int
check_not_reserved(const char *key, bool at_launch)
{
	static const char *const reserved[] = { "aws:", "karri:" };

	if (at_launch && strcmp(key, CLC_BURST_TAG) == 0)
		return 0;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strncmp(key, reserved[i], strlen(reserved[i])) == 0) {
			kr_error("InvalidParameterValue", "Value ( %.127s ) for parameter key is "
			    "invalid. Tag keys starting with '%s' are reserved for internal use",
			    key, reserved[i]);
			return -1;
		}
	return 0;
}

static int
check_tag(const char *key, const char *value, bool at_launch)
{
	if (!key || !*key || strlen(key) > 127) {
		kr_error("InvalidParameterValue", "tag keys are 1 to 127 characters");
		return -1;
	}
	if (check_not_reserved(key, at_launch) < 0)
		return -1;
	if (value && strlen(value) > 255) {
		kr_error("InvalidParameterValue", "tag values are at most 255 characters");
		return -1;
	}
	return 0;
}

static int
tag_count(sqlite3 *db, const char *id)
{
	sqlite3_stmt *st;
	int n = -1;

	if (kr_db_prepare(db, "SELECT count(*) FROM tags WHERE resource_id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (kr_db_step(st) == 1)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Tag.N.Key / Tag.N.Value (prefix "Tag") on one owned resource. */
static int
tags_apply(const struct clc_req *r, const char *id, const char *prefix, bool at_launch)
{
	char kkey[64], vkey[64];
	sqlite3_stmt *st;
	int rc = 0;

	if (kr_db_prepare(r->db, "INSERT OR REPLACE INTO tags (resource_id, owner, key, value)"
	    " VALUES (?, ?, ?, ?)", &st) < 0)
		return -1;
	for (int n = 1; n <= MAX_TAGS_PER_CALL + 1 && rc == 0; n++) {
		const char *key, *value;

		snprintf(kkey, sizeof(kkey), "%s.%d.Key", prefix, n);
		snprintf(vkey, sizeof(vkey), "%s.%d.Value", prefix, n);
		if ((key = clc_param(r, kkey)) == NULL)
			continue;
		value = clc_param(r, vkey);
		if (n > MAX_TAGS_PER_CALL) {
			kr_error("TagLimitExceeded", "at most %d tags per call", MAX_TAGS_PER_CALL);
			rc = -1;
		} else if ((rc = check_tag(key, value, at_launch)) == 0) {
			sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, r->account, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, value ? value : "", -1, SQLITE_STATIC);
			rc = kr_db_step(st) < 0 ? -1 : 0;
			sqlite3_reset(st);
		}
	}
	sqlite3_finalize(st);
	if (rc == 0 && tag_count(r->db, id) > MAX_TAGS_PER_RESOURCE) {
		kr_error("TagLimitExceeded", "a resource has at most %d tags",
		    MAX_TAGS_PER_RESOURCE);
		rc = -1;
	}
	return rc;
}

int
clc_tags_delete_all(sqlite3 *db, const char *id)
{
	return clc_db_run(db, "DELETE FROM tags WHERE resource_id = ?", id, NULL, NULL) < 0 ?
	    -1 : 0;
}

void
clc_tags_xml(const struct clc_req *r, const char *id)
{
	static sqlite3_stmt *st;	/* the one controller's connection: keep it prepared */
	bool any = false;

	if (st == NULL && kr_db_prepare(r->db, CLC_TAGS_OF_SQL, &st) < 0)
		return;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW) {
		kr_buf_add(r->out, any ? "<item>" : "<tagSet><item>");
		any = true;
		clc_xml_col(r->out, "key", st, 0);
		clc_xml_col(r->out, "value", st, 1);
		kr_buf_add(r->out, "</item>");
	}
	if (any)
		kr_buf_add(r->out, "</tagSet>");
	sqlite3_reset(st);
}

static int
resources(struct clc_req *r, const char **ids, size_t *n)
{
	if (clc_param_list_checked(r, "ResourceId", NULL, ids, CLC_MAX_IDS, n) < 0)
		return -1;
	if (*n == 0) {
		kr_error("MissingParameter", "the request must contain the parameter ResourceId");
		return -1;
	}
	for (size_t i = 0; i < *n; i++)
		if (check_owned(r, ids[i]) < 0)
			return -1;
	return 0;
}

int
clc_create_tags(struct clc_req *r)
{
	static const char *const known[] = { "ResourceId", "Tag", NULL };
	const char *ids[CLC_MAX_IDS];
	size_t n;

	if (clc_param_check_known(r, known) < 0 || resources(r, ids, &n) < 0)
		return -1;
	if (!clc_param(r, "Tag.1.Key")) {
		kr_error("MissingParameter", "the request must contain the parameter Tag");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (tags_apply(r, ids[i], "Tag", false) < 0)
			return -1;
	return clc_return_true(r);
}

/* Tag.N.Key alone deletes the key; with Tag.N.Value only when the value matches. */
int
clc_delete_tags(struct clc_req *r)
{
	static const char *const known[] = { "ResourceId", "Tag", NULL };
	const char *ids[CLC_MAX_IDS];
	char kkey[64], vkey[64];
	sqlite3_stmt *st;
	size_t n;
	int rc = 0;

	if (clc_param_check_known(r, known) < 0 || resources(r, ids, &n) < 0)
		return -1;
	/* No keys: every tag the users made (as EC2 keeps its aws: ones, this keeps karri:). */
	if (!clc_param(r, "Tag.1.Key")) {
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = clc_db_run(r->db, "DELETE FROM tags WHERE resource_id = ?"
			    " AND substr(key, 1, 6) <> 'karri:'", ids[i], NULL, NULL) < 0 ? -1 : 0;
		return rc < 0 ? -1 : clc_return_true(r);
	}
	if (kr_db_prepare(r->db, "DELETE FROM tags WHERE resource_id = ?1 AND key = ?2"
	    " AND (?3 IS NULL OR value = ?3)", &st) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		for (int t = 1; t <= MAX_TAGS_PER_CALL && rc == 0; t++) {
			snprintf(kkey, sizeof(kkey), "Tag.%d.Key", t);
			snprintf(vkey, sizeof(vkey), "Tag.%d.Value", t);
			if (!clc_param(r, kkey))
				continue;
			if (check_not_reserved(clc_param(r, kkey), false) < 0) {
				rc = -1;
				break;
			}
			sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, clc_param(r, kkey), -1, SQLITE_STATIC);
			if (clc_param(r, vkey))
				sqlite3_bind_text(st, 3, clc_param(r, vkey), -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(st, 3);
			rc = kr_db_step(st) < 0 ? -1 : 0;
			sqlite3_reset(st);
		}
	sqlite3_finalize(st);
	return rc < 0 ? -1 : clc_return_true(r);
}

struct tag_item {
	const char *rid, *type, *key, *value;
};

static const char *
tag_field(void *item, const char *name, size_t idx)
{
	struct tag_item *t = item;

	if (idx)
		return NULL;
	if (strcmp(name, "resource-id") == 0)
		return t->rid;
	if (strcmp(name, "resource-type") == 0)
		return t->type;
	if (strcmp(name, "key") == 0)
		return t->key;
	if (strcmp(name, "value") == 0)
		return t->value;
	return NULL;
}

/*
 * Stored tags in the order they were made (rowid), then the derived ones
 * by (resource, key): a NextToken is the last rowid sent, or "~RESOURCE KEY"
 * once the derived ones have begun (their keys are Karri's, short and
 * without spaces, so it fits the pager's 128 characters).
 */
static const char describe_tags_sql[] =
	"SELECT 0, rowid, resource_id, key, value FROM tags WHERE owner = ?1 AND rowid > ?2"
	" UNION ALL SELECT 1, 0, resource_id, key, value FROM (" CLC_DERIVED_TAGS ")"
	" WHERE owner = ?1 AND (resource_id, key) > (?3, ?4)"
	" ORDER BY 1, 2, 3, 4";

static void
bind_after(sqlite3_stmt *st, const char *token)
{
	const char *sp;

	if (token && *token == '~' && (sp = strchr(token, ' ')) != NULL) {
		sqlite3_bind_int64(st, 2, INT64_MAX);
		sqlite3_bind_text(st, 3, token + 1, (int)(sp - token - 1), SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, sp + 1, -1, SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_int64(st, 2, token ? atoll(token) : 0);
		sqlite3_bind_text(st, 3, "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, "", -1, SQLITE_STATIC);
	}
}

static void
tag_item_xml(struct kr_buf *b, const struct tag_item *t)
{
	kr_buf_add(b, "<item>");
	clc_xml_elem(b, "resourceId", t->rid);
	clc_xml_elem(b, "resourceType", t->type);
	clc_xml_elem(b, "key", t->key);
	clc_xml_elem(b, "value", t->value);
	kr_buf_add(b, "</item>");
}

int
clc_describe_tags(struct clc_req *r)
{
	static const char *const known[] = { "Filter", "MaxResults", "NextToken", NULL };
	static const char *const filters[] = { "resource-id", "resource-type", "key", "value",
		NULL };
	struct clc_filters fs;
	struct clc_pager pg;
	char last[128] = "";
	sqlite3_stmt *st;
	int rc;

	if (clc_param_check_known(r, known) < 0 || clc_filters_parse(r, filters, &fs) < 0 ||
	    clc_pager_init(r, 5, 1000, &pg) < 0 ||
	    kr_db_prepare(r->db, describe_tags_sql, &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, r->account, -1, SQLITE_STATIC);
	bind_after(st, pg.after);
	kr_buf_add(r->out, "<tagSet>");
	while ((rc = kr_db_step(st)) == 1) {
		struct tag_item t = { (const char *)sqlite3_column_text(st, 2), NULL,
			(const char *)sqlite3_column_text(st, 3),
			(const char *)sqlite3_column_text(st, 4) };
		int k = kind_of(t.rid);

		t.type = k >= 0 ? kinds[k].type : "unknown";
		if (!clc_filters_match(r, &fs, NULL, tag_field, &t))
			continue;
		if (!clc_pager_take(&pg))
			break;
		if (sqlite3_column_int(st, 0) == 0)
			snprintf(last, sizeof(last), "%lld", (long long)sqlite3_column_int64(st, 1));
		else
			snprintf(last, sizeof(last), "~%.40s %.80s", t.rid, t.key);
		tag_item_xml(r->out, &t);
	}
	sqlite3_finalize(st);
	kr_buf_add(r->out, "</tagSet>");
	if (rc == 1)
		clc_pager_finish(r, &pg, last);
	return rc < 0 ? -1 : 0;
}

/* TagSpecification.N.ResourceType=type with its Tag.M: tags given at creation. */
int
clc_tags_apply_spec(const struct clc_req *r, const char *id, const char *type)
{
	char key[64], prefix[64];

	for (int s = 1; s <= 8; s++) {
		const char *t;

		snprintf(key, sizeof(key), "TagSpecification.%d.ResourceType", s);
		if ((t = clc_param(r, key)) == NULL)
			continue;
		if (strcmp(t, type) != 0) {
			kr_error("InvalidParameterValue", "'%.32s' resources cannot be tagged "
			    "here, only '%s'", t, type);
			return -1;
		}
		snprintf(prefix, sizeof(prefix), "TagSpecification.%d.Tag", s);
		if (tags_apply(r, id, prefix, true) < 0)
			return -1;
	}
	return 0;
}
