/*
 * aoe_volume.c - AoE volumes on the node: kernel AoE or karri-aoe.
 *
 * remoteDev aoe:[IFACE:[MAC:]]eS.L names an EBS volume by its AoE address
 * (IFACE defaults to NC_STORAGE_INTERFACE; the target's MAC, when given, is
 * only checked for form: AoE finds the target by broadcast).  When the node
 * has the kernel aoe module, /dev/etherd/eS.L is used as a phy disk
 * (volume.c).  Otherwise the NC starts Karri's userspace initiator,
 *
 *     karri-aoe nbd -i IFACE -t S.L --socket INSTANCE_DIR/VOL.nbd
 *
 * (argv, never a shell) and QEMU reads the NBD export on that socket.  The
 * NC owns the helper: its pid and start time are kept in the instance
 * metadata, so a restarted NC finds it again (it runs in its own process
 * group and outlives the NC, like the guest does); the monitor restarts it
 * when it dies while attached; detach and terminate stop it and remove
 * the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/command.h"
#include "core/error.h"
#include "core/log.h"
#include "nc.h"

/* karri-aoe discovers the target before it listens: a missing target
 * must not hold an ncAttachVolume forever. */
#define HELPER_START_MS 20000
#define HELPER_STOP_MS 3000

bool
nc_aoe_remote(const char *remote)
{
	return remote && strncmp(remote, "aoe:", 4) == 0;
}

static bool
ifname_ok(const char *s, size_t len)
{
	if (len == 0 || len >= 16)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && !strchr("._-", s[i]))
			return false;
	return true;
}

static bool
mac_ok(const char *s, size_t len)
{
	if (len != 17)
		return false;
	for (size_t i = 0; i < len; i++)
		if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	return true;
}

