/*
 * contracts-test.c - one program serves the NC contract and is a client of
 * the NC, CC and service contracts at once (the reason for the generation
 * scheme in Makefile.am), and nested types cross the wire intact.
 *
 * A kr_soap_server on an ephemeral loopback port runs in a thread; the test
 * calls it through the generated client stubs.
 */
#include "core/check_run.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "karriH.h"
#include "daemon/daemon.h"
#include "dispatch.h"
#include "soap/soap_server.h"

/* The NC operations this test server implements; the rest answer NotImplemented. */
KR_SOAP_NOT_IMPLEMENTED(nc, ncRunInstance)
KR_SOAP_NOT_IMPLEMENTED(nc, ncTerminateInstance)
KR_SOAP_NOT_IMPLEMENTED(nc, ncDescribeResource)
KR_SOAP_NOT_IMPLEMENTED(nc, ncRebootInstance)
KR_SOAP_NOT_IMPLEMENTED(nc, ncGetConsoleOutput)
KR_SOAP_NOT_IMPLEMENTED(nc, ncAttachVolume)
KR_SOAP_NOT_IMPLEMENTED(nc, ncDetachVolume)
KR_SOAP_NOT_IMPLEMENTED(nc, ncStartNetwork)
KR_SOAP_NOT_IMPLEMENTED(nc, ncPowerDown)

/* Echo each asked-for id back as an instance with nested types filled in. */
int
__nc__ncDescribeInstances(struct soap *soap, struct _nc__ncDescribeInstances *req,
    struct _nc__ncDescribeInstancesResponse *resp)
{
	int n = req->__sizeinstanceIds;

	KR_SOAP_ECHO(resp, req);
	resp->_return = true_;
	resp->__sizeinstances = n;
	resp->instances = soap_malloc(soap, (size_t)n * sizeof(*resp->instances));
	for (int i = 0; i < n; i++) {
		struct nc__instanceType *in = &resp->instances[i];

		soap_default_nc__instanceType(soap, in);
		in->instanceId = req->instanceIds[i];
		in->stateName = "Extant";
		in->instanceType = soap_malloc(soap, sizeof(*in->instanceType));
		soap_default_kr__virtualMachineType(soap, in->instanceType);
		in->instanceType->name = "m1.small";
		in->instanceType->memory = 256;
		in->instanceType->cores = 1;
		in->__sizegroupNames = 2;
		in->groupNames = soap_malloc(soap, 2 * sizeof(char *));
		in->groupNames[0] = "default";
		in->groupNames[1] = "web & <db>";	/* escaping survives */
	}
	return SOAP_OK;
}

static const kr_soap_dispatch_fn dispatchers[] = { nc_serve_request, svc_serve_request, NULL };
static struct kr_soap_server *server;
static pthread_t server_thread;
static char url[64];

static void *
serve(void *arg)
{
	(void)arg;
	kr_soap_server_run(server);
	return NULL;
}

static void
start_server(void)
{
	struct kr_soap_server_opts o = { .bind_address = "127.0.0.1", .dispatchers = dispatchers };

	/* Find a free port by trying a few; 0 is not accepted by soap_bind. */
	for (int port = 20000 + getpid() % 20000; !server && port < 65000; port += 97) {
		o.port = port;
		server = kr_soap_server_new(&o);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	}
	ck_assert_ptr_nonnull(server);
	pthread_create(&server_thread, NULL, serve, NULL);
}

static void
stop_server(void)
{
	kr_daemon_request_stop();
	pthread_join(server_thread, NULL);
	kr_soap_server_free(server);
}

static struct soap *
client(void)
{
	struct soap *soap = soap_new();

	kr_soap_setup(soap, 5);
	return soap;
}

START_TEST(nested_types_round_trip)
{
	struct soap *soap = client();
	char *ids[] = { "i-12345678", "i-9abcdef0" };
	struct _nc__ncDescribeInstances req = { .correlationId = "corr-1", .userId = "admin",
		.__sizeinstanceIds = 2, .instanceIds = ids };
	struct _nc__ncDescribeInstancesResponse resp;

	ck_assert_int_eq(soap_call___nc__ncDescribeInstances(soap, url, NULL, &req, &resp), SOAP_OK);
	ck_assert_str_eq(resp.correlationId, "corr-1");
	ck_assert_str_eq(resp.userId, "admin");
	ck_assert_int_eq(resp._return, true_);
	ck_assert_int_eq(resp.__sizeinstances, 2);
	ck_assert_str_eq(resp.instances[1].instanceId, "i-9abcdef0");
	ck_assert_str_eq(resp.instances[0].stateName, "Extant");
	ck_assert_str_eq(resp.instances[0].instanceType->name, "m1.small");
	ck_assert_int_eq(resp.instances[0].instanceType->memory, 256);
	ck_assert_int_eq(resp.instances[1].__sizegroupNames, 2);
	ck_assert_str_eq(resp.instances[1].groupNames[1], "web & <db>");
	ck_assert_ptr_null(resp.instances[0].netParams);
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
}
END_TEST

START_TEST(unbuilt_operation_is_not_implemented)
{
	struct soap *soap = client();
	struct _nc__ncRunInstance req = { .correlationId = "c", .instanceId = "i-00000001" };
	struct _nc__ncRunInstanceResponse resp;

	/* Server-side faults arrive as SOAP_SVR_FAULT, the client's as SOAP_CLI_FAULT. */
	ck_assert_int_eq(soap_call___nc__ncRunInstance(soap, url, NULL, &req, &resp), SOAP_SVR_FAULT);
	ck_assert_str_eq(*soap_faultstring(soap), "NotImplemented");
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
}
END_TEST

START_TEST(another_contract_is_not_served_here)
{
	/* The same binary is a CC client; the NC server does not know CC operations. */
	struct soap *soap = client();
	struct _cc__DescribeResources req = { .correlationId = "c" };
	struct _cc__DescribeResourcesResponse resp;

	ck_assert_int_eq(soap_call___cc__DescribeResources(soap, url, NULL, &req, &resp),
	    SOAP_CLI_FAULT);
	ck_assert_ptr_nonnull(strstr(*soap_faultstring(soap), "DescribeResources"));
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
}
END_TEST

START_TEST(service_contract_on_the_same_port)
{
	/* No daemon was started in this process: DescribeService says so, over the wire. */
	struct soap *soap = client();
	struct _svc__DescribeService req = { .correlationId = "c" };
	struct _svc__DescribeServiceResponse resp;

	ck_assert_int_eq(soap_call___svc__DescribeService(soap, url, NULL, &req, &resp),
	    SOAP_SVR_FAULT);
	ck_assert_str_eq(*soap_faultstring(soap), "InternalError");
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("contracts", &tc);

	tcase_add_unchecked_fixture(tc, start_server, stop_server);
	tcase_add_test(tc, nested_types_round_trip);
	tcase_add_test(tc, unbuilt_operation_is_not_implemented);
	tcase_add_test(tc, another_contract_is_not_served_here);
	tcase_add_test(tc, service_contract_on_the_same_port);
	/* One server for all cases: run them in this process, not forked. */
	setenv("CK_FORK", "no", 1);
	return kr_check_run(s);
}
