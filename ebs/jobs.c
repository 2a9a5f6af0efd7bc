/*
 * jobs.c - the background transfers: snapshot uploads to Walrus and
 * volumes filled from Walrus.
 *
 * The database is the queue: a snapshot "pending" whose copy is done and
 * that has URLs is an upload to do, a volume "creating" with source URLs a
 * download.  So a restarted EBS (even after SIGKILL) simply finds them
 * again and starts them over, and nothing is queued twice.  A few workers
 * (JOB_WORKERS) take them in order; each claims its row's id in memory
 * while it works without the lock, and a DeleteSnapshot/DeleteVolume of a
 * claimed id makes the row unclaimable (no URLs left), then cancels the
 * transfer and waits for the worker to let go before it removes anything
 * (ebs_jobs_cancel).  Failures are not queued
 * again: the row becomes "error" with the reason, the local bytes go.
 * The workers are the daemon's (e->jobs, made by ebs_jobs_start) and share
 * its lock: a claim, the end of a job and every database write are under it.
 *
 * Each segment of a volume is one object in the sparse format of
 * snapshot_format.h: only what the point-in-time copy holds is sent.
 * Objects without its magic are raw segments from an older EBS and are
 * restored as such.
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
#include "ebs.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sizes.h"
#include "snapshot_format.h"

#define JOB_WORKERS 2
#define JOB_ATTEMPTS 3		/* per request: a Walrus restart should not fail a snapshot */

struct job {
	struct ebs_xfer_progress p;	/* first: the progress callback finds its job */
	struct ebs_jobs *pool;		/* its pool, and through it the daemon */
	char id[KR_ID_MAX];		/* "" while idle */
	atomic_bool cancel;
	uint64_t base, total;		/* bytes before this request, and in all */
	int pct;
	time_t saved;			/* when progress last went to the database */
};

/* The daemon's workers (e->jobs); a job's id and `stopping` change only under e->lock. */
struct ebs_jobs {
	struct ebs *e;
	pthread_t threads[JOB_WORKERS];
	struct job jobs[JOB_WORKERS];
	int started;
	bool stopping;
	pthread_cond_t work;		/* new work, or stopping */
	pthread_cond_t released;	/* a job let go of its id */
};

int
ebs_urls_check(int n, char **urls, uint64_t bytes)
{
	uint64_t want = (bytes + EBS_SEGMENT_BYTES - 1) / EBS_SEGMENT_BYTES;
	int i;

	if (n < 1 || n > EBS_SEGMENTS_MAX || (uint64_t)n != want) {
		kr_error("InvalidParameterValue", "%llu GiB need %llu snapshotUrls (one per %d GiB), "
		    "not %d", (unsigned long long)(bytes / EBS_GIB), (unsigned long long)want,
		    (int)(EBS_SEGMENT_BYTES / EBS_GIB), n);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!ebs_xfer_url_ok(urls[i])) {
			kr_error("InvalidParameterValue", "snapshotUrls[%d] is not an http(s) URL", i);
			return -1;
		}
	return 0;
}

char *
ebs_urls_join(int n, char **urls)
{
	size_t len = 1, off = 0;
	char *s;
	int i;

	for (i = 0; i < n; i++)
		len += strlen(urls[i]) + 1;
	if ((s = malloc(len)) == NULL) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	for (i = 0; i < n; i++)
		off += (size_t)sprintf(s + off, "%s%s", i ? "\n" : "", urls[i]);
	s[off] = '\0';
	return s;
}

/* The i-th URL of a joined list, in place (the list is modified); NULL past the end. */
static char *
url_next(char **cursor)
{
	char *u = *cursor, *nl;

	if (u == NULL || *u == '\0')
		return NULL;
	nl = strchr(u, '\n');
	if (nl != NULL)
		*nl++ = '\0';
	*cursor = nl;
	return u;
}

static bool
claimed(const struct ebs_jobs *pool, const char *id)
{
	for (int i = 0; i < JOB_WORKERS; i++)
		if (strcmp(pool->jobs[i].id, id) == 0)
			return true;
	return false;
}

static void
save_progress(struct ebs_xfer_progress *p, uint64_t done)
{
	struct job *j = (struct job *)p;
	struct ebs *e = j->pool->e;
	int pct = j->total ? (int)((j->base + done) * 100 / j->total) : 0;
	time_t now = time(NULL);
	sqlite3_stmt *st = NULL;

	if (pct >= 100)
		pct = 99;		/* 100% is "completed", said when it is */
	if (pct == j->pct || now == j->saved)
		return;
	j->pct = pct;
	j->saved = now;
	pthread_mutex_lock(&e->lock);
	if (kr_db_prepare(e->db, "UPDATE snapshots SET progress = ? WHERE id = ?", &st) == 0) {
		sqlite3_bind_int(st, 1, pct);
		sqlite3_bind_text(st, 2, j->id, -1, SQLITE_STATIC);
		(void)kr_db_step(st);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&e->lock);
}

