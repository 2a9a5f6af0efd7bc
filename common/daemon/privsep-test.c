/*
 * privsep-test.c - unit tests for privsep.c.  The parent's loop runs in a
 * forked process, as it will in a daemon; the test is the child that asks,
 * and sees what the parent did by its answers and its exit status.
 */
#include "core/check_run.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "daemon/privsep.h"

enum { OP_ADD = 1, OP_NAME = 2, OP_FAIL = 3 };

static int
run_add(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	uint32_t v[2], sum;

	(void)len;
	(void)arg;
	memcpy(v, req, sizeof(v));
	sum = v[0] + v[1];
	memcpy(reply, &sum, sizeof(sum));
	*reply_len = sizeof(sum);
	return 0;
}

/* A bridge-like name: 1 to 15 of [a-z0-9-] (IFNAMSIZ - 1). */
static bool
check_name(const void *req, size_t len)
{
	const char *s = req;

	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static int
run_name(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)arg;
	memcpy(reply, "made ", 5);
	memcpy((char *)reply + 5, req, len);
	*reply_len = 5 + len;
	return 0;
}

static int
run_fail(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)req;
	(void)len;
	(void)reply;
	(void)reply_len;
	(void)arg;
	kr_error("InvalidParameterValue", "no such bridge: br-x");
	return -1;
}

static const struct kr_privsep_op ops[] = {
	{ OP_ADD, "add", 8, 8, NULL, run_add },
	{ OP_NAME, "make-bridge", 1, 15, check_name, run_name },
	{ OP_FAIL, "fail", 0, 0, NULL, run_fail },
	{ 0, NULL, 0, 0, NULL, NULL },
};

/* The parent's loop in a process of its own: exit 0 on EOF, 2 on a broken contract. */
static pid_t
start_parent(struct kr_privsep_client *c)
{
	int fds[2];
	pid_t pid;

	ck_assert_int_eq(kr_privsep_pair(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[1]);
		_exit(kr_privsep_serve(fds[0], ops, NULL) == 0 ? 0 : 2);
	}
	close(fds[0]);
	kr_privsep_client_init(c, fds[1]);
	return pid;
}

static int
parent_status(pid_t pid)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

START_TEST(listed_operations_are_done_and_failures_carried_unchanged)
{
	struct kr_privsep_client c;
	pid_t pid = start_parent(&c);
	uint32_t v[2] = { 40, 2 }, sum = 0;
	char out[64];
	size_t n;

	ck_assert_int_eq(kr_privsep_call(&c, OP_ADD, v, sizeof(v), &sum, sizeof(sum), &n), 0);
	ck_assert_int_eq(sum, 42);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(kr_privsep_call(&c, OP_NAME, "br-sg1", 6, out, sizeof(out), &n), 0);
	ck_assert_int_eq(memcmp(out, "made br-sg1", n), 0);
	ck_assert_uint_eq(n, 11);
	/* A valid request that fails is an answer: the parent's code and message. */
	ck_assert_int_eq(kr_privsep_call(&c, OP_FAIL, NULL, 0, out, sizeof(out), &n), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	ck_assert_str_eq(kr_error_message(), "no such bridge: br-x");
	/* ... and the parent goes on serving. */
	ck_assert_int_eq(kr_privsep_call(&c, OP_ADD, v, sizeof(v), &sum, sizeof(sum), &n), 0);
	/* An answer bigger than the caller's room is an error, not an overflow. */
	ck_assert_int_eq(kr_privsep_call(&c, OP_NAME, "abcdef", 6, out, 4, &n), -1);
	close(c.fd);
	ck_assert_int_eq(parent_status(pid), 0);
}
END_TEST

/* Each way off the contract: the parent stops (exit 2), the call fails. */
static void
assert_fatal(uint32_t type, const void *req, size_t len)
{
	struct kr_privsep_client c;
	pid_t pid = start_parent(&c);
	char out[64];

	ck_assert_int_eq(kr_privsep_call(&c, type, req, len, out, sizeof(out), NULL), -1);
	ck_assert_str_eq(kr_error_code(), "InternalError");
	ck_assert_int_eq(parent_status(pid), 2);
	close(c.fd);
}

START_TEST(unknown_or_out_of_bounds_requests_are_fatal)
{
	uint32_t v[3] = { 1, 2, 3 };

	assert_fatal(99, v, 8);				/* not on the list */
	assert_fatal(OP_ADD, v, 4);			/* too short */
	assert_fatal(OP_ADD, v, 12);			/* too long */
	assert_fatal(OP_NAME, "0123456789abcdef", 16);	/* over its bound */
	assert_fatal(OP_NAME, "br;reboot", 9);		/* refused by its check */
	assert_fatal(OP_FAIL, v, 1);			/* takes nothing */
}
END_TEST

/* Datagrams no well-behaved child sends: bad header, no header, too big. */
START_TEST(malformed_messages_are_fatal)
{
	static unsigned char big[sizeof(struct kr_privsep_hdr) + KR_PRIVSEP_MAX + 64];
	struct kr_privsep_hdr h = { .type = OP_ADD, .len = 8 };
	struct kr_privsep_client c;
	unsigned char lie[sizeof(h) + 4];
	pid_t pid;

	memcpy(lie, &h, sizeof(h));			/* says 8 bytes, carries 4 */
	pid = start_parent(&c);
	ck_assert_int_eq(send(c.fd, lie, sizeof(lie), 0), (ssize_t)sizeof(lie));
	ck_assert_int_eq(parent_status(pid), 2);
	close(c.fd);

	pid = start_parent(&c);
	ck_assert_int_eq(send(c.fd, "abc", 3, 0), 3);
	ck_assert_int_eq(parent_status(pid), 2);
	close(c.fd);

	h.len = KR_PRIVSEP_MAX + 64;
	memcpy(big, &h, sizeof(h));
	pid = start_parent(&c);
	ck_assert_int_eq(send(c.fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	ck_assert_int_eq(parent_status(pid), 2);
	close(c.fd);

	/* The child's side refuses to send such a thing in the first place. */
	pid = start_parent(&c);
	ck_assert_int_eq(kr_privsep_call(&c, OP_NAME, big, KR_PRIVSEP_MAX + 1, NULL, 0, NULL), -1);
	close(c.fd);
	ck_assert_int_eq(parent_status(pid), 0);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("privsep", &tc);

	tcase_add_test(tc, listed_operations_are_done_and_failures_carried_unchanged);
	tcase_add_test(tc, unknown_or_out_of_bounds_requests_are_fatal);
	tcase_add_test(tc, malformed_messages_are_fatal);
	return kr_check_run(s);
}
