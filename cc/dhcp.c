/*
 * dhcp.c - dnsmasq as the instances' DHCP server.
 *
 * One dnsmasq per layer-2 network the CC serves: per VLAN bridge in
 * MANAGED, one on the private interface in MANAGED-NOVLAN (all groups'
 * ranges) and STATIC.  Addresses are static only: a hosts file of
 * "MAC,IP" lines (the MACs derive from instance ids) which dnsmasq re-reads
 * on SIGHUP, so a new instance never restarts the server.  A dnsmasq is
 * restarted only when its command line must change (NOVLAN: a group's
 * network added or removed).
 *
 * Options worth a word: --no-ping, because by default dnsmasq pings an
 * address before offering it and the first offer then takes ~3 s (measured);
 * --leasefile-ro, because static hosts need no lease database and dnsmasq,
 * after dropping to VNET_DHCPUSER, could not write one in our directory;
 * --port=0, no DNS.  Instances get VNET_DNS as their DNS server, or, when
 * it is unset, the CC host's own first non-loopback nameserver from
 * /etc/resolv.conf (an instance without one cannot even apt-get; a
 * loopback resolver would be the guest's own).  dnsmasq runs in the foreground as our child with a pid
 * file; after a CC crash it keeps serving, and the restarted CC adopts it
 * when its command line (/proc/PID/cmdline) is exactly what it would start.
 *
 * All of this runs in the privileged parent (priv.h), on V's networks and
 * leases as the child last sent them (checked); its files -- hosts, pid
 * files, dnsmasq.log -- are in V.dir, root's directory, which the child
 * cannot touch.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/command.h"
#include "core/error.h"
#include "core/log.h"
#include "vnet.h"

#define ARGS_MAX (16 + 2 * VNET_NETS_MAX)

struct argv_set {
	char *v[ARGS_MAX + 1];
	int n;
};

static void __attribute__((format(printf, 2, 3)))
arg(struct argv_set *a, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;

	if (a->n >= ARGS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if ((a->v[a->n] = strdup(tmp)) != NULL)
		a->n++;
	a->v[a->n] = NULL;
}

static void
args_free(struct argv_set *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

static void
path_of(const char *ifname, const char *ext, char out[640])
{
	snprintf(out, 640,  "%s/%s.%s", V.dir, ifname, ext);
}

/* The range (and router) of one network, tagged so options stay per network. */
static void
add_range(struct argv_set *a, int vlan)
{
	char tag[16], net[16], mask[16], gw[16], tmp[96];

	snprintf(tag, sizeof(tag), "n%d", vlan);
	vnet_ip_str(vnet_net_base(vlan), net);
	vnet_ip_str(~0u << (32 - vnet_plen()), mask);
	vnet_ip_str(vnet_net_base(vlan) + 1, gw);
	snprintf(tmp, sizeof(tmp), "%s,static,%s,3600", net, mask);
	arg(a, "--dhcp-range=set:%s,%s", tag, tmp);
	arg(a, "--dhcp-option=tag:%s,option:router,%s", tag, gw);
}

