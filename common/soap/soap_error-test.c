/*
 * soap_error-test.c - unit tests for soap_error.c: what a daemon writes for
 * a recorded failure is what its caller records, code and message alike,
 * and what is not a well-formed code becomes InternalError.
 */
#include "core/check_run.h"
#include <errno.h>
#include <string.h>

#include "core/error.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

static struct soap *
ctx(void)
{
	struct soap *soap = soap_new();

	ck_assert_ptr_nonnull(soap);
	kr_soap_setup(soap, 5);		/* as every Karri client and server */
	return soap;
}

static void
done(struct soap *soap)
{
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
}

START_TEST(codes_are_ec2_tokens)
{
	char longest[KR_ERROR_CODE_MAX + 1];

	ck_assert(kr_soap_error_code_ok("InsufficientInstanceCapacity"));
	ck_assert(kr_soap_error_code_ok("InvalidInstanceID.NotFound"));
	ck_assert(kr_soap_error_code_ok("Server.InternalError2"));
	ck_assert(!kr_soap_error_code_ok(NULL));
	ck_assert(!kr_soap_error_code_ok(""));
	ck_assert(!kr_soap_error_code_ok("1Code"));
	ck_assert(!kr_soap_error_code_ok(".Code"));
	ck_assert(!kr_soap_error_code_ok("Bad Code"));
	ck_assert(!kr_soap_error_code_ok("Code<x>"));
	ck_assert(!kr_soap_error_code_ok("Code-With-Dash"));
	memset(longest, 'A', sizeof(longest));
	longest[KR_ERROR_CODE_MAX - 1] = '\0';
	ck_assert(kr_soap_error_code_ok(longest));
	longest[KR_ERROR_CODE_MAX - 1] = 'A';
	longest[KR_ERROR_CODE_MAX] = '\0';
	ck_assert(!kr_soap_error_code_ok(longest));
}
END_TEST

START_TEST(the_refusal_reads_back_unchanged)
{
	struct soap *soap = ctx();
	enum xsd__boolean ret = true_;
	char *status = NULL;

	kr_error("VolumeLimitExceeded", "a volume of %d GiB is larger than EBS_MAX_VOLUME_SIZE", 9);
	ck_assert_int_eq(kr_soap_error_reply(soap, &ret, &status), SOAP_OK);
	ck_assert_int_eq(ret, false_);
	ck_assert_str_eq(status,
	    "VolumeLimitExceeded: a volume of 9 GiB is larger than EBS_MAX_VOLUME_SIZE");
	kr_error_clear();
	ck_assert_int_eq(kr_soap_error_read(soap, SOAP_OK, &ret, &status, NULL, "CreateVolume",
	    "https://ebs:8776/"), -1);
	ck_assert_str_eq(kr_error_code(), "VolumeLimitExceeded");
	ck_assert_str_eq(kr_error_message(), "a volume of 9 GiB is larger than EBS_MAX_VOLUME_SIZE");
	done(soap);
}
END_TEST

START_TEST(nothing_recorded_is_an_internal_error)
{
	struct soap *soap = ctx();
	enum xsd__boolean ret = true_;
	char *status = NULL;

	kr_error_clear();
	kr_soap_error_reply(soap, &ret, &status);
	ck_assert_str_eq(status, "InternalError: unknown error");
	done(soap);
}
END_TEST

START_TEST(success_records_nothing)
{
	struct soap *soap = ctx();
	enum xsd__boolean ret = true_;
	char *status = NULL;

	kr_error_clear();
	ck_assert_int_eq(kr_soap_error_read(soap, SOAP_OK, &ret, &status, NULL, "x", "u"), 0);
	ck_assert_str_eq(kr_error_code(), "");
	done(soap);
}
END_TEST

