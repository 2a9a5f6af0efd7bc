/*
 * volume.c - volumes: CreateVolume, DeleteVolume and the rows DescribeVolumes
 * reads (the operations themselves: ops_volume.c).
 *
 * Limits are checked before any space is taken: EBS_MAX_VOLUME_SIZE per
 * volume (VolumeLimitExceeded), EBS_MAX_TOTAL_SIZE over all volumes, or the
 * file system's free space when that is 0 (InsufficientCapacity).  The row
 * is written as "creating" first and turned "available" when the file is
 * complete; a row still "creating" at start-up is the trace of a crash and
 * is removed with its temporary file (the caller never got a success).
 *
 * A volume made from a snapshot in Walrus is answered "creating" at once:
 * a worker (jobs.c) pre-allocates it and streams the snapshot's objects
 * into it from the presigned URLs the CLC passed, then makes it
 * "available" (or "error", with the reason); a restart starts it over.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "karriH.h"
#include "core/db.h"
#include "ops.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sizes.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

int
ebs_volume_load(struct ebs *e, struct soap *soap, const char *id, struct ebs__volumeType *v)
{
	sqlite3_stmt *st = NULL;
	int r, n = 0;

	memset(v, 0, sizeof(*v));
	if (kr_db_prepare(e->db, "SELECT id, size_gib, snapshot_id, status, create_time, "
	    "shelf, slot, reason FROM volumes WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	if (r == 0)
		kr_error("InvalidVolume.NotFound", "the volume '%s' does not exist", id);
	if (r == 1) {
		v->volumeId = soap_strdup(soap, (const char *)sqlite3_column_text(st, 0));
		v->size = sqlite3_column_int(st, 1);
		v->snapshotId = soap_strdup(soap, (const char *)sqlite3_column_text(st, 2));
		v->status = soap_strdup(soap, (const char *)sqlite3_column_text(st, 3));
		v->createTime = (long)sqlite3_column_int64(st, 4);
		v->shelf = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 5);
		v->slot = sqlite3_column_type(st, 6) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 6);
		v->stateMessage = soap_strdup(soap, (const char *)sqlite3_column_text(st, 7));
	}
	sqlite3_finalize(st);
	if (r != 1)
		return -1;
	if (kr_db_prepare(e->db, "SELECT mac FROM volume_macs WHERE volume_id = ? "
	    "ORDER BY mac", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	v->allowedMacs = soap_malloc(soap, EBS_MACS_MAX * sizeof(char *));
	while ((r = kr_db_step(st)) == 1 && n < EBS_MACS_MAX)
		v->allowedMacs[n++] = soap_strdup(soap, (const char *)sqlite3_column_text(st, 0));
	v->__sizeallowedMacs = n;
	sqlite3_finalize(st);
	return r < 0 ? -1 : 0;
}

/* Refuse sizes over the limits, before taking any space. */
static int
check_limits(struct ebs *e, long size_gib)
{
	sqlite3_stmt *st = NULL;
	long used = 0;
	int64_t free_bytes;

	if (size_gib > e->max_volume_gib) {
		kr_error("VolumeLimitExceeded", "a volume of %ld GiB is larger than "
		    "EBS_MAX_VOLUME_SIZE (%ld GiB)", size_gib, e->max_volume_gib);
		return -1;
	}
	if (kr_db_prepare(e->db, "SELECT coalesce(sum(size_gib), 0) FROM volumes", &st) < 0)
		return -1;
	if (kr_db_step(st) == 1)
		used = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (e->max_total_gib > 0 && used + size_gib > e->max_total_gib) {
		kr_error("InsufficientCapacity", "%ld GiB more would pass EBS_MAX_TOTAL_SIZE "
		    "(%ld GiB, %ld in use)", size_gib, e->max_total_gib, used);
		return -1;
	}
	free_bytes = ebs_file_free_bytes(e->volumes_dir);
	if (free_bytes < 0)
		return -1;
	if ((uint64_t)free_bytes < (uint64_t)size_gib * EBS_GIB) {
		kr_error("InsufficientCapacity", "%ld GiB do not fit the %lld GiB free in %s",
		    size_gib, (long long)(free_bytes / (int64_t)EBS_GIB), e->volumes_dir);
		return -1;
	}
	return 0;
}

