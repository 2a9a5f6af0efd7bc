/*
 * ops_export.c - ExportVolume, UnexportVolume (wsdl/karri-ebs.h): each
 * finds the daemon (ebs_from_soap), takes its control lock, calls export.c
 * and answers, a refusal through common/soap/soap_error.h (EBS_ANSWER_LOCKED).
 */
#include "ops.h"

int
__ebs__ExportVolume(struct soap *soap, struct _ebs__ExportVolume *req,
    struct _ebs__ExportVolumeResponse *resp)
{
	struct ebs *e = ebs_from_soap(soap);

	resp->shelf = resp->slot = -1;
	EBS_ANSWER_LOCKED(e, soap, req, resp, ebs_export_volume(e, soap, req, resp));
	return SOAP_OK;
}

int
__ebs__UnexportVolume(struct soap *soap, struct _ebs__UnexportVolume *req,
    struct _ebs__UnexportVolumeResponse *resp)
{
	struct ebs *e = ebs_from_soap(soap);

	EBS_ANSWER_LOCKED(e, soap, req, resp, ebs_unexport_volume(e, req->volumeId));
	return SOAP_OK;
}
