/*
 * poller.c - asking every node, every NC_POLLING_FREQUENCY seconds, what it
 * has and what it runs, without ever making a caller wait for a node.
 *
 * A ticker thread queues every node once per period; a fixed pool of
 * workers, each with its own gSOAP context, polls them in parallel
 * (ncDescribeResource, then ncDescribeInstances on the same kept-alive
 * connection) with a timeout per call.  Answers are converted outside the
 * lock and swapped into the node under cc.lock in one step, so
 * DescribeInstances/DescribeResources, answered from this cache, always see
 * a whole answer and never a node's latency.  A node that does not answer
 * in time is DOWN (its instances are still reported, marked so); the next
 * answer brings it back UP.  A node still being polled when the next period
 * starts is skipped, so a hung node costs one worker, not a growing queue.
 *
 * POWERSAVE lives here too: a node idle for POWER_IDLETHRESH seconds is
 * sent ncPowerDown (one node is always left up, since waking needs
 * wake-on-LAN, which a namespace cannot do).
 */
#include <stdlib.h>
#include <string.h>

#include "karriH.h"
#include "cc.h"
#include "daemon/daemon.h"
#include "core/error.h"
#include "core/log.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

#define WORKERS_MAX 32

static struct {
	pthread_t ticker;
	pthread_t workers[WORKERS_MAX];
	int nworkers;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;		/* work queued, or stopping */
	pthread_cond_t tick;		/* kicked, or stopping */
	struct cc_node **queue;
	int qhead, qcount;
	bool stopping, kicked;
	unsigned cycle;
} P = { .qlock = PTHREAD_MUTEX_INITIALIZER, .qcond = PTHREAD_COND_INITIALIZER,
	.tick = PTHREAD_COND_INITIALIZER };

