/*
 * cc.h - the cluster controller's private header.
 *
 * One process-wide `struct cc` holds the node registry, each node's last
 * answer (resources and instances), the reservations of launches in flight
 * and the virtual network.  `cc.lock` guards all of it; it is only ever held
 * for memory work, never across a network call or a spawned command, so a
 * slow or dead node can never hold up an answer to the CLC.
 */
#ifndef KARRI_CC_H
#define KARRI_CC_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <time.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/id.h"

struct soap;

#define CC_NODES_MAX 4096
#define CC_HOST_MAX 256
#define CC_URL_MAX (CC_HOST_MAX + 32)
#define CC_NODE_INST_MAX 4096	/* instances we accept from one node's answer */
#define CC_RUN_MAX 256		/* instances per RunInstances */
#define CC_RESV_TTL_S 600	/* a reservation the node never confirmed expires */

enum cc_node_state { CC_NODE_UNKNOWN, CC_NODE_UP, CC_NODE_DOWN, CC_NODE_POWEREDOFF };

struct cc_res {
	int cores;
	int memory;		/* MiB */
	int disk;		/* GiB */
};

struct cc_vol {
	char id[KR_ID_MAX];
	char local[32];
	char state[16];
	char attachment[16];
};

#define CC_INST_VOLS 16

/* One instance as the CC last saw it (or launched it). */
struct cc_inst {
	char id[KR_ID_MAX];
	char reservation[KR_ID_MAX];
	char image[KR_ID_MAX];
	char kernel[KR_ID_MAX];
	char ramdisk[KR_ID_MAX];
	char user[64];
	char key[64];
	char type[32];
	struct cc_res need;
	char mac[18];
	char priv_ip[16];
	char pub_ip[16];
	int vlan;
	int net_index;
	char bridge[16];
	char group[64];
	char state[16];		/* Pending, Extant, Teardown */
	char reason[128];
	char launch_index[12];
	char disk_att[128];	/* the NC's disk_attachment, whole */
	char net_att[64];	/* the NC's net_attachment: "model=virtio storage=MAC" */
	long launched;
	int nvols;
	struct cc_vol *vols;	/* NULL when none (most instances): keeps this small */
};

/* A node's instances rendered as DescribeInstances elements (instance_xml.c). */
struct cc_xml {
	int refs;		/* under cc.lock */
	size_t len;
	char data[];
};

/* A launch in flight: capacity held on a node until its NC reports the instance. */
struct cc_resv {
	struct cc_inst inst;
	time_t at;
	bool confirmed;		/* the NC accepted it (else: still being launched) */
};

struct cc_node {
	char host[CC_HOST_MAX];
	int port;
	char url[CC_URL_MAX];
	bool configured;	/* from NODES (else registered at run time) */
	enum cc_node_state state;
	struct cc_res max, avail;	/* the NC's last answer */
	struct cc_inst *inst;
	int ninst;
	struct cc_xml *xml;	/* inst rendered, or NULL when it must be rendered afresh */
	struct cc_resv *resv;
	int nresv, resv_cap;
	time_t last_ok;
	time_t idle_since;	/* POWERSAVE: no instances since */
	time_t woken;
	time_t off_since;	/* POWERSAVE: when it was sent ncPowerDown */
	int fails;
	int fd;			/* kept-alive connection to the NC, -1: none */
	void *ssl;		/* its TLS state (SSL *), NULL for plain HTTP */
	bool polling;		/* a poll is in flight */
	bool removed;		/* deregistered: freed when the last user lets go */
	int refs;		/* pollers and operations using it outside cc.lock */
	bool busy;		/* someone borrowed the kept-alive connection */
	char hypervisor[16];
	char storage_mac[18];	/* the NC's storage NIC, for EBS's allow list; "" unknown */
};

