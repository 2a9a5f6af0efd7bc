/*
 * ncsim.c - karri-ncsim: a stand-in for many node controllers in one process.
 *
 * It answers the NC contract (wsdl/karri-nc.h) from memory, so the cluster
 * controller can be tested before the real NC exists and measured with a
 * thousand nodes on one machine (bench/ccscale).
 *
 * One listening socket on 0.0.0.0:PORT serves every simulated node; which
 * node a connection talks to is the local address the client connected to:
 * node k answers on FIRST_IP + k (127.1.0.1, 127.1.0.2, ... on loopback, all
 * of 127/8 being local on Linux).  With --nodes 1 every address is node 0,
 * which is how a test runs one ncsim per node namespace.  So the CC sees
 * ordinary "host:port" nodes and needs no knowledge of the simulation.
 *
 * Connections are kept alive (the CC holds one per node): an epoll loop
 * watches them all and hands a readable one to a small pool of workers,
 * which serve exactly one request and give it back.  A thousand idle
 * keep-alive connections therefore cost a thousand fds, not threads.
 *
 * Knobs: capacity per node, a latency added to every call, instances
 * created at start, and a real network side (--privif: ncStartNetwork and
 * ncRunInstance make the VLAN + bridge with common/vnet_bridge.c, as the NC
 * does).  Each call that changes a node is logged (one line; polls are not).
 * --guest-aoe io|always answers as an NC with NC_GUEST_AOE does: such an
 * instance reports a storage NIC ("model=virtio storage=d2:0d:<id hex>")
 * and its volumes the path "guest".
 * ncPowerDown "switches the node off": its connections are refused until
 * SIGUSR1 ("wake-on-LAN" by hand).  SIGSTOP makes every node hang.
 *
 * --tls HOME serves mutual TLS as karri-nc does (HOME/var/lib/karri/keys/
 * node-cert.pem, node-pk.pem, ca-cert.pem; common/tls.h): each kept-alive
 * connection keeps its OpenSSL state beside its fd (sim.tls_conn[fd]).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "karriH.h"
#include "dispatch.h"
#include "error.h"
#include "id.h"
#include "log.h"
#include "soap_error.h"
#include "soap_server.h"
#include "vnet_bridge.h"

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

static struct {
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
} sim = { .port = 8775, .nodes = 1, .cores = 8, .memory = 16384, .disk = 200,
	.workers = 4, .lock = PTHREAD_MUTEX_INITIALIZER, .qlock = PTHREAD_MUTEX_INITIALIZER,
	.qcond = PTHREAD_COND_INITIALIZER };

static volatile sig_atomic_t stop, wake;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		wake = 1;
	else
		stop = 1;
}

static void
copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static void
latency(void)
{
	if (sim.latency_ms > 0) {
		struct timespec ts = { sim.latency_ms / 1000, (sim.latency_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
}

static struct sim_node *
node_of(struct soap *soap)
{
	return soap->user;
}

static struct sim_inst *
find(struct sim_node *n, const char *id)
{
	for (int i = 0; id && i < n->ninst; i++)
		if (strcmp(n->inst[i].id, id) == 0)
			return &n->inst[i];
	return NULL;
}

static void
used(const struct sim_node *n, int *cores, int *mem, int *disk)
{
	*cores = *mem = *disk = 0;
	for (int i = 0; i < n->ninst; i++) {
		*cores += n->inst[i].cores;
		*mem += n->inst[i].memory;
		*disk += n->inst[i].disk;
	}
}

static int
fail(struct soap *soap, enum xsd__boolean *ret, char **msg, const char *why)
{
	/* why is "Code: message", answered as every daemon does (soap_error.c). */
	kr_soap_error_parse(why);
	return kr_soap_error_reply(soap, ret, msg);
}

#define NOT_FOUND "InvalidInstanceID.NotFound: no such instance on this node"

/* Whether the node that soap is serving runs instance `id`. */
static bool
known(struct soap *soap, const char *id)
{
	bool found;

	pthread_mutex_lock(&sim.lock);
	found = find(node_of(soap), id) != NULL;
	pthread_mutex_unlock(&sim.lock);
	return found;
}

