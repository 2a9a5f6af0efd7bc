/*
 * karri_cloud.c - `karri register-cloud / deregister-cloud / describe-clouds`
 * and the remote clouds' lines of `karri status`.
 *
 * A remote EC2-compatible cloud registered here becomes one more
 * availability zone of this cloud (see clc/clc_burst.h).  Like the other
 * registrations it is written straight into clc.db; the CLC reads it on
 * each call.  The secret key goes into the database and nowhere else: it
 * is never printed, and `--secret-key-file` keeps it off command lines
 * (which any local user can read in /proc).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clc_burst.h"
#include "core/config.h"
#include "core/db.h"
#include "core/error.h"
#include "karri_cmds.h"

#define MAX_MAPS 64
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"

struct cloud_args {
	const char *name, *endpoint, *region, *access, *secret_file, *policy, *zone;
	char secret[128];
	long timeout;
	const char *images[MAX_MAPS], *types[MAX_MAPS];
	int nimages, ntypes;
};

static bool
token_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n < max && strspn(s, NAME_CHARS) == n;
}

static bool
endpoint_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= 512 || (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8)))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* "LOCAL=REMOTE" with both sides plain tokens. */
static bool
map_ok(const char *s)
{
	const char *eq = strchr(s, '=');
	char local[128];

	if (eq == NULL || eq == s || (size_t)(eq - s) >= sizeof(local))
		return false;
	snprintf(local, sizeof(local), "%.*s", (int)(eq - s), s);
	return token_ok(local, 128) && token_ok(eq + 1, 128);
}

static int
read_secret(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (f == NULL) {
		fprintf(stderr, "karri: cannot read %s\n", path);
		return -1;
	}
	ok = fgets(out, (int)len, f) != NULL;
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return ok && *out ? 0 : -1;
}

static int
parse_args(int argc, char **argv, struct cloud_args *a)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' }, { "region", required_argument, NULL, 'r' },
		{ "access-key", required_argument, NULL, 'a' },
		{ "secret-key", required_argument, NULL, 's' },
		{ "secret-key-file", required_argument, NULL, 'S' },
		{ "policy", required_argument, NULL, 'p' }, { "zone", required_argument, NULL, 'z' },
		{ "timeout", required_argument, NULL, 't' }, { "image", required_argument, NULL, 'i' },
		{ "type", required_argument, NULL, 'T' }, { NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;	/* GNU getopt: start afresh after main()'s parse */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e': a->endpoint = optarg; break;
		case 'r': a->region = optarg; break;
		case 'a': a->access = optarg; break;
		case 's':
			snprintf(a->secret, sizeof(a->secret), "%s", optarg);
			explicit_bzero(optarg, strlen(optarg));	/* off `ps` from now on */
			break;
		case 'S': a->secret_file = optarg; break;
		case 'p': a->policy = optarg; break;
		case 'z': a->zone = optarg; break;
		case 't': a->timeout = strtol(optarg, NULL, 10); break;
		case 'i':
			if (a->nimages == MAX_MAPS || !map_ok(optarg))
				return -1;
			a->images[a->nimages++] = optarg;
			break;
		case 'T':
			if (a->ntypes == MAX_MAPS || !map_ok(optarg))
				return -1;
			a->types[a->ntypes++] = optarg;
			break;
		default: return -1;
		}
	}
	if (optind + 1 != argc)
		return -1;
	a->name = argv[optind];
	if (a->secret_file && read_secret(a->secret_file, a->secret, sizeof(a->secret)) < 0)
		return -1;
	return token_ok(a->name, 64) && a->name[0] != '.' && endpoint_ok(a->endpoint) &&
	    token_ok(a->region, 64) && token_ok(a->access, 128) && *a->secret &&
	    strlen(a->secret) < 127 && (!a->zone || token_ok(a->zone, 64)) &&
	    (strcmp(a->policy, "explicit") == 0 || strcmp(a->policy, "overflow") == 0) &&
	    a->timeout > 0 && a->timeout <= 600 ? 0 : -1;
}

static int
run3(sqlite3 *db, const char *sql, const char *a, const char *b, const char *c)
{
	return clc_db_run(db, sql, a, b, c) < 0 ? -1 : 0;
}

