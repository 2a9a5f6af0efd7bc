/*
 * soap-test.c - unit tests of the EC2 SOAP API's pure parts: the mapping of
 * request bodies to Query parameters (ec2_soap_map.c) and the WS-Security
 * check (ec2_soap_wsse.c) on an envelope signed by xmlsec1 with a user
 * certificate from a Karri CA (testdata/soap/, made by
 * testdata/soap/make.sh), verified at its signing time so it never ages.
 * The API itself is tested with real clients in tests/integration/test_clc_soap.py.
 */
#include "core/check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "ec2_soap.h"
#include "core/error.h"
#include "sig/userdb.h"

#define SIGNED_AT 1800000000	/* testdata/soap/signed.xml's wsu:Created */

static const char *
data_dir(void)
{
	const char *d = getenv("KARRI_TEST_DATA");

	return d && *d ? d : "testdata";
}

/* The Query parameters of a SOAP body element, as "k=v&k=v", or the error code. */
static const char *
map(const char *op_xml)
{
	static char out[2048];
	xmlDocPtr doc = xmlReadMemory(op_xml, (int)strlen(op_xml), NULL, NULL, XML_PARSE_NONET);
	struct kr_form f;
	size_t o = 0;

	ck_assert_ptr_nonnull(doc);
	kr_error_clear();
	if (clc_soap_params(xmlDocGetRootElement(doc), &f) < 0) {
		snprintf(out, sizeof(out), "%s", kr_error_code());
		xmlFreeDoc(doc);
		return out;
	}
	out[0] = '\0';
	for (size_t i = 0; i < f.n; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s=%s", i ? "&" : "",
		    f.params[i].key, f.params[i].value);
	kr_form_free(&f);
	xmlFreeDoc(doc);
	return out;
}

#define NS " xmlns=\"http://ec2.amazonaws.com/doc/2009-11-30/\""

START_TEST(tables_are_sound)
{
	ck_assert_int_eq(clc_soap_map_check(), 0);
}
END_TEST

START_TEST(lists_become_numbered_parameters)
{
	ck_assert_str_eq(map("<DescribeInstances" NS "><instancesSet><item><instanceId>i-1"
	    "</instanceId></item><item><instanceId>i-2</instanceId></item></instancesSet>"
	    "</DescribeInstances>"), "InstanceId.1=i-1&InstanceId.2=i-2");
	ck_assert_str_eq(map("<DescribeKeyPairs" NS "><keySet/></DescribeKeyPairs>"), "");
	ck_assert_str_eq(map("<DescribeImages" NS ">\n <filterSet><item><name>state</name>"
	    "<valueSet><item><value>a</value></item><item><value>b</value></item></valueSet>"
	    "</item></filterSet></DescribeImages>"),
	    "Filter.1.Name=state&Filter.1.Value.1=a&Filter.1.Value.2=b");
	ck_assert_str_eq(map("<AuthorizeSecurityGroupIngress" NS "><userId>1</userId>"
	    "<groupName>web</groupName><ipPermissions><item><ipProtocol>tcp</ipProtocol>"
	    "<fromPort>22</fromPort><toPort>22</toPort><groups/><ipRanges><item><cidrIp>"
	    "10.0.0.0/8</cidrIp></item></ipRanges></item></ipPermissions>"
	    "</AuthorizeSecurityGroupIngress>"),
	    "GroupName=web&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&"
	    "IpPermissions.1.ToPort=22&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8");
}
END_TEST

START_TEST(run_instances_shapes)
{
	ck_assert_str_eq(map("<RunInstances" NS "><imageId>emi-1</imageId><minCount>1"
	    "</minCount><maxCount>2</maxCount><groupSet><item><groupId>default</groupId></item>"
	    "<item><groupId>sg-0123abcd</groupId></item></groupSet><userData version=\"1.0\" "
	    "encoding=\"base64\"><data>aGk=</data></userData><placement><availabilityZone>z1"
	    "</availabilityZone></placement></RunInstances>"),
	    "ImageId=emi-1&MinCount=1&MaxCount=2&SecurityGroup.1=default&"
	    "SecurityGroupId.2=sg-0123abcd&UserData=aGk=&Placement.AvailabilityZone=z1");
}
END_TEST