/* Before attempt a+1: sleep 2^a seconds unless cancelled or out of attempts. */
static bool
again(struct job *j, int a)
{
	if (a + 1 >= JOB_ATTEMPTS)
		return false;
	for (int i = 0; i < (1 << a) * 10; i++) {
		if (atomic_load(&j->cancel))
			return false;
		usleep(100 * 1000);
	}
	return !atomic_load(&j->cancel);
}

/* A request worth another try: no answer, or Walrus failing (not refusing). */
static bool
transient(void)
{
	return strcmp(kr_error_code(), "Unavailable") == 0;
}

static ssize_t
fill(void *arg, void *buf, size_t want)
{
	return snapfmt_writer_read(arg, buf, want);
}

static int
sink(void *arg, const void *data, size_t len)
{
	return snapfmt_reader_feed(arg, data, len);
}

/* Segment i, [off, off+len) of the copy fd, to url as a sparse object; 0 or -1 + kr_error. */
static int
upload_segment(struct job *j, const char *url, int fd, int i, uint64_t off, uint64_t len)
{
	struct snapfmt_map m;
	struct snapfmt_writer w;
	int rc, a;

	if (snapfmt_map_build(fd, off, len, SNAPFMT_MERGE_GAP, SNAPFMT_EXTENTS_MAX, &m) < 0)
		return -1;
	if (snapfmt_writer_init(&w, fd, off, &m) < 0) {
		snapfmt_map_free(&m);
		return -1;
	}
	kr_log_info("snapshot %s object %d: %llu bytes for %llu, %u extent(s)", j->id, i,
	    (unsigned long long)snapfmt_object_len(&m), (unsigned long long)len, m.n);
	j->p.body_len = snapfmt_object_len(&m);
	j->p.span = len;
	for (a = 0; a < JOB_ATTEMPTS; a++) {
		snapfmt_writer_rewind(&w);
		if ((rc = ebs_xfer_put(url, snapfmt_object_len(&m), fill, &w, &j->p)) == 0 ||
		    !transient() || !again(j, a))
			break;
	}
	j->p.body_len = j->p.span = 0;
	snapfmt_writer_free(&w);
	snapfmt_map_free(&m);
	return rc;
}

/* Upload the snapshot's local copy; 0 or -1 + kr_error. */
static int
upload(struct job *j, char *urls, const char *bucket_url, uint64_t bytes)
{
	char path[KR_PATH_MAX], *u, *cursor = urls;
	uint64_t off = 0;
	int fd, rc = 0, a, i = 0;

	if (ebs_snapshot_path(j->pool->e, j->id, path, sizeof(path)) < 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		kr_error_errno("InternalError", "open %s", path);
		return -1;
	}
	for (a = 0; bucket_url != NULL && a < JOB_ATTEMPTS; a++) {
		if ((rc = ebs_xfer_simple("PUT", bucket_url, &j->p)) == 0 || !transient() ||
		    !again(j, a))
			break;
	}
	j->total = bytes;
	while (rc == 0 && (u = url_next(&cursor)) != NULL) {
		uint64_t len = bytes - off < EBS_SEGMENT_BYTES ? bytes - off : EBS_SEGMENT_BYTES;

		j->base = off;
		rc = upload_segment(j, u, fd, i++, off, len);
		off += len;
	}
	close(fd);
	return rc;
}

/*
 * Object i from url into fd at off, at most room bytes of volume; *seg_len:
 * how many it held.  0 or -1 + kr_error.
 */
static int
download_segment(struct job *j, const char *url, int fd, int i, uint64_t off, uint64_t room,
    uint64_t *seg_len)
{
	struct ebs_xfer_progress p = { NULL, &j->cancel, 0, 0 };	/* cancellable, no progress */
	struct snapfmt_reader r;
	bool raw = false;
	int rc, a;

	for (a = 0; a < JOB_ATTEMPTS; a++) {
		/* Again from the start: rewriting what a failed try wrote is harmless. */
		snapfmt_reader_init(&r, fd, off, room);
		rc = ebs_xfer_get(url, sink, &r, &p);
		if (rc == 0)
			rc = snapfmt_reader_end(&r, seg_len, &raw);
		snapfmt_reader_free(&r);
		if (rc == 0 || !transient() || !again(j, a))
			break;
	}
	if (rc == 0)
		kr_log_info("volume %s: object %d held %llu bytes%s", j->id, i,
		    (unsigned long long)*seg_len, raw ? " (raw)" : "");
	return rc;
}

