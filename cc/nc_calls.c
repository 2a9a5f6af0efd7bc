/*
 * nc_calls.c - the CC's calls to a node on an instance's behalf: the launch
 * (and its rollback) of RunInstances, and the calls TerminateInstances,
 * RebootInstances, GetConsoleOutput, AttachVolume and DetachVolume forward
 * to the node that runs the instance (ops_instances.c answers them).
 */
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "soap/soap_error.h"
#include "nc_calls.h"

int
cc_nc_run(struct soap *soap, struct cc_node *n, const struct _cc__RunInstances *req,
    const struct cc_inst *in, int index)
{
	struct kr__netConfigType net = {
		.privateMacAddress = (char *)in->mac, .privateIp = (char *)in->priv_ip,
		.publicIp = (char *)in->pub_ip, .vlan = in->vlan, .networkIndex = in->net_index,
		.bridge = (char *)in->bridge,
	};
	char launch_index[12];
	char *group = (char *)in->group;
	struct _nc__ncRunInstance rq = {
		.correlationId = req->correlationId, .userId = req->userId,
		.imageId = req->imageId, .imageURL = req->imageURL,
		.kernelId = req->kernelId, .kernelURL = req->kernelURL,
		.ramdiskId = req->ramdiskId, .ramdiskURL = req->ramdiskURL,
		.instanceId = (char *)in->id, .reservationId = req->reservationId,
		.instanceType = req->instanceType, .keyName = req->keyName, .netParams = &net,
		.userData = req->userData, .launchIndex = launch_index,
		.__sizegroupNames = in->group[0] ? 1 : 0, .groupNames = &group,
		.imageHasVirtio = req->imageHasVirtio, .platform = req->platform,
		.imageDigest = req->imageDigest, .kernelDigest = req->kernelDigest,
		.ramdiskDigest = req->ramdiskDigest, .kernelParams = req->kernelParams,
	};
	struct _nc__ncRunInstanceResponse rr;
	bool borrowed = cc_nc_begin(soap, n), ok;
	int rc;

	snprintf(launch_index, sizeof(launch_index), "%d", index);
	rc = soap_call___nc__ncRunInstance(soap, n->url, NULL, &rq, &rr);
	/* The node's own code and message (e.g. InsufficientInstanceCapacity), unchanged. */
	ok = kr_soap_error_read(soap, rc, &rr._return, &rr.statusMessage, NULL, "ncRunInstance",
	    n->url) == 0;
	cc_nc_end(soap, n, borrowed, ok || rc == SOAP_OK);
	return ok ? 0 : -1;
}

void
cc_nc_terminate(struct soap *soap, struct cc_node *n, const char *id)
{
	struct _nc__ncTerminateInstance rq = { .correlationId = "rollback", .userId = "karri-cc",
		.instanceId = (char *)id };
	struct _nc__ncTerminateInstanceResponse rr = { 0 };
	bool borrowed = cc_nc_begin(soap, n);
	int rc = soap_call___nc__ncTerminateInstance(soap, n->url, NULL, &rq, &rr);

	if (rc != SOAP_OK)
		kr_log_warnx("rollback: ncTerminateInstance %s on %s failed (gSOAP %d)", id, n->url, rc);
	cc_nc_end(soap, n, borrowed, rc == SOAP_OK);
}

/* The node running `id`, held; NULL with kr_error when there is none. */
static struct cc_node *
node_of(const char *id)
{
	struct cc_node *n;

	if (!kr_id_valid(id, "i")) {
		kr_error("InvalidInstanceID.Malformed", "bad instance id '%.32s'", id ? id : "");
		return NULL;
	}
	pthread_mutex_lock(&cc.lock);
	if ((n = cc_instance_locate(id, NULL)) != NULL)
		cc_node_hold(n);
	pthread_mutex_unlock(&cc.lock);
	if (!n)
		kr_error("InvalidInstanceID.NotFound", "instance %s is not in this cluster", id);
	return n;
}

int
cc_fwd_begin(struct cc_fwd *f, const char *id)
{
	memset(f, 0, sizeof(*f));
	if (!(f->n = node_of(id)))
		return -1;
	if (!(f->c = cc_nc_soap_new(cc.call_timeout_s))) {
		pthread_mutex_lock(&cc.lock);
		cc_node_release(f->n);
		pthread_mutex_unlock(&cc.lock);
		return -1;
	}
	f->borrowed = cc_nc_begin(f->c, f->n);
	return 0;
}

int
cc_fwd_check(struct cc_fwd *f, const char *what, const enum xsd__boolean *ret, char *const *msg)
{
	return kr_soap_error_read(f->c, f->rc, ret, msg, NULL, what, f->n->url);
}

void
cc_fwd_end(struct cc_fwd *f)
{
	cc_nc_end(f->c, f->n, f->borrowed, f->rc == SOAP_OK);
	soap_free(f->c);
	pthread_mutex_lock(&cc.lock);
	cc_node_release(f->n);
	pthread_mutex_unlock(&cc.lock);
}
