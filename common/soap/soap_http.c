/*
 * soap_http.c - gSOAP fed from an evhttp request (see soap_http.h).
 */
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/log.h"
#include "soap/soap_http.h"

struct bridge {
	struct evbuffer *in;
	struct evbuffer *out;
};

static size_t
bridge_recv(struct soap *soap, char *buf, size_t len)
{
	struct bridge *b = soap->data[3];
	int n = evbuffer_remove(b->in, buf, len);

	return n > 0 ? (size_t)n : 0;
}

static int
bridge_send(struct soap *soap, const char *buf, size_t len)
{
	struct bridge *b = soap->data[3];

	return evbuffer_add(b->out, buf, len) == 0 ? SOAP_OK : SOAP_EOF;
}

int
kr_soap_http_is_soap(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *ct = evhttp_find_header(h, "Content-Type");

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST)
		return 0;
	if (evhttp_find_header(h, "SOAPAction"))
		return 1;
	/* SOAP 1.2 puts the action into the content type instead. */
	return ct && (strncasecmp(ct, "application/soap+xml", 20) == 0 ||
	    strncasecmp(ct, "text/xml", 8) == 0);
}

int
kr_soap_http_serve_buffers(struct evbuffer *in, struct evbuffer *out,
    const kr_soap_dispatch_fn *dispatchers, void *user)
{
	struct bridge b = { in, out };
	struct soap *soap = soap_new1(SOAP_ENC_PLAIN | SOAP_C_UTFSTRING);
	int status = 200;

	if (!soap)
		return 500;
	kr_soap_setup(soap, 30);
	soap->max_keep_alive = 0;
	soap->keep_alive = 0;
	soap_set_mode(soap, SOAP_ENC_PLAIN);
	soap_clr_omode(soap, SOAP_IO_KEEPALIVE);
	soap->frecv = bridge_recv;
	soap->fsend = bridge_send;
	/* data[0..1] belong to the WS-Security plugins; the bridge keeps to the last slot. */
	soap->data[3] = &b;
	/* The operations find the daemon's context where the listener puts it too. */
	soap->user = user;
	if (kr_soap_serve(soap, dispatchers) != SOAP_OK || soap->error != SOAP_OK)
		status = 500;
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
	return status;
}

void
kr_soap_http_handle(struct evhttp_request *req, const kr_soap_dispatch_fn *dispatchers,
    void *user)
{
	struct evbuffer *out = evbuffer_new();
	int status;

	if (!out) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	status = kr_soap_http_serve_buffers(evhttp_request_get_input_buffer(req), out,
	    dispatchers, user);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/xml; charset=utf-8");
	evhttp_send_reply(req, status, status == 200 ? "OK" : "Internal Server Error", out);
	evbuffer_free(out);
}