static struct nc__instanceType *
to_wire(struct soap *soap, const struct sim_inst *in, struct nc__instanceType *out)
{
	soap_default_nc__instanceType(soap, out);
	out->instanceId = soap_strdup(soap, in->id);
	out->reservationId = soap_strdup(soap, in->reservation);
	out->imageId = soap_strdup(soap, in->image);
	out->userId = soap_strdup(soap, in->user);
	out->stateName = "Extant";
	out->stateDetail = "RUNNING";
	out->launchTime = in->launched;
	out->instanceType = soap_malloc(soap, sizeof(*out->instanceType));
	soap_default_kr__virtualMachineType(soap, out->instanceType);
	out->instanceType->name = soap_strdup(soap, in->type);
	out->instanceType->cores = in->cores;
	out->instanceType->memory = in->memory;
	out->instanceType->disk = in->disk;
	out->netParams = soap_malloc(soap, sizeof(*out->netParams));
	soap_default_kr__netConfigType(soap, out->netParams);
	out->netParams->privateMacAddress = soap_strdup(soap, in->mac);
	out->netParams->privateIp = soap_strdup(soap, in->ip);
	out->netParams->publicIp = soap_strdup(soap, in->pub);
	out->netParams->vlan = in->vlan;
	out->netParams->networkIndex = in->net_index;
	out->netParams->bridge = soap_strdup(soap, in->bridge);
	if (in->group[0]) {
		out->__sizegroupNames = 1;
		out->groupNames = soap_malloc(soap, sizeof(char *));
		out->groupNames[0] = soap_strdup(soap, in->group);
	}
	out->diskAttachment = "bus=virtio backing=tap cache=none io=native";
	out->netAttachment = soap_strdup(soap, in->net_att);
	if (in->nvols) {
		out->__sizevolumes = in->nvols;
		out->volumes = soap_malloc(soap, (size_t)in->nvols * sizeof(*out->volumes));
		for (int i = 0; i < in->nvols; i++) {
			soap_default_kr__volumeType(soap, &out->volumes[i]);
			out->volumes[i].volumeId = soap_strdup(soap, in->vols[i].id);
			out->volumes[i].localDev = soap_strdup(soap, in->vols[i].local);
			out->volumes[i].state = "attached";
			out->volumes[i].attachment = soap_strdup(soap, in->vols[i].attachment);
		}
	}
	return out;
}

/* Add an instance to a node; the caller holds sim.lock.  NULL when it does not fit. */
static struct sim_inst *
add_instance(struct sim_node *n, const char *id, const struct kr__virtualMachineType *t,
    const char **why)
{
	int c, m, d;
	struct sim_inst *in;

	if (!n->inst && !(n->inst = calloc(INST_MAX, sizeof(*n->inst)))) {
		*why = "InternalError: out of memory";
		return NULL;
	}
	used(n, &c, &m, &d);
	if (n->ninst >= INST_MAX || c + t->cores > sim.cores || m + t->memory > sim.memory ||
	    d + t->disk > sim.disk) {
		*why = "InsufficientInstanceCapacity: the node is full";
		return NULL;
	}
	in = &n->inst[n->ninst++];
	memset(in, 0, sizeof(*in));
	copy(in->id, sizeof(in->id), id);
	copy(in->type, sizeof(in->type), t->name);
	in->cores = t->cores;
	in->memory = t->memory;
	in->disk = t->disk;
	in->vlan = -1;
	in->launched = time(NULL);
	if (sim.guest_aoe && (strcmp(sim.guest_aoe, "always") == 0 ||
	    (t->ioClass && strcmp(t->ioClass, "io") == 0)) && strlen(id) == 10)
		snprintf(in->net_att, sizeof(in->net_att), "model=virtio storage=d2:0d:%.2s:%.2s:%.2s:%.2s",
		    id + 2, id + 4, id + 6, id + 8);
	else
		snprintf(in->net_att, sizeof(in->net_att), "model=virtio");
	return in;
}

