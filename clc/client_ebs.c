/*
 * client_ebs.c - calling the elastic block storage service
 * (wsdl/karri-ebs.h), and the poll that moves volumes and snapshots out
 * of their transitional states (creating, deleting, pending).
 *
 * Snapshots go to Walrus when one is registered: EBS holds no keys, so
 * the requests carry URLs presigned here (clc_snapshot_urls).
 *
 * Each availability zone has its own EBS (`karri register-ebs --zone`): AoE
 * does not cross a router, so a volume lives on the EBS of its zone and
 * every call about it goes there (clc_ebs_url).
 *
 * Errors a user sees: no EBS in the zone, or an EBS that does not implement
 * the operation yet -> "Unsupported" (400: retrying will not help); an EBS
 * that cannot be reached -> "Unavailable" (503) (clc_soap_check).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clc_backend.h"
#include "clc_cc.h"
#include "clc_volume.h"
#include "clc_walrus.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sizes.h"

/*
 * A zone's EBS: the one registered for it, else the cloud-wide one (zone
 * '': registered before the cloud had zones, db_schema.c v7).  One EBS per
 * zone is `karri register-ebs`'s rule; ORDER BY only makes the choice
 * stable.  zone NULL: the first EBS (a snapshot from before v7).
 */
int
clc_ebs_url(struct clc *clc, const char *zone, char *url, size_t len, char *key)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(clc->db, "SELECT host, port, scheme, name FROM services"
	    " WHERE kind = 'ebs' AND (?1 IS NULL OR zone = ?1 OR zone = '')"
	    " ORDER BY zone = '', name LIMIT 1", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	if (rc == 1) {	/* https: mutual TLS as registered (client_cc.c) */
		snprintf(url, len, "%s://%s:%d/", sqlite3_column_text(st, 2),
		    sqlite3_column_text(st, 0), sqlite3_column_int(st, 1));
		if (key)	/* one queue per EBS: a stopped one holds up only its zone */
			clc_backend_key(key, "ebs", (const char *)sqlite3_column_text(st, 3));
	}
	sqlite3_finalize(st);
	if (rc == 0 && zone)
		kr_error("Unsupported", "no block storage service in zone %.64s (karri "
		    "register-ebs NAME HOST --zone %.64s)", zone, zone);
	else if (rc == 0)
		kr_error("Unsupported", "no block storage service is registered with this cloud "
		    "(karri register-ebs)");
	return rc == 1 ? 0 : -1;
}

struct soap *
clc_ebs_soap(struct clc *clc)
{
	return clc_cc_soap(clc);
}

static int
walrus_registered(sqlite3 *db)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "SELECT 1 FROM services WHERE kind = 'walrus' LIMIT 1", &st) < 0)
		return -1;
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc;
}

