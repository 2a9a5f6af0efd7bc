/*
 * launch.c - an instance's life on the node: launch in the background,
 * teardown when it ends.
 *
 * ncRunInstance answers at once; a thread per instance then stages the
 * images (through the cache), makes the disks the attachment choice asked
 * for, and creates the domain: STAGING -> BOOTING -> RUNNING.  The
 * disk-heavy part runs inside a staging slot (NC_MAX_CONCURRENT_STAGING at
 * once) so eight launches do not fight over one disk.  A launch that fails
 * undoes what it made and keeps the reason for ncDescribeInstances.
 *
 * Files of an instance, all in INSTANCE_PATH/instances/<id>/:
 *   meta        the metadata file (instance.c)
 *   kernel, ramdisk, base   hard links to the cached images
 *   root.qcow2  overlay on base (tap)   or root.raw (pre-allocated; phy
 *               and containers: over a loop device the NC made; standard
 *               class: a reflink of base or a raw clone renamed in)
 *   ephemeral.raw, swap.raw pre-allocated, when the type has disk to spare
 *   console.log the serial console (containers: their pty, copied)
 */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "nc.h"

#define MIB (1024LL * 1024)
#define GIB (1024LL * MIB)

static void
set_state(struct nc_instance *in, enum nc_state st, const char *reason)
{
	nc_table_lock();
	nc_instance_set_state(in, st, reason);
	nc_table_unlock();
}

static int
file_in(const struct nc_instance *in, const char *name, char *out, size_t len)
{
	return nc_path(out, len, "%s/%s", in->dir, name);
}

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static int
stage(struct nc_instance *in)
{
	char path[NC_PATH_MAX];
	struct nc_image_ref img = { in->image_id, in->image_url, in->image_digest };

	if (file_in(in, "base", path, sizeof(path)) < 0 ||
	    nc_cache_link(nc_node.cache, &img, path) < 0)
		return -1;
	/* a container runs on the node's kernel: its image is all it needs */
	if (nc_node.hv->container)
		return 0;
	if (in->kernel_id[0]) {
		struct nc_image_ref k = { in->kernel_id, in->kernel_url, in->kernel_digest };

		if (file_in(in, "kernel", path, sizeof(path)) < 0 ||
		    nc_cache_link(nc_node.cache, &k, path) < 0)
			return -1;
	}
	if (in->ramdisk_id[0]) {
		struct nc_image_ref r = { in->ramdisk_id, in->ramdisk_url, in->ramdisk_digest };

		if (file_in(in, "ramdisk", path, sizeof(path)) < 0 ||
		    nc_cache_link(nc_node.cache, &r, path) < 0)
			return -1;
	}
	return 0;
}

/* Round up to a whole MiB: loop devices and QEMU like aligned sizes. */
static long long
mib_up(long long n)
{
	return (n + MIB - 1) / MIB * MIB;
}

static bool
io_class(const struct nc_instance *in)
{
	return strcasecmp(in->io_class, "io") == 0;
}

/* The choice could not be kept: a qcow2 overlay after all, said and saved. */
static int
root_overlay_instead(struct nc_instance *in, const char *base, const char *fmt,
    const char *why)
{
	char root[NC_PATH_MAX];
	size_t n;

	if (file_in(in, "root.qcow2", root, sizeof(root)) < 0)
		return -1;
	kr_log_info("%s: %s: qcow2 overlay on the cached base instead", in->id, why);
	nc_table_lock();
	in->attach.store = NC_STORE_OVERLAY;
	in->attach.root_from = NC_ROOT_BASE;
	n = strlen(in->attach.why);
	snprintf(in->attach.why + n, sizeof(in->attach.why) - n, "; %s: qcow2 overlay", why);
	nc_attach_disk_string(&in->attach, in->disk_attachment, sizeof(in->disk_attachment));
	nc_instance_save(in);
	nc_table_unlock();
	unlink(root);
	return nc_disk_overlay(base, fmt, root, 0);
}

/*
 * A standard instance's raw root, made in O(1) or not at all: the raw clone
 * taken when the choice was made (or one taken now, for a launch resumed
 * after a restart), renamed in; else a reflink of the base; else the
 * overlay.  Never a copy on the launch path.
 */