/* "S.L" (after the 'e'): shelf < 0xffff, slot < 0xff (the broadcast values). */
static int
parse_addr(const char *s, unsigned *shelf, unsigned *slot)
{
	char *end;
	unsigned long a, b;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	a = strtoul(s, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return -1;
	b = strtoul(end + 1, &end, 10);
	if (*end != '\0' || a >= 0xffff || b >= 0xff)
		return -1;
	*shelf = (unsigned)a;
	*slot = (unsigned)b;
	return 0;
}

/* This node's storage NIC: NC_STORAGE_INTERFACE, eth1 by default. */
const char *
nc_storage_interface(void)
{
	const char *def = nc_node.cfg ? kr_config_get(nc_node.cfg, "NC_STORAGE_INTERFACE") : NULL;

	return def && *def ? def : "eth1";
}

/*
 * The MTU of this node's storage NIC (what a guest's storage NIC gets, so
 * guest-side AoE uses jumbo frames too); -1 when the NIC is not there.
 */
int
nc_storage_mtu(void)
{
	char path[96], line[32];
	const char *ifname = nc_storage_interface();
	FILE *f;
	int mtu = -1;

	if (!ifname_ok(ifname, strlen(ifname)))
		return -1;
	snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", ifname);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), f))
		mtu = atoi(line);
	fclose(f);
	return mtu >= 68 ? mtu : -1;
}

/*
 * An empty IFACE ("aoe::MAC:eS.L", what the CLC sends) means this node's
 * own storage NIC: the CLC knows the target's NIC name, not the node's.
 */
int
nc_aoe_parse(const char *remote, char *ifname, size_t iflen, unsigned *shelf, unsigned *slot)
{
	const char *p = remote + 4, *last = strrchr(remote, ':') + 1, *c1 = strchr(p, ':');
	size_t len;

	if (!nc_aoe_remote(remote) || last[0] != 'e' || parse_addr(last + 1, shelf, slot) < 0) {
		kr_error("InvalidParameterValue", "AoE remoteDev must be aoe:[IFACE:[MAC:]]eS.L");
		return -1;
	}
	len = c1 ? (size_t)(c1 - p) : 0;
	if (c1 == p && c1 + 1 == last) {
		kr_error("InvalidParameterValue", "AoE remoteDev: an empty IFACE needs a MAC");
		return -1;
	}
	if (len == 0)
		p = nc_storage_interface();
	if (len == 0)
		len = strlen(p);
	if (!ifname_ok(p, len) || len >= iflen) {
		kr_error("InvalidParameterValue", "bad storage interface in %s", remote);
		return -1;
	}
	/* aoe:[IF]:MAC:eS.L - the middle part, if any, must be one MAC */
	if (c1 && c1 + 1 != last && !mac_ok(c1 + 1, (size_t)(last - c1 - 2))) {
		kr_error("InvalidParameterValue", "bad target MAC in %s", remote);
		return -1;
	}
	snprintf(ifname, iflen, "%.*s", (int)len, p);
	return 0;
}

int
nc_aoe_socket(const struct nc_instance *in, const char *vol, char *out, size_t len)
{
	struct sockaddr_un sa;

	if (nc_path(out, len, "%s/%s.nbd", in->dir, vol) < 0)
		return -1;
	if (strlen(out) >= sizeof(sa.sun_path)) {
		kr_error("InternalError", "%s: too long for a unix socket (INSTANCE_PATH)", out);
		return -1;
	}
	return 0;
}

/* karri-aoe: NC_AOE_INITIATOR, else next to karri-nc (installed: both in
 * sbin), else ../ebs/karri-aoe (a build tree). */
static int
initiator_path(char *out, size_t len)
{
	const char *cfg = nc_node.cfg ? kr_config_get(nc_node.cfg, "NC_AOE_INITIATOR") : NULL;
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (cfg && *cfg) {
		if (nc_path(out, len, "%s", cfg) < 0)
			return -1;
		if (access(out, X_OK) == 0)
			return 0;
		kr_error_errno("Unsupported", "NC_AOE_INITIATOR %s", out);
		return -1;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')))
			*slash = '\0';
		if (nc_path(out, len, "%s/karri-aoe", self) == 0 && access(out, X_OK) == 0)
			return 0;
		if (nc_path(out, len, "%s/../ebs/karri-aoe", self) == 0 && access(out, X_OK) == 0)
			return 0;
	}
	kr_error("Unsupported", "no kernel AoE on this node and no karri-aoe (NC_AOE_INITIATOR)");
	return -1;
}

/* Field 22 of /proc/PID/stat (start time in ticks); 0 when gone. */
static unsigned long long
start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (!(f = fopen(path, "re")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after the ")" ending the command name: state is field 3 */
	if (!(p = strrchr(buf, ')')) || p[1] != ' ' || p[2] == 'Z' ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
	    "%*d %*d %llu", &t) != 1)
		return 0;
	return t;
}

bool
nc_aoe_alive(const struct nc_volume *v)
{
	int st;

	if (v->helper <= 0)
		return false;
	/* our child: reap it if it ended (a zombie still answers kill(0)) */
	if (kr_command_wait(v->helper, 0, &st) == 0)
		return false;
	kr_error_clear();
	/* a helper adopted after a restart is not our child: compare start times */
	return start_time(v->helper) == v->helper_start;
}

static bool
is_socket(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void
kill_helper(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	for (int ms = 0; ms < HELPER_STOP_MS; ms += 50) {
		if (kr_command_wait(pid, 0, &st) == 0)
			return;
		if (start_time(pid) == 0)	/* not our child, and gone */
			return;
		usleep(50 * 1000);
	}
	kill(pid, SIGKILL);
	kr_command_wait(pid, 1000, &st);
	kr_error_clear();
}

int
nc_aoe_start(const struct nc_instance *in, struct nc_volume *v)
{
	char exe[NC_PATH_MAX], sock[NC_PATH_MAX], logf[NC_PATH_MAX], ifname[16], addr[16];
	unsigned shelf, slot;
	pid_t pid;
	int st;

	if (nc_aoe_parse(v->remote, ifname, sizeof(ifname), &shelf, &slot) < 0 ||
	    nc_aoe_socket(in, v->id, sock, sizeof(sock)) < 0 ||
	    nc_path(logf, sizeof(logf), "%s/%s.aoe.log", in->dir, v->id) < 0 ||
	    initiator_path(exe, sizeof(exe)) < 0)
		return -1;
	snprintf(addr, sizeof(addr), "%u.%u", shelf, slot);
	/* a socket left by a helper that died: only ever a socket */
	if (is_socket(sock))
		unlink(sock);
	{
		const char *const argv[] = { exe, "nbd", "-i", ifname, "-t", addr, "--socket", sock,
		    NULL };
		/* the log is in the instance directory, which is EUCA_USER's under
		 * NC_PRIVSEP: opened here never through a link, handed on by fd */
		int fd = open(logf, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
		char byfd[32];
		struct kr_command_opts o = { .log_path = byfd };

		if (fd < 0) {
			kr_error_errno("InternalError", "cannot open %s", logf);
			return -1;
		}
		snprintf(byfd, sizeof(byfd), "/proc/self/fd/%d", fd);
		pid = kr_command_spawn(argv, &o);
		close(fd);
		if (pid < 0)
			return -1;
	}
	for (int ms = 0; ms < HELPER_START_MS; ms += 50) {
		if (kr_command_wait(pid, 0, &st) == 0) {
			kr_error("Unavailable", "karri-aoe for e%s on %s exited (%d): the target is not "
			    "reachable or not exported to this node (see %s)", addr, ifname,
			    WIFEXITED(st) ? WEXITSTATUS(st) : -1, logf);
			return -1;
		}
		if (is_socket(sock)) {
			v->helper = pid;
			v->helper_start = start_time(pid);
			kr_log_info("%s: %s served by karri-aoe pid %ld on %s", in->id, v->id,
			    (long)pid, sock);
			return 0;
		}
		usleep(50 * 1000);
	}
	kill_helper(pid);
	if (is_socket(sock))
		unlink(sock);
	kr_error("Unavailable", "karri-aoe found no AoE target e%s on %s in %d s", addr, ifname,
	    HELPER_START_MS / 1000);
	return -1;
}

void
nc_aoe_stop(const struct nc_instance *in, struct nc_volume *v)
{
	/* called on failure paths too: keep the error being reported */
	struct kr_err saved;
	char sock[NC_PATH_MAX];

	kr_error_save(&saved);

	if (v->helper > 0 && nc_aoe_alive(v)) {
		kill_helper(v->helper);
		kr_log_info("%s: karri-aoe pid %ld of %s stopped", in->id, (long)v->helper, v->id);
	}
	v->helper = 0;
	v->helper_start = 0;
	if (in->dir[0] && nc_aoe_socket(in, v->id, sock, sizeof(sock)) == 0 && is_socket(sock))
		unlink(sock);
	kr_error_restore(&saved);
}
