/*
 * ec2_soap.c - the EC2 SOAP API front end (see ec2_soap.h).
 *
 * libxml2 rather than gSOAP's generated (de)serializers: EC2's SOAP API is
 * 37 WSDL versions, one namespace each, whose messages are the Query API's
 * parameters nested; a generic walk over a DOM (ec2_soap_map.c) serves them
 * all, and WS-Security needs the DOM and exclusive canonicalization anyway,
 * which libxml2 has (it is what xmlsec signs with).  gSOAP still serves
 * every other SOAP body on these paths (Karri's DescribeService).
 *
 * The request is parsed only when small enough (CLC_SOAP_MAX_BODY) and with
 * no DTD at all (so no entities, internal or external) and no network
 * access.  In order: the WS-Security signature and its user, the body as
 * Query parameters, the Query API's own Action/Version/DryRun checks, the
 * action in one transaction.  Nothing runs unless the signature holds.
 * The answer is the action's <XResponse> in the namespace of the version
 * the body element was in, inside a SOAP envelope of the request's SOAP
 * version; errors are faults as EC2 sent them: SOAP 1.1 faultcode
 * aws:Client.<EC2 code> (aws:Server.<code> for 5xx), faultstring, the
 * request id in detail, HTTP 500; SOAP 1.2 Sender/Receiver with the EC2
 * code as aws:<code> subcode, HTTP 400/500.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "clc.h"
#include "clc_backend.h"
#include "daemon/daemon.h"
#include "ec2_soap.h"
#include "core/error.h"
#include "http/http_server.h"
#include "core/log.h"
#include "core/sizes.h"

#define SOAP11_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define SOAP12_NS "http://www.w3.org/2003/05/soap-envelope"
#define AWS_FAULT_NS "http://webservices.amazon.com/AWSFault/2005-15-09"

static void
send_fault(struct evhttp_request *req, bool soap12, const char *code, const char *message)
{
	const char *env = soap12 ? SOAP12_NS : SOAP11_NS;
	bool server = clc_http_status(code) >= 500;
	struct kr_buf b = KR_BUF_INIT;
	char id[KR_UUID_MAX];

	kr_http_request_id(id);
	kr_buf_addf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope "
	    "xmlns:soapenv=\"%s\" xmlns:aws=\"%s\"><soapenv:Body><soapenv:Fault>", env,
	    AWS_FAULT_NS);
	if (soap12) {
		kr_buf_addf(&b, "<soapenv:Code><soapenv:Value>soapenv:%s</soapenv:Value>"
		    "<soapenv:Subcode><soapenv:Value>aws:", server ? "Receiver" : "Sender");
		kr_buf_add_xml(&b, code);
		kr_buf_add(&b, "</soapenv:Value></soapenv:Subcode></soapenv:Code>"
		    "<soapenv:Reason><soapenv:Text xml:lang=\"en\">");
		kr_buf_add_xml(&b, message);
		kr_buf_add(&b, "</soapenv:Text></soapenv:Reason><soapenv:Detail>");
	} else {
		kr_buf_addf(&b, "<faultcode>aws:%s.", server ? "Server" : "Client");
		kr_buf_add_xml(&b, code);
		kr_buf_add(&b, "</faultcode>");
		kr_buf_add_xml_elem(&b, "faultstring", message);
		kr_buf_add(&b, "<detail>");
	}
	kr_buf_addf(&b, "<aws:RequestId>%s</aws:RequestId>%s</soapenv:Fault></soapenv:Body>"
	    "</soapenv:Envelope>\n", id, soap12 ? "</soapenv:Detail>" : "</detail>");
	kr_http_reply(req, soap12 && !server ? 400 : 500, soap12 ?
	    "application/soap+xml; charset=UTF-8" : "text/xml; charset=UTF-8", &b);
	kr_buf_free(&b);
}

static void
send_recorded_fault(struct evhttp_request *req, bool soap12, const char *action)
{
	const char *code = kr_error_code();

	if (*code == '\0') {
		kr_log_errorx("SOAP %s failed without recording why", action ? action : "request");
		send_fault(req, soap12, "InternalError", "internal error");
		return;
	}
	if (clc_http_status(code) >= 500)
		kr_log_warnx("SOAP %s: %s: %s", action ? action : "request", code,
		    kr_error_message());
	send_fault(req, soap12, code, kr_error_message());
}

static void
send_response(struct evhttp_request *req, bool soap12, const struct clc_req *r)
{
	const char *env = soap12 ? SOAP12_NS : SOAP11_NS;
	struct kr_buf b = KR_BUF_INIT;
	char id[KR_UUID_MAX];

	kr_http_request_id(id);
	kr_buf_addf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope "
	    "xmlns:soapenv=\"%s\"><soapenv:Body><%sResponse xmlns=\"" CLC_SOAP_EC2_NS "%s/\">"
	    "<requestId>%s</requestId>", env, r->action, r->version, id);
	kr_buf_add_len(&b, kr_buf_str(r->out), kr_buf_len(r->out));
	kr_buf_addf(&b, "</%sResponse></soapenv:Body></soapenv:Envelope>\n", r->action);
	if (kr_buf_failed(&b) || kr_buf_failed(r->out))
		send_fault(req, soap12, "InternalError", "the response is too large");
	else
		kr_http_reply(req, 200, soap12 ? "application/soap+xml; charset=UTF-8" :
		    "text/xml; charset=UTF-8", &b);
	kr_buf_free(&b);
}

/* A deferred action's answer (clc_backend.h). */
static void
deferred_reply(struct evhttp_request *req, struct clc_req *r, int rc, bool soap12)
{
	if (rc < 0)
		send_recorded_fault(req, soap12, r->action);
	else
		send_response(req, soap12, r);
}

