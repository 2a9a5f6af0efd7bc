/*
 * ops_volume.c - CreateVolume, DeleteVolume, DescribeVolumes
 * (wsdl/karri-ebs.h): each finds the daemon (ebs_from_soap), takes its
 * control lock, calls volume.c and answers, a refusal through
 * common/soap/soap_error.h (EBS_ANSWER_LOCKED).
 */
#include <stdio.h>

#include "core/db.h"
#include "core/error.h"
#include "ops.h"

int
__ebs__CreateVolume(struct soap *soap, struct _ebs__CreateVolume *req,
    struct _ebs__CreateVolumeResponse *resp)
{
	struct ebs *e = ebs_from_soap(soap);

	EBS_ANSWER_LOCKED(e, soap, req, resp, ebs_volume_create(e, soap, req, &resp->volume));
	if (resp->_return == false_)
		resp->volume = NULL;
	return SOAP_OK;
}

int
__ebs__DeleteVolume(struct soap *soap, struct _ebs__DeleteVolume *req,
    struct _ebs__DeleteVolumeResponse *resp)
{
	struct ebs *e = ebs_from_soap(soap);

	EBS_ANSWER_LOCKED(e, soap, req, resp, ebs_volume_delete(e, req->volumeId));
	return SOAP_OK;
}

static int
describe_volumes(struct ebs *e, struct soap *soap, struct _ebs__DescribeVolumes *req,
    struct _ebs__DescribeVolumesResponse *resp)
{
	sqlite3_stmt *st = NULL;
	int i, n = 0, r, cap;

	if (req->__sizevolumeIds > 0) {
		if (req->__sizevolumeIds > 1000) {
			kr_error("InvalidParameterValue", "at most 1000 volume ids");
			return -1;
		}
		resp->volumes = soap_malloc(soap, (size_t)req->__sizevolumeIds * sizeof(*resp->volumes));
		for (i = 0; i < req->__sizevolumeIds; i++) {
			if (!kr_id_valid(req->volumeIds[i], "vol")) {
				kr_error("InvalidParameterValue", "volumeId must be vol-XXXXXXXX");
				return -1;
			}
			if (ebs_volume_load(e, soap, req->volumeIds[i], &resp->volumes[n]) < 0)
				return -1;
			n++;
		}
		resp->__sizevolumes = n;
		return 0;
	}
	if (kr_db_prepare(e->db, "SELECT count(*) FROM volumes", &st) < 0)
		return -1;
	cap = kr_db_step(st) == 1 ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	resp->volumes = soap_malloc(soap, ((size_t)cap + 1) * sizeof(*resp->volumes));
	if (kr_db_prepare(e->db, "SELECT id FROM volumes ORDER BY id", &st) < 0)
		return -1;
	while (n < cap && (r = kr_db_step(st)) == 1) {
		char id[KR_ID_MAX];

		snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
		if (ebs_volume_load(e, soap, id, &resp->volumes[n]) == 0)
			n++;
	}
	sqlite3_finalize(st);
	resp->__sizevolumes = n;
	return 0;
}

int
__ebs__DescribeVolumes(struct soap *soap, struct _ebs__DescribeVolumes *req,
    struct _ebs__DescribeVolumesResponse *resp)
{
	struct ebs *e = ebs_from_soap(soap);

	EBS_ANSWER_LOCKED(e, soap, req, resp, describe_volumes(e, soap, req, resp));
	if (resp->_return == false_) {
		resp->__sizevolumes = 0;
		resp->volumes = NULL;
	}
	return SOAP_OK;
}
