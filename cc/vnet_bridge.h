/*
 * vnet_bridge.h - VLAN device + bridge of a MANAGED network, shared by the
 * CC and (through ncStartNetwork) the NC.  See vnet_bridge.c.
 */
#ifndef KARRI_VNET_BRIDGE_H
#define KARRI_VNET_BRIDGE_H

#include <stdbool.h>

#define VNET_IFNAME 16		/* IFNAMSIZ */
#define VNET_VXLAN_GROUP "239.255.77.1"	/* where VXLAN segments flood, without 802.1Q */

/* "krv<vlan>" and "krbr<vlan>"; either pointer may be NULL. */
void vnet_bridge_names(int vlan, char vdev[VNET_IFNAME], char bridge[VNET_IFNAME]);

/* Make (or find) krv<vlan> on privif inside bridge krbr<vlan>, both up. 0/-1. */
int vnet_bridge_up(const char *privif, int vlan, char bridge_out[VNET_IFNAME]);

/* Remove both; absent devices are fine.  0/-1. */
int vnet_bridge_down(int vlan);

#endif
