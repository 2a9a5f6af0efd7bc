/*
 * pending.c - ebs operations not built yet.
 *
 * Each answers NotImplemented (see KR_SOAP_NOT_IMPLEMENTED) until the EBS work
 * replaces its line with the real operation.
 */
#include "karriH.h"
#include "soap_server.h"

KR_SOAP_NOT_IMPLEMENTED(ebs, CreateVolume)
KR_SOAP_NOT_IMPLEMENTED(ebs, DeleteVolume)
KR_SOAP_NOT_IMPLEMENTED(ebs, DescribeVolumes)
KR_SOAP_NOT_IMPLEMENTED(ebs, ExportVolume)
KR_SOAP_NOT_IMPLEMENTED(ebs, UnexportVolume)
KR_SOAP_NOT_IMPLEMENTED(ebs, CreateSnapshot)
KR_SOAP_NOT_IMPLEMENTED(ebs, DeleteSnapshot)
KR_SOAP_NOT_IMPLEMENTED(ebs, DescribeSnapshots)