int
clc_snapshot_urls(struct clc *clc, sqlite3 *db, struct soap *soap, const char *method,
    const char *snapshot_id, long size_gib, char ***urls, int *n)
{
	long count = (size_gib + EBS_SNAPSHOT_SEGMENT_GIB - 1) / EBS_SNAPSHOT_SEGMENT_GIB;
	unsigned expires = strcmp(method, "DELETE") == 0 ? CLC_SNAPSHOT_DELETE_URL_S :
	    CLC_SNAPSHOT_URL_S;
	char key[64], url[2048];
	int rc;

	*n = 0;
	*urls = NULL;
	if ((rc = walrus_registered(db)) <= 0)
		return rc;
	if (count < 1 || count > 1024) {
		kr_error("InvalidParameterValue", "a snapshot of %ld GiB cannot be stored", size_gib);
		return -1;
	}
	if ((*urls = soap_malloc(soap, (size_t)count * sizeof(**urls))) == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	for (long i = 0; i < count; i++) {
		if (i == 0)
			snprintf(key, sizeof(key), "%s", snapshot_id);
		else
			snprintf(key, sizeof(key), "%s.%ld", snapshot_id, i);
		if (clc_walrus_presign(clc, db, method, CLC_SNAPSHOT_BUCKET, key, expires, url,
		    sizeof(url)) < 0)
			return -1;
		(*urls)[i] = soap_strdup(soap, url);
	}
	*n = (int)count;
	return 0;
}

int
clc_snapshot_bucket_url(struct clc *clc, sqlite3 *db, struct soap *soap, char **url)
{
	char buf[2048];

	if (clc_walrus_presign(clc, db, "PUT", CLC_SNAPSHOT_BUCKET, NULL, CLC_SNAPSHOT_URL_S,
	    buf, sizeof(buf)) < 0)
		return -1;
	*url = soap_strdup(soap, buf);
	return 0;
}

/* message: the snapshot's stateMessage from EBS (only an error keeps one). */
static void
set_status(sqlite3 *db, const char *table, const char *id, const char *status,
    const char *progress, const char *message)
{
	char sql[160];
	sqlite3_stmt *st;

	snprintf(sql, sizeof(sql), strcmp(table, "snapshots") == 0 ?
	    "UPDATE snapshots SET status = ?2, progress = coalesce(?3, progress),"
	    " state_message = ?4 WHERE id = ?1" :
	    "UPDATE volumes SET status = ?2 WHERE id = ?1 AND ?3 IS NULL AND ?4 IS NULL");
	if (kr_db_prepare(db, sql, &st) < 0)
		return;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, progress, -1, SQLITE_STATIC);
	if (message && *message && strcmp(status, "error") == 0)
		sqlite3_bind_text(st, 4, message, (int)strnlen(message, 1024), SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	kr_db_step(st);
	sqlite3_finalize(st);
}

/*
 * The poll of EBS: both questions on a worker, the answers applied on the
 * loop; one poll per registered EBS (each knows only its own volumes), at
 * most one in flight per EBS, so a stopped one delays nobody else's.
 */
struct ebs_poll {
	struct clc *clc;
	char url[300];
	struct soap *vsoap, *ssoap;
	struct _ebs__DescribeVolumesResponse vol;
	struct _ebs__DescribeSnapshotsResponse snap;
	bool vol_ok, snap_ok;
};

static int
poll_work(void *arg)
{
	struct ebs_poll *p = arg;
	struct _ebs__DescribeVolumes vreq = { 0 };
	struct _ebs__DescribeSnapshots sreq = { 0 };
	char corr[KR_UUID_MAX], user[16];

	clc_cc_ids(corr, user);
	vreq.correlationId = sreq.correlationId = corr;
	vreq.userId = sreq.userId = user;
	if ((p->vsoap = clc_ebs_soap(p->clc)) == NULL)
		return -1;
	p->vol_ok = soap_call___ebs__DescribeVolumes(p->vsoap, p->url, NULL, &vreq, &p->vol) ==
	    SOAP_OK && p->vol._return == true_;
	if (!p->vol_ok)
		return 0;	/* not answering: do not wait twice */
	if ((p->ssoap = clc_ebs_soap(p->clc)) == NULL)
		return -1;
	p->snap_ok = soap_call___ebs__DescribeSnapshots(p->ssoap, p->url, NULL, &sreq,
	    &p->snap) == SOAP_OK && p->snap._return == true_;
	return 0;
}

static void
poll_done(int rc, void *arg)
{
	struct ebs_poll *p = arg;
	sqlite3 *db = p->clc->db;

	if (rc == 0 && (p->vol_ok || p->snap_ok) && kr_db_begin(db) == 0) {
		for (int i = 0; p->vol_ok && i < p->vol.__sizevolumes; i++) {
			struct ebs__volumeType *v = &p->vol.volumes[i];

			/* in-use is the CLC's to say (it knows the attachment); the rest EBS's. */
			if (v->volumeId && v->status && strcmp(v->status, "in-use") != 0)
				set_status(db, "volumes", v->volumeId, v->status, NULL, NULL);
		}
		for (int i = 0; p->snap_ok && i < p->snap.__sizesnapshots; i++) {
			struct ebs__snapshotType *s = &p->snap.snapshots[i];

			if (s->snapshotId && s->status)
				set_status(db, "snapshots", s->snapshotId, s->status, s->progress,
				    s->stateMessage);
		}
		if (kr_db_commit(db) < 0)
			kr_db_rollback(db);
	}
	clc_cc_done(p->vsoap);
	clc_cc_done(p->ssoap);
	free(p);
}

static void
poll_one(struct clc *clc, const char *name, const char *url)
{
	char key[CLC_BACKEND_KEY_MAX];
	struct ebs_poll *p;

	clc_backend_key(key, "ebs-poll", name);
	if (clc_backend_inflight(key) > 0 || !(p = calloc(1, sizeof(*p))))
		return;
	p->clc = clc;
	snprintf(p->url, sizeof(p->url), "%s", url);
	if (clc_backend_run(key, poll_work, poll_done, p) < 0)
		free(p);
}

void
clc_volumes_poll(struct clc *clc)
{
	sqlite3_stmt *st;
	char url[300];
	int busy;

	if (kr_db_prepare(clc->db, "SELECT (SELECT count(*) FROM volumes WHERE status IN"
	    " ('creating', 'deleting')) + (SELECT count(*) FROM snapshots WHERE status ="
	    " 'pending')", &st) < 0)
		return;
	busy = kr_db_step(st) == 1 ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (busy == 0 || kr_db_prepare(clc->db, "SELECT name, host, port, scheme FROM services"
	    " WHERE kind = 'ebs' ORDER BY name", &st) < 0) {
		kr_error_clear();
		return;
	}
	while (kr_db_step(st) == 1) {
		snprintf(url, sizeof(url), "%s://%s:%d/", sqlite3_column_text(st, 3),
		    sqlite3_column_text(st, 1), sqlite3_column_int(st, 2));
		poll_one(clc, (const char *)sqlite3_column_text(st, 0), url);
	}
	sqlite3_finalize(st);
	kr_error_clear();
}

/* A call to EBS about one volume or snapshot, prepared on the loop, made on a worker. */
struct clc_ebs_job *
clc_ebs_job_new(struct clc_req *r, const char *id, const char *zone)
{
	struct clc_ebs_job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	j->clc = r->clc;
	snprintf(j->id, sizeof(j->id), "%s", id);
	if (clc_ebs_url(r->clc, zone, j->url, sizeof(j->url), j->backend) < 0 ||
	    !(j->soap = clc_ebs_soap(r->clc))) {
		free(j);
		return NULL;
	}
	clc_cc_ids(j->corr, j->user);
	return j;
}

void
clc_ebs_job_free(void *arg)
{
	struct clc_ebs_job *j = arg;

	if (j == NULL)
		return;
	clc_cc_done(j->soap);
	free(j);
}
