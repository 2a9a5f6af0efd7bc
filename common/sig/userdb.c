/*
 * userdb.c - users and access keys in sqlite (see userdb.h).
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "core/db.h"
#include "core/error.h"
#include "sig/userdb.h"

static const struct kr_db_migration migrations[] = {
	{ 1,
	  "CREATE TABLE users ("
	  " name TEXT PRIMARY KEY,"
	  " account_id TEXT NOT NULL UNIQUE,"
	  " is_admin INTEGER NOT NULL DEFAULT 0,"
	  " enabled INTEGER NOT NULL DEFAULT 1,"
	  " created INTEGER NOT NULL);"
	  "CREATE TABLE access_keys ("
	  " access_key TEXT PRIMARY KEY,"
	  " secret_key TEXT NOT NULL,"
	  " user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
	  " active INTEGER NOT NULL DEFAULT 1,"
	  " created INTEGER NOT NULL);"
	  "CREATE INDEX access_keys_user ON access_keys(user);" },
};

int
kr_userdb_open(const char *path, sqlite3 **out)
{
	return kr_db_open(path, migrations, sizeof(migrations) / sizeof(migrations[0]), out);
}

void
kr_userdb_close(sqlite3 *db)
{
	kr_db_close(db);
}

/* n characters drawn uniformly from alphabet (rejection sampling, no modulo bias). */
static int
random_chars(char *out, size_t n, const char *alphabet)
{
	size_t alen = strlen(alphabet), limit = 256 - 256 % alen, i = 0;
	unsigned char r[64];

	while (i < n) {
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
			kr_error_errno("InternalError", "getrandom");
			return -1;
		}
		for (size_t j = 0; j < sizeof(r) && i < n; j++)
			if (r[j] < limit)
				out[i++] = alphabet[r[j] % alen];
	}
	out[n] = '\0';
	explicit_bzero(r, sizeof(r));
	return 0;
}

static bool
valid_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > KR_USER_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("_.@+=,-", c)))
			return false;
	}
	return true;
}

static void
copy_text(char *dst, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static void
row_user(sqlite3_stmt *st, struct kr_user *u)
{
	copy_text(u->name, sizeof(u->name), st, 0);
	copy_text(u->account_id, sizeof(u->account_id), st, 1);
	u->is_admin = sqlite3_column_int(st, 2) != 0;
	u->enabled = sqlite3_column_int(st, 3) != 0;
	u->created = (time_t)sqlite3_column_int64(st, 4);
}

static void
row_key(sqlite3_stmt *st, struct kr_access_key *k)
{
	copy_text(k->access_key, sizeof(k->access_key), st, 0);
	copy_text(k->secret_key, sizeof(k->secret_key), st, 1);
	copy_text(k->user, sizeof(k->user), st, 2);
	k->active = sqlite3_column_int(st, 3) != 0;
	k->created = (time_t)sqlite3_column_int64(st, 4);
}

int
kr_userdb_user_add(sqlite3 *db, const char *name, bool is_admin, struct kr_user *out)
{
	sqlite3_stmt *st = NULL;
	struct kr_user u = { .is_admin = is_admin, .enabled = true, .created = time(NULL) };
	int rc = -1;

	if (!valid_name(name)) {
		kr_error("InvalidParameterValue", "user name must be 1-%d characters of "
		    "A-Z a-z 0-9 _.@+=,-", KR_USER_NAME_MAX);
		return -1;
	}
	snprintf(u.name, sizeof(u.name), "%s", name);
	if (kr_db_prepare(db, "INSERT INTO users(name, account_id, is_admin, enabled, created)"
	    " VALUES (?, ?, ?, 1, ?)", &st) < 0)
		return -1;
	for (int tries = 0; tries < 8; tries++) {
		/* An account id never starts with 0, so it survives being read as a number. */
		if (random_chars(u.account_id, 1, "123456789") < 0 ||
		    random_chars(u.account_id + 1, KR_ACCOUNT_ID_LEN - 1, "0123456789") < 0)
			goto out;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, u.name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, u.account_id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, is_admin);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)u.created);
		if (kr_db_step(st) == 0) {
			rc = 0;
			break;
		}
		if (!kr_db_unique_violation(db))
			goto out;
		if (kr_userdb_user_get(db, name, NULL) == 0) {
			kr_error("EntityAlreadyExists", "user %s already exists", name);
			goto out;
		}
		/* else the account id collided: draw another */
	}
	if (rc == 0 && out)
		*out = u;
out:
	sqlite3_finalize(st);
	return rc;
}