static int
standard_raw_root(struct nc_instance *in, const char *base, const char *fmt, long long size)
{
	char root[NC_PATH_MAX];
	struct stat st;

	if (file_in(in, "root.raw", root, sizeof(root)) < 0)
		return -1;
	unlink(root);
	if (strcmp(fmt, "raw") != 0)
		return root_overlay_instead(in, base, fmt, "the image is not raw");
	if (!in->clone[0] && !nc_node.reflink_ok &&
	    nc_raw_clone_take(nc_node.clones, in->image_id, in->image_digest, in->clone,
	    sizeof(in->clone)) != 0)
		in->clone[0] = '\0';
	if (in->clone[0]) {
		int ok = stat(in->clone, &st) == 0 && st.st_size == mib_up(size) &&
		    rename(in->clone, root) == 0;

		if (!ok)
			kr_log_warnx("%s: raw clone %s not usable (gone, wrong size or another "
			    "file system)", in->id, in->clone);
		nc_raw_clone_discard(ok ? NULL : in->clone);
		in->clone[0] = '\0';
		if (ok) {
			kr_log_info("%s: root is a raw clone made ahead of the launch", in->id);
			return 0;
		}
	}
	if (nc_node.reflink_ok) {
		if (nc_disk_reflink(base, root, mib_up(size)) == 0) {
			kr_log_info("%s: root is a reflink clone of the cached base", in->id);
			return 0;
		}
		kr_log_warnx("%s: %s", in->id, kr_error_message());
		return root_overlay_instead(in, base, fmt, "reflink failed");
	}
	return root_overlay_instead(in, base, fmt, "no raw clone ready any more");
}

static int
make_root(struct nc_instance *in)
{
	char base[NC_PATH_MAX], root[NC_PATH_MAX];
	const char *fmt;
	long long size;

	if (file_in(in, "base", base, sizeof(base)) < 0 || !(fmt = nc_disk_format(base)) ||
	    (size = nc_disk_virtual_size(base, fmt)) < 0)
		return -1;
	if (in->attach.store == NC_STORE_OVERLAY) {
		if (file_in(in, "root.qcow2", root, sizeof(root)) < 0)
			return -1;
		unlink(root);
		return nc_disk_overlay(base, fmt, root, 0);
	}
	if (in->attach.store == NC_STORE_RAW && !io_class(in))
		return standard_raw_root(in, base, fmt, size);
	if (strcmp(fmt, "raw") != 0) {
		kr_error("InvalidParameterValue", "%s: a %s image cannot back a raw or phy disk",
		    in->image_id, fmt);
		return -1;
	}
	if (in->attach.store == NC_STORE_DEVICE)
		return nc_disk_copy(base, in->root_dev);
	if (file_in(in, "root.raw", root, sizeof(root)) < 0)
		return -1;
	unlink(root);
	if (nc_disk_prealloc(root, mib_up(size)) < 0 || nc_disk_copy(base, root) < 0)
		return -1;
	/* containers too: libvirt's own loop setup (<filesystem type='file'>)
	 * refuses image paths of 64 bytes or more (LO_NAME_SIZE) */
	if (in->attach.store == NC_STORE_LOOP || in->attach.store == NC_STORE_FSIMAGE) {
		char dev[NC_PATH_MAX];

		if (nc_loop_attach(root, dev, sizeof(dev)) < 0)
			return -1;
		nc_table_lock();
		snprintf(in->root_dev, sizeof(in->root_dev), "%s", dev);
		nc_instance_save(in);
		nc_table_unlock();
		kr_log_info("%s: root on %s over %s", in->id, dev, root);
	}
	return 0;
}

/*
 * Swap and ephemeral disks, as Eucalyptus split an instance type's disk:
 * the image, then NC_SWAP_MIB of swap when there is room for it and some
 * ephemeral space too, then the rest as the ephemeral disk.  Both are
 * pre-allocated: a guest's first writes must not allocate blocks.
 */
