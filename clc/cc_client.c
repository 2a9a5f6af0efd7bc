/*
 * cc_client.c - calling a cluster controller (wsdl/karri-cc.h).
 *
 * One gSOAP context per call, timeouts from SOAP_TIMEOUT (connect bounded
 * at 5 s, so a dead CC costs little).  The calls block the CLC's event
 * loop: the CLC serves one request at a time anyway (sqlite writes are
 * serialized), and every call is bounded; moving them to a worker thread is
 * the next step when clusters grow.  A failure is recorded once with an EC2
 * code the caller chose (e.g. InsufficientInstanceCapacity for a launch),
 * plus what the CC said.
 *
 * Internal TLS: the URL's scheme is what `karri register-*` recorded
 * (services.scheme).  For https the context kr_soap_setup() makes presents
 * the CLC's certificate (keys/clc-cert.pem) and verifies the CC or EBS
 * against the cloud CA and the registered host (common/tls.c).
 */
#include <stdio.h>
#include <string.h>

#include "karriH.h"
#include "clc.h"
#include "clc_cc.h"
#include "error.h"
#include "http_server.h"
#include "log.h"
#include "soap_server.h"

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
	return soap;
}

void
clc_cc_done(struct soap *soap)
{
	if (soap == NULL)
		return;
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
}

/*
 * Record why a call failed: unreachable or failing under `code`; an
 * operation the peer does not implement yet as Unsupported (400: a retry
 * will not help).  Always -1.
 */
int
clc_cc_fail(struct soap *soap, const char *code, const char *what, const char *url)
{
	const char *fs = soap->error ? *soap_faultstring(soap) : NULL;
	const char *fd = soap->error ? *soap_faultdetail(soap) : NULL;

	if ((soap->error == SOAP_TCP_ERROR || soap->error == SOAP_EOF) && soap->errnum == 0)
		/* gSOAP's timeouts leave no errno: connected, then no answer in time. */
		kr_error("Unavailable", "%s: the service at %s did not answer within %d s", what,
		    url, soap->recv_timeout);
	else if (soap->error == SOAP_TCP_ERROR || soap->error == SOAP_EOF)
		kr_error(code, "%s: the service at %s is not reachable", what, url);
	else if (soap->error == SOAP_SSL_ERROR)
		kr_error(code, "%s: TLS with the service at %s failed: %.200s%s%.200s", what, url,
		    fs ? fs : "handshake", fd ? ": " : "", fd ? fd : "");
	else if (fs && strcmp(fs, "NotImplemented") == 0)
		kr_error("Unsupported", "%s: the service at %s does not implement this yet",
		    what, url);
	else
		kr_error(code, "%s: the service at %s failed: %.200s%s%.200s", what,
		    url, fs ? fs : "error", fd ? ": " : "", fd ? fd : "");
	return -1;
}

/* A response with return=false: its statusMessage under `code`. */
int
clc_cc_refused(const char *code, const char *what, const char *status)
{
	kr_error(code, "%s: %.300s", what, status ? status : "the service refused");
	return -1;
}

/*
 * The outcome of one call to a CC or EBS: `call` is what soap_call_...()
 * returned; `ret` and `status` point into its response (read only after the
 * call, hence pointers).  0, or -1 recorded with fail_code (transport,
 * fault) or refuse_code (return=false).
 */
int
clc_soap_check(struct soap *soap, int call, const enum xsd__boolean *ret, char *const *status,
    const char *fail_code, const char *refuse_code, const char *what, const char *url)
{
	if (call != SOAP_OK)
		return clc_cc_fail(soap, fail_code, what, url);
	if (*ret != true_)
		return clc_cc_refused(refuse_code, what, *status);
	return 0;
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
	char corr[37], user[16];
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
