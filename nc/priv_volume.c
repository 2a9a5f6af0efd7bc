/*
 * priv_volume.c - hot-plugging a volume, as the privileged parent does it
 * for the unprivileged child (NC_PRIVSEP=Y), or the NC itself when it is
 * one process.
 *
 * Attaching a disk to a running domain is a libvirt change, and what the
 * disk names, root's QEMU opens: so the parent does not take a disk from
 * the child, only the remoteDev the CC sent, and works out the source
 * itself (volume_source.c): a file or block device only inside its own
 * reading of NC_VOLUME_PATHS, symlinks resolved first; an NBD export on a
 * unix socket.  The disk XML is built here, with domain_xml.c.  The child
 * keeps what is bookkeeping: which volumes an instance has, the target
 * name, waiting until the guest lets a disk go (it can see that read-only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/id.h"
#include "core/log.h"
#include "nc.h"

static bool
refuse(const char *what)
{
	kr_log_warnx("privsep: disk request refused: %s", what);
	kr_error("InvalidParameterValue", "disk request refused: %s", what);
	return false;
}

/* vdb..vdz, sdb..sdz: what volume.c's pick_target() makes. */
static bool
target_ok(const char *t, size_t size)
{
	return memchr(t, '\0', size) && strlen(t) == 3 && (t[0] == 'v' || t[0] == 's') &&
	    t[1] == 'd' && t[2] >= 'b' && t[2] <= 'z';
}

/* The instance, the volume and its remoteDev every volume request names. */
static bool
names_ok(const char *id, size_t id_size, const char *vol, size_t vol_size, const char *remote,
    size_t remote_size)
{
	if (!nc_priv_id_ok(id, id_size))
		return refuse("instance id");
	if (!memchr(vol, '\0', vol_size) || !kr_id_valid(vol, "vol"))
		return refuse("volume id");
	if (!memchr(remote, '\0', remote_size) || !nc_safe_text(remote, remote_size))
		return refuse("remoteDev");
	return true;
}

bool
nc_priv_disk_check(const struct nc_priv_disk *r)
{
	if (!names_ok(r->id, sizeof(r->id), r->vol, sizeof(r->vol), r->remote, sizeof(r->remote)))
		return false;
	if (!target_ok(r->target, sizeof(r->target)) ||
	    (r->bus != NC_BUS_VIRTIO && r->bus != NC_BUS_SCSI) ||
	    (r->bus == NC_BUS_VIRTIO) != (r->target[0] == 'v'))
		return refuse("target or bus");
	if (r->cache > NC_CACHE_WRITEBACK || r->io > NC_IO_THREADS || r->aoe_nbd > 1)
		return refuse("cache, io mode or a flag");
	return true;
}

/* The disk XML for r: its source worked out here; by target alone when
 * detaching a volume whose source is gone. */
