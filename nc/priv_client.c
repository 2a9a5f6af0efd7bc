/*
 * priv_client.c - the NC's privileged acts as typed calls.
 *
 * With NC_PRIVSEP=Y (main.c forked a root parent) each call becomes one
 * request over the privsep pair and the parent's answer, its kr_error
 * included, comes back as this call's result.  With NC_PRIVSEP=N the NC is
 * one process and runs the act itself, through the same checks
 * (priv_parent.c, priv_domain.c), so there is one code path to test.
 */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "nc.h"
#include "vnet/vnet_bridge.h"

static struct kr_privsep_client client;
static bool separated;
static bool parent_loops;	/* the parent can make loop devices */

void
nc_priv_client_init(int fd, bool loops)
{
	kr_privsep_client_init(&client, fd);
	separated = true;
	parent_loops = loops;
}

bool
nc_priv_loop_available(void)
{
	return separated ? parent_loops : nc_loop_available();
}

bool
nc_priv_separated(void)
{
	return separated;
}

static int
call(enum nc_priv_type type, const void *req, size_t len, void *reply, size_t reply_max)
{
	return kr_privsep_call(&client, type, req, len, reply, reply_max, NULL);
}

/* A request for instance id (bounded, so the parent's check sees it whole). */
static int
id_request(const char *id, struct nc_priv_id *r)
{
	memset(r, 0, sizeof(*r));
	if (!id || strlen(id) >= sizeof(r->id) || !nc_priv_id_ok(id, sizeof(r->id))) {
		kr_error("InvalidInstanceID.Malformed", "instance id %s", id ? id : "(none)");
		return -1;
	}
	memcpy(r->id, id, strlen(id));
	return 0;
}

int
nc_priv_domain_create(const struct nc_priv_domain *r)
{
	/* checked here too: a request the parent refuses ends both processes */
	if (!nc_priv_domain_check(r))
		return -1;
	if (separated)
		return call(NC_PRIV_DOMAIN_CREATE, r, sizeof(*r), NULL, 0);
	return nc_priv_domain_run(r);
}

int
nc_priv_domain_destroy(const char *id)
{
	struct nc_priv_id r;

	if (id_request(id, &r) < 0)
		return -1;
	if (separated)
		return call(NC_PRIV_DOMAIN_DESTROY, &r, sizeof(r), NULL, 0);
	return nc_priv_domain_destroy_run(r.id);
}

int
nc_priv_domain_reboot(const char *id)
{
	struct nc_priv_id r;

	if (id_request(id, &r) < 0)
		return -1;
	if (separated)
		return call(NC_PRIV_DOMAIN_REBOOT, &r, sizeof(r), NULL, 0);
	return nc_priv_domain_reboot_run(r.id);
}

int
nc_priv_loop_attach(const char *id, char *dev, size_t len)
{
	struct nc_priv_id r;
	struct nc_priv_loop out;

	if (id_request(id, &r) < 0)
		return -1;
	if (!separated)
		return nc_priv_loop_attach_run(r.id, dev, len);
	if (call(NC_PRIV_LOOP_ATTACH, &r, sizeof(r), &out, sizeof(out)) < 0)
		return -1;
	out.dev[sizeof(out.dev) - 1] = '\0';
	return nc_path(dev, len, "%s", out.dev);
}

int
nc_priv_loop_detach(const char *id, const char *dev)
{
	struct nc_priv_loop r;

	memset(&r, 0, sizeof(r));
	/* what the parent would take for a broken child: refused here */
	if (!id || !nc_priv_id_ok(id, strlen(id) + 1) || strlen(id) >= sizeof(r.id) ||
	    !nc_priv_loop_name_ok(dev, strlen(dev) + 1) || strlen(dev) >= sizeof(r.dev)) {
		kr_error("InvalidParameterValue", "loop device %s of %s", dev, id ? id : "(none)");
		return -1;
	}
	memcpy(r.id, id, strlen(id));
	memcpy(r.dev, dev, strlen(dev));
	if (separated)
		return call(NC_PRIV_LOOP_DETACH, &r, sizeof(r), NULL, 0);
	return nc_priv_loop_detach_run(r.id, r.dev);
}

int
nc_priv_vlan_up(int vlan, char *bridge_out)
{
	struct nc_priv_vlan r = { .vlan = vlan };
	char br[KR_VNET_IFNAME];

	if (vlan < KR_VNET_VLAN_MIN || vlan > KR_VNET_VLAN_MAX) {
		kr_error("InvalidParameterValue", "network %d is not in %d..%d", vlan,
		    KR_VNET_VLAN_MIN, KR_VNET_VLAN_MAX);
		return -1;
	}
	if (!separated)
		return nc_vnet_vlan_up(vlan, bridge_out);
	if (call(NC_PRIV_VLAN_UP, &r, sizeof(r), br, sizeof(br)) < 0)
		return -1;
	br[sizeof(br) - 1] = '\0';
	if (bridge_out)
		memcpy(bridge_out, br, sizeof(br));
	return 0;
}

