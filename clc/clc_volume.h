/*
 * clc_volume.h - volumes and snapshots: the calls to EBS (client_ebs.c),
 * and the rows the volume, attach and snapshot actions share
 * (db_volume_rows.c, action_snapshot.c, action_attach.c).
 */
#ifndef KARRI_CLC_VOLUME_H
#define KARRI_CLC_VOLUME_H

#include "karriH.h"
#include "clc.h"
#include "clc_backend.h"
#include "core/sizes.h"

/*
 * client_ebs.c: the URL of the EBS of zone (NULL: any EBS), and when key is not NULL its
 * backend key (CLC_BACKEND_KEY_MAX, "ebs:<name>"): 0, or -1 + Unsupported
 * (no EBS serves that zone).
 */
int clc_ebs_url(struct clc *clc, const char *zone, char *url, size_t len, char *key);
struct soap *clc_ebs_soap(struct clc *clc);
/*
 * A call to EBS about one volume or snapshot (client_ebs.c): made on the
 * loop with the URL and a gSOAP context (whose memory holds the presigned
 * URLs), called on a worker, freed by the deferral (clc_backend.h).
 */
struct clc_ebs_job {
	struct clc *clc;
	char id[32], url[300], corr[KR_UUID_MAX], user[16];
	char backend[CLC_BACKEND_KEY_MAX];	/* this EBS's queue */
	char snapshot[32], volume[32];
	long size;
	struct soap *soap;
	char **urls, *bucket_url;
	int nurls;
};
/* zone: the volume's (or snapshot's) zone, whose EBS is called; NULL: any EBS. */
struct clc_ebs_job *clc_ebs_job_new(struct clc_req *r, const char *id, const char *zone);
void clc_ebs_job_free(void *arg);
/* action_attach.c: the NC's attachment word (phy, nbd, guest...) as karri:path shows it. */
const char *clc_attach_path(const char *nc_attachment);
/* db_volume_rows.c (clc_volume_*), action_snapshot.c (clc_snapshot_*) */
int clc_volume_owned(struct clc_req *r, const char *id, char *status, size_t slen,
    char *instance, size_t ilen);
int clc_snapshot_owned(struct clc_req *r, const char *id, long *size);
/* The zone whose EBS made the snapshot: 1, 0 when unknown (before schema v7), -1. */
int clc_snapshot_zone(sqlite3 *db, const char *id, char *zone, size_t len);
/* The volume's zone (any owner's): 0, or -1 + InvalidVolume.NotFound. */
int clc_volume_zone(sqlite3 *db, const char *id, char *zone, size_t len);

/*
 * client_ebs.c: snapshots live in Walrus, in the bucket CLC_SNAPSHOT_BUCKET of the
 * cloud's own user (clc_walrus.h), one object per EBS_SNAPSHOT_SEGMENT_GIB
 * of the volume: the first named after the snapshot, the next ones
 * "<id>.1", "<id>.2"...  EBS gets presigned URLs for them; PUTs and GETs
 * are good for CLC_SNAPSHOT_URL_S (an upload or a fill may wait behind
 * others, or restart with EBS), DELETEs are used at once.
 */
#define CLC_SNAPSHOT_BUCKET "karri-snapshots"
#define CLC_SNAPSHOT_URL_S (7 * 24 * 3600)
#define CLC_SNAPSHOT_DELETE_URL_S 600
/*
 * The URLs for `method` on the objects of a snapshot of size_gib, in the
 * soap's memory: *n 0 (and 0 returned) when no Walrus is registered, EBS
 * then keeps the snapshot itself.  -1 + kr_error.
 */
int clc_snapshot_urls(struct clc *clc, sqlite3 *db, struct soap *soap, const char *method,
    const char *snapshot_id, long size_gib, char ***urls, int *n);
/* The GETs a volume made from the caller's snapshot is filled with (action_snapshot.c). */
int clc_snapshot_source_urls(struct clc_req *r, struct soap *soap, const char *snapshot_id,
    char ***urls, int *n);
/* The presigned PUT that makes the snapshot bucket (an owned one is fine). */
int clc_snapshot_bucket_url(struct clc *clc, sqlite3 *db, struct soap *soap, char **url);

/* client_ebs.c: refresh volumes and snapshots in a transitional state from EBS. */
void clc_volumes_poll(struct clc *clc);

#endif
