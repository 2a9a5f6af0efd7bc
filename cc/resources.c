/*
 * resources.c - DescribeResources: for each instance type the CLC asks
 * about, how many fit in the cluster at most and how many more fit now,
 * plus every node with its state and numbers.  From the poller's cache;
 * capacity reserved by launches in flight counts as taken.
 *
 * maxInstances counts every node that is not DOWN (a powered-off node can
 * be woken); availableInstances only what is free on UP nodes right now.
 */
#include <stdlib.h>
#include <string.h>

#include "karriH.h"
#include "cc.h"
#include "core/error.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

#define TYPES_MAX 64

int
__cc__DescribeResources(struct soap *soap, struct _cc__DescribeResources *req,
    struct _cc__DescribeResourcesResponse *resp)
{
	int nt = req->__sizeinstanceTypes;

	KR_SOAP_ECHO(resp, req);
	if (nt < 0 || nt > TYPES_MAX) {
		kr_error("InvalidParameterValue", "too many instance types");
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	resp->resources = soap_malloc(soap, (size_t)nt * sizeof(*resp->resources) + 1);
	resp->__sizeresources = nt;
	for (int t = 0; t < nt; t++) {
		soap_default_cc__resourceType(soap, &resp->resources[t]);
		resp->resources[t].instanceType = &req->instanceTypes[t];
	}
	resp->pollCycleMs = soap_malloc(soap, sizeof(int));
	resp->pollCycles = soap_malloc(soap, sizeof(int));
	pthread_mutex_lock(&cc.lock);
	resp->nodes = soap_malloc(soap, (size_t)cc.nnodes * sizeof(*resp->nodes) + 1);
	resp->__sizenodes = cc.nnodes;
	*resp->pollCycleMs = (int)cc.cycle_ms;
	*resp->pollCycles = (int)(cc.cycles_done & 0x7fffffff);
	for (int i = 0; i < cc.nnodes; i++) {
		struct cc_node *n = cc.nodes[i];
		struct cc_res f = cc_node_free(n);
		struct cc__nodeType *w = &resp->nodes[i];

		soap_default_cc__nodeType(soap, w);
		w->serviceTag = soap_strdup(soap, n->url);
		w->state = (char *)cc_node_state_name(n->state);
		w->coresMax = n->max.cores;
		w->coresAvailable = f.cores;
		w->memoryMax = n->max.memory;
		w->memoryAvailable = f.memory;
		w->diskMax = n->max.disk;
		w->diskAvailable = f.disk;
		w->instances = n->ninst + n->nresv;
		for (int t = 0; t < nt; t++) {
			const struct kr__virtualMachineType *vm = &req->instanceTypes[t];
			struct cc_res need = { vm->cores, vm->memory, vm->disk };

			if (n->state == CC_NODE_DOWN || n->state == CC_NODE_UNKNOWN)
				continue;
			resp->resources[t].maxInstances += cc_fits_count(&n->max, &need);
			if (n->state == CC_NODE_UP)
				resp->resources[t].availableInstances += cc_fits_count(&f, &need);
		}
	}
	pthread_mutex_unlock(&cc.lock);
	resp->_return = true_;
	return SOAP_OK;
}
