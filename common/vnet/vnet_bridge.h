/*
 * vnet_bridge.h - the layer-2 segment of one MANAGED network (a security
 * group's VLAN and bridge), made the same way on the cluster controller and
 * on every node that hosts the group's instances.  See vnet_bridge.c.
 */
#ifndef KARRI_VNET_BRIDGE_H
#define KARRI_VNET_BRIDGE_H

#define KR_VNET_IFNAME 16	/* IFNAMSIZ */
#define KR_VNET_VXLAN_GROUP "239.255.77.1"	/* where VXLAN segments flood, without 802.1Q */
#define KR_VNET_VLAN_MIN 1
#define KR_VNET_VLAN_MAX 4094

/* "krv<vlan>" (the VLAN or VXLAN device) and "krbr<vlan>"; either may be NULL. */
void kr_vnet_bridge_names(int vlan, char vdev[KR_VNET_IFNAME], char bridge[KR_VNET_IFNAME]);

/*
 * Make (or find) krv<vlan> on privif, enslaved to bridge krbr<vlan>, both
 * up; the bridge's name in bridge_out (may be NULL).  Idempotent, and safe
 * to call from several threads (and processes) at once.  0, or -1 + kr_error.
 */
int kr_vnet_bridge_up(const char *privif, int vlan, char bridge_out[KR_VNET_IFNAME]);

/* Remove both; absent devices are fine.  0, or -1 + kr_error. */
int kr_vnet_bridge_down(int vlan);

#endif
