/*
 * id-test.c - unit tests for id.c.
 */
#include "core/check_run.h"
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/id.h"

START_TEST(new_ids_have_the_shape)
{
	char id[KR_ID_MAX];
	int i;

	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(kr_id_new("i", id, sizeof(id)), 0);
		ck_assert_uint_eq(strlen(id), 10);
		ck_assert_msg(kr_id_valid(id, "i"), "%s", id);
		ck_assert_msg(strspn(id + 2, "0123456789abcdef") == 8, "%s", id);
	}
	ck_assert_int_eq(kr_id_new("snap", id, sizeof(id)), 0);
	ck_assert(kr_id_valid(id, "snap"));
	ck_assert(kr_id_valid(id, NULL));
	ck_assert(!kr_id_valid(id, "i"));
}
END_TEST

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * 32 random bits: among 100,000 ids about 1.2 pairs collide on average
 * (birthday bound), so "all unique" would be a flaky test and a false
 * promise; that is why the database constraint guards inserts.  What must
 * hold: collisions are as rare as chance says (more than 8 has odds below
 * one in a million) and every hex digit of every position is equally
 * likely (a counter or a time stamp would fail this).
 */
START_TEST(ids_are_random_over_100k)
{
	enum { N = 100000 };
	static char ids[N][KR_ID_MAX];
	int counts[8][16] = { { 0 } }, i, pos, dups = 0;

	for (i = 0; i < N; i++) {
		ck_assert_int_eq(kr_id_new("i", ids[i], sizeof(ids[i])), 0);
		for (pos = 0; pos < 8; pos++) {
			char c = ids[i][2 + pos];

			counts[pos][c <= '9' ? c - '0' : c - 'a' + 10]++;
		}
	}
	qsort(ids, N, sizeof(ids[0]), cmp_str);
	for (i = 1; i < N; i++)
		dups += strcmp(ids[i - 1], ids[i]) == 0;
	ck_assert_int_le(dups, 8);
	/* Each digit: expected 6250, standard deviation ~77. */
	for (pos = 0; pos < 8; pos++)
		for (i = 0; i < 16; i++)
			ck_assert_msg(counts[pos][i] > 5800 && counts[pos][i] < 6700,
			    "digit %x at position %d seen %d times", i, pos, counts[pos][i]);
}
END_TEST

START_TEST(new_refuses_bad_arguments)
{
	char id[KR_ID_MAX], small[10];

	ck_assert_int_eq(kr_id_new("i", small, sizeof(small)), -1);	/* needs 11 */
	ck_assert_str_eq(kr_error_code(), "InternalError");
	ck_assert_int_eq(kr_id_new("i", small, 11 - 1), -1);
	ck_assert_int_eq(kr_id_new("vol", id, 4 + 8 + 1), 0);
	ck_assert_int_eq(kr_id_new("", id, sizeof(id)), -1);
	ck_assert_int_eq(kr_id_new("I", id, sizeof(id)), -1);
	ck_assert_int_eq(kr_id_new("i-", id, sizeof(id)), -1);
	ck_assert_int_eq(kr_id_new(NULL, id, sizeof(id)), -1);
	ck_assert_int_eq(kr_id_new("abcdefghijklmnopq", id, sizeof(id)), -1);	/* 17 letters */
}
END_TEST

START_TEST(valid_is_exact)
{
	ck_assert(kr_id_valid("i-12345678", "i"));
	ck_assert(kr_id_valid("i-0123456789abcdef0", "i"));	/* EC2's 17 digits */
	ck_assert(kr_id_valid("emi-deadbeef", NULL));
	ck_assert(!kr_id_valid("i-1234567", "i"));
	ck_assert(!kr_id_valid("i-123456789", "i"));
	ck_assert(!kr_id_valid("i-1234567g", "i"));
	ck_assert(!kr_id_valid("i-1234ABCD", "i"));
	ck_assert(!kr_id_valid("I-12345678", "i"));
	ck_assert(!kr_id_valid("ii-12345678", "i"));
	ck_assert(!kr_id_valid("i12345678", "i"));
	ck_assert(!kr_id_valid("i-12345678 ", "i"));
	ck_assert(!kr_id_valid("-12345678", NULL));
	ck_assert(!kr_id_valid("vol-12345678", "i"));
	ck_assert(!kr_id_valid(NULL, "i"));
	ck_assert(!kr_id_valid("", NULL));
}
END_TEST

START_TEST(mac_from_instance)
{
	char mac[18];
	char id[KR_ID_MAX];

	ck_assert_int_eq(kr_id_mac_from_instance("i-1234abcd", NULL, mac), 0);
	ck_assert_str_eq(mac, "d0:0d:12:34:ab:cd");
	ck_assert_int_eq(kr_id_mac_from_instance("i-00000000", "AA:0b", mac), 0);
	ck_assert_str_eq(mac, "aa:0b:00:00:00:00");
	ck_assert_int_eq(kr_id_mac_from_instance("i-1234abc", NULL, mac), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	ck_assert_int_eq(kr_id_mac_from_instance("vol-1234abcd", NULL, mac), -1);
	ck_assert_int_eq(kr_id_mac_from_instance("i-0123456789abcdef0", NULL, mac), -1);
	ck_assert_int_eq(kr_id_mac_from_instance(NULL, NULL, mac), -1);
	ck_assert_int_eq(kr_id_mac_from_instance("i-1234abcd", "d0:0", mac), -1);
	ck_assert_int_eq(kr_id_mac_from_instance("i-1234abcd", "d0-0d", mac), -1);
	/* Two instances never share a MAC unless their ids are equal. */
	ck_assert_int_eq(kr_id_new("i", id, sizeof(id)), 0);
	ck_assert_int_eq(kr_id_mac_from_instance(id, NULL, mac), 0);
	ck_assert_int_eq(strncmp(mac + 6, id + 2, 2), 0);
	ck_assert_int_eq(strncmp(mac + 15, id + 8, 2), 0);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("id", &tc);

	tcase_add_test(tc, new_ids_have_the_shape);
	tcase_add_test(tc, ids_are_random_over_100k);
	tcase_add_test(tc, new_refuses_bad_arguments);
	tcase_add_test(tc, valid_is_exact);
	tcase_add_test(tc, mac_from_instance);
	return kr_check_run(s);
}
