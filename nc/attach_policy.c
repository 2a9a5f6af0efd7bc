/*
 * attach_policy.c - the per-instance attachment choice, as a pure function.
 *
 * The seed study of Eucalyptus measured guests getting half the disk's
 * bandwidth with sparse files and emulated SCSI.  Karri makes the fast path
 * the default and writes down, per instance, why it chose what it chose:
 *
 *   bus      virtio, unless the image lacks virtio drivers (ide, which every
 *            OS drives) or the admin turned USE_VIRTIO_ROOT off (scsi on a
 *            virtio-scsi controller: SCSI names, still paravirtual).
 *   backing  tap (a file through QEMU) or phy (a whole block device).  auto:
 *            the "io" I/O class gets a spare device when one is free, else a
 *            pre-allocated raw file; everything else a root made in O(1)
 *            from the cached base (qcow2 overlay, or raw: see below).  NC_DISK_ATTACH=phy: a spare device,
 *            else a loop device over a pre-allocated file; tap: files only.
 *   cache    none (O_DIRECT: no double caching in host and guest) where the
 *            filesystem or device takes it, else writeback.  Never
 *            writethrough: it makes every guest write synchronous.
 *            Measured (bench/guestio, backend layer, 1 MiB depth 16): the
 *            host page cache costs QEMU 14x the CPU per GB written (1.80
 *            vs 0.13 CPU-s/GB) and 4x per GB read (0.45 vs 0.11), for no
 *            throughput the spread can tell apart; writethrough wrote 4 KiB
 *            blocks at 1.85 MB/s against 17.9.
 *   io       native only with cache=none (QEMU requires O_DIRECT for it),
 *            else threads.  Measured: native 0.13/0.11 CPU-s/GB written/
 *            read against threads' 0.16/0.16, MB/s level.
 *   overlay  the standard class's qcow2 overlay is made with 4 KiB
 *            subclusters (disk.c OVERLAY_OPTS): small first writes no
 *            longer copy from the base.  It still writes 1 MiB blocks at
 *            ~0.8x of a raw file and costs ~1.3x its CPU per GB; the raw
 *            file costs a full copy of the image at launch, which the
 *            design forbids on the launch path -- the io class pays it.
 *   root     so a standard root is raw wherever that is O(1) at launch:
 *            a reflink clone of the cached base where INSTANCE_PATH
 *            shares extents (XFS, btrfs), else a raw clone the NC made
 *            ahead of the launch (raw_clone.c, NC_RAW_CLONES per image),
 *            else -- no reflink, none ready -- the overlay.  Reflink is
 *            preferred: it costs no background copy and no disk space
 *            until the guest writes.
 *   nic      virtio when the image has drivers and USE_VIRTIO_NET, else e1000.
 *   volumes  through the host (kernel AoE, else Karri's userspace initiator
 *            as NBD), or guest-side AoE: NC_GUEST_AOE=io (io class) or
 *            always gives the instance a virtio NIC on the storage network
 *            and its volumes are exported to that NIC's MAC, for the
 *            guest's own aoe driver (the seed paper's proposal: no host
 *            block layer at all).  Opt-in, never the default: a guest must
 *            load aoe and bring the NIC up itself, which stock images do
 *            not, and a volume it cannot see is worse than a slower one.
 *            Needs virtio in the image and a storage NIC on the node.
 *
 * No I/O here: every input is in struct nc_attach_input, so the unit test
 * (attach_policy-test.c) covers the whole table of cases.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "aoe/aoe.h"
#include "core/error.h"
#include "nc.h"

static void
why_add(struct nc_attach *a, const char *s)
{
	size_t n = strlen(a->why);

	snprintf(a->why + n, sizeof(a->why) - n, "%s%s", n ? "; " : "", s);
}

static bool
image_has_virtio(const struct nc_attach_input *in)
{
	if (in->image_has_virtio >= 0)
		return in->image_has_virtio;
	/* Eucalyptus-era Windows images shipped without virtio drivers. */
	return !(in->platform && strcasecmp(in->platform, "windows") == 0);
}

static void
choose_bus(const struct nc_attach_input *in, struct nc_attach *a)
{
	if (!image_has_virtio(in)) {
		a->bus = NC_BUS_IDE;
		why_add(a, in->image_has_virtio == 0 ? "image lacks virtio: ide" :
		    "platform windows without virtio said: ide");
	} else if (!in->use_virtio_root) {
		a->bus = NC_BUS_SCSI;
		why_add(a, "USE_VIRTIO_ROOT=N: scsi");
	} else {
		a->bus = NC_BUS_VIRTIO;
		why_add(a, "image has virtio: virtio");
	}
}

