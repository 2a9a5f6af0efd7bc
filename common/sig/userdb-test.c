/*
 * userdb-test.c - unit tests for userdb.c against a real database file.
 */
#include "core/check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "sig/userdb.h"

static char dir[64];
static char path[300];
static sqlite3 *db;

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "%s", "/tmp/karri-userdb-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/users.db", dir);
	kr_log_set_level(KR_LOG_WARN);
	ck_assert_int_eq(kr_userdb_open(path, &db), 0);
}

static void
teardown(void)
{
	char p[350];

	kr_userdb_close(db);
	db = NULL;
	static const char *suffixes[] = { "", "-wal", "-shm" };

	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		unlink(p);
	}
	rmdir(dir);
}

static int
count_user(const struct kr_user *u, void *arg)
{
	(void)u;
	(*(int *)arg)++;
	return 0;
}

static int
count_key(const struct kr_access_key *k, void *arg)
{
	(void)k;
	(*(int *)arg)++;
	return 0;
}

START_TEST(add_user_and_key)
{
	struct kr_user u, got;
	struct kr_access_key k, found;
	char secret[64];

	ck_assert_int_eq(kr_userdb_user_add(db, "alice", true, &u), 0);
	ck_assert_int_eq(strlen(u.account_id), 12);
	ck_assert(u.account_id[0] != '0');
	ck_assert(u.is_admin && u.enabled);
	ck_assert_int_eq(kr_userdb_key_create(db, "alice", &k), 0);
	ck_assert_int_eq(strlen(k.access_key), 20);
	ck_assert_int_eq(strncmp(k.access_key, "AKI", 3), 0);
	for (int i = 0; i < 20; i++)
		ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k.access_key[i]));
	ck_assert_int_eq(strlen(k.secret_key), 40);
	ck_assert_int_eq(kr_userdb_lookup(db, k.access_key, &found, &got), 0);
	ck_assert_str_eq(found.secret_key, k.secret_key);
	ck_assert_str_eq(got.name, "alice");
	ck_assert_str_eq(got.account_id, u.account_id);
	ck_assert_int_eq(kr_userdb_secret(db, k.access_key, secret, sizeof(secret)), 0);
	ck_assert_str_eq(secret, k.secret_key);
	ck_assert_int_eq(kr_userdb_secret(db, "AKINOSUCHKEY0000000", secret, sizeof(secret)), -1);
	ck_assert_int_eq(kr_userdb_secret(db, k.access_key, secret, 10), -1);
}
END_TEST

START_TEST(duplicate_and_bad_names)
{
	ck_assert_int_eq(kr_userdb_user_add(db, "bob", false, NULL), 0);
	ck_assert_int_eq(kr_userdb_user_add(db, "bob", false, NULL), -1);
	ck_assert_str_eq(kr_error_code(), "EntityAlreadyExists");
	ck_assert_int_eq(kr_userdb_user_add(db, "", false, NULL), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	ck_assert_int_eq(kr_userdb_user_add(db, "a b", false, NULL), -1);
	ck_assert_int_eq(kr_userdb_user_add(db, "x'; DROP TABLE users;--", false, NULL), -1);
	ck_assert_int_eq(kr_userdb_key_create(db, "nobody", NULL), -1);
	ck_assert_str_eq(kr_error_code(), "NoSuchEntity");
}
END_TEST

START_TEST(delete_cascades_to_keys)
{
	struct kr_access_key k1, k2;
	int n = 0;

	ck_assert_int_eq(kr_userdb_user_add(db, "carol", false, NULL), 0);
	ck_assert_int_eq(kr_userdb_user_add(db, "dave", false, NULL), 0);
	ck_assert_int_eq(kr_userdb_key_create(db, "carol", &k1), 0);
	ck_assert_int_eq(kr_userdb_key_create(db, "carol", &k2), 0);
	ck_assert_str_ne(k1.access_key, k2.access_key);
	ck_assert_int_eq(kr_userdb_key_list(db, "carol", count_key, &n), 0);
	ck_assert_int_eq(n, 2);
	n = 0;
	ck_assert_int_eq(kr_userdb_user_list(db, count_user, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(kr_userdb_user_delete(db, "carol"), 0);
	ck_assert_int_eq(kr_userdb_lookup(db, k1.access_key, NULL, NULL), -1);
	ck_assert_int_eq(kr_userdb_user_delete(db, "carol"), -1);
	ck_assert_str_eq(kr_error_code(), "NoSuchEntity");
	ck_assert_int_eq(kr_userdb_key_delete(db, k2.access_key), -1);
}
END_TEST

START_TEST(key_delete)
{
	struct kr_access_key k;

	ck_assert_int_eq(kr_userdb_user_add(db, "erin", false, NULL), 0);
	ck_assert_int_eq(kr_userdb_key_create(db, "erin", &k), 0);
	ck_assert_int_eq(kr_userdb_key_delete(db, k.access_key), 0);
	ck_assert_int_eq(kr_userdb_lookup(db, k.access_key, NULL, NULL), -1);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("userdb", &tc);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, add_user_and_key);
	tcase_add_test(tc, duplicate_and_bad_names);
	tcase_add_test(tc, delete_cascades_to_keys);
	tcase_add_test(tc, key_delete);
	return kr_check_run(s);
}
