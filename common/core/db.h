/*
 * db.h - sqlite3 the way every Karri daemon uses it.
 *
 * A database is opened with kr_db_open(): WAL journal, foreign keys on,
 * a 5 s busy timeout, synchronous=NORMAL, and the schema brought up to date
 * by numbered migrations.  Statements are prepared with sqlite3 directly;
 * the helpers below only turn sqlite errors into kr_error() records
 * ("InternalError" with sqlite's message), so callers just pass -1 up.
 *
 * Durability contract (DESIGN.md §3): a daemon may be SIGKILLed at any
 * moment and must lose nothing it acknowledged.  In WAL mode a committed
 * transaction is in the WAL file (in the kernel's page cache) when COMMIT
 * returns, so it survives the death of the process; synchronous=NORMAL
 * skips only the fsync at each commit, which matters for power loss, not
 * for process crashes.  FULL would cost an fsync per transaction for a
 * guarantee the contract does not ask for.
 */
#ifndef KARRI_DB_H
#define KARRI_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <sqlite3.h>

/*
 * Migrations are applied in order, each in its own transaction together
 * with PRAGMA user_version = version, so a crash leaves the schema at a
 * whole version.  Versions start at 1 and increase; never edit a released
 * migration, add a new one.
 */
struct kr_db_migration {
	int version;
	const char *sql;
};

/*
 * Open (creating the file, not its directory) and migrate.  A database
 * whose user_version is newer than the last migration is refused: "database
 * is from a newer Karri (schema N > M)".  0 and *out, or -1 + kr_error.
 * Use one connection per thread, or serialize use of a shared one.
 */
int kr_db_open(const char *path, const struct kr_db_migration *migs, size_t n, sqlite3 **out);
void kr_db_close(sqlite3 *db);	/* NULL-safe */

int kr_db_exec(sqlite3 *db, const char *sql);	/* one or more statements, no results */

/* BEGIN IMMEDIATE: take the write lock now, so a transaction never fails halfway on BUSY. */
int kr_db_begin(sqlite3 *db);
int kr_db_commit(sqlite3 *db);
int kr_db_rollback(sqlite3 *db);	/* harmless when no transaction is open */

int kr_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt);

/* 1: a row is ready, 0: done, -1: error (kr_error set). */
int kr_db_step(sqlite3_stmt *stmt);

/*
 * Whether the last failure on db was a UNIQUE or PRIMARY KEY violation.
 * Ask right after the failing kr_db_step() (or sqlite3_finalize()/
 * sqlite3_reset() of that statement), before other calls on db.
 */
bool kr_db_unique_violation(sqlite3 *db);

/*
 * Insert a row under a new random id (see id.h): draws an id with
 * `prefix` into id[idlen], calls insert(db, id, arg), and while insert
 * fails on a unique violation draws another, up to 8 tries.  insert returns
 * 0 or -1 (having reported with kr_error, e.g. through kr_db_step).
 */
typedef int (*kr_db_insert_fn)(sqlite3 *db, const char *id, void *arg);
int kr_db_insert_new_id(sqlite3 *db, const char *prefix, char *id, size_t idlen,
    kr_db_insert_fn insert, void *arg);

#endif
