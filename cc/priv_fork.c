/*
 * priv_fork.c - karri-cc becomes two processes (priv.h): the fork, the
 * parent's capabilities, and parent and child living and dying together.
 *
 * The parent keeps uid 0 but only the capabilities its operations need, in
 * its bounding set as well, so that nothing it runs (ip, iptables-restore,
 * conntrack, dnsmasq, dhcp_release) gets more:
 *   CAP_NET_ADMIN         links, bridges, addresses, netfilter, conntrack, sysctls
 *   CAP_NET_RAW           iptables' and dnsmasq's raw sockets
 *   CAP_NET_BIND_SERVICE  dnsmasq's port 67, dhcp_release's 68
 *   CAP_KILL              its dnsmasqs, which run as VNET_DHCPUSER
 *   CAP_SETUID/SETGID     dnsmasq's own drop to VNET_DHCPUSER
 * No CAP_DAC_OVERRIDE: the parent writes only in its own root-owned
 * directory (V.dir) and cannot be made to write in the child's.
 *
 * Dying together: the child asks for PR_SET_PDEATHSIG (SIGKILL), so a
 * parent that is killed takes the child with it (a killed CC leaves the
 * network in place, as before).  The parent forwards SIGTERM and SIGINT to
 * the child, which then stops cleanly -- removing the network through the
 * parent -- and exits; the parent sees the end of the channel, reaps the
 * child and exits with its status (dying of the same signal if it was
 * killed).  A child that breaks the protocol is killed at once.  So the
 * supervisors, which know only the parent's pid, stop both by stopping it.
 * SIGSTOP cannot be caught or forwarded: to make the whole CC hang (tests
 * of a stalled backend do), stop its process group, `kill -STOP -PID`;
 * the child is in it.
 */
#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "daemon/daemon.h"
#include "daemon/privdrop.h"
#include "daemon/privsep.h"
#include "priv.h"

static const int parent_caps[] = { CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE, CAP_KILL,
	CAP_SETUID, CAP_SETGID };

static volatile sig_atomic_t child_pid;
static pid_t parent_pid;
static int serve_fd = -1;

static void
forward_stop(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

pid_t
cc_priv_fork(void)
{
	int fds[2];
	pid_t pid;

	parent_pid = getpid();
	if (kr_privsep_pair(fds) < 0)
		return -1;
	if ((pid = fork()) < 0) {
		kr_error_errno("InternalError", "cannot fork the unprivileged child");
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		cc_priv_client_init(fds[1]);
		return 0;
	}
	close(fds[1]);
	child_pid = pid;
	serve_fd = fds[0];
	return pid;
}

void
cc_priv_child_ready(void)
{
	/* Root given up already: PDEATHSIG is cleared by a change of ids, so set it now. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent_pid) {
		kr_log_errorx("the privileged parent is gone: stopping");
		_exit(1);
	}
}

/* Exit as the child did: its status, or its signal. */
static _Noreturn void
exit_like(struct kr_daemon *d, int status)
{
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;

	if (sig)
		kr_log_warnx("privileged parent: the child died of signal %d: so do we", sig);
	kr_daemon_finish(d);
	if (sig) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	exit(code);
}

void
cc_priv_parent_run(struct kr_daemon *d)
{
	struct sigaction sa;
	int status = 0;
	bool breach = false;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_stop;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (kr_daemon_stopping())	/* asked before the handler was there */
		kill((pid_t)child_pid, SIGTERM);
	/* Not root (a developer's run): nothing to keep or drop. */
	if (geteuid() == 0 && kr_privdrop_keep_caps(parent_caps, sizeof(parent_caps) / sizeof(parent_caps[0])) < 0) {
		kr_log_errorx("privileged parent: %s", kr_error_message());
		breach = true;
	} else {
		kr_log_info("privileged parent: serving child %d", (int)child_pid);
		breach = kr_privsep_serve(serve_fd, cc_priv_ops, NULL) < 0;
	}
	if (breach)
		kill((pid_t)child_pid, SIGKILL);
	close(serve_fd);
	while (waitpid((pid_t)child_pid, &status, 0) < 0 && errno == EINTR)
		;
	if (breach) {
		kr_daemon_finish(d);
		exit(1);
	}
	exit_like(d, status);
}
