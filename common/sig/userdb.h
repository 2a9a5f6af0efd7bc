/*
 * userdb.h - the front end's one user database (users and access keys).
 *
 * Walrus now, and the CLC later, authenticate requests against the same
 * sqlite file, $KARRI_HOME/var/lib/karri/users.db (config key USERS_DB), on
 * the same host; WAL lets the daemons and the `karri user` admin commands
 * read and write it concurrently.  A user has a name, a 12-digit account id
 * (as EC2 owner ids are), an admin flag and an enabled flag; a user holds
 * any number of access keys (20 upper-case characters starting "AKI", and a
 * 40-character secret).  Deleting a user deletes its keys.
 *
 * kr_userdb_secret() has the shape of kr_sig_secret_fn, so a front end
 * passes it straight to kr_sig_verify() with the database as context.
 */
#ifndef KARRI_USERDB_H
#define KARRI_USERDB_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <sqlite3.h>

#define KR_USER_NAME_MAX 64
#define KR_ACCOUNT_ID_LEN 12
#define KR_ACCESS_KEY_LEN 20
#define KR_SECRET_KEY_LEN 40

struct kr_user {
	char name[KR_USER_NAME_MAX + 1];
	char account_id[KR_ACCOUNT_ID_LEN + 1];
	bool is_admin;
	bool enabled;
	time_t created;
};

struct kr_access_key {
	char access_key[KR_ACCESS_KEY_LEN + 1];
	char secret_key[KR_SECRET_KEY_LEN + 1];
	char user[KR_USER_NAME_MAX + 1];
	bool active;
	time_t created;
};

/* Open (creating the file and migrating); -1 + kr_error. */
int kr_userdb_open(const char *path, sqlite3 **out);
void kr_userdb_close(sqlite3 *db);	/* NULL-safe */

/*
 * Names are 1..64 characters of [A-Za-z0-9_.@+=,-], as IAM user names.
 * -1 + kr_error: "InvalidParameterValue" (bad name), "EntityAlreadyExists".
 */
int kr_userdb_user_add(sqlite3 *db, const char *name, bool is_admin, struct kr_user *out);
/* -1 + kr_error("NoSuchEntity") when there is no such user. */
int kr_userdb_user_delete(sqlite3 *db, const char *name);
int kr_userdb_user_get(sqlite3 *db, const char *name, struct kr_user *out);

/* Every user, by name; the callback returns 0 to go on. */
typedef int (*kr_userdb_user_fn)(const struct kr_user *u, void *arg);
int kr_userdb_user_list(sqlite3 *db, kr_userdb_user_fn fn, void *arg);

/* A new active key for the user (NoSuchEntity when none). */
int kr_userdb_key_create(sqlite3 *db, const char *user, struct kr_access_key *out);
int kr_userdb_key_delete(sqlite3 *db, const char *access_key);

typedef int (*kr_userdb_key_fn)(const struct kr_access_key *k, void *arg);
int kr_userdb_key_list(sqlite3 *db, const char *user, kr_userdb_key_fn fn, void *arg);

/*
 * The active key's secret and user, when both key and user are active
 * and enabled: 0, or -1 without recording an error (unknown key), or -1
 * with kr_error("InternalError") when the database failed.
 */
int kr_userdb_lookup(sqlite3 *db, const char *access_key, struct kr_access_key *key,
    struct kr_user *user);

/* kr_sig_secret_fn over kr_userdb_lookup(); ctx is the sqlite3 *. */
int kr_userdb_secret(void *ctx, const char *access_key, char *secret, size_t secret_len);

#endif
