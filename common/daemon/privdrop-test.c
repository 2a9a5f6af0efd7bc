/*
 * privdrop-test.c - unit tests for privdrop.c.  Each drop happens in a
 * child of the test, which reports what it can still do by its exit code.
 */
#include "core/check_run.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "daemon/privdrop.h"

/* In a child: drop to `user`, then 0 if everything privdrop.h promises holds
 * and a descriptor opened before still works, else the number of the first
 * promise broken. */
static int
child_checks(const char *user, int inherited_fd)
{
	struct passwd *pw = getpwnam(user);
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (pw == NULL || kr_privdrop(user) < 0)
		return 1;
	if (getresuid(&r, &e, &s) < 0 || r != pw->pw_uid || e != pw->pw_uid || s != pw->pw_uid)
		return 2;
	if (getresgid(&rg, &eg, &sg) < 0 || rg != pw->pw_gid || eg != pw->pw_gid || sg != pw->pw_gid)
		return 3;
	if (getgroups(0, NULL) != 0)
		return 4;
	if (setuid(0) == 0 || seteuid(0) == 0)
		return 5;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return 6;
	if (write(inherited_fd, "x", 1) != 1)
		return 7;
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0)
			return 8;	/* the bounding set is empty */
	return 0;
}

START_TEST(root_becomes_the_user_for_good)
{
	int p[2], st;
	char c;
	pid_t pid;

	if (geteuid() != 0 || getpwnam("nobody") == NULL)
		return;		/* the CI runs as root, where it matters */
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(child_checks("nobody", p[1]));
	close(p[1]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "promise %d broken",
	    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
}
END_TEST

START_TEST(unknown_user_and_root_are_refused_and_nothing_changes)
{
	if (geteuid() != 0)
		return;
	ck_assert_int_eq(kr_privdrop("no-such-user-karri"), -1);
	ck_assert_str_eq(kr_error_code(), "InternalError");
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "no-such-user-karri"));
	ck_assert_int_eq(kr_privdrop("root"), -1);
	ck_assert_int_eq(kr_privdrop(NULL), -1);
	ck_assert_int_eq(geteuid(), 0);
	ck_assert_int_eq(getuid(), 0);
}
END_TEST

START_TEST(not_root_is_a_no_op)
{
	struct passwd *pw = getpwnam("nobody");
	pid_t pid;
	int st;

	if (geteuid() == 0 && pw == NULL)
		return;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Already someone else (by hand, without the library): a no-op. */
		if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
		    setuid(pw->pw_uid) < 0))
			_exit(1);
		_exit(kr_privdrop("no-such-user-karri") == 0 ? 0 : 2);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

/* What kr_privdrop_give() may take: root's file, yes; a link's target or
 * another user's file, never. */
START_TEST(give_hands_over_roots_files_only)
{
	struct passwd *pw = getpwnam("nobody");
	char dir[] = "/tmp/privdrop-test-XXXXXX", mine[64], theirs[64], link[64], gone[64];
	struct stat st;
	int fd;

	if (geteuid() != 0 || pw == NULL)
		return;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(mine, sizeof(mine), "%s/mine", dir);
	snprintf(theirs, sizeof(theirs), "%s/theirs", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(gone, sizeof(gone), "%s/gone", dir);
	ck_assert_int_ge(fd = open(mine, O_CREAT | O_WRONLY, 0600), 0);
	close(fd);
	ck_assert_int_ge(fd = open(theirs, O_CREAT | O_WRONLY, 0600), 0);
	close(fd);
	ck_assert_int_eq(chown(theirs, 4242, 4242), 0);
	ck_assert_int_eq(symlink(theirs, link), 0);

	ck_assert_int_eq(kr_privdrop_give("nobody", mine), 0);
	ck_assert_int_eq(kr_privdrop_give("nobody", theirs), 0);
	ck_assert_int_eq(kr_privdrop_give("nobody", link), 0);
	ck_assert_int_eq(kr_privdrop_give("nobody", gone), 0);
	ck_assert_int_eq(stat(mine, &st), 0);
	ck_assert_int_eq(st.st_uid, pw->pw_uid);
	ck_assert_int_eq(st.st_mode & 07777, 0600);	/* the mode stays */
	ck_assert_int_eq(stat(theirs, &st), 0);
	ck_assert_int_eq(st.st_uid, 4242);
	ck_assert_int_eq(lstat(link, &st), 0);
	ck_assert_int_eq(st.st_uid, pw->pw_uid);	/* the link itself, not its target */

	ck_assert_int_eq(kr_privdrop_give("root", dir), -1);
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "root"));
	ck_assert_int_eq(kr_privdrop_give("no-such-user-karri", dir), -1);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_uid, 0);
	unlink(link);
	unlink(theirs);
	unlink(mine);
	rmdir(dir);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("privdrop", &tc);

	tcase_add_test(tc, root_becomes_the_user_for_good);
	tcase_add_test(tc, unknown_user_and_root_are_refused_and_nothing_changes);
	tcase_add_test(tc, not_root_is_a_no_op);
	tcase_add_test(tc, give_hands_over_roots_files_only);
	return kr_check_run(s);
}