/* karri-aoe's NBD socket in the instance directory: a socket, no symlink. */
static int
aoe_socket(const struct nc_priv_disk *r, struct nc_disk_spec *d, char *sock, size_t len)
{
	char name[NC_ID_MAX + 8], real[NC_PATH_MAX];
	struct stat st;

	memset(d, 0, sizeof(*d));
	if (nc_path(name, sizeof(name), "%s.nbd", r->vol) < 0 ||
	    nc_priv_instance_path(r->id, name, sock, len, real, sizeof(real)) < 0)
		return -1;
	if (lstat(sock, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		kr_log_warnx("privsep: refused %s: not karri-aoe's socket", sock);
		kr_error("InvalidParameterValue", "%s is not a socket", sock);
		return -1;
	}
	d->src = NC_SRC_NBD;
	d->path = sock;
	d->format = "raw";
	return 0;
}

static int
disk_xml(const struct nc_priv_disk *r, bool detach, struct kr_buf *xml)
{
	struct nc_disk_spec d;
	char sock[NC_PATH_MAX], exp[NC_NAME_MAX];
	const char *how;
	int rc = r->aoe_nbd ? aoe_socket(r, &d, sock, sizeof(sock)) :
	    nc_volume_source(r->remote, &d, sock, sizeof(sock), exp, sizeof(exp), &how);

	if (rc < 0) {
		if (!detach)
			return -1;
		kr_buf_addf(xml, "<disk type='file' device='disk'><target dev='%s'/></disk>",
		    r->target);
		return 0;
	}
	d.target = r->target;
	d.bus = (enum nc_bus)r->bus;
	d.cache = (enum nc_cachemode)r->cache;
	d.io = (enum nc_io)r->io;
	d.serial = r->vol;
	return nc_disk_xml(&d, xml);
}

static int
change(const struct nc_priv_disk *r, bool detach)
{
	struct kr_buf xml = KR_BUF_INIT;
	virConnectPtr c = NULL;
	virDomainPtr dom = NULL;
	int rc = -1;

	if (disk_xml(r, detach, &xml) < 0 || !(c = nc_conn()))
		goto cleanup;
	if (!(dom = virDomainLookupByName(c, r->id))) {
		nc_virt_error(r->id);
		goto cleanup;
	}
	if ((detach ? virDomainDetachDeviceFlags : virDomainAttachDeviceFlags)(dom,
	    kr_buf_str(&xml), VIR_DOMAIN_AFFECT_LIVE) < 0) {
		nc_virt_error(detach ? "detaching the volume" : "attaching the volume");
		goto cleanup;
	}
	rc = 0;
cleanup:
	kr_buf_free(&xml);
	if (dom)
		virDomainFree(dom);
	if (c)
		virConnectClose(c);
	return rc;
}

int
nc_priv_disk_attach_run(const struct nc_priv_disk *r)
{
	return change(r, false);
}

int
nc_priv_disk_detach_run(const struct nc_priv_disk *r)
{
	return change(r, true);
}

/* --- karri-aoe: the userspace AoE initiator, started by root ------------- */

bool
nc_priv_aoe_check(const struct nc_priv_aoe *r)
{
	if (!names_ok(r->id, sizeof(r->id), r->vol, sizeof(r->vol), r->remote, sizeof(r->remote)))
		return false;
	if (!nc_aoe_remote(r->remote))
		return refuse("not an aoe: remoteDev");
	if (r->helper < 0)
		return refuse("helper pid");
	return true;
}

/* The instance and volume as aoe_volume.c takes them, from the request. */
static int
aoe_pair(const struct nc_priv_aoe *r, struct nc_instance *in, struct nc_volume *v)
{
	memset(in, 0, sizeof(*in));
	memset(v, 0, sizeof(*v));
	memcpy(in->id, r->id, sizeof(in->id));
	memcpy(v->id, r->vol, sizeof(v->id));
	memcpy(v->remote, r->remote, sizeof(v->remote));
	v->helper = r->helper;
	v->helper_start = r->helper_start;
	return nc_path(in->dir, sizeof(in->dir), "%s/%s", nc_node.instances_dir, r->id);
}

int
nc_priv_aoe_start_run(struct nc_priv_aoe *r)
{
	struct nc_instance *in = calloc(1, sizeof(*in));
	struct nc_volume v;
	int rc = -1;

	if (!in) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	if (aoe_pair(r, in, &v) == 0 && nc_aoe_start(in, &v) == 0) {
		r->helper = v.helper;
		r->helper_start = v.helper_start;
		rc = 0;
	}
	free(in);
	return rc;
}

/* Is pid, started at `start`, a karri-aoe?  Only those the parent stops. */
static bool
is_helper(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	if (!(f = fopen(path, "re")))
		return true;		/* gone: nothing to stop, the socket still goes */
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strcmp(comm, "karri-aoe\n") == 0;
}

int
nc_priv_aoe_stop_run(const struct nc_priv_aoe *r)
{
	struct nc_instance *in = calloc(1, sizeof(*in));
	struct nc_volume v;
	int rc = -1;

	if (!in) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	if (r->helper > 0 && !is_helper(r->helper)) {
		kr_log_warnx("privsep: AOE_STOP refused: pid %ld is not a karri-aoe", (long)r->helper);
		kr_error("InvalidParameterValue", "pid %ld is not a karri-aoe", (long)r->helper);
	} else if (aoe_pair(r, in, &v) == 0) {
		nc_aoe_stop(in, &v);
		rc = 0;
	}
	free(in);
	return rc;
}
