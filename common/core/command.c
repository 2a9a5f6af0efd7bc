/*
 * command.c - posix_spawn with argv, a clean environment and closed fds;
 * a bounded poll() loop for output, input and the timeout.
 *
 * The child is watched through a pidfd, so the loop wakes the moment it
 * exits without a SIGCHLD handler (which would belong to the daemon, not to
 * us); if pidfds are missing the loop polls waitpid() every 20 ms instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/command.h"
#include "core/error.h"
#include "core/log.h"

#define DEFAULT_PATH "/usr/sbin:/usr/bin:/sbin:/bin"
#define DEFAULT_TIMEOUT_MS 60000
#define DEFAULT_MAX_OUTPUT (1u << 20)
#define KILL_GRACE_MS 2000	/* SIGTERM, then this long before SIGKILL */
#define DRAIN_MS 500		/* after exit, how long a lingering grandchild may hold the pipes */
#define CHUNK 65536

static const char *const default_envp[] = { "PATH=" DEFAULT_PATH, NULL };

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * The program to exec: argv0 itself when it has a '/', else the first
 * executable file named argv0 in the child's PATH (posix_spawnp would search
 * the daemon's own PATH, which is not the one we promise).
 */
static int
resolve(const char *argv0, const char *const *envp, char *out, size_t outlen)
{
	const char *path = DEFAULT_PATH, *p, *end;
	struct stat st;
	size_t i;

	if (strchr(argv0, '/')) {
		snprintf(out, outlen, "%s", argv0);
		return 0;
	}
	for (i = 0; envp[i]; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	for (p = path; *p; p = *end ? end + 1 : end) {
		end = p + strcspn(p, ":");
		if (end == p)
			continue;	/* an empty entry would mean the cwd: never */
		snprintf(out, outlen, "%.*s/%s", (int)(end - p), p, argv0);
		if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return 0;
	}
	kr_error("InternalError", "%s: cannot run: not found in PATH=%s", argv0, path);
	return -1;
}

/* Keep our pipe ends off 0-2, so the dup2()s in the child cannot clobber them. */
static int
high_fd(int fd)
{
	int nfd;

	if (fd < 0 || fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

static int
make_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0) {
		kr_error_errno("InternalError", "pipe");
		return -1;
	}
	p[0] = high_fd(p[0]);
	p[1] = high_fd(p[1]);
	return 0;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * Spawn argv with fds[0..2] as its stdin/stdout/stderr (-1: /dev/null for
 * stdin).  Returns the pid or -1 + kr_error.
 */
static pid_t
start(const char *const argv[], const struct kr_command_opts *opts, const int fds[3])
{
	const char *const *envp = opts && opts->envp ? opts->envp : default_envp;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char prog[4096];
	sigset_t none, all;
	pid_t pid = -1;
	int i, rc;

	if (!argv || !argv[0] || !argv[0][0]) {
		kr_error("InternalError", "kr_command: empty argv");
		return -1;
	}
	if (resolve(argv[0], envp, prog, sizeof(prog)) < 0)
		return -1;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
	    POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);	/* a daemon's SIG_IGN must not leak */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawn_file_actions_init(&fa);
	if (fds[0] < 0)
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	for (i = 0; i < 3; i++)
		if (fds[i] >= 0)
			posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (opts && opts->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, opts->cwd);
	/* glibc reports exec failures (ENOENT, EACCES, a bad cwd) here. */
	rc = posix_spawn(&pid, prog, &fa, &attr, (char *const *)argv, (char *const *)envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		errno = rc;
		kr_error_errno("InternalError", "%s: cannot run", argv[0]);
		return -1;
	}
	if (kr_log_get_level() == KR_LOG_DEBUG) {
		struct kr_buf b;

		kr_buf_init(&b, 1024);
		for (i = 0; argv[i]; i++)
			kr_buf_addf(&b, "%s%s", i ? " " : "", argv[i]);
		kr_log_debug("started [%ld] %s%s", (long)pid, kr_buf_str(&b),
		    kr_buf_failed(&b) ? " ..." : "");
		kr_buf_free(&b);
	}
	return pid;
}

struct stream {
	int fd;
	struct kr_buf buf;
	size_t max;
	bool truncated;
};

/* Read what is there; keep up to max bytes, count the rest as dropped. */
static void
drain(struct stream *s)
{
	char chunk[CHUNK];
	ssize_t n;
	size_t keep;

	n = read(s->fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close_fd(&s->fd);
		return;
	}
	keep = s->max - kr_buf_len(&s->buf);
	if ((size_t)n > keep)
		s->truncated = true;
	kr_buf_add_len(&s->buf, chunk, (size_t)n < keep ? (size_t)n : keep);
}

/* Feed stdin; close it when done or when the child stops reading (EPIPE). */
static void
feed(int *fd, const char *data, size_t len, size_t *off)
{
	size_t want = len - *off < CHUNK ? len - *off : CHUNK;
	ssize_t n = write(*fd, data + *off, want);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n < 0) {
		close_fd(fd);
		return;
	}
	*off += (size_t)n;
	if (*off >= len)
		close_fd(fd);
}

