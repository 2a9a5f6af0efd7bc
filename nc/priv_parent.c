/*
 * priv_parent.c - karri-nc's privileged parent (NC_PRIVSEP=Y): the short
 * list of acts it does for its unprivileged child, the checks in front of
 * them, and its loop.
 *
 * The parent keeps root because libvirt's read-write socket is root by
 * another name, loop devices need every file's rights (CAP_DAC_OVERRIDE)
 * and bridges CAP_NET_ADMIN (measured: docs/decisions.md, "karri-nc split
 * the OpenBSD way").  It parses nothing from the network, starts no
 * listener and reads its limits from its own reading of karri.conf, made
 * before the fork.  A request off the contract (an unknown type, a size
 * that is not the struct's, an id that is not i-xxxxxxxx, a device that is
 * not a loop device) is logged and ends both processes: the child that
 * sent it is no longer the program we wrote.
 *
 * The acts (the *_run functions) are also what the NC runs itself when it
 * is one process (NC_PRIVSEP=N), through priv_client.c, so both ways go
 * through the same checks.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "daemon/privdrop.h"
#include "nc.h"
#include "vnet/vnet_bridge.h"

static volatile pid_t child_pid;

/* "/dev/loop" and digits: the only devices LOOP_DETACH may name. */
bool
nc_priv_loop_name_ok(const char *dev, size_t size)
{
	size_t n;

	if (!memchr(dev, '\0', size) || strncmp(dev, "/dev/loop", 9) != 0)
		return false;
	n = strlen(dev + 9);
	return n > 0 && n < 8 && strspn(dev + 9, "0123456789") == n;
}

static bool
logged(bool ok, const char *op, const char *what)
{
	if (!ok)
		kr_log_warnx("privsep: %s refused: %s", op, what);
	return ok;
}

/* <dir>/root.raw of instance id, checked, by its real path into real. */
static int
root_raw(const char *id, char *real, size_t len)
{
	char path[NC_PATH_MAX];

	return nc_priv_instance_file(id, "root.raw", path, sizeof(path), real, len);
}

int
nc_priv_loop_attach_run(const char *id, char *dev, size_t len)
{
	char real[NC_PATH_MAX];

	if (root_raw(id, real, sizeof(real)) < 0)
		return -1;
	return nc_loop_attach(real, dev, len);
}

int
nc_priv_loop_detach_run(const char *id, const char *dev)
{
	char real[NC_PATH_MAX], found[NC_PATH_MAX];
	char path[NC_PATH_MAX];

	/* by name, not as a plain file: teardown detaches before it removes */
	if (nc_priv_instance_path(id, "root.raw", path, sizeof(path), real, sizeof(real)) < 0)
		return -1;
	if (nc_loop_find(real, found, sizeof(found)) != 0 || strcmp(found, dev) != 0) {
		kr_log_warnx("privsep: LOOP_DETACH refused: %s is not over %s", dev, real);
		kr_error("InvalidParameterValue", "%s is not %s's loop device", dev, id);
		return -1;
	}
	return nc_loop_detach(dev);
}

int
nc_priv_domain_destroy_run(const char *id)
{
	virConnectPtr c = nc_conn();
	virDomainPtr dom = c ? virDomainLookupByName(c, id) : NULL;
	int rc = c ? 0 : -1;

	if (dom) {
		if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0) {
			nc_virt_error("destroying the domain");
			rc = -1;
		}
		/* a persistent leftover (someone defined it): undefine it too */
		if (virDomainIsPersistent(dom) == 1)
			virDomainUndefine(dom);
		virDomainFree(dom);
	}
	if (c)
		virConnectClose(c);
	return rc;
}