/*
 * The snapshot a volume is made from: its size, and its local file or its
 * Walrus objects (*walrus).  A snapshot this EBS keeps locally is read from
 * its file whatever the URLs; one it never saw can come from the URLs
 * (*size_gib 0: unknown).  0 or -1 + kr_error.
 */
static int
snapshot_source(struct ebs *e, struct _ebs__CreateVolume *req, long *size_gib, char *path,
    size_t pathlen, bool *walrus)
{
	const char *snap_id = req->snapshotId;
	sqlite3_stmt *st = NULL;
	int r;

	if (kr_db_prepare(e->db, "SELECT size_gib, status, store FROM snapshots "
	    "WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, snap_id, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	*size_gib = 0;
	*walrus = req->__sizesnapshotUrls > 0;
	if (r == 1 && strcmp((const char *)sqlite3_column_text(st, 1), "completed") != 0) {
		kr_error("IncorrectState", "the snapshot '%s' is not completed", snap_id);
		r = -1;
	} else if (r == 1) {
		*size_gib = sqlite3_column_int(st, 0);
		*walrus = strcmp((const char *)sqlite3_column_text(st, 2), "walrus") == 0;
	} else if (r == 0 && !*walrus) {
		kr_error("InvalidSnapshot.NotFound", "the snapshot '%s' does not exist", snap_id);
		r = -1;
	}
	sqlite3_finalize(st);
	if (r < 0)
		return -1;
	if (*walrus && req->__sizesnapshotUrls == 0) {
		kr_error("InvalidParameterValue", "the snapshot '%s' is in Walrus: CreateVolume "
		    "needs its snapshotUrls", snap_id);
		return -1;
	}
	return *walrus ? 0 : ebs_snapshot_path(e, snap_id, path, pathlen);
}

static int
set_status(struct ebs *e, const char *id, const char *status)
{
	return ebs_db_exec(e->db, "UPDATE volumes SET status = ?2 WHERE id = ?1", id, status);
}

int
ebs_volume_create(struct ebs *e, struct soap *soap, struct _ebs__CreateVolume *req,
    struct ebs__volumeType **out)
{
	char path[KR_PATH_MAX], snap_path[KR_PATH_MAX], *urls = NULL;
	long size = req->size, snap_size = 0, existing;
	bool walrus = false;
	char status[32];
	sqlite3_stmt *st = NULL;
	int r;

	if (!kr_id_valid(req->volumeId, "vol")) {
		kr_error("InvalidParameterValue", "volumeId must be vol-XXXXXXXX");
		return -1;
	}
	if (req->snapshotId != NULL && req->snapshotId[0] != '\0') {
		if (!kr_id_valid(req->snapshotId, "snap")) {
			kr_error("InvalidParameterValue", "snapshotId must be snap-XXXXXXXX");
			return -1;
		}
		if (snapshot_source(e, req, &snap_size, snap_path, sizeof(snap_path), &walrus) < 0)
			return -1;
		if (size == 0)
			size = snap_size;
		if (size < snap_size) {
			kr_error("InvalidParameterValue", "size %ld GiB is smaller than the snapshot "
			    "(%ld GiB)", size, snap_size);
			return -1;
		}
	} else {
		req->snapshotId = NULL;
	}
	if (size <= 0) {
		kr_error("InvalidParameterValue", "size must be at least 1 GiB%s",
		    walrus ? " (this EBS does not know the snapshot's size)" : "");
		return -1;
	}
	/* The objects hold the snapshot: as many as its size needs (a volume's, if unknown). */
	if (walrus && (ebs_urls_check(req->__sizesnapshotUrls, req->snapshotUrls,
	    snap_size ? (uint64_t)snap_size * EBS_GIB : (uint64_t)req->__sizesnapshotUrls *
	    EBS_SEGMENT_BYTES) < 0))
		return -1;
	if (walrus && snap_size == 0 &&
	    (uint64_t)req->__sizesnapshotUrls > ((uint64_t)size * EBS_GIB + EBS_SEGMENT_BYTES - 1) /
	    EBS_SEGMENT_BYTES) {
		kr_error("InvalidParameterValue", "%d snapshot objects do not fit %ld GiB",
		    req->__sizesnapshotUrls, size);
		return -1;
	}
	/* The CLC may retry a call it timed out on: the same request is a success. */
	r = ebs_volume_lookup(e->db, req->volumeId, &existing, status, sizeof(status));
	if (r < 0)
		return -1;
	if (r == 1) {
		/* Still "creating" is a success only when a worker is filling it. */
		if (existing != size || (strcmp(status, "creating") == 0 && !walrus)) {
			kr_error("InvalidVolume.Duplicate", "the volume '%s' already exists",
			    req->volumeId);
			return -1;
		}
		goto answer;
	}
	if (check_limits(e, size) < 0 || ebs_volume_path(e, req->volumeId, path, sizeof(path)) < 0)
		return -1;
	if (walrus && (urls = ebs_urls_join(req->__sizesnapshotUrls, req->snapshotUrls)) == NULL)
		return -1;
	if (kr_db_prepare(e->db, "INSERT INTO volumes (id, size_gib, snapshot_id, status, "
	    "create_time, source_urls) VALUES (?, ?, ?, 'creating', ?, ?)", &st) < 0) {
		free(urls);
		return -1;
	}
	sqlite3_bind_text(st, 1, req->volumeId, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, size);
	sqlite3_bind_text(st, 3, req->snapshotId, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 5, urls, -1, free);
	r = kr_db_step(st);
	sqlite3_finalize(st);
	if (r < 0)
		return -1;
	if (walrus) {
		ebs_jobs_kick(e);
		kr_log_info("creating %s: %ld GiB from %s in Walrus", req->volumeId, size,
		    req->snapshotId);
		goto answer;
	}
	if (ebs_file_create(path, (uint64_t)size * EBS_GIB, req->snapshotId ? snap_path : NULL,
	    (uint64_t)snap_size * EBS_GIB) < 0) {
		struct kr_err saved;

		kr_error_save(&saved);
		(void)ebs_db_exec(e->db, "DELETE FROM volumes WHERE id = ?", req->volumeId, NULL);
		kr_error_restore(&saved);
		return -1;
	}
	if (set_status(e, req->volumeId, "available") < 0)
		return -1;
	kr_log_info("created %s: %ld GiB%s%s", req->volumeId, size,
	    req->snapshotId ? " from " : "", req->snapshotId ? req->snapshotId : "");
answer:
	*out = soap_malloc(soap, sizeof(**out));
	return ebs_volume_load(e, soap, req->volumeId, *out);
}

int
ebs_volume_delete(struct ebs *e, const char *id)
{
	char path[KR_PATH_MAX], status[32];
	long size;
	int r;

	if (!kr_id_valid(id, "vol")) {
		kr_error("InvalidParameterValue", "volumeId must be vol-XXXXXXXX");
		return -1;
	}
	r = ebs_volume_lookup(e->db, id, &size, status, sizeof(status));
	if (r == 0) {
		kr_error("InvalidVolume.NotFound", "the volume '%s' does not exist", id);
		return -1;
	}
	if (r < 0)
		return -1;
	if (strcmp(status, "in-use") == 0) {
		kr_error("VolumeInUse", "the volume '%s' is exported; unexport it first", id);
		return -1;
	}
	/* Still being filled from Walrus: stop that (unclaimable first). */
	if (strcmp(status, "creating") == 0) {
		if (ebs_db_exec(e->db, "UPDATE volumes SET source_urls = NULL WHERE id = ?", id,
		    NULL) < 0)
			return -1;
		ebs_jobs_cancel(e, id);
	}
	if (ebs_volume_path(e, id, path, sizeof(path)) < 0)
		return -1;
	/* The row goes first: a crash after it leaves an orphan file, which
	 * wastes space but never a row pointing at nothing. */
	if (ebs_db_exec(e->db, "DELETE FROM volumes WHERE id = ?", id, NULL) < 0)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT)	/* none when it never got made */
		kr_log_warn("delete %s", path);
	kr_log_info("deleted %s", id);
	return 0;
}
