/*
 * route.c - where an HTTP request to Walrus goes.
 *
 * SOAP on /services/Karri reaches DescribeService.  The S3 API (served on /,
 * /services/Walrus and /services/objectstorage) is not built in this
 * version: it answers with S3's NotImplemented error.
 */
#include <string.h>

#include <event2/http.h>

#include "buf.h"
#include "dispatch.h"
#include "http_server.h"
#include "soap_http.h"
#include "walrus.h"

static const kr_soap_dispatch_fn soap_dispatchers[] = { svc_serve_request, NULL };

/* An S3 error response, as awscli and boto parse it. */
static void
send_s3_error(struct evhttp_request *req, int status, const char *code, const char *message)
{
	struct kr_buf body = KR_BUF_INIT;
	char request_id[37];

	kr_http_request_id(request_id);
	kr_buf_add(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
	kr_buf_add_xml_elem(&body, "Code", code);
	kr_buf_add_xml_elem(&body, "Message", message);
	kr_buf_add_xml_elem(&body, "Resource",
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req)));
	kr_buf_add_xml_elem(&body, "RequestId", request_id);
	kr_buf_add(&body, "</Error>\n");
	kr_http_reply(req, status, "application/xml", &body);
	kr_buf_free(&body);
}

void
walrus_route(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (path && strcmp(path, "/services/Karri") == 0 && kr_soap_http_is_soap(req)) {
		kr_soap_http_handle(req, soap_dispatchers, arg);
		return;
	}
	send_s3_error(req, 501, "NotImplemented",
	    "the S3 API is not available in this Karri version yet");
}
