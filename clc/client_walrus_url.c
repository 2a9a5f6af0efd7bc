/*
 * client_walrus_url.c - presigned URLs of the registered Walrus (clc_walrus.h).
 *
 * The CLC signs with an identity of the cloud itself: the admin user
 * CLC_SYSTEM_USER in users.db, which Walrus shares, so Walrus accepts its
 * signatures like any admin's.  The CLC makes the user and a key on first
 * use (and again if an operator deleted them); its secret is read from
 * users.db per signature and never logged or answered.  Nodes and EBS get
 * URLs that are good for a bounded time and one method on one object, so
 * they need no key of their own.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "clc.h"
#include "clc_walrus.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "sig/sign.h"
#include "core/uri.h"
#include "sig/userdb.h"

static int
first_active(const struct kr_access_key *k, void *arg)
{
	struct kr_access_key *out = arg;

	if (k->active && !out->access_key[0])
		*out = *k;
	return 0;
}

/* The system user's active key, made (with the user) when missing. */
static int
system_key(struct clc *clc, struct kr_access_key *key)
{
	struct kr_user u;

	memset(key, 0, sizeof(*key));
	if (kr_userdb_user_get(clc->users, CLC_SYSTEM_USER, &u) < 0) {
		if (strcmp(kr_error_code(), "NoSuchEntity") != 0)
			return -1;
		kr_error_clear();
		if (kr_userdb_user_add(clc->users, CLC_SYSTEM_USER, true, &u) < 0)
			return -1;
		kr_log_info("made the cloud's own admin user %s (it signs requests to Walrus)",
		    CLC_SYSTEM_USER);
	}
	if (!u.is_admin || !u.enabled) {
		kr_error("InternalError", "user %s must be an enabled admin: the CLC signs Walrus "
		    "requests with it", CLC_SYSTEM_USER);
		return -1;
	}
	if (kr_userdb_key_list(clc->users, CLC_SYSTEM_USER, first_active, key) < 0)
		return -1;
	if (!key->access_key[0] && kr_userdb_key_create(clc->users, CLC_SYSTEM_USER, key) < 0)
		return -1;
	return 0;
}

/* b made, starting with http://host:port of the registered Walrus (the first by name). */
static int
walrus_base(sqlite3 *db, struct kr_buf *b)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "SELECT host, port FROM services WHERE kind = 'walrus'"
	    " ORDER BY name LIMIT 1", &st) < 0)
		return -1;
	if ((rc = kr_db_step(st)) == 1) {
		char base[300];

		snprintf(base, sizeof(base), "http://%s:%d",
		    (const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1));
		kr_buf_init(b, 8192);
		kr_buf_add(b, base);
	}
	sqlite3_finalize(st);
	if (rc == 0)
		kr_error("InvalidParameterValue", "no Walrus is registered with this cloud "
		    "(karri register-walrus)");
	return rc == 1 ? 0 : -1;
}

/* Sign the unsigned URL in `b` with the system key into url[len]; b is freed. */
static int
presign(struct clc *clc, const char *method, struct kr_buf *b, unsigned expires_s,
    char *url, size_t len)
{
	struct kr_access_key key;
	struct kr_sign_creds c = { NULL, NULL, CLC_REGION, "s3" };
	int rc = -1;

	if (kr_buf_failed(b)) {
		kr_error("InvalidParameterValue", "the Walrus URL is too long");
		goto done;
	}
	if (system_key(clc, &key) < 0)
		goto done;
	c.access_key = key.access_key;
	c.secret_key = key.secret_key;
	rc = kr_sign_presign_url(&c, method, kr_buf_str(b), time(NULL), expires_s, url, len);
	OPENSSL_cleanse(&key, sizeof(key));
done:
	kr_buf_free(b);
	return rc;
}

int
clc_walrus_presign(struct clc *clc, sqlite3 *db, const char *method, const char *bucket,
    const char *key, unsigned expires_s, char *url, size_t len)
{
	struct kr_buf b = KR_BUF_INIT;

	if (walrus_base(db, &b) < 0)
		return -1;
	kr_buf_add(&b, "/services/Walrus/");
	kr_uri_encode(&b, bucket, strlen(bucket), 0);
	if (key) {
		kr_buf_add_char(&b, '/');
		kr_uri_encode(&b, key, strlen(key), KR_URI_KEEP_SLASH);
	}
	return presign(clc, method, &b, expires_s, url, len);
}

int
clc_walrus_presign_op(struct clc *clc, sqlite3 *db, const char *op, const char *bucket,
    const char *key, const char *extra_query, unsigned expires_s, char *url, size_t len)
{
	struct kr_buf b = KR_BUF_INIT;

	if (walrus_base(db, &b) < 0)
		return -1;
	kr_buf_addf(&b, "/services/Karri/%s?bucket=", op);
	kr_uri_encode(&b, bucket, strlen(bucket), 0);
	kr_buf_add(&b, "&key=");
	kr_uri_encode(&b, key, strlen(key), 0);
	if (extra_query)
		kr_buf_addf(&b, "&%s", extra_query);
	return presign(clc, "GET", &b, expires_s, url, len);
}
