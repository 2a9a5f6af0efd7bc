/*
 * tls-test.c - unit tests for tls.c: where each component's files are, how
 * a missing one is reported, and the scheme a process uses for its peers.
 * (Handshakes, refusals and host checks against real daemons are in
 * tests/integration/test_tls.py.)
 */
#include "core/check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "core/error.h"
#include "tls/tls.h"

START_TEST(roles_follow_the_daemon_names)
{
	ck_assert_str_eq(kr_tls_role("karri-cc"), "cluster");
	ck_assert_str_eq(kr_tls_role("karri-nc"), "node");
	ck_assert_str_eq(kr_tls_role("karri-ebs"), "ebs");
	ck_assert_str_eq(kr_tls_role("karri-clc"), "clc");
	ck_assert_str_eq(kr_tls_role("karri"), "clc");
	ck_assert_ptr_null(kr_tls_role("karri-walrus"));
}
END_TEST

START_TEST(files_live_under_the_keys_directory)
{
	struct kr_tls_files f;

	kr_tls_files("/srv/k", "node", &f);
	ck_assert_str_eq(f.cert, "/srv/k/var/lib/karri/keys/node-cert.pem");
	ck_assert_str_eq(f.key, "/srv/k/var/lib/karri/keys/node-pk.pem");
	ck_assert_str_eq(f.ca, "/srv/k/var/lib/karri/keys/ca-cert.pem");
	kr_tls_files("", "cluster", &f);	/* KARRI_HOME=/ */
	ck_assert_str_eq(f.cert, "/var/lib/karri/keys/cluster-cert.pem");
}
END_TEST

START_TEST(missing_files_are_each_named)
{
	char dir[] = "/tmp/kr-tls-XXXXXX", keys[256];
	struct kr_tls_files f;
	FILE *fp;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	kr_tls_files(dir, "ebs", &f);
	ck_assert_int_eq(kr_tls_files_check(&f), -1);
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "ebs-cert.pem"));
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "ebs-pk.pem"));
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "ca-cert.pem"));
	/* Only the CA there: the other two are still named, the CA is not. */
	snprintf(keys, sizeof(keys), "%s/" KR_TLS_KEYS, dir);
	ck_assert_int_eq(kr_mkdir_p(keys), 0);
	fp = fopen(f.ca, "w");
	ck_assert_ptr_nonnull(fp);
	fclose(fp);
	ck_assert_int_eq(kr_tls_files_check(&f), -1);
	ck_assert_ptr_null(strstr(kr_error_message(), "ca-cert.pem"));
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "ebs-pk.pem"));
	unlink(f.ca);
}
END_TEST

START_TEST(the_scheme_follows_the_mode)
{
	struct kr_tls_files f;

	ck_assert_str_eq(kr_tls_scheme(), "http");	/* never initialised: plain */
	ck_assert_int_eq(kr_tls_client_init(NULL, true), 0);
	ck_assert_str_eq(kr_tls_scheme(), "http");
	/* TLS without a certificate yet: https, and the reason is kept. */
	kr_tls_files("/nonexistent", "clc", &f);
	ck_assert_int_eq(kr_tls_client_init(&f, false), -1);
	ck_assert_str_eq(kr_tls_scheme(), "https");
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "clc-cert.pem"));
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("tls", &tc);

	tcase_add_test(tc, roles_follow_the_daemon_names);
	tcase_add_test(tc, files_live_under_the_keys_directory);
	tcase_add_test(tc, missing_files_are_each_named);
	tcase_add_test(tc, the_scheme_follows_the_mode);
	return kr_check_run(s);
}
