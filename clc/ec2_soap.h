/*
 * ec2_soap.h - the EC2 SOAP API of the CLC (ec2_soap*.c).
 *
 * EC2's SOAP and Query APIs are one API in two encodings: a SOAP request's
 * body element is the action (<RunInstances xmlns="http://ec2.amazonaws.com/
 * doc/2009-11-30/">) holding the same parameters as nested elements, and
 * the answer is the very <RunInstancesResponse> element the Query API
 * sends.  So a SOAP call is parsed with libxml2 (ec2_soap.c), its
 * WS-Security X.509 signature checked and the certificate mapped to a user
 * (ec2_soap_wsse.c), its body turned into Query parameters by a table per
 * action (ec2_soap_map.c), and the Query API's action runs unchanged.
 */
#ifndef KARRI_EC2_SOAP_H
#define KARRI_EC2_SOAP_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include <libxml/tree.h>
#include <sqlite3.h>

#include "sig/form.h"
#include "sig/userdb.h"

struct clc;
struct evhttp_request;

#define CLC_SOAP_MAX_BODY (4u << 20)	/* largest SOAP request (UserData, key material fit) */
#define CLC_SOAP_SKEW_S 300		/* the wsu:Timestamp window, as SigV2/V4's */
#define CLC_SOAP_EC2_NS "http://ec2.amazonaws.com/doc/"

/*
 * ec2_soap.c: answer req when it is an EC2 SOAP call (0), or 1 when its
 * body is some other SOAP (Karri's own DescribeService) for gSOAP.
 */
int clc_soap_handle(struct clc *clc, struct evhttp_request *req);

/* One EC2 SOAP request, parsed (c.doc is the caller's to free). */
#define CLC_SOAP_MAX_VERSION 16
struct clc_soap_call {
	xmlDocPtr doc;
	xmlNodePtr body;		/* soap:Body */
	xmlNodePtr op;			/* its one element: the action */
	bool soap12;
	char version[CLC_SOAP_MAX_VERSION];	/* from the action's namespace */
};

/*
 * The two steps of clc_soap_handle() before the action runs, apart so that
 * tests/fuzz/soap.c feeds bytes to exactly what the daemon runs.
 * clc_soap_read(): the request body parsed: 0 with *c filled (an EC2 call),
 * 1 when it is not XML or some other SOAP (for gSOAP), -1 + kr_error
 * (InvalidRequest: too large, a DTD).  clc_soap_authenticate(): the
 * envelope's shape, the WS-Security signature and its user (ca_path, users,
 * now as clc_wsse_verify), then the action as Query parameters with Action
 * and Version first; -1 + kr_error.
 */
int clc_soap_read(const char *data, size_t len, struct clc_soap_call *c);
int clc_soap_authenticate(const struct clc_soap_call *c, const char *ca_path, sqlite3 *users,
    time_t now, struct kr_user *user, struct kr_form *params);

/*
 * ec2_soap_wsse.c: check the WS-Security header of a parsed envelope: an
 * X.509 BinarySecurityToken chaining to the cloud CA (ca_path), a
 * ds:Signature (exclusive c14n, RSA-SHA1/SHA256) covering this very Body
 * and the wsu:Timestamp, the timestamp within CLC_SOAP_SKEW_S of now, and
 * the certificate's CN an enabled user of users.  0 and *user, or -1 with
 * kr_error (AuthFailure, SignatureDoesNotMatch, RequestExpired).
 */
int clc_wsse_verify(xmlNodePtr body, const char *ca_path, sqlite3 *users, time_t now,
    struct kr_user *user);

/*
 * ec2_soap_map.c: the Query parameters of an action element (Action and
 * Version not included); -1 + kr_error (UnsupportedOperation, InvalidAction,
 * UnknownParameter, InvalidParameterValue) when it cannot be mapped.
 */
int clc_soap_params(xmlNodePtr op, struct kr_form *out);
/* For the unit test: every table sorted and well-formed. */
int clc_soap_map_check(void);

/*
 * Two element tests every ec2_soap*.c file and the tests use: inline here,
 * so that ec2_soap_map.c and ec2_soap_wsse.c need nothing of ec2_soap.c,
 * which calls them (no cycle).
 */
/* The first element child of n (NULL when none). */
static inline xmlNodePtr
clc_soap_first_elem(xmlNodePtr n)
{
	for (n = n ? n->children : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

/* Whether n is the element {ns}name. */
static inline bool
clc_soap_is(xmlNodePtr n, const char *ns, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && ns &&
	    strcmp((const char *)n->ns->href, ns) == 0 &&
	    strcmp((const char *)n->name, name) == 0;
}

#endif
