/*
 * action_snapshot.c - CreateSnapshot, DeleteSnapshot, DescribeSnapshots.
 * Snapshots are the caller's own (Karri has no public snapshots yet); EBS
 * makes them and stores them in Walrus (with URLs presigned here, see
 * clc_snapshot_urls; without a registered Walrus EBS keeps them itself);
 * the CLC records them "pending" before EBS is asked from a worker thread
 * (clc_backend.h) and removes them again if EBS refuses; the poll
 * (client_ebs.c) follows their progress.  The EBS of the volume's zone
 * makes a snapshot, and the snapshot remembers that zone (db_schema.c v7).
 */
#include <stdio.h>
#include <string.h>

#include "clc_backend.h"
#include "clc_cc.h"
#include "clc_actions.h"
#include "clc_volume.h"
#include "core/db.h"
#include "core/error.h"
#include "core/id.h"

struct new_snap {
	struct clc_req *r;
	const char *volume, *description;
	long size;
	char zone[64];			/* the volume's: its EBS makes the snapshot */
};

static int
insert_snapshot(sqlite3 *db, const char *id, void *arg)
{
	struct new_snap *s = arg;
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "INSERT INTO snapshots (id, owner, volume_id, volume_size, status,"
	    " progress, started, description, zone) VALUES (?, ?, ?, ?, 'pending', '0%', ?, ?, ?)",
	    &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->volume, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, s->size);
	sqlite3_bind_int64(st, 5, s->r->now);
	sqlite3_bind_text(st, 6, s->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, s->zone, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

int
clc_snapshot_owned(struct clc_req *r, const char *id, long *size)
{
	sqlite3_stmt *st;
	int rc;

	if (clc_check_id("SnapshotId", id, "snap", "InvalidSnapshotID.Malformed") < 0 ||
	    kr_db_prepare(r->db, "SELECT volume_size FROM snapshots WHERE id = ? AND owner = ?",
	    &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->account, -1, SQLITE_STATIC);
	if ((rc = kr_db_step(st)) == 1 && size && *size == 0)
		*size = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc == 0)
		kr_error("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id);
	return rc == 1 ? 0 : -1;
}

int
clc_snapshot_zone(sqlite3 *db, const char *id, char *zone, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "SELECT zone FROM snapshots WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	if (rc == 1 && sqlite3_column_type(st, 0) != SQLITE_NULL)
		snprintf(zone, len, "%s", sqlite3_column_text(st, 0));
	else if (rc == 1)
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

int
clc_snapshot_source_urls(struct clc_req *r, struct soap *soap, const char *snapshot_id,
    char ***urls, int *n)
{
	long size = 0;

	if (clc_snapshot_owned(r, snapshot_id, &size) < 0)
		return -1;
	return clc_snapshot_urls(r->clc, r->db, soap, "GET", snapshot_id, size, urls, n);
}

static int
volume_size(struct clc_req *r, const char *vol, long *size)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(r->db, "SELECT size FROM volumes WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, vol, -1, SQLITE_STATIC);
	if ((rc = kr_db_step(st)) == 1)
		*size = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == 1 ? 0 : -1;
}

static int
create_work(void *arg)
{
	struct clc_ebs_job *j = arg;
	struct _ebs__CreateSnapshot req = { j->corr, j->user, j->volume, j->id, j->bucket_url,
		j->nurls, j->urls };
	struct _ebs__CreateSnapshotResponse resp = { 0 };

	return clc_soap_check(j->soap, soap_call___ebs__CreateSnapshot(j->soap, j->url, NULL,
	    &req, &resp), &resp._return, &resp.statusMessage, "Unavailable", "InternalError",
	    "CreateSnapshot", j->url);
}

static int
create_resume(struct clc_req *r, int rc, void *arg)
{
	struct clc_ebs_job *j = arg;
	const char *description = clc_param(r, "Description");

	if (rc < 0) {
		/* A snapshot EBS did not take is not recorded either. */
		struct kr_err e;

		kr_error_save(&e);
		clc_db_run(r->db, "DELETE FROM snapshots WHERE id = ?", j->id, NULL, NULL);
		clc_tags_delete_all(r->db, j->id);
		kr_error_restore(&e);
		return -1;
	}
	clc_xml_elem(r->out, "snapshotId", j->id);
	clc_xml_elem(r->out, "volumeId", j->volume);
	clc_xml_elem(r->out, "status", "pending");
	clc_xml_time(r->out, "startTime", r->now);
	clc_xml_elem(r->out, "progress", "0%");
	clc_xml_elem(r->out, "ownerId", r->account);
	clc_xml_elem_int(r->out, "volumeSize", j->size);
	if (description)
		clc_xml_elem(r->out, "description", description);
	return 0;
}

int
clc_create_snapshot(struct clc_req *r)
{
	static const char *const known[] = { "VolumeId", "Description", "TagSpecification",
		"OutpostArn", NULL };
	struct new_snap s = { .r = r };
	char status[32], inst[32], id[KR_ID_MAX];
	struct clc_ebs_job *j;

	if (clc_param_check_known(r, known) < 0 || !(s.volume = clc_param_required(r, "VolumeId")) ||
	    clc_volume_owned(r, s.volume, status, sizeof(status), inst, sizeof(inst)) < 0 ||
	    volume_size(r, s.volume, &s.size) < 0 ||
	    clc_volume_zone(r->db, s.volume, s.zone, sizeof(s.zone)) < 0)
		return -1;
	s.description = clc_param(r, "Description");
	/* Recorded "pending" now, gone again if EBS does not take it (create_resume). */
	if ((s.description && clc_check_name("Description", s.description, 255) < 0) ||
	    kr_db_insert_new_id(r->db, "snap", id, sizeof(id), insert_snapshot, &s) < 0 ||
	    clc_tags_apply_spec(r, id, "snapshot") < 0 || !(j = clc_ebs_job_new(r, id, s.zone)))
		return -1;
	snprintf(j->volume, sizeof(j->volume), "%s", s.volume);
	j->size = s.size;
	if (clc_snapshot_urls(r->clc, r->db, j->soap, "PUT", id, s.size, &j->urls,
	    &j->nurls) < 0 || (j->nurls > 0 &&
	    clc_snapshot_bucket_url(r->clc, r->db, j->soap, &j->bucket_url) < 0)) {
		clc_ebs_job_free(j);
		return -1;
	}
	return clc_req_defer(r, j->backend, NULL, create_work, create_resume, j,
	    clc_ebs_job_free);
}

static int
delete_work(void *arg)
{
	struct clc_ebs_job *j = arg;
	struct _ebs__DeleteSnapshot req = { j->corr, j->user, j->id, j->nurls, j->urls };
	struct _ebs__DeleteSnapshotResponse resp = { 0 };

	return clc_soap_check(j->soap, soap_call___ebs__DeleteSnapshot(j->soap, j->url, NULL,
	    &req, &resp), &resp._return, &resp.statusMessage, "Unavailable", "InternalError",
	    "DeleteSnapshot", j->url);
}

static int
delete_resume(struct clc_req *r, int rc, void *arg)
{
	struct clc_ebs_job *j = arg;

	if (rc < 0 ||
	    clc_db_run(r->db, "DELETE FROM snapshots WHERE id = ?", j->id, NULL, NULL) < 0 ||
	    clc_tags_delete_all(r->db, j->id) < 0)
		return -1;
	return clc_return_true(r);
}

int
clc_delete_snapshot(struct clc_req *r)
{
	static const char *const known[] = { "SnapshotId", NULL };
	struct clc_ebs_job *j;
	char zone[64];
	const char *id;
	long size = 0;
	int known_zone;

	/* The EBS that made it (with Walrus any EBS could delete it; without, only that one). */
	if (clc_param_check_known(r, known) < 0 ||
	    !(id = clc_param_required(r, "SnapshotId")) ||
	    clc_snapshot_owned(r, id, &size) < 0 ||
	    (known_zone = clc_snapshot_zone(r->db, id, zone, sizeof(zone))) < 0 ||
	    !(j = clc_ebs_job_new(r, id, known_zone ? zone : NULL)))
		return -1;
	if (clc_snapshot_urls(r->clc, r->db, j->soap, "DELETE", id, size, &j->urls,
	    &j->nurls) < 0) {
		clc_ebs_job_free(j);
		return -1;
	}
	return clc_req_defer(r, j->backend, NULL, delete_work, delete_resume, j,
	    clc_ebs_job_free);
}

static const char *
snap_field(void *item, const char *name, size_t idx)
{
	static const struct clc_filter_col map[] = {
		{ "snapshot-id", 0 }, { "volume-id", 1 }, { "status", 2 }, { "progress", 4 },
		{ "owner-id", 5 }, { "volume-size", 6 }, { "description", 7 }, { NULL, 0 },
	};

	return clc_filter_column(item, map, name, idx);
}

/*
 * Owner.N and RestorableBy.N as EC2 reads them, for a cloud without shared
 * snapshots: Owner names the caller (self or its account id) or nobody
 * visible; RestorableBy asks for snapshots with explicit create-volume
 * permissions, which no Karri snapshot has (an owner's own right is not
 * one).  euca-describe-snapshots sends Owner=self, then RestorableBy=self,
 * and concatenates: each snapshot must come back once.  *mine: whether the
 * caller's snapshots match.
 */
static int
owners_visible(struct clc_req *r, bool *mine)
{
	const char *v[CLC_MAX_IDS];
	size_t n;

	*mine = true;
	if (clc_param_list_checked(r, "Owner", NULL, v, CLC_MAX_IDS, &n) < 0)
		return -1;
	if (n) {
		*mine = false;
		for (size_t i = 0; i < n; i++)
			*mine |= strcmp(v[i], "self") == 0 || strcmp(v[i], r->account) == 0;
	}
	if (clc_param_list_checked(r, "RestorableBy", NULL, v, CLC_MAX_IDS, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], "self") != 0 && strcmp(v[i], "all") != 0 &&
		    (strlen(v[i]) != 12 || strspn(v[i], "0123456789") != 12)) {
			kr_error("InvalidUserID.Malformed", "Invalid user id: \"%.64s\"", v[i]);
			return -1;
		}
	if (n)
		*mine = false;
	return 0;
}

int
clc_describe_snapshots(struct clc_req *r)
{
	static const char *const known[] = { "SnapshotId", "Owner", "RestorableBy", "Filter",
		"MaxResults", "NextToken", NULL };
	static const char *const filters[] = { "snapshot-id", "volume-id", "status", "progress",
		"owner-id", "volume-size", "description", NULL };
	const char *ids[CLC_MAX_IDS];
	char last[KR_ID_MAX] = "";
	struct clc_filters fs;
	struct clc_pager pg;
	sqlite3_stmt *st;
	bool mine;
	size_t n;
	int rc;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_param_list_checked(r, "SnapshotId", NULL, ids, CLC_MAX_IDS, &n) < 0 ||
	    clc_filters_parse(r, filters, &fs) < 0 || clc_pager_init(r, 5, 1000, &pg) < 0 ||
	    owners_visible(r, &mine) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (clc_snapshot_owned(r, ids[i], NULL) < 0)
			return -1;
	if (kr_db_prepare(r->db, "SELECT id, volume_id, status, started, progress, owner,"
	    " volume_size, description, state_message FROM snapshots WHERE owner = ? AND id > ?"
	    " AND ? ORDER BY id", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pg.after ? pg.after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, mine);
	kr_buf_add(r->out, "<snapshotSet>");
	while ((rc = kr_db_step(st)) == 1) {
		const char *id = (const char *)sqlite3_column_text(st, 0);

		if ((n && !clc_in_list(id, ids, n)) || !clc_filters_match(r, &fs, id, snap_field,
		    st))
			continue;
		if (!clc_pager_take(&pg))
			break;
		snprintf(last, sizeof(last), "%s", id);
		kr_buf_add(r->out, "<item>");
		clc_xml_col(r->out, "snapshotId", st, 0);
		clc_xml_col(r->out, "volumeId", st, 1);
		clc_xml_col(r->out, "status", st, 2);
		clc_xml_time(r->out, "startTime", (time_t)sqlite3_column_int64(st, 3));
		clc_xml_col(r->out, "progress", st, 4);
		clc_xml_col(r->out, "ownerId", st, 5);
		clc_xml_col(r->out, "volumeSize", st, 6);
		clc_xml_col(r->out, "description", st, 7);
		clc_xml_col(r->out, "statusMessage", st, 8);	/* why it is "error" (EBS) */
		clc_tags_xml(r, id);
		kr_buf_add(r->out, "</item>");
	}
	sqlite3_finalize(st);
	kr_buf_add(r->out, "</snapshotSet>");
	if (rc == 1)
		clc_pager_finish(r, &pg, last);
	return rc < 0 ? -1 : 0;
}
