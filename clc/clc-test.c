/*
 * clc-test.c - unit tests of the CLC's pure parts: the action table, EC2
 * wildcards, HTTP statuses of error codes, key fingerprints and base64.
 * The API itself is tested with real clients in tests/integration/test_clc*.py.
 */
#include "check_run.h"
#include <string.h>

#include "clc.h"
#include "clc_actions.h"
#include "clc_keys.h"

START_TEST(action_table_sorted_and_real)
{
	ck_assert_int_eq(clc_actions_check(), 0);
	ck_assert_ptr_nonnull(clc_action_find("DescribeInstances"));
	ck_assert_ptr_nonnull(clc_action_find("DescribeInstances")->fn);
	/* Known to EC2, not built: found without a function (UnsupportedOperation). */
	ck_assert_ptr_nonnull(clc_action_find("CreateVpc"));
	ck_assert_ptr_null(clc_action_find("CreateVpc")->fn);
	ck_assert_ptr_null(clc_action_find("DescribeUnicorns"));
}
END_TEST

START_TEST(wildcards)
{
	ck_assert(clc_wildcard_match("*", ""));
	ck_assert(clc_wildcard_match("web*", "web-1"));
	ck_assert(clc_wildcard_match("w?b", "web"));
	ck_assert(clc_wildcard_match("*-1", "web-1"));
	ck_assert(!clc_wildcard_match("web", "web-1"));
	ck_assert(clc_wildcard_match("a\\*b", "a*b"));
	ck_assert(!clc_wildcard_match("a\\*b", "axb"));
}
END_TEST

START_TEST(statuses)
{
	ck_assert_int_eq(clc_http_status("AuthFailure"), 401);
	ck_assert_int_eq(clc_http_status("RequestExpired"), 400);
	ck_assert_int_eq(clc_http_status("InternalError"), 500);
	ck_assert_int_eq(clc_http_status("InvalidAction"), 400);
	ck_assert_int_eq(clc_http_status("Unavailable"), 503);
}
END_TEST

START_TEST(key_create_and_import)
{
	static struct clc_key a, b;
	char b64[2048];

	ck_assert_int_eq(clc_key_create("k", &a), 0);
	ck_assert_int_eq(strlen(a.fingerprint), 59);	/* SHA-1: 20 bytes */
	ck_assert_ptr_nonnull(strstr(a.private_pem, "BEGIN RSA PRIVATE KEY"));
	ck_assert_int_eq(strncmp(a.public_line, "ssh-rsa AAAA", 12), 0);
	/* Import the OpenSSH line, raw and base64-encoded: same MD5 fingerprint. */
	ck_assert_int_eq(clc_key_import(a.public_line, "k", &b), 0);
	ck_assert_int_eq(strlen(b.fingerprint), 47);	/* MD5: 16 bytes */
	ck_assert_str_eq(b.public_line, a.public_line);
	clc_base64_encode((const unsigned char *)a.public_line, strlen(a.public_line), b64);
	{
		static struct clc_key c;

		ck_assert_int_eq(clc_key_import(b64, "k", &c), 0);
		ck_assert_str_eq(c.fingerprint, b.fingerprint);
	}
	ck_assert_int_eq(clc_key_import("ssh-rsa bm90IGEga2V5", "k", &b), -1);
}
END_TEST

START_TEST(base64)
{
	unsigned char out[16];

	ck_assert_int_eq(clc_base64_decode("aGk=", out, sizeof(out)), 2);
	ck_assert_int_eq(memcmp(out, "hi", 2), 0);
	ck_assert_int_eq(clc_base64_decode("aGk", out, sizeof(out)), -1);
	ck_assert_int_eq(clc_base64_decode("a$k=", out, sizeof(out)), -1);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("clc", &tc);

	tcase_add_test(tc, action_table_sorted_and_real);
	tcase_add_test(tc, wildcards);
	tcase_add_test(tc, statuses);
	tcase_add_test(tc, key_create_and_import);
	tcase_add_test(tc, base64);
	return kr_check_run(s);
}
