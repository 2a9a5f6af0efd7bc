/*
 * route.c - where an HTTP request to the CLC goes.
 *
 * EC2 clients use the paths /services/Eucalyptus (with or without a trailing
 * slash) and /; SOAP calls on any of them go to gSOAP.  The EC2 Query API is
 * not built in this version: it answers with EC2's own "Unsupported" error
 * rather than pretending.
 */
#include <string.h>

#include <event2/http.h>

#include "buf.h"
#include "clc.h"
#include "dispatch.h"
#include "http_server.h"
#include "soap_http.h"

static const kr_soap_dispatch_fn soap_dispatchers[] = { svc_serve_request, NULL };

static int
is_api_path(const char *path)
{
	return strcmp(path, "/") == 0 || strcmp(path, "/services/Eucalyptus") == 0 ||
	    strcmp(path, "/services/Eucalyptus/") == 0 || strcmp(path, "/services/Karri") == 0;
}

/* An EC2 error response, as awscli, boto and euca2ools parse it. */
static void
send_ec2_error(struct evhttp_request *req, int status, const char *code, const char *message)
{
	struct kr_buf body = KR_BUF_INIT;
	char request_id[37];

	kr_http_request_id(request_id);
	kr_buf_add(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>");
	kr_buf_add_xml_elem(&body, "Code", code);
	kr_buf_add_xml_elem(&body, "Message", message);
	kr_buf_add(&body, "</Error></Errors>");
	kr_buf_add_xml_elem(&body, "RequestID", request_id);
	kr_buf_add(&body, "</Response>\n");
	kr_http_reply(req, status, "text/xml; charset=UTF-8", &body);
	kr_buf_free(&body);
}

void
clc_route(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (path == NULL || !is_api_path(path)) {
		send_ec2_error(req, 404, "InvalidURI", "no EC2 service at this path");
		return;
	}
	if (kr_soap_http_is_soap(req)) {
		kr_soap_http_handle(req, soap_dispatchers, arg);
		return;
	}
	send_ec2_error(req, 400, "Unsupported",
	    "the EC2 Query API is not available in this Karri version yet");
}