START_TEST(unknown_things_are_refused)
{
	/* A nested element no table knows is not dropped. */
	ck_assert_str_eq(map("<DescribeInstances" NS "><instancesSet><item><bogus>x</bogus>"
	    "</item></instancesSet></DescribeInstances>"), "UnknownParameter");
	ck_assert_str_eq(map("<DescribeInstances" NS "><x:a xmlns:x=\"urn:x\">1</x:a>"
	    "</DescribeInstances>"), "UnknownParameter");
	ck_assert_str_eq(map("<CreateVpc" NS "/>"), "UnsupportedOperation");
	ck_assert_str_eq(map("<DescribeUnicorns" NS "/>"), "InvalidAction");
	ck_assert_str_eq(map("<CreateKeyPair" NS ">x<keyName>k</keyName></CreateKeyPair>"),
	    "InvalidParameterValue");
}
END_TEST

static char users_dir[] = "/tmp/soap-test-XXXXXX";
static sqlite3 *users;

/* A users database with alice, in a temp dir until drop_users(). */
static void
users_with_alice(void)
{
	char db[64];

	memcpy(users_dir, "/tmp/soap-test-XXXXXX", sizeof(users_dir));	/* CK_FORK=no */
	ck_assert_ptr_nonnull(mkdtemp(users_dir));
	snprintf(db, sizeof(db), "%s/users.db", users_dir);
	ck_assert_int_eq(kr_userdb_open(db, &users), 0);
	ck_assert_int_eq(kr_userdb_user_add(users, "alice", false, NULL), 0);
}

static void
drop_users(void)
{
	static const char *const files[] = { "users.db", "users.db-wal", "users.db-shm" };
	char path[96];

	kr_userdb_close(users);
	users = NULL;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", users_dir, files[i]);
		unlink(path);
	}
	rmdir(users_dir);
}

static xmlDocPtr
signed_doc(const char *name, xmlNodePtr *body)
{
	char path[1024];
	xmlDocPtr doc;
	xmlNodePtr n;

	snprintf(path, sizeof(path), "%s/soap/%s", data_dir(), name);
	doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
	ck_assert_ptr_nonnull(doc);
	for (n = clc_soap_first_elem(xmlDocGetRootElement(doc)); n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "Body") == 0)
			break;
	ck_assert_ptr_nonnull(n);
	*body = n;
	return doc;
}

static const char *
verify(const char *name, time_t now, struct kr_user *u)
{
	char ca[1024];
	xmlNodePtr body;
	xmlDocPtr doc = signed_doc(name, &body);
	int rc;

	snprintf(ca, sizeof(ca), "%s/soap/ca-cert.pem", data_dir());
	kr_error_clear();
	rc = clc_wsse_verify(body, ca, users, now, u);
	if (getenv("SOAP_TEST_VERBOSE"))
		fprintf(stderr, "%s: %s %s\n", name, kr_error_code(), kr_error_message());
	xmlFreeDoc(doc);
	return rc == 0 ? "ok" : kr_error_code();
}

START_TEST(xmlsec_signature_verifies)
{
	struct kr_user u;

	users_with_alice();
	ck_assert_str_eq(verify("signed.xml", SIGNED_AT + 10, &u), "ok");
	ck_assert_str_eq(u.name, "alice");
	drop_users();
}
END_TEST

START_TEST(bad_signatures_are_refused)
{
	struct kr_user u;

	users_with_alice();
	ck_assert_str_eq(verify("signed.xml", SIGNED_AT + 3600, &u), "RequestExpired");
	ck_assert_str_eq(verify("tampered.xml", SIGNED_AT + 10, &u), "SignatureDoesNotMatch");
	ck_assert_str_eq(verify("wrapped.xml", SIGNED_AT + 10, &u), "AuthFailure");
	ck_assert_str_eq(verify("unsigned.xml", SIGNED_AT + 10, &u), "AuthFailure");
	ck_assert_str_eq(verify("other-ca.xml", SIGNED_AT + 10, &u), "AuthFailure");
	drop_users();
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("soap", &tc);

	tcase_add_test(tc, tables_are_sound);
	tcase_add_test(tc, lists_become_numbered_parameters);
	tcase_add_test(tc, run_instances_shapes);
	tcase_add_test(tc, unknown_things_are_refused);
	tcase_add_test(tc, xmlsec_signature_verifies);
	tcase_add_test(tc, bad_signatures_are_refused);
	return kr_check_run(s);
}
