/*
 * sig_time-test.c - unit tests for sig_time.c: every HTTP-date form a
 * signer sends is read as the same instant, and near misses are refused.
 */
#define KR_SIG_PRIVATE
#include "core/check_run.h"
#include <time.h>

#include "sig/sig.h"

#define T_2026 1796652000	/* Mon, 07 Dec 2026 14:00:00 GMT */
#define T_1994 784111777	/* Sun, 06 Nov 1994 08:49:37 GMT (RFC 7231's example) */

static time_t
http(const char *s)
{
	time_t t = 42;

	ck_assert_msg(kr_sig_time_http(s, &t) == 0, "refused \"%s\"", s);
	return t;
}

static void
refused(const char *s)
{
	time_t t = 42;

	ck_assert_msg(kr_sig_time_http(s, &t) == -1, "accepted \"%s\"", s);
	ck_assert_int_eq(t, 42);	/* untouched */
}

START_TEST(imf_fixdate)
{
	ck_assert_int_eq(http("Mon, 07 Dec 2026 14:00:00 GMT"), T_2026);
	ck_assert_int_eq(http("Mon, 07 Dec 2026 14:00:00 UTC"), T_2026);
	ck_assert_int_eq(http("Sun, 06 Nov 1994 08:49:37 GMT"), T_1994);
	ck_assert_int_eq(http("Thu, 29 Feb 2024 00:00:00 GMT"), 1709164800);
	/* A leap second is a valid field; timegm carries it into the next minute. */
	ck_assert_int_eq(http("Sat, 31 Dec 2016 23:59:60 GMT"), 1483228800);
}
END_TEST

START_TEST(numeric_zones)
{
	/* email.utils.formatdate() (euca2ools), s3cmd's x-amz-date. */
	ck_assert_int_eq(http("Mon, 07 Dec 2026 14:00:00 -0000"), T_2026);
	ck_assert_int_eq(http("Mon, 07 Dec 2026 14:00:00 +0000"), T_2026);
	ck_assert_int_eq(http("Mon, 07 Dec 2026 15:30:00 +0130"), T_2026);
	ck_assert_int_eq(http("Mon, 07 Dec 2026 09:00:00 -0500"), T_2026);
	ck_assert_int_eq(http("Tue, 08 Dec 2026 04:00:00 +1400"), T_2026);
	ck_assert_int_eq(http("Mon, 07 Dec 2026 02:00:00 -1200"), T_2026);
	ck_assert_int_eq(http("Sunday, 06-Nov-94 10:49:37 +0200"), T_1994);
}
END_TEST

START_TEST(rfc850)
{
	ck_assert_int_eq(http("Monday, 07-Dec-26 14:00:00 GMT"), T_2026);
	ck_assert_int_eq(http("Sunday, 06-Nov-94 08:49:37 GMT"), T_1994);
}
END_TEST

START_TEST(asctime_form)
{
	ck_assert_int_eq(http("Mon Dec  7 14:00:00 2026"), T_2026);
	ck_assert_int_eq(http("Mon Dec 07 14:00:00 2026"), T_2026);
	ck_assert_int_eq(http("Sun Nov  6 08:49:37 1994"), T_1994);
	ck_assert_int_eq(http("Thu Feb 29 00:00:00 2024"), 1709164800);
}
END_TEST

START_TEST(out_of_range)
{
	refused("Mon, 32 Dec 2026 14:00:00 GMT");
	refused("Mon, 00 Dec 2026 14:00:00 GMT");
	refused("Tue, 31 Nov 2026 14:00:00 GMT");
	refused("Sun, 29 Feb 2026 14:00:00 GMT");	/* not a leap year */
	refused("Thu, 29 Feb 2100 14:00:00 GMT");	/* nor is 2100 */
	refused("Mon, 07 Dec 2026 24:00:00 GMT");
	refused("Mon, 07 Dec 2026 14:60:00 GMT");
	refused("Mon, 07 Dec 2026 14:00:61 GMT");
	refused("Mon, 07 Dec 1969 14:00:00 GMT");
	refused("Monday, 31-Apr-26 14:00:00 GMT");
	refused("Mon Dec 32 14:00:00 2026");
	refused("Mon Dec  0 14:00:00 2026");
}
END_TEST

