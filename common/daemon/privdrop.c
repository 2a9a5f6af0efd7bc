/*
 * privdrop.c - giving up root for good (see privdrop.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <linux/capability.h>
#include <stdbool.h>
#include <sys/syscall.h>

#include "core/error.h"
#include "daemon/privdrop.h"

static bool
listed(int cap, const int *keep, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (keep[i] == cap)
			return true;
	return false;
}

/* Every capability the kernel knows leaves the bounding set but keep's. */
static int
shrink_bounding_set(const int *keep, size_t n)
{
	for (int cap = 0, has; (has = prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) >= 0; cap++) {
		if (has == 1 && !listed(cap, keep, n) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			kr_error_errno("InternalError", "cannot drop capability %d from the bounding set",
			    cap);
			return -1;
		}
	}
	return 0;
}

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
	/*
	 * The bounding set first (that needs CAP_SETPCAP, gone after the
	 * setresuid): nothing this process or a child ever runs can get a
	 * capability back.  Then groups: after setresuid() we could no longer
	 * change them.
	 */
	if (shrink_bounding_set(NULL, 0) < 0)
		return -1;
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

int
kr_privdrop_give(const char *user, const char *path)
{
	struct passwd *pw;
	struct stat st;

	if (geteuid() != 0)
		return 0;
	if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		kr_error_errno("InternalError", "cannot look at %s", path);
		return -1;
	}
	if (st.st_uid != 0)
		return 0;
	if (user == NULL || (pw = getpwnam(user)) == NULL || pw->pw_uid == 0) {
		kr_error("InternalError", "cannot hand %s over: no unprivileged user '%.64s'", path,
		    user ? user : "");
		return -1;
	}
	if (fchownat(AT_FDCWD, path, pw->pw_uid, pw->pw_gid, AT_SYMLINK_NOFOLLOW) < 0) {
		kr_error_errno("InternalError", "cannot hand %s over to '%.64s'", path, user);
		return -1;
	}
	return 0;
}

int
kr_privdrop_keep_caps(const int *keep, size_t n)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { { 0 } };

	/* The bounding set first: dropping from it needs CAP_SETPCAP. */
	if (shrink_bounding_set(keep, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		d[keep[i] / 32].effective |= 1u << (keep[i] % 32);
		d[keep[i] / 32].permitted |= 1u << (keep[i] % 32);
	}
	if (syscall(SYS_capset, &h, d) < 0) {
		kr_error_errno("InternalError", "cannot keep only %zu capabilities", n);
		return -1;
	}
	return 0;
}
