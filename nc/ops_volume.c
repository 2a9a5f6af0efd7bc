/*
 * ops_volume.c - ncAttachVolume and ncDetachVolume (the work is volume.c).
 *
 * The instance is marked busy for the duration, so a terminate cannot pull
 * the domain away in the middle of a hot-plug.
 */
#include <stdio.h>
#include <string.h>

#include "karriH.h"
#include "core/error.h"
#include "core/log.h"
#include "nc.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

/* The running, idle instance `id`, marked busy; NULL + kr_error. */
static struct nc_instance *
take(const char *id)
{
	struct nc_instance *in;

	nc_table_lock();
	in = id ? nc_table_find(id) : NULL;
	if (!in || in->state != NC_ST_RUNNING || in->busy) {
		kr_error(in ? "IncorrectInstanceState" : "InvalidInstanceID.NotFound",
		    "instance %s is not running here or is busy", id ? id : "");
		in = NULL;
	} else {
		in->busy = true;
	}
	nc_table_unlock();
	return in;
}

/* Done with it; a terminate that arrived meanwhile happens now. */
static void
give_back(struct nc_instance *in)
{
	nc_table_lock();
	in->busy = false;
	if (in->terminating && nc_teardown_start(in, "terminated") < 0)
		kr_log_errorx("%s: %s", in->id, kr_error_message());
	nc_table_unlock();
}

int
__nc__ncAttachVolume(struct soap *soap, struct _nc__ncAttachVolume *req,
    struct _nc__ncAttachVolumeResponse *resp)
{
	struct nc_instance *in;
	char how[16];
	int rc;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	if (!nc_node.hv->hotplug) {
		kr_error("Unsupported", "%s instances take no volumes", nc_node.hv->name);
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	if (!req->volumeId || !(in = take(req->instanceId)))
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	rc = nc_volume_attach(in, req->volumeId, req->remoteDev, req->localDev, how, sizeof(how));
	give_back(in);
	if (rc < 0)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	resp->attachment = soap_strdup(soap, how);
	resp->_return = true_;
	return SOAP_OK;
}

int
__nc__ncDetachVolume(struct soap *soap, struct _nc__ncDetachVolume *req,
    struct _nc__ncDetachVolumeResponse *resp)
{
	struct nc_instance *in;
	int rc;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	if (!req->volumeId || !(in = take(req->instanceId)))
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	rc = nc_volume_detach(in, req->volumeId, req->force && *req->force == true_);
	give_back(in);
	if (rc < 0)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	resp->_return = true_;
	return SOAP_OK;
}
