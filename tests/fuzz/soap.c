/*
 * soap.c - fuzz the EC2 SOAP API's request side (clc/ec2_soap_wsse.c,
 * ec2_soap_map.c): an envelope is read as clc_soap_handle() reads it (no
 * DTD, libxml2 with XML_PARSE_NONET), its Body checked by clc_wsse_verify()
 * - WS-Security header, wsu:Id references, exclusive C14N, digests, the
 * RSA-SHA1 signature, the X.509 certificate against the cloud's CA and the
 * user it names - at the moment the seeds were signed (xmlsec1, clc/testdata/
 * soap), and the action mapped to Query parameters by clc_soap_params().
 *
 * Parsing and classifying the envelope are static in clc/ec2_soap.c, which
 * is being reworked (non-blocking CLC); they are mirrored here in a few
 * lines until that file exposes them.
 */
#include <libxml/parser.h>
#include <sys/stat.h>

#include "ec2_soap.h"
#include "error.h"
#include "form.h"
#include "fuzz.h"
#include "userdb.h"

#define SIGNED_AT 1800000000	/* signed.xml's wsu:Created (clc/soap-test.c) */

static sqlite3 *users;
static char ca[1024];

static void
quiet_xml(void *ctx, const char *msg, ...)
{
	(void)ctx, (void)msg;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *src = getenv("KARRI_SRC");
	char db[600];

	(void)argc, (void)argv;
	fz_quiet();
	xmlSetGenericErrorFunc(NULL, quiet_xml);
	snprintf(ca, sizeof(ca), "%s/clc/testdata/soap/ca-cert.pem", src ? src : ".");
	snprintf(db, sizeof(db), "%s/users.db", fz_tmpdir());
	if (access(ca, R_OK) != 0 || kr_userdb_open(db, &users) < 0 ||
	    kr_userdb_user_add(users, "alice", false, NULL) < 0) {
		fprintf(stderr, "soap: cannot set up (%s; set KARRI_SRC)\n", ca);
		exit(1);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	xmlDocPtr doc;
	xmlNodePtr env, body = NULL, op;
	struct kr_user u;
	struct kr_form params = KR_FORM_INIT;

	if (size > CLC_SOAP_MAX_BODY || memmem(data, size, "<!DOCTYPE", 9))
		return 0;
	doc = xmlReadMemory((const char *)data, (int)size, NULL, NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return 0;
	env = xmlDocGetRootElement(doc);
	if (!doc->intSubset && !doc->extSubset && env && env->ns &&
	    (clc_soap_is(env, "http://schemas.xmlsoap.org/soap/envelope/", "Envelope") ||
	    clc_soap_is(env, "http://www.w3.org/2003/05/soap-envelope", "Envelope"))) {
		for (body = env->children; body &&
		    !clc_soap_is(body, (const char *)env->ns->href, "Body"); body = body->next)
			;
		if (body && (op = clc_soap_first_elem(body)) && op->ns) {
			kr_error_clear();
			(void)clc_wsse_verify(body, ca, users, SIGNED_AT + 10, &u);
			if (clc_soap_params(op, &params) == 0)
				for (size_t i = 0; i < params.n; i++)
					if (!params.params[i].key || !params.params[i].value)
						abort();
			kr_form_free(&params);
		}
	}
	xmlFreeDoc(doc);
	return 0;
}
