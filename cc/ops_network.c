/*
 * ops_network.c - the CC's network operations: StartNetwork, StopNetwork,
 * DescribeNetworks (wsdl/karri-cc.h).  Each checks its request, calls
 * vnet.c under V.lock and answers through common/soap/soap_error.h.  The
 * security-group rules (ConfigureNetwork) are firewall.c's, the elastic
 * IPs addresses.c's.
 */
#include <string.h>

#include "karriH.h"
#include "cc.h"
#include "core/error.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"
#include "priv.h"
#include "vnet.h"

static int
answer(struct soap *soap, enum xsd__boolean *ret, char **msg, int rc)
{
	*ret = true_;
	return rc == 0 ? SOAP_OK : kr_soap_error_reply(soap, ret, msg);
}

int
__cc__StartNetwork(struct soap *soap, struct _cc__StartNetwork *req,
    struct _cc__StartNetworkResponse *resp)
{
	const char *user = req->userId ? req->userId : "";
	const char *name = req->netName ? req->netName : "";
	struct vnet_net *n;
	int rc = 0;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	if (!vnet_managed())
		return answer(soap, &resp->_return, &resp->statusMessage, 0);
	if (!*name || strlen(name) >= 64 || strlen(user) >= 64) {
		kr_error("InvalidParameterValue", "bad network name");
		return answer(soap, &resp->_return, &resp->statusMessage, -1);
	}
	pthread_mutex_lock(&V.lock);
	n = vnet_net_by_name(user, name);
	if (n && n->vlan != req->vlan && req->vlan >= 0) {
		kr_error("InvalidParameterValue", "group %s of %s has network %d, not %d", name, user,
		    n->vlan, req->vlan);
		rc = -1;
	} else if (!n && vnet_net_find(req->vlan)) {
		kr_error("InvalidParameterValue", "network %d belongs to another group", req->vlan);
		rc = -1;
	} else if (!n && (req->vlan < V.vlan_min || req->vlan > V.vlan_max)) {
		kr_error("InvalidParameterValue", "network %d is not in %d..%d", req->vlan,
		    V.vlan_min, V.vlan_max);
		rc = -1;
	} else if (!n) {
		rc = vnet_net_start(user, name, req->vlan) < 0 ? -1 : 0;
		if (rc == 0)
			rc = cc_priv_dhcp_sync();
	}
	pthread_mutex_unlock(&V.lock);
	return answer(soap, &resp->_return, &resp->statusMessage, rc);
}

int
__cc__StopNetwork(struct soap *soap, struct _cc__StopNetwork *req,
    struct _cc__StopNetworkResponse *resp)
{
	struct vnet_net *n;
	int rc = 0;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	if (!vnet_managed())
		return answer(soap, &resp->_return, &resp->statusMessage, 0);
	pthread_mutex_lock(&V.lock);
	n = vnet_net_find(req->vlan);
	if (n && req->netName && strcmp(n->name, req->netName) != 0) {
		kr_error("InvalidParameterValue", "network %d is group %s, not %.64s", req->vlan,
		    n->name, req->netName);
		rc = -1;
	} else if (n) {
		rc = vnet_net_stop(n);
	}
	pthread_mutex_unlock(&V.lock);
	return answer(soap, &resp->_return, &resp->statusMessage, rc);
}

int
__cc__DescribeNetworks(struct soap *soap, struct _cc__DescribeNetworks *req,
    struct _cc__DescribeNetworksResponse *resp)
{
	KR_SOAP_ECHO(resp, req);
	resp->_return = true_;
	resp->mode = (char *)V.mode_name;
	resp->addrsPerNet = V.apn;
	resp->vlanMin = V.vlan_min;
	resp->vlanMax = V.vlan_max;
	pthread_mutex_lock(&V.lock);
	resp->__sizeactiveNetworks = V.nnets;
	resp->activeNetworks = soap_malloc(soap, (size_t)V.nnets * sizeof(*resp->activeNetworks) + 1);
	for (int i = 0; i < V.nnets; i++) {
		struct cc__networkType *w = &resp->activeNetworks[i];
		int k = 0;

		soap_default_cc__networkType(soap, w);
		w->vlan = V.nets[i].vlan;
		w->netName = soap_strdup(soap, V.nets[i].name);
		w->userName = soap_strdup(soap, V.nets[i].user);
		w->activeAddrs = soap_malloc(soap, (size_t)V.apn * sizeof(int));
		for (int j = 0; w->activeAddrs && j < V.nleases && k < V.apn; j++)
			if (V.leases[j].vlan == w->vlan)
				w->activeAddrs[k++] = V.leases[j].index;
		w->__sizeactiveAddrs = k;
	}
	pthread_mutex_unlock(&V.lock);
	return SOAP_OK;
}
