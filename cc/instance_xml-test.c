/*
 * instance_xml-test.c - the XML DescribeInstances writes by hand reads back
 * through gSOAP's own deserializer as the contract's structures, as a CLC
 * would read it: every field, escaping, empty strings omitted, volumes.
 */
#include "core/check_run.h"
#include <stdio.h>
#include <string.h>

#include "karriH.h"
#include "cc.h"
#include "soap/soap_server.h"

struct cc cc;

static struct _cc__DescribeInstancesResponse *
parse(struct soap *soap, const char *xml)
{
	struct _cc__DescribeInstancesResponse *r = soap_malloc(soap, sizeof(*r));
	int rc;

	soap->is = xml;
	soap_default__cc__DescribeInstancesResponse(soap, r);
	rc = soap_begin_recv(soap) || !soap_get__cc__DescribeInstancesResponse(soap, r, NULL, NULL) ||
	    soap_end_recv(soap);
	ck_assert_int_eq(rc, 0);
	return r;
}

START_TEST(rendered_instances_read_back)
{
	struct soap *soap = soap_new();
	struct kr_buf b = KR_BUF_INIT;
	struct cc_vol vols[2] = { { "vol-0000000a", "vdb", "attached", "nbd" },
		{ "vol-0000000b", "vdc", "attaching", "" } };
	struct cc_inst in[2] = { 0 };
	struct _cc__DescribeInstancesResponse *r;

	kr_soap_setup(soap, 5);
	snprintf(in[0].id, sizeof(in[0].id), "i-0000000a");
	snprintf(in[0].reservation, sizeof(in[0].reservation), "r-0000000a");
	snprintf(in[0].user, sizeof(in[0].user), "<ann & \"bob\">");
	snprintf(in[0].type, sizeof(in[0].type), "m1.small");
	in[0].need = (struct cc_res){ 2, 512, 10 };
	snprintf(in[0].mac, sizeof(in[0].mac), "d0:0d:00:00:00:0a");
	snprintf(in[0].priv_ip, sizeof(in[0].priv_ip), "10.100.1.66");
	snprintf(in[0].bridge, sizeof(in[0].bridge), "krbr10");
	in[0].vlan = 10;
	in[0].net_index = 2;
	snprintf(in[0].state, sizeof(in[0].state), "Extant");
	snprintf(in[0].group, sizeof(in[0].group), "web");
	in[0].launched = 1795300000;
	in[0].vols = vols;
	in[0].nvols = 2;
	snprintf(in[1].id, sizeof(in[1].id), "i-0000000b");
	in[1].vlan = -1;
	kr_buf_add(&b, "<cc:DescribeInstancesResponse xmlns:cc=\"urn:karri:cc:2026-11\" "
	    "xmlns:kr=\"urn:karri:types:2026-11\"><cc:return>true</cc:return>");
	cc_inst_xml(&b, &in[0], "http://10.81.0.11:8775/", "UP");
	cc_inst_xml(&b, &in[1], "http://10.81.0.12:8775/", "DOWN");
	kr_buf_add(&b, "</cc:DescribeInstancesResponse>");
	r = parse(soap, kr_buf_str(&b));
	ck_assert_int_eq(r->_return, true_);
	ck_assert_int_eq(r->__sizeinstances, 2);
	ck_assert_str_eq(r->instances[0].instanceId, "i-0000000a");
	ck_assert_str_eq(r->instances[0].reservationId, "r-0000000a");
	ck_assert_str_eq(r->instances[0].userId, "<ann & \"bob\">");
	ck_assert_ptr_null(r->instances[0].kernelId);		/* empty: omitted */
	ck_assert_str_eq(r->instances[0].instanceType->name, "m1.small");
	ck_assert_int_eq(r->instances[0].instanceType->cores, 2);
	ck_assert_int_eq(r->instances[0].instanceType->memory, 512);
	ck_assert_int_eq(r->instances[0].instanceType->disk, 10);
	ck_assert_str_eq(r->instances[0].netParams->privateMacAddress, "d0:0d:00:00:00:0a");
	ck_assert_str_eq(r->instances[0].netParams->privateIp, "10.100.1.66");
	ck_assert_ptr_null(r->instances[0].netParams->publicIp);
	ck_assert_int_eq(r->instances[0].netParams->vlan, 10);
	ck_assert_int_eq(r->instances[0].netParams->networkIndex, 2);
	ck_assert_str_eq(r->instances[0].netParams->bridge, "krbr10");
	ck_assert_str_eq(r->instances[0].stateName, "Extant");
	ck_assert_int_eq(r->instances[0].launchTime, 1795300000);
	ck_assert_str_eq(r->instances[0].serviceTag, "http://10.81.0.11:8775/");
	ck_assert_int_eq(r->instances[0].__sizegroupNames, 1);
	ck_assert_str_eq(r->instances[0].groupNames[0], "web");
	ck_assert_int_eq(r->instances[0].__sizevolumes, 2);
	ck_assert_str_eq(r->instances[0].volumes[1].volumeId, "vol-0000000b");
	ck_assert_str_eq(r->instances[0].volumes[1].state, "attaching");
	ck_assert_ptr_null(r->instances[0].volumes[1].attachment);
	ck_assert_str_eq(r->instances[0].nodeState, "UP");
	ck_assert_str_eq(r->instances[1].stateName, "Pending");	/* no state yet */
	ck_assert_int_eq(r->instances[1].netParams->vlan, -1);
	ck_assert_int_eq(r->instances[1].__sizegroupNames, 0);
	ck_assert_str_eq(r->instances[1].nodeState, "DOWN");
	kr_buf_free(&b);
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
}
END_TEST

START_TEST(fragments_are_counted)
{
	struct cc_inst in = { .id = "i-0000000c", .vlan = -1 };
	struct cc_xml *x = cc_xml_render(&in, 1, "http://n1:8775/");

	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(x->refs, 1);
	ck_assert_uint_eq(x->len, strlen(x->data));
	ck_assert_ptr_nonnull(strstr(x->data, "<cc:nodeState>UP</cc:nodeState>"));
	cc_xml_release(x);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("instance_xml", &tc);

	tcase_add_test(tc, rendered_instances_read_back);
	tcase_add_test(tc, fragments_are_counted);
	return kr_check_run(s);
}
