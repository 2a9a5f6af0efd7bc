/*
 * vnet_bridge.c - the VLAN device and bridge of one MANAGED network, made
 * the same way on the cluster controller and on a node.
 *
 * A security group's network `vlan` is, on every host that carries it, a
 * VLAN device krv<vlan> on the private interface enslaved to a bridge
 * krbr<vlan> (a VXLAN device of VNI <vlan> where the kernel has no 802.1Q).  The CC gives the bridge the network's gateway address; a
 * node only plugs instance taps into it.  This file is written so the NC
 * can link it for ncStartNetwork (the NC stand-in cc/ncsim.c does exactly
 * that), so both ends of a VLAN are built by one piece of code.
 *
 * Everything is done with `ip` spawned with an argv (never a shell), and
 * every step is idempotent: a CC that restarts, or an NC asked twice,
 * finds the devices there and leaves them alone.
 */
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "error.h"
#include "log.h"
#include "vnet_bridge.h"

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
vnet_bridge_names(int vlan, char vdev[VNET_IFNAME], char bridge[VNET_IFNAME])
{
	if (vdev)
		snprintf(vdev, VNET_IFNAME, "krv%d", vlan);
	if (bridge)
		snprintf(bridge, VNET_IFNAME, "krbr%d", vlan);
}

int
vnet_bridge_up(const char *privif, int vlan, char bridge_out[VNET_IFNAME])
{
	char vdev[VNET_IFNAME], br[VNET_IFNAME], id[16];

	if (vlan < 1 || vlan > 4094) {
		kr_error("InvalidParameterValue", "VLAN %d is not in 1..4094", vlan);
		return -1;
	}
	if (!privif || !*privif || strlen(privif) >= IFNAMSIZ || !link_exists(privif)) {
		kr_error("InvalidParameterValue", "private interface '%s' does not exist",
		    privif ? privif : "");
		return -1;
	}
	vnet_bridge_names(vlan, vdev, br);
	snprintf(id, sizeof(id), "%d", vlan);
	if (!link_exists(br)) {
		/* No STP and no forwarding delay: a port forwards at once. */
		const char *argv[] = { "ip", "link", "add", br, "type", "bridge",
			"stp_state", "0", "forward_delay", "0", NULL };

		if (run_ip(argv) < 0 && !link_exists(br))
			return -1;
	}
	if (!link_exists(vdev)) {
		const char *vlan_argv[] = { "ip", "link", "add", "link", privif, "name", vdev,
			"type", "vlan", "id", id, NULL };
		const char *vxlan_argv[] = { "ip", "link", "add", vdev, "type", "vxlan", "id", id,
			"group", VNET_VXLAN_GROUP, "dev", privif, "dstport", "4789", NULL };

		if (run_ip(vlan_argv) < 0 && !link_exists(vdev)) {
			if (!strstr(kr_error_message(), "Unknown device type"))
				return -1;
			/*
			 * No 802.1Q in this kernel (no 8021q module, as on the test
			 * machines): carry the segment in VXLAN instead, VNI = VLAN id,
			 * flooded by multicast on the private interface.  Still one
			 * layer-2 segment per group on every host that carries it.
			 */
			kr_log_warnx("%s: the kernel has no 802.1Q VLANs: network %d uses VXLAN "
			    "VNI %d (group %s) instead", privif, vlan, vlan, VNET_VXLAN_GROUP);
			if (run_ip(vxlan_argv) < 0 && !link_exists(vdev))
				return -1;
		}
	}
	{
		const char *master[] = { "ip", "link", "set", vdev, "master", br, "up", NULL };
		const char *up[] = { "ip", "link", "set", br, "up", NULL };

		if (run_ip(master) < 0 || run_ip(up) < 0)
			return -1;
	}
	if (bridge_out)
		memcpy(bridge_out, br, VNET_IFNAME);
	return 0;
}

int
vnet_bridge_down(int vlan)
{
	char vdev[VNET_IFNAME], br[VNET_IFNAME];
	int rc = 0;

	vnet_bridge_names(vlan, vdev, br);
	if (link_exists(vdev)) {
		const char *argv[] = { "ip", "link", "del", vdev, NULL };

		rc |= run_ip(argv);
	}
	if (link_exists(br)) {
		const char *argv[] = { "ip", "link", "del", br, NULL };

		rc |= run_ip(argv);
	}
	return rc ? -1 : 0;
}
