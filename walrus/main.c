/*
 * main.c - karri-walrus: the S3-compatible object store.
 *
 * Start-up opens the user database shared with the CLC (USERS_DB) and
 * Walrus's own (WALRUS_DB), sweeps what a crash may have left in
 * WALRUS_STORAGE_DIR, and serves S3 and SOAP on WALRUS_PORT with kr_httpd,
 * which streams bodies instead of buffering them.
 */
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "daemon/daemon.h"
#include "core/error.h"
#include "http/httpd.h"
#include "core/log.h"
#include "core/sizes.h"
#include "walrus.h"

static void
ensure_parent(const char *path)
{
	char dir[KR_DIR_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		kr_mkdir_p(dir);
	}
}

/* Walrus needs nothing of root's: it runs as EUCA_USER with these (daemon.h). */
static const struct kr_daemon_path walrus_user_paths[] = {
	{ "WALRUS_DB", KR_OWN_DB },
	{ "USERS_DB", KR_OWN_DB },
	{ "WALRUS_STORAGE_DIR", KR_OWN_DIR },
	{ "KARRI_CLOUD_KEY", KR_OWN_FILE },	/* decrypts image bundles */
	{ "KARRI_CLOUD_CERT", KR_OWN_FILE },
	{ NULL, KR_OWN_FILE },
};

int
main(int argc, char **argv)
{
	struct kr_daemon d = {
		.name = "karri-walrus",
		.port_key = "WALRUS_PORT",
		.summary = "Karri Walrus: S3-compatible storage for images, snapshots and user data",
		.user_paths = walrus_user_paths,
	};
	struct walrus w = { .daemon = &d };
	const struct kr_httpd_opts opts = { .timeout_s = 120 };
	const char *users, *db;
	char why[1400];

	kr_daemon_start(&d, argc, argv);
	users = kr_config_get(d.cfg, "USERS_DB");
	db = kr_config_get(d.cfg, "WALRUS_DB");
	snprintf(w.storage, sizeof(w.storage), "%s", kr_config_get(d.cfg, "WALRUS_STORAGE_DIR"));
	w.bucket_quota = (uint64_t)kr_config_int(d.cfg, "WALRUS_BUCKET_QUOTA") << 20;
	w.user_quota = (uint64_t)kr_config_int(d.cfg, "WALRUS_USER_QUOTA") << 20;
	w.image_cache_max = (uint64_t)kr_config_int(d.cfg, "WALRUS_IMAGE_CACHE_SIZE") << 20;
	snprintf(w.cloud_key, sizeof(w.cloud_key), "%s", kr_config_get(d.cfg, "KARRI_CLOUD_KEY"));
	ensure_parent(users);
	ensure_parent(db);
	if (kr_userdb_open(users, &w.users) < 0) {
		snprintf(why, sizeof(why), "USERS_DB %s: %s", users, kr_error_message());
		kr_daemon_fatal(&d, why);
	}
	if (wl_store_open(&w, db) < 0) {
		snprintf(why, sizeof(why), "Walrus storage (%s, %s): %s", db, w.storage,
		    kr_error_message());
		kr_daemon_fatal(&d, why);
	}
	if (wl_image_cache_open(&w) < 0) {
		snprintf(why, sizeof(why), "image cache in %s: %s", w.storage, kr_error_message());
		kr_daemon_fatal(&d, why);
	}
	kr_log_info("objects in %s, quotas: bucket %llu MiB, user %llu MiB (0: none)", w.storage,
	    (unsigned long long)(w.bucket_quota >> 20), (unsigned long long)(w.user_quota >> 20));
	kr_httpd_serve_daemon(&d, &opts, wl_route, &w);
	wl_store_close(&w);
	kr_userdb_close(w.users);
	kr_daemon_finish(&d);
	return 0;
}