/* LOCAL=REMOTE pairs into remote_images or remote_types (replacing the old map). */
static int
write_map(sqlite3 *db, const char *cloud, const char *table, const char *const *maps, int n)
{
	char sql[200], local[128];

	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE cloud = ?", table);
	if (n && run3(db, sql, cloud, NULL, NULL) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (?, ?, ?)", table);
	for (int i = 0; i < n; i++) {
		const char *eq = strchr(maps[i], '=');

		snprintf(local, sizeof(local), "%.*s", (int)(eq - maps[i]), maps[i]);
		if (run3(db, sql, cloud, local, eq + 1) < 0)
			return -1;
	}
	return 0;
}

static int
store(sqlite3 *db, const struct cloud_args *a)
{
	sqlite3_stmt *st;
	char taken[64];
	int rc;

	if (clc_db_text(db, "SELECT name FROM services WHERE kind = 'cluster' AND name = ?",
	    a->name, NULL, taken, sizeof(taken)) != 0) {
		fprintf(stderr, "karri: %s is a cluster's zone already\n", a->name);
		return -1;
	}
	if (kr_db_begin(db) < 0 || kr_db_prepare(db, "INSERT INTO remote_clouds (name, endpoint,"
	    " region, access_key, secret_key, policy, remote_zone, timeout, registered)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (name) DO UPDATE SET"
	    " endpoint = ?2, region = ?3, access_key = ?4, secret_key = ?5, policy = ?6,"
	    " remote_zone = ?7, timeout = ?8", &st) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->endpoint, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a->region, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->access, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, a->secret, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, a->policy, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, a->zone, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, a->timeout);
	sqlite3_bind_int64(st, 9, (long)time(NULL));
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	if (rc < 0 || write_map(db, a->name, "remote_images", a->images, a->nimages) < 0 ||
	    write_map(db, a->name, "remote_types", a->types, a->ntypes) < 0 ||
	    kr_db_commit(db) < 0)
		goto fail;
	return 0;
fail:
	kr_db_rollback(db);
	fprintf(stderr, "karri: %s\n", kr_error_message());
	return -1;
}

/* Ask the remote who its zones are: reachability and credentials in one call. */
static int
ping(const struct clc_remote *c)
{
	struct clc_burst_params p;
	xmlDoc *doc;

	kr_error_clear();
	clc_burst_params_init(&p, "DescribeAvailabilityZones");
	if (clc_burst_call(c, &p, &doc) < 0)
		return -1;
	xmlFreeDoc(doc);
	return 0;
}

static int
register_cloud(sqlite3 *db, int argc, char **argv)
{
	struct cloud_args a = { .policy = "explicit", .timeout = 20 };
	struct clc_remote c;
	int rc = 0;

	if (parse_args(argc, argv, &a) < 0) {
		explicit_bzero(a.secret, sizeof(a.secret));
		fprintf(stderr, "usage: karri register-cloud NAME --endpoint URL --region REGION "
		    "--access-key KEY (--secret-key KEY | --secret-key-file FILE)\n"
		    "           [--policy explicit|overflow] [--zone REMOTE-ZONE] [--timeout S]\n"
		    "           [--image EMI=REMOTE-IMAGE]... [--type LOCAL=REMOTE-TYPE]...\n");
		return 2;
	}
	rc = store(db, &a);
	explicit_bzero(a.secret, sizeof(a.secret));
	if (rc < 0)
		return 1;
	printf("registered cloud %s at %s (region %s, policy %s): zone %s\n", a.name, a.endpoint,
	    a.region, a.policy, a.name);
	/* A remote that does not answer now is no reason to refuse: it is reported. */
	if (clc_burst_get(db, a.name, &c) != 1 || ping(&c) < 0)
		printf("warning: %s\n", kr_error_message());
	else
		printf("cloud %s answers and accepts the credentials\n", a.name);
	clc_burst_wipe(&c);
	return 0;
}

static int
deregister_cloud(sqlite3 *db, const char *name)
{
	char n[16] = "0";
	int changed;

	if (clc_db_text(db, "SELECT count(*) FROM instances WHERE zone = ? AND state NOT IN"
	    " ('terminated')", name, NULL, n, sizeof(n)) < 0)
		goto fail;
	if (strcmp(n, "0") != 0) {
		fprintf(stderr, "karri: %s instance(s) still run in cloud %s: terminate them "
		    "first\n", n, name);
		return 1;
	}
	if ((changed = clc_db_run(db, "DELETE FROM remote_clouds WHERE name = ?", name, NULL,
	    NULL)) < 0)
		goto fail;
	if (changed == 0) {
		fprintf(stderr, "karri: no cloud %s is registered\n", name);
		return 1;
	}
	printf("deregistered cloud %s\n", name);
	return 0;
fail:
	fprintf(stderr, "karri: %s\n", kr_error_message());
	return 1;
}

static void
print_maps(sqlite3 *db, const char *name)
{
	static const char *const sql[] = {
		"SELECT 'image', local_id, remote_id FROM remote_images WHERE cloud = ?"
		" ORDER BY local_id",
		"SELECT 'type', local_type, remote_type FROM remote_types WHERE cloud = ?"
		" ORDER BY local_type",
	};
	sqlite3_stmt *st;

	for (size_t i = 0; i < 2; i++) {
		if (kr_db_prepare(db, sql[i], &st) < 0)
			continue;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		while (kr_db_step(st) == 1)
			printf("  %-5s %s -> %s\n", sqlite3_column_text(st, 0),
			    sqlite3_column_text(st, 1), sqlite3_column_text(st, 2));
		sqlite3_finalize(st);
	}
}

/* Everything but the secret key. */
static int
describe_clouds(sqlite3 *db)
{
	sqlite3_stmt *st;

	if (kr_db_prepare(db, "SELECT name, endpoint, region, policy, coalesce(remote_zone,"
	    " '-'), timeout, access_key FROM remote_clouds ORDER BY name", &st) < 0)
		return 1;
	while (kr_db_step(st) == 1) {
		printf("cloud %s endpoint=%s region=%s policy=%s zone=%s timeout=%ds "
		    "access-key=%s\n", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
		    sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
		    sqlite3_column_text(st, 4), sqlite3_column_int(st, 5),
		    sqlite3_column_text(st, 6));
		print_maps(db, (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return 0;
}

int
karri_cmd_cloud(struct kr_config *cfg, const char *cmd, int argc, char **argv)
{
	sqlite3 *db = karri_open_clc_db(cfg);
	int rc = 2;

	if (db == NULL)
		return 1;
	if (strcmp(cmd, "register-cloud") == 0)
		rc = register_cloud(db, argc + 1, argv - 1);
	else if (strcmp(cmd, "deregister-cloud") == 0 && argc == 1)
		rc = deregister_cloud(db, argv[0]);
	else if (strcmp(cmd, "describe-clouds") == 0 && argc == 0)
		rc = describe_clouds(db);
	else
		fprintf(stderr, "usage: karri deregister-cloud NAME | describe-clouds\n");
	kr_db_close(db);
	return rc;
}

/* `karri status`: each remote cloud, whether it answers now, its instances here. */
int
karri_cloud_status(sqlite3 *db)
{
	struct clc_burst_state st[CLC_MAX_CLUSTERS];
	size_t n = clc_burst_states(db, st, CLC_MAX_CLUSTERS);
	int down = 0;

	for (size_t i = 0; i < n; i++) {
		struct clc_remote c;
		char count[16] = "0";
		bool up;

		if (clc_burst_get(db, st[i].name, &c) != 1)
			continue;
		clc_db_text(db, "SELECT count(*) FROM instances WHERE zone = ? AND state <>"
		    " 'terminated'", c.name, NULL, count, sizeof(count));
		up = ping(&c) == 0;
		printf("%-13s %-44s %-9s zone=%s policy=%s instances=%s%s%s\n", "cloud", c.endpoint,
		    up ? "UP" : "DOWN", c.name, c.policy, count, up ? "" : " ",
		    up ? "" : kr_error_message());
		down += !up;
		clc_burst_wipe(&c);
	}
	return down;
}