static int
make_ephemeral(struct nc_instance *in)
{
	char base[NC_PATH_MAX], eph[NC_PATH_MAX], swap[NC_PATH_MAX];
	struct stat st;
	long long left;

	if (nc_node.hv->container || in->disk_gib <= 0 ||
	    file_in(in, "base", base, sizeof(base)) < 0 || stat(base, &st) < 0)
		return 0;
	left = in->disk_gib * GIB - mib_up(st.st_size);
	if (left < 16 * MIB)
		return 0;
	if (file_in(in, "ephemeral.raw", eph, sizeof(eph)) < 0 ||
	    file_in(in, "swap.raw", swap, sizeof(swap)) < 0)
		return -1;
	unlink(eph);
	unlink(swap);
	if (left >= NC_SWAP_MIB * MIB + 16 * MIB) {
		if (nc_disk_prealloc(swap, NC_SWAP_MIB * MIB) < 0)
			return -1;
		left -= NC_SWAP_MIB * MIB;
	}
	return nc_disk_prealloc(eph, left);
}

static void
cmdline_for(const struct nc_instance *in, char *out, size_t len)
{
	char dev[32];

	nc_bus_guest_dev(in->attach.bus, 0, dev, sizeof(dev));
	/*
	 * no_timer_check: Linux checks its IO-APIC timer at boot and panics
	 * ("IO-APIC + timer doesn't work!") when an emulating host is too slow to
	 * tick in time, as QEMU TCG is on a loaded node (seen in CI); cloud
	 * images boot with it for that reason.
	 */
	snprintf(out, len, "console=ttyS0 no_timer_check root=%s%s%s", dev,
	    in->kernel_params[0] ? " " : "", in->kernel_params);
}

int
nc_domain_create(struct nc_instance *in)
{
	struct nc_domain_spec s = { 0 };
	struct kr_buf xml = KR_BUF_INIT;
	char kernel[NC_PATH_MAX], ramdisk[NC_PATH_MAX], root[NC_PATH_MAX], eph[NC_PATH_MAX];
	char console[NC_PATH_MAX], cmdline[NC_PARAMS_MAX + 96], t0[8], t1[8], t2[8];
	char swap[NC_PATH_MAX];
	virConnectPtr c = NULL;
	virDomainPtr dom = NULL;
	int rc = -1;

	if (file_in(in, "kernel", kernel, sizeof(kernel)) < 0 ||
	    file_in(in, "ramdisk", ramdisk, sizeof(ramdisk)) < 0 ||
	    file_in(in, "console.log", console, sizeof(console)) < 0 ||
	    file_in(in, "ephemeral.raw", eph, sizeof(eph)) < 0 ||
	    file_in(in, "swap.raw", swap, sizeof(swap)) < 0 ||
	    file_in(in, in->attach.store == NC_STORE_OVERLAY ? "root.qcow2" : "root.raw", root,
	    sizeof(root)) < 0)
		return -1;
	s.type = nc_node.hv->domain_type;
	s.name = in->id;
	s.memory_mib = in->memory_mib;
	s.vcpus = in->cores;
	s.bridge = in->bridge;
	s.mac = in->mac[0] ? in->mac : NULL;
	s.tap = in->tap[0] ? in->tap : NULL;
	s.nic = in->attach.nic;
	if (in->attach.guest_aoe) {
		s.storage_if = nc_storage_interface();
		s.storage_mac = in->attach.storage_mac;
	}
	if (nc_node.hv->container) {
		s.rootfs = in->root_dev;
		s.init = "/sbin/init";
	} else {
		struct nc_disk_spec *d = &s.disks[s.ndisks++];

		cmdline_for(in, cmdline, sizeof(cmdline));
		s.kernel = exists(kernel) ? kernel : NULL;
		s.ramdisk = exists(ramdisk) ? ramdisk : NULL;
		s.cmdline = s.kernel ? cmdline : NULL;
		s.console = console;
		nc_bus_target(in->attach.bus, 0, t0, sizeof(t0));
		d->target = t0;
		d->bus = in->attach.bus;
		d->cache = in->attach.cache;
		d->io = in->attach.io;
		if (in->attach.backing == NC_BACKING_PHY) {
			d->src = NC_SRC_BLOCK;
			d->path = in->root_dev;
			d->format = "raw";
		} else {
			d->src = NC_SRC_FILE;
			d->path = root;
			d->format = in->attach.store == NC_STORE_OVERLAY ? "qcow2" : "raw";
			if (!nc_node.direct_io_ok) {
				d->cache = NC_CACHE_WRITEBACK;
				d->io = NC_IO_THREADS;
			}
		}
		/* index 1 ephemeral, 2 swap (Eucalyptus' sda2 and sda3) */
		for (int k = 1; k <= 2; k++) {
			const char *file = k == 1 ? eph : swap;

			if (!exists(file))
				continue;
			d = &s.disks[s.ndisks++];
			nc_bus_target(in->attach.bus, k, k == 1 ? t1 : t2, sizeof(t1));
			*d = (struct nc_disk_spec){ .src = NC_SRC_FILE, .path = file, .format = "raw",
				.target = k == 1 ? t1 : t2, .bus = in->attach.bus,
				.cache = nc_node.direct_io_ok ? NC_CACHE_NONE : NC_CACHE_WRITEBACK,
				.io = nc_node.direct_io_ok ? NC_IO_NATIVE : NC_IO_THREADS };
		}

	}
	if (nc_domain_xml(&s, &xml) < 0 || !(c = nc_conn()))
		goto cleanup;
	kr_log_debug("%s: domain XML:\n%s", in->id, kr_buf_str(&xml));
	dom = virDomainCreateXML(c, kr_buf_str(&xml), 0);
	if (!dom) {
		nc_virt_error("creating the domain");
		goto cleanup;
	}
	/* the instance runs even if its console cannot be copied */
	if (nc_node.hv->pty_console && nc_console_follow(in) < 0)
		kr_log_warnx("%s: %s", in->id, kr_error_message());
	rc = 0;
cleanup:
	if (dom)
		virDomainFree(dom);
	if (c)
		virConnectClose(c);
	kr_buf_free(&xml);
	return rc;
}

