/*
 * ops.c - the NC contract (wsdl/karri-nc.h) as karri-ncsim answers it: from
 * the simulated node the connection reached (soap->user, set by serve.c).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/log.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"
#include "vnet/vnet_bridge.h"
#include "ncsim.h"

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
	found = ncsim_find(node_of(soap), id) != NULL;
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
	if ((in = ncsim_find(n, req->instanceId)) == NULL &&
	    (in = ncsim_add_instance(n, req->instanceId, req->instanceType, &why)) != NULL) {
		ncsim_copy(in->reservation, sizeof(in->reservation), req->reservationId);
		ncsim_copy(in->image, sizeof(in->image), req->imageId);
		ncsim_copy(in->user, sizeof(in->user), req->userId);
		if (req->__sizegroupNames > 0)
			ncsim_copy(in->group, sizeof(in->group), req->groupNames[0]);
		if (req->netParams) {
			ncsim_copy(in->mac, sizeof(in->mac), req->netParams->privateMacAddress);
			ncsim_copy(in->ip, sizeof(in->ip), req->netParams->privateIp);
			ncsim_copy(in->pub, sizeof(in->pub), req->netParams->publicIp);
			ncsim_copy(in->bridge, sizeof(in->bridge), req->netParams->bridge);
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
	in = ncsim_find(n, req->instanceId);
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
	ncsim_used(n, &c, &m, &d);
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
	in = ncsim_find(node_of(soap), req->instanceId);
	if (in && strstr(in->net_att, "storage="))
		how = "guest";
	if (in && in->nvols < VOL_MAX && req->volumeId) {
		struct sim_vol *v = &in->vols[in->nvols++];

		ncsim_copy(v->id, sizeof(v->id), req->volumeId);
		ncsim_copy(v->local, sizeof(v->local), req->localDev);
		ncsim_copy(v->attachment, sizeof(v->attachment), how);
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
	in = ncsim_find(node_of(soap), req->instanceId);
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
