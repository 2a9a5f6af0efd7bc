/*
 * action_volume.c - CreateVolume, DeleteVolume, DescribeVolumes,
 * AttachVolume, DetachVolume.
 *
 * The CLC chooses the volume id and keeps ownership and attachments; the
 * EBS (karri-ebs) of the volume's availability zone holds the data.  EBS
 * is called from a worker thread (clc_backend.h): a new volume is recorded
 * "creating" first and removed again when EBS does not make it; a deleted
 * one goes once EBS agreed.  Attach is
 * EBS ExportVolume (AoE shelf.slot on the storage NIC) then the CC's
 * AttachVolume with the AoE target as remoteDev; the node's storage MAC
 * that the CC returns is then allowed on the export (EBS's MAC mask).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clc_backend.h"
#include "clc_cc.h"
#include "clc_actions.h"
#include "clc_volume.h"
#include "core/db.h"
#include "core/error.h"
#include "core/id.h"
#include "core/log.h"

#define MAX_VOLUME_GIB 1024
#define VOLUME_COLS "SELECT id, size, snapshot_id, zone, status, created, instance_id," \
	" device, attach_status, attached FROM volumes"

struct new_volume {
	struct clc_req *r;
	long size;
	const char *snapshot, *zone;
};

static int
insert_volume(sqlite3 *db, const char *id, void *arg)
{
	struct new_volume *v = arg;
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "INSERT INTO volumes (id, owner, size, snapshot_id, zone, status,"
	    " created) VALUES (?, ?, ?, ?, ?, 'creating', ?)", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, v->r->account, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, v->size);
	sqlite3_bind_text(st, 4, v->snapshot, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, v->zone, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, v->r->now);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

static int
create_work(void *arg)
{
	struct clc_ebs_job *j = arg;
	struct _ebs__CreateVolume req = { j->corr, j->user, j->id, (int)j->size,
		*j->snapshot ? j->snapshot : NULL, j->nurls, j->urls };
	struct _ebs__CreateVolumeResponse resp = { 0 };

	return clc_soap_check(j->soap, soap_call___ebs__CreateVolume(j->soap, j->url, NULL, &req,
	    &resp), &resp._return, &resp.statusMessage, "Unavailable", "InternalError",
	    "CreateVolume", j->url);
}

/* A volume EBS did not make is not recorded either. */
static void
forget(struct clc_req *r, const char *table, const char *id)
{
	struct kr_err e;

	kr_error_save(&e);
	clc_db_run(r->db, strcmp(table, "volumes") == 0 ? "DELETE FROM volumes WHERE id = ?" :
	    "DELETE FROM snapshots WHERE id = ?", id, NULL, NULL);
	clc_tags_delete_all(r->db, id);
	kr_error_restore(&e);
}