/*
 * The calls that change a node, one log line each (the polls are not
 * logged): what a test counts to see how many round trips a launch took.
 */
static void
log_call(const struct sim_node *n, const char *op, const char *what)
{
	kr_log_info("ncsim: node %d: %s %s", n ? n->index : -1, op, what ? what : "-");
}

int
__nc__ncRunInstance(struct soap *soap, struct _nc__ncRunInstance *req,
    struct _nc__ncRunInstanceResponse *resp)
{
	struct sim_node *n = node_of(soap);
	struct sim_inst *in;
	const char *why = NULL;

	KR_SOAP_ECHO(resp, req);
	latency();
	log_call(n, "ncRunInstance", req->instanceId);
	if (!kr_id_valid(req->instanceId, "i") || !req->instanceType ||
	    req->instanceType->cores < 0 || req->instanceType->memory < 0 ||
	    req->instanceType->disk < 0)
		return fail(soap, &resp->_return, &resp->statusMessage,
		    "InvalidParameterValue: instance id or type");
	/* As the NC's launch does (nc/launch.c): the group's segment, made here if missing. */
	if (sim.privif && req->netParams && req->netParams->vlan > 0) {
		char br[KR_VNET_IFNAME];

		if (kr_vnet_bridge_up(sim.privif, req->netParams->vlan, br) < 0)
			return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	pthread_mutex_lock(&sim.lock);
	if ((in = find(n, req->instanceId)) == NULL &&
	    (in = add_instance(n, req->instanceId, req->instanceType, &why)) != NULL) {
		copy(in->reservation, sizeof(in->reservation), req->reservationId);
		copy(in->image, sizeof(in->image), req->imageId);
		copy(in->user, sizeof(in->user), req->userId);
		if (req->__sizegroupNames > 0)
			copy(in->group, sizeof(in->group), req->groupNames[0]);
		if (req->netParams) {
			copy(in->mac, sizeof(in->mac), req->netParams->privateMacAddress);
			copy(in->ip, sizeof(in->ip), req->netParams->privateIp);
			copy(in->pub, sizeof(in->pub), req->netParams->publicIp);
			copy(in->bridge, sizeof(in->bridge), req->netParams->bridge);
			in->vlan = req->netParams->vlan;
			in->net_index = req->netParams->networkIndex;
		}
	}
	if (in) {
		resp->_return = true_;
		resp->instance = to_wire(soap, in, soap_malloc(soap, sizeof(*resp->instance)));
	} else {
		fail(soap, &resp->_return, &resp->statusMessage, why);
	}
	pthread_mutex_unlock(&sim.lock);
	return SOAP_OK;
}

int
__nc__ncTerminateInstance(struct soap *soap, struct _nc__ncTerminateInstance *req,
    struct _nc__ncTerminateInstanceResponse *resp)
{
	struct sim_node *n = node_of(soap);
	struct sim_inst *in;

	KR_SOAP_ECHO(resp, req);
	latency();
	pthread_mutex_lock(&sim.lock);
	in = find(n, req->instanceId);
	resp->_return = true_;
	resp->instanceId = req->instanceId;
	resp->previousState = in ? "Extant" : "Teardown";
	resp->shutdownState = "Teardown";
	if (in)
		*in = n->inst[--n->ninst];
	pthread_mutex_unlock(&sim.lock);
	return SOAP_OK;
}

int
__nc__ncDescribeInstances(struct soap *soap, struct _nc__ncDescribeInstances *req,
    struct _nc__ncDescribeInstancesResponse *resp)
{
	struct sim_node *n = node_of(soap);

