/*
 * export.c - exports: ExportVolume, UnexportVolume (the operations
 * themselves: ops_export.c), and re-exporting at start.
 *
 * The AoE address is allocated here from the database, never by probing
 * the network: the lowest free shelf*16+slot, held by UNIQUE (shelf, slot).
 * Exporting an exported volume again keeps its address and replaces its
 * MAC list (the instance moved to another node).  Exports are state: a
 * restarted EBS (even after SIGKILL) serves them again before it answers
 * SOAP, so an initiator that was retransmitting simply carries on.
 */
#include <stdio.h>
#include <string.h>

#include "karriH.h"
#include "aoe/aoe.h"
#include "core/db.h"
#include "ops.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sizes.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

/* The lowest free address; 0 or -1 + kr_error. */
static int
allocate_address(sqlite3 *db, unsigned *shelf, unsigned *slot)
{
	sqlite3_stmt *st = NULL;
	unsigned want = 0;
	int r;

	if (kr_db_prepare(db, "SELECT shelf * 16 + slot FROM volumes "
	    "WHERE shelf IS NOT NULL ORDER BY 1", &st) < 0)
		return -1;
	while ((r = kr_db_step(st)) == 1) {
		unsigned used = (unsigned)sqlite3_column_int(st, 0);

		if (used > want)
			break;		/* a gap */
		want = used + 1;
	}
	sqlite3_finalize(st);
	if (r < 0)
		return -1;
	if (want >= EBS_SHELF_MAX * EBS_SLOTS) {
		kr_error("InsufficientCapacity", "no AoE address left");
		return -1;
	}
	*shelf = want / EBS_SLOTS;
	*slot = want % EBS_SLOTS;
	return 0;
}