/* Remove every file of the instance and its directory. */
static void
remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char p[NC_PATH_MAX];

		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    nc_path(p, sizeof(p), "%s/%s", dir, de->d_name) == 0 && unlink(p) < 0)
			kr_log_warn("cannot remove %s", p);
	}
	if (d)
		closedir(d);
	if (rmdir(dir) < 0 && errno != ENOENT)
		kr_log_warn("cannot remove %s", dir);
}

static void
destroy_domain(struct nc_instance *in)
{
	virConnectPtr c = nc_conn();
	virDomainPtr dom = c ? virDomainLookupByName(c, in->id) : NULL;

	if (dom) {
		if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0)
			kr_log_warnx("%s: destroying the domain: %s", in->id,
			    virGetLastErrorMessage());
		/* a persistent leftover (someone defined it): undefine it too */
		if (virDomainIsPersistent(dom) == 1)
			virDomainUndefine(dom);
		virDomainFree(dom);
	}
	if (c)
		virConnectClose(c);
}

void
nc_teardown(struct nc_instance *in, const char *reason)
{
	char root[NC_PATH_MAX], dev[NC_PATH_MAX];

	kr_log_info("%s: tearing down (%s)", in->id, reason);
	for (int i = in->nvolumes - 1; i >= 0; i--)
		nc_volume_detach(in, in->volumes[i].id, true);
	destroy_domain(in);
	nc_console_unfollow(in->id);
	if (in->attach_decided && in->attach.store == NC_STORE_DEVICE && in->root_dev[0]) {
		/* back to the pool only once the tenant's data is gone */
		if (nc_disk_wipe_device(in->root_dev) == 0)
			nc_phy_release(in->root_dev);
		else
			kr_log_errorx("%s: spare device %s kept out of the pool: %s", in->id,
			    in->root_dev, kr_error_message());
	}
	/* the loop device the metadata names, and any other over our file */
	if ((in->attach.store == NC_STORE_LOOP || in->attach.store == NC_STORE_FSIMAGE) &&
	    in->root_dev[0] && nc_loop_detach(in->root_dev) < 0)
		kr_log_warnx("%s: %s", in->id, kr_error_message());
	if (in->dir[0] && file_in(in, "root.raw", root, sizeof(root)) == 0) {
		for (int i = 0; i < 8 && nc_loop_find(root, dev, sizeof(dev)) == 0; i++)
			if (nc_loop_detach(dev) < 0)
				break;
	}
	if (in->tap[0] && if_nametoindex(in->tap) != 0)
		kr_log_warnx("%s: tap %s still exists after the domain ended", in->id, in->tap);
	if (in->dir[0]) {
		if (kr_config_bool(nc_node.cfg, "MANUAL_INSTANCES_CLEANUP"))
			kr_log_info("%s: keeping %s (MANUAL_INSTANCES_CLEANUP)", in->id, in->dir);
		else
			remove_dir(in->dir);
	}
	nc_table_lock();
	in->root_dev[0] = '\0';
	in->nvolumes = 0;
	in->dir[0] = '\0';	/* no more metadata writes */
	nc_instance_set_state(in, NC_ST_TEARDOWN, reason);
	nc_table_unlock();
}

