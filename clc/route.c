/*
 * route.c - where an HTTP request to the CLC goes.
 *
 * EC2 clients use the paths /services/Eucalyptus (with or without a trailing
 * slash) and /; SOAP calls on any of them go to gSOAP, where only Karri's
 * DescribeService is served: an EC2 action over SOAP gets a SOAP fault
 * saying so (EC2's SOAP API is not built).  Instances' metadata requests
 * (/latest/..., /2009-04-04/..., redirected here by the CC) go to
 * metadata.c.
 */
#include <string.h>

#include <event2/http.h>

#include "buf.h"
#include "clc.h"
#include "dispatch.h"
#include "http_server.h"
#include "soap_http.h"

static int ec2_soap_refuse(struct soap *soap);

static const kr_soap_dispatch_fn soap_dispatchers[] = { svc_serve_request, ec2_soap_refuse,
	NULL };

/*
 * Any SOAP element DescribeService did not take: an honest fault, not
 * "unknown element" (which reads like a client bug).
 */
static int
ec2_soap_refuse(struct soap *soap)
{
	return soap_sender_fault(soap, "UnsupportedOperation",
	    "the EC2 SOAP API is not supported by Karri: use the EC2 Query API "
	    "(awscli, boto, euca2ools) on the same URL");
}

static int
is_api_path(const char *path)
{
	return strcmp(path, "/") == 0 || strcmp(path, "/services/Eucalyptus") == 0 ||
	    strcmp(path, "/services/Eucalyptus/") == 0 || strcmp(path, "/services/Karri") == 0;
}

void
clc_route(struct evhttp_request *req, void *arg)
{
	struct clc *clc = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (path && clc_metadata_path(path)) {
		clc_metadata_handle(clc, req);
		return;
	}
	if (path == NULL || !is_api_path(path)) {
		clc_send_error(req, "InvalidURI", "no EC2 service at this path");
		return;
	}
	if (kr_soap_http_is_soap(req)) {
		kr_soap_http_handle(req, soap_dispatchers, clc->daemon);
		return;
	}
	clc_query_handle(clc, req);
}
