/*
 * snapshot.c - snapshots: CreateSnapshot, DeleteSnapshot and the rows
 * DescribeSnapshots reads (the operations themselves: ops_snapshot.c).
 *
 * A snapshot is a point-in-time copy taken while the volume stays exported:
 * the target pauses the volume's writes (the ones in flight finish first,
 * new ones wait in the workers), the file is copied -- a reflink where the
 * file system has them, else a copy of only what the volume holds (a sparse
 * file) -- and writes resume.  So
 * every write acknowledged before CreateSnapshot answered is in the copy
 * and none that arrived after the request is.  The cost is that writes to
 * that volume wait for the copy; a copy-on-write scheme would remove the
 * wait and is the next step.
 *
 * The copy lives under EBS_VOLUMES_DIR/snapshots.  When the CLC passes
 * presigned Walrus URLs it is only a staging copy: the answer says
 * "pending", a worker (jobs.c) uploads it and removes it, and the snapshot
 * is "completed" (or "error", with the reason) once Walrus has every byte.
 * Without URLs the copy is the snapshot, as before Walrus existed.
 */
#include <errno.h>
#include <fcntl.h>
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
ebs_snapshot_load(struct soap *soap, sqlite3_stmt *st, struct ebs__snapshotType *s)
{
	const char *status = (const char *)sqlite3_column_text(st, 3);
	char progress[8];

	memset(s, 0, sizeof(*s));
	s->snapshotId = soap_strdup(soap, (const char *)sqlite3_column_text(st, 0));
	s->volumeId = soap_strdup(soap, (const char *)sqlite3_column_text(st, 1));
	s->volumeSize = sqlite3_column_int(st, 2);
	s->status = soap_strdup(soap, status);
	snprintf(progress, sizeof(progress), "%d%%", strcmp(status, "completed") == 0 ? 100 :
	    sqlite3_column_int(st, 5));
	s->progress = soap_strdup(soap, progress);
	s->startTime = (long)sqlite3_column_int64(st, 4);
	s->stateMessage = soap_strdup(soap, (const char *)sqlite3_column_text(st, 6));
	return 0;
}

