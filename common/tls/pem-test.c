/*
 * pem-test.c - unit tests for pem.c: a key written by OpenSSL reads back;
 * a missing file or one without the object gives NULL.
 */
#include "core/check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "tls/pem.h"

START_TEST(key_round_trip_and_absence)
{
	char path[] = "/tmp/pem-test-XXXXXX";
	EVP_PKEY *k = EVP_EC_gen("P-256"), *back;
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	back = kr_pem_read_key(path);
	ck_assert_ptr_nonnull(back);
	ck_assert_int_eq(EVP_PKEY_eq(k, back), 1);
	ck_assert_ptr_null(kr_pem_read_cert(path));	/* a key is no certificate */
	unlink(path);
	ck_assert_ptr_null(kr_pem_read_key(path));
	ck_assert_ptr_null(kr_pem_read_cert(path));
	EVP_PKEY_free(back);
	EVP_PKEY_free(k);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("pem", &tc);

	tcase_add_test(tc, key_round_trip_and_absence);
	return kr_check_run(s);
}