	KR_SOAP_ECHO(resp, req);
	latency();
	resp->_return = true_;
	pthread_mutex_lock(&sim.lock);
	resp->instances = soap_malloc(soap, (size_t)(n->ninst + 1) * sizeof(*resp->instances));
	for (int i = 0; i < n->ninst; i++) {
		bool want = req->__sizeinstanceIds == 0;

		for (int j = 0; !want && j < req->__sizeinstanceIds; j++)
			want = req->instanceIds[j] && strcmp(req->instanceIds[j], n->inst[i].id) == 0;
		if (want)
			to_wire(soap, &n->inst[i], &resp->instances[resp->__sizeinstances++]);
	}
	pthread_mutex_unlock(&sim.lock);
	return SOAP_OK;
}

int
__nc__ncDescribeResource(struct soap *soap, struct _nc__ncDescribeResource *req,
    struct _nc__ncDescribeResourceResponse *resp)
{
	struct sim_node *n = node_of(soap);
	int c, m, d;

	KR_SOAP_ECHO(resp, req);
	latency();
	pthread_mutex_lock(&sim.lock);
	used(n, &c, &m, &d);
	pthread_mutex_unlock(&sim.lock);
	resp->_return = true_;
	resp->nodeStatus = "enabled";
	resp->numberOfCoresMax = sim.cores;
	resp->numberOfCoresAvailable = sim.cores - c;
	resp->memorySizeMax = sim.memory;
	resp->memorySizeAvailable = sim.memory - m;
	resp->diskSizeMax = sim.disk;
	resp->diskSizeAvailable = sim.disk - d;
	resp->hypervisor = "ncsim";
	/*
	 * A made-up storage MAC, one per node and the same every run
	 * (locally administered 02:..., the node index in the last two
	 * octets): what the CC hands the CLC for EBS to allow on attach.
	 */
	resp->storageMac = soap_malloc(soap, 18);
	if (resp->storageMac)
		snprintf(resp->storageMac, 18, "02:00:00:00:%02x:%02x", (n->index >> 8) & 0xff,
		    n->index & 0xff);
	return SOAP_OK;
}

int
__nc__ncRebootInstance(struct soap *soap, struct _nc__ncRebootInstance *req,
    struct _nc__ncRebootInstanceResponse *resp)
{
	KR_SOAP_ECHO(resp, req);
	latency();
	if (!known(soap, req->instanceId))
		return fail(soap, &resp->_return, &resp->statusMessage, NOT_FOUND);
	resp->_return = true_;
	return SOAP_OK;
}

int
__nc__ncGetConsoleOutput(struct soap *soap, struct _nc__ncGetConsoleOutput *req,
    struct _nc__ncGetConsoleOutputResponse *resp)
{
	char text[128];

	KR_SOAP_ECHO(resp, req);
	latency();
	if (!known(soap, req->instanceId))
		return fail(soap, &resp->_return, &resp->statusMessage, NOT_FOUND);
	snprintf(text, sizeof(text), "ncsim node %d console of %s\n",
	    node_of(soap)->index, req->instanceId);
	resp->_return = true_;
	resp->consoleOutput = soap_s2base64(soap, (const unsigned char *)text, NULL,
	    (int)strlen(text));
	return SOAP_OK;
}

int
__nc__ncAttachVolume(struct soap *soap, struct _nc__ncAttachVolume *req,
    struct _nc__ncAttachVolumeResponse *resp)
{
	struct sim_inst *in;
	const char *how = "nbd";

	KR_SOAP_ECHO(resp, req);
	latency();
	pthread_mutex_lock(&sim.lock);
	in = find(node_of(soap), req->instanceId);
	if (in && strstr(in->net_att, "storage="))
		how = "guest";
	if (in && in->nvols < VOL_MAX && req->volumeId) {
		struct sim_vol *v = &in->vols[in->nvols++];

		copy(v->id, sizeof(v->id), req->volumeId);
		copy(v->local, sizeof(v->local), req->localDev);
		copy(v->attachment, sizeof(v->attachment), how);
	}
	pthread_mutex_unlock(&sim.lock);
	if (!in)
		return fail(soap, &resp->_return, &resp->statusMessage, NOT_FOUND);
	resp->_return = true_;
	resp->attachment = (char *)how;
	return SOAP_OK;
}

int
__nc__ncDetachVolume(struct soap *soap, struct _nc__ncDetachVolume *req,
    struct _nc__ncDetachVolumeResponse *resp)
{
	struct sim_inst *in;
	bool found = false;