START_TEST(a_bad_code_from_the_network_is_internal)
{
	kr_soap_error_parse("Not A Code: something");
	ck_assert_str_eq(kr_error_code(), "InternalError");
	ck_assert_str_eq(kr_error_message(), "Not A Code: something");
	kr_soap_error_parse("no separator at all");
	ck_assert_str_eq(kr_error_code(), "InternalError");
	ck_assert_str_eq(kr_error_message(), "no separator at all");
	kr_soap_error_parse(NULL);
	ck_assert_str_eq(kr_error_code(), "InternalError");
	kr_soap_error_parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA: x");
	ck_assert_str_eq(kr_error_code(), "InternalError");
	kr_soap_error_parse("Code: ");
	ck_assert_str_eq(kr_error_code(), "Code");
	ck_assert_str_eq(kr_error_message(), "Code");
}
END_TEST

START_TEST(messages_are_bounded_and_printable)
{
	static char big[8192];

	kr_soap_error_parse("InvalidParameterValue: line one\nline\x01two\x7f");
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	ck_assert_str_eq(kr_error_message(), "line one line two ");
	memset(big, 'x', sizeof(big) - 1);
	memcpy(big, "InternalError: ", 15);
	kr_soap_error_parse(big);
	ck_assert_uint_lt(strlen(kr_error_message()), KR_ERROR_MSG_MAX);
}
END_TEST

START_TEST(transport_failures_are_unavailable)
{
	struct soap *soap = ctx();

	soap->errnum = 0;	/* a timeout: gSOAP leaves no errno */
	kr_soap_error_read(soap, SOAP_EOF, NULL, NULL, "InsufficientInstanceCapacity",
	    "RunInstances", "https://cc:8774/");
	ck_assert_str_eq(kr_error_code(), "Unavailable");
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "did not answer"));
	soap->errnum = ECONNREFUSED;
	kr_soap_error_read(soap, SOAP_TCP_ERROR, NULL, NULL, NULL, "RunInstances", "u");
	ck_assert_str_eq(kr_error_code(), "Unavailable");
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "not reachable"));
	kr_soap_error_read(soap, SOAP_TCP_ERROR, NULL, NULL, "InsufficientInstanceCapacity",
	    "RunInstances", "u");
	ck_assert_str_eq(kr_error_code(), "InsufficientInstanceCapacity");
	done(soap);
}
END_TEST

START_TEST(the_fault_reads_back_unchanged)
{
	struct soap *soap = ctx();

	kr_error("InternalError", "a <b> & \"c\"");
	ck_assert_int_eq(kr_soap_error_fault(soap), SOAP_FAULT);
	kr_error_clear();
	kr_soap_error_read(soap, SOAP_SVR_FAULT, NULL, NULL, NULL, "DescribeInstances", "u");
	ck_assert_str_eq(kr_error_code(), "InternalError");
	ck_assert_str_eq(kr_error_message(), "a <b> & \"c\"");
	done(soap);
}
END_TEST

START_TEST(faults_that_are_not_codes)
{
	struct soap *soap = ctx();

	soap_receiver_fault(soap, "NotImplemented", "not yet");
	kr_soap_error_read(soap, SOAP_SVR_FAULT, NULL, NULL, NULL, "ncRunInstance", "u");
	ck_assert_str_eq(kr_error_code(), "Unsupported");
	soap_sender_fault(soap, "Method 'x' not implemented", NULL);
	kr_soap_error_read(soap, SOAP_CLI_FAULT, NULL, NULL, NULL, "x", "u");
	ck_assert_str_eq(kr_error_code(), "InternalError");
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "Method 'x' not implemented"));
	done(soap);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("soap_error", &tc);

	tcase_add_test(tc, codes_are_ec2_tokens);
	tcase_add_test(tc, the_refusal_reads_back_unchanged);
	tcase_add_test(tc, nothing_recorded_is_an_internal_error);
	tcase_add_test(tc, success_records_nothing);
	tcase_add_test(tc, a_bad_code_from_the_network_is_internal);
	tcase_add_test(tc, messages_are_bounded_and_printable);
	tcase_add_test(tc, transport_failures_are_unavailable);
	tcase_add_test(tc, the_fault_reads_back_unchanged);
	tcase_add_test(tc, faults_that_are_not_codes);
	return kr_check_run(s);
}