int
nc_priv_domain_reboot_run(const char *id)
{
	virConnectPtr c = nc_conn();
	virDomainPtr dom = c ? virDomainLookupByName(c, id) : NULL;
	int rc = -1;

	if (!nc_node.hv || !nc_node.hv->reboot)
		kr_error("Unsupported", "this hypervisor cannot reboot a domain");
	else if (c && !dom)
		nc_virt_error(id);
	else if (dom)
		rc = nc_node.hv->reboot(dom);
	if (dom)
		virDomainFree(dom);
	if (c)
		virConnectClose(c);
	return rc;
}

/* --- the table: checks (the contract) and runs (the acts) ------------------ */

static bool
domain_check(const void *req, size_t len)
{
	(void)len;
	return nc_priv_domain_check(req);
}

static bool
id_check(const void *req, size_t len)
{
	const struct nc_priv_id *r = req;

	(void)len;
	return logged(nc_priv_id_ok(r->id, sizeof(r->id)), "request", "instance id");
}

static bool
loop_check(const void *req, size_t len)
{
	const struct nc_priv_loop *r = req;

	(void)len;
	return logged(nc_priv_id_ok(r->id, sizeof(r->id)) && nc_priv_loop_name_ok(r->dev, sizeof(r->dev)),
	    "LOOP_DETACH", "not an instance id and a /dev/loopN");
}

static bool
vlan_check(const void *req, size_t len)
{
	const struct nc_priv_vlan *r = req;

	(void)len;
	return logged(r->vlan >= KR_VNET_VLAN_MIN && r->vlan <= KR_VNET_VLAN_MAX, "VLAN_UP",
	    "network number out of range");
}

static int
domain_create_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return nc_priv_domain_run(req);
}

static int
destroy_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return nc_priv_domain_destroy_run(((const struct nc_priv_id *)req)->id);
}

static int
reboot_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return nc_priv_domain_reboot_run(((const struct nc_priv_id *)req)->id);
}

static int
loop_attach_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	struct nc_priv_loop *out = reply;

	(void)len, (void)arg;
	memset(out, 0, sizeof(*out));
	memcpy(out->id, ((const struct nc_priv_id *)req)->id, sizeof(out->id));
	*reply_len = sizeof(*out);
	return nc_priv_loop_attach_run(out->id, out->dev, sizeof(out->dev));
}

static int
loop_detach_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	const struct nc_priv_loop *r = req;

	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return nc_priv_loop_detach_run(r->id, r->dev);
}

static int
vlan_up_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)arg;
	memset(reply, 0, KR_VNET_IFNAME);
	*reply_len = KR_VNET_IFNAME;
	return nc_vnet_vlan_up(((const struct nc_priv_vlan *)req)->vlan, reply);
}

static int
kvm_probe_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)req, (void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return nc_kvm_probe_run();
}

static bool
disk_check(const void *req, size_t len)
{
	(void)len;
	return nc_priv_disk_check(req);
}

static int
disk_attach_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return nc_priv_disk_attach_run(req);
}

static int
disk_detach_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return nc_priv_disk_detach_run(req);
}

static bool
device_check(const void *req, size_t len)
{
	(void)len;
	return nc_priv_device_check(req);
}

static int
device_fill_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return nc_priv_device_fill_run(req);
}

static int
device_wipe_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return nc_priv_device_wipe_run(req);
}

static int
console_follow_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return nc_console_follow(((const struct nc_priv_id *)req)->id);
}

static int
console_unfollow_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	nc_console_unfollow(((const struct nc_priv_id *)req)->id);
	return 0;
}

static bool
aoe_check(const void *req, size_t len)
{
	(void)len;
	return nc_priv_aoe_check(req);
}

static int
aoe_start_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	struct nc_priv_aoe *out = reply;

	(void)len, (void)arg;
	memcpy(out, req, sizeof(*out));
	*reply_len = sizeof(*out);
	return nc_priv_aoe_start_run(out);
}

static int
aoe_stop_op(const void *req, size_t len, void *reply, size_t *reply_len, void *arg)
{
	(void)len, (void)reply, (void)arg;
	*reply_len = 0;
	return nc_priv_aoe_stop_run(req);
}

