/*
 * volume.c - hot-plugging volumes into running domains.
 *
 * remoteDev says where the volume is on this node:
 *   /dev/...  or another absolute path   a local block device (attached as
 *             phy) or file (as a file through QEMU), only from the
 *             directories of NC_VOLUME_PATHS (symlinks resolved first)
 *   nbd+unix:///[EXPORT]?socket=/path    an NBD export on a unix socket: what
 *             Karri's userspace AoE initiator serves; QEMU talks to it
 *             directly, no host block layer in the way
 *   aoe:[IFACE:[MAC:]]eS.L  (or /dev/etherd/eS.L)  an EBS volume: kernel
 *             AoE when the node has it (/dev/etherd/eS.L exists, "phy"), else
 *             Karri's userspace initiator serving it on an NBD socket in the
 *             instance directory ("nbd"; aoe_volume.c owns that process),
 *             or, for an instance with a storage NIC (guest-side AoE,
 *             attach_policy.c), nothing on the host at all: EBS exports the
 *             volume to that NIC's MAC and the guest's own aoe driver finds
 *             it ("guest"); the NC only records the attachment
 * Every volume carries its id as the disk serial, so a guest can tell which
 * disk is which.  The bus is virtio (USE_VIRTIO_DISK) or virtio-scsi.
 */
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

#define DETACH_WAIT_MS 15000

/* aoe:... without /dev/etherd/eS.L: the userspace initiator's job. */
static bool
userspace_aoe(const char *remote)
{
	char ifname[16], dev[64];
	unsigned shelf, slot;

	if (!nc_aoe_remote(remote) || nc_aoe_parse(remote, ifname, sizeof(ifname), &shelf,
	    &slot) < 0)
		return false;	/* nc_volume_source() says what is wrong */
	snprintf(dev, sizeof(dev), "/dev/etherd/e%u.%u", shelf, slot);
	return access(dev, F_OK) != 0;
}

/* The disk of an AoE volume served by karri-aoe: its NBD socket. */
static int
aoe_nbd_spec(const struct nc_instance *in, const char *vol, struct nc_disk_spec *d, char *sock,
    size_t socklen, const char **how)
{
	memset(d, 0, sizeof(*d));
	if (nc_aoe_socket(in, vol, sock, socklen) < 0)
		return -1;
	d->format = "raw";
	d->src = NC_SRC_NBD;
	d->path = sock;
	*how = "nbd";
	return 0;
}

/* Is disk index `idx` on `bus` taken by the root, ephemeral, swap or a volume? */
static bool
index_taken(const struct nc_instance *in, enum nc_bus bus, int idx)
{
	char t[8], eph[NC_PATH_MAX];

	if (nc_bus_target(bus, idx, t, sizeof(t)) < 0)
		return true;
	if (idx == 0)
		return bus == in->attach.bus;
	if ((idx == 1 || idx == 2) && bus == in->attach.bus &&
	    nc_path(eph, sizeof(eph), "%s/%s", in->dir, idx == 1 ? "ephemeral.raw" : "swap.raw") == 0 &&
	    access(eph, F_OK) == 0)
		return true;
	for (int i = 0; i < in->nvolumes; i++)
		if (strcmp(in->volumes[i].target, t) == 0)
			return true;
	return false;
}

static int
pick_target(const struct nc_instance *in, enum nc_bus bus, const char *local, char *out,
    size_t len)
{
	size_t l = local ? strlen(local) : 0;
	int want = l >= 3 && local[l - 1] >= 'b' && local[l - 1] <= 'z' ? local[l - 1] - 'a' : -1;

	if (want > 0 && !index_taken(in, bus, want))
		return nc_bus_target(bus, want, out, len);
	for (int i = 1; i < 26; i++)
		if (!index_taken(in, bus, i))
			return nc_bus_target(bus, i, out, len);
	kr_error("InsufficientInstanceCapacity", "no free disk name left");
	return -1;
}

static void
disk_modes(struct nc_disk_spec *d)
{
	if (d->src == NC_SRC_BLOCK || (d->src == NC_SRC_FILE && nc_node.direct_io_ok)) {
		d->cache = NC_CACHE_NONE;
		d->io = NC_IO_NATIVE;
	} else {
		/* NBD: QEMU's own client, no host page cache to bypass */
		d->cache = d->src == NC_SRC_NBD ? NC_CACHE_NONE : NC_CACHE_WRITEBACK;
		d->io = NC_IO_THREADS;
	}
}