/*
 * Envelope/Body/<action xmlns="http://ec2.amazonaws.com/doc/V/">: 0 with c
 * filled; 1 when the document is some other SOAP.
 */
static int
classify(xmlDocPtr doc, struct clc_soap_call *c)
{
	xmlNodePtr env = xmlDocGetRootElement(doc), n;
	const char *ns, *v;
	size_t vlen;

	memset(c, 0, sizeof(*c));
	c->doc = doc;
	c->soap12 = clc_soap_is(env, SOAP12_NS, "Envelope");
	if (!c->soap12 && !clc_soap_is(env, SOAP11_NS, "Envelope"))
		return 1;
	for (n = env->children; n && !clc_soap_is(n, (const char *)env->ns->href, "Body");
	    n = n->next)
		;
	c->body = n;
	c->op = clc_soap_first_elem(n);
	if (c->op == NULL || c->op->ns == NULL)
		return 1;
	ns = (const char *)c->op->ns->href;
	if (strncmp(ns, CLC_SOAP_EC2_NS, strlen(CLC_SOAP_EC2_NS)) != 0)
		return 1;
	v = ns + strlen(CLC_SOAP_EC2_NS);
	vlen = strlen(v);
	if (vlen && v[vlen - 1] == '/')
		vlen--;
	/* An unknown version is refused by the Query checks (NoSuchVersion). */
	snprintf(c->version, sizeof(c->version), "%.*s", (int)(vlen < sizeof(c->version) ? vlen :
	    sizeof(c->version) - 1), v);
	return 0;
}

/* Only blanks and comments besides the elements wanted. */
static bool
only(xmlNodePtr first, xmlNodePtr a, xmlNodePtr b)
{
	for (xmlNodePtr n = first; n; n = n->next)
		if (n != a && n != b && n->type != XML_COMMENT_NODE &&
		    !(n->type == XML_TEXT_NODE && xmlIsBlankNode(n)))
			return false;
	return true;
}

/*
 * The Envelope is a Header (maybe) and one Body holding one action: nothing
 * unsigned rides beside what the signature covers.
 */
static int
check_envelope(const struct clc_soap_call *c)
{
	xmlNodePtr env = c->body->parent, header = NULL;

	for (xmlNodePtr n = env->children; n && n != c->body; n = n->next)
		if (clc_soap_is(n, (const char *)env->ns->href, "Header"))
			header = n;
	if (!only(env->children, header, c->body) || !only(c->body->children, c->op, NULL)) {
		kr_error("InvalidRequest", "a SOAP Envelope holds a Header and one Body with "
		    "exactly one EC2 action");
		return -1;
	}
	return 0;
}