	KR_SOAP_ECHO(resp, req);
	latency();
	pthread_mutex_lock(&sim.lock);
	in = find(node_of(soap), req->instanceId);
	for (int i = 0; in && req->volumeId && i < in->nvols; i++)
		if (strcmp(in->vols[i].id, req->volumeId) == 0) {
			in->vols[i] = in->vols[--in->nvols];
			found = true;
			break;
		}
	pthread_mutex_unlock(&sim.lock);
	if (!found)
		return fail(soap, &resp->_return, &resp->statusMessage,
		    "InvalidAttachment.NotFound: volume not attached to that instance");
	resp->_return = true_;
	return SOAP_OK;
}

int
__nc__ncStartNetwork(struct soap *soap, struct _nc__ncStartNetwork *req,
    struct _nc__ncStartNetworkResponse *resp)
{
	KR_SOAP_ECHO(resp, req);
	latency();
	log_call(node_of(soap), "ncStartNetwork", NULL);
	resp->_return = true_;
	resp->networkStatus = "ready";
	if (sim.privif && req->vlan >= 0) {
		char br[KR_VNET_IFNAME];

		if (kr_vnet_bridge_up(sim.privif, req->vlan, br) < 0) {
			kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
			resp->networkStatus = "failed";
		}
	}
	return SOAP_OK;
}

int
__nc__ncPowerDown(struct soap *soap, struct _nc__ncPowerDown *req,
    struct _nc__ncPowerDownResponse *resp)
{
	KR_SOAP_ECHO(resp, req);
	pthread_mutex_lock(&sim.lock);
	node_of(soap)->off = true;
	pthread_mutex_unlock(&sim.lock);
	resp->_return = true_;
	soap->keep_alive = 0;	/* the host goes away: so does the connection */
	return SOAP_OK;
}

/* --- serving --------------------------------------------------------------- */

static struct sim_node *
node_for_socket(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	long k;

	if (sim.nodes == 1)
		return &sim.node[0];
	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0 || a.sin_family != AF_INET)
		return NULL;
	k = (long)ntohl(a.sin_addr.s_addr) - (long)sim.first;
	return k >= 0 && k < sim.nodes ? &sim.node[k] : NULL;
}

/* Close a connection, with its TLS state. */
static void
conn_close(int fd)
{
	if (sim.tls_conn && fd < sim.tls_max) {
		kr_tls_free(sim.tls_conn[fd]);
		sim.tls_conn[fd] = NULL;
	}
	close(fd);
}

static void
arm(int fd, int op)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT | EPOLLRDHUP, .data.fd = fd };

	if (epoll_ctl(sim.epfd, op, fd, &ev) < 0)
		conn_close(fd);
}

/* Give soap the connection's TLS state, shaking hands on its first request. */
static bool
tls_begin(struct soap *soap, int fd)
{
	if (!sim.tls_conn)
		return true;
	if (fd >= sim.tls_max)
		return false;
	if (sim.tls_conn[fd]) {
		kr_tls_soap_lend(soap, sim.tls_conn[fd]);
		sim.tls_conn[fd] = NULL;
		return true;
	}
	if (soap_ssl_accept(soap) == SOAP_OK)
		return true;
	kr_log_info("ncsim: TLS handshake refused: %s", *soap_faultstring(soap) ?
	    *soap_faultstring(soap) : "error");
	return false;
}

static void
enqueue(int fd)
{
	pthread_mutex_lock(&sim.qlock);
	if (sim.qcount == QUEUE_MAX) {
		pthread_mutex_unlock(&sim.qlock);
		conn_close(fd);
		return;
	}
	sim.queue[(sim.qhead + sim.qcount++) % QUEUE_MAX] = fd;
	pthread_cond_signal(&sim.qcond);
	pthread_mutex_unlock(&sim.qlock);
}