/* The hot-plug as a request (priv_volume.c works the source out again). */
static int
disk_request(const struct nc_instance *in, const struct nc_volume *v, const char *target,
    enum nc_bus bus, const struct nc_disk_spec *d, struct nc_priv_disk *r)
{
	memset(r, 0, sizeof(*r));
	if ((size_t)snprintf(r->id, sizeof(r->id), "%s", in->id) >= sizeof(r->id) ||
	    (size_t)snprintf(r->vol, sizeof(r->vol), "%s", v->id) >= sizeof(r->vol) ||
	    (size_t)snprintf(r->remote, sizeof(r->remote), "%s", v->remote) >= sizeof(r->remote) ||
	    (size_t)snprintf(r->target, sizeof(r->target), "%s", target) >= sizeof(r->target)) {
		kr_error("InvalidParameterValue", "%s: a field too long for a disk request", v->id);
		return -1;
	}
	r->bus = (uint8_t)bus;
	r->cache = (uint8_t)d->cache;
	r->io = (uint8_t)d->io;
	r->aoe_nbd = nc_aoe_remote(v->remote) && d->src == NC_SRC_NBD;
	return 0;
}

static virDomainPtr
lookup(const char *id, virConnectPtr *c)
{
	virDomainPtr dom;

	if (!(*c = nc_conn()))
		return NULL;
	dom = virDomainLookupByName(*c, id);
	if (!dom)
		nc_virt_error(id);
	return dom;
}

/*
 * Guest-side AoE: the volume travels from EBS to the guest's storage NIC,
 * never through this host, so attaching is only recording it (checked
 * like any AoE address).  Detaching is EBS withdrawing the export.
 */
static int
record_guest_aoe(struct nc_instance *in, struct nc_volume *nv, const char *local,
    char *attachment, size_t len)
{
	char ifname[16];
	unsigned shelf, slot;

	if (nc_aoe_parse(nv->remote, ifname, sizeof(ifname), &shelf, &slot) < 0)
		return -1;
	snprintf(nv->local, sizeof(nv->local), "%s", local ? local : "");
	snprintf(nv->target, sizeof(nv->target), "e%u.%u", shelf, slot);
	snprintf(nv->attachment, sizeof(nv->attachment), "guest");
	nc_table_lock();
	in->volumes[in->nvolumes++] = *nv;
	nc_instance_save(in);
	nc_table_unlock();
	snprintf(attachment, len, "guest");
	kr_log_info("%s: %s reaches the guest by its own AoE on %s (e%u.%u)", in->id, nv->id,
	    in->attach.storage_mac, shelf, slot);
	return 0;
}

int
nc_volume_attach(struct nc_instance *in, const char *vol, const char *remote, const char *local,
    char *attachment, size_t len)
{
	struct nc_disk_spec d;
	struct nc_volume nv;
	struct nc_priv_disk req;
	char sock[NC_PATH_MAX], exp[NC_NAME_MAX], target[8];
	const char *how;
	enum nc_bus bus;
	int rc = -1;

	if (!kr_id_valid(vol, "vol") || (local && !nc_safe_text(local, 16))) {
		kr_error("InvalidParameterValue", "bad volumeId or localDev");
		return -1;
	}
	if (in->nvolumes >= NC_MAX_VOLUMES) {
		kr_error("VolumeLimitExceeded", "%d volumes attached already", NC_MAX_VOLUMES);
		return -1;
	}
	for (int i = 0; i < in->nvolumes; i++) {
		if (strcmp(in->volumes[i].id, vol) == 0) {
			kr_error("VolumeInUse", "%s is attached to %s already", vol, in->id);
			return -1;
		}
	}
	if (in->attach.bus == NC_BUS_IDE) {
		kr_error("Unsupported", "the image has no virtio drivers: no disk hot-plug");
		return -1;
	}
	memset(&nv, 0, sizeof(nv));
	snprintf(nv.id, sizeof(nv.id), "%s", vol);
	if (!remote || !*remote || !nc_safe_text(remote, sizeof(nv.remote))) {
		kr_error("InvalidParameterValue", "remoteDev missing or malformed");
		return -1;
	}
	snprintf(nv.remote, sizeof(nv.remote), "%s", remote);
	if (in->attach.guest_aoe && nc_aoe_remote(remote))
		return record_guest_aoe(in, &nv, local, attachment, len);
	if (userspace_aoe(remote)) {
		/* no kernel AoE: karri-aoe serves it to QEMU over NBD */
		if (nc_priv_aoe_start(in, &nv) < 0)
			return -1;
		if (aoe_nbd_spec(in, vol, &d, sock, sizeof(sock), &how) < 0)
			goto cleanup;
	} else if (nc_volume_source(remote, &d, sock, sizeof(sock), exp, sizeof(exp), &how) < 0) {
		return -1;
	}
	bus = kr_config_bool(nc_node.cfg, "USE_VIRTIO_DISK") ? NC_BUS_VIRTIO : NC_BUS_SCSI;
	if (bus == NC_BUS_SCSI && in->attach.bus != NC_BUS_SCSI) {
		/* a scsi disk needs the controller, which only scsi roots have */
		bus = NC_BUS_VIRTIO;
	}
	if (pick_target(in, bus, local, target, sizeof(target)) < 0)
		goto cleanup;
	disk_modes(&d);
	if (disk_request(in, &nv, target, bus, &d, &req) < 0 || nc_priv_disk_attach(&req) < 0)
		goto cleanup;
	nc_table_lock();
	{
		struct nc_volume *v = &in->volumes[in->nvolumes++];

		*v = nv;
		nv.helper = 0;	/* the instance owns it now */
		snprintf(v->local, sizeof(v->local), "%s", local ? local : "");
		snprintf(v->target, sizeof(v->target), "%s", target);
		snprintf(v->attachment, sizeof(v->attachment), "%s", how);
		nc_instance_save(in);
	}
	nc_table_unlock();
	snprintf(attachment, len, "%s", how);
	kr_log_info("%s: %s attached as %s (%s, %s)", in->id, vol, target, how, remote);
	rc = 0;
cleanup:
	if (nv.helper)
		nc_priv_aoe_stop(in, &nv);
	return rc;
}

