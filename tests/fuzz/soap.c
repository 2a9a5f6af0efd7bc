/*
 * soap.c - fuzz the EC2 SOAP API's request side as karri-clc runs it
 * (clc/ec2_soap.c, ec2_soap_wsse.c, ec2_soap_map.c): the input is a request
 * body, read by clc_soap_read() (size limit, no DTD, libxml2 with
 * XML_PARSE_NONET, the envelope classified) and checked by
 * clc_soap_authenticate() - the envelope's shape, the WS-Security header,
 * wsu:Id references, exclusive C14N, digests, the RSA-SHA1 signature, the
 * X.509 certificate against the cloud's CA and the user it names, at the
 * moment the seeds were signed (xmlsec1, clc/testdata/soap) - and mapped to
 * Query parameters: the two calls clc_soap_handle() makes before the
 * action runs.  Since a mutated body rarely keeps its signature, the action
 * element is also given to clc_soap_params() directly, so the mapper the
 * daemon reaches behind the signature is fuzzed too.
 */
#include <libxml/parser.h>
#include <sys/stat.h>

#include "ec2_soap.h"
#include "core/error.h"
#include "sig/form.h"
#include "fuzz.h"
#include "sig/userdb.h"

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

/* What the daemon relies on: every parameter has a key and a value. */
static void
check_params(const struct kr_form *params)
{
	for (size_t i = 0; i < params->n; i++)
		if (!params->params[i].key || !params->params[i].value)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct clc_soap_call c;
	struct kr_user u;
	struct kr_form params = KR_FORM_INIT;

	kr_error_clear();
	if (clc_soap_read((const char *)data, size, &c) != 0)
		return 0;
	if (clc_soap_authenticate(&c, ca, users, SIGNED_AT + 10, &u, &params) == 0) {
		if (params.n < 2 || strcmp(params.params[0].key, "Action") != 0)
			abort();
		check_params(&params);
	}
	kr_form_free(&params);
	if (clc_soap_params(c.op, &params) == 0)
		check_params(&params);
	kr_form_free(&params);
	xmlFreeDoc(c.doc);
	return 0;
}
