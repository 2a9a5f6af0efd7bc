/*
 * command-test.c - unit tests for command.c against real programs.
 *
 * Only here may /bin/sh appear: it builds the odd children the tests need
 * (ones that ignore SIGTERM, leave grandchildren, kill themselves).
 */
#include "core/check_run.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/command.h"
#include "core/error.h"

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(true_and_false)
{
	struct kr_command_result res;

	ck_assert_int_eq(kr_command_run(ARGV("true"), NULL, &res), 0);
	ck_assert_int_eq(res.exit_status, 0);
	ck_assert_str_eq(res.out, "");
	ck_assert_str_eq(res.err, "");
	kr_command_result_free(&res);
	ck_assert_int_eq(kr_command_run(ARGV("false"), NULL, &res), -1);
	ck_assert_int_eq(res.exit_status, 1);
	ck_assert_int_eq(res.term_signal, 0);
	ck_assert_str_eq(kr_error_code(), "InternalError");
	ck_assert_str_eq(kr_error_message(), "false: exited with status 1");
	kr_command_result_free(&res);
	ck_assert_int_eq(kr_command_run(ARGV("/bin/true"), NULL, NULL), 0);	/* res optional */
	kr_command_result_free(NULL);
}
END_TEST

START_TEST(argv_is_not_a_shell)
{
	struct kr_command_result res;

	ck_assert_int_eq(kr_command_run(ARGV("printf", "%s|%s\n", "$(id); rm -rf /", "*"), NULL,
	    &res), 0);
	ck_assert_str_eq(res.out, "$(id); rm -rf /|*\n");
	ck_assert_uint_eq(res.out_len, strlen(res.out));
	kr_command_result_free(&res);
}
END_TEST

START_TEST(failure_quotes_first_stderr_line)
{
	struct kr_command_result res;

	ck_assert_int_eq(kr_command_run(ARGV("/bin/sh", "-c",
	    "echo to-out; echo 'qemu-img: Could not open' >&2; echo more >&2; exit 3"), NULL, &res), -1);
	ck_assert_str_eq(kr_error_message(), "/bin/sh: exited with status 3: qemu-img: Could not open");
	ck_assert_int_eq(res.exit_status, 3);
	ck_assert_str_eq(res.out, "to-out\n");
	ck_assert_str_eq(res.err, "qemu-img: Could not open\nmore\n");
	kr_command_result_free(&res);
}
END_TEST

START_TEST(stdin_is_fed)
{
	struct kr_command_opts o = { .input = "abc\0def", .input_len = 7 };
	struct kr_command_result res;
	size_t big = 5u << 20, i;
	char *data = malloc(big);

	ck_assert_int_eq(kr_command_run(ARGV("cat"), &o, &res), 0);
	ck_assert_uint_eq(res.out_len, 7);
	ck_assert_mem_eq(res.out, "abc\0def", 7);
	kr_command_result_free(&res);
	/* 5 MiB in and out at once: must not deadlock on full pipes. */
	for (i = 0; i < big; i++)
		data[i] = (char)(i * 7 + i / 4096);
	o = (struct kr_command_opts){ .input = data, .input_len = big, .max_output = big };
	ck_assert_int_eq(kr_command_run(ARGV("cat"), &o, &res), 0);
	ck_assert_uint_eq(res.out_len, big);
	ck_assert(memcmp(res.out, data, big) == 0);
	ck_assert(!res.truncated);
	kr_command_result_free(&res);
	free(data);
}
END_TEST

/* A child that will not read stdin must not kill us with SIGPIPE. */
START_TEST(unread_input_is_not_fatal)
{
	static char data[1 << 20];
	struct kr_command_opts o = { .input = data, .input_len = sizeof(data) };

	signal(SIGPIPE, SIG_DFL);
	ck_assert_int_eq(kr_command_run(ARGV("true"), &o, NULL), 0);
	ck_assert_int_eq(kr_command_run(ARGV("/bin/sh", "-c", "exec 0<&-; sleep 0.2"), &o, NULL), 0);
}
END_TEST

START_TEST(output_is_bounded)
{
	struct kr_command_opts o = { .max_output = 1000 };
	struct kr_command_result res;

	ck_assert_int_eq(kr_command_run(ARGV("head", "-c", "3000000", "/dev/zero"), &o, &res), 0);
	ck_assert_uint_eq(res.out_len, 1000);
	ck_assert(res.truncated);
	ck_assert_int_eq(res.exit_status, 0);	/* it ran to the end: we read and dropped */
	kr_command_result_free(&res);
	/* Default bound: 1 MiB. */
	ck_assert_int_eq(kr_command_run(ARGV("head", "-c", "3000000", "/dev/zero"), NULL, &res), 0);
	ck_assert_uint_eq(res.out_len, 1u << 20);
	ck_assert(res.truncated);
	kr_command_result_free(&res);
}
END_TEST