#define FIXED(t) sizeof(t), sizeof(t)

const struct kr_privsep_op nc_priv_ops[] = {
	{ NC_PRIV_DOMAIN_CREATE, "DOMAIN_CREATE", FIXED(struct nc_priv_domain), domain_check,
	  domain_create_op },
	{ NC_PRIV_DOMAIN_DESTROY, "DOMAIN_DESTROY", FIXED(struct nc_priv_id), id_check, destroy_op },
	{ NC_PRIV_DOMAIN_REBOOT, "DOMAIN_REBOOT", FIXED(struct nc_priv_id), id_check, reboot_op },
	{ NC_PRIV_LOOP_ATTACH, "LOOP_ATTACH", FIXED(struct nc_priv_id), id_check, loop_attach_op },
	{ NC_PRIV_LOOP_DETACH, "LOOP_DETACH", FIXED(struct nc_priv_loop), loop_check,
	  loop_detach_op },
	{ NC_PRIV_VLAN_UP, "VLAN_UP", FIXED(struct nc_priv_vlan), vlan_check, vlan_up_op },
	{ NC_PRIV_KVM_PROBE, "KVM_PROBE", 0, 0, NULL, kvm_probe_op },
	{ NC_PRIV_DISK_ATTACH, "DISK_ATTACH", FIXED(struct nc_priv_disk), disk_check,
	  disk_attach_op },
	{ NC_PRIV_DISK_DETACH, "DISK_DETACH", FIXED(struct nc_priv_disk), disk_check,
	  disk_detach_op },
	{ NC_PRIV_DEVICE_FILL, "DEVICE_FILL", FIXED(struct nc_priv_device), device_check,
	  device_fill_op },
	{ NC_PRIV_DEVICE_WIPE, "DEVICE_WIPE", FIXED(struct nc_priv_device), device_check,
	  device_wipe_op },
	{ NC_PRIV_CONSOLE_FOLLOW, "CONSOLE_FOLLOW", FIXED(struct nc_priv_id), id_check,
	  console_follow_op },
	{ NC_PRIV_CONSOLE_UNFOLLOW, "CONSOLE_UNFOLLOW", FIXED(struct nc_priv_id), id_check,
	  console_unfollow_op },
	{ NC_PRIV_AOE_START, "AOE_START", FIXED(struct nc_priv_aoe), aoe_check, aoe_start_op },
	{ NC_PRIV_AOE_STOP, "AOE_STOP", FIXED(struct nc_priv_aoe), aoe_check, aoe_stop_op },
	{ 0, NULL, 0, 0, NULL, NULL },
};

/* --- the parent's life ----------------------------------------------------- */

/* libvirt prints every error to stderr by default; we report them ourselves. */
static void
quiet(void *ud, virErrorPtr err)
{
	(void)ud, (void)err;
}

int
nc_priv_parent_init(struct kr_config *cfg)
{
	const char *ipath = kr_config_get(cfg, "INSTANCE_PATH");
	const char *uri = kr_config_get(cfg, "NC_LIBVIRT_URI");
	const char *bridge = kr_config_get(cfg, "VNET_BRIDGE");

	virSetErrorFunc(NULL, quiet);
	nc_node.cfg = cfg;
	if (!(nc_node.hv = nc_hv_lookup(kr_config_get(cfg, "HYPERVISOR"))))
		return -1;
	snprintf(nc_node.uri, sizeof(nc_node.uri), "%s", uri && *uri ? uri :
	    nc_node.hv->default_uri);
	snprintf(nc_node.bridge, sizeof(nc_node.bridge), "%s", bridge ? bridge : "br0");
	return nc_path(nc_node.instances_dir, sizeof(nc_node.instances_dir), "%s/instances",
	    ipath ? ipath : "");
}

