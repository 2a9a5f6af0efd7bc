/*
 * db_volume_rows.c - the caller's volume and a volume's zone, read from
 * clc.db: what the volume actions (action_volume.c, action_attach.c) and
 * the snapshot actions (action_snapshot.c) all need, kept below them so
 * that neither family calls into the other's file for it.
 */
#include <stdio.h>

#include "clc.h"
#include "clc_volume.h"
#include "core/db.h"
#include "core/error.h"

int
clc_volume_zone(sqlite3 *db, const char *id, char *zone, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "SELECT zone FROM volumes WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = kr_db_step(st)) == 1)
		snprintf(zone, len, "%s", sqlite3_column_text(st, 0));
	else if (rc == 0)
		kr_error("InvalidVolume.NotFound", "The volume '%s' does not exist.", id);
	sqlite3_finalize(st);
	return rc == 1 ? 0 : -1;
}

/* The caller's volume: 0 with its status and instance, or -1 + NotFound/Malformed. */
int
clc_volume_owned(struct clc_req *r, const char *id, char *status, size_t slen,
    char *instance, size_t ilen)
{
	sqlite3_stmt *st;
	int rc;

	if (clc_check_id("VolumeId", id, "vol", "InvalidVolumeID.Malformed") < 0 ||
	    kr_db_prepare(r->db, "SELECT status, coalesce(instance_id, '') FROM volumes"
	    " WHERE id = ? AND (owner = ? OR ?)", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, r->admin);
	if ((rc = kr_db_step(st)) == 1) {
		snprintf(status, slen, "%s", sqlite3_column_text(st, 0));
		snprintf(instance, ilen, "%s", sqlite3_column_text(st, 1));
	} else if (rc == 0)
		kr_error("InvalidVolume.NotFound", "The volume '%s' does not exist.", id);
	sqlite3_finalize(st);
	return rc == 1 ? 0 : -1;
}