/* Params with Action and Version first, as the Query checks want them. */
static int
call_params(const struct clc_soap_call *c, struct kr_form *params)
{
	struct kr_form mapped;
	struct kr_form_param *all;
	const char *action = (const char *)c->op->name;

	if (clc_soap_params(c->op, &mapped) < 0)
		return -1;
	all = calloc(mapped.n + 2, sizeof(*all));
	if (all == NULL || (all[0].key = strdup("Action")) == NULL ||
	    (all[0].value = strdup(action)) == NULL || (all[1].key = strdup("Version")) == NULL ||
	    (all[1].value = strdup(c->version)) == NULL) {
		if (all)
			for (int i = 0; i < 2; i++) {
				free(all[i].key);
				free(all[i].value);
			}
		free(all);
		kr_form_free(&mapped);
		kr_error("InternalError", "out of memory");
		return -1;
	}
	all[0].key_len = 6;
	all[0].value_len = strlen(action);
	all[1].key_len = 7;
	all[1].value_len = strlen(c->version);
	if (mapped.n)
		memcpy(all + 2, mapped.params, mapped.n * sizeof(*all));
	params->params = all;
	params->n = mapped.n + 2;
	free(mapped.params);	/* the strings now belong to params */
	return 0;
}

int
clc_soap_authenticate(const struct clc_soap_call *c, const char *ca_path, sqlite3 *users,
    time_t now, struct kr_user *user, struct kr_form *params)
{
	if (check_envelope(c) < 0 || clc_wsse_verify(c->body, ca_path, users, now, user) < 0)
		return -1;
	return call_params(c, params);
}

static void
serve(struct clc *clc, struct evhttp_request *req, const struct clc_soap_call *c)
{
	struct kr_form params = KR_FORM_INIT;
	struct clc_req r = { .clc = clc, .db = clc->db, .params = &params, .out = &clc->out };
	const struct clc_action *a = NULL;
	char ca[1024];
	int rc;

	kr_error_clear();
	/* keys/ holds the CA's certificate for the daemons; ca/ (the CA's key) is root's. */
	if (kr_daemon_path(clc->daemon, "var/lib/karri/keys/ca-cert.pem", ca, sizeof(ca)) < 0 ||
	    clc_soap_authenticate(c, ca, clc->users, time(NULL), &r.user, &params) < 0 ||
	    (rc = clc_query_run(&r, req, &a)) < 0)
		goto fail;
	if (rc == 1)
		clc_defer_start(&r, req, &params, deferred_reply, c->soap12);
	else
		send_response(req, c->soap12, &r);
	goto done;
fail:
	send_recorded_fault(req, c->soap12, a ? a->name : (const char *)c->op->name);
done:
	clc_query_reset_out(clc);
	kr_form_free(&params);
}

int
clc_soap_read(const char *data, size_t len, struct clc_soap_call *c)
{
	xmlDocPtr doc;

	if (len > CLC_SOAP_MAX_BODY) {
		kr_error("InvalidRequest", "the SOAP request is larger than 4 MiB");
		return -1;
	}
	if (len == 0 || data == NULL)
		return 1;
	/* No DTDs: no entity can expand or reach out, whatever libxml2's defaults. */
	if (memmem(data, len, "<!DOCTYPE", 9)) {
		kr_error("InvalidRequest", "SOAP requests may not contain a DTD");
		return -1;
	}
	doc = xmlReadMemory(data, (int)len, NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
	    XML_PARSE_NOWARNING);
	if (doc == NULL)
		return 1;	/* not XML: gSOAP answers with its fault */
	if (doc->intSubset || doc->extSubset) {
		xmlFreeDoc(doc);
		kr_error("InvalidRequest", "SOAP requests may not contain a DTD");
		return -1;
	}
	if (classify(doc, c) != 0) {
		xmlFreeDoc(doc);
		return 1;
	}
	return 0;
}

int
clc_soap_handle(struct clc *clc, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	struct clc_soap_call c;
	int rc;

	kr_error_clear();
	/* Not pulled up when too large: clc_soap_read() refuses it by its length. */
	rc = clc_soap_read(len && len <= CLC_SOAP_MAX_BODY ? (const char *)evbuffer_pullup(in, -1) :
	    NULL, len, &c);
	if (rc < 0) {
		send_fault(req, false, kr_error_code(), kr_error_message());
		return 0;
	}
	if (rc == 1)
		return 1;
	serve(clc, req, &c);
	xmlFreeDoc(c.doc);
	return 0;
}
