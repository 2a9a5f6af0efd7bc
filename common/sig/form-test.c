/*
 * form-test.c - unit tests for form.c.
 */
#include "core/check_run.h"
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sig/form.h"

static int
parse(const char *s, const struct kr_form_limits *lim, struct kr_form *f)
{
	kr_error_clear();
	return kr_form_parse(s, strlen(s), lim, f);
}

START_TEST(keeps_order_and_repeats)
{
	struct kr_form f;

	ck_assert_int_eq(parse("Action=RunInstances&Filter.1.Value.1=a&Filter.1.Value.1=b&x=1",
	    NULL, &f), 0);
	ck_assert_uint_eq(f.n, 4);
	ck_assert_str_eq(f.params[0].key, "Action");
	ck_assert_str_eq(f.params[2].value, "b");
	ck_assert_str_eq(kr_form_get(&f, "Filter.1.Value.1"), "a");
	ck_assert_uint_eq(kr_form_count(&f, "Filter.1.Value.1"), 2);
	ck_assert_ptr_null(kr_form_get(&f, "missing"));
	kr_form_free(&f);
	ck_assert_uint_eq(f.n, 0);
	kr_form_free(&f);	/* twice is fine */
}
END_TEST

START_TEST(empty_values_and_missing_equals)
{
	struct kr_form f;

	ck_assert_int_eq(parse("a=&b&&c==d&", NULL, &f), 0);
	ck_assert_uint_eq(f.n, 3);
	ck_assert_str_eq(kr_form_get(&f, "a"), "");
	ck_assert_str_eq(kr_form_get(&f, "b"), "");	/* no '=' */
	ck_assert_str_eq(kr_form_get(&f, "c"), "=d");	/* only the first '=' splits */
	kr_form_free(&f);
	ck_assert_int_eq(parse("", NULL, &f), 0);
	ck_assert_uint_eq(f.n, 0);
	ck_assert_int_eq(parse("&&&", NULL, &f), 0);
	ck_assert_uint_eq(f.n, 0);
	ck_assert_int_eq(parse("=v", NULL, &f), 0);	/* an empty name is kept */
	ck_assert_str_eq(kr_form_get(&f, ""), "v");
	kr_form_free(&f);
}
END_TEST

START_TEST(decodes_plus_and_escapes)
{
	struct kr_form f;

	ck_assert_int_eq(parse("Tag+Key=a+b%2Bc%20d&n%C3%A9=%E2%98%83&z=%00x", NULL, &f), 0);
	ck_assert_str_eq(kr_form_get(&f, "Tag Key"), "a b+c d");
	ck_assert_str_eq(kr_form_get(&f, "n\xc3\xa9"), "\xe2\x98\x83");
	ck_assert_uint_eq(f.params[2].value_len, 2);	/* "%00x": the NUL counts */
	ck_assert_int_eq(memcmp(f.params[2].value, "\0x", 2), 0);
	kr_form_free(&f);
}
END_TEST

START_TEST(rejects_bad_escapes)
{
	static const char *const bad[] = { "a=%", "a=%4", "a=%zz", "%G1=b", "ok=1&b=%2" };
	struct kr_form f;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(parse(bad[i], NULL, &f), -1);
		ck_assert_str_eq(kr_error_code(), "MalformedQueryString");
		ck_assert_uint_eq(f.n, 0);
		ck_assert_ptr_null(f.params);
	}
}
END_TEST

START_TEST(enforces_limits)
{
	struct kr_form_limits lim = { 3, 4, 5 };
	struct kr_form f;
	char *big;

	ck_assert_int_eq(parse("a=1&b=2&c=3", &lim, &f), 0);
	kr_form_free(&f);
	ck_assert_int_eq(parse("a=1&b=2&c=3&d=4", &lim, &f), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	ck_assert_int_eq(parse("abcd=12345", &lim, &f), 0);
	kr_form_free(&f);
	ck_assert_int_eq(parse("abcde=1", &lim, &f), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	ck_assert_int_eq(parse("a=123456", &lim, &f), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	/* Limits count decoded bytes: five escapes are five bytes. */
	ck_assert_int_eq(parse("a=%41%41%41%41%41", &lim, &f), 0);
	kr_form_free(&f);
	/* The defaults take a 1 MiB value (UserData), not one byte more. */
	big = malloc((1u << 20) + 4);
	memcpy(big, "u=", 2);
	memset(big + 2, 'A', 1u << 20);
	big[(1u << 20) + 2] = '\0';
	ck_assert_int_eq(parse(big, NULL, &f), 0);
	ck_assert_uint_eq(f.params[0].value_len, 1u << 20);
	kr_form_free(&f);
	strcpy(big + (1u << 20) + 2, "A");
	ck_assert_int_eq(parse(big, NULL, &f), -1);
	free(big);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("form", &tc);

	tcase_add_test(tc, keeps_order_and_repeats);
	tcase_add_test(tc, empty_values_and_missing_equals);
	tcase_add_test(tc, decodes_plus_and_escapes);
	tcase_add_test(tc, rejects_bad_escapes);
	tcase_add_test(tc, enforces_limits);
	return kr_check_run(s);
}
