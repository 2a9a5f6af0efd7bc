/*
 * api_route.c - where an HTTP request to the CLC goes.
 *
 * EC2 clients use the paths /services/Eucalyptus (with or without a trailing
 * slash) and /.  A SOAP call whose body is an EC2 action (namespace
 * http://ec2.amazonaws.com/doc/<version>/) is the EC2 SOAP API
 * (ec2_soap.c); any other SOAP goes to gSOAP, where Karri's DescribeService
 * is served and anything else gets a fault.  Instances' metadata requests
 * (/latest/..., /2009-04-04/..., redirected here by the CC, and a guest's
 * bare GET / for the list of versions) go to metadata.c.
 */
#include <string.h>

#include <event2/http.h>

#include "core/buf.h"
#include "clc.h"
#include "dispatch.h"
#include "ec2_soap.h"
#include "http/http_server.h"
#include "soap/soap_http.h"

static int soap_unknown(struct soap *soap);

static const kr_soap_dispatch_fn soap_dispatchers[] = { svc_serve_request, soap_unknown,
	NULL };

/*
 * A SOAP body that is neither DescribeService nor in an EC2 namespace: say
 * what is served here rather than gSOAP's bare "unknown element".
 */
static int
soap_unknown(struct soap *soap)
{
	return soap_sender_fault(soap, "InvalidAction",
	    "not an EC2 SOAP request: the body element must be an EC2 action in the "
	    "namespace http://ec2.amazonaws.com/doc/<version>/");
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

	if (path && (clc_metadata_path(path) || clc_metadata_root(clc, req))) {
		clc_metadata_handle(clc, req);
		return;
	}
	/* PUT is let in for the metadata service's IMDSv2 tokens only. */
	if (path == NULL || !is_api_path(path) ||
	    evhttp_request_get_command(req) == EVHTTP_REQ_PUT) {
		clc_send_error(req, "InvalidURI", "no EC2 service at this path");
		return;
	}
	if (kr_soap_http_is_soap(req)) {
		if (clc_soap_handle(clc, req) != 0)
			kr_soap_http_handle(req, soap_dispatchers, clc->daemon);
		return;
	}
	clc_query_handle(clc, req);
}
