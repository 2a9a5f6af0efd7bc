/*
 * ops_network.c - ncStartNetwork.
 *
 * With a VLAN (MANAGED mode) the NC makes the security group's segment on
 * this node (nc/vnet.c: krv<vlan> + bridge krbr<vlan>), idempotently, so
 * that the instances the CC is about to place here can join it.  Without
 * one (SYSTEM, STATIC, MANAGED-NOVLAN) instances join an existing bridge
 * (VNET_BRIDGE): the NC checks it is there, and libvirt makes each
 * instance's tap on it.  remoteHosts (Eucalyptus' tunnels between
 * clusters) are checked and not used: the segment reaches every host on
 * the private LAN by itself.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>

#include "karriH.h"
#include "core/error.h"
#include "core/log.h"
#include "nc.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

int
__nc__ncStartNetwork(struct soap *soap, struct _nc__ncStartNetwork *req,
    struct _nc__ncStartNetworkResponse *resp)
{
	struct in_addr a;
	char br[16];

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	for (int i = 0; i < req->__sizeremoteHosts; i++) {
		if (!req->remoteHosts[i] || inet_pton(AF_INET, req->remoteHosts[i], &a) != 1) {
			kr_error("InvalidParameterValue", "remoteHosts must be IPv4 addresses");
			return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
		}
	}
	if (req->vlan > 0) {
		if (nc_priv_vlan_up(req->vlan, br) < 0)
			return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
		kr_log_info("network %d: instances join bridge %s", req->vlan, br);
	} else if (nc_vnet_instance_bridge(-1, NULL, br) < 0) {
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	} else {
		kr_log_info("network: instances join bridge %s", br);
	}
	resp->networkStatus = "SUCCESS";
	resp->_return = true_;
	return SOAP_OK;
}
