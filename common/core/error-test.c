/*
 * error-test.c - unit tests for error.c: the record kr_error() makes, and
 * kr_error_save()/kr_error_restore() keeping the first error across the
 * clean-up of a failure path.
 */
#include "core/check_run.h"
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "core/error.h"

START_TEST(records_code_message_and_place)
{
	int line;

	kr_error_clear();
	ck_assert_str_eq(kr_error_code(), "");
	line = __LINE__ + 1;
	kr_error("InvalidParameterValue", "bad %s %d", "size", 7);
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	ck_assert_str_eq(kr_error_message(), "bad size 7");
	ck_assert_ptr_nonnull(strstr(kr_error_last()->func, "records_code_message_and_place"));
	ck_assert_int_eq(kr_error_last()->line, line);
	errno = ENOENT;
	kr_error_errno(NULL, "open %s", "x");
	ck_assert_str_eq(kr_error_code(), "InternalError");
	ck_assert_str_eq(kr_error_message(), "open x: No such file or directory");
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* A clean-up that fails in its turn: the caller still sees the first error. */
static void
undo_that_fails(void)
{
	kr_error("InternalError", "the clean-up failed too");
}

START_TEST(restore_brings_back_the_first_error_unchanged)
{
	struct kr_err saved;
	int line;

	line = __LINE__ + 1;
	kr_error("VolumeLimitExceeded", "no room for %d GiB", 10);
	kr_error_save(&saved);
	undo_that_fails();
	ck_assert_str_eq(kr_error_message(), "the clean-up failed too");
	kr_error_restore(&saved);
	ck_assert_str_eq(kr_error_code(), "VolumeLimitExceeded");
	ck_assert_str_eq(kr_error_message(), "no room for 10 GiB");
	ck_assert_int_eq(kr_error_last()->line, line);
	ck_assert_ptr_nonnull(strstr(kr_error_last()->func, "restore_brings_back"));
	/* The saved copy is the caller's own: clearing the record leaves it. */
	kr_error_clear();
	ck_assert_str_eq(saved.code, "VolumeLimitExceeded");
	kr_error_restore(&saved);
	ck_assert_str_eq(kr_error_code(), "VolumeLimitExceeded");
}
END_TEST

static void *
other_thread(void *arg)
{
	(void)arg;
	kr_error("Other", "from another thread");
	return NULL;
}

START_TEST(the_record_is_per_thread)
{
	pthread_t t;

	kr_error("Mine", "this thread's");
	ck_assert_int_eq(pthread_create(&t, NULL, other_thread, NULL), 0);
	pthread_join(t, NULL);
	ck_assert_str_eq(kr_error_code(), "Mine");
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("error", &tc);

	tcase_add_test(tc, records_code_message_and_place);
	tcase_add_test(tc, restore_brings_back_the_first_error_unchanged);
	tcase_add_test(tc, the_record_is_per_thread);
	return kr_check_run(s);
}
