/*
 * check_run.h - how every Karri unit-test program builds and runs its suite.
 *
 *	int main(void) {
 *		TCase *tc;
 *		Suite *s = kr_check_suite("buf", &tc);
 *		tcase_add_test(tc, appends_and_formats);
 *		return kr_check_run(s);
 *	}
 *
 * Only linked into tests (libkarricheck.a).
 */
#ifndef KARRI_CHECK_RUN_H
#define KARRI_CHECK_RUN_H

#include <check.h>

/* A suite with one test case of the same name, handed back in *tc. */
Suite *kr_check_suite(const char *name, TCase **tc);

/* Run it with Check's normal report; the exit status for main(). */
int kr_check_run(Suite *s);

#endif
