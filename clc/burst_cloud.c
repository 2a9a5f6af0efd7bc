/*
 * burst_cloud.c - the registered remote clouds (remote_clouds in clc.db)
 * and their maps, as the CLC reads them.
 *
 * `karri register-cloud` writes the rows; the CLC reads them for each call
 * rather than caching them, so a registration is seen at once and the
 * secret key spends as little time as possible in memory (callers wipe
 * their copy with clc_burst_wipe()).  What the last poll learnt of each
 * cloud (reachable or why not) is kept here, in memory, like a cluster's.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clc_burst.h"
#include "core/db.h"
#include "core/error.h"

#define REMOTE_COLS "SELECT name, endpoint, region, access_key, secret_key, policy," \
	" coalesce(remote_zone, ''), timeout FROM remote_clouds"

static void
copy_col(sqlite3_stmt *st, int col, char *out, size_t len)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	snprintf(out, len, "%s", s ? (const char *)s : "");
}

static int
get_one(sqlite3 *db, const char *sql, const char *arg, struct clc_remote *out)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	if (kr_db_prepare(db, sql, &st) < 0)
		return -1;
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if ((rc = kr_db_step(st)) == 1) {
		copy_col(st, 0, out->name, sizeof(out->name));
		copy_col(st, 1, out->endpoint, sizeof(out->endpoint));
		copy_col(st, 2, out->region, sizeof(out->region));
		copy_col(st, 3, out->access_key, sizeof(out->access_key));
		copy_col(st, 4, out->secret_key, sizeof(out->secret_key));
		copy_col(st, 5, out->policy, sizeof(out->policy));
		copy_col(st, 6, out->zone, sizeof(out->zone));
		out->timeout = sqlite3_column_int(st, 7);
	}
	sqlite3_finalize(st);
	return rc;
}

int
clc_burst_get(sqlite3 *db, const char *name, struct clc_remote *out)
{
	if (name == NULL || *name == '\0') {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	return get_one(db, REMOTE_COLS " WHERE name = ?", name, out);
}

/* The overflow cloud (the first by name when there are several). */
int
clc_burst_overflow(sqlite3 *db, struct clc_remote *out)
{
	return get_one(db, REMOTE_COLS " WHERE policy = 'overflow' ORDER BY name LIMIT 1",
	    NULL, out);
}

void
clc_burst_wipe(struct clc_remote *c)
{
	explicit_bzero(c->secret_key, sizeof(c->secret_key));
}

int
clc_burst_identity(sqlite3 *db, char *out, size_t len)
{
	int rc = clc_db_text(db, "SELECT id FROM burst_identity LIMIT 1", NULL, NULL, out, len);

	if (rc == 0)
		kr_error("InternalError", "clc.db has no burst identity");
	return rc == 1 ? 0 : -1;
}

/*
 * remote_images or remote_types: the remote name of a local image or
 * type.  An unmapped type keeps its name; an unmapped image is an error
 * (images differ between clouds, and guessing would launch the wrong one).
 */
int
clc_burst_map(sqlite3 *db, const char *table, const char *cloud, const char *local,
    char *out, size_t len)
{
	bool image = strcmp(table, "remote_images") == 0;
	int rc = clc_db_text(db, image ? "SELECT remote_id FROM remote_images WHERE cloud = ?"
	    " AND local_id = ?" : "SELECT remote_type FROM remote_types WHERE cloud = ?"
	    " AND local_type = ?", cloud, local, out, len);

	if (rc == 0 && image)
		kr_error("InvalidAMIID.NotFound", "The image %s has no counterpart in the cloud %s "
		    "(karri register-cloud %s --image %s=REMOTE-ID)", local, cloud, cloud, local);
	else if (rc == 0)
		snprintf(out, len, "%s", local);
	return rc < 0 ? -1 : rc == 1 || !image ? 0 : -1;
}

/* 1 (cloud and remote id filled) for a burst instance, 0 for a local one. */
int
clc_burst_remote_id(sqlite3 *db, const char *local_id, char *cloud, size_t clen,
    char *remote_id, size_t rlen)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "SELECT cloud, remote_id FROM remote_instances WHERE id = ?",
	    &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, local_id, -1, SQLITE_STATIC);
	if ((rc = kr_db_step(st)) == 1) {
		copy_col(st, 0, cloud, clen);
		copy_col(st, 1, remote_id, rlen);
	}
	sqlite3_finalize(st);
	return rc;
}

static struct clc_burst_state seen[CLC_MAX_CLUSTERS];

void
clc_burst_set_state(const char *name, bool up, const char *why)
{
	size_t i, free_slot = CLC_MAX_CLUSTERS;

	for (i = 0; i < CLC_MAX_CLUSTERS; i++) {
		if (strcmp(seen[i].name, name) == 0)
			break;
		if (!*seen[i].name && free_slot == CLC_MAX_CLUSTERS)
			free_slot = i;
	}
	if (i == CLC_MAX_CLUSTERS && (i = free_slot) == CLC_MAX_CLUSTERS)
		return;
	snprintf(seen[i].name, sizeof(seen[i].name), "%s", name);
	seen[i].up = up;
	seen[i].checked = true;
	/* A hung remote costs the CLC (one thread) a timeout per poll: ask it less often. */
	seen[i].retry_at = up ? 0 : time(NULL) + CLC_BURST_DOWN_RETRY_S;
	snprintf(seen[i].why, sizeof(seen[i].why), "%s", why ? why : "");
}

/* Every registered remote cloud with what the last poll learnt of it. */
size_t
clc_burst_states(sqlite3 *db, struct clc_burst_state *out, size_t max)
{
	sqlite3_stmt *st;
	size_t n = 0;

	if (kr_db_prepare(db, "SELECT name FROM remote_clouds ORDER BY name", &st) < 0)
		return 0;
	while (n < max && kr_db_step(st) == 1) {
		memset(&out[n], 0, sizeof(out[n]));
		copy_col(st, 0, out[n].name, sizeof(out[n].name));
		for (size_t i = 0; i < CLC_MAX_CLUSTERS; i++)
			if (strcmp(seen[i].name, out[n].name) == 0)
				out[n] = seen[i];
		n++;
	}
	sqlite3_finalize(st);
	return n;
}
