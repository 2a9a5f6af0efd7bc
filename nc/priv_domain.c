/*
 * priv_domain.c - a domain from a fixed request: what the privileged
 * parent checks before it hands libvirt a domain, and the creation.
 *
 * Under NC_PRIVSEP=Y the instance directory belongs to the unprivileged
 * child, while QEMU runs as root and opens what the domain XML names.  So
 * the request carries no path and no XML: an instance id, enums and
 * numbers.  The parent derives each path from INSTANCE_PATH/instances/<id>/
 * and a fixed name, and before naming a file to libvirt makes sure it is
 * what it must be: a regular file, no symlink on the way (its real path is
 * that path), and for a qcow2 root, an overlay whose backing file is
 * exactly <dir>/base, itself without a backing or external data file --
 * otherwise a child that wrote "backing file: /dev/sda" into the overlay
 * would have root's QEMU read the host's disk for it.  The serial console
 * file is made here, by root, fresh (with the old one's tail).  Then domain_xml.c, as ever.
 *
 * nc_priv_domain_check() is the contract (a request failing it is a child
 * that is no longer ours: logged, fatal in the parent); nc_priv_domain_run()
 * checks the files (a failure there is an answer) and creates the domain.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/id.h"
#include "core/log.h"
#include "nc.h"

#define QCOW2_MAGIC 0x514649fbu		/* "QFI\xfb" */
#define QCOW2_HEADER 104		/* bytes of a version 3 header we read */
#define QCOW2_EXTERNAL_DATA (1ull << 2)	/* incompatible feature: data file elsewhere */
#define MEMORY_MAX_MIB (1 << 20)
#define VCPUS_MAX 256

bool
nc_priv_id_ok(const char *id, size_t size)
{
	return memchr(id, '\0', size) != NULL && kr_id_valid(id, "i");
}

