/*
 * client_cc.c - calling a cluster controller (wsdl/karri-cc.h).
 *
 * One gSOAP context per call, on a worker of backend_call.c, timeouts from
 * SOAP_TIMEOUT (connect bounded at 5 s, so a dead CC costs little).  The
 * connection comes from the process's pool (common/soap/soap_pool.c): kept
 * alive between calls, or new with the peer's TLS session resumed, so a
 * call rarely pays a TCP connect and never a full handshake twice.  A
 * failure is recorded once, with the EC2 code and message the backend
 * decided (common/soap/soap_error.c).
 *
 * Internal TLS: the URL's scheme is what `karri register-*` recorded
 * (services.scheme).  For https the context kr_soap_setup() makes presents
 * the CLC's certificate (keys/clc-cert.pem) and verifies the CC or EBS
 * against the cloud CA and the registered host (common/tls/tls.c).
 */
#include <stdio.h>
#include <string.h>

#include "karriH.h"
#include "clc.h"
#include "clc_cc.h"
#include "core/error.h"
#include "http/http_server.h"
#include "core/log.h"
#include "core/sizes.h"
#include "soap/soap_error.h"
#include "soap/soap_pool.h"
#include "soap/soap_server.h"

#define CONNECT_TIMEOUT_S 5

struct soap *
clc_cc_soap(struct clc *clc)
{
	struct soap *soap = soap_new();

	if (soap == NULL) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	kr_soap_setup(soap, clc->soap_timeout > 0 ? clc->soap_timeout : 30);
	soap->connect_timeout = CONNECT_TIMEOUT_S;
	kr_soap_pool_use(soap);		/* a kept-alive connection, or a resumed TLS session */
	return soap;
}

void
clc_cc_done(struct soap *soap)
{
	if (soap == NULL)
		return;
	/* The connection goes back for the next call when this one ended well. */
	kr_soap_pool_put(soap, soap->error == SOAP_OK);
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
}

/*
 * The outcome of one call to a CC or EBS: `call` is what soap_call_...()
 * returned; `ret` and `status` point into its response (read only after the
 * call, hence pointers).  0, or -1 with kr_error recorded by the one reader
 * of every hop (common/soap/soap_error.c): what the backend decided, unchanged;
 * fail_code when it cannot be reached; Unavailable when it does not answer
 * in time.  refuse_code is ignored: relabelling a backend's refusal is what
 * the one error path removed.
 */
int
clc_soap_check(struct soap *soap, int call, const enum xsd__boolean *ret, char *const *status,
    const char *fail_code, const char *refuse_code, const char *what, const char *url)
{
	(void)refuse_code;
	return kr_soap_error_read(soap, call, ret, status, fail_code, what, url);
}

void
clc_cc_ids(char *correlation, char *user)
{
	kr_http_request_id(correlation);
	snprintf(user, 16, "karri-clc");
}

/*
 * Capacity and liveness of one cluster, into c (on a worker: a copy of the
 * cluster whose types the loop loaded, clc_types_load).
 */
int
clc_cc_describe_resources(struct clc *clc, struct clc_cluster *c)
{
	struct soap *soap = clc_cc_soap(clc);
	struct _cc__DescribeResources req = { 0 };
	struct _cc__DescribeResourcesResponse resp;
	struct kr__virtualMachineType types[CLC_MAX_TYPES];
	char corr[KR_UUID_MAX], user[16];
	int n = c->ntypes, rc = -1;

	if (soap == NULL)
		return -1;
	clc_cc_ids(corr, user);
	for (int i = 0; i < n; i++)
		types[i] = (struct kr__virtualMachineType){ .name = c->types[i].name,
			.memory = c->types[i].memory, .cores = c->types[i].cores,
			.disk = c->types[i].disk, .ioClass = c->types[i].io_class };
	req.correlationId = corr;
	req.userId = user;
	req.__sizeinstanceTypes = n;
	req.instanceTypes = types;
	memset(&resp, 0, sizeof(resp));
	if (clc_soap_check(soap, soap_call___cc__DescribeResources(soap, c->url, NULL, &req,
	    &resp), &resp._return, &resp.statusMessage, "Unavailable", "Unavailable",
	    "DescribeResources", c->url) == 0) {
		for (int i = 0; i < resp.__sizeresources && i < CLC_MAX_TYPES; i++) {
			struct cc__resourceType *rt = &resp.resources[i];

			for (int j = 0; j < n; j++)
				if (rt->instanceType && rt->instanceType->name &&
				    strcmp(rt->instanceType->name, c->types[j].name) == 0) {
					c->types[j].available = rt->availableInstances;
					c->types[j].max = rt->maxInstances;
				}
		}
		c->nodes = resp.__sizenodes;
		rc = 0;
	}
	c->up = rc == 0;
	snprintf(c->why, sizeof(c->why), "%s", rc == 0 ? "" : kr_error_message());
	clc_cc_done(soap);
	return rc;
}
