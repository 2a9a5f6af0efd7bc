/*
 * db.c - the EBS's database, the bottom of its files (it calls none of
 * them): schema, migrations, one-statement helper, and where a volume or
 * snapshot lives (its file, its row's size and status).  The state itself,
 * struct ebs (ebs.h), is made by main.c and passed in.
 *
 * Volumes carry their AoE address while exported; UNIQUE (shelf, slot) is
 * what makes the allocation race-free (two exports can never be handed the
 * same address, even by two daemons sharing the file by mistake), which is
 * the property OpenStack's probing AoE driver lacked.
 */
#include <stdio.h>

#include "core/db.h"
#include "ebs.h"
#include "core/error.h"

static const struct kr_db_migration migrations[] = {
	{ 1,
	  "CREATE TABLE volumes ("
	  "  id TEXT PRIMARY KEY,"
	  "  size_gib INTEGER NOT NULL CHECK (size_gib > 0),"
	  "  snapshot_id TEXT,"
	  "  status TEXT NOT NULL,"		/* creating, available, in-use */
	  "  create_time INTEGER NOT NULL,"
	  "  shelf INTEGER,"			/* NULL unless exported */
	  "  slot INTEGER,"
	  "  UNIQUE (shelf, slot));"
	  "CREATE TABLE volume_macs ("
	  "  volume_id TEXT NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,"
	  "  mac TEXT NOT NULL,"
	  "  PRIMARY KEY (volume_id, mac));"
	  "CREATE TABLE snapshots ("
	  "  id TEXT PRIMARY KEY,"
	  "  volume_id TEXT NOT NULL,"		/* no foreign key: a snapshot outlives its volume */
	  "  size_gib INTEGER NOT NULL,"
	  "  status TEXT NOT NULL,"		/* pending, completed */
	  "  start_time INTEGER NOT NULL);" },
	/*
	 * Snapshots in Walrus (jobs.c): the presigned URLs of the work still to
	 * do are kept, so a restarted EBS carries on with it; `copied` says the
	 * point-in-time copy is whole (before that, a crash means the caller
	 * never got an answer and the row goes).
	 */
	{ 2,
	  "ALTER TABLE snapshots ADD COLUMN store TEXT NOT NULL DEFAULT 'local';" /* local, walrus */
	  "ALTER TABLE snapshots ADD COLUMN copied INTEGER NOT NULL DEFAULT 1;"
	  "ALTER TABLE snapshots ADD COLUMN urls TEXT;"		/* PUTs still to do */
	  "ALTER TABLE snapshots ADD COLUMN bucket_url TEXT;"
	  "ALTER TABLE snapshots ADD COLUMN progress INTEGER NOT NULL DEFAULT 0;"
	  "ALTER TABLE snapshots ADD COLUMN reason TEXT;"	/* why it is 'error' */
	  "ALTER TABLE volumes ADD COLUMN source_urls TEXT;"	/* GETs filling it */
	  "ALTER TABLE volumes ADD COLUMN reason TEXT;" },
};

int
ebs_db_open(const char *path, sqlite3 **db)
{
	return kr_db_open(path, migrations, sizeof(migrations) / sizeof(migrations[0]), db);
}

int
ebs_db_exec(sqlite3 *db, const char *sql, const char *p1, const char *p2)
{
	sqlite3_stmt *st = NULL;
	int n, r;

	if (kr_db_prepare(db, sql, &st) < 0)
		return -1;
	n = sqlite3_bind_parameter_count(st);
	if (n >= 1)
		sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
	if (n >= 2)
		sqlite3_bind_text(st, 2, p2, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	sqlite3_finalize(st);
	return r < 0 ? -1 : 0;
}

int
ebs_volume_path(const struct ebs *e, const char *volume_id, char *out, size_t outlen)
{
	if ((size_t)snprintf(out, outlen, "%s/%s.img", e->volumes_dir, volume_id) >= outlen) {
		kr_error("InternalError", "volume path too long");
		return -1;
	}
	return 0;
}

/* 1 found (size and status filled), 0 not found, -1 error. */
int
ebs_volume_lookup(sqlite3 *db, const char *volume_id, long *size_gib, char *status,
    size_t statuslen)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (kr_db_prepare(db, "SELECT size_gib, status FROM volumes WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, volume_id, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	if (r == 1) {
		*size_gib = sqlite3_column_int64(st, 0);
		snprintf(status, statuslen, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	return r;
}

int
ebs_snapshot_path(const struct ebs *e, const char *snapshot_id, char *out, size_t outlen)
{
	if ((size_t)snprintf(out, outlen, "%s/%s.snap", e->snapshots_dir, snapshot_id) >= outlen) {
		kr_error("InternalError", "snapshot path too long");
		return -1;
	}
	return 0;
}