static void *
launch_thread(void *arg)
{
	struct nc_instance *in = arg;
	int rc;
	bool term;

	nc_staging_enter();
	kr_log_info("%s: staging (%s; %s)", in->id, in->disk_attachment, in->attach.why);
	rc = stage(in);
	if (rc == 0)
		rc = make_root(in);
	if (rc == 0)
		rc = make_ephemeral(in);
	nc_staging_leave();
	/* a clone taken but not used (the launch failed before its root) */
	nc_raw_clone_discard(in->clone);
	in->clone[0] = '\0';
	nc_table_lock();
	term = in->terminating;
	nc_table_unlock();
	if (rc == 0 && !term) {
		set_state(in, NC_ST_BOOTING, NULL);
		/* MANAGED: the group's segment must be here before the tap joins it
		 * (ncStartNetwork made it already, unless the node lost it). */
		if (in->vlan > 0)
			rc = nc_vnet_vlan_up(in->vlan, NULL);
		if (rc == 0)
			rc = nc_domain_create(in);
	}
	if (rc == 0 && !term) {
		set_state(in, NC_ST_RUNNING, NULL);
	} else if (rc < 0) {
		char reason[NC_REASON_MAX];

		snprintf(reason, sizeof(reason), "launch failed: %s", kr_error_message());
		kr_log_errorx("%s: %s", in->id, reason);
		nc_table_lock();
		in->failed = 1;
		nc_table_unlock();
		nc_teardown(in, reason);
	}
	nc_table_lock();
	term = in->terminating;
	nc_table_unlock();
	if (term && rc == 0)
		nc_teardown(in, "terminated");
	nc_table_lock();
	in->busy = false;
	nc_table_unlock();
	return NULL;
}

static int
start_thread(void *(*fn)(void *), void *arg)
{
	pthread_attr_t a;
	pthread_t t;
	int err;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &a, fn, arg);
	pthread_attr_destroy(&a);
	if (err) {
		errno = err;
		kr_error_errno("InternalError", "cannot start a thread");
		return -1;
	}
	return 0;
}

int
nc_launch_start(struct nc_instance *in)
{
	in->busy = true;
	if (start_thread(launch_thread, in) < 0) {
		in->busy = false;
		return -1;
	}
	return 0;
}

struct teardown_arg {
	struct nc_instance *in;
	char reason[NC_REASON_MAX];
};

static void *
teardown_thread(void *arg)
{
	struct teardown_arg *t = arg;

	nc_teardown(t->in, t->reason);
	nc_table_lock();
	t->in->busy = false;
	nc_table_unlock();
	free(t);
	return NULL;
}

int
nc_teardown_start(struct nc_instance *in, const char *reason)
{
	struct teardown_arg *t = calloc(1, sizeof(*t));

	if (!t) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	t->in = in;
	snprintf(t->reason, sizeof(t->reason), "%s", reason);
	in->busy = true;
	if (start_thread(teardown_thread, t) < 0) {
		in->busy = false;
		free(t);
		return -1;
	}
	return 0;
}
