/*
 * scheduler.c - which node runs an instance (SCHEDPOLICY), and the
 * reservations that keep concurrent launches from over-committing a node.
 *
 * A node's free capacity is what its NC last reported minus the instances
 * the CC has placed there since and the NC has not reported yet (the
 * reservations).  RunInstances places all its instances and reserves their
 * capacity in one step under cc.lock, before any NC is called; two
 * concurrent RunInstances therefore each see the other's reservations.  A
 * reservation ends when the node's answer includes the instance (its
 * numbers now count it), when the launch fails, or after CC_RESV_TTL_S.
 *
 * Policies (Eucalyptus' names):
 *   GREEDY      the first node, in registry order, that fits;
 *   ROUNDROBIN  the first that fits after the node used last;
 *   POWERSAVE   pack: the fitting UP node with the least free capacity.
 * All callers hold cc.lock.
 */
#include <stdlib.h>
#include <string.h>

#include "cc.h"
#include "core/error.h"
#include "core/log.h"

bool
cc_res_fits(const struct cc_res *have, const struct cc_res *need)
{
	return have->cores >= need->cores && have->memory >= need->memory &&
	    have->disk >= need->disk;
}

/* How many instances of `need` fit into `have`. */
int
cc_fits_count(const struct cc_res *have, const struct cc_res *need)
{
	int n = 1 << 30;

	if (need->cores > 0 && have->cores / need->cores < n)
		n = have->cores / need->cores;
	if (need->memory > 0 && have->memory / need->memory < n)
		n = have->memory / need->memory;
	if (need->disk > 0 && have->disk / need->disk < n)
		n = have->disk / need->disk;
	if (have->cores < 0 || have->memory < 0 || have->disk < 0)
		return 0;
	return n == 1 << 30 ? 0 : n;
}

struct cc_res
cc_node_free(const struct cc_node *n)
{
	struct cc_res r = n->avail;

	for (int i = 0; i < n->nresv; i++) {
		r.cores -= n->resv[i].inst.need.cores;
		r.memory -= n->resv[i].inst.need.memory;
		r.disk -= n->resv[i].inst.need.disk;
	}
	return r;
}

struct cc_resv *
cc_resv_add(struct cc_node *n, const struct cc_inst *in)
{
	if (n->nresv == n->resv_cap) {
		int cap = n->resv_cap ? 2 * n->resv_cap : 8;
		struct cc_resv *p = realloc(n->resv, (size_t)cap * sizeof(*p));

		if (!p) {
			kr_error("InternalError", "out of memory");
			return NULL;
		}
		n->resv = p;
		n->resv_cap = cap;
	}
	n->resv[n->nresv] = (struct cc_resv){ .inst = *in, .at = time(NULL) };
	n->idle_since = 0;
	return &n->resv[n->nresv++];
}

void
cc_resv_drop(struct cc_node *n, const char *id)
{
	for (int i = 0; i < n->nresv; i++)
		if (strcmp(n->resv[i].inst.id, id) == 0) {
			n->resv[i] = n->resv[--n->nresv];
			return;
		}
}

void
cc_resv_expire(struct cc_node *n, time_t now)
{
	for (int i = 0; i < n->nresv; i++)
		if (n->resv[i].confirmed && now - n->resv[i].at > CC_RESV_TTL_S) {
			kr_log_warnx("node %s never reported %s: reservation dropped", n->url,
			    n->resv[i].inst.id);
			n->resv[i--] = n->resv[--n->nresv];
		}
}

/*
 * Only UP nodes take instances.  A powered-off node would need waking, and
 * wake-on-LAN (a magic packet to the node's MAC) is not something this CC
 * can send, nor could it cross the test namespaces: such a node is used
 * again once it answers polls (an admin or a BMC powered it on).
 */
static bool
usable(const struct cc_node *n)
{
	return n->state == CC_NODE_UP;
}

/* Pick one node for `need`, given what is already tentatively placed. */
static struct cc_node *
pick(const char *policy, const struct cc_res *need, struct cc_res *free_of)
{
	int best = -1;

	if (strcmp(policy, "POWERSAVE") == 0) {
		for (int i = 0; i < cc.nnodes; i++) {
			if (!usable(cc.nodes[i]) || !cc_res_fits(&free_of[i], need))
				continue;
			if (best < 0 || free_of[i].cores < free_of[best].cores ||
			    (free_of[i].cores == free_of[best].cores &&
			    free_of[i].memory < free_of[best].memory))
				best = i;
		}
	} else {
		bool rr = strcmp(policy, "ROUNDROBIN") == 0;
		int start = rr && cc.nnodes ? (int)(cc.rr_next % (unsigned)cc.nnodes) : 0;

		for (int k = 0; k < cc.nnodes && best < 0; k++) {
			int i = (start + k) % cc.nnodes;

			if (usable(cc.nodes[i]) && cc_res_fits(&free_of[i], need))
				best = i;
		}
		if (rr && best >= 0)
			cc.rr_next = (unsigned)best + 1;
	}
	if (best < 0)
		return NULL;
	free_of[best].cores -= need->cores;
	free_of[best].memory -= need->memory;
	free_of[best].disk -= need->disk;
	return cc.nodes[best];
}

static void
warn_powered_off(void)
{
	int off = 0;

	for (int i = 0; i < cc.nnodes; i++)
		off += cc.nodes[i]->state == CC_NODE_POWEREDOFF;
	if (off)
		kr_log_warnx("%d powered-off node(s) could take the launch if woken: "
		    "wake-on-LAN is not supported by this CC", off);
}

/*
 * Place up to max instances, in order, and at least min of them (EC2's
 * MinCount/MaxCount): the number placed, or -1 + InsufficientInstanceCapacity
 * when fewer than min fit (then nothing is placed).
 */
int
cc_sched_place(const struct cc_res *need, int min, int max, struct cc_node **out)
{
	const char *policy = kr_config_get(cc.cfg, "SCHEDPOLICY");
	struct cc_res *free_of;
	unsigned rr_saved = cc.rr_next;
	int k = 0;

	if (min < 1 || min > max || max > CC_RUN_MAX || need->cores < 0 || need->memory < 0 ||
	    need->disk < 0) {
		kr_error("InvalidParameterValue", "bad instance count or type");
		return -1;
	}
	if (!(free_of = calloc((size_t)cc.nnodes + 1, sizeof(*free_of)))) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	for (int i = 0; i < cc.nnodes; i++)
		free_of[i] = cc_node_free(cc.nodes[i]);
	while (k < max && (out[k] = pick(policy, need, free_of)) != NULL)
		k++;
	free(free_of);
	if (k >= min)
		return k;
	warn_powered_off();
	cc.rr_next = rr_saved;	/* nothing was placed: nothing moved on */
	kr_error("InsufficientInstanceCapacity",
	    "not enough capacity for %d instance(s) of %d core(s), %d MiB, %d GiB "
	    "(%d placed)", min, need->cores, need->memory, need->disk, k);
	return -1;
}