/* Serve one request on fd; true when the connection stays open. */
static bool
serve_one(struct soap *soap, int fd)
{
	struct sim_node *n = node_for_socket(fd);
	bool keep;
	int rc;

	pthread_mutex_lock(&sim.lock);
	if (n && n->off && !wake)
		n = NULL;
	pthread_mutex_unlock(&sim.lock);
	if (!n) {
		conn_close(fd);	/* a switched-off host: the connection just dies */
		return false;
	}
	soap->socket = fd;
	soap->user = n;
	soap->keep_alive = 2;	/* gSOAP counts it down per request: allow this one and more */
	soap->error = SOAP_OK;
	if (!tls_begin(soap, fd) || soap_begin_serve(soap)) {
		keep = false;
	} else {
		rc = nc_serve_request(soap);
		if (rc == SOAP_NO_METHOD)
			soap->error = SOAP_NO_METHOD;
		if (rc != SOAP_OK && soap->error && soap->error < SOAP_STOP)
			soap_send_fault(soap);
		keep = soap->keep_alive != 0 && soap_valid_socket(soap->socket) && rc == SOAP_OK;
	}
	soap_destroy(soap);
	soap_end(soap);
	if (sim.tls_conn)
		sim.tls_conn[fd] = kr_tls_soap_take(soap);
	if (!soap_valid_socket(soap->socket)) {
		keep = false;	/* gSOAP closed it already */
		if (sim.tls_conn) {
			kr_tls_free(sim.tls_conn[fd]);
			sim.tls_conn[fd] = NULL;
		}
	} else if (!keep) {
		conn_close(fd);
	}
	soap->socket = SOAP_INVALID_SOCKET;
	return keep;
}

static void *
worker(void *arg)
{
	struct soap *soap = soap_new();

	(void)arg;
	kr_soap_setup(soap, 30);
	if (sim.tls_files && kr_tls_soap_server(soap, sim.tls_files) < 0) {
		fprintf(stderr, "ncsim: %s\n", kr_error_message());
		exit(1);
	}
	soap->accept_timeout = 10;	/* bounds the handshake */
	for (;;) {
		int fd;

		pthread_mutex_lock(&sim.qlock);
		while (sim.qcount == 0)
			pthread_cond_wait(&sim.qcond, &sim.qlock);
		fd = sim.queue[sim.qhead];
		sim.qhead = (sim.qhead + 1) % QUEUE_MAX;
		sim.qcount--;
		pthread_mutex_unlock(&sim.qlock);
		if (serve_one(soap, fd))
			arm(fd, EPOLL_CTL_MOD);
	}
	return NULL;
}