/* Current address of an exported volume; 1 exported, 0 not, -1 error. */
static int
current_address(sqlite3 *db, const char *id, unsigned *shelf, unsigned *slot)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (kr_db_prepare(db, "SELECT shelf, slot FROM volumes WHERE id = ? AND "
	    "shelf IS NOT NULL", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	if (r == 1) {
		*shelf = (unsigned)sqlite3_column_int(st, 0);
		*slot = (unsigned)sqlite3_column_int(st, 1);
	}
	sqlite3_finalize(st);
	return r;
}

static int
record_export(sqlite3 *db, const char *id, unsigned shelf, unsigned slot, char **macs, int nmacs)
{
	sqlite3_stmt *st = NULL;
	int i, r;

	if (kr_db_prepare(db, "UPDATE volumes SET shelf = ?, slot = ?, status = 'in-use' "
	    "WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_int(st, 1, (int)shelf);
	sqlite3_bind_int(st, 2, (int)slot);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	sqlite3_finalize(st);
	if (r < 0)
		return -1;
	if (ebs_db_exec(db, "DELETE FROM volume_macs WHERE volume_id = ?", id, NULL) < 0)
		return -1;
	for (i = 0; i < nmacs; i++)
		if (ebs_db_exec(db, "INSERT OR IGNORE INTO volume_macs (volume_id, mac) "
		    "VALUES (?, ?)", id, macs[i]) < 0)
			return -1;
	return 0;
}

int
ebs_export_volume(struct ebs *e, struct soap *soap, struct _ebs__ExportVolume *req,
    struct _ebs__ExportVolumeResponse *resp)
{
	uint8_t macs[EBS_MACS_MAX][6];
	char path[KR_PATH_MAX], status[32], mac[18];
	char *norm[EBS_MACS_MAX];
	unsigned shelf = 0, slot = 0;
	long size;
	int i, r;

	if (e->target == NULL) {
		kr_error("InvalidConfiguration", "EBS_STORAGE_INTERFACE is not set: nothing serves AoE");
		return -1;
	}
	if (!kr_id_valid(req->volumeId, "vol")) {
		kr_error("InvalidParameterValue", "volumeId must be vol-XXXXXXXX");
		return -1;
	}
	if (req->__sizeallowedMacs < 1 || req->__sizeallowedMacs > EBS_MACS_MAX) {
		kr_error("InvalidParameterValue", "allowedMacs: 1 to %d initiator MACs", EBS_MACS_MAX);
		return -1;
	}
	for (i = 0; i < req->__sizeallowedMacs; i++) {
		if (kr_aoe_mac_parse(req->allowedMacs[i], macs[i]) < 0 || (macs[i][0] & 1)) {
			kr_error("InvalidParameterValue", "allowedMacs: '%s' is not a unicast MAC",
			    ebs_soap_string_ok(req->allowedMacs[i]) ? req->allowedMacs[i] : "?");
			return -1;
		}
		kr_aoe_mac_format(macs[i], mac);
		norm[i] = soap_strdup(soap, mac);
	}
	r = ebs_volume_lookup(e->db, req->volumeId, &size, status, sizeof(status));
	if (r == 0)
		kr_error("InvalidVolume.NotFound", "the volume '%s' does not exist", req->volumeId);
	if (r != 1)
		return -1;
	if (strcmp(status, "available") != 0 && strcmp(status, "in-use") != 0) {
		kr_error("IncorrectState", "the volume '%s' is %s", req->volumeId, status);
		return -1;
	}
	if (ebs_volume_path(e, req->volumeId, path, sizeof(path)) < 0 || kr_db_begin(e->db) < 0)
		return -1;
	r = current_address(e->db, req->volumeId, &shelf, &slot);
	if (r == 0)
		r = allocate_address(e->db, &shelf, &slot);
	if (r < 0 ||
	    record_export(e->db, req->volumeId, shelf, slot, norm, req->__sizeallowedMacs) < 0 ||
	    ebs_target_add(e->target, req->volumeId, path, shelf, slot,
	    (const uint8_t (*)[6])macs, (unsigned)req->__sizeallowedMacs, e->direct_io) < 0) {
		kr_db_rollback(e->db);
		return -1;
	}
	if (kr_db_commit(e->db) < 0) {
		ebs_target_remove(e->target, req->volumeId);
		return -1;
	}
	resp->shelf = (int)shelf;
	resp->slot = (int)slot;
	resp->interface = soap_strdup(soap, kr_config_get(e->cfg, "EBS_STORAGE_INTERFACE"));
	ebs_target_mac(e->target, mac);
	resp->targetMac = soap_strdup(soap, mac);
	resp->mtu = ebs_target_mtu(e->target);
	kr_log_info("exported %s as e%u.%u to %d initiator(s)", req->volumeId, shelf, slot,
	    req->__sizeallowedMacs);
	return 0;
}

int
ebs_unexport_volume(struct ebs *e, const char *id)
{
	char status[32];
	long size;
	int r;

	if (!kr_id_valid(id, "vol")) {
		kr_error("InvalidParameterValue", "volumeId must be vol-XXXXXXXX");
		return -1;
	}
	r = ebs_volume_lookup(e->db, id, &size, status, sizeof(status));
	if (r == 0)
		kr_error("InvalidVolume.NotFound", "the volume '%s' does not exist", id);
	if (r != 1)
		return -1;
	/* Stop serving first: after the answer no initiator can write. */
	if (e->target != NULL)
		ebs_target_remove(e->target, id);
	if (ebs_db_exec(e->db, "UPDATE volumes SET shelf = NULL, slot = NULL, status = 'available' "
	    "WHERE id = ? AND status = 'in-use'", id, NULL) < 0 ||
	    ebs_db_exec(e->db, "DELETE FROM volume_macs WHERE volume_id = ?", id, NULL) < 0)
		return -1;
	kr_log_info("unexported %s", id);
	return 0;
}

/* Load one volume's MACs; the count, or -1. */
static int
load_macs(sqlite3 *db, const char *id, uint8_t macs[EBS_MACS_MAX][6])
{
	sqlite3_stmt *st = NULL;
	int n = 0, r;

	if (kr_db_prepare(db, "SELECT mac FROM volume_macs WHERE volume_id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((r = kr_db_step(st)) == 1 && n < EBS_MACS_MAX)
		if (kr_aoe_mac_parse((const char *)sqlite3_column_text(st, 0), macs[n]) == 0)
			n++;
	sqlite3_finalize(st);
	return r < 0 ? -1 : n;
}

int
ebs_export_restore(struct ebs *e)
{
	sqlite3_stmt *st = NULL;
	int r, count = 0;

	if (kr_db_prepare(e->db, "SELECT id, shelf, slot FROM volumes "
	    "WHERE shelf IS NOT NULL", &st) < 0)
		return -1;
	while ((r = kr_db_step(st)) == 1) {
		char id[KR_ID_MAX], path[KR_PATH_MAX];
		uint8_t macs[EBS_MACS_MAX][6];
		unsigned shelf = (unsigned)sqlite3_column_int(st, 1);
		unsigned slot = (unsigned)sqlite3_column_int(st, 2);
		int n;

		snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
		if (e->target == NULL) {
			kr_log_warnx("%s is exported as e%u.%u but EBS_STORAGE_INTERFACE is not set",
			    id, shelf, slot);
			continue;
		}
		n = load_macs(e->db, id, macs);
		if (n <= 0 || ebs_volume_path(e, id, path, sizeof(path)) < 0 ||
		    ebs_target_add(e->target, id, path, shelf, slot,
		    (const uint8_t (*)[6])macs, (unsigned)n, e->direct_io) < 0) {
			kr_log_errorx("cannot re-export %s: %s", id, kr_error_message());
			continue;
		}
		count++;
	}
	sqlite3_finalize(st);
	if (count > 0)
		kr_log_info("re-exported %d volume(s)", count);
	return r < 0 ? -1 : 0;
}
