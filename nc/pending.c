/*
 * pending.c - nc operations not built yet.
 *
 * Each answers NotImplemented (see KR_SOAP_NOT_IMPLEMENTED) until the node controller work
 * replaces its line with the real operation.
 */
#include "karriH.h"
#include "soap_server.h"

KR_SOAP_NOT_IMPLEMENTED(nc, ncRunInstance)
KR_SOAP_NOT_IMPLEMENTED(nc, ncTerminateInstance)
KR_SOAP_NOT_IMPLEMENTED(nc, ncDescribeInstances)
KR_SOAP_NOT_IMPLEMENTED(nc, ncDescribeResource)
KR_SOAP_NOT_IMPLEMENTED(nc, ncRebootInstance)
KR_SOAP_NOT_IMPLEMENTED(nc, ncGetConsoleOutput)
KR_SOAP_NOT_IMPLEMENTED(nc, ncAttachVolume)
KR_SOAP_NOT_IMPLEMENTED(nc, ncDetachVolume)
KR_SOAP_NOT_IMPLEMENTED(nc, ncStartNetwork)
KR_SOAP_NOT_IMPLEMENTED(nc, ncPowerDown)