/* Fill each node with `per_node` m1.small-like instances. */
static void
prefill(int per_node)
{
	struct kr__virtualMachineType t = { .name = "m1.small", .cores = 1, .memory = 256, .disk = 5 };

	for (int k = 0; k < sim.nodes; k++)
		for (int i = 0; i < per_node; i++) {
			char id[KR_ID_MAX];
			const char *why;
			struct sim_inst *in;

			snprintf(id, sizeof(id), "i-%08x", (unsigned)(k * 65536 + i + 0x10000000));
			if (!(in = add_instance(&sim.node[k], id, &t, &why))) {
				fprintf(stderr, "ncsim: node %d: %s\n", k, why);
				break;
			}
			snprintf(in->reservation, sizeof(in->reservation), "r-%08x", (unsigned)k);
			snprintf(in->image, sizeof(in->image), "emi-00000001");
			snprintf(in->user, sizeof(in->user), "bench");
			snprintf(in->group, sizeof(in->group), "default");
			kr_id_mac_from_instance(id, NULL, in->mac);
		}
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: karri-ncsim [--port P] [--nodes N --first-ip A.B.C.D] [--cores C]\n"
	    "         [--memory MiB] [--disk GiB] [--latency-ms MS] [--workers W]\n"
	    "         [--instances-per-node K] [--privif DEV] [--tls KARRI_HOME]\n"
	    "         [--guest-aoe io|always]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", 1, NULL, 'p' }, { "nodes", 1, NULL, 'n' }, { "first-ip", 1, NULL, 'f' },
		{ "cores", 1, NULL, 'c' }, { "memory", 1, NULL, 'm' }, { "disk", 1, NULL, 'd' },
		{ "latency-ms", 1, NULL, 'l' }, { "workers", 1, NULL, 'w' },
		{ "instances-per-node", 1, NULL, 'i' }, { "privif", 1, NULL, 'P' },
		{ "tls", 1, NULL, 'T' }, { "guest-aoe", 1, NULL, 'G' }, { NULL, 0, NULL, 0 }
	};
	static struct kr_tls_files tls_files;
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct rlimit rl;
	struct sigaction sa = { .sa_handler = on_signal };
	int per_node = 0, lfd, one = 1, c;
	struct in_addr first;

	inet_pton(AF_INET, "127.1.0.1", &first);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': sim.port = atoi(optarg); break;
		case 'n': sim.nodes = atoi(optarg); break;
		case 'f': if (inet_pton(AF_INET, optarg, &first) != 1) usage(); break;
		case 'c': sim.cores = atoi(optarg); break;
		case 'm': sim.memory = atoi(optarg); break;
		case 'd': sim.disk = atoi(optarg); break;
		case 'l': sim.latency_ms = atoi(optarg); break;
		case 'w': sim.workers = atoi(optarg); break;
		case 'i': per_node = atoi(optarg); break;
		case 'P': sim.privif = optarg; break;
		case 'G': sim.guest_aoe = optarg; break;
		case 'T': kr_tls_files(optarg, "node", &tls_files); sim.tls_files = &tls_files; break;
		default: usage();
		}
	}
	if (sim.nodes < 1 || sim.nodes > 65536 || sim.port < 1 || sim.port > 65535 ||
	    sim.workers < 1 || sim.workers > 256 || per_node < 0 || sim.latency_ms < 0 ||
	    (sim.guest_aoe && strcmp(sim.guest_aoe, "io") && strcmp(sim.guest_aoe, "always")))
		usage();
	sim.first = ntohl(first.s_addr);
	sim.node = calloc((size_t)sim.nodes, sizeof(*sim.node));
	for (int k = 0; k < sim.nodes; k++)
		sim.node[k].index = k;
	prefill(per_node);
	/* A kept-alive connection per node: raise the fd limit as far as allowed. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (sim.tls_files) {
		sim.tls_max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1048576 ?
		    (int)rl.rlim_cur : 1048576;
		if (kr_tls_files_check(sim.tls_files) < 0 ||
		    !(sim.tls_conn = calloc((size_t)sim.tls_max, sizeof(*sim.tls_conn)))) {
			fprintf(stderr, "ncsim: %s\n", kr_error_message());
			return 1;
		}
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons((uint16_t)sim.port);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0) {
		fprintf(stderr, "ncsim: cannot listen on port %d: %s\n", sim.port, strerror(errno));
		return 1;
	}
	sim.epfd = epoll_create1(EPOLL_CLOEXEC);
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };

		epoll_ctl(sim.epfd, EPOLL_CTL_ADD, lfd, &ev);
	}
	for (int i = 0; i < sim.workers; i++) {
		pthread_t t;

		pthread_create(&t, NULL, worker, NULL);
		pthread_detach(t);
	}
	kr_log_info("ncsim: %d node(s) on port %d, %d cores %d MiB %d GiB each", sim.nodes,
	    sim.port, sim.cores, sim.memory, sim.disk);
	while (!stop) {
		struct epoll_event ev[256];
		int n = epoll_wait(sim.epfd, ev, 256, 500);

		if (wake) {
			pthread_mutex_lock(&sim.lock);
			for (int k = 0; k < sim.nodes; k++)
				sim.node[k].off = false;
			wake = 0;
			pthread_mutex_unlock(&sim.lock);
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == lfd) {
				int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

				if (fd >= 0)
					arm(fd, EPOLL_CTL_ADD);
			} else if (ev[i].events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP) &&
			    !(ev[i].events & EPOLLIN)) {
				conn_close(ev[i].data.fd);
			} else {
				enqueue(ev[i].data.fd);
			}
		}
	}
	return 0;
}
