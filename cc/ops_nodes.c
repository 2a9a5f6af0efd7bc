/*
 * ops_nodes.c - RegisterNodes and DeregisterNodes (wsdl/karri-cc.h): the
 * nodes `karri register-nodes` adds at run time, remembered in cc.db
 * (state.c) and kept in the registry (node_registry.c); a new node is
 * polled at once (poller.c).
 */
#include "karriH.h"
#include "cc.h"
#include "core/error.h"
#include "core/log.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

#define REGISTER_MAX 4096	/* nodes per RegisterNodes call */

static int
answer(struct soap *soap, enum xsd__boolean *ret, char **msg, int ok)
{
	*ret = true_;
	return ok == 0 ? SOAP_OK : kr_soap_error_reply(soap, ret, msg);
}

int
__cc__RegisterNodes(struct soap *soap, struct _cc__RegisterNodes *req,
    struct _cc__RegisterNodesResponse *resp)
{
	int rc = 0, added = 0;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	if (req->__sizenodes < 0 || req->__sizenodes > REGISTER_MAX) {
		kr_error("InvalidParameterValue", "at most %d nodes per call", REGISTER_MAX);
		return answer(soap, &resp->_return, &resp->statusMessage, -1);
	}
	/* Check every name first: a bad one registers none. */
	for (int i = 0; i < req->__sizenodes; i++) {
		char host[CC_HOST_MAX];
		int port;

		if (cc_node_parse(req->nodes[i], cc.nc_port, host, &port) < 0)
			return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	for (int i = 0; i < req->__sizenodes && rc == 0; i++) {
		char host[CC_HOST_MAX];
		int port;

		cc_node_parse(req->nodes[i], cc.nc_port, host, &port);
		if ((rc = cc_state_node_save(host, port)) < 0)
			break;
		pthread_mutex_lock(&cc.lock);
		if (!cc_node_add(host, port, false))
			rc = -1;
		pthread_mutex_unlock(&cc.lock);
		added++;
	}
	kr_log_info("RegisterNodes: %d node(s)", added);
	cc_poller_kick();
	return answer(soap, &resp->_return, &resp->statusMessage, rc);
}

int
__cc__DeregisterNodes(struct soap *soap, struct _cc__DeregisterNodes *req,
    struct _cc__DeregisterNodesResponse *resp)
{
	int rc = 0;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	for (int i = 0; i < req->__sizenodes && rc == 0; i++) {
		char host[CC_HOST_MAX];
		int port;
		struct cc_node *n;

		if ((rc = cc_node_parse(req->nodes[i], cc.nc_port, host, &port)) < 0)
			break;
		rc = cc_state_node_forget(host, port);
		pthread_mutex_lock(&cc.lock);
		if ((n = cc_node_find(host, port)) != NULL) {
			if (n->configured)
				kr_log_warnx("deregistered %s is in NODES: it returns at restart", n->url);
			cc_node_remove(n);
		}
		pthread_mutex_unlock(&cc.lock);
	}
	return answer(soap, &resp->_return, &resp->statusMessage, rc);
}