/* Is s a NUL-terminated string within its field? */
static bool
field_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static bool
mac_ok(const char *mac)
{
	if (!mac[0])
		return true;
	for (int i = 0; i < 17; i++) {
		char c = mac[i];

		if (i % 3 == 2 ? c != ':' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F')))
			return false;
	}
	return mac[17] == '\0';
}

/* An interface name as libvirt and the kernel take it. */
static bool
ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n >= 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

/*
 * VNET_BRIDGE, a MANAGED network's krbr<vlan>, or a bridge this host has
 * (the CC may name the bridge in other modes, ops_run.c): never a plain
 * NIC, so a guest cannot be put straight onto the storage network.
 */
static bool
bridge_ok(const char *b)
{
	char sys[64];
	struct stat st;
	char *end;
	long vlan;

	if (!b[0] || strcmp(b, nc_node.bridge) == 0)
		return true;
	if (!ifname_ok(b))
		return false;
	if (strncmp(b, "krbr", 4) == 0 && b[4] >= '1' && b[4] <= '9') {
		vlan = strtol(b + 4, &end, 10);
		return *end == '\0' && vlan >= 1 && vlan <= 4094;
	}
	snprintf(sys, sizeof(sys), "/sys/class/net/%s/bridge", b);
	return stat(sys, &st) == 0 && S_ISDIR(st.st_mode);
}

/* HYPERVISOR's driver, or its fallback (kvm -> qemu). */
static const struct nc_hv *
hv_allowed(const char *name)
{
	const struct nc_hv *want = nc_hv_lookup(kr_config_get(nc_node.cfg, "HYPERVISOR"));

	if (!want)
		return NULL;
	if (strcmp(name, want->name) == 0)
		return want;
	if (want->fallback && strcmp(name, want->fallback) == 0)
		return nc_hv_lookup(want->fallback);
	return NULL;
}

static bool
refuse(const struct nc_priv_domain *r, const char *what)
{
	kr_log_warnx("privsep: DOMAIN_CREATE refused: %s (instance \"%.*s\")", what,
	    (int)strnlen(r->id, sizeof(r->id)), r->id);
	kr_error("InvalidParameterValue", "domain request refused: %s", what);
	return false;
}

bool
nc_priv_domain_check(const struct nc_priv_domain *r)
{
	if (!nc_priv_id_ok(r->id, sizeof(r->id)))
		return refuse(r, "instance id");
	if (!field_ok(r->hv, sizeof(r->hv)) || !hv_allowed(r->hv))
		return refuse(r, "hypervisor not the configured one");
	if (r->memory_mib < 16 || r->memory_mib > MEMORY_MAX_MIB || r->vcpus < 1 ||
	    r->vcpus > VCPUS_MAX)
		return refuse(r, "memory or vcpus out of range");
	if (r->store > NC_STORE_FSIMAGE || r->bus > NC_BUS_NONE || r->cache > NC_CACHE_WRITEBACK ||
	    r->io > NC_IO_THREADS || r->nic > NC_NIC_VETH)
		return refuse(r, "an enum out of range");
	if (r->kernel > 1 || r->ramdisk > 1 || r->ephemeral > 1 || r->swap > 1 ||
	    r->guest_aoe > 1 || r->direct_io > 1)
		return refuse(r, "a flag not 0 or 1");
	if (!field_ok(r->cmdline, sizeof(r->cmdline)) || !nc_safe_text(r->cmdline,
	    sizeof(r->cmdline)))
		return refuse(r, "kernel command line");
	if (!field_ok(r->root_dev, sizeof(r->root_dev)) || !field_ok(r->bridge, sizeof(r->bridge)) ||
	    !field_ok(r->mac, sizeof(r->mac)) || !field_ok(r->tap, sizeof(r->tap)) ||
	    !field_ok(r->storage_mac, sizeof(r->storage_mac)))
		return refuse(r, "a string not terminated in its field");
	if (!bridge_ok(r->bridge))
		return refuse(r, "bridge neither VNET_BRIDGE nor krbr<vlan>");
	if (!mac_ok(r->mac) || !mac_ok(r->storage_mac) || !ifname_ok(r->tap))
		return refuse(r, "MAC or tap name");
	return true;
}

int
nc_priv_instance_path(const char *id, const char *name, char *path, size_t len, char *real,
    size_t rlen)
{
	char top[PATH_MAX];

	if (!realpath(nc_node.instances_dir, top)) {
		kr_error_errno("InternalError", "INSTANCE_PATH %s", nc_node.instances_dir);
		return -1;
	}
	if (nc_path(path, len, "%s/%s/%s", nc_node.instances_dir, id, name) < 0 ||
	    nc_path(real, rlen, "%s/%s/%s", top, id, name) < 0)
		return -1;
	return 0;
}

/* A regular file reached without a symlink: 0, or -1 + kr_error (logged). */
static int
plain_file(const char *path, const char *real)
{
	char got[PATH_MAX];
	struct stat st;

	if (lstat(path, &st) < 0) {
		kr_error_errno("InvalidParameterValue", "%s", path);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || !realpath(path, got) || strcmp(got, real) != 0) {
		kr_log_warnx("privsep: refused %s: not a regular file inside the instance directory",
		    path);
		kr_error("InvalidParameterValue", "%s is not a regular file in the instance "
		    "directory", path);
		return -1;
	}
	return 0;
}

static unsigned long long
be(const unsigned char *p, int n)
{
	unsigned long long v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * A qcow2 file's backing file name into out ("" none); 1 when it is not
 * qcow2 at all, 0 qcow2, -1 (kr_error) when it is one we refuse: an
 * external data file, or a header we cannot read.
 */
static int
qcow2_backing(const char *path, char *out, size_t len)
{
	unsigned char h[QCOW2_HEADER] = { 0 };
	unsigned long long off, feat = 0;
	unsigned int size;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = -1;
	ssize_t n;

	out[0] = '\0';
	if (fd < 0) {
		kr_error_errno("InvalidParameterValue", "%s", path);
		return -1;
	}
	n = pread(fd, h, sizeof(h), 0);
	if (n < 8 || be(h, 4) != QCOW2_MAGIC) {
		close(fd);
		return 1;
	}
	if (n < 72 || (be(h + 4, 4) >= 3 && n < (ssize_t)sizeof(h)))
		goto cleanup;
	if (be(h + 4, 4) >= 3)
		feat = be(h + 72, 8);
	if (feat & QCOW2_EXTERNAL_DATA) {
		kr_log_warnx("privsep: refused %s: qcow2 with an external data file", path);
		goto cleanup;
	}
	off = be(h + 8, 8);
	size = (unsigned int)be(h + 16, 4);
	if (off == 0) {
		rc = 0;
	} else if (size > 0 && size < len && pread(fd, out, size, (off_t)off) == (ssize_t)size) {
		out[size] = '\0';
		rc = memchr(out, '\0', size) ? -1 : 0;
	}
cleanup:
	close(fd);
	if (rc < 0)
		kr_error("InvalidParameterValue", "%s: a qcow2 file we do not hand to QEMU", path);
	return rc;
}

/* root.qcow2 backed by exactly <dir>/base, base without a backing file. */
static int
overlay_ok(const char *id, const char *root)
{
	char base[NC_PATH_MAX], base_real[NC_PATH_MAX], back[NC_PATH_MAX], got[PATH_MAX];
	char inner[NC_PATH_MAX];
	int rc;

	if (nc_priv_instance_file(id, "base", base, sizeof(base), base_real, sizeof(base_real)) < 0 ||
	    (rc = qcow2_backing(root, back, sizeof(back))) < 0)
		return -1;
	if (rc == 1) {
		kr_error("InvalidParameterValue", "%s is not a qcow2 overlay", root);
		return -1;
	}
	if (!back[0] || !realpath(back, got) || strcmp(got, base_real) != 0) {
		kr_log_warnx("privsep: refused %s: its backing file is not the instance's base", root);
		kr_error("InvalidParameterValue", "%s: backing file not the instance's base", root);
		return -1;
	}
	if (qcow2_backing(base, inner, sizeof(inner)) < 0 || inner[0]) {
		kr_log_warnx("privsep: refused %s: a base with a backing file of its own", base);
		kr_error("InvalidParameterValue", "%s has a backing file", base);
		return -1;
	}
	return 0;
}

int
nc_priv_instance_file(const char *id, const char *name, char *path, size_t len, char *real,
    size_t rlen)
{
	if (nc_priv_instance_path(id, name, path, len, real, rlen) < 0)
		return -1;
	return plain_file(path, real);
}

/*
 * The last NC_CONSOLE_TAIL bytes of what the guest wrote before, into buf
 * (console.log is appended across reboots: ops_console.c), read through
 * O_NOFOLLOW from a regular file with one link; 0 bytes when there is no
 * such file.  The child owns the directory, so it is read, never reused.
 */
static size_t
console_tail(const char *path, char *buf)
{
	struct stat st;
	ssize_t n;
	off_t from;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(fd);
		return 0;
	}
	from = st.st_size > NC_CONSOLE_TAIL ? st.st_size - NC_CONSOLE_TAIL : 0;
	n = pread(fd, buf, (size_t)(st.st_size - from), from);
	close(fd);
	return n > 0 ? (size_t)n : 0;
}

/*
 * The serial console file, made now by root: nothing the child put there
 * (a link to a host file that root's QEMU would append to), carrying over
 * the tail of the old one so that a rebooted instance's console keeps what
 * the earlier boots wrote, as it did before the privilege split.
 */
static int
fresh_console(const char *path)
{
	char *keep = malloc(NC_CONSOLE_TAIL);
	size_t kept = keep ? console_tail(path, keep) : 0;
	int fd, rc = -1;

	if (unlink(path) < 0 && errno != ENOENT) {
		kr_error_errno("InternalError", "cannot remove %s", path);
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		kr_error_errno("InternalError", "cannot create %s", path);
		goto out;
	}
	if (kept > 0 && write(fd, keep, kept) != (ssize_t)kept)
		kr_log_warn("%s: the earlier boots' console was not carried over", path);
	close(fd);
	rc = 0;
out:
	free(keep);
	return rc;
}

/* The root device: the loop over <dir>/root.raw, or a spare device. */
static int
root_dev_ok(const struct nc_priv_domain *r)
{
	char raw[NC_PATH_MAX], real[NC_PATH_MAX], dev[NC_PATH_MAX], **spares = NULL;
	size_t n;
	bool ok = false;

	if (r->store == NC_STORE_DEVICE) {
		n = kr_config_list(nc_node.cfg, "NC_PHY_DEVICES", &spares);
		for (size_t i = 0; i < n && !ok; i++)
			ok = strcmp(spares[i], r->root_dev) == 0;
		kr_config_list_free(spares, n);
	} else if (nc_priv_instance_file(r->id, "root.raw", raw, sizeof(raw), real,
	    sizeof(real)) == 0) {
		ok = nc_loop_find(real, dev, sizeof(dev)) == 0 && strcmp(dev, r->root_dev) == 0;
	}
	if (!ok) {
		kr_log_warnx("privsep: refused root device %s for %s", r->root_dev, r->id);
		kr_error("InvalidParameterValue", "%s is not %s's root device", r->root_dev, r->id);
		return -1;
	}
	return 0;
}

struct paths {
	char kernel[NC_PATH_MAX], ramdisk[NC_PATH_MAX], root[NC_PATH_MAX], console[NC_PATH_MAX];
	char eph[NC_PATH_MAX], swap[NC_PATH_MAX];
};

/* Each file the domain names, checked; its path into *p. */
static int
files_ok(const struct nc_priv_domain *r, const struct nc_hv *hv, struct paths *p)
{
	char real[NC_PATH_MAX];
	bool phy = r->store == NC_STORE_LOOP || r->store == NC_STORE_DEVICE || hv->container;
	const char *root = r->store == NC_STORE_OVERLAY ? "root.qcow2" : "root.raw";
	const struct { bool want; const char *name; char *path; } files[] = {
		{ r->kernel, "kernel", p->kernel }, { r->ramdisk, "ramdisk", p->ramdisk },
		{ r->ephemeral, "ephemeral.raw", p->eph }, { r->swap, "swap.raw", p->swap },
		{ !phy, root, p->root },
	};

	if (phy && root_dev_ok(r) < 0)
		return -1;
	if (hv->container)
		return 0;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (files[i].want && nc_priv_instance_file(r->id, files[i].name, files[i].path,
		    NC_PATH_MAX, real, sizeof(real)) < 0)
			return -1;
	if (!phy && r->store == NC_STORE_OVERLAY && overlay_ok(r->id, p->root) < 0)
		return -1;
	if (nc_priv_instance_path(r->id, "console.log", p->console, sizeof(p->console), real,
	    sizeof(real)) < 0 || fresh_console(p->console) < 0)
		return -1;
	return 0;
}

/* The disks: root, then ephemeral (index 1) and swap (2), as launch.c chose. */
static void
spec_disks(const struct nc_priv_domain *r, const struct paths *p, struct nc_domain_spec *s,
    char targets[3][8])
{
	struct nc_disk_spec *d = &s->disks[s->ndisks++];
	bool phy = r->store == NC_STORE_LOOP || r->store == NC_STORE_DEVICE;

	nc_bus_target(r->bus, 0, targets[0], 8);
	*d = (struct nc_disk_spec){ .src = phy ? NC_SRC_BLOCK : NC_SRC_FILE,
		.path = phy ? r->root_dev : p->root,
		.format = r->store == NC_STORE_OVERLAY ? "qcow2" : "raw", .target = targets[0],
		.bus = r->bus, .cache = r->cache, .io = r->io };
	for (int k = 1; k <= 2; k++) {
		if (!(k == 1 ? r->ephemeral : r->swap))
			continue;
		d = &s->disks[s->ndisks++];
		nc_bus_target(r->bus, k, targets[k], 8);
		*d = (struct nc_disk_spec){ .src = NC_SRC_FILE, .path = k == 1 ? p->eph : p->swap,
			.format = "raw", .target = targets[k], .bus = r->bus,
			.cache = r->direct_io ? NC_CACHE_NONE : NC_CACHE_WRITEBACK,
			.io = r->direct_io ? NC_IO_NATIVE : NC_IO_THREADS };
	}
}

int
nc_priv_domain_run(const struct nc_priv_domain *r)
{
	const struct nc_hv *hv = hv_allowed(r->hv);
	struct nc_domain_spec s = { 0 };
	struct kr_buf xml = KR_BUF_INIT;
	struct paths p = { 0 };
	char targets[3][8];
	virConnectPtr c = NULL;
	virDomainPtr dom = NULL;
	int rc = -1;

	if (!hv || files_ok(r, hv, &p) < 0)
		return -1;
	s = (struct nc_domain_spec){ .type = hv->domain_type, .name = r->id,
		.memory_mib = r->memory_mib, .vcpus = r->vcpus,
		.bridge = r->bridge[0] ? r->bridge : NULL,
		.mac = r->mac[0] ? r->mac : NULL, .tap = r->tap[0] ? r->tap : NULL,
		.nic = (enum nc_nic)r->nic };
	if (r->guest_aoe) {
		s.storage_if = nc_storage_interface();
		s.storage_mac = r->storage_mac;
	}
	if (hv->container) {
		s.rootfs = r->root_dev;
		s.init = "/sbin/init";
	} else {
		s.kernel = r->kernel ? p.kernel : NULL;
		s.ramdisk = r->ramdisk ? p.ramdisk : NULL;
		s.cmdline = s.kernel ? r->cmdline : NULL;
		s.console = p.console;
		spec_disks(r, &p, &s, targets);
	}
	if (nc_domain_xml(&s, &xml) < 0 || !(c = nc_conn()))
		goto cleanup;
	kr_log_debug("%s: domain XML:\n%s", r->id, kr_buf_str(&xml));
	if (!(dom = virDomainCreateXML(c, kr_buf_str(&xml), 0))) {
		nc_virt_error("creating the domain");
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (dom)
		virDomainFree(dom);
	if (c)
		virConnectClose(c);
	kr_buf_free(&xml);
	return rc;
}
