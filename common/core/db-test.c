/*
 * db-test.c - unit tests for db.c against real database files.
 */
#include "core/check_run.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/db.h"
#include "core/error.h"
#include "core/id.h"
#include "core/log.h"

static char dir[64];
static char path[300];

static const struct kr_db_migration migs[] = {
	{ 1, "CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE);" },
	{ 2, "CREATE TABLE keys (id TEXT PRIMARY KEY,"
	     " user_id TEXT NOT NULL REFERENCES users(id));" },
	{ 5, "ALTER TABLE users ADD COLUMN email TEXT;" },	/* gaps are fine */
};

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "%s", "/tmp/karri-db-test.XXXXXX");	/* fresh also under CK_FORK=no */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/clc.db", dir);
	kr_log_set_level(KR_LOG_WARN);	/* no "schema migrated" chatter */
}

static void
teardown(void)
{
	char p[350];
	const char *sfx[] = { "", "-wal", "-shm", "-journal" };

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		unlink(p);
	}
	rmdir(dir);
}

static long
scalar(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long v = -1;

	ck_assert_int_eq(kr_db_prepare(db, sql, &st), 0);
	if (kr_db_step(st) == 1)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

START_TEST(open_sets_wal_fk_and_timeouts)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	struct stat sb;

	ck_assert_int_eq(kr_db_open(path, migs, 3, &db), 0);
	ck_assert_int_eq(scalar(db, "PRAGMA user_version"), 5);
	ck_assert_int_eq(scalar(db, "PRAGMA foreign_keys"), 1);
	ck_assert_int_eq(scalar(db, "PRAGMA synchronous"), 1);	/* NORMAL */
	ck_assert_int_eq(scalar(db, "PRAGMA busy_timeout"), 5000);
	ck_assert_int_eq(kr_db_prepare(db, "PRAGMA journal_mode", &st), 0);
	ck_assert_int_eq(kr_db_step(st), 1);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	/* Foreign keys are enforced. */
	ck_assert_int_eq(kr_db_exec(db, "INSERT INTO keys VALUES ('k-1', 'nobody')"), -1);
	ck_assert_str_eq(kr_error_code(), "InternalError");
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "FOREIGN KEY"));
	/* The file holds secrets: owner only. */
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	kr_db_close(db);
	kr_db_close(NULL);
}
END_TEST

START_TEST(migrations_are_idempotent_across_reopen)
{
	sqlite3 *db;

	ck_assert_int_eq(kr_db_open(path, migs, 2, &db), 0);
	ck_assert_int_eq(scalar(db, "PRAGMA user_version"), 2);
	ck_assert_int_eq(kr_db_exec(db, "INSERT INTO users VALUES ('u-1', 'alice')"), 0);
	kr_db_close(db);
	/* Same list again: nothing re-runs (CREATE TABLE would fail if it did). */
	ck_assert_msg(kr_db_open(path, migs, 2, &db) == 0, "%s", kr_error_message());
	ck_assert_int_eq(scalar(db, "SELECT count(*) FROM users"), 1);
	kr_db_close(db);
	/* A newer program: only the new migration runs. */
	ck_assert_msg(kr_db_open(path, migs, 3, &db) == 0, "%s", kr_error_message());
	ck_assert_int_eq(scalar(db, "PRAGMA user_version"), 5);
	ck_assert_int_eq(scalar(db, "SELECT count(email) + count(*) FROM users"), 1);
	kr_db_close(db);
}
END_TEST

START_TEST(newer_schema_is_refused)
{
	char want[400];
	sqlite3 *db = (sqlite3 *)1;

	ck_assert_int_eq(kr_db_open(path, migs, 3, &db), 0);
	kr_db_close(db);
	ck_assert_int_eq(kr_db_open(path, migs, 2, &db), -1);
	ck_assert_ptr_null(db);
	snprintf(want, sizeof(want), "%s: database is from a newer Karri (schema 5 > 2)", path);
	ck_assert_str_eq(kr_error_message(), want);
}
END_TEST

START_TEST(failed_migration_leaves_whole_version)
{
	static const struct kr_db_migration bad[] = {
		{ 1, "CREATE TABLE a (x);" },
		{ 2, "CREATE TABLE b (x); INSERT INTO nosuch VALUES (1);" },
	};
	sqlite3 *db;

	ck_assert_int_eq(kr_db_open(path, bad, 2, &db), -1);
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "schema migration 2"));
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "nosuch"));
	ck_assert_int_eq(kr_db_open(path, bad, 1, &db), 0);
	ck_assert_int_eq(scalar(db, "PRAGMA user_version"), 1);
	ck_assert_int_eq(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'b'"), 0);
	kr_db_close(db);
}
END_TEST

START_TEST(bad_paths_and_tables_are_reported)
{
	static const struct kr_db_migration unordered[] = { { 2, "SELECT 1" }, { 1, "SELECT 1" } };
	char p[400];
	sqlite3 *db;

	snprintf(p, sizeof(p), "%s/no/such/dir/clc.db", dir);
	ck_assert_int_eq(kr_db_open(p, migs, 3, &db), -1);
	ck_assert_ptr_nonnull(strstr(kr_error_message(), p));
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "does not exist"));
	ck_assert_int_eq(kr_db_open(path, unordered, 2, &db), -1);
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "out of order"));
}
END_TEST