struct run {
	pid_t pid;
	int pidfd;
	int in;
	size_t in_off;
	struct stream out, err;
	int status;
	bool reaped, timed_out;
};

/* The poll loop: until the child is reaped and its pipes are at EOF (or drained long enough). */
static void
supervise(struct run *r, const struct kr_command_opts *opts, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms, drain_until = 0, now;
	int stage = 0, wait_ms;
	struct pollfd pfd[4];
	nfds_t n;

	for (;;) {
		if (!r->reaped && waitpid(r->pid, &r->status, WNOHANG) == r->pid) {
			r->reaped = true;
			drain_until = now_ms() + DRAIN_MS;
			close_fd(&r->in);
		}
		if (r->reaped && r->out.fd < 0 && r->err.fd < 0)
			return;
		now = now_ms();
		if (r->reaped && now >= drain_until)
			return;
		if (!r->reaped && now >= deadline && stage < 2) {
			/* The whole group: a shell script's children go too. */
			kill(-r->pid, stage == 0 ? SIGTERM : SIGKILL);
			r->timed_out = true;
			deadline = now + (stage == 0 ? KILL_GRACE_MS : 3600000);
			stage++;
		}
		n = 0;
		if (r->out.fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = r->out.fd, .events = POLLIN };
		if (r->err.fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = r->err.fd, .events = POLLIN };
		if (r->in >= 0)
			pfd[n++] = (struct pollfd){ .fd = r->in, .events = POLLOUT };
		if (!r->reaped && r->pidfd >= 0)
			pfd[n++] = (struct pollfd){ .fd = r->pidfd, .events = POLLIN };
		wait_ms = (int)((r->reaped ? drain_until : deadline) - now);
		if (!r->reaped && r->pidfd < 0 && wait_ms > 20)
			wait_ms = 20;
		if (poll(pfd, n, wait_ms < 0 ? 0 : wait_ms) < 0 && errno != EINTR) {
			kr_log_warn("kr_command: poll");
			wait_ms = 0;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == r->out.fd)
				drain(&r->out);
			else if (pfd[i].fd == r->err.fd)
				drain(&r->err);
			else if (pfd[i].fd == r->in)
				feed(&r->in, opts->input, opts->input_len, &r->in_off);
		}
	}
}

/* The kr_error for a run that did not exit 0. */
static void
report(const char *argv0, const struct run *r, int timeout_ms)
{
	const char *e = kr_buf_str(&r->err.buf);
	int line = (int)strcspn(e, "\n");

	if (r->timed_out)
		kr_error("InternalError", "%s: timed out after %d ms", argv0, timeout_ms);
	else if (WIFSIGNALED(r->status))
		kr_error("InternalError", "%s: killed by signal %d (SIG%s)", argv0,
		    WTERMSIG(r->status), sigabbrev_np(WTERMSIG(r->status)) ?: "?");
	else if (line > 0)
		kr_error("InternalError", "%s: exited with status %d: %.*s", argv0,
		    WEXITSTATUS(r->status), line > 300 ? 300 : line, e);
	else
		kr_error("InternalError", "%s: exited with status %d", argv0, WEXITSTATUS(r->status));
}

static void
fill(struct kr_command_result *res, struct run *r)
{
	if (r->reaped && WIFEXITED(r->status))
		res->exit_status = WEXITSTATUS(r->status);
	if (r->reaped && WIFSIGNALED(r->status))
		res->term_signal = WTERMSIG(r->status);
	res->timed_out = r->timed_out;
	res->truncated = r->out.truncated || r->err.truncated;
	res->out = kr_buf_detach(&r->out.buf, &res->out_len);
	res->err = kr_buf_detach(&r->err.buf, &res->err_len);
}

