/*
 * priv.h - karri-cc split the OpenBSD way: what the unprivileged child may
 * ask of its root parent, and the wire form of each request.
 *
 * The child (EUCA_USER, no capabilities) parses the network -- SOAP, TLS,
 * the nodes' answers -- and keeps the cluster's state in V and cc.db.  The
 * parent keeps root with only the capabilities of cc/priv_parent.c and
 * changes the host when asked: bridges and gateway addresses, the forwarding
 * sysctls, Karri's iptables chains, public addresses on VNET_PUBINTERFACE,
 * conntrack, and its own dnsmasqs.  Every payload is a fixed struct of
 * numbers (addresses in host order, VLANs, enums, MAC bytes), never text the
 * parent would pass on; the parent checks each against the ranges it read
 * from karri.conf itself, before the fork.  A request off those ranges is a
 * child that no longer runs our code: the parent logs it and both stop
 * (common/daemon/privsep.h).
 *
 * priv_parent.c serves these; priv_client.c is the child's typed side.
 */
#ifndef KARRI_CC_PRIV_H
#define KARRI_CC_PRIV_H

#include <stdint.h>
#include <sys/types.h>

#include "daemon/privsep.h"

#include "vnet.h"

enum cc_priv_op {
	CC_PRIV_NET_UP = 1,		/* cc_priv_net: bridge (MANAGED) + gateway address */
	CC_PRIV_NET_DOWN,		/* cc_priv_net */
	CC_PRIV_FORWARDING_ON,		/* nothing: ip_forward on, no ICMP redirects */
	CC_PRIV_FIREWALL_SET,		/* cc_priv_firewall: Karri's chains, one batch */
	CC_PRIV_FIREWALL_REMOVE,	/* nothing: Karri's chains and jumps go */
	CC_PRIV_ADDRESS_ASSIGN,		/* cc_priv_address: pub/32 on VNET_PUBINTERFACE */
	CC_PRIV_ADDRESS_UNASSIGN,	/* cc_priv_address */
	CC_PRIV_CONNTRACK_FLUSH,	/* cc_priv_address: flows of a moved elastic IP */
	CC_PRIV_DHCP_BEGIN,		/* cc_priv_dhcp_nets: a new picture starts */
	CC_PRIV_DHCP_LEASES,		/* cc_priv_dhcp_leases: more of it */
	CC_PRIV_DHCP_COMMIT,		/* nothing: hosts files written, dnsmasqs told */
	CC_PRIV_DHCP_RELEASE,		/* cc_priv_dhcp_release: dhcp_release(1) */
	CC_PRIV_DHCP_STOP,		/* nothing: every dnsmasq stopped */
};

struct cc_priv_net {
	int32_t vlan;			/* a network number within the VNET_SUBNET range */
};

struct cc_priv_address {
	uint32_t pub;			/* in VNET_PUBLICIPS */
};

enum cc_priv_proto { CC_PRIV_TCP = 1, CC_PRIV_UDP, CC_PRIV_ICMP };

/* One opening of a group's network, its source group already resolved to a CIDR. */
struct cc_priv_rule {
	uint16_t vlan;			/* the group's network; one of nets[] */
	uint8_t proto;			/* enum cc_priv_proto */
	uint8_t src_plen;		/* 0..32 */
	uint32_t src;			/* the source network, host bits zero */
	int32_t port_min, port_max;	/* tcp/udp 0..65535; icmp type/code -1..255 */
};

struct cc_priv_nat {
	uint32_t pub;			/* in VNET_PUBLICIPS */
	uint32_t priv;			/* in VNET_SUBNET */
};

/* The whole ruleset (firewall_rules.c turns it into iptables-restore input). */
struct cc_priv_firewall {
	uint32_t nnets, nrules, nnat;
	uint16_t nets[VNET_NETS_MAX];
	struct cc_priv_rule rules[VNET_RULES_MAX];
	struct cc_priv_nat nat[VNET_PUBLIC_MAX];
};

struct cc_priv_dhcp_nets {
	uint32_t nnets;
	uint16_t nets[VNET_NETS_MAX];
};

#define CC_PRIV_LEASES_CHUNK 4096

struct cc_priv_lease {
	uint16_t vlan;
	uint8_t mac[6];
	uint32_t ip;			/* within its network, past network and gateway */
};

struct cc_priv_dhcp_leases {
	uint32_t n;
	struct cc_priv_lease l[CC_PRIV_LEASES_CHUNK];
};

struct cc_priv_dhcp_release {
	struct cc_priv_lease lease;
};

/* priv_parent.c: the parent's table (used by priv_fork.c, and by its test) */
extern const struct kr_privsep_op cc_priv_ops[];

/*
 * priv_fork.c, as root once the config is read and V configured, before
 * any thread: cc_priv_fork() returns 0 in the child (the channel open, root
 * not given up yet), the child's pid in the parent, -1 with kr_error set.
 * The parent then calls cc_priv_parent_run(), which serves until the child
 * is gone and exits as it did; the child, once it has become EUCA_USER,
 * calls cc_priv_child_ready().
 */
struct kr_daemon;
pid_t cc_priv_fork(void);
_Noreturn void cc_priv_parent_run(struct kr_daemon *d);
void cc_priv_child_ready(void);

/* priv_client.c: the child's side; each returns 0, or -1 with kr_error set */
void cc_priv_client_init(int fd);
int cc_priv_net(int op, int vlan);
int cc_priv_simple(int op);		/* FORWARDING_ON, FIREWALL_REMOVE, DHCP_STOP */
int cc_priv_address(int op, const char *pub);
int cc_priv_firewall_set(const struct cc_priv_firewall *fw);
int cc_priv_dhcp_sync(void);		/* V's networks and leases, whole */
int cc_priv_dhcp_release(int vlan, const char *ip, const char *mac);

/* firewall_rules.c (the parent) */
int cc_fw_apply(const struct cc_priv_firewall *fw);
void cc_fw_remove(void);

#endif
