/*
 * privdrop.c - giving up root for good (see privdrop.h).
 */
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "error.h"
#include "privdrop.h"

int
kr_privdrop(const char *user)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if (user == NULL || (pw = getpwnam(user)) == NULL) {
		kr_error("InternalError", "cannot drop root: no user '%.64s'", user ? user : "");
		return -1;
	}
	if (pw->pw_uid == 0) {
		kr_error("InternalError", "cannot drop root: user '%.64s' is root", user);
		return -1;
	}
	/* Groups first: after setresuid() we could no longer change them. */
	if (setgroups(0, NULL) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		kr_error_errno("InternalError", "cannot become '%.64s'", user);
		return -1;
	}
	/* Proof there is no way back, then close the doors left. */
	if (setuid(0) == 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		kr_error("InternalError", "dropping root to '%.64s' did not hold", user);
		return -1;
	}
	return 0;
}
