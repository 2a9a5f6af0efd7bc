/*
 * ops_export.c - ExportVolume, UnexportVolume (wsdl/karri-ebs.h): each
 * takes the control lock, calls export.c and answers, a refusal through
 * common/soap/soap_error.h (EBS_ANSWER_LOCKED).
 */
#include "ops.h"

int
__ebs__ExportVolume(struct soap *soap, struct _ebs__ExportVolume *req,
    struct _ebs__ExportVolumeResponse *resp)
{
	resp->shelf = resp->slot = -1;
	EBS_ANSWER_LOCKED(soap, req, resp, ebs_export_volume(soap, req, resp));
	return SOAP_OK;
}

int
__ebs__UnexportVolume(struct soap *soap, struct _ebs__UnexportVolume *req,
    struct _ebs__UnexportVolumeResponse *resp)
{
	EBS_ANSWER_LOCKED(soap, req, resp, ebs_unexport_volume(req->volumeId));
	return SOAP_OK;
}
