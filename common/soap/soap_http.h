/*
 * soap_http.h - serving a SOAP request that arrived on a libevent HTTP server.
 *
 * The CLC and Walrus speak HTTP through evhttp (Query API, S3).  A SOAP call
 * that reaches them is handed to gSOAP here: gSOAP reads the request body
 * from the evhttp buffer and writes its answer into the reply, without
 * parsing or writing any HTTP itself.
 */
#ifndef KARRI_SOAP_HTTP_H
#define KARRI_SOAP_HTTP_H

#include <event2/http.h>

#include "soap/soap_server.h"

/* Answer req (200 with the response, 500 with a SOAP fault); user becomes soap->user. */
void kr_soap_http_handle(struct evhttp_request *req, const kr_soap_dispatch_fn *dispatchers,
    void *user);

/*
 * The same for a body that arrived another way (kr_httpd): gSOAP reads the
 * request from `in` and writes its answer to `out`; returns the HTTP status
 * to send (200, or 500 with a SOAP fault in out).
 */
struct evbuffer;
int kr_soap_http_serve_buffers(struct evbuffer *in, struct evbuffer *out,
    const kr_soap_dispatch_fn *dispatchers, void *user);

/* True when req looks like a SOAP call: a POST carrying a SOAPAction header or an XML body. */
int kr_soap_http_is_soap(struct evhttp_request *req);

#endif