int
kr_userdb_user_delete(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (kr_db_prepare(db, "DELETE FROM users WHERE name = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (kr_db_step(st) < 0)
		goto out;
	if (sqlite3_changes(db) == 0) {
		kr_error("NoSuchEntity", "no user %s", name);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int
kr_userdb_user_get(sqlite3 *db, const char *name, struct kr_user *out)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, r;

	if (kr_db_prepare(db, "SELECT name, account_id, is_admin, enabled, created FROM users"
	    " WHERE name = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	if (r == 1) {
		if (out)
			row_user(st, out);
		rc = 0;
	} else if (r == 0)
		kr_error("NoSuchEntity", "no user %s", name);
	sqlite3_finalize(st);
	return rc;
}

int
kr_userdb_user_list(sqlite3 *db, kr_userdb_user_fn fn, void *arg)
{
	sqlite3_stmt *st = NULL;
	struct kr_user u;
	int r;

	if (kr_db_prepare(db, "SELECT name, account_id, is_admin, enabled, created FROM users"
	    " ORDER BY name", &st) < 0)
		return -1;
	while ((r = kr_db_step(st)) == 1) {
		row_user(st, &u);
		if (fn(&u, arg) != 0)
			break;
	}
	sqlite3_finalize(st);
	return r < 0 ? -1 : 0;
}

int
kr_userdb_key_create(sqlite3 *db, const char *user, struct kr_access_key *out)
{
	static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static const char secret[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct kr_access_key k = { .active = true, .created = time(NULL) };
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (kr_userdb_user_get(db, user, NULL) < 0)
		return -1;
	snprintf(k.user, sizeof(k.user), "%s", user);
	if (kr_db_prepare(db, "INSERT INTO access_keys(access_key, secret_key, user, active,"
	    " created) VALUES (?, ?, ?, 1, ?)", &st) < 0)
		return -1;
	for (int tries = 0; tries < 8 && rc < 0; tries++) {
		memcpy(k.access_key, "AKI", 3);
		if (random_chars(k.access_key + 3, KR_ACCESS_KEY_LEN - 3, upper) < 0 ||
		    random_chars(k.secret_key, KR_SECRET_KEY_LEN, secret) < 0)
			break;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, k.access_key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, k.secret_key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, k.user, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)k.created);
		if (kr_db_step(st) == 0)
			rc = 0;
		else if (!kr_db_unique_violation(db))
			break;
	}
	sqlite3_finalize(st);
	if (rc == 0 && out)
		*out = k;
	explicit_bzero(&k, sizeof(k));
	return rc;
}

int
kr_userdb_key_delete(sqlite3 *db, const char *access_key)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (kr_db_prepare(db, "DELETE FROM access_keys WHERE access_key = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, access_key, -1, SQLITE_STATIC);
	if (kr_db_step(st) == 0) {
		if (sqlite3_changes(db) == 0)
			kr_error("NoSuchEntity", "no access key %s", access_key);
		else
			rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

int
kr_userdb_key_list(sqlite3 *db, const char *user, kr_userdb_key_fn fn, void *arg)
{
	sqlite3_stmt *st = NULL;
	struct kr_access_key k;
	int r;

	if (kr_userdb_user_get(db, user, NULL) < 0)
		return -1;
	if (kr_db_prepare(db, "SELECT access_key, secret_key, user, active, created"
	    " FROM access_keys WHERE user = ? ORDER BY created, access_key", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	while ((r = kr_db_step(st)) == 1) {
		row_key(st, &k);
		if (fn(&k, arg) != 0)
			break;
	}
	explicit_bzero(&k, sizeof(k));
	sqlite3_finalize(st);
	return r < 0 ? -1 : 0;
}

int
kr_userdb_lookup(sqlite3 *db, const char *access_key, struct kr_access_key *key,
    struct kr_user *user)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (kr_db_prepare(db, "SELECT k.access_key, k.secret_key, k.user, k.active, k.created,"
	    " u.name, u.account_id, u.is_admin, u.enabled, u.created"
	    " FROM access_keys k JOIN users u ON u.name = k.user"
	    " WHERE k.access_key = ? AND k.active AND u.enabled", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, access_key, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	if (r == 1) {
		if (key)
			row_key(st, key);
		if (user) {
			copy_text(user->name, sizeof(user->name), st, 5);
			copy_text(user->account_id, sizeof(user->account_id), st, 6);
			user->is_admin = sqlite3_column_int(st, 7) != 0;
			user->enabled = sqlite3_column_int(st, 8) != 0;
			user->created = (time_t)sqlite3_column_int64(st, 9);
		}
	}
	sqlite3_finalize(st);
	return r == 1 ? 0 : -1;
}

int
kr_userdb_secret(void *ctx, const char *access_key, char *secret, size_t secret_len)
{
	struct kr_access_key k;
	int rc = -1;

	if (kr_userdb_lookup(ctx, access_key, &k, NULL) == 0 && strlen(k.secret_key) < secret_len) {
		memcpy(secret, k.secret_key, strlen(k.secret_key) + 1);
		rc = 0;
	}
	explicit_bzero(&k, sizeof(k));
	return rc;
}
