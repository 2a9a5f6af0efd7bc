/*
 * ops_snapshot.c - CreateSnapshot, DeleteSnapshot, DescribeSnapshots
 * (wsdl/karri-ebs.h): each finds the daemon (ebs_from_soap), calls
 * snapshot.c and answers, a refusal through common/soap/soap_error.h.
 * DeleteSnapshot runs without the control lock (its Walrus requests must
 * not hold up the other operations).
 */
#include "core/db.h"
#include "core/error.h"
#include "soap/soap_error.h"
#include "ops.h"

int
__ebs__CreateSnapshot(struct soap *soap, struct _ebs__CreateSnapshot *req,
    struct _ebs__CreateSnapshotResponse *resp)
{
	struct ebs *e = ebs_from_soap(soap);

	EBS_ANSWER_LOCKED(e, soap, req, resp, ebs_snapshot_create(e, soap, req, &resp->snapshot));
	if (resp->_return == false_)
		resp->snapshot = NULL;
	return SOAP_OK;
}

int
__ebs__DeleteSnapshot(struct soap *soap, struct _ebs__DeleteSnapshot *req,
    struct _ebs__DeleteSnapshotResponse *resp)
{
	int rc;

	/* Not EBS_ANSWER_LOCKED: the Walrus requests run without the lock. */
	KR_SOAP_ECHO(resp, req);
	rc = ebs_snapshot_delete(ebs_from_soap(soap), req);
	resp->_return = true_;
	if (rc < 0)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	return SOAP_OK;
}

static int
describe_snapshots(struct ebs *e, struct soap *soap, struct _ebs__DescribeSnapshots *req,
    struct _ebs__DescribeSnapshotsResponse *resp)
{
	sqlite3_stmt *st = NULL;
	int i, n = 0, r, cap;

	if (req->__sizesnapshotIds > 1000) {
		kr_error("InvalidParameterValue", "at most 1000 snapshot ids");
		return -1;
	}
	if (req->__sizesnapshotIds > 0) {
		resp->snapshots = soap_malloc(soap, (size_t)req->__sizesnapshotIds *
		    sizeof(*resp->snapshots));
		for (i = 0; i < req->__sizesnapshotIds; i++) {
			const char *id = req->snapshotIds[i];

			if (!kr_id_valid(id, "snap")) {
				kr_error("InvalidParameterValue", "snapshotId must be snap-XXXXXXXX");
				return -1;
			}
			r = ebs_snapshot_find(e, soap, id, &resp->snapshots[n]);
			if (r == 0)
				kr_error("InvalidSnapshot.NotFound", "the snapshot '%s' does not exist", id);
			if (r != 1)
				return -1;
			n++;
		}
		resp->__sizesnapshots = n;
		return 0;
	}
	if (kr_db_prepare(e->db, "SELECT count(*) FROM snapshots", &st) < 0)
		return -1;
	cap = kr_db_step(st) == 1 ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	resp->snapshots = soap_malloc(soap, ((size_t)cap + 1) * sizeof(*resp->snapshots));
	if (kr_db_prepare(e->db, EBS_SNAP_COLUMNS " ORDER BY id", &st) < 0)
		return -1;
	while (n < cap && (r = kr_db_step(st)) == 1)
		ebs_snapshot_load(soap, st, &resp->snapshots[n++]);
	sqlite3_finalize(st);
	resp->__sizesnapshots = n;
	return 0;
}

int
__ebs__DescribeSnapshots(struct soap *soap, struct _ebs__DescribeSnapshots *req,
    struct _ebs__DescribeSnapshotsResponse *resp)
{
	struct ebs *e = ebs_from_soap(soap);

	EBS_ANSWER_LOCKED(e, soap, req, resp, describe_snapshots(e, soap, req, resp));
	if (resp->_return == false_) {
		resp->__sizesnapshots = 0;
		resp->snapshots = NULL;
	}
	return SOAP_OK;
}
