/*
 * ops_common.c - between the NC contract's gSOAP structs and the NC's own.
 *
 * Errors reach the edge through common/soap/soap_error.c (kr_soap_error_reply):
 * the kr_error recorded where a failure was detected becomes `return=false`
 * and "Code: message".
 */
#include <stdio.h>
#include <string.h>

#include "karriH.h"
#include "core/error.h"
#include "nc.h"
#include "soap/soap_server.h"

char *
nc_soap_strdup(struct soap *soap, const char *s)
{
	return s && *s ? soap_strdup(soap, s) : NULL;
}

static struct kr__volumeType *
volumes(struct soap *soap, const struct nc_instance *in)
{
	struct kr__volumeType *v;

	if (in->nvolumes == 0)
		return NULL;
	v = soap_malloc(soap, (size_t)in->nvolumes * sizeof(*v));
	for (int i = 0; v && i < in->nvolumes; i++) {
		soap_default_kr__volumeType(soap, &v[i]);
		v[i].volumeId = nc_soap_strdup(soap, in->volumes[i].id);
		v[i].remoteDev = nc_soap_strdup(soap, in->volumes[i].remote);
		v[i].localDev = nc_soap_strdup(soap, in->volumes[i].target);
		v[i].state = "attached";
		v[i].attachment = nc_soap_strdup(soap, in->volumes[i].attachment);
	}
	return v;
}

void
nc_soap_instance(struct soap *soap, const struct nc_instance *in, struct nc__instanceType *out)
{
	struct kr__virtualMachineType *t = soap_malloc(soap, sizeof(*t));
	struct kr__netConfigType *n = soap_malloc(soap, sizeof(*n));

	soap_default_nc__instanceType(soap, out);
	out->reservationId = nc_soap_strdup(soap, in->reservation);
	out->instanceId = nc_soap_strdup(soap, in->id);
	out->imageId = nc_soap_strdup(soap, in->image_id);
	out->kernelId = nc_soap_strdup(soap, in->kernel_id);
	out->ramdiskId = nc_soap_strdup(soap, in->ramdisk_id);
	out->userId = nc_soap_strdup(soap, in->user);
	out->stateName = (char *)nc_state_name(in->state);
	out->stateDetail = (char *)nc_state_detail(in->state);
	out->stateReason = nc_soap_strdup(soap, in->reason);
	out->launchTime = (long)in->launch_time;
	out->launchIndex = nc_soap_strdup(soap, in->launch_index);
	out->keyName = in->key_name[0] ? nc_soap_strdup(soap, in->key_name) : NULL;
	out->userData = in->user_data[0] ? nc_soap_strdup(soap, in->user_data) : NULL;
	out->diskAttachment = nc_soap_strdup(soap, in->disk_attachment);
	out->netAttachment = nc_soap_strdup(soap, in->net_attachment);
	out->__sizevolumes = in->nvolumes;
	out->volumes = volumes(soap, in);
	if (t) {
		soap_default_kr__virtualMachineType(soap, t);
		t->name = nc_soap_strdup(soap, in->type_name);
		t->memory = in->memory_mib;
		t->cores = in->cores;
		t->disk = in->disk_gib;
		t->ioClass = nc_soap_strdup(soap, in->io_class);
		out->instanceType = t;
	}
	if (n) {
		soap_default_kr__netConfigType(soap, n);
		n->privateMacAddress = nc_soap_strdup(soap, in->mac);
		n->privateIp = nc_soap_strdup(soap, in->ip);
		n->publicIp = nc_soap_strdup(soap, in->public_ip);
		n->vlan = in->vlan;
		n->networkIndex = in->network_index;
		n->bridge = nc_soap_strdup(soap, in->bridge);
		out->netParams = n;
	}
}
