/*
 * ops_network.c - ncStartNetwork.
 *
 * In SYSTEM, STATIC and MANAGED-NOVLAN modes instances join an existing
 * bridge (VNET_BRIDGE, or the bridge in the run request): the NC checks it
 * is there, and libvirt makes each instance's tap on it.  VLAN bridges
 * (MANAGED mode) come with the CC's network work: asked for one, the NC
 * says so instead of pretending.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>

#include "karriH.h"
#include "error.h"
#include "log.h"
#include "nc.h"
#include "soap_server.h"

int
__nc__ncStartNetwork(struct soap *soap, struct _nc__ncStartNetwork *req,
    struct _nc__ncStartNetworkResponse *resp)
{
	struct in_addr a;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	for (int i = 0; i < req->__sizeremoteHosts; i++) {
		if (!req->remoteHosts[i] || inet_pton(AF_INET, req->remoteHosts[i], &a) != 1) {
			kr_error("InvalidParameterValue", "remoteHosts must be IPv4 addresses");
			return nc_soap_fail(soap, &resp->_return, &resp->statusMessage);
		}
	}
	if (req->vlan > 0) {
		kr_error("Unsupported", "VLAN %d: MANAGED mode bridges are not built on nodes yet",
		    req->vlan);
		return nc_soap_fail(soap, &resp->_return, &resp->statusMessage);
	}
	if (if_nametoindex(nc_node.bridge) == 0) {
		kr_error("InvalidParameterValue", "bridge %s does not exist on this node",
		    nc_node.bridge);
		return nc_soap_fail(soap, &resp->_return, &resp->statusMessage);
	}
	kr_log_info("network: instances join bridge %s", nc_node.bridge);
	resp->networkStatus = "SUCCESS";
	resp->_return = true_;
	return SOAP_OK;
}
