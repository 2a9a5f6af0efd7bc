/*
 * uri-test.c - unit tests for uri.c.
 */
#include "core/check_run.h"
#include <string.h>

#include "core/buf.h"
#include "core/uri.h"

static const char *
enc(struct kr_buf *b, const char *s, size_t len, unsigned flags)
{
	kr_buf_reset(b);
	kr_uri_encode(b, s, len, flags);
	return kr_buf_str(b);
}

START_TEST(encodes_all_but_unreserved)
{
	struct kr_buf b = KR_BUF_INIT;

	ck_assert_str_eq(enc(&b, "AZaz09-._~", 10, 0), "AZaz09-._~");
	ck_assert_str_eq(enc(&b, "a b+c/d=e&f%*", 13, 0), "a%20b%2Bc%2Fd%3De%26f%25%2A");
	ck_assert_str_eq(enc(&b, "/a b/c", 6, KR_URI_KEEP_SLASH), "/a%20b/c");
	/* UTF-8 bytes one by one, upper-case hex; a NUL is data. */
	ck_assert_str_eq(enc(&b, "\xc3\xa9\xe2\x98\x83", 5, 0), "%C3%A9%E2%98%83");
	ck_assert_str_eq(enc(&b, "a\0b", 3, 0), "a%00b");
	ck_assert_str_eq(enc(&b, "", 0, 0), "");
	kr_buf_free(&b);
}
END_TEST

START_TEST(decodes_escapes_and_plus)
{
	char out[32];

	ck_assert_int_eq(kr_uri_decode(out, "a%20b%2fc%2F", 12, 0, NULL), 6);
	ck_assert_str_eq(out, "a b/c/");
	ck_assert_int_eq(kr_uri_decode(out, "a+b", 3, 0, NULL), 3);
	ck_assert_str_eq(out, "a+b");
	ck_assert_int_eq(kr_uri_decode(out, "a+b%2B", 6, KR_URI_PLUS_SPACE, NULL), 4);
	ck_assert_str_eq(out, "a b+");
	ck_assert_int_eq(kr_uri_decode(out, "x%00y", 5, 0, NULL), 3);
	ck_assert_int_eq(memcmp(out, "x\0y", 3), 0);
	ck_assert_int_eq(kr_uri_decode(out, "", 0, 0, NULL), 0);
	ck_assert_str_eq(out, "");
	/* Only the given length is read. */
	ck_assert_int_eq(kr_uri_decode(out, "ab%41cd", 5, 0, NULL), 3);
	ck_assert_str_eq(out, "abA");
}
END_TEST

START_TEST(rejects_bad_escapes)
{
	static const char *const bad_inputs[] = { "%", "a%2", "%zz", "%g0", "ok%2", "%%41", "%-1" };
	size_t i, bad;
	char out[16];

	for (i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
		bad = 99;
		ck_assert_int_eq(kr_uri_decode(out, bad_inputs[i], strlen(bad_inputs[i]), 0, &bad), -1);
		ck_assert_uint_eq(bad, (size_t)(strchr(bad_inputs[i], '%') - bad_inputs[i]));
	}
	/* An escape cut off by the length is bad even if the string goes on. */
	ck_assert_int_eq(kr_uri_decode(out, "a%41", 3, 0, NULL), -1);
}
END_TEST

/*
 * Issue 17: a failed decode left dst unterminated, and Walrus quoted it back
 * in an error (a pre-auth heap over-read).  Whatever dst held before, and
 * wherever the bad escape is, dst must be the empty string afterwards.
 */
START_TEST(failure_leaves_dst_empty)
{
	static const char *const bad_inputs[] = { "abcdefgh%zz", "%zz", "abc%4", "ab%41%" };
	size_t i;
	char out[32];

	for (i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
		memset(out, 'X', sizeof(out));
		ck_assert_int_eq(kr_uri_decode(out, bad_inputs[i], strlen(bad_inputs[i]), 0, NULL), -1);
		ck_assert_str_eq(out, "");
		ck_assert_int_eq(kr_uri_decode(out, bad_inputs[i], strlen(bad_inputs[i]),
		    KR_URI_PLUS_SPACE, NULL), -1);
		ck_assert_str_eq(out, "");
	}
}
END_TEST

START_TEST(round_trips_every_byte)
{
	struct kr_buf b = KR_BUF_INIT;
	char all[256], out[256 * 3 + 1];
	int i, n;

	for (i = 0; i < 256; i++)
		all[i] = (char)i;
	kr_uri_encode(&b, all, 256, 0);
	ck_assert_int_eq(kr_uri_decode(out, kr_buf_str(&b), kr_buf_len(&b), 0, NULL), 256);
	ck_assert_int_eq(memcmp(out, all, 256), 0);
	/* 26 + 26 + 10 letters and digits, plus - . _ ~ */
	for (i = 0, n = 0; i < 256; i++)
		n += kr_uri_unreserved((unsigned char)i);
	ck_assert_int_eq(n, 66);
	kr_buf_free(&b);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("uri", &tc);

	tcase_add_test(tc, encodes_all_but_unreserved);
	tcase_add_test(tc, decodes_escapes_and_plus);
	tcase_add_test(tc, rejects_bad_escapes);
	tcase_add_test(tc, failure_leaves_dst_empty);
	tcase_add_test(tc, round_trips_every_byte);
	return kr_check_run(s);
}
