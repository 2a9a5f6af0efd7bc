/*
 * store.c - where Walrus keeps things: rows in walrus.db, bytes in files.
 *
 * Every object (and every part of a multipart upload in progress) is one
 * file, a "blob", named by a random id under WALRUS_STORAGE_DIR/data/xx/,
 * never by its key: keys are arbitrary bytes, and a new version of an object
 * is a new file, so a reader that opened the old one keeps reading it.
 *
 * Crash safety: a body is written to tmp/<id>.part, fsync'd, and renamed
 * to data/xx/<id>; only then is its row committed.  The row is what makes
 * an object visible.  So a SIGKILL leaves at worst a temp file (removed at
 * the next start) or a renamed blob without a row (also removed at start:
 * any blob no row names is garbage), never a partial object.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "walrus.h"

/* Bytes of a body between two starts of writeback (wl_blob_write). */
#define WRITEBACK_STEP (8u << 20)

static const struct kr_db_migration migrations[] = {
	{ 1,
	  "CREATE TABLE buckets ("
	  " name TEXT PRIMARY KEY,"
	  " owner TEXT NOT NULL,"
	  " owner_id TEXT NOT NULL,"
	  " acl TEXT NOT NULL,"
	  " created INTEGER NOT NULL);"
	  "CREATE INDEX buckets_owner ON buckets(owner);"
	  "CREATE TABLE objects ("
	  " bucket TEXT NOT NULL REFERENCES buckets(name),"
	  " key TEXT NOT NULL,"
	  " size INTEGER NOT NULL,"
	  " etag TEXT NOT NULL,"
	  " owner TEXT NOT NULL,"
	  " owner_id TEXT NOT NULL,"
	  " acl TEXT NOT NULL,"
	  " blob TEXT NOT NULL UNIQUE,"
	  " headers TEXT NOT NULL DEFAULT '',"
	  " modified INTEGER NOT NULL,"
	  " PRIMARY KEY (bucket, key)) WITHOUT ROWID;"
	  "CREATE TABLE uploads ("
	  " upload_id TEXT PRIMARY KEY,"
	  " bucket TEXT NOT NULL REFERENCES buckets(name),"
	  " key TEXT NOT NULL,"
	  " owner TEXT NOT NULL,"
	  " owner_id TEXT NOT NULL,"
	  " acl TEXT NOT NULL,"
	  " headers TEXT NOT NULL DEFAULT '',"
	  " initiated INTEGER NOT NULL);"
	  "CREATE INDEX uploads_bucket ON uploads(bucket, key);"
	  "CREATE TABLE parts ("
	  " upload_id TEXT NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,"
	  " number INTEGER NOT NULL,"
	  " size INTEGER NOT NULL,"
	  " etag TEXT NOT NULL,"
	  " blob TEXT NOT NULL UNIQUE,"
	  " modified INTEGER NOT NULL,"
	  " PRIMARY KEY (upload_id, number));" },
};

void
wl_blob_path(struct walrus *w, const char *id, char *out, size_t len)
{
	snprintf(out, len, "%s/data/%.2s/%s", w->storage, id, id);
}

static int
mkdir_one(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		kr_error_errno("InternalError", "mkdir %s", path);
		return -1;
	}
	return 0;
}

/* Remove what a crash left: temp files, and blobs no row names. */
static int
sweep(struct walrus *w)
{
	char path[1200], sub[1500];
	sqlite3_stmt *st = NULL;
	DIR *top, *d;
	struct dirent *e, *f;
	int removed = 0;

	snprintf(path, sizeof(path), "%s/tmp", w->storage);
	if ((d = opendir(path))) {
		while ((e = readdir(d)))
			if (e->d_name[0] != '.' && unlinkat(dirfd(d), e->d_name, 0) == 0)
				removed++;
		closedir(d);
	}
	if (kr_db_prepare(w->db, "SELECT 1 FROM objects WHERE blob = ?1"
	    " UNION ALL SELECT 1 FROM parts WHERE blob = ?1", &st) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/data", w->storage);
	if (!(top = opendir(path))) {
		sqlite3_finalize(st);
		return 0;
	}
	while ((e = readdir(top))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (!(d = opendir(sub)))
			continue;
		while ((f = readdir(d))) {
			if (f->d_name[0] == '.')
				continue;
			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, f->d_name, -1, SQLITE_TRANSIENT);
			if (kr_db_step(st) == 0 && unlinkat(dirfd(d), f->d_name, 0) == 0)
				removed++;
		}
		closedir(d);
	}
	closedir(top);
	sqlite3_finalize(st);
	if (removed)
		kr_log_info("removed %d unfinished upload file(s) left by a crash", removed);
	return 0;
}

