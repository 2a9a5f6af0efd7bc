/*
 * vnet.c - the node's side of the cluster's virtual network.
 *
 * In SYSTEM, STATIC and MANAGED-NOVLAN modes instances join one existing
 * bridge (VNET_BRIDGE, or the bridge in the run request) and the NC only
 * checks it is there.  In MANAGED mode each security group has a network
 * number (its VLAN) and a layer-2 segment of its own: krv<vlan> on the
 * node's private interface (VNET_PRIVINTERFACE: the interface that carries
 * the node's address, a bridge's own name when the NIC is a bridge port)
 * inside bridge krbr<vlan>, made by common/vnet/vnet_bridge.c exactly as the CC
 * makes its end.  The launch of each instance with a VLAN in its net params
 * makes it (idempotent, cheap), so the CC sends only ncRunInstance: one
 * round trip per launch (ncStartNetwork, which makes it too, is still
 * answered for an admin or an older CC that asks first).
 *
 * The segment stays when the last instance of the group on this node goes:
 * tearing it down would race with the next launch of the same group (the
 * CC sends ncRunInstance without holding anything on the
 * node), and an idle bridge with one VXLAN/VLAN port costs nothing but the
 * multicast floods of its group.  A network number is only given to another
 * group after the CC's StopNetwork, which it refuses while any instance of
 * the group lives, so a bridge left behind never mixes two groups.
 */
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "nc.h"
#include "vnet/vnet_bridge.h"

int
nc_vnet_vlan_up(int vlan, char *bridge_out)
{
	const char *privif = kr_config_get(nc_node.cfg, "VNET_PRIVINTERFACE");

	if (kr_vnet_bridge_up(privif, vlan, bridge_out) < 0) {
		struct kr_err e;

		kr_error_save(&e);
		kr_error(e.code[0] ? e.code : "InternalError", "network %d (VNET_PRIVINTERFACE %s): %s",
		    vlan, privif ? privif : "-", e.message);
		return -1;
	}
	return 0;
}

int
nc_vnet_instance_bridge(int vlan, const char *given, char bridge[16])
{
	char want[KR_VNET_IFNAME];

	if (vlan < KR_VNET_VLAN_MIN) {
		snprintf(bridge, KR_VNET_IFNAME, "%s", given && *given ? given : nc_node.bridge);
		if (if_nametoindex(bridge) == 0) {
			kr_error("InvalidParameterValue", "bridge %s does not exist on this node",
			    bridge);
			return -1;
		}
		return 0;
	}
	if (vlan > KR_VNET_VLAN_MAX) {
		kr_error("InvalidParameterValue", "VLAN %d is not in %d..%d", vlan,
		    KR_VNET_VLAN_MIN, KR_VNET_VLAN_MAX);
		return -1;
	}
	/* MANAGED: the group's bridge, made (if need be) by the launch. */
	kr_vnet_bridge_names(vlan, NULL, want);
	if (given && *given && strcmp(given, want) != 0) {
		kr_error("InvalidParameterValue", "network %d is on bridge %s, not %.16s", vlan, want,
		    given);
		return -1;
	}
	memcpy(bridge, want, KR_VNET_IFNAME);
	return 0;
}