START_TEST(garbage)
{
	refused("");
	refused("Mon, 07 Dec 2026 14:00:00 GMT ");
	refused(" Mon, 07 Dec 2026 14:00:00 GMT");
	refused("Mon, 07 Dec 2026 14:00:00 GMTx");
	refused("Mon, 07 Dec 2026 14:00:00 +0000x");
	refused("Mon, 07 Dec 2026 14:00:00");
	refused("Mon, 07 Dec 2026 14:00:00 EST");	/* names other than GMT/UTC are ambiguous */
	refused("Mon Dec  7 14:00:00 2026 GMT");
	refused("Mon Dec  7 14:00:00 2026x");
	refused("Mon, 7 Dec 2026 14:00:00 GMT");
	refused("Mon,  07 Dec 2026 14:00:00 GMT");
	refused("Mon, 07 dec 2026 14:00:00 GMT");
	refused("mon, 07 Dec 2026 14:00:00 GMT");
	refused("Mon, 07 Dek 2026 14:00:00 GMT");
	refused("Mo, 07 Dec 2026 14:00:00 GMT");
	refused("Monday, 07 Dec 2026 14:00:00 GMT");	/* long name, short form */
	refused("Mon, 07-Dec-26 14:00:00 GMT");	/* short name, RFC 850 form */
	refused("Monday, 07-Dec-2026 14:00:00 GMT");
	refused("Mon, 07 Dec 26 14:00:00 GMT");
	refused("Mon, 07 Dec 2026 14:00 GMT");
	refused("Mon, 07 Dec 2026 1:00:00 GMT");
	refused("Mon, 07 Dec 2026 14:00:00.5 GMT");
	refused("Mon, +7 Dec 2026 14:00:00 GMT");
	refused("Mon Dec  7  14:00:00 2026");
	refused("Mon Dec 7 14:00:00 2026");
	refused("2026-12-07T14:00:00Z");
	refused("1796652000");
}
END_TEST

START_TEST(absurd_offsets)
{
	refused("Mon, 07 Dec 2026 14:00:00 +1401");
	refused("Mon, 07 Dec 2026 14:00:00 -1500");
	refused("Mon, 07 Dec 2026 14:00:00 +9999");
	refused("Mon, 07 Dec 2026 14:00:00 +0060");
	refused("Mon, 07 Dec 2026 14:00:00 +00:00");
	refused("Mon, 07 Dec 2026 14:00:00 +000");
	refused("Mon, 07 Dec 2026 14:00:00 +00000");
	refused("Mon, 07 Dec 2026 14:00:00 0000");
	refused("Mon, 07 Dec 2026 14:00:00 GMT+0000");
}
END_TEST

START_TEST(epoch_and_iso)
{
	time_t t = 0;

	ck_assert_int_eq(kr_sig_time_epoch("1796652000", &t), 0);
	ck_assert_int_eq(t, T_2026);
	ck_assert_int_eq(kr_sig_time_epoch("0", &t), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(kr_sig_time_epoch("", &t), -1);
	ck_assert_int_eq(kr_sig_time_epoch("-1", &t), -1);
	ck_assert_int_eq(kr_sig_time_epoch("+1796652000", &t), -1);
	ck_assert_int_eq(kr_sig_time_epoch(" 1796652000", &t), -1);
	ck_assert_int_eq(kr_sig_time_epoch("1796652000 ", &t), -1);
	ck_assert_int_eq(kr_sig_time_epoch("1796652000.5", &t), -1);
	ck_assert_int_eq(kr_sig_time_epoch("9999999999999", &t), -1);
	/* The ISO forms share the range checks. */
	ck_assert_int_eq(kr_sig_time_iso("2026-12-07T14:00:00Z", &t), 0);
	ck_assert_int_eq(t, T_2026);
	ck_assert_int_eq(kr_sig_time_iso("2026-12-07T15:00:00+01:00", &t), 0);
	ck_assert_int_eq(t, T_2026);
	ck_assert_int_eq(kr_sig_time_iso("2026-02-30T14:00:00Z", &t), -1);
	ck_assert_int_eq(kr_sig_time_iso("2026-12-07T14:00:00+15:00", &t), -1);
	ck_assert_int_eq(kr_sig_time_iso_basic("20261207T140000Z", &t), 0);
	ck_assert_int_eq(t, T_2026);
	ck_assert_int_eq(kr_sig_time_iso_basic("20260230T140000Z", &t), -1);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("sig_time", &tc);

	tcase_add_test(tc, imf_fixdate);
	tcase_add_test(tc, numeric_zones);
	tcase_add_test(tc, rfc850);
	tcase_add_test(tc, asctime_form);
	tcase_add_test(tc, out_of_range);
	tcase_add_test(tc, garbage);
	tcase_add_test(tc, absurd_offsets);
	tcase_add_test(tc, epoch_and_iso);
	return kr_check_run(s);
}