/* Fill path.tmp (pre-allocated to bytes) from the snapshot objects; 0 or -1 + kr_error. */
static int
download(struct job *j, char *urls, const char *tmp, uint64_t bytes)
{
	char *u, *cursor = urls;
	uint64_t off = 0, got = 0;
	int fd, err, rc = 0, i = 0;

	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		kr_error_errno("InternalError", "create %s", tmp);
		return -1;
	}
	if ((err = posix_fallocate(fd, 0, (off_t)bytes)) != 0) {
		errno = err;
		kr_error_errno(err == ENOSPC ? "InsufficientCapacity" : "InternalError",
		    "allocate %llu bytes", (unsigned long long)bytes);
		close(fd);
		return -1;
	}
	while (rc == 0 && (u = url_next(&cursor)) != NULL) {
		uint64_t room = bytes - off < EBS_SEGMENT_BYTES ? bytes - off : EBS_SEGMENT_BYTES;
		bool last = cursor == NULL || *cursor == '\0';

		rc = download_segment(j, u, fd, i, off, room, &got);
		/* Every object but the last is a whole segment; all are whole GiB. */
		if (rc == 0 && (got == 0 || got % EBS_GIB != 0 ||
		    (!last && got != EBS_SEGMENT_BYTES))) {
			kr_error("InvalidSnapshot", "snapshot object %d has %llu bytes", i,
			    (unsigned long long)got);
			rc = -1;
		}
		off += got;
		i++;
	}
	if (rc == 0 && fsync(fd) < 0) {
		kr_error_errno("InternalError", "fsync %s", tmp);
		rc = -1;
	}
	close(fd);
	return rc;
}

/*
 * Claim the oldest unclaimed job (lock held): 1 with its row copied out
 * (urls and bucket malloc'd), 0 when there is none.
 */
static int
claim(struct job *j, bool *volume, char **urls, char **bucket, uint64_t *bytes)
{
	static const char *const q[2] = {
		"SELECT id, size_gib, source_urls, NULL FROM volumes WHERE status = 'creating' "
		"AND source_urls IS NOT NULL ORDER BY create_time, id",
		"SELECT id, size_gib, urls, bucket_url FROM snapshots WHERE status = 'pending' "
		"AND copied = 1 AND urls IS NOT NULL ORDER BY start_time, id",
	};
	int k, r = 0;

	for (k = 0; k < 2 && r != 1; k++) {
		sqlite3_stmt *st = NULL;

		if (kr_db_prepare(j->pool->e->db, q[k], &st) < 0)
			return 0;
		while ((r = kr_db_step(st)) == 1) {
			const char *id = (const char *)sqlite3_column_text(st, 0);
			const char *b = (const char *)sqlite3_column_text(st, 3);

			if (claimed(j->pool, id))
				continue;
			snprintf(j->id, sizeof(j->id), "%s", id);
			*volume = k == 0;
			*bytes = (uint64_t)sqlite3_column_int64(st, 1) * EBS_GIB;
			*urls = strdup((const char *)sqlite3_column_text(st, 2));
			*bucket = b ? strdup(b) : NULL;
			break;
		}
		sqlite3_finalize(st);
	}
	if (r == 1 && *urls == NULL) {		/* out of memory: try again later */
		free(*bucket);
		j->id[0] = '\0';
		return 0;
	}
	return r == 1;
}

static void
finish_snapshot(struct job *j, int rc, const char *reason)
{
	struct ebs *e = j->pool->e;
	char path[KR_PATH_MAX];

	if (ebs_snapshot_path(e, j->id, path, sizeof(path)) < 0)
		return;
	if (rc == 0) {
		(void)ebs_db_exec(e->db, "UPDATE snapshots SET status = 'completed', progress = 100, "
		    "urls = NULL, bucket_url = NULL, reason = ?2 WHERE id = ?1 AND status = 'pending'",
		    j->id, NULL);
		kr_log_info("snapshot %s is in Walrus", j->id);
	} else {
		(void)ebs_db_exec(e->db, "UPDATE snapshots SET status = 'error', urls = NULL, "
		    "bucket_url = NULL, reason = ?2 WHERE id = ?1 AND status = 'pending'", j->id,
		    reason);
		kr_log_warnx("snapshot %s failed: %s", j->id, reason);
	}
	if (unlink(path) < 0 && errno != ENOENT)
		kr_log_warn("remove %s", path);
}