START_TEST(timeout_kills)
{
	struct kr_command_opts o = { .timeout_ms = 300 };
	struct kr_command_result res;
	double t = seconds();

	ck_assert_int_eq(kr_command_run(ARGV("sleep", "30"), &o, &res), -1);
	ck_assert_double_lt(seconds() - t, 2.0);
	ck_assert(res.timed_out);
	ck_assert_int_eq(res.exit_status, -1);
	ck_assert_int_eq(res.term_signal, SIGTERM);
	ck_assert_str_eq(kr_error_message(), "sleep: timed out after 300 ms");
	kr_command_result_free(&res);
}
END_TEST

START_TEST(sigterm_ignored_then_sigkill)
{
	struct kr_command_opts o = { .timeout_ms = 200 };
	struct kr_command_result res;
	double t = seconds(), dt;

	/* An ignored signal stays ignored across exec: this sleep shrugs off SIGTERM. */
	ck_assert_int_eq(kr_command_run(ARGV("/bin/sh", "-c", "trap '' TERM; exec sleep 30"), &o,
	    &res), -1);
	dt = seconds() - t;
	ck_assert_double_ge(dt, 2.0);
	ck_assert_double_lt(dt, 5.0);
	ck_assert(res.timed_out);
	ck_assert_int_eq(res.term_signal, SIGKILL);
	kr_command_result_free(&res);
}
END_TEST

START_TEST(timeout_kills_the_whole_group)
{
	struct kr_command_opts o = { .timeout_ms = 300 };
	struct kr_command_result res;
	char stat_path[64], state = 0, buf[256];
	long grandchild;
	FILE *f;

	ck_assert_int_eq(kr_command_run(ARGV("/bin/sh", "-c", "sleep 30 & echo $!; wait"), &o,
	    &res), -1);
	ck_assert_int_eq(sscanf(res.out, "%ld", &grandchild), 1);
	kr_command_result_free(&res);
	usleep(200000);
	/* Gone, or a zombie waiting for an init that does not reap: not running. */
	snprintf(stat_path, sizeof(stat_path), "/proc/%ld/stat", grandchild);
	if ((f = fopen(stat_path, "r"))) {
		if (fgets(buf, sizeof(buf), f) && strrchr(buf, ')'))
			state = strrchr(buf, ')')[2];
		fclose(f);
		ck_assert_msg(state == 'Z' || state == 'X', "grandchild %ld state %c", grandchild, state);
	}
}
END_TEST

START_TEST(killed_by_signal_is_reported)
{
	struct kr_command_result res;

	ck_assert_int_eq(kr_command_run(ARGV("/bin/sh", "-c", "kill -9 $$"), NULL, &res), -1);
	ck_assert_int_eq(res.term_signal, SIGKILL);
	ck_assert(!res.timed_out);
	ck_assert_str_eq(kr_error_message(), "/bin/sh: killed by signal 9 (SIGKILL)");
	kr_command_result_free(&res);
}
END_TEST

