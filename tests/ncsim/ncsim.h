/*
 * ncsim.h - karri-ncsim: a stand-in for many node controllers in one process.
 *
 * It answers the NC contract (wsdl/karri-nc.h) from memory, so the cluster
 * controller can be tested before the real NC exists and measured with a
 * thousand nodes on one machine (bench/ccscale).  It is a test tool: built
 * by `make`, never installed, found by tests/integration/harness/cc.py.
 *
 * One listening socket on 0.0.0.0:PORT serves every simulated node; which
 * node a connection talks to is the local address the client connected to:
 * node k answers on FIRST_IP + k (127.1.0.1, 127.1.0.2, ... on loopback, all
 * of 127/8 being local on Linux).  With --nodes 1 every address is node 0,
 * which is how a test runs one ncsim per node namespace.  So the CC sees
 * ordinary "host:port" nodes and needs no knowledge of the simulation.
 *
 * Knobs: capacity per node, a latency added to every call, instances
 * created at start, and a real network side (--privif: ncStartNetwork and
 * ncRunInstance make the VLAN + bridge with common/vnet/vnet_bridge.c, as the NC
 * does).  Each call that changes a node is logged (one line; polls are not).
 * --guest-aoe io|always answers as an NC with NC_GUEST_AOE does: such an
 * instance reports a storage NIC ("model=virtio storage=d2:0d:<id hex>")
 * and its volumes the path "guest".
 * ncPowerDown "switches the node off": its connections are refused until
 * SIGUSR1 ("wake-on-LAN" by hand).  SIGSTOP makes every node hang.
 *
 * The files, bottom up:
 *   state.c  the simulated nodes and their instances (all state, one lock)
 *   ops.c    the NC contract's operations, answered from that state
 *   serve.c  the connections: epoll hands a readable one to a worker
 *   main.c   options, the listening socket and the epoll loop
 */
#ifndef KARRI_NCSIM_H
#define KARRI_NCSIM_H

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include "karriH.h"
#include "core/id.h"
#include "tls/tls.h"

#define QUEUE_MAX 8192
#define INST_MAX 4096		/* per node: a bound on what a client can make us hold */
#define VOL_MAX 16

struct sim_vol {
	char id[KR_ID_MAX];
	char local[32];
	char attachment[16];
};

struct sim_inst {
	char id[KR_ID_MAX];
	char reservation[KR_ID_MAX];
	char image[KR_ID_MAX];
	char user[64];
	char type[32];
	int cores, memory, disk;
	char mac[18];
	char ip[16];
	char pub[16];
	int vlan;
	int net_index;
	char bridge[16];
	char group[64];
	long launched;
	int nvols;
	struct sim_vol vols[VOL_MAX];
	char net_att[48];	/* netAttachment, as the NC's policy words */
};

struct sim_node {
	int index;
	bool off;			/* powered down by ncPowerDown */
	int ninst;
	struct sim_inst *inst;		/* INST_MAX slots, allocated on first use */
};

/* The whole simulation. */
struct ncsim {
	int nodes;
	in_addr_t first;		/* host order */
	int port;
	int cores, memory, disk;
	int latency_ms;
	int workers;
	const char *privif;		/* real VLAN/bridge on ncStartNetwork */
	const char *guest_aoe;		/* NULL, "io" or "always" (NC_GUEST_AOE) */
	const struct kr_tls_files *tls_files;	/* --tls: NULL, plain HTTP */
	void **tls_conn;		/* per fd: its TLS state between requests */
	int tls_max;			/* size of tls_conn */
	struct sim_node *node;
	pthread_mutex_t lock;
	int epfd;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	int queue[QUEUE_MAX];
	int qhead, qcount;
};

/* The simulation, guarded by sim.lock (the queue by sim.qlock); state.c. */
extern struct ncsim sim;
/* Set by the signal handlers in main.c: SIGTERM/SIGINT, SIGUSR1. */
extern volatile sig_atomic_t ncsim_stop, ncsim_wake;

/* state.c: the nodes' memory; callers hold sim.lock. */
void ncsim_copy(char *dst, size_t n, const char *src);
struct sim_inst *ncsim_find(struct sim_node *n, const char *id);
void ncsim_used(const struct sim_node *n, int *cores, int *mem, int *disk);
struct sim_inst *ncsim_add_instance(struct sim_node *n, const char *id,
    const struct kr__virtualMachineType *t, const char **why);
void ncsim_prefill(int per_node);

/* serve.c: kept-alive connections, served by worker threads. */
void ncsim_conn_close(int fd);
void ncsim_arm(int fd, int op);
void ncsim_enqueue(int fd);
void *ncsim_worker(void *arg);

#endif
