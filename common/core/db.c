/*
 * db.c - opening, migrating and using sqlite3 databases (see db.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/db.h"
#include "core/error.h"
#include "core/id.h"
#include "core/log.h"

#define BUSY_TIMEOUT_MS 5000
#define ID_TRIES 8

int
kr_db_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		kr_error("InternalError", "sqlite: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
kr_db_begin(sqlite3 *db)
{
	return kr_db_exec(db, "BEGIN IMMEDIATE");
}

int
kr_db_commit(sqlite3 *db)
{
	return kr_db_exec(db, "COMMIT");
}

int
kr_db_rollback(sqlite3 *db)
{
	if (sqlite3_get_autocommit(db))
		return 0;	/* nothing open (sqlite may have rolled back already) */
	return kr_db_exec(db, "ROLLBACK");
}

int
kr_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt)
{
	if (sqlite3_prepare_v2(db, sql, -1, stmt, NULL) != SQLITE_OK) {
		kr_error("InternalError", "sqlite: %s: in \"%.60s\"", sqlite3_errmsg(db), sql);
		*stmt = NULL;
		return -1;
	}
	return 0;
}

int
kr_db_step(sqlite3_stmt *stmt)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	/* The statement's text has '?' placeholders, never the values. */
	kr_error("InternalError", "sqlite: %s: in \"%.60s\"",
	    sqlite3_errmsg(sqlite3_db_handle(stmt)), sqlite3_sql(stmt));
	return -1;
}

bool
kr_db_unique_violation(sqlite3 *db)
{
	int rc = sqlite3_extended_errcode(db);

	return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY;
}

int
kr_db_insert_new_id(sqlite3 *db, const char *prefix, char *id, size_t idlen,
    kr_db_insert_fn insert, void *arg)
{
	int i;

	for (i = 0; i < ID_TRIES; i++) {
		if (kr_id_new(prefix, id, idlen) < 0)
			return -1;
		if (insert(db, id, arg) == 0)
			return 0;
		if (!kr_db_unique_violation(db))
			return -1;
		kr_log_debug("id %s is taken, drawing another", id);
	}
	/* Eight collisions in a row is another UNIQUE column; insert's error says which. */
	return -1;
}

static int
user_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "PRAGMA user_version", &st) < 0)
		return -1;
	rc = kr_db_step(st);
	if (rc == 1)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == 1 ? 0 : -1;
}

/* Apply one migration unless another process got there first. */
static int
migrate_one(sqlite3 *db, const char *path, const struct kr_db_migration *m)
{
	char sql[64];
	int v;

	if (kr_db_begin(db) < 0)
		return -1;
	/* Read again under the write lock: two daemons may open the file at once. */
	if (user_version(db, &v) < 0)
		goto fail;
	if (v >= m->version)
		return kr_db_commit(db);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", m->version);
	if (kr_db_exec(db, m->sql) < 0 || kr_db_exec(db, sql) < 0) {
		char msg[KR_ERROR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", kr_error_message());
		kr_error("InternalError", "%s: schema migration %d: %s", path, m->version, msg);
		goto fail;
	}
	if (kr_db_commit(db) < 0)
		goto fail;
	kr_log_info("%s: schema migrated to version %d", path, m->version);
	return 0;
fail:
	kr_db_rollback(db);
	return -1;
}

static int
migrate(sqlite3 *db, const char *path, const struct kr_db_migration *migs, size_t n)
{
	int have, known = n ? migs[n - 1].version : 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (migs[i].version <= (i ? migs[i - 1].version : 0) || !migs[i].sql) {
			kr_error("InternalError", "%s: migration table out of order at %zu", path, i);
			return -1;
		}
	}
	if (user_version(db, &have) < 0)
		return -1;
	if (have > known) {
		kr_error("InternalError", "%s: database is from a newer Karri (schema %d > %d)",
		    path, have, known);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (migs[i].version > have && migrate_one(db, path, &migs[i]) < 0)
			return -1;
	return 0;
}

/*
 * sqlite would create a missing file 0644; the CLC's database holds secret
 * keys, so make it 0600 first (the -wal and -shm files copy its mode).
 * The directory must exist: creating it is the installer's job, and a
 * missing one usually means a wrong path.
 */
static int
precreate(const char *path)
{
	char *copy = strdup(path), *dir;
	struct stat st;
	int fd;

	if (!copy) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	dir = dirname(copy);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		kr_error("InternalError", "cannot open database %s: directory %s does not exist",
		    path, dir);
		free(copy);
		return -1;
	}
	free(copy);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		kr_error_errno("InternalError", "cannot open database %s", path);
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * Switch to WAL (it sticks in the file, so this is a no-op after the first
 * time).  Converting needs an exclusive lock, and sqlite answers BUSY at
 * once, without its busy handler, when another connection is converting the
 * same fresh file: daemons starting together hit that, so retry here for
 * the busy timeout.  journal_mode answers with the mode it got; some
 * filesystems cannot do WAL at all.
 */
static int
set_wal(sqlite3 *db, const char *path)
{
	sqlite3_stmt *st;
	int rc, waited = 0;
	bool wal;

	if (kr_db_prepare(db, "PRAGMA journal_mode = WAL", &st) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_BUSY && waited < BUSY_TIMEOUT_MS) {
		sqlite3_reset(st);
		usleep(20000);
		waited += 20;
	}
	if (rc != SQLITE_ROW) {
		kr_error("InternalError", "database %s: setting WAL: %s", path, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	wal = sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	if (!wal) {
		kr_error("InternalError", "database %s: cannot use WAL journaling here", path);
		return -1;
	}
	return 0;
}

int
kr_db_open(const char *path, const struct kr_db_migration *migs, size_t n, sqlite3 **out)
{
	sqlite3 *db = NULL;

	*out = NULL;
	if (precreate(path) < 0)
		return -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL)
	    != SQLITE_OK) {
		kr_error("InternalError", "cannot open database %s: %s", path,
		    db ? sqlite3_errmsg(db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	if (set_wal(db, path) < 0)
		goto fail;
	if (kr_db_exec(db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL") < 0 ||
	    migrate(db, path, migs, n) < 0)
		goto fail;
	*out = db;
	return 0;
fail:
	kr_db_close(db);
	return -1;
}

void
kr_db_close(sqlite3 *db)
{
	if (!db)
		return;
	if (sqlite3_close(db) == SQLITE_BUSY) {
		kr_log_errorx("database %s closed with statements not finalized (a leak)",
		    sqlite3_db_filename(db, "main"));
		sqlite3_close_v2(db);	/* closes once they are finalized */
	}
}