/* A standard (not io) instance's tap root: raw where O(1), else qcow2. */
static int
choose_standard_root(const struct nc_attach_input *in, struct nc_attach *a, const char *who)
{
	char why[128];

	if (in->reflink_ok) {
		a->store = NC_STORE_RAW;
		a->root_from = NC_ROOT_REFLINK;
		snprintf(why, sizeof(why), "%s: reflink clone of the cached base: O(1), raw speed",
		    who);
	} else if (in->clone_ready) {
		a->store = NC_STORE_RAW;
		a->root_from = NC_ROOT_CLONE;
		snprintf(why, sizeof(why), "%s: a raw clone made ahead of the launch", who);
	} else {
		a->store = NC_STORE_OVERLAY;
		snprintf(why, sizeof(why), "%s: qcow2 overlay on the cached base "
		    "(no reflink here, no raw clone ready)", who);
	}
	why_add(a, why);
	return 0;
}

static int
choose_backing(const struct nc_attach_input *in, struct nc_attach *a)
{
	const char *mode = in->disk_attach ? in->disk_attach : "auto";
	bool io = in->io_class && strcasecmp(in->io_class, "io") == 0;

	if (strcasecmp(mode, "phy") == 0) {
		if (in->phy_free > 0) {
			a->backing = NC_BACKING_PHY;
			a->store = NC_STORE_DEVICE;
			why_add(a, "NC_DISK_ATTACH=phy: spare device");
		} else if (in->loop_ok) {
			a->backing = NC_BACKING_PHY;
			a->store = NC_STORE_LOOP;
			why_add(a, "NC_DISK_ATTACH=phy, no spare device free: loop over a pre-allocated file");
		} else {
			kr_error("InsufficientInstanceCapacity",
			    "NC_DISK_ATTACH=phy but no spare device is free and loop devices cannot be made");
			return -1;
		}
		return 0;
	}
	a->backing = NC_BACKING_TAP;
	if (strcasecmp(mode, "tap") == 0) {
		if (!io)
			return choose_standard_root(in, a, "NC_DISK_ATTACH=tap, standard class");
		a->store = NC_STORE_RAW;
		why_add(a, "NC_DISK_ATTACH=tap, io class: pre-allocated raw file");
		return 0;
	}
	if (!io) {
		return choose_standard_root(in, a, "standard class");
	} else if (in->phy_free > 0) {
		a->backing = NC_BACKING_PHY;
		a->store = NC_STORE_DEVICE;
		why_add(a, "io class, spare device free: phy");
	} else {
		a->store = NC_STORE_RAW;
		why_add(a, "io class, no spare device free: tap on a pre-allocated raw file");
	}
	return 0;
}

static void
choose_volume_path(const struct nc_attach_input *in, struct nc_attach *a)
{
	const char *mode = in->guest_aoe ? in->guest_aoe : "never";
	bool io = in->io_class && strcasecmp(in->io_class, "io") == 0;
	bool want = strcasecmp(mode, "always") == 0 || (strcasecmp(mode, "io") == 0 && io);

	if (!want)
		return;
	if (!image_has_virtio(in) || a->nic != NC_NIC_VIRTIO) {
		why_add(a, "guest-side AoE wanted but no virtio NIC: volumes through the host");
	} else if (!in->storage_nic_ok) {
		why_add(a, "guest-side AoE wanted but no storage NIC here: volumes through the host");
	} else {
		a->guest_aoe = true;
		why_add(a, strcasecmp(mode, "always") == 0 ? "NC_GUEST_AOE=always: storage NIC, "
		    "volumes by guest-side AoE" : "io class, NC_GUEST_AOE=io: storage NIC, volumes "
		    "by guest-side AoE");
	}
}

int
nc_attach_decide(const struct nc_attach_input *in, struct nc_attach *out)
{
	memset(out, 0, sizeof(*out));
	if (in->container) {
		out->bus = NC_BUS_NONE;
		out->backing = NC_BACKING_FS;
		out->store = NC_STORE_FSIMAGE;
		out->cache = NC_CACHE_WRITEBACK;
		out->io = NC_IO_THREADS;
		out->nic = NC_NIC_VETH;
		why_add(out, "container: root filesystem image through a loop mount, veth");
		return 0;
	}
	choose_bus(in, out);
	if (choose_backing(in, out) < 0)
		return -1;
	/* A block device always takes O_DIRECT; a file only where its
	 * filesystem does (tmpfs does not, and QEMU would refuse to start). */
	if (out->backing == NC_BACKING_PHY || in->direct_io_ok) {
		out->cache = NC_CACHE_NONE;
		out->io = NC_IO_NATIVE;
		why_add(out, "cache=none io=native");
	} else {
		out->cache = NC_CACHE_WRITEBACK;
		out->io = NC_IO_THREADS;
		why_add(out, "no O_DIRECT on INSTANCE_PATH: cache=writeback io=threads");
	}
	if (image_has_virtio(in) && in->use_virtio_net) {
		out->nic = NC_NIC_VIRTIO;
		why_add(out, "nic virtio");
	} else {
		out->nic = NC_NIC_E1000;
		why_add(out, image_has_virtio(in) ? "USE_VIRTIO_NET=N: nic e1000" :
		    "nic e1000 (no virtio in the image)");
	}
	choose_volume_path(in, out);
	return 0;
}

