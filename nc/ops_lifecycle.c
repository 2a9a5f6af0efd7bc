/*
 * ops_lifecycle.c - ncTerminateInstance, ncRebootInstance, ncPowerDown.
 *
 * Terminate tears down in the calling worker (volumes detached first, then
 * the domain, devices and files: launch.c's nc_teardown), so when it
 * answers nothing of the instance is left.  An instance still launching is
 * marked and torn down by its launch thread as soon as it gets there.  A
 * second terminate forgets an instance that is already torn down.
 */
#include <stdio.h>
#include <string.h>

#include "karriH.h"
#include "core/error.h"
#include "core/log.h"
#include "nc.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

int
__nc__ncTerminateInstance(struct soap *soap, struct _nc__ncTerminateInstance *req,
    struct _nc__ncTerminateInstanceResponse *resp)
{
	struct nc_instance *in;
	const char *id = req->instanceId;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	nc_table_lock();
	if (!id || !(in = nc_table_find(id))) {
		nc_table_unlock();
		kr_error("InvalidInstanceID.NotFound", "no instance %s on this node", id ? id : "");
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	resp->instanceId = soap_strdup(soap, in->id);
	resp->previousState = (char *)nc_state_name(in->state);
	resp->shutdownState = "Teardown";
	resp->_return = true_;
	if (in->busy) {
		in->terminating = true;
		kr_log_info("%s: terminate asked while %s: done when that finishes", in->id,
		    nc_state_detail(in->state));
		nc_table_unlock();
		return SOAP_OK;
	}
	if (in->state == NC_ST_TEARDOWN && !in->dir[0]) {
		kr_log_info("%s: forgotten", in->id);
		nc_table_remove(in);
		nc_table_unlock();
		return SOAP_OK;
	}
	in->busy = true;
	in->terminating = true;
	nc_table_unlock();
	nc_teardown(in, "terminated");
	nc_table_lock();
	in->busy = false;
	nc_table_unlock();
	return SOAP_OK;
}

int
__nc__ncRebootInstance(struct soap *soap, struct _nc__ncRebootInstance *req,
    struct _nc__ncRebootInstanceResponse *resp)
{
	struct nc_instance *in;
	char id[NC_ID_MAX];

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	nc_table_lock();
	in = req->instanceId ? nc_table_find(req->instanceId) : NULL;
	if (!in || in->state != NC_ST_RUNNING || in->busy) {
		kr_error(in ? "IncorrectInstanceState" : "InvalidInstanceID.NotFound",
		    "instance %s is not running here", req->instanceId ? req->instanceId : "");
		nc_table_unlock();
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	snprintf(id, sizeof(id), "%s", in->id);
	nc_table_unlock();
	if (!nc_node.hv->reboot) {
		kr_error("Unsupported", "%s cannot reboot instances", nc_node.hv->name);
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	if (nc_priv_domain_reboot(id) < 0)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	kr_log_info("%s: rebooted", id);
	resp->_return = true_;
	return SOAP_OK;
}

int
__nc__ncPowerDown(struct soap *soap, struct _nc__ncPowerDown *req,
    struct _nc__ncPowerDownResponse *resp)
{
	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	if (!nc_node.hv->power_down) {
		/* Powering the host off needs the host's own power management,
		 * which simulated nodes (namespaces of one machine) do not have. */
		kr_error("Unsupported", "this node cannot power itself down");
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	if (nc_node.hv->power_down() < 0)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	resp->_return = true_;
	return SOAP_OK;
}