/* VNET_DNS, else the host's resolver as said above; "" when there is none. */
static void
dns_server(char out[16])
{
	char line[256], ip[64];
	FILE *f;

	snprintf(out, 16, "%s", V.dns);
	if (*out || (f = fopen("/etc/resolv.conf", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " nameserver %63s", ip) == 1 && strncmp(ip, "127.", 4) != 0 &&
		    strspn(ip, "0123456789.") == strlen(ip) && strlen(ip) < 16) {
			snprintf(out, 16, "%s", ip);
			break;
		}
	fclose(f);
}

static void
build_argv(const char *ifname, int vlan, struct argv_set *a)
{
	char p[640], dns[16];

	arg(a, "%s", V.dhcpd);
	arg(a, "--keep-in-foreground");
	arg(a, "--conf-file=/dev/null");
	arg(a, "--port=0");
	arg(a, "--bind-interfaces");
	arg(a, "--interface=%s", ifname);
	arg(a, "--except-interface=lo");
	path_of(ifname, "pid", p);
	arg(a, "--pid-file=%s", p);
	path_of(ifname, "hosts", p);
	arg(a, "--dhcp-hostsfile=%s", p);
	arg(a, "--leasefile-ro");
	arg(a, "--dhcp-authoritative");
	arg(a, "--no-ping");
	arg(a, "--user=%s", V.dhcpuser);
	arg(a, "--log-facility=-");
	dns_server(dns);
	if (dns[0])
		arg(a, "--dhcp-option=option:dns-server,%s", dns);
	if (V.mode == VNET_STATIC) {
		char net[16], mask[16], tmp[64];

		vnet_ip_str(V.subnet, net);
		vnet_ip_str(V.netmask, mask);
		snprintf(tmp, sizeof(tmp), "%s,static,%s,3600", net, mask);
		arg(a, "--dhcp-range=%s", tmp);
		if (V.router[0])
			arg(a, "--dhcp-option=option:router,%s", V.router);
		if (V.broadcast[0])
			arg(a, "--dhcp-option=option:broadcast,%s", V.broadcast);
	} else if (vlan >= 0) {
		add_range(a, vlan);
	} else {
		for (int i = 0; i < V.nnets; i++)
			add_range(a, V.nets[i].vlan);
	}
}

/* Write the hosts file if its contents change; 1 changed, 0 same, -1 error. */
static int
write_hosts(const char *ifname, int vlan)
{
	struct kr_buf b = KR_BUF_INIT, old = KR_BUF_INIT;
	char path[640], tmp[700];
	char chunk[4096];
	ssize_t r;
	int fd, rc = 1;

	if (V.mode == VNET_STATIC) {
		for (int i = 0; i < V.nmacmap; i++)
			kr_buf_addf(&b, "%s,%s\n", V.macmap[i][0], V.macmap[i][1]);
	} else {
		for (int i = 0; i < V.nleases; i++)
			if (vlan < 0 || V.leases[i].vlan == vlan)
				kr_buf_addf(&b, "%s,%s\n", V.leases[i].mac, V.leases[i].ip);
	}
	path_of(ifname, "hosts", path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		while ((r = read(fd, chunk, sizeof(chunk))) > 0)
			kr_buf_add_len(&old, chunk, (size_t)r);
		close(fd);
		if (kr_buf_len(&old) == kr_buf_len(&b) &&
		    memcmp(kr_buf_str(&old), kr_buf_str(&b), kr_buf_len(&b)) == 0)
			rc = 0;
	}
	if (rc == 1) {
		FILE *f = NULL;

		/*
		 * Written aside and renamed: dnsmasq never reads half a file.  Mode
		 * 0644 whatever the umask: dnsmasq re-reads it as VNET_DHCPUSER.
		 */
		snprintf(tmp, sizeof(tmp), "%s.new", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w")) ||
		    fwrite(kr_buf_str(&b), 1, kr_buf_len(&b), f) != kr_buf_len(&b) ||
		    fclose(f) != 0 || rename(tmp, path) < 0) {
			if (fd >= 0 && !f)
				close(fd);
			kr_error_errno("InternalError", "cannot write %s", path);
			rc = -1;
		}
	}
	kr_buf_free(&b);
	kr_buf_free(&old);
	return rc;
}

static pid_t
read_pid(const char *ifname)
{
	char path[640], buf[32] = "";
	FILE *f;

	path_of(ifname, "pid", path);
	if (!(f = fopen(path, "r")))
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return atoi(buf) > 1 ? atoi(buf) : -1;
}

/* Does pid run exactly argv? */
static bool
runs(pid_t pid, const struct argv_set *a)
{
	char path[64], buf[16384];
	ssize_t len;
	size_t off = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	len = read(fd, buf, sizeof(buf));
	close(fd);
	if (len <= 0)
		return false;
	for (int i = 0; i < a->n; i++) {
		size_t l = strlen(a->v[i]) + 1;

		if (off + l > (size_t)len || memcmp(buf + off, a->v[i], l) != 0)
			return false;
		off += l;
	}
	return off == (size_t)len;
}

/* Is pid a dnsmasq of ours (its pid file is in our directory)? */
static bool
ours(pid_t pid, const char *ifname)
{
	char path[64], buf[16384], want[700];
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return false;
	path_of(ifname, "pid", want + 11);
	memcpy(want, "--pid-file=", 11);
	for (ssize_t off = 0; off < len; off += (ssize_t)strlen(buf + off) + 1) {
		buf[len] = '\0';
		if (strcmp(buf + off, want) == 0)
			return true;
	}
	return false;
}

static void
stop_one(struct vnet_dhcp *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	if (d->child) {
		if (kr_command_wait(d->pid, 3000, NULL) == 1) {
			kill(d->pid, SIGKILL);
			kr_command_wait(d->pid, 2000, NULL);
		}
	} else {
		for (int i = 0; i < 30 && kill(d->pid, 0) == 0; i++)
			usleep(100000);
	}
	d->pid = -1;
}

static bool
alive(struct vnet_dhcp *d)
{
	if (d->pid <= 0)
		return false;
	if (d->child)
		return kr_command_wait(d->pid, 0, NULL) == 1;
	return kill(d->pid, 0) == 0;
}

static int
spawn(struct vnet_dhcp *d, struct argv_set *a)
{
	char log[640], pidpath[640];
	struct kr_command_opts o = { .log_path = log };

	snprintf(log, sizeof(log), "%s/dnsmasq.log", V.dir);
	path_of(d->ifname, "pid", pidpath);
	unlink(pidpath);
	if ((d->pid = kr_command_spawn((const char *const *)a->v, &o)) < 0)
		return -1;
	d->child = true;
	/* Wait (bounded) for the pid file: dnsmasq has bound its sockets by then. */
	for (int i = 0; i < 50 && read_pid(d->ifname) != d->pid; i++) {
		if (kr_command_wait(d->pid, 0, NULL) == 0) {
			d->pid = -1;
			kr_error("InternalError", "dnsmasq on %s exited at once (see %s)", d->ifname, log);
			return -1;
		}
		usleep(20000);
	}
	kr_log_info("dnsmasq on %s started (pid %d)", d->ifname, (int)d->pid);
	return 0;
}

static struct vnet_dhcp *
slot(const char *ifname)
{
	for (int i = 0; i < V.ndhcp; i++)
		if (strcmp(V.dhcp[i].ifname, ifname) == 0)
			return &V.dhcp[i];
	if (V.ndhcp > VNET_NETS_MAX)
		return NULL;
	memset(&V.dhcp[V.ndhcp], 0, sizeof(V.dhcp[0]));
	snprintf(V.dhcp[V.ndhcp].ifname, KR_VNET_IFNAME, "%s", ifname);
	V.dhcp[V.ndhcp].pid = -1;
	return &V.dhcp[V.ndhcp++];
}

/* One server: hosts file, then adopt, signal, or (re)start. */
static int
sync_one(const char *ifname, int vlan, bool *wanted)
{
	struct vnet_dhcp *d = slot(ifname);
	struct argv_set a = { 0 };
	int changed, rc = 0;

	if (!d) {
		kr_error("InternalError", "too many DHCP servers");
		return -1;
	}
	wanted[d - V.dhcp] = true;
	build_argv(ifname, vlan, &a);
	if ((changed = write_hosts(ifname, vlan)) < 0) {
		args_free(&a);
		return -1;
	}
	if (d->pid <= 0) {
		pid_t pid = read_pid(ifname);

		if (pid > 0 && runs(pid, &a)) {
			d->pid = pid;
			d->child = false;
			changed = 1;	/* we do not know what it read last */
			kr_log_info("dnsmasq on %s adopted (pid %d)", ifname, (int)pid);
		} else if (pid > 0 && ours(pid, ifname)) {
			d->pid = pid;
			d->child = false;
			stop_one(d);
		}
	}
	if (d->pid > 0 && (!alive(d) || !runs(d->pid, &a))) {
		if (alive(d))
			stop_one(d);
		d->pid = -1;
	}
	if (d->pid <= 0)
		rc = spawn(d, &a);
	else if (changed && kill(d->pid, SIGHUP) < 0)
		kr_log_warn("dnsmasq on %s: SIGHUP", ifname);
	args_free(&a);
	return rc;
}

int
vnet_dhcp_sync(void)
{
	bool wanted[VNET_NETS_MAX + 2] = { false };
	int rc = 0;

	if (V.mode == VNET_SYSTEM)
		return 0;
	if (V.mode == VNET_MANAGED) {
		for (int i = 0; i < V.nnets; i++) {
			char br[KR_VNET_IFNAME];

			kr_vnet_bridge_names(V.nets[i].vlan, NULL, br);
			rc |= sync_one(br, V.nets[i].vlan, wanted);
		}
	} else if (V.mode == VNET_STATIC || V.nnets > 0) {
		rc |= sync_one(V.privif, -1, wanted);
	}
	/* Servers of networks that are gone. */
	for (int i = 0; i < V.ndhcp; i++)
		if (!wanted[i]) {
			char p[640];

			stop_one(&V.dhcp[i]);
			path_of(V.dhcp[i].ifname, "hosts", p);
			unlink(p);
			V.dhcp[i--] = V.dhcp[--V.ndhcp];
			wanted[i + 1] = wanted[V.ndhcp];
		}
	return rc ? -1 : 0;
}

/*
 * A released address may go to a new instance (another MAC) at once, but
 * dnsmasq keeps the gone instance's lease in memory for the lease time and
 * refuses to offer the address ("not using configured address ... because
 * it is leased to ..."): the new instance would get no address (seen in
 * the end-to-end test).  dhcp_release (dnsmasq-utils) sends dnsmasq the
 * DHCPRELEASE the gone instance never sent, as OpenStack's nova-network
 * did.  Best effort: without it the address is merely late to come back.
 */
void
vnet_dhcp_release(int vlan, const char *ip, const char *mac)
{
	char br[KR_VNET_IFNAME];
	const char *ifname = V.privif;
	struct kr_command_opts o = { .timeout_ms = 5000 };

	if (V.mode == VNET_SYSTEM || !ip || !*ip || !mac || !*mac)
		return;
	if (V.mode == VNET_MANAGED) {
		kr_vnet_bridge_names(vlan, NULL, br);
		ifname = br;
	}
	{
		const char *argv[] = { "dhcp_release", ifname, ip, mac, NULL };

		if (kr_command_run(argv, &o, NULL) < 0)
			kr_log_warnx("dhcp_release %s %s: %s", ip, mac, kr_error_message());
	}
}

void
vnet_dhcp_stop_all(void)
{
	for (int i = 0; i < V.ndhcp; i++) {
		char p[640];

		stop_one(&V.dhcp[i]);
		path_of(V.dhcp[i].ifname, "hosts", p);
		unlink(p);
		path_of(V.dhcp[i].ifname, "pid", p);
		unlink(p);
	}
	V.ndhcp = 0;
}