/* Does the live domain still have a disk with that target? */
static bool
has_target(virDomainPtr dom, const char *target)
{
	char *xml = virDomainGetXMLDesc(dom, 0), needle[48];
	bool found;

	if (!xml)
		return false;
	snprintf(needle, sizeof(needle), "<target dev='%s'", target);
	found = strstr(xml, needle) != NULL;
	free(xml);
	return found;
}

int
nc_volume_detach(struct nc_instance *in, const char *vol, bool force)
{
	struct nc_volume v;
	struct nc_disk_spec d;
	struct nc_priv_disk req;
	char sock[NC_PATH_MAX], exp[NC_NAME_MAX];
	const char *how;
	virConnectPtr c = NULL;
	virDomainPtr dom = NULL;
	int idx = -1, rc = -1;
	bool src_ok;

	for (int i = 0; i < in->nvolumes; i++)
		if (strcmp(in->volumes[i].id, vol) == 0)
			idx = i;
	if (idx < 0) {
		kr_error("IncorrectState", "%s is not attached to %s", vol, in->id);
		return -1;
	}
	v = in->volumes[idx];
	if (strcmp(v.attachment, "guest") == 0)
		goto forget;	/* nothing of it on this host */
	if (nc_aoe_remote(v.remote) && strcmp(v.attachment, "nbd") == 0)
		src_ok = aoe_nbd_spec(in, v.id, &d, sock, sizeof(sock), &how) == 0;
	else
		src_ok = nc_volume_source(v.remote, &d, sock, sizeof(sock), exp, sizeof(exp),
		    &how) == 0;
	dom = lookup(in->id, &c);
	if (dom && virDomainIsActive(dom) == 1 && has_target(dom, v.target)) {
		if (!src_ok)
			memset(&d, 0, sizeof(d));
		disk_modes(&d);
		/* the source may be gone already: the parent then goes by target alone */
		if ((disk_request(in, &v, v.target, v.target[0] == 'v' ? NC_BUS_VIRTIO : NC_BUS_SCSI,
		    &d, &req) < 0 || nc_priv_disk_detach(&req) < 0) && !force)
			goto cleanup;
		for (int ms = 0; ms < DETACH_WAIT_MS && has_target(dom, v.target); ms += 200)
			usleep(200 * 1000);
		if (has_target(dom, v.target) && !force) {
			kr_error("IncorrectState", "the guest has not released %s yet", v.target);
			goto cleanup;
		}
	}
	/* unplugged: now the initiator can go, then its socket */
	nc_priv_aoe_stop(in, &v);
forget:
	nc_table_lock();
	for (int i = idx; i + 1 < in->nvolumes; i++)
		in->volumes[i] = in->volumes[i + 1];
	in->nvolumes--;
	if (in->dir[0])
		nc_instance_save(in);
	nc_table_unlock();
	kr_log_info("%s: %s detached from %s", in->id, vol, v.target);
	rc = 0;
cleanup:
	if (dom)
		virDomainFree(dom);
	if (c)
		virConnectClose(c);
	return rc;
}