/* SIGTERM/SIGINT to the parent go to the child; the parent leaves on EOF. */
static void
pass_on(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

int
nc_priv_parent_serve(int fd, pid_t child)
{
	struct sigaction sa = { .sa_handler = pass_on };
	int rc, status = 0;

	child_pid = child;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	kr_log_info("privsep: parent %d serving child %d", (int)getpid(), (int)child);
	rc = kr_privsep_serve(fd, nc_priv_ops, NULL);
	close(fd);
	if (rc < 0)
		kill(child, SIGKILL);	/* logged by kr_privsep_serve */
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	kr_log_info("privsep: child %d ended (%s %d)", (int)child,
	    WIFEXITED(status) ? "exit" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return rc < 0 || !WIFEXITED(status) ? 1 : WEXITSTATUS(status);
}

/*
 * What the parent keeps of root: CAP_DAC_OVERRIDE (the child's files for
 * loop devices and the console file, /dev/loop-control), CAP_NET_ADMIN
 * (VLANs, VXLANs, bridges), CAP_KILL (its child is another user's), and for
 * the karri-aoe it starts, which opens its raw socket and then drops to
 * EUCA_USER itself: CAP_NET_RAW, CAP_SETUID, CAP_SETGID, CAP_SETPCAP.  The
 * bounding set shrinks to the same, so what it runs gets no more.
 */
int
nc_priv_parent_limit(void)
{
	static const int kept[] = { CAP_DAC_OVERRIDE, CAP_NET_ADMIN, CAP_KILL, CAP_NET_RAW,
		CAP_SETUID, CAP_SETGID, CAP_SETPCAP };

	if (kr_privdrop_keep_caps(kept, sizeof(kept) / sizeof(kept[0])) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		kr_error_errno("InternalError", "cannot limit the parent's capabilities");
		return -1;
	}
	return 0;
}

/*
 * What an NC that ran as root left in INSTANCE_PATH's instances/ and cache/
 * (an upgrade, a directory made by hand) becomes the child's before it
 * starts: only root's regular files and directories, never through a link,
 * never a device node someone left there -- and only when INSTANCE_PATH is
 * the NC's: the user's already, or root's inside KARRI_HOME (home, "" for /:
 * then var/lib/karri), which kr_daemon_become_user() hands over next.  A
 * misconfigured INSTANCE_PATH=/var never gives /var/cache away.
 */
static const char *give_user;
static int give_failed;

static int
give_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag, (void)ftw;
	if ((S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) && st->st_uid == 0 &&
	    kr_privdrop_give(give_user, path) < 0) {
		kr_log_warnx("%s", kr_error_message());
		give_failed = 1;
	}
	return 0;
}

static bool
instance_path_ours(const char *ipath, const char *home, const char *user)
{
	const struct passwd *pw = user ? getpwnam(user) : NULL;
	char real[PATH_MAX], top[PATH_MAX];
	struct stat st;
	size_t n;

	if (!pw || lstat(ipath, &st) < 0 || !S_ISDIR(st.st_mode) || !realpath(ipath, real))
		return false;
	if (st.st_uid == pw->pw_uid)
		return true;
	snprintf(top, sizeof(top), "%s", home[0] ? home : "/var/lib/karri");
	n = strlen(top);
	return st.st_uid == 0 && n > 1 && strncmp(real, top, n) == 0 && real[n] == '/';
}

int
nc_priv_hand_over(struct kr_config *cfg, const char *home, const char *user)
{
	const char *ipath = kr_config_get(cfg, "INSTANCE_PATH");
	static const char *const subdirs[] = { "instances", "cache" };
	char dir[NC_PATH_MAX];

	if (!ipath || !instance_path_ours(ipath, home, user))
		return 0;
	give_user = user;
	give_failed = 0;
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++)
		if (nc_path(dir, sizeof(dir), "%s/%s", ipath ? ipath : "", subdirs[i]) == 0)
			nftw(dir, give_one, 16, FTW_PHYS);
	if (give_failed)
		kr_error("InternalError", "some of INSTANCE_PATH could not be handed to %s", user);
	return give_failed ? -1 : 0;
}