int
ebs_snapshot_find(struct ebs *e, struct soap *soap, const char *id,
    struct ebs__snapshotType *s)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (kr_db_prepare(e->db, EBS_SNAP_COLUMNS " WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	if (r == 1 && s != NULL)
		ebs_snapshot_load(soap, st, s);
	sqlite3_finalize(st);
	return r;
}

/* Copy the volume file while its writes are paused; 0 or -1 + kr_error. */
static int
copy_volume(struct ebs *e, const char *volume_id, const char *dst_path, uint64_t bytes)
{
	char src_path[KR_PATH_MAX], tmp[KR_TMP_PATH_MAX];
	int src = -1, dst = -1, paused = 0, rc = -1;

	if (ebs_volume_path(e, volume_id, src_path, sizeof(src_path)) < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", dst_path);
	src = open(src_path, O_RDONLY | O_CLOEXEC);
	dst = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (src < 0 || dst < 0) {
		kr_error_errno("InternalError", "open for snapshot");
		goto cleanup;
	}
	if (e->target != NULL)
		paused = ebs_target_quiesce(e->target, volume_id);
	rc = ebs_file_copy_sparse(src, dst, bytes);
	if (paused)
		ebs_target_resume(e->target, volume_id);
	if (rc == 0 && (fsync(dst) < 0 || rename(tmp, dst_path) < 0)) {
		kr_error_errno("InternalError", "finish snapshot %s", dst_path);
		rc = -1;
	}
cleanup:
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int
ebs_snapshot_create(struct ebs *e, struct soap *soap, struct _ebs__CreateSnapshot *req,
    struct ebs__snapshotType **out)
{
	char status[32], path[KR_PATH_MAX], *urls = NULL;
	bool walrus = req->__sizesnapshotUrls > 0;
	sqlite3_stmt *st = NULL;
	long size;
	int r;

	if (!kr_id_valid(req->volumeId, "vol") || !kr_id_valid(req->snapshotId, "snap")) {
		kr_error("InvalidParameterValue", "need volumeId vol-XXXXXXXX and snapshotId snap-XXXXXXXX");
		return -1;
	}
	*out = soap_malloc(soap, sizeof(**out));
	r = ebs_snapshot_find(e, soap, req->snapshotId, *out);
	if (r < 0)
		return -1;
	if (r == 1) {		/* a retried call is a success; another volume is not */
		if (strcmp((*out)->volumeId, req->volumeId) != 0) {
			kr_error("InvalidSnapshot.Duplicate", "the snapshot '%s' already exists",
			    req->snapshotId);
			return -1;
		}
		return 0;
	}
	r = ebs_volume_lookup(e->db, req->volumeId, &size, status, sizeof(status));
	if (r == 0)
		kr_error("InvalidVolume.NotFound", "the volume '%s' does not exist", req->volumeId);
	if (r != 1)
		return -1;
	if (strcmp(status, "creating") == 0 || strcmp(status, "error") == 0) {
		kr_error("IncorrectState", "the volume '%s' is %s", req->volumeId, status);
		return -1;
	}
	if (walrus && ebs_urls_check(req->__sizesnapshotUrls, req->snapshotUrls,
	    (uint64_t)size * EBS_GIB) < 0)
		return -1;
	if (walrus && req->bucketUrl != NULL && req->bucketUrl[0] != '\0' &&
	    !ebs_xfer_url_ok(req->bucketUrl)) {
		kr_error("InvalidParameterValue", "bucketUrl is not an http(s) URL");
		return -1;
	}
	if (walrus && (urls = ebs_urls_join(req->__sizesnapshotUrls, req->snapshotUrls)) == NULL)
		return -1;
	if (ebs_snapshot_path(e, req->snapshotId, path, sizeof(path)) < 0 ||
	    kr_db_prepare(e->db, "INSERT INTO snapshots (id, volume_id, size_gib, status, "
	    "start_time, store, copied, urls, bucket_url) VALUES (?, ?, ?, 'pending', ?, ?, 0, ?, ?)",
	    &st) < 0) {
		free(urls);
		return -1;
	}
	sqlite3_bind_text(st, 1, req->snapshotId, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, req->volumeId, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, size);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 5, walrus ? "walrus" : "local", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, urls, -1, free);
	sqlite3_bind_text(st, 7, walrus && req->bucketUrl && req->bucketUrl[0] ? req->bucketUrl :
	    NULL, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	sqlite3_finalize(st);
	if (r < 0)
		return -1;
	if (copy_volume(e, req->volumeId, path, (uint64_t)size * EBS_GIB) < 0) {
		struct kr_err saved;

		kr_error_save(&saved);
		(void)ebs_db_exec(e->db, "DELETE FROM snapshots WHERE id = ?", req->snapshotId,
		    NULL);
		kr_error_restore(&saved);
		return -1;
	}
	if (walrus) {
		if (ebs_db_exec(e->db, "UPDATE snapshots SET copied = 1 WHERE id = ?",
		    req->snapshotId, NULL) < 0)
			return -1;
		ebs_jobs_kick(e);
		kr_log_info("snapshot %s of %s copied, going to Walrus", req->snapshotId,
		    req->volumeId);
	} else {
		if (ebs_db_exec(e->db, "UPDATE snapshots SET status = 'completed', copied = 1 "
		    "WHERE id = ?", req->snapshotId, NULL) < 0)
			return -1;
		kr_log_info("snapshot %s of %s completed", req->snapshotId, req->volumeId);
	}
	return ebs_snapshot_find(e, soap, req->snapshotId, *out) == 1 ? 0 : -1;
}

/* The snapshot's size and where it is kept; 1 found, 0 not, -1 error. */
static int
snapshot_store(sqlite3 *db, const char *id, long *size_gib, char *store, size_t len)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (kr_db_prepare(db, "SELECT size_gib, store FROM snapshots WHERE id = ?",
	    &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	if (r == 1) {
		*size_gib = sqlite3_column_int(st, 0);
		snprintf(store, len, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	return r;
}

/*
 * Under the lock: what DeleteSnapshot must do.  0 when done (a local
 * snapshot), 1 when the Walrus objects are to be deleted first (the upload,
 * if any, is stopped and the row marked "deleting"), -1 + kr_error.
 */
static int
delete_begin(struct ebs *e, struct _ebs__DeleteSnapshot *req)
{
	const char *id = req->snapshotId;
	char path[KR_PATH_MAX], store[16];
	int n = req->__sizesnapshotUrls, r;
	long size;

	if (!kr_id_valid(id, "snap")) {
		kr_error("InvalidParameterValue", "snapshotId must be snap-XXXXXXXX");
		return -1;
	}
	r = snapshot_store(e->db, id, &size, store, sizeof(store));
	if (r < 0 || ebs_snapshot_path(e, id, path, sizeof(path)) < 0)
		return -1;
	if (r == 0 && n == 0) {
		kr_error("InvalidSnapshot.NotFound", "the snapshot '%s' does not exist", id);
		return -1;
	}
	if (r == 1 && strcmp(store, "local") == 0) {
		if (ebs_db_exec(e->db, "DELETE FROM snapshots WHERE id = ?", id, NULL) < 0)
			return -1;
		if (unlink(path) < 0)
			kr_log_warn("delete %s", path);
		kr_log_info("deleted snapshot %s", id);
		return 0;
	}
	if (n == 0) {
		kr_error("InvalidParameterValue", "the snapshot '%s' is in Walrus: DeleteSnapshot "
		    "needs its snapshotUrls", id);
		return -1;
	}
	/* Made by another EBS (r == 0): any number of objects up to the most. */
	if (ebs_urls_check(n, req->snapshotUrls, r == 1 ? (uint64_t)size * EBS_GIB :
	    (uint64_t)n * EBS_SEGMENT_BYTES) < 0)
		return -1;
	if (r == 1) {
		if (ebs_db_exec(e->db, "UPDATE snapshots SET status = 'deleting', urls = NULL, "
		    "bucket_url = NULL WHERE id = ?", id, NULL) < 0)
			return -1;
		ebs_jobs_cancel(e, id);
		if (unlink(path) < 0 && errno != ENOENT)
			kr_log_warn("delete %s", path);
	}
	return 1;
}

int
ebs_snapshot_delete(struct ebs *e, struct _ebs__DeleteSnapshot *req)
{
	char reason[KR_ERROR_CODE_MAX + KR_ERROR_MSG_MAX + 32];
	sqlite3_stmt *st = NULL;
	int i, r;

	pthread_mutex_lock(&e->lock);
	r = delete_begin(e, req);
	pthread_mutex_unlock(&e->lock);
	if (r <= 0)
		return r;
	for (i = 0, r = 0; i < req->__sizesnapshotUrls && r == 0; i++)
		r = ebs_xfer_simple("DELETE", req->snapshotUrls[i], NULL);
	pthread_mutex_lock(&e->lock);
	if (r < 0) {
		struct kr_err saved;

		kr_error_save(&saved);
		snprintf(reason, sizeof(reason), "deleting failed: %s: %s", saved.code,
		    saved.message);
		if (kr_db_prepare(e->db, "UPDATE snapshots SET status = 'error', reason = ? "
		    "WHERE id = ?", &st) == 0) {
			sqlite3_bind_text(st, 1, reason, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, req->snapshotId, -1, SQLITE_STATIC);
			(void)kr_db_step(st);
			sqlite3_finalize(st);
		}
		kr_error_restore(&saved);
	} else {
		r = ebs_db_exec(e->db, "DELETE FROM snapshots WHERE id = ?", req->snapshotId, NULL);
		if (r == 0)
			kr_log_info("deleted snapshot %s and its %d object(s) in Walrus",
			    req->snapshotId, req->__sizesnapshotUrls);
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}