START_TEST(only_std_fds_are_inherited)
{
	struct kr_command_result res;
	char *line, *save;
	int fd = open("/dev/null", O_RDONLY);	/* deliberately not O_CLOEXEC */
	int n = 0, num;

	ck_assert_int_eq(dup2(fd, 20), 20);
	ck_assert_int_eq(kr_command_run(ARGV("ls", "-l", "/proc/self/fd"), NULL, &res), 0);
	/* 0-2 and the directory ls itself reads (3); nothing of ours. */
	for (line = strtok_r(res.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *arrow = strstr(line, " -> ");

		if (!arrow)
			continue;	/* "total 0" */
		while (arrow > line && arrow[-1] != ' ')
			arrow--;
		num = atoi(arrow);
		ck_assert_msg(num <= 3, "fd %d leaked: %s", num, line);
		n++;
	}
	ck_assert_int_ge(n, 3);
	kr_command_result_free(&res);
	close(fd);
	close(20);
}
END_TEST

START_TEST(environment_is_clean)
{
	static const char *const env[] = { "PATH=/bin", "LANG=C", NULL };
	struct kr_command_opts o = { .envp = env };
	struct kr_command_result res;

	setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak", 1);
	setenv("PATH", "/nonexistent:/also/not", 1);	/* the daemon's PATH is not used */
	ck_assert_int_eq(kr_command_run(ARGV("env"), NULL, &res), 0);
	ck_assert_str_eq(res.out, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n");
	kr_command_result_free(&res);
	ck_assert_int_eq(kr_command_run(ARGV("env"), &o, &res), 0);
	ck_assert_str_eq(res.out, "PATH=/bin\nLANG=C\n");
	kr_command_result_free(&res);
}
END_TEST

START_TEST(signal_state_is_reset)
{
	struct kr_command_opts o = { .timeout_ms = 200 };
	struct kr_command_result res;
	sigset_t set;
	double t = seconds();

	/* A daemon ignoring SIGINT must not pass that on ... */
	signal(SIGINT, SIG_IGN);
	ck_assert_int_eq(kr_command_run(ARGV("/bin/sh", "-c", "kill -INT $$; exit 0"), NULL, &res), -1);
	ck_assert_int_eq(res.term_signal, SIGINT);
	kr_command_result_free(&res);
	/* ... nor its blocked signals: SIGTERM must end the child at once, no SIGKILL needed. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	ck_assert_int_eq(kr_command_run(ARGV("sleep", "30"), &o, &res), -1);
	ck_assert_int_eq(res.term_signal, SIGTERM);
	ck_assert_double_lt(seconds() - t, 1.5);
	kr_command_result_free(&res);
}
END_TEST

START_TEST(cannot_run_is_reported)
{
	static const char *const env[] = { "PATH=/nonexistent", NULL };
	struct kr_command_opts o = { .envp = env };
	struct kr_command_result res;

	ck_assert_int_eq(kr_command_run(ARGV("/nonexistent/qemu-img"), NULL, &res), -1);
	ck_assert_str_eq(kr_error_message(), "/nonexistent/qemu-img: cannot run: No such file or directory");
	ck_assert_int_eq(res.exit_status, -1);
	ck_assert_str_eq(res.out, "");
	kr_command_result_free(&res);
	ck_assert_int_eq(kr_command_run(ARGV("true"), &o, NULL), -1);
	ck_assert_str_eq(kr_error_message(), "true: cannot run: not found in PATH=/nonexistent");
	ck_assert_int_eq(kr_command_run((const char *const[]){ NULL }, NULL, NULL), -1);
}
END_TEST

START_TEST(cwd_is_used)
{
	struct kr_command_opts o = { .cwd = "/proc" };
	struct kr_command_result res;

	ck_assert_int_eq(kr_command_run(ARGV("pwd"), &o, &res), 0);
	ck_assert_str_eq(res.out, "/proc\n");
	kr_command_result_free(&res);
	o.cwd = "/nonexistent";
	ck_assert_int_eq(kr_command_run(ARGV("pwd"), &o, NULL), -1);
}
END_TEST

START_TEST(spawn_and_wait)
{
	char dir[] = "/tmp/karri-command-test.XXXXXX", log[128], buf[256] = "";
	struct kr_command_opts o = { .log_path = log };
	int status = -1, fd;
	pid_t pid;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(log, sizeof(log), "%s/dnsmasq.log", dir);
	pid = kr_command_spawn(ARGV("/bin/sh", "-c", "sleep 0.3; echo out; echo err >&2; exit 4"), &o);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(kr_command_wait(pid, 0, &status), 1);	/* still running */
	ck_assert_int_eq(kr_command_wait(pid, 5000, &status), 0);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 4);
	fd = open(log, O_RDONLY);
	ck_assert_int_ge(read(fd, buf, sizeof(buf) - 1), 0);
	close(fd);
	ck_assert_str_eq(buf, "out\nerr\n");
	ck_assert_int_eq(kr_command_wait(pid, 0, NULL), -1);	/* reaped already */
	/* Background processes are not ours to time out. */
	pid = kr_command_spawn(ARGV("sleep", "30"), NULL);
	ck_assert_int_eq(kr_command_wait(pid, 100, &status), 1);
	kill(pid, SIGTERM);
	ck_assert_int_eq(kr_command_wait(pid, -1, &status), 0);
	ck_assert(WIFSIGNALED(status));
	unlink(log);
	rmdir(dir);
	snprintf(log, sizeof(log), "%s/gone/x.log", dir);
	ck_assert_int_eq(kr_command_spawn(ARGV("true"), &o), -1);
	ck_assert_ptr_nonnull(strstr(kr_error_message(), log));
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("command", &tc);

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, true_and_false);
	tcase_add_test(tc, argv_is_not_a_shell);
	tcase_add_test(tc, failure_quotes_first_stderr_line);
	tcase_add_test(tc, stdin_is_fed);
	tcase_add_test(tc, unread_input_is_not_fatal);
	tcase_add_test(tc, output_is_bounded);
	tcase_add_test(tc, timeout_kills);
	tcase_add_test(tc, sigterm_ignored_then_sigkill);
	tcase_add_test(tc, timeout_kills_the_whole_group);
	tcase_add_test(tc, killed_by_signal_is_reported);
	tcase_add_test(tc, only_std_fds_are_inherited);
	tcase_add_test(tc, environment_is_clean);
	tcase_add_test(tc, signal_state_is_reset);
	tcase_add_test(tc, cannot_run_is_reported);
	tcase_add_test(tc, cwd_is_used);
	tcase_add_test(tc, spawn_and_wait);
	return kr_check_run(s);
}
