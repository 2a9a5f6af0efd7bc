/*
 * state.c - karri-ncsim's simulated nodes and their instances: all its
 * state, in one struct under one lock (ncsim.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ncsim.h"

struct ncsim sim = { .port = 8775, .nodes = 1, .cores = 8, .memory = 16384, .disk = 200,
	.workers = 4, .lock = PTHREAD_MUTEX_INITIALIZER, .qlock = PTHREAD_MUTEX_INITIALIZER,
	.qcond = PTHREAD_COND_INITIALIZER };

volatile sig_atomic_t ncsim_stop, ncsim_wake;

void
ncsim_copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

struct sim_inst *
ncsim_find(struct sim_node *n, const char *id)
{
	for (int i = 0; id && i < n->ninst; i++)
		if (strcmp(n->inst[i].id, id) == 0)
			return &n->inst[i];
	return NULL;
}

void
ncsim_used(const struct sim_node *n, int *cores, int *mem, int *disk)
{
	*cores = *mem = *disk = 0;
	for (int i = 0; i < n->ninst; i++) {
		*cores += n->inst[i].cores;
		*mem += n->inst[i].memory;
		*disk += n->inst[i].disk;
	}
}

/* Add an instance to a node; the caller holds sim.lock.  NULL when it does not fit. */
struct sim_inst *
ncsim_add_instance(struct sim_node *n, const char *id, const struct kr__virtualMachineType *t,
    const char **why)
{
	int c, m, d;
	struct sim_inst *in;

	if (!n->inst && !(n->inst = calloc(INST_MAX, sizeof(*n->inst)))) {
		*why = "InternalError: out of memory";
		return NULL;
	}
	ncsim_used(n, &c, &m, &d);
	if (n->ninst >= INST_MAX || c + t->cores > sim.cores || m + t->memory > sim.memory ||
	    d + t->disk > sim.disk) {
		*why = "InsufficientInstanceCapacity: the node is full";
		return NULL;
	}
	in = &n->inst[n->ninst++];
	memset(in, 0, sizeof(*in));
	ncsim_copy(in->id, sizeof(in->id), id);
	ncsim_copy(in->type, sizeof(in->type), t->name);
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

/* Fill each node with `per_node` m1.small-like instances (before any worker runs). */
void
ncsim_prefill(int per_node)
{
	struct kr__virtualMachineType t = { .name = "m1.small", .cores = 1, .memory = 256, .disk = 5 };

	for (int k = 0; k < sim.nodes; k++)
		for (int i = 0; i < per_node; i++) {
			char id[KR_ID_MAX];
			const char *why;
			struct sim_inst *in;

			snprintf(id, sizeof(id), "i-%08x", (unsigned)(k * 65536 + i + 0x10000000));
			if (!(in = ncsim_add_instance(&sim.node[k], id, &t, &why))) {
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