long long
cc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
cp(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

/* The NC's view of one instance, bounded and copied into CC memory. */
static bool
convert(const struct nc__instanceType *w, struct cc_inst *in)
{
	memset(in, 0, sizeof(*in));
	if (!kr_id_valid(w->instanceId, "i"))
		return false;
	cp(in->id, sizeof(in->id), w->instanceId);
	cp(in->reservation, sizeof(in->reservation), w->reservationId);
	cp(in->image, sizeof(in->image), w->imageId);
	cp(in->kernel, sizeof(in->kernel), w->kernelId);
	cp(in->ramdisk, sizeof(in->ramdisk), w->ramdiskId);
	cp(in->user, sizeof(in->user), w->userId);
	cp(in->state, sizeof(in->state), w->stateName);
	cp(in->reason, sizeof(in->reason), w->stateReason);
	cp(in->launch_index, sizeof(in->launch_index), w->launchIndex);
	cp(in->disk_att, sizeof(in->disk_att), w->diskAttachment);
	cp(in->net_att, sizeof(in->net_att), w->netAttachment);
	in->launched = w->launchTime;
	if (w->instanceType) {
		cp(in->type, sizeof(in->type), w->instanceType->name);
		in->need.cores = w->instanceType->cores;
		in->need.memory = w->instanceType->memory;
		in->need.disk = w->instanceType->disk;
	}
	in->vlan = -1;
	if (w->netParams) {
		cp(in->mac, sizeof(in->mac), w->netParams->privateMacAddress);
		cp(in->priv_ip, sizeof(in->priv_ip), w->netParams->privateIp);
		cp(in->pub_ip, sizeof(in->pub_ip), w->netParams->publicIp);
		cp(in->bridge, sizeof(in->bridge), w->netParams->bridge);
		in->vlan = w->netParams->vlan;
		in->net_index = w->netParams->networkIndex;
	}
	if (w->__sizegroupNames > 0 && w->groupNames)
		cp(in->group, sizeof(in->group), w->groupNames[0]);
	if (w->volumes && w->__sizevolumes > 0)
		in->vols = calloc(CC_INST_VOLS, sizeof(*in->vols));
	for (int i = 0; in->vols && i < w->__sizevolumes && i < CC_INST_VOLS; i++) {
		struct cc_vol *v = &in->vols[in->nvols++];

		cp(v->id, sizeof(v->id), w->volumes[i].volumeId);
		cp(v->local, sizeof(v->local), w->volumes[i].localDev);
		cp(v->state, sizeof(v->state), w->volumes[i].state);
		cp(v->attachment, sizeof(v->attachment), w->volumes[i].attachment);
	}
	return true;
}

/*
 * A cycle is complete when every node queued since the last complete one
 * has answered or timed out; cycles_done counts them, so that a caller can
 * wait for "two more": the second began after it asked.
 */
static void
cycle_done(void)
{
	if (cc.cycle_pending > 0 && --cc.cycle_pending == 0) {
		cc.cycle_ms = cc_now_ms() - cc.cycle_started_ms;
		cc.cycles_done++;
	}
}

static void
apply(struct cc_node *n, bool ok, const struct _nc__ncDescribeResourceResponse *r,
    struct cc_inst *inst, int ninst, struct cc_xml *xml)
{
	time_t now = time(NULL);

	pthread_mutex_lock(&cc.lock);
	n->polling = false;
	if (!ok) {
		n->fails++;
		if (n->state != CC_NODE_DOWN && n->state != CC_NODE_POWEREDOFF) {
			kr_log_warnx("node %s is DOWN: %s", n->url, kr_error_message());
			n->state = CC_NODE_DOWN;
		}
		cc_inst_list_free(inst, ninst);
		cc_xml_release(xml);
	} else if (n->state == CC_NODE_POWEREDOFF && time(NULL) - n->off_since <= cc.poll_s) {
		/* A poll that began before the node was powered down: stale news. */
		cc_inst_list_free(inst, ninst);
		cc_xml_release(xml);
	} else {
		if (n->state != CC_NODE_UP)
			kr_log_info("node %s is UP (%s)", n->url,
			    n->state == CC_NODE_UNKNOWN ? "first answer" :
			    n->state == CC_NODE_POWEREDOFF ? "woken" : "back");
		if (n->state == CC_NODE_POWEREDOFF)
			n->woken = now;
		n->state = CC_NODE_UP;
		n->fails = 0;
		n->last_ok = now;
		n->max = (struct cc_res){ r->numberOfCoresMax, r->memorySizeMax, r->diskSizeMax };
		n->avail = (struct cc_res){ r->numberOfCoresAvailable, r->memorySizeAvailable,
			r->diskSizeAvailable };
		cp(n->hypervisor, sizeof(n->hypervisor), r->hypervisor);
		cp(n->storage_mac, sizeof(n->storage_mac),
		    r->storageMac && strlen(r->storageMac) == 17 ? r->storageMac : "");
		cc_inst_list_free(n->inst, n->ninst);
		n->inst = inst;
		n->ninst = ninst;
		cc_xml_release(n->xml);
		n->xml = xml;
		/* What the node reports is no longer a reservation: its numbers count it. */
		for (int i = 0; i < ninst; i++)
			cc_resv_drop(n, inst[i].id);
		cc_resv_expire(n, now);
		if (n->ninst || n->nresv)
			n->idle_since = 0;
		else if (!n->idle_since)
			n->idle_since = now;
	}
	cycle_done();
	cc_node_release(n);
	pthread_mutex_unlock(&cc.lock);
}

static void
poll_node(struct soap *soap, struct cc_node *n)
{
	struct _nc__ncDescribeResource rq = { .correlationId = "poll", .userId = "karri-cc" };
	struct _nc__ncDescribeResourceResponse rr;
	struct _nc__ncDescribeInstances iq = { .correlationId = "poll", .userId = "karri-cc" };
	struct _nc__ncDescribeInstancesResponse ir;
	struct cc_inst *inst = NULL;
	struct cc_xml *xml = NULL;
	int ninst = 0, rc;
	bool borrowed = cc_nc_begin(soap, n), ok = false;

	rc = soap_call___nc__ncDescribeResource(soap, n->url, NULL, &rq, &rr);
	if (kr_soap_error_read(soap, rc, &rr._return, &rr.statusMessage, NULL,
	    "ncDescribeResource", n->url) == 0) {
		rc = soap_call___nc__ncDescribeInstances(soap, n->url, NULL, &iq, &ir);
		if (kr_soap_error_read(soap, rc, &ir._return, &ir.statusMessage, NULL,
		    "ncDescribeInstances", n->url) == 0) {
			int m = ir.__sizeinstances < CC_NODE_INST_MAX ? ir.__sizeinstances :
			    CC_NODE_INST_MAX;

			ok = (inst = calloc((size_t)m + 1, sizeof(*inst))) != NULL;
			for (int i = 0; ok && i < m; i++)
				if (convert(&ir.instances[i], &inst[ninst]))
					ninst++;
		}
	}
	/* Rendered here, by this worker, so that no DescribeInstances has to. */
	if (ok)
		xml = cc_xml_render(inst, ninst, n->url);
	/* rr stays valid until cc_nc_end() frees the context's memory. */
	apply(n, ok, &rr, inst, ninst, xml);
	cc_nc_end(soap, n, borrowed, ok);
}

static void *
worker_main(void *arg)
{
	struct soap *soap = cc_nc_soap_new(cc.poll_timeout_s);

	(void)arg;
	for (;;) {
		struct cc_node *n;

		pthread_mutex_lock(&P.qlock);
		while (P.qcount == 0 && !P.stopping)
			pthread_cond_wait(&P.qcond, &P.qlock);
		if (P.stopping) {
			pthread_mutex_unlock(&P.qlock);
			break;
		}
		n = P.queue[P.qhead];
		P.qhead = (P.qhead + 1) % CC_NODES_MAX;
		P.qcount--;
		pthread_mutex_unlock(&P.qlock);
		/* start_cycle's hold is let go by apply(), cc_nc_begin's by cc_nc_end(). */
		poll_node(soap, n);
	}
	soap_free(soap);
	return NULL;
}

/* Queue every node not being polled already. */
static void
start_cycle(void)
{
	int queued = 0;

	pthread_mutex_lock(&cc.lock);
	pthread_mutex_lock(&P.qlock);
	P.cycle++;
	for (int i = 0; i < cc.nnodes && P.qcount < CC_NODES_MAX; i++) {
		struct cc_node *n = cc.nodes[i];

		if (n->polling)
			continue;
		/*
		 * A node down for a while is asked less often (every 2nd, 4th ...
		 * up to every 8th period, staggered): a powered-off host costs a
		 * full connect timeout, and a rack of them must not stretch the
		 * cycle of the nodes that are up.
		 */
		if (n->state == CC_NODE_DOWN && n->fails >= 3) {
			unsigned every = n->fails >= 24 ? 8 : n->fails >= 12 ? 4 : 2;

			if ((P.cycle + (unsigned)i) % every != 0)
				continue;
		}
		n->polling = true;
		cc_node_hold(n);
		P.queue[(P.qhead + P.qcount++) % CC_NODES_MAX] = n;
		queued++;
	}
	if (cc.cycle_pending == 0 && queued == 0) {
		cc.cycles_done++;		/* nothing to ask: complete at once */
	} else if (cc.cycle_pending == 0) {
		cc.cycle_started_ms = cc_now_ms();
		cc.cycle_pending = queued;
	} else {
		cc.cycle_pending += queued;	/* the cycle ends when the stragglers do */
	}
	pthread_cond_broadcast(&P.qcond);
	pthread_mutex_unlock(&P.qlock);
	pthread_mutex_unlock(&cc.lock);
}

static void
power_down_idle(struct soap *soap)
{
	long idle = kr_config_int(cc.cfg, "POWER_IDLETHRESH");
	long wake = kr_config_int(cc.cfg, "POWER_WAKETHRESH");
	time_t now = time(NULL);
	struct cc_node *victim = NULL;
	int up = 0;

	if (strcmp(kr_config_get(cc.cfg, "SCHEDPOLICY"), "POWERSAVE") != 0)
		return;
	pthread_mutex_lock(&cc.lock);
	for (int i = 0; i < cc.nnodes; i++)
		up += cc.nodes[i]->state == CC_NODE_UP;
	for (int i = 0; i < cc.nnodes && up > 1 && !victim; i++) {
		struct cc_node *n = cc.nodes[i];

		if (n->state == CC_NODE_UP && n->idle_since && !n->ninst && !n->nresv &&
		    now - n->idle_since >= idle && now - n->woken >= wake) {
			victim = n;
			cc_node_hold(n);
			/* From now on no launch may pick it (the call is made unlocked). */
			n->state = CC_NODE_POWEREDOFF;
			n->off_since = now;
		}
	}
	pthread_mutex_unlock(&cc.lock);
	if (victim) {
		struct _nc__ncPowerDown rq = { .correlationId = "powersave", .userId = "karri-cc" };
		struct _nc__ncPowerDownResponse rr;
		bool borrowed = cc_nc_begin(soap, victim);
		int rc = soap_call___nc__ncPowerDown(soap, victim->url, NULL, &rq, &rr);
		bool ok = kr_soap_error_read(soap, rc, &rr._return, &rr.statusMessage, NULL,
		    "ncPowerDown", victim->url) == 0;

		pthread_mutex_lock(&cc.lock);
		if (ok)
			kr_log_info("POWERSAVE: node %s idle for %lds: powered down", victim->url,
			    (long)(now - victim->idle_since));
		else if (victim->state == CC_NODE_POWEREDOFF)
			victim->state = CC_NODE_UP;	/* it refused: it is still up */
		cc_node_release(victim);
		pthread_mutex_unlock(&cc.lock);
		cc_nc_end(soap, victim, borrowed, false);	/* the host is going away */
	}
}

static void *
ticker_main(void *arg)
{
	struct soap *soap = cc_nc_soap_new(cc.poll_timeout_s);

	(void)arg;
	pthread_mutex_lock(&P.qlock);
	while (!P.stopping) {
		struct timespec until;

		pthread_mutex_unlock(&P.qlock);
		start_cycle();
		power_down_idle(soap);
		pthread_mutex_lock(&P.qlock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += cc.poll_s;
		while (!P.stopping && !P.kicked &&
		    pthread_cond_timedwait(&P.tick, &P.qlock, &until) == 0)
			;
		P.kicked = false;
	}
	pthread_mutex_unlock(&P.qlock);
	soap_free(soap);
	return NULL;
}

void
cc_poller_kick(void)
{
	pthread_mutex_lock(&P.qlock);
	P.kicked = true;
	pthread_cond_signal(&P.tick);
	pthread_mutex_unlock(&P.qlock);
}

int
cc_poller_start(void)
{
	if (!(P.queue = calloc(CC_NODES_MAX, sizeof(*P.queue)))) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	for (P.nworkers = 0; P.nworkers < WORKERS_MAX; P.nworkers++)
		if (pthread_create(&P.workers[P.nworkers], NULL, worker_main, NULL) != 0)
			break;
	if (P.nworkers == 0 || pthread_create(&P.ticker, NULL, ticker_main, NULL) != 0) {
		kr_error("InternalError", "cannot start the polling threads");
		return -1;
	}
	return 0;
}

void
cc_poller_stop(void)
{
	pthread_mutex_lock(&P.qlock);
	P.stopping = true;
	pthread_cond_broadcast(&P.qcond);
	pthread_cond_broadcast(&P.tick);
	pthread_mutex_unlock(&P.qlock);
	pthread_join(P.ticker, NULL);
	for (int i = 0; i < P.nworkers; i++)
		pthread_join(P.workers[i], NULL);
}