int
wl_store_open(struct walrus *w, const char *db_path)
{
	char path[1200];

	if (kr_mkdir_p(w->storage) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/tmp", w->storage);
	if (mkdir_one(path) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/data", w->storage);
	if (mkdir_one(path) < 0)
		return -1;
	if (kr_db_open(db_path, migrations, sizeof(migrations) / sizeof(migrations[0]), &w->db) < 0)
		return -1;
	return sweep(w);
}

void
wl_store_close(struct walrus *w)
{
	kr_db_close(w->db);
	w->db = NULL;
}

int
wl_blob_begin(struct walrus *w, struct wl_blob *b)
{
	unsigned char r[16];

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		kr_error_errno("InternalError", "getrandom");
		return -1;
	}
	for (int i = 0; i < 16; i++)
		snprintf(b->id + 2 * i, 3, "%02x", r[i]);
	snprintf(b->tmp, sizeof(b->tmp), "%s/tmp/%s.part", w->storage, b->id);
	/* Read too: blob_md5.c reads the bytes back to hash them. */
	b->fd = open(b->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (b->fd < 0) {
		kr_error_errno("InternalError", "cannot create %s", b->tmp);
		return -1;
	}
	if (!(b->md5 = wl_md5_new())) {
		kr_error("InternalError", "MD5 unavailable");
		wl_blob_abort(b);
		return -1;
	}
	return 0;
}

int
wl_blob_write(struct wl_blob *b, const void *data, size_t len)
{
	const char *p = data;
	size_t left = len;

	while (left) {
		ssize_t n = write(b->fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kr_error_errno(errno == ENOSPC ? "InsufficientStorage" : "InternalError",
			    "writing %s", b->tmp);
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	b->size += len;
	wl_md5_update(b->md5, b->fd, data, len);
	/*
	 * Start the disk on what has arrived, every WRITEBACK_STEP bytes,
	 * without waiting for it: the fsync() before the PUT is answered then
	 * finds most of the body already written instead of all of it
	 * dirty (here dd copies 1 GiB into the page cache in 0.5 s and then
	 * waits 2 s for its fsync).  A hint: on failure fsync() does it all.
	 */
	if (b->size - b->queued >= WRITEBACK_STEP) {
		(void)sync_file_range(b->fd, (off_t)b->queued, (off_t)(b->size - b->queued),
		    SYNC_FILE_RANGE_WRITE);
		b->queued = b->size;
	}
	return 0;
}

int
wl_blob_md5(struct wl_blob *b, unsigned char md5[16])
{
	return wl_md5_final(b->md5, md5);
}

int
wl_blob_commit(struct walrus *w, struct wl_blob *b, unsigned char md5[16])
{
	char dir[1200], path[1200];

	if (md5 && wl_md5_final(b->md5, md5) < 0)
		return -1;
	/* A hashing thread reads the fd: stopped before it is closed. */
	wl_md5_free(b->md5);
	b->md5 = NULL;
	if (fsync(b->fd) < 0) {
		kr_error_errno("InternalError", "fsync %s", b->tmp);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/data/%.2s", w->storage, b->id);
	if (mkdir_one(dir) < 0)
		return -1;
	wl_blob_path(w, b->id, path, sizeof(path));
	if (rename(b->tmp, path) < 0) {
		kr_error_errno("InternalError", "rename %s", b->tmp);
		return -1;
	}
	close(b->fd);
	b->fd = -1;
	b->tmp[0] = '\0';
	return 0;
}

void
wl_blob_abort(struct wl_blob *b)
{
	wl_md5_free(b->md5);	/* before the fd its thread reads is closed */
	b->md5 = NULL;
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	if (b->tmp[0])
		unlink(b->tmp);
	b->tmp[0] = '\0';
}

int
wl_blob_open(struct walrus *w, const char *id)
{
	char path[1200];
	int fd;

	wl_blob_path(w, id, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		kr_error_errno("InternalError", "cannot open %s", path);
	return fd;
}

void
wl_blob_unlink(struct walrus *w, const char *id)
{
	char path[1200];

	if (!id || !*id)
		return;
	wl_blob_path(w, id, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		kr_log_warn("cannot remove %s", path);
}

static void
col_text(char *dst, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

int
wl_bucket_get(struct walrus *w, const char *name, struct wl_bucket *b)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (kr_db_prepare(w->db, "SELECT name, owner, owner_id, acl, created FROM buckets"
	    " WHERE name = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	if (r == 1) {
		col_text(b->name, sizeof(b->name), st, 0);
		col_text(b->owner, sizeof(b->owner), st, 1);
		col_text(b->owner_id, sizeof(b->owner_id), st, 2);
		col_text(b->acl, sizeof(b->acl), st, 3);
		b->created = (time_t)sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	return r;
}

int
wl_object_get(struct walrus *w, const char *bucket, const char *key, struct wl_object *o)
{
	sqlite3_stmt *st = NULL;
	int r;

	memset(o, 0, sizeof(*o));
	if (kr_db_prepare(w->db, "SELECT key, size, etag, owner, owner_id, acl, blob, headers,"
	    " modified FROM objects WHERE bucket = ? AND key = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	if (r == 1) {
		o->key = strdup((const char *)sqlite3_column_text(st, 0));
		o->size = (uint64_t)sqlite3_column_int64(st, 1);
		col_text(o->etag, sizeof(o->etag), st, 2);
		col_text(o->owner, sizeof(o->owner), st, 3);
		col_text(o->owner_id, sizeof(o->owner_id), st, 4);
		col_text(o->acl, sizeof(o->acl), st, 5);
		col_text(o->blob, sizeof(o->blob), st, 6);
		o->headers = strdup((const char *)sqlite3_column_text(st, 7));
		o->modified = (time_t)sqlite3_column_int64(st, 8);
		if (!o->key || !o->headers) {
			wl_object_clear(o);
			kr_error("InternalError", "out of memory");
			r = -1;
		}
	}
	sqlite3_finalize(st);
	return r;
}

void
wl_object_clear(struct wl_object *o)
{
	free(o->key);
	free(o->headers);
	memset(o, 0, sizeof(*o));
}

/* The blob of bucket/key, into old (or "" when there is no such object). */
static int
current_blob(struct walrus *w, const char *bucket, const char *key, char *old, size_t len)
{
	sqlite3_stmt *st = NULL;
	int r;

	old[0] = '\0';
	if (kr_db_prepare(w->db, "SELECT blob FROM objects WHERE bucket = ? AND key = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if ((r = kr_db_step(st)) == 1)
		col_text(old, len, st, 0);
	sqlite3_finalize(st);
	return r < 0 ? -1 : 0;
}

int
wl_object_put(struct walrus *w, const char *bucket, const struct wl_object *o,
    const char *upload_id)
{
	sqlite3_stmt *st = NULL;
	char old[40];

	if (kr_db_begin(w->db) < 0)
		return -1;
	if (current_blob(w, bucket, o->key, old, sizeof(old)) < 0)
		goto fail;
	if (upload_id) {
		/* Completing a multipart upload: the upload and its parts go in the same commit. */
		if (kr_db_prepare(w->db, "DELETE FROM uploads WHERE upload_id = ?", &st) < 0)
			goto fail;
		sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
		if (kr_db_step(st) < 0)
			goto fail;
		sqlite3_finalize(st);
		st = NULL;
	}
	if (kr_db_prepare(w->db, "INSERT OR REPLACE INTO objects(bucket, key, size, etag, owner,"
	    " owner_id, acl, blob, headers, modified) VALUES (?,?,?,?,?,?,?,?,?,?)", &st) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, o->key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)o->size);
	sqlite3_bind_text(st, 4, o->etag, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, o->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, o->owner_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, o->acl, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, o->blob, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, o->headers ? o->headers : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)o->modified);
	if (kr_db_step(st) < 0 || kr_db_commit(w->db) < 0)
		goto fail;
	sqlite3_finalize(st);
	/* The new row is committed: the old version's bytes may go. */
	if (old[0] && strcmp(old, o->blob) != 0)
		wl_blob_unlink(w, old);
	return 0;
fail:
	sqlite3_finalize(st);
	kr_db_rollback(w->db);
	return -1;
}

int
wl_object_delete(struct walrus *w, const char *bucket, const char *key)
{
	sqlite3_stmt *st = NULL;
	char old[40];
	int n;

	if (kr_db_begin(w->db) < 0)
		return -1;
	if (current_blob(w, bucket, key, old, sizeof(old)) < 0 ||
	    kr_db_prepare(w->db, "DELETE FROM objects WHERE bucket = ? AND key = ?", &st) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if (kr_db_step(st) < 0)
		goto fail;
	n = sqlite3_changes(w->db);
	sqlite3_finalize(st);
	if (kr_db_commit(w->db) < 0)
		goto fail;
	if (old[0])
		wl_blob_unlink(w, old);
	return n > 0;
fail:
	sqlite3_finalize(st);
	kr_db_rollback(w->db);
	return -1;
}

static int
sum(struct walrus *w, const char *sql, const char *arg, uint64_t *out)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (kr_db_prepare(w->db, sql, &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	*out = r == 1 ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return r < 0 ? -1 : 0;
}

int
wl_usage(struct walrus *w, const char *bucket, const char *user, uint64_t *bucket_bytes,
    uint64_t *user_bytes)
{
	if (sum(w, "SELECT (SELECT IFNULL(SUM(size), 0) FROM objects WHERE bucket = ?1) +"
	    " (SELECT IFNULL(SUM(p.size), 0) FROM parts p JOIN uploads u USING (upload_id)"
	    " WHERE u.bucket = ?1)", bucket, bucket_bytes) < 0)
		return -1;
	return sum(w, "SELECT (SELECT IFNULL(SUM(o.size), 0) FROM objects o JOIN buckets b"
	    " ON b.name = o.bucket WHERE b.owner = ?1) + (SELECT IFNULL(SUM(p.size), 0)"
	    " FROM parts p JOIN uploads u USING (upload_id) JOIN buckets b ON b.name = u.bucket"
	    " WHERE b.owner = ?1)", user, user_bytes);
}