START_TEST(transactions_commit_and_roll_back)
{
	sqlite3 *db;

	ck_assert_int_eq(kr_db_open(path, migs, 3, &db), 0);
	ck_assert_int_eq(kr_db_rollback(db), 0);	/* none open: harmless */
	ck_assert_int_eq(kr_db_begin(db), 0);
	ck_assert_int_eq(kr_db_exec(db, "INSERT INTO users (id, name) VALUES ('u-1', 'a')"), 0);
	ck_assert_int_eq(kr_db_rollback(db), 0);
	ck_assert_int_eq(scalar(db, "SELECT count(*) FROM users"), 0);
	ck_assert_int_eq(kr_db_begin(db), 0);
	ck_assert_int_eq(kr_db_exec(db, "INSERT INTO users (id, name) VALUES ('u-2', 'b')"), 0);
	ck_assert_int_eq(kr_db_commit(db), 0);
	ck_assert_int_eq(scalar(db, "SELECT count(*) FROM users"), 1);
	ck_assert_int_eq(kr_db_exec(db, "SELEKT 1"), -1);
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "syntax error"));
	kr_db_close(db);
}
END_TEST

/* An insert callback that, for its first `collide` calls, uses an id already taken. */
struct ins {
	int calls;
	int collide;
	const char *name;
};

static int
insert_user(sqlite3 *db, const char *id, void *arg)
{
	struct ins *in = arg;
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "INSERT INTO users (id, name) VALUES (?, ?)", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, in->calls++ < in->collide ? "u-00000000" : id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, in->name, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);	/* the violation must survive this */
	return rc < 0 ? -1 : 0;
}

START_TEST(new_id_retries_on_collision_only)
{
	struct ins in = { 0, 2, "carol" };
	char id[KR_ID_MAX], sql[128];
	sqlite3 *db;

	ck_assert_int_eq(kr_db_open(path, migs, 3, &db), 0);
	ck_assert_int_eq(kr_db_exec(db, "INSERT INTO users VALUES ('u-00000000', 'zed', NULL)"), 0);
	ck_assert_msg(kr_db_insert_new_id(db, "u", id, sizeof(id), insert_user, &in) == 0,
	    "%s", kr_error_message());
	ck_assert_int_eq(in.calls, 3);
	ck_assert(kr_id_valid(id, "u"));
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM users WHERE id = '%s' AND name = 'carol'", id);
	ck_assert_int_eq(scalar(db, sql), 1);
	/* A clash on another UNIQUE column is not an id problem: it fails, naming the column. */
	in = (struct ins){ 0, 0, "carol" };
	ck_assert_int_eq(kr_db_insert_new_id(db, "u", id, sizeof(id), insert_user, &in), -1);
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "users.name"));
	/* Any other error is not retried. */
	in = (struct ins){ 0, 0, NULL };	/* name NOT NULL */
	ck_assert_int_eq(kr_db_insert_new_id(db, "u", id, sizeof(id), insert_user, &in), -1);
	ck_assert_int_eq(in.calls, 1);
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "NOT NULL"));
	kr_db_close(db);
}
END_TEST

/* The contract of DESIGN.md §3: what COMMIT acknowledged survives SIGKILL. */
START_TEST(commit_survives_sigkill)
{
	int fds[2], status;
	sqlite3 *db;
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (kr_db_open(path, migs, 3, &db) < 0 || kr_db_begin(db) < 0 ||
		    kr_db_exec(db, "INSERT INTO users (id, name) VALUES ('u-1', 'dave')") < 0 ||
		    kr_db_commit(db) < 0)
			_exit(1);
		if (write(fds[1], "c", 1) != 1)
			_exit(1);
		pause();	/* killed here, connection still open, WAL not checkpointed */
		_exit(1);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(kr_db_open(path, migs, 3, &db), 0);
	ck_assert_int_eq(scalar(db, "SELECT count(*) FROM users WHERE name = 'dave'"), 1);
	kr_db_close(db);
}
END_TEST

/* Daemons starting together: each migration runs once, nobody fails. */
START_TEST(concurrent_opens_migrate_once)
{
	int round, k, go[2], status;
	pid_t pids[4];
	char c = 'g';

	for (round = 0; round < 5; round++) {
		teardown();	/* a fresh database: file, -wal and -shm */
		ck_assert_int_eq(mkdir(dir, 0700), 0);
		ck_assert_int_eq(pipe(go), 0);
		for (k = 0; k < 4; k++) {
			sqlite3 *db;

			if ((pids[k] = fork()) == 0) {
				close(go[1]);
				if (read(go[0], &c, 1) != 0)	/* wait for the start: EOF */
					_exit(2);
				if (kr_db_open(path, migs, 3, &db) == 0)
					_exit(0);
				fprintf(stderr, "%s\n", kr_error_message());
				_exit(1);
			}
		}
		close(go[0]);
		close(go[1]);	/* all start at once */
		for (k = 0; k < 4; k++) {
			ck_assert_int_eq(waitpid(pids[k], &status, 0), pids[k]);
			ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			    "round %d: opener %d failed", round, k);
		}
	}
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("db", &tc);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, open_sets_wal_fk_and_timeouts);
	tcase_add_test(tc, migrations_are_idempotent_across_reopen);
	tcase_add_test(tc, newer_schema_is_refused);
	tcase_add_test(tc, failed_migration_leaves_whole_version);
	tcase_add_test(tc, bad_paths_and_tables_are_reported);
	tcase_add_test(tc, transactions_commit_and_roll_back);
	tcase_add_test(tc, new_id_retries_on_collision_only);
	tcase_add_test(tc, commit_survives_sigkill);
	tcase_add_test(tc, concurrent_opens_migrate_once);
	return kr_check_run(s);
}