static int
create_resume(struct clc_req *r, int rc, void *arg)
{
	struct clc_ebs_job *j = arg;
	sqlite3_stmt *st;

	if (rc < 0) {
		forget(r, "volumes", j->id);
		return -1;
	}
	if (kr_db_prepare(r->db, VOLUME_COLS " WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
	if ((rc = kr_db_step(st)) == 1) {
		clc_xml_col(r->out, "volumeId", st, 0);
		clc_xml_elem_int(r->out, "size", sqlite3_column_int64(st, 1));
		clc_xml_elem(r->out, "snapshotId", j->snapshot);
		clc_xml_col(r->out, "availabilityZone", st, 3);
		clc_xml_col(r->out, "status", st, 4);
		clc_xml_time(r->out, "createTime", r->now);
		clc_xml_elem(r->out, "volumeType", "standard");
	} else if (rc == 0) {
		kr_error("InvalidVolume.NotFound", "The volume '%s' was deleted meanwhile", j->id);
	}
	sqlite3_finalize(st);
	return rc == 1 ? 0 : -1;
}

/*
 * Without Walrus an EBS keeps its snapshots itself: a volume from one can
 * be made only by that EBS, so only in a zone it serves.
 */
static int
snapshot_reachable(struct clc_req *r, const char *snapshot, const struct clc_ebs_job *j)
{
	char zone[64], url[300], key[CLC_BACKEND_KEY_MAX];
	int known;

	if ((known = clc_snapshot_zone(r->db, snapshot, zone, sizeof(zone))) <= 0)
		return known;		/* from before zones: as before, the one EBS */
	if (clc_ebs_url(r->clc, zone, url, sizeof(url), key) < 0)
		return -1;
	if (strcmp(key, j->backend) != 0) {
		kr_error("Unsupported", "snapshot %s is kept by the block storage of zone %.64s "
		    "(this cloud has no Walrus): a volume from it can be made only there",
		    snapshot, zone);
		return -1;
	}
	return 0;
}

/* EBS makes the volume (from a snapshot in Walrus: fetched with presigned GETs). */
static int
ebs_create(struct clc_req *r, const char *id, struct new_volume *v)
{
	struct clc_ebs_job *j = clc_ebs_job_new(r, id, v->zone);

	if (j == NULL)
		return -1;
	j->size = v->size;
	snprintf(j->snapshot, sizeof(j->snapshot), "%s", v->snapshot ? v->snapshot : "");
	if (v->snapshot && (clc_snapshot_source_urls(r, j->soap, v->snapshot, &j->urls,
	    &j->nurls) < 0 || (j->nurls == 0 && snapshot_reachable(r, v->snapshot, j) < 0))) {
		clc_ebs_job_free(j);
		return -1;
	}
	return clc_req_defer(r, j->backend, NULL, create_work, create_resume, j,
	    clc_ebs_job_free);
}

static void
volume_item(struct clc_req *r, sqlite3_stmt *st)
{
	const char *inst = (const char *)sqlite3_column_text(st, 6);

	kr_buf_add(r->out, "<item>");
	clc_xml_col(r->out, "volumeId", st, 0);
	clc_xml_elem_int(r->out, "size", sqlite3_column_int64(st, 1));
	clc_xml_elem(r->out, "snapshotId", sqlite3_column_text(st, 2) ?
	    (const char *)sqlite3_column_text(st, 2) : "");
	clc_xml_col(r->out, "availabilityZone", st, 3);
	clc_xml_col(r->out, "status", st, 4);
	clc_xml_time(r->out, "createTime", (time_t)sqlite3_column_int64(st, 5));
	kr_buf_add(r->out, "<attachmentSet>");
	if (inst) {
		kr_buf_add(r->out, "<item>");
		clc_xml_col(r->out, "volumeId", st, 0);
		clc_xml_elem(r->out, "instanceId", inst);
		clc_xml_col(r->out, "device", st, 7);
		clc_xml_col(r->out, "status", st, 8);
		clc_xml_time(r->out, "attachTime", (time_t)sqlite3_column_int64(st, 9));
		kr_buf_add(r->out, "<deleteOnTermination>false</deleteOnTermination></item>");
	}
	kr_buf_add(r->out, "</attachmentSet><volumeType>standard</volumeType>");
	clc_tags_xml(r, (const char *)sqlite3_column_text(st, 0));
	kr_buf_add(r->out, "</item>");
}

int
clc_create_volume(struct clc_req *r)
{
	static const char *const known[] = { "Size", "SnapshotId", "AvailabilityZone",
		"VolumeType", "Iops", "Encrypted", "KmsKeyId", "TagSpecification",
		"MultiAttachEnabled", "Throughput", "OutpostArn", "ClientToken", NULL };
	struct new_volume v = { .r = r };
	const char *type = clc_param(r, "VolumeType");
	char id[KR_ID_MAX];

	if (clc_param_check_known(r, known) < 0 ||
	    clc_param_int(r, "Size", 1, MAX_VOLUME_GIB, 0, &v.size) < 0 ||
	    !(v.zone = clc_param_required(r, "AvailabilityZone")))
		return -1;
	v.snapshot = clc_param(r, "SnapshotId");
	if (type && strcmp(type, "standard") != 0) {
		kr_error("InvalidParameterValue", "Karri volumes are VolumeType standard");
		return -1;
	}
	if (v.size == 0 && !v.snapshot) {
		kr_error("MissingParameter", "the request must contain Size or SnapshotId");
		return -1;
	}
	/*
	 * Recorded "creating" now; gone again if EBS does not make it
	 * (create_resume).  The zone's own EBS makes it (clc_ebs_url, in
	 * ebs_create: a zone without one rolls this back); a snapshot comes
	 * from Walrus through presigned URLs, so any zone's EBS can read it.
	 */
	if ((r->clc->nclusters == 0 && clc_clusters_load(r->clc) < 0) ||
	    !clc_cluster_find(r->clc, v.zone) ||
	    (v.snapshot && clc_snapshot_owned(r, v.snapshot, &v.size) < 0) ||
	    kr_db_insert_new_id(r->db, "vol", id, sizeof(id), insert_volume, &v) < 0 ||
	    clc_tags_apply_spec(r, id, "volume") < 0)
		return -1;
	return ebs_create(r, id, &v);
}

static int
delete_work(void *arg)
{
	struct clc_ebs_job *j = arg;
	struct _ebs__DeleteVolume req = { j->corr, j->user, j->id };
	struct _ebs__DeleteVolumeResponse resp = { 0 };

	return clc_soap_check(j->soap, soap_call___ebs__DeleteVolume(j->soap, j->url, NULL, &req,
	    &resp), &resp._return, &resp.statusMessage, "Unavailable", "InternalError",
	    "DeleteVolume", j->url);
}

static int
delete_resume(struct clc_req *r, int rc, void *arg)
{
	struct clc_ebs_job *j = arg;

	if (rc < 0 ||
	    clc_db_run(r->db, "DELETE FROM volumes WHERE id = ?", j->id, NULL, NULL) < 0 ||
	    clc_tags_delete_all(r->db, j->id) < 0)
		return -1;
	return clc_return_true(r);
}

int
clc_delete_volume(struct clc_req *r)
{
	static const char *const known[] = { "VolumeId", NULL };
	char status[32], instance[32], zone[64];
	struct clc_ebs_job *j;
	const char *id;

	if (clc_param_check_known(r, known) < 0 ||
	    !(id = clc_param_required(r, "VolumeId")) ||
	    clc_volume_owned(r, id, status, sizeof(status), instance, sizeof(instance)) < 0 ||
	    clc_volume_zone(r->db, id, zone, sizeof(zone)) < 0)
		return -1;
	if (*instance) {
		kr_error("VolumeInUse", "Volume %s is currently attached to %s", id, instance);
		return -1;
	}
	if (!(j = clc_ebs_job_new(r, id, zone)))
		return -1;
	return clc_req_defer(r, j->backend, NULL, delete_work, delete_resume, j,
	    clc_ebs_job_free);
}

static const char *
volume_field(void *item, const char *name, size_t idx)
{
	static const struct clc_filter_col map[] = {
		{ "volume-id", 0 }, { "size", 1 }, { "snapshot-id", 2 },
		{ "availability-zone", 3 }, { "status", 4 }, { "attachment.instance-id", 6 },
		{ "attachment.device", 7 }, { "attachment.status", 8 }, { NULL, 0 },
	};

	return clc_filter_column(item, map, name, idx);
}

int
clc_describe_volumes(struct clc_req *r)
{
	static const char *const known[] = { "VolumeId", "Filter", "MaxResults", "NextToken",
		NULL };
	static const char *const filters[] = { "volume-id", "size", "snapshot-id",
		"availability-zone", "status", "attachment.instance-id", "attachment.device",
		"attachment.status", NULL };
	const char *ids[CLC_MAX_IDS];
	char status[32], inst[32], last[KR_ID_MAX] = "";
	struct clc_filters fs;
	struct clc_pager pg;
	bool all = false;
	sqlite3_stmt *st;
	size_t n;
	int rc;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_param_list_checked(r, "VolumeId", NULL, ids, CLC_MAX_IDS, &n) < 0 ||
	    clc_filters_parse(r, filters, &fs) < 0 || clc_pager_init(r, 5, 1000, &pg) < 0)
		return -1;
	if (n == 1 && strcmp(ids[0], "verbose") == 0 && r->admin) {
		all = true;
		n = 0;
	}
	for (size_t i = 0; i < n; i++)
		if (clc_volume_owned(r, ids[i], status, sizeof(status), inst, sizeof(inst)) < 0)
			return -1;
	if (kr_db_prepare(r->db, VOLUME_COLS " WHERE (?1 OR owner = ?2) AND id > ?3"
	    " ORDER BY id", &st) < 0)
		return -1;
	sqlite3_bind_int(st, 1, all);
	sqlite3_bind_text(st, 2, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, pg.after ? pg.after : "", -1, SQLITE_STATIC);
	kr_buf_add(r->out, "<volumeSet>");
	while ((rc = kr_db_step(st)) == 1) {
		const char *id = (const char *)sqlite3_column_text(st, 0);

		if ((n && !clc_in_list(id, ids, n)) || !clc_filters_match(r, &fs, id,
		    volume_field, st))
			continue;
		if (!clc_pager_take(&pg))
			break;
		snprintf(last, sizeof(last), "%s", id);
		volume_item(r, st);
	}
	sqlite3_finalize(st);
	kr_buf_add(r->out, "</volumeSet>");
	if (rc == 1)
		clc_pager_finish(r, &pg, last);
	return rc < 0 ? -1 : 0;
}
