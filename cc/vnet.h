/*
 * vnet.h - the cluster's virtual network (private to the CC).  The files,
 * bottom up: vnet_state.c (V, its lookups and cc.db rows), vnet_addr.c
 * (address arithmetic); the host's side, run only by the privileged parent
 * (priv.h): vnet_host.c (bridges, gateway and public addresses, sysctls),
 * dhcp.c, firewall_rules.c, vnet_conntrack.c; the child's: priv_client.c
 * (its requests), firewall.c, addresses.c, vnet.c (configuration,
 * start/stop, networks and leases) and ops_network.c (StartNetwork,
 * StopNetwork, DescribeNetworks).  None calls a file above it.
 *
 * Addressing (Eucalyptus' scheme): network number v of a MANAGED mode owns
 * VNET_ADDRSPERNET addresses starting at VNET_SUBNET + v * VNET_ADDRSPERNET;
 * its first address is the network, +1 the gateway (the CC), the last the
 * broadcast, and instances get +2 ...  In MANAGED, v is also the VLAN id.
 * Everything lives in V and cc.db; V.lock guards V and serializes every
 * change applied to the host (dnsmasq, iptables, ip), so what the host has
 * is always what V says, in one order.
 */
#ifndef KARRI_CC_VNET_H
#define KARRI_CC_VNET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cc.h"
#include "vnet/vnet_bridge.h"

enum vnet_mode { VNET_SYSTEM, VNET_STATIC, VNET_MANAGED_NOVLAN, VNET_MANAGED };

#define VNET_NETS_MAX 4096
#define VNET_PUBLIC_MAX 1024
#define VNET_RULES_MAX 4096
#define VNET_LEASES_MAX 65536

struct vnet_net {
	int vlan;
	char user[64];
	char name[64];
};

struct vnet_lease {
	char id[KR_ID_MAX];
	int vlan;
	int index;
	char mac[18];
	char ip[16];
};

struct vnet_public {
	char pub[16];
	char priv[16];		/* "" when free */
};

struct vnet_rule {
	char user[64];
	char name[64];		/* the group the rule opens */
	char protocol[8];	/* tcp, udp, icmp */
	int port_min, port_max;
	char source_net[20];	/* CIDR, or "" */
	char source_user[64];
	char source_name[64];	/* a group, or "" */
};

struct vnet_dhcp {
	char ifname[KR_VNET_IFNAME];
	pid_t pid;
	bool child;		/* ours to reap (else adopted after a restart) */
};

struct vnet {
	pthread_mutex_t lock;
	enum vnet_mode mode;
	const char *mode_name;
	uint32_t subnet, netmask;	/* host order */
	int apn;			/* addresses per network */
	int vlan_min, vlan_max;
	const char *privif, *pubif, *bridge, *dhcpd, *dhcpuser;
	char dns[16], cloudip[16], router[16], broadcast[16];
	int clc_port;
	const char *macprefix;
	char dir[600];			/* $KARRI_HOME/var/lib/karri-cc: the parent's */
	struct vnet_net *nets;
	int nnets;
	struct vnet_lease *leases;
	int nleases;
	struct vnet_public *pubs;
	int npubs;
	struct vnet_rule *rules;
	int nrules;
	char (*macmap)[2][18];		/* STATIC: MAC, IP */
	int nmacmap;
	struct vnet_dhcp *dhcp;		/* one per serving interface */
	int ndhcp;
	bool applied_chains[VNET_NETS_MAX + 1];
};

extern struct vnet V;

/* vnet_state.c */
bool vnet_managed(void);
struct vnet_net *vnet_net_find(int vlan);
struct vnet_net *vnet_net_by_name(const char *user, const char *name);
struct vnet_lease *vnet_lease_find(const char *id);
bool vnet_index_used(int vlan, int index);
/* One statement on cc.db: text parameters t1..t3 unless NULL, then i1, i2 unless -1. */
int vnet_db_exec(const char *sql, const char *t1, const char *t2, const char *t3, int i1, int i2);
int vnet_state_load(void);		/* networks, leases, rules from cc.db into V */

/* vnet_addr.c */
void vnet_ip_str(uint32_t ip, char out[16]);
int vnet_ip_parse(const char *s, uint32_t *ip);
int vnet_plen(void);				/* prefix length of one network */
uint32_t vnet_net_base(int vlan);

/* vnet_host.c (the privileged parent) */
int vnet_host_net_up(int vlan);		/* bridge (MANAGED) and gateway address */
void vnet_host_net_down(int vlan);
void vnet_host_forwarding_on(void);
int vnet_host_public(bool add, const char *pub);

/* vnet.c (V.lock held) */
int vnet_net_start(const char *user, const char *group, int vlan);	/* the vlan, or -1 */
int vnet_net_stop(struct vnet_net *n);

/* dhcp.c (the privileged parent, with V's networks and leases as the child sent them) */
int vnet_dhcp_sync(void);		/* hosts files written, dnsmasq started or told */
void vnet_dhcp_stop_all(void);
void vnet_dhcp_release(int vlan, const char *ip, const char *mac);	/* lease of a gone instance */

/* firewall.c (V.lock held): V's ruleset, applied by the parent in one batch */
int vnet_firewall_apply(void);
void vnet_firewall_remove(void);

/* addresses.c */
void vnet_public_pool(void);		/* VNET_PUBLICIPS into V.pubs (both processes) */
int vnet_public_load(void);		/* the child: mappings from cc.db; V.lock held */
void vnet_public_remove_all(void);	/* V.lock held */

/* vnet_conntrack.c (the parent): drop the tracked flows of a public address that moved. */
void vnet_conntrack_flush(const char *pub);

#endif
