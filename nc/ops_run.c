/*
 * ops_run.c - ncRunInstance: check the request, make the attachment
 * choice, answer at once, launch in the background (launch.c).
 *
 * Everything in the request came over the network: ids, URLs, digests,
 * MAC, bridge name and kernel words are checked here, before anything is
 * stored or handed to libvirt.
 */
#include <ctype.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "karriH.h"
#include "core/error.h"
#include "core/id.h"
#include "core/log.h"
#include "nc.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

static int
bad(const char *what)
{
	kr_error("InvalidParameterValue", "%s", what);
	return -1;
}

static bool
digest_ok(const char *d)
{
	if (!d || !*d)
		return true;
	if (strlen(d) != 64)
		return false;
	for (const char *p = d; *p; p++)
		if (!isxdigit((unsigned char)*p))
			return false;
	return true;
}

static bool
mac_ok(const char *m)
{
	if (strlen(m) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char)m[i]))
			return false;
	return true;
}

bool
nc_ifname_ok(const char *n)
{
	size_t l = strlen(n);

	if (l == 0 || l >= IFNAMSIZ)
		return false;
	for (const char *p = n; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
			return false;
	return true;
}

static void
copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* An optional image (kernel, ramdisk): both id and URL, or neither. */
static int
check_image(const char *what, const char *id, const char *url, const char *digest)
{
	char msg[128];

	if ((!id || !*id) && (!url || !*url))
		return 0;
	if (!id || !kr_id_valid(id, NULL) || !nc_url_valid(url) || !digest_ok(digest)) {
		snprintf(msg, sizeof(msg), "%s: id, http(s) URL or sha256 digest malformed", what);
		return bad(msg);
	}
	return 0;
}

static int
from_request(const struct _nc__ncRunInstance *r, struct nc_instance *in)
{
	const struct kr__virtualMachineType *t = r->instanceType;
	const struct kr__netConfigType *n = r->netParams;

	memset(in, 0, sizeof(*in));
	if (!r->instanceId || !kr_id_valid(r->instanceId, "i"))
		return bad("instanceId missing or malformed");
	if (!r->imageId || !r->imageURL || check_image("image", r->imageId, r->imageURL,
	    r->imageDigest) < 0)
		return bad("imageId/imageURL missing or malformed");
	if (check_image("kernel", r->kernelId, r->kernelURL, r->kernelDigest) < 0 ||
	    check_image("ramdisk", r->ramdiskId, r->ramdiskURL, r->ramdiskDigest) < 0)
		return -1;
	if (r->ramdiskId && *r->ramdiskId && !(r->kernelId && *r->kernelId))
		return bad("a ramdisk needs a kernel");
	if (!t || t->memory < 16 || t->memory > 1024 * 1024 || t->cores < 1 || t->cores > 256 ||
	    t->disk < 0 || t->disk > 64 * 1024 || !nc_safe_text(t->name, NC_NAME_MAX) ||
	    !nc_safe_text(t->ioClass, 16))
		return bad("instanceType missing or out of range");
	if (!nc_safe_text(r->kernelParams, NC_PARAMS_MAX) || !nc_safe_text(r->platform, 16) ||
	    !nc_safe_text(r->reservationId, NC_ID_MAX) || !nc_safe_text(r->userId, NC_NAME_MAX) ||
	    !nc_safe_text(r->launchIndex, 16))
		return bad("kernelParams, platform, reservationId, userId or launchIndex malformed");
	if (n && ((n->privateMacAddress && *n->privateMacAddress && !mac_ok(n->privateMacAddress)) ||
	    !nc_safe_text(n->privateIp, 16) || !nc_safe_text(n->publicIp, 16) ||
	    (n->bridge && *n->bridge && !nc_ifname_ok(n->bridge))))
		return bad("netParams malformed");

	copy(in->id, sizeof(in->id), r->instanceId);
	copy(in->reservation, sizeof(in->reservation), r->reservationId);
	copy(in->user, sizeof(in->user), r->userId);
	copy(in->image_id, sizeof(in->image_id), r->imageId);
	copy(in->image_url, sizeof(in->image_url), r->imageURL);
	copy(in->image_digest, sizeof(in->image_digest), r->imageDigest);
	copy(in->kernel_id, sizeof(in->kernel_id), r->kernelId);
	copy(in->kernel_url, sizeof(in->kernel_url), r->kernelURL);
	copy(in->kernel_digest, sizeof(in->kernel_digest), r->kernelDigest);
	copy(in->ramdisk_id, sizeof(in->ramdisk_id), r->ramdiskId);
	copy(in->ramdisk_url, sizeof(in->ramdisk_url), r->ramdiskURL);
	copy(in->ramdisk_digest, sizeof(in->ramdisk_digest), r->ramdiskDigest);
	copy(in->kernel_params, sizeof(in->kernel_params), r->kernelParams);
	copy(in->launch_index, sizeof(in->launch_index), r->launchIndex);
	copy(in->platform, sizeof(in->platform), r->platform);
	in->image_has_virtio = r->imageHasVirtio ? *r->imageHasVirtio == true_ : -1;
	copy(in->type_name, sizeof(in->type_name), t->name);
	in->memory_mib = t->memory;
	in->cores = t->cores;
	in->disk_gib = t->disk;
	copy(in->io_class, sizeof(in->io_class), t->ioClass ? t->ioClass : "standard");
	in->vlan = -1;
	if (n) {
		copy(in->mac, sizeof(in->mac), n->privateMacAddress);
		copy(in->ip, sizeof(in->ip), n->privateIp);
		copy(in->public_ip, sizeof(in->public_ip), n->publicIp);
		copy(in->bridge, sizeof(in->bridge), n->bridge);
		in->vlan = n->vlan;
		in->network_index = n->networkIndex;
	}
	if (!in->mac[0] && kr_id_mac_from_instance(in->id, NULL, in->mac) < 0)
		memset(in->mac, 0, sizeof(in->mac));	/* libvirt picks one */
	if (nc_vnet_instance_bridge(in->vlan, n ? n->bridge : NULL, in->bridge) < 0 ||
	    nc_instance_set_user_fields(in, r->keyName, r->userData) < 0)
		return -1;
	/* the tap: "kr" + the id's last 8 hex digits (fits IFNAMSIZ) */
	snprintf(in->tap, sizeof(in->tap), "kr%s", in->id + strlen(in->id) - 8);
	return 0;
}

static int
choose(const struct nc_attach_input *ai, struct nc_instance *in)
{
	/* the storage NIC's MAC: d2:0d (locally administered) + the id's hex */
	if (nc_attach_decide(ai, &in->attach) < 0 || (in->attach.guest_aoe &&
	    kr_id_mac_from_instance(in->id, "d2:0d", in->attach.storage_mac) < 0))
		return -1;
	return 0;
}

/*
 * The attachment choice, with a spare device reserved when one is free and
 * a raw clone taken when the choice wants one (the pool's own lock: two
 * launches never get the same clone, and none waits for one being made).
 */
static int
decide(struct nc_instance *in)
{
	struct nc_attach_input ai = {
		.container = nc_node.hv->container,
		.image_has_virtio = in->image_has_virtio,
		.platform = in->platform,
		.io_class = in->io_class,
		.use_virtio_root = kr_config_bool(nc_node.cfg, "USE_VIRTIO_ROOT"),
		.use_virtio_net = kr_config_bool(nc_node.cfg, "USE_VIRTIO_NET"),
		.disk_attach = kr_config_get(nc_node.cfg, "NC_DISK_ATTACH"),
		.loop_ok = nc_node.loop_ok,
		.direct_io_ok = nc_node.direct_io_ok,
		.guest_aoe = kr_config_get(nc_node.cfg, "NC_GUEST_AOE"),
		.storage_nic_ok = nc_storage_mtu() > 0,
		.reflink_ok = nc_node.reflink_ok,
		.clone_ready = nc_raw_clone_ready(nc_node.clones, in->image_id, in->image_digest),
	};
	char dev[NC_PATH_MAX] = "";
	int rc;

	if (!ai.container && strcasecmp(ai.disk_attach, "tap") != 0 &&
	    nc_phy_claim(dev, sizeof(dev)) == 0)
		ai.phy_free = 1;
	in->clone[0] = '\0';
	rc = choose(&ai, in);
	if (rc == 0 && in->attach.root_from == NC_ROOT_CLONE && nc_raw_clone_take(nc_node.clones,
	    in->image_id, in->image_digest, in->clone, sizeof(in->clone)) != 0) {
		/* taken or evicted since we asked: decide again without it */
		in->clone[0] = '\0';
		ai.clone_ready = false;
		rc = choose(&ai, in);
	}
	if (rc < 0) {
		if (*dev)
			nc_phy_release(dev);
		return -1;
	}
	if (in->attach.store == NC_STORE_DEVICE)
		copy(in->root_dev, sizeof(in->root_dev), dev);
	else if (*dev)
		nc_phy_release(dev);
	in->attach_decided = 1;
	nc_attach_disk_string(&in->attach, in->disk_attachment, sizeof(in->disk_attachment));
	nc_attach_net_string(&in->attach, in->net_attachment, sizeof(in->net_attachment));
	kr_log_info("%s: disk %s, net %s: %s", in->id, in->disk_attachment, in->net_attachment,
	    in->attach.why);
	return 0;
}

int
__nc__ncRunInstance(struct soap *soap, struct _nc__ncRunInstance *req,
    struct _nc__ncRunInstanceResponse *resp)
{
	struct nc_instance in, *t;
	long mem_free, cores_free;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	if (!nc_node_ready() || from_request(req, &in) < 0)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	nc_resources_free(&mem_free, &cores_free);
	if (in.memory_mib > mem_free || in.cores > cores_free) {
		kr_error("InsufficientInstanceCapacity", "%d MiB / %d cores asked, %ld / %ld free",
		    in.memory_mib, in.cores, mem_free, cores_free);
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	nc_table_lock();
	if (nc_table_find(in.id)) {
		nc_table_unlock();
		kr_error("InvalidInstanceID.Duplicate", "instance %s exists on this node", in.id);
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	if (decide(&in) < 0 ||
	    nc_path(in.dir, sizeof(in.dir), "%s/%s", nc_node.instances_dir, in.id) < 0) {
		nc_raw_clone_discard(in.clone);
		nc_table_unlock();
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	if (mkdir(in.dir, 0700) < 0) {
		kr_error_errno("InternalError", "cannot create %s", in.dir);
		if (in.attach.store == NC_STORE_DEVICE)
			nc_phy_release(in.root_dev);
		nc_raw_clone_discard(in.clone);
		nc_table_unlock();
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	in.launch_time = time(NULL);
	in.state = NC_ST_STAGING;
	if (!(t = nc_table_add(&in)) || nc_instance_save(t) < 0 || nc_launch_start(t) < 0) {
		if (t)
			nc_table_remove(t);
		if (in.attach.store == NC_STORE_DEVICE)
			nc_phy_release(in.root_dev);
		nc_raw_clone_discard(in.clone);
		rmdir(in.dir);
		nc_table_unlock();
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	kr_log_info("%s: Pending (STAGING): image %s, type %s (%d MiB, %d cores, %d GiB, %s)",
	    t->id, t->image_id, t->type_name, t->memory_mib, t->cores, t->disk_gib, t->io_class);
	resp->instance = soap_malloc(soap, sizeof(*resp->instance));
	if (resp->instance)
		nc_soap_instance(soap, t, resp->instance);
	nc_table_unlock();
	resp->_return = true_;
	return SOAP_OK;
}
