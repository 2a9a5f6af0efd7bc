/*
 * service.c - DescribeService, the health/describe call every daemon answers.
 *
 * It reports the daemon of this process (kr_daemon_current()): which one it
 * is, its version, pid, uptime and state, so that `karri status` and the
 * tests can tell a daemon is up and is the one they expect.
 */
#include <unistd.h>

#include "autoconf.h"
#include "karriH.h"
#include "daemon/daemon.h"
#include "core/error.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

int
__svc__DescribeService(struct soap *soap, struct _svc__DescribeService *req,
    struct _svc__DescribeServiceResponse *resp)
{
	const struct kr_daemon *d = kr_daemon_current();
	char host[256] = "";

	KR_SOAP_ECHO(resp, req);
	if (d == NULL) {
		kr_error("InternalError", "daemon not started");
		return kr_soap_error_fault(soap);
	}
	gethostname(host, sizeof(host) - 1);
	resp->_return = true_;
	resp->serviceName = soap_strdup(soap, d->name);
	resp->version = soap_strdup(soap, PACKAGE_VERSION);
	resp->state = soap_strdup(soap, kr_daemon_stopping() ? "STOPPING" : "ENABLED");
	resp->pid = d->pid > 0 ? (int)d->pid : (int)getpid();	/* karri-cc: the parent's */
	resp->uptimeSeconds = (long)(time(NULL) - d->started);
	resp->hostName = soap_strdup(soap, host);
	return SOAP_OK;
}
