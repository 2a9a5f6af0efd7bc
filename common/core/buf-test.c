/*
 * buf-test.c - unit tests for buf.c.
 */
#include "core/check_run.h"
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"

START_TEST(appends_and_formats)
{
	struct kr_buf b = KR_BUF_INIT;

	kr_buf_add(&b, "vol-");
	kr_buf_addf(&b, "%08x", 0xdeadbeefu);
	kr_buf_add_char(&b, '!');
	ck_assert_str_eq(kr_buf_str(&b), "vol-deadbeef!");
	ck_assert_uint_eq(kr_buf_len(&b), 13);
	kr_buf_free(&b);
	ck_assert_str_eq(kr_buf_str(&b), "");
}
END_TEST

START_TEST(limit_is_sticky)
{
	struct kr_buf b;
	char *p;

	kr_buf_init(&b, 8);
	kr_buf_add(&b, "12345678");
	ck_assert(!kr_buf_failed(&b));
	kr_buf_add(&b, "9");
	ck_assert(kr_buf_failed(&b));
	kr_buf_add(&b, "more");		/* ignored after the failure */
	ck_assert_str_eq(kr_buf_str(&b), "12345678");
	p = kr_buf_detach(&b, NULL);
	ck_assert_ptr_null(p);
	ck_assert_str_eq(kr_error_code(), "InternalError");
}
END_TEST

START_TEST(xml_escapes_markup)
{
	struct kr_buf b = KR_BUF_INIT;

	kr_buf_add_xml_elem(&b, "keyName", "a<b>&\"c'");
	ck_assert_str_eq(kr_buf_str(&b), "<keyName>a&lt;b&gt;&amp;&quot;c&apos;</keyName>");
	kr_buf_reset(&b);
	kr_buf_add_xml_elem(&b, "empty", NULL);
	ck_assert_str_eq(kr_buf_str(&b), "<empty/>");
	kr_buf_free(&b);
}
END_TEST

START_TEST(xml_replaces_what_xml_cannot_hold)
{
	struct kr_buf b = KR_BUF_INIT;

	/* A control character, a stray continuation byte, an overlong "/", a surrogate. */
	kr_buf_add_xml_len(&b, "a\x01" "b\x80" "c\xc0\xaf" "d\xed\xa0\x80" "e", 12);
	ck_assert_str_eq(kr_buf_str(&b),
	    "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd"
	    "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "e");
	kr_buf_reset(&b);
	/* Valid multi-byte text, tabs and newlines pass unchanged. */
	kr_buf_add_xml(&b, "h\xc3\xa9llo\t\xe2\x82\xac\n\xf0\x9f\x98\x80");
	ck_assert_str_eq(kr_buf_str(&b), "h\xc3\xa9llo\t\xe2\x82\xac\n\xf0\x9f\x98\x80");
	kr_buf_free(&b);
}
END_TEST

START_TEST(detach_hands_over)
{
	struct kr_buf b = KR_BUF_INIT;
	size_t len = 99;
	char *p;

	p = kr_buf_detach(&b, &len);	/* an empty buffer detaches as "" */
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p, "");
	ck_assert_uint_eq(len, 0);
	free(p);
	kr_buf_add(&b, "abc");
	p = kr_buf_detach(&b, &len);
	ck_assert_str_eq(p, "abc");
	ck_assert_uint_eq(len, 3);
	ck_assert_uint_eq(kr_buf_len(&b), 0);
	free(p);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("buf", &tc);

	tcase_add_test(tc, appends_and_formats);
	tcase_add_test(tc, limit_is_sticky);
	tcase_add_test(tc, xml_escapes_markup);
	tcase_add_test(tc, xml_replaces_what_xml_cannot_hold);
	tcase_add_test(tc, detach_hands_over);
	return kr_check_run(s);
}
