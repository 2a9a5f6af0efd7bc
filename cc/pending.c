/*
 * pending.c - cc operations not built yet.
 *
 * Each answers NotImplemented (see KR_SOAP_NOT_IMPLEMENTED) until the cluster controller work
 * replaces its line with the real operation.
 */
#include "karriH.h"
#include "soap_server.h"

KR_SOAP_NOT_IMPLEMENTED(cc, RunInstances)
KR_SOAP_NOT_IMPLEMENTED(cc, DescribeInstances)
KR_SOAP_NOT_IMPLEMENTED(cc, TerminateInstances)
KR_SOAP_NOT_IMPLEMENTED(cc, RebootInstances)
KR_SOAP_NOT_IMPLEMENTED(cc, GetConsoleOutput)
KR_SOAP_NOT_IMPLEMENTED(cc, DescribeResources)
KR_SOAP_NOT_IMPLEMENTED(cc, AttachVolume)
KR_SOAP_NOT_IMPLEMENTED(cc, DetachVolume)
KR_SOAP_NOT_IMPLEMENTED(cc, StartNetwork)
KR_SOAP_NOT_IMPLEMENTED(cc, StopNetwork)
KR_SOAP_NOT_IMPLEMENTED(cc, ConfigureNetwork)
KR_SOAP_NOT_IMPLEMENTED(cc, AssignAddress)
KR_SOAP_NOT_IMPLEMENTED(cc, UnassignAddress)
KR_SOAP_NOT_IMPLEMENTED(cc, DescribePublicAddresses)
KR_SOAP_NOT_IMPLEMENTED(cc, DescribeNetworks)
KR_SOAP_NOT_IMPLEMENTED(cc, RegisterNodes)
KR_SOAP_NOT_IMPLEMENTED(cc, DeregisterNodes)
