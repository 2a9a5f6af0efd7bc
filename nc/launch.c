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
		return nc_priv_device_fill(in->id, in->root_dev);
	if (file_in(in, "root.raw", root, sizeof(root)) < 0)
		return -1;
	unlink(root);
	if (nc_disk_prealloc(root, mib_up(size)) < 0 || nc_disk_copy(base, root) < 0)
		return -1;
	/* containers too: libvirt's own loop setup (<filesystem type='file'>)
	 * refuses image paths of 64 bytes or more (LO_NAME_SIZE) */
	if (in->attach.store == NC_STORE_LOOP || in->attach.store == NC_STORE_FSIMAGE) {
		char dev[NC_PATH_MAX];

		if (nc_priv_loop_attach(in->id, dev, sizeof(dev)) < 0)
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

/* A bounded copy into a request field; false when it does not fit. */
static bool
put(char *field, size_t size, const char *s)
{
	return (size_t)snprintf(field, size, "%s", s ? s : "") < size;
}

/*
 * The domain as a request (priv_domain.c builds its XML, in the privileged
 * parent under NC_PRIVSEP=Y): what launch chose, no paths -- the files are
 * named by the instance id and which of them exist.
 */
int
nc_domain_create(struct nc_instance *in)
{
	struct nc_priv_domain *r = calloc(1, sizeof(*r));
	char file[NC_PATH_MAX];
	int rc = -1;

	if (!r) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	*r = (struct nc_priv_domain){ .memory_mib = in->memory_mib, .vcpus = in->cores,
		.store = (uint8_t)in->attach.store, .bus = (uint8_t)in->attach.bus,
		.cache = (uint8_t)in->attach.cache, .io = (uint8_t)in->attach.io,
		.nic = (uint8_t)in->attach.nic, .guest_aoe = in->attach.guest_aoe,
		.direct_io = nc_node.direct_io_ok };
	/* a tap file where O_DIRECT is refused: through the page cache */
	if (in->attach.backing != NC_BACKING_PHY && !nc_node.direct_io_ok) {
		r->cache = NC_CACHE_WRITEBACK;
		r->io = NC_IO_THREADS;
	}
	r->kernel = file_in(in, "kernel", file, sizeof(file)) == 0 && exists(file);
	r->ramdisk = file_in(in, "ramdisk", file, sizeof(file)) == 0 && exists(file);
	r->ephemeral = file_in(in, "ephemeral.raw", file, sizeof(file)) == 0 && exists(file);
	r->swap = file_in(in, "swap.raw", file, sizeof(file)) == 0 && exists(file);
	if (r->kernel)
		cmdline_for(in, r->cmdline, sizeof(r->cmdline));
	if (!put(r->id, sizeof(r->id), in->id) || !put(r->hv, sizeof(r->hv), nc_node.hv->name) ||
	    !put(r->root_dev, sizeof(r->root_dev), in->root_dev) ||
	    !put(r->bridge, sizeof(r->bridge), in->bridge) || !put(r->mac, sizeof(r->mac), in->mac) ||
	    !put(r->tap, sizeof(r->tap), in->tap) ||
	    !put(r->storage_mac, sizeof(r->storage_mac),
	    in->attach.guest_aoe ? in->attach.storage_mac : "")) {
		kr_error("InternalError", "%s: a field too long for the domain request", in->id);
		goto cleanup;
	}
	if (nc_priv_domain_create(r) < 0)
		goto cleanup;
	/* the instance runs even if its console cannot be copied */
	if (nc_node.hv->pty_console && nc_priv_console_follow(in->id) < 0)
		kr_log_warnx("%s: %s", in->id, kr_error_message());
	rc = 0;
cleanup:
	free(r);
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
	if (nc_priv_domain_destroy(in->id) < 0)
		kr_log_warnx("%s: %s", in->id, kr_error_message());
}

void
nc_teardown(struct nc_instance *in, const char *reason)
{
	char root[NC_PATH_MAX], dev[NC_PATH_MAX];

	kr_log_info("%s: tearing down (%s)", in->id, reason);
	for (int i = in->nvolumes - 1; i >= 0; i--)
		nc_volume_detach(in, in->volumes[i].id, true);
	destroy_domain(in);
	nc_priv_console_unfollow(in->id);
	if (in->attach_decided && in->attach.store == NC_STORE_DEVICE && in->root_dev[0]) {
		/* back to the pool only once the tenant's data is gone */
		if (nc_priv_device_wipe(in->id, in->root_dev) == 0)
			nc_phy_release(in->root_dev);
		else
			kr_log_errorx("%s: spare device %s kept out of the pool: %s", in->id,
			    in->root_dev, kr_error_message());
	}
	/* the loop device the metadata names, and any other over our file */
	if ((in->attach.store == NC_STORE_LOOP || in->attach.store == NC_STORE_FSIMAGE) &&
	    in->root_dev[0] && nc_priv_loop_detach(in->id, in->root_dev) < 0)
		kr_log_warnx("%s: %s", in->id, kr_error_message());
	if (in->dir[0] && file_in(in, "root.raw", root, sizeof(root)) == 0) {
		for (int i = 0; i < 8 && nc_loop_find(root, dev, sizeof(dev)) == 0; i++)
			if (nc_priv_loop_detach(in->id, dev) < 0)
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
			rc = nc_priv_vlan_up(in->vlan, NULL);
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