struct cc {
	struct kr_config *cfg;
	sqlite3 *db;
	pthread_mutex_t lock;
	struct cc_node **nodes;
	int nnodes;
	unsigned rr_next;	/* ROUNDROBIN: where the next search starts */
	int nc_port;
	int poll_s;
	int poll_timeout_s;
	int call_timeout_s;
	long long cycle_ms;	/* the last complete polling cycle */
	long long cycle_started_ms;
	int cycle_pending;
	unsigned cycles_done;	/* complete polling cycles since start (DescribeResources) */
	pthread_mutex_t dblock;	/* one sqlite connection, serialized */
};

extern struct cc cc;		/* defined in state.c, the bottom file */

/* state.c: the small sqlite cache $KARRI_HOME/var/lib/karri/cc.db */
int cc_state_open(const char *path);
void cc_state_close(void);
int cc_state_node_save(const char *host, int port);
int cc_state_node_forget(const char *host, int port);
typedef void (*cc_state_node_fn)(const char *host, int port, void *arg);
int cc_state_nodes(cc_state_node_fn fn, void *arg);

/* node_registry.c (callers hold cc.lock unless noted) */
int cc_node_parse(const char *spec, int default_port, char host[CC_HOST_MAX], int *port);
struct cc_node *cc_node_find(const char *host, int port);
struct cc_node *cc_node_add(const char *host, int port, bool configured);
void cc_node_remove(struct cc_node *n);
void cc_node_hold(struct cc_node *n);
void cc_node_release(struct cc_node *n);	/* frees a removed node nobody holds */
int cc_registry_load(void);			/* NODES + cc.db; takes the lock */
const char *cc_node_state_name(enum cc_node_state s);
void cc_inst_list_free(struct cc_inst *v, int n);	/* NULL-safe */
/* Where instance id runs: its node (NULL if none) and, if wanted, a copy of it. */
struct cc_node *cc_instance_locate(const char *id, struct cc_inst *copy);

/* nc_client.c: calls to one NC on a borrowed kept-alive connection */
struct soap *cc_nc_soap_new(int timeout_s);
/* Borrow n's connection (held: n->refs); both take cc.lock themselves. */
bool cc_nc_begin(struct soap *soap, struct cc_node *n);
void cc_nc_end(struct soap *soap, struct cc_node *n, bool borrowed, bool ok);
/* A call's outcome is read with kr_soap_error_read() (common/soap/soap_error.h). */

/* instance_xml.c */
void cc_inst_xml(struct kr_buf *b, const struct cc_inst *in, const char *url,
    const char *node_state);
struct cc_xml *cc_xml_render(const struct cc_inst *inst, int n, const char *url);
void cc_xml_release(struct cc_xml *x);		/* under cc.lock */

/* poller.c */
int cc_poller_start(void);
void cc_poller_stop(void);
void cc_poller_kick(void);
long long cc_now_ms(void);

/* scheduler.c (callers hold cc.lock) */
int cc_sched_place(const struct cc_res *need, int min, int max, struct cc_node **out);
struct cc_res cc_node_free(const struct cc_node *n);
bool cc_res_fits(const struct cc_res *have, const struct cc_res *need);
struct cc_resv *cc_resv_add(struct cc_node *n, const struct cc_inst *in);
void cc_resv_drop(struct cc_node *n, const char *id);
void cc_resv_expire(struct cc_node *n, time_t now);
int cc_fits_count(const struct cc_res *have, const struct cc_res *need);

/* vnet.c: the virtual network, all modes */
int cc_vnet_configure(void);	/* karri.conf into V, as root before the fork (cc/priv.h) */
int cc_vnet_init(void);		/* the child: cc.db, then the host made to match */
void cc_vnet_shutdown(void);
int cc_vnet_assign(const char *instance_id, const char *user, const char *group, int vlan,
    int net_index, const char *mac_given, struct cc_inst *in);
void cc_vnet_release(const char *instance_id);
/* The elastic IPs in use as (public, private) pairs: how many, -1 without elastic IPs. */
int cc_vnet_public_map(char (*out)[2][16], int max);

#endif
