/*
 * command.h - running the few external programs Karri needs (qemu-img,
 * dnsmasq, iptables-restore, ...), safely.
 *
 * Never a shell: the program gets exactly argv (no word splitting, no
 * globbing, no way for data to become a command).  A bare argv[0] is looked
 * up in the child's PATH, not the daemon's.  The child starts with a clean
 * environment (only PATH unless envp says otherwise), every descriptor but
 * 0-2 closed, default signal dispositions, an empty signal mask, and in a
 * process group of its own so that a timeout kills whatever it started too.
 *
 * argv is logged at DEBUG: never put secrets on a command line (ps shows
 * them anyway); pass them on stdin (opts.input).
 *
 * Children are reaped by pid: a daemon must not reap with waitpid(-1) or
 * SIGCHLD = SIG_IGN, or it steals kr_command's exit statuses.
 */
#ifndef KARRI_COMMAND_H
#define KARRI_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct kr_command_opts {
	const char *const *envp;	/* NULL: PATH=/usr/sbin:/usr/bin:/sbin:/bin only */
	int timeout_ms;			/* 0: 60000; then SIGTERM, SIGKILL 2 s later */
	size_t max_output;		/* per stream, 0: 1 MiB; the rest is read and dropped */
	const char *input;		/* fed to stdin (else /dev/null); may be NULL */
	size_t input_len;
	const char *cwd;		/* NULL: the daemon's */
	const char *log_path;		/* kr_command_spawn: stdout+stderr appended; NULL: /dev/null */
};

struct kr_command_result {
	int exit_status;	/* -1 if it did not exit normally (signal, or never ran) */
	int term_signal;	/* the signal that ended it, else 0 */
	bool timed_out;		/* we killed it */
	char *out;		/* NUL-terminated, never NULL after kr_command_run() */
	size_t out_len;
	char *err;
	size_t err_len;
	bool truncated;		/* some output passed max_output and was dropped */
};

/*
 * Run to completion.  0 when it ran and exited 0; -1 otherwise with
 * kr_error("InternalError", "<argv0>: exited with status N: <first line of
 * stderr>"), or "...: timed out after N ms", "...: killed by signal N
 * (SIGxxx)", "...: cannot run: <reason>".  res (may be NULL) is filled
 * either way; free it with kr_command_result_free().
 */
int kr_command_run(const char *const argv[], const struct kr_command_opts *opts,
    struct kr_command_result *res);
void kr_command_result_free(struct kr_command_result *res);	/* NULL-safe */

/*
 * Start a background process (e.g. dnsmasq in the foreground mode) with
 * stdin /dev/null and stdout+stderr appended to opts->log_path.  Its pid,
 * or -1 + kr_error.  The caller reaps it (kr_command_wait()).
 */
pid_t kr_command_spawn(const char *const argv[], const struct kr_command_opts *opts);

/*
 * Wait up to timeout_ms (negative: forever) for pid to end and reap it.
 * 0: it ended, *status (may be NULL) is the raw wait status (WIFEXITED()...);
 * 1: still running; -1 + kr_error (e.g. not our child).
 */
int kr_command_wait(pid_t pid, int timeout_ms, int *status);

#endif