int
nc_priv_kvm_probe(void)
{
	if (separated)
		return call(NC_PRIV_KVM_PROBE, NULL, 0, NULL, 0);
	return nc_kvm_probe_run();
}

int
nc_priv_disk_attach(const struct nc_priv_disk *r)
{
	if (!nc_priv_disk_check(r))
		return -1;
	if (separated)
		return call(NC_PRIV_DISK_ATTACH, r, sizeof(*r), NULL, 0);
	return nc_priv_disk_attach_run(r);
}

int
nc_priv_disk_detach(const struct nc_priv_disk *r)
{
	if (!nc_priv_disk_check(r))
		return -1;
	if (separated)
		return call(NC_PRIV_DISK_DETACH, r, sizeof(*r), NULL, 0);
	return nc_priv_disk_detach_run(r);
}

static int
device_call(enum nc_priv_type type, const char *id, const char *dev)
{
	struct nc_priv_device r;

	memset(&r, 0, sizeof(r));
	if (!id || strlen(id) >= sizeof(r.id) || strlen(dev) >= sizeof(r.dev)) {
		kr_error("InvalidParameterValue", "device %s", dev);
		return -1;
	}
	memcpy(r.id, id, strlen(id));
	memcpy(r.dev, dev, strlen(dev));
	if (!nc_priv_device_check(&r))
		return -1;
	if (separated)
		return call(type, &r, sizeof(r), NULL, 0);
	return type == NC_PRIV_DEVICE_FILL ? nc_priv_device_fill_run(&r) :
	    nc_priv_device_wipe_run(&r);
}

int
nc_priv_device_fill(const char *id, const char *dev)
{
	return device_call(NC_PRIV_DEVICE_FILL, id, dev);
}

int
nc_priv_device_wipe(const char *id, const char *dev)
{
	return device_call(NC_PRIV_DEVICE_WIPE, id, dev);
}

int
nc_priv_console_follow(const char *id)
{
	struct nc_priv_id r;

	if (id_request(id, &r) < 0)
		return -1;
	if (separated)
		return call(NC_PRIV_CONSOLE_FOLLOW, &r, sizeof(r), NULL, 0);
	return nc_console_follow(r.id);
}

void
nc_priv_console_unfollow(const char *id)
{
	struct nc_priv_id r;

	if (id_request(id, &r) < 0)
		return;
	if (!separated)
		nc_console_unfollow(r.id);
	else if (call(NC_PRIV_CONSOLE_UNFOLLOW, &r, sizeof(r), NULL, 0) < 0)
		kr_log_warnx("%s: %s", id, kr_error_message());
}

static int
aoe_request(const struct nc_instance *in, const struct nc_volume *v, struct nc_priv_aoe *r)
{
	memset(r, 0, sizeof(*r));
	if ((size_t)snprintf(r->id, sizeof(r->id), "%s", in->id) >= sizeof(r->id) ||
	    (size_t)snprintf(r->vol, sizeof(r->vol), "%s", v->id) >= sizeof(r->vol) ||
	    (size_t)snprintf(r->remote, sizeof(r->remote), "%s", v->remote) >= sizeof(r->remote)) {
		kr_error("InvalidParameterValue", "%s: a field too long for an AoE request", v->id);
		return -1;
	}
	r->helper = (int32_t)v->helper;
	r->helper_start = v->helper_start;
	return nc_priv_aoe_check(r) ? 0 : -1;
}

int
nc_priv_aoe_start(const struct nc_instance *in, struct nc_volume *v)
{
	struct nc_priv_aoe r, out;

	if (!separated)
		return nc_aoe_start(in, v);
	if (aoe_request(in, v, &r) < 0 || call(NC_PRIV_AOE_START, &r, sizeof(r), &out,
	    sizeof(out)) < 0)
		return -1;
	v->helper = out.helper;
	v->helper_start = out.helper_start;
	kr_log_info("%s: %s served by karri-aoe pid %ld (started by the parent)", in->id, v->id,
	    (long)v->helper);
	return 0;
}

void
nc_priv_aoe_stop(const struct nc_instance *in, struct nc_volume *v)
{
	struct kr_err saved;
	struct nc_priv_aoe r;

	if (!separated) {
		nc_aoe_stop(in, v);
		return;
	}
	/* called on failure paths too: keep the error being reported */
	kr_error_save(&saved);
	if (aoe_request(in, v, &r) < 0 || call(NC_PRIV_AOE_STOP, &r, sizeof(r), NULL, 0) < 0)
		kr_log_warnx("%s: %s: %s", in->id, v->id, kr_error_message());
	v->helper = 0;
	v->helper_start = 0;
	kr_error_restore(&saved);
}