static const char *const bus_names[] = { "virtio", "scsi", "ide", "none" };
static const char *const backing_names[] = { "tap", "phy", "fs" };
static const char *const store_names[] = { "qcow2", "raw", "loop", "device", "fsimage" };
static const char *const cache_names[] = { "none", "writeback" };
static const char *const io_names[] = { "native", "threads" };
static const char *const nic_names[] = { "virtio", "e1000", "veth" };

#define NAMES(a) (sizeof(a) / sizeof((a)[0]))

const char *nc_bus_name(enum nc_bus b) { return bus_names[b]; }
const char *nc_store_name(enum nc_store s) { return store_names[s]; }
const char *nc_nic_name(enum nc_nic n) { return nic_names[n]; }

void
nc_attach_disk_string(const struct nc_attach *a, char *out, size_t len)
{
	snprintf(out, len, "bus=%s backing=%s store=%s cache=%s io=%s", bus_names[a->bus],
	    backing_names[a->backing], store_names[a->store], cache_names[a->cache],
	    io_names[a->io]);
}

void
nc_attach_net_string(const struct nc_attach *a, char *out, size_t len)
{
	snprintf(out, len, "model=%s%s%s", nic_names[a->nic], a->guest_aoe ? " storage=" : "",
	    a->guest_aoe ? a->storage_mac : "");
}

/* Index of value in names, -1 if absent. */
static int
lookup(const char *const *names, size_t n, const char *value, size_t vlen)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == vlen && strncmp(names[i], value, vlen) == 0)
			return (int)i;
	return -1;
}

/* Where the value of key= starts in a "k=v k=v" string; NULL if absent. */
static const char *
value_of(const char *s, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = s; p && *p; p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL)
		if (strncmp(p, key, kl) == 0 && p[kl] == '=')
			return p + kl + 1;
	return NULL;
}

/* The index in names of the value of key=, -1 if absent or unknown. */
static int
field(const char *s, const char *key, const char *const *names, size_t n)
{
	const char *v = value_of(s, key);

	return v ? lookup(names, n, v, strcspn(v, " ")) : -1;
}

/* storage=MAC of a net string (guest-side AoE): 0 absent or read, -1 bad. */
static int
storage_field(const char *net, struct nc_attach *out)
{
	const char *v = value_of(net, "storage");
	uint8_t mac[6];

	if (!v)
		return 0;
	if (strcspn(v, " ") != 17)
		return -1;
	memcpy(out->storage_mac, v, 17);
	out->storage_mac[17] = '\0';
	if (kr_aoe_mac_parse(out->storage_mac, mac) < 0) {
		out->storage_mac[0] = '\0';
		return -1;
	}
	out->guest_aoe = true;
	return 0;
}

int
nc_attach_parse(const char *disk, const char *net, struct nc_attach *out)
{
	int v[6];

	memset(out, 0, sizeof(*out));
	v[0] = field(disk, "bus", bus_names, NAMES(bus_names));
	v[1] = field(disk, "backing", backing_names, NAMES(backing_names));
	v[2] = field(disk, "store", store_names, NAMES(store_names));
	v[3] = field(disk, "cache", cache_names, NAMES(cache_names));
	v[4] = field(disk, "io", io_names, NAMES(io_names));
	v[5] = field(net, "model", nic_names, NAMES(nic_names));
	for (int i = 0; i < 6; i++) {
		if (v[i] < 0 || (i == 5 && storage_field(net, out) < 0)) {
			kr_error("InternalError", "cannot parse attachment \"%s\" / \"%s\"", disk, net);
			return -1;
		}
	}
	out->bus = v[0];
	out->backing = v[1];
	out->store = v[2];
	out->cache = v[3];
	out->io = v[4];
	out->nic = v[5];
	return 0;
}

int
nc_bus_target(enum nc_bus b, int index, char *out, size_t len)
{
	static const char *const prefix[] = { "vd", "sd", "hd", "xx" };

	if (index < 0 || index >= 26 || b == NC_BUS_NONE || len < 4) {
		kr_error("InternalError", "no disk name for index %d on bus %d", index, b);
		return -1;
	}
	snprintf(out, len, "%s%c", prefix[b], 'a' + index);
	return 0;
}

int
nc_bus_guest_dev(enum nc_bus b, int index, char *out, size_t len)
{
	/* libata names IDE disks sd* too; libvirt still wants hd* targets. */
	if (nc_bus_target(b == NC_BUS_IDE ? NC_BUS_SCSI : b, index, out + 5,
	    len > 5 ? len - 5 : 0) < 0)
		return -1;
	memcpy(out, "/dev/", 5);
	return 0;
}