static void
finish_volume(struct job *j, int rc, const char *reason, const char *tmp)
{
	struct ebs *e = j->pool->e;
	char path[KR_PATH_MAX];

	if (rc == 0 && (ebs_volume_path(e, j->id, path, sizeof(path)) < 0 || rename(tmp, path) < 0)) {
		kr_error_errno("InternalError", "rename %s", tmp);
		reason = kr_error_message();
		rc = -1;
	}
	if (rc == 0) {
		(void)ebs_db_exec(e->db, "UPDATE volumes SET status = 'available', source_urls = NULL, "
		    "reason = ?2 WHERE id = ?1 AND status = 'creating'", j->id, NULL);
		kr_log_info("volume %s filled from Walrus", j->id);
		return;
	}
	(void)unlink(tmp);
	(void)ebs_db_exec(e->db, "UPDATE volumes SET status = 'error', source_urls = NULL, reason = ?2 "
	    "WHERE id = ?1 AND status = 'creating'", j->id, reason);
	kr_log_warnx("volume %s failed: %s", j->id, reason);
}

static void
run(struct job *j, bool volume, char *urls, const char *bucket, uint64_t bytes)
{
	char tmp[KR_TMP_PATH_MAX], reason[KR_ERROR_CODE_MAX + KR_ERROR_MSG_MAX + 4];
	int rc;

	tmp[0] = '\0';
	if (volume && ebs_volume_path(j->pool->e, j->id, tmp, sizeof(tmp) - 4) == 0)
		strcat(tmp, ".tmp");
	kr_log_info("%s %s: %llu bytes", volume ? "filling" : "uploading", j->id,
	    (unsigned long long)bytes);
	if (volume)
		rc = tmp[0] ? download(j, urls, tmp, bytes) : -1;
	else
		rc = upload(j, urls, bucket, bytes);
	snprintf(reason, sizeof(reason), "%s: %s", kr_error_code(), kr_error_message());
	pthread_mutex_lock(&j->pool->e->lock);
	if (atomic_load(&j->cancel)) {
		/* Deleted or shutting down: whoever cancelled owns the row now. */
		if (volume && tmp[0])
			(void)unlink(tmp);
	} else if (volume) {
		finish_volume(j, rc, reason, tmp);
	} else {
		finish_snapshot(j, rc, reason);
	}
	j->id[0] = '\0';
	pthread_cond_broadcast(&j->pool->released);
}

static void *
worker(void *arg)
{
	struct job *j = arg;
	struct ebs_jobs *pool = j->pool;

	pthread_mutex_lock(&pool->e->lock);
	while (!pool->stopping) {
		char *urls = NULL, *bucket = NULL;
		uint64_t bytes = 0;
		bool volume = false;

		if (claim(j, &volume, &urls, &bucket, &bytes) != 1) {
			kr_error_clear();
			pthread_cond_wait(&pool->work, &pool->e->lock);
			continue;
		}
		atomic_store(&j->cancel, false);
		j->base = j->total = 0;
		j->pct = -1;
		j->saved = 0;
		pthread_mutex_unlock(&pool->e->lock);
		run(j, volume, urls, bucket, bytes);	/* returns with the lock held */
		free(urls);
		free(bucket);
	}
	pthread_mutex_unlock(&pool->e->lock);
	return NULL;
}

int
ebs_jobs_start(struct ebs *e)
{
	struct ebs_jobs *pool = calloc(1, sizeof(*pool));

	if (pool == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	pool->e = e;
	pthread_cond_init(&pool->work, NULL);
	pthread_cond_init(&pool->released, NULL);
	e->jobs = pool;		/* before a worker runs: ebs_jobs_stop finds the ones that started */
	for (int i = 0; i < JOB_WORKERS; i++) {
		struct job *j = &pool->jobs[i];

		j->pool = pool;
		j->p.fn = save_progress;
		j->p.cancel = &j->cancel;
		if (pthread_create(&pool->threads[i], NULL, worker, j) != 0) {
			kr_error("InternalError", "cannot start the transfer workers");
			return -1;
		}
		pool->started++;
	}
	return 0;
}

void
ebs_jobs_kick(struct ebs *e)
{
	pthread_cond_broadcast(&e->jobs->work);
}

void
ebs_jobs_cancel(struct ebs *e, const char *id)
{
	struct ebs_jobs *pool = e->jobs;

	for (int i = 0; i < pool->started; i++) {
		if (strcmp(pool->jobs[i].id, id) != 0)
			continue;
		atomic_store(&pool->jobs[i].cancel, true);
		while (strcmp(pool->jobs[i].id, id) == 0)
			pthread_cond_wait(&pool->released, &e->lock);
	}
}

void
ebs_jobs_stop(struct ebs *e)
{
	struct ebs_jobs *pool = e->jobs;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&e->lock);
	pool->stopping = true;
	for (int i = 0; i < pool->started; i++)
		atomic_store(&pool->jobs[i].cancel, true);
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&e->lock);
	for (int i = 0; i < pool->started; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_cond_destroy(&pool->work);
	pthread_cond_destroy(&pool->released);
	e->jobs = NULL;
	free(pool);
}
