/*
 * vnet_bridge.c - the VLAN device and bridge of one MANAGED network, made
 * the same way on the cluster controller and on a node.
 *
 * A security group's network `vlan` is, on every host that carries it, a
 * VLAN device krv<vlan> on the private interface enslaved to a bridge
 * krbr<vlan> (a VXLAN device of VNI <vlan> where the kernel has no 802.1Q).
 * The CC gives the bridge the network's gateway address (cc/vnet.c); a node
 * only plugs instance taps into it (nc/ops_network.c, nc/launch.c).  One
 * piece of code builds both ends, so they always agree on names and ids.
 *
 * Everything is done with `ip` spawned with an argv (never a shell), and
 * every step is idempotent: a CC that restarts, or an NC asked twice (by
 * ncStartNetwork and again by the launch of each instance), finds the
 * devices there and leaves them alone.  Callers in one process are
 * serialized by a mutex; against another process (or a lost race) a failed
 * "add" counts as done when the device exists afterwards.
 */
#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/command.h"
#include "core/error.h"
#include "core/log.h"
#include "vnet/vnet_bridge.h"

static pthread_mutex_t bridge_lock = PTHREAD_MUTEX_INITIALIZER;

static int
run_ip(const char *const argv[])
{
	struct kr_command_opts o = { .timeout_ms = 10000 };

	return kr_command_run(argv, &o, NULL);
}

static bool
link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

void
kr_vnet_bridge_names(int vlan, char vdev[KR_VNET_IFNAME], char bridge[KR_VNET_IFNAME])
{
	if (vdev)
		snprintf(vdev, KR_VNET_IFNAME, "krv%d", vlan);
	if (bridge)
		snprintf(bridge, KR_VNET_IFNAME, "krbr%d", vlan);
}

static int
make_bridge(const char *br)
{
	/* No STP and no forwarding delay: a port forwards at once. */
	const char *argv[] = { "ip", "link", "add", br, "type", "bridge",
		"stp_state", "0", "forward_delay", "0", NULL };

	if (link_exists(br) || run_ip(argv) == 0 || link_exists(br))
		return 0;
	return -1;
}

static int
make_segment(const char *privif, int vlan, const char *vdev)
{
	char id[16];
	const char *vlan_argv[] = { "ip", "link", "add", "link", privif, "name", vdev,
		"type", "vlan", "id", id, NULL };
	const char *vxlan_argv[] = { "ip", "link", "add", vdev, "type", "vxlan", "id", id,
		"group", KR_VNET_VXLAN_GROUP, "dev", privif, "dstport", "4789", NULL };

	snprintf(id, sizeof(id), "%d", vlan);
	if (link_exists(vdev) || run_ip(vlan_argv) == 0 || link_exists(vdev))
		return 0;
	if (!strstr(kr_error_message(), "Unknown device type"))
		return -1;
	/*
	 * No 802.1Q in this kernel (no 8021q module, as on the test machines):
	 * carry the segment in VXLAN instead, VNI = VLAN id, flooded by
	 * multicast on the private interface.  Still one layer-2 segment per
	 * group on every host that carries it, and every host decides the same
	 * way, so the two encapsulations never meet.
	 */
	kr_log_warnx("%s: the kernel has no 802.1Q VLANs: network %d uses VXLAN VNI %d "
	    "(group %s) instead", privif, vlan, vlan, KR_VNET_VXLAN_GROUP);
	if (run_ip(vxlan_argv) == 0 || link_exists(vdev))
		return 0;
	return -1;
}

int
kr_vnet_bridge_up(const char *privif, int vlan, char bridge_out[KR_VNET_IFNAME])
{
	char vdev[KR_VNET_IFNAME], br[KR_VNET_IFNAME];
	const char *master[] = { "ip", "link", "set", vdev, "master", br, "up", NULL };
	const char *up[] = { "ip", "link", "set", br, "up", NULL };
	int rc = -1;

	if (vlan < KR_VNET_VLAN_MIN || vlan > KR_VNET_VLAN_MAX) {
		kr_error("InvalidParameterValue", "VLAN %d is not in %d..%d", vlan,
		    KR_VNET_VLAN_MIN, KR_VNET_VLAN_MAX);
		return -1;
	}
	if (!privif || !*privif || strlen(privif) >= IFNAMSIZ || !link_exists(privif)) {
		kr_error("InvalidParameterValue", "private interface '%.32s' does not exist",
		    privif ? privif : "");
		return -1;
	}
	kr_vnet_bridge_names(vlan, vdev, br);
	pthread_mutex_lock(&bridge_lock);
	if (make_bridge(br) == 0 && make_segment(privif, vlan, vdev) == 0 &&
	    run_ip(master) == 0 && run_ip(up) == 0)
		rc = 0;
	pthread_mutex_unlock(&bridge_lock);
	if (rc == 0 && bridge_out)
		memcpy(bridge_out, br, KR_VNET_IFNAME);
	return rc;
}

int
kr_vnet_bridge_down(int vlan)
{
	char vdev[KR_VNET_IFNAME], br[KR_VNET_IFNAME];
	int rc = 0;

	kr_vnet_bridge_names(vlan, vdev, br);
	pthread_mutex_lock(&bridge_lock);
	if (link_exists(vdev)) {
		const char *argv[] = { "ip", "link", "del", vdev, NULL };

		if (run_ip(argv) < 0 && link_exists(vdev))
			rc = -1;
	}
	if (link_exists(br)) {
		const char *argv[] = { "ip", "link", "del", br, NULL };

		if (run_ip(argv) < 0 && link_exists(br))
			rc = -1;
	}
	pthread_mutex_unlock(&bridge_lock);
	return rc;
}