int
kr_command_run(const char *const argv[], const struct kr_command_opts *opts,
    struct kr_command_result *res)
{
	static const struct kr_command_opts none;
	struct kr_command_result local;
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, inp[2] = { -1, -1 };
	int timeout_ms, rc = -1;
	sigset_t pipe_set, old;
	struct run r = { .pid = -1, .pidfd = -1, .in = -1 };

	if (!opts)
		opts = &none;
	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	res->exit_status = -1;
	timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	r.out.max = r.err.max = opts->max_output ? opts->max_output : DEFAULT_MAX_OUTPUT;
	kr_buf_init(&r.out.buf, r.out.max);
	kr_buf_init(&r.err.buf, r.err.max);
	r.out.fd = r.err.fd = -1;
	/* A child that exits without reading stdin must give us EPIPE, not SIGPIPE. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);

	if (make_pipe(outp) < 0 || make_pipe(errp) < 0 || (opts->input && make_pipe(inp) < 0))
		goto out;
	r.pid = start(argv, opts, (int[3]){ inp[0], outp[1], errp[1] });
	close_fd(&inp[0]);
	close_fd(&outp[1]);
	close_fd(&errp[1]);
	if (r.pid < 0)
		goto out;
	r.out.fd = outp[0];
	r.err.fd = errp[0];
	r.in = inp[1];
	outp[0] = errp[0] = inp[1] = -1;
	fcntl(r.out.fd, F_SETFL, O_NONBLOCK);
	fcntl(r.err.fd, F_SETFL, O_NONBLOCK);
	if (r.in >= 0)
		fcntl(r.in, F_SETFL, O_NONBLOCK);
	if (r.in >= 0 && opts->input_len == 0)
		close_fd(&r.in);
	r.pidfd = pidfd_open_(r.pid);
	supervise(&r, opts, timeout_ms);
	if (!r.reaped)	/* gone past DRAIN_MS: only the reap is left */
		while (waitpid(r.pid, &r.status, 0) < 0 && errno == EINTR)
			;
	r.reaped = true;
	if (!r.timed_out && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)
		rc = 0;
	else
		report(argv[0], &r, timeout_ms);
out:
	fill(res, &r);
	close_fd(&r.in);
	close_fd(&r.out.fd);
	close_fd(&r.err.fd);
	close_fd(&r.pidfd);
	close_fd(&outp[0]);
	close_fd(&errp[0]);
	close_fd(&inp[1]);
	/* Discard a SIGPIPE our writes raised, unless the caller had it blocked already. */
	if (!sigismember(&old, SIGPIPE)) {
		struct timespec zero = { 0, 0 };

		while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (res == &local)
		kr_command_result_free(res);
	return rc;
}

void
kr_command_result_free(struct kr_command_result *res)
{
	if (!res)
		return;
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
	res->out_len = res->err_len = 0;
}

pid_t
kr_command_spawn(const char *const argv[], const struct kr_command_opts *opts)
{
	const char *log = opts && opts->log_path ? opts->log_path : "/dev/null";
	int fd;
	pid_t pid;

	fd = high_fd(open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640));
	if (fd < 0) {
		kr_error_errno("InternalError", "%s: cannot open %s", argv && argv[0] ? argv[0] : "?",
		    log);
		return -1;
	}
	pid = start(argv, opts, (int[3]){ -1, fd, fd });
	close(fd);
	return pid;
}

int
kr_command_wait(pid_t pid, int timeout_ms, int *status)
{
	long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int st = 0, pidfd = -1, wait_ms;
	pid_t got;

	for (;;) {
		got = waitpid(pid, &st, timeout_ms < 0 ? 0 : WNOHANG);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			kr_error_errno("InternalError", "waiting for process %ld", (long)pid);
			break;
		}
		if (got == pid) {
			if (status)
				*status = st;
			break;
		}
		wait_ms = (int)(deadline - now_ms());
		if (wait_ms <= 0)
			break;
		if (pidfd < 0)
			pidfd = pidfd_open_(pid);
		if (pidfd >= 0)
			poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, wait_ms);
		else
			poll(NULL, 0, wait_ms < 20 ? wait_ms : 20);
	}
	close_fd(&pidfd);
	return got == pid ? 0 : got == 0 ? 1 : -1;
}
