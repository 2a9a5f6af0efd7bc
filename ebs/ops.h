/*
 * ops.h - what the SOAP operations (ops_volume.c, ops_export.c,
 * ops_snapshot.c) call: the control-plane functions of volume.c, export.c
 * and snapshot.c that take the contract's types.  Apart from ebs.h so that
 * the data plane and the unit tests need no gSOAP types.  Each takes the
 * daemon (struct ebs, from ebs_from_soap) and returns 0 (snapshot_find: 1
 * found, 0 not), or -1 with kr_error set; the callers hold e->lock except
 * around ebs_snapshot_delete, which takes it itself.
 */
#ifndef KARRI_EBS_OPS_H
#define KARRI_EBS_OPS_H

#include "karriH.h"
#include "ebs.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

/* volume.c */
/* Fill a volumeType from the database; 0, or -1 + kr_error (not found too). */
int ebs_volume_load(struct ebs *e, struct soap *soap, const char *id, struct ebs__volumeType *v);
int ebs_volume_create(struct ebs *e, struct soap *soap, struct _ebs__CreateVolume *req,
    struct ebs__volumeType **out);
int ebs_volume_delete(struct ebs *e, const char *id);

/* export.c */
int ebs_export_volume(struct ebs *e, struct soap *soap, struct _ebs__ExportVolume *req,
    struct _ebs__ExportVolumeResponse *resp);
int ebs_unexport_volume(struct ebs *e, const char *id);

/* snapshot.c: the rows are read with EBS_SNAP_COLUMNS, one at a time by snapshot_load. */
#define EBS_SNAP_COLUMNS "SELECT id, volume_id, size_gib, status, start_time, progress, " \
	"reason, store FROM snapshots"
int ebs_snapshot_load(struct soap *soap, sqlite3_stmt *st, struct ebs__snapshotType *s);
int ebs_snapshot_find(struct ebs *e, struct soap *soap, const char *id,
    struct ebs__snapshotType *s);
int ebs_snapshot_create(struct ebs *e, struct soap *soap, struct _ebs__CreateSnapshot *req,
    struct ebs__snapshotType **out);
/* The objects go first: a record is never removed while its bytes may stay. */
int ebs_snapshot_delete(struct ebs *e, struct _ebs__DeleteSnapshot *req);

#endif
