/*
 * log-test.c - unit tests for log.c: line format, levels, rotation, threads.
 *
 * Check forks for every test, so each one starts with a fresh logger.
 */
#include "core/check_run.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"

static char dir[64];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "%s", "/tmp/karri-log-test.XXXXXX");	/* fresh also under CK_FORK=no */
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
teardown(void)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *data = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	data = calloc(1, 8 << 20);
	len = fread(data, 1, (8 << 20) - 1, f);
	data[len] = '\0';
	fclose(f);
	return data;
}

static bool
matches(const char *s, const char *re)
{
	regex_t r;
	bool ok;

	ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
	ok = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

START_TEST(line_format)
{
	char path[300], re[200], *s;

	snprintf(path, sizeof(path), "%s/nc.log", dir);
	ck_assert_int_eq(kr_log_open("karri-nc", path, KR_LOG_INFO, 0, 0), 0);
	kr_log_info("instance %s running", "i-12345678");
	s = slurp(path);
	snprintf(re, sizeof(re), "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} "
	    "INFO  karri-nc\\[%ld\\]: instance i-12345678 running\n$", (long)getpid());
	ck_assert_msg(matches(s, re), "bad line: %s", s);
	free(s);
}
END_TEST

START_TEST(levels_filter)
{
	char path[300], *s;

	snprintf(path, sizeof(path), "%s/cc.log", dir);
	ck_assert_int_eq(kr_log_open("karri-cc", path, KR_LOG_WARN, 0, 0), 0);
	kr_log_debug("dbg");
	kr_log_info("inf");
	kr_log_warnx("wrn");
	kr_log_errorx("err");
	kr_log_set_level(KR_LOG_DEBUG);
	kr_log_debug("dbg2");
	s = slurp(path);
	ck_assert_ptr_null(strstr(s, "dbg\n"));
	ck_assert_ptr_null(strstr(s, "inf\n"));
	ck_assert(matches(s, " WARN  karri-cc\\[[0-9]+\\]: wrn$"));
	ck_assert(matches(s, " ERROR karri-cc\\[[0-9]+\\]: err$"));
	ck_assert(matches(s, " DEBUG karri-cc\\[[0-9]+\\]: dbg2$"));
	free(s);
}
END_TEST

START_TEST(warn_appends_strerror_and_keeps_errno)
{
	char path[300], *s;

	snprintf(path, sizeof(path), "%s/x.log", dir);
	ck_assert_int_eq(kr_log_open("x", path, KR_LOG_DEBUG, 0, 0), 0);
	errno = ENOENT;
	kr_log_warn("open %s", "/nope");
	ck_assert_int_eq(errno, ENOENT);
	s = slurp(path);
	ck_assert(matches(s, ": open /nope: No such file or directory$"));
	free(s);
}
END_TEST

START_TEST(control_characters_cannot_forge_lines)
{
	char path[300], big[10000], *s;

	snprintf(path, sizeof(path), "%s/x.log", dir);
	ck_assert_int_eq(kr_log_open("x", path, KR_LOG_DEBUG, 0, 0), 0);
	kr_log_info("user %s", "bob\n2026-01-01 00:00:00.000 ERROR fake");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kr_log_info("%s", big);
	s = slurp(path);
	ck_assert(matches(s, "user bob\\?2026-01-01 00:00:00.000 ERROR fake$"));
	ck_assert(matches(s, "aaa\\.\\.\\.$"));	/* long line cut, marked */
	ck_assert_int_eq(count_lines(s), 2);
	free(s);
}
END_TEST

START_TEST(before_open_goes_to_stderr)
{
	char path[300], *s;
	int fd;

	snprintf(path, sizeof(path), "%s/stderr", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	ck_assert(kr_log_is_stderr());
	kr_log_info("early bird");
	s = slurp(path);
	ck_assert(matches(s, " INFO  karri\\[[0-9]+\\]: early bird$"));
	free(s);
	/* A file, then "-" (stderr again), then closed: kr_log_is_stderr() follows. */
	snprintf(path, sizeof(path), "%s/file.log", dir);
	ck_assert_int_eq(kr_log_open("karri-cc", path, KR_LOG_INFO, 0, 0), 0);
	ck_assert(!kr_log_is_stderr());
	ck_assert_int_eq(kr_log_open("karri-cc", "-", KR_LOG_INFO, 0, 0), 0);
	ck_assert(kr_log_is_stderr());
	ck_assert_int_eq(kr_log_open("karri-cc", path, KR_LOG_INFO, 0, 0), 0);
	kr_log_close();
	ck_assert(kr_log_is_stderr());
}
END_TEST

START_TEST(open_failures_are_reported)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/missing-dir/x.log", dir);
	ck_assert_int_eq(kr_log_open("x", path, KR_LOG_INFO, 0, 0), -1);
	ck_assert_ptr_nonnull(strstr(kr_error_message(), path));
	ck_assert_int_eq(kr_log_open("x", "relative.log", KR_LOG_INFO, 0, 0), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidConfiguration");
	ck_assert_int_eq(access("relative.log", F_OK), -1);
}
END_TEST

START_TEST(rotation_rotates)
{
	char path[300], p[320], *s;
	struct stat st;
	int i;

	snprintf(path, sizeof(path), "%s/walrus.log", dir);
	ck_assert_int_eq(kr_log_open("karri-walrus", path, KR_LOG_INFO, 1000, 2), 0);
	for (i = 0; i < 100; i++)
		kr_log_info("line %03d padding padding padding padding", i);
	/* Each line is ~90 bytes: ~11 per file, current + .1 + .2 kept, .3 never. */
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_lt(st.st_size, 1000);
	snprintf(p, sizeof(p), "%s.1", path);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_ge(st.st_size, 1000);
	ck_assert_int_lt(st.st_size, 1100);
	snprintf(p, sizeof(p), "%s.2", path);
	ck_assert_int_eq(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s.3", path);
	ck_assert_int_eq(stat(p, &st), -1);
	/* The newest line is in the current file, older ones in .1. */
	s = slurp(path);
	ck_assert(matches(s, "line 099 padding"));
	free(s);
	snprintf(p, sizeof(p), "%s.1", path);
	s = slurp(p);
	ck_assert(!matches(s, "line 099 padding"));
	ck_assert(matches(s, "line 0[5-9][0-9] padding"));
	free(s);
}
END_TEST

#define THREADS 8
#define PER_THREAD 2000

static void *
logger_thread(void *arg)
{
	long t = (long)arg;
	int i;

	for (i = 0; i < PER_THREAD; i++)
		kr_log_info("thread %ld message %d %s", t, i, "the quick brown fox jumps");
	return NULL;
}

START_TEST(threads_write_whole_lines_across_rotation)
{
	static char seen[THREADS][PER_THREAD];
	pthread_t th[THREADS];
	char path[300], p[320], *s, *line, *save;
	long t, total = 0;
	int i, k, n;

	snprintf(path, sizeof(path), "%s/clc.log", dir);
	ck_assert_int_eq(kr_log_open("karri-clc", path, KR_LOG_INFO, 100000, 50), 0);
	for (t = 0; t < THREADS; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, logger_thread, (void *)t), 0);
	for (t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	for (k = 0; k <= 50; k++) {
		if (k == 0)
			snprintf(p, sizeof(p), "%s", path);
		else
			snprintf(p, sizeof(p), "%s.%d", path, k);
		if (!(s = slurp(p)))
			continue;
		for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			ck_assert_msg(matches(line, "^[0-9-]{10} [0-9:.]{12} INFO  karri-clc\\[[0-9]+\\]: "
			    "thread [0-7] message [0-9]+ the quick brown fox jumps$"), "torn: %s", line);
			ck_assert_int_eq(sscanf(strstr(line, "]: ") + 3, "thread %d message %d", &i, &n), 2);
			ck_assert_int_eq(seen[i][n], 0);
			seen[i][n] = 1;
			total++;
		}
		free(s);
	}
	ck_assert_int_eq(total, THREADS * PER_THREAD);
	snprintf(p, sizeof(p), "%s.5", path);
	ck_assert_int_eq(access(p, F_OK), 0);	/* it did rotate */
}
END_TEST

START_TEST(level_names_parse)
{
	enum kr_log_level l = KR_LOG_ERROR;

	ck_assert_int_eq(kr_log_level_parse("debug", &l), 0);
	ck_assert_int_eq(l, KR_LOG_DEBUG);
	ck_assert_int_eq(kr_log_level_parse("EXTREME", &l), 0);
	ck_assert_int_eq(l, KR_LOG_DEBUG);
	ck_assert_int_eq(kr_log_level_parse("Trace", &l), 0);
	ck_assert_int_eq(l, KR_LOG_DEBUG);
	ck_assert_int_eq(kr_log_level_parse("warn", &l), 0);
	ck_assert_int_eq(l, KR_LOG_WARN);
	ck_assert_int_eq(kr_log_level_parse("FATAL", &l), 0);
	ck_assert_int_eq(l, KR_LOG_ERROR);
	ck_assert_int_eq(kr_log_level_parse("INFO", &l), 0);
	ck_assert_int_eq(l, KR_LOG_INFO);
	ck_assert_int_eq(kr_log_level_parse("LOUD", &l), -1);
	ck_assert_int_eq(l, KR_LOG_INFO);
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	ck_assert_int_eq(kr_log_level_parse(NULL, &l), -1);
}
END_TEST

START_TEST(fatal_exits_1)
{
	kr_fatalx("cannot continue: %d (expected by the test)", 7);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("log", &tc);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, line_format);
	tcase_add_test(tc, levels_filter);
	tcase_add_test(tc, warn_appends_strerror_and_keeps_errno);
	tcase_add_test(tc, control_characters_cannot_forge_lines);
	tcase_add_test(tc, before_open_goes_to_stderr);
	tcase_add_test(tc, open_failures_are_reported);
	tcase_add_test(tc, rotation_rotates);
	tcase_add_test(tc, threads_write_whole_lines_across_rotation);
	tcase_add_test(tc, level_names_parse);
	tc = tcase_create("fatal");
	tcase_add_exit_test(tc, fatal_exits_1, 1);
	suite_add_tcase(s, tc);
	return kr_check_run(s);
}
