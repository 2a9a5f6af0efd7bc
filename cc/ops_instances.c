/*
 * ops_instances.c - the instance operations of the CC contract: RunInstances
 * (placement of as many as fit between minCount and the ids given, network,
 * launch on the NCs, all placed or nothing), DescribeInstances
 * (from the poller's cache, never from a node) and the calls forwarded to
 * the node that runs an instance (terminate, reboot, console, volumes); the
 * calls to the nodes themselves are nc_calls.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "karriH.h"
#include "cc.h"
#include "nc_calls.h"
#include "core/error.h"
#include "core/log.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"
#include "vnet.h"

static void
cp(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

/*
 * A string for the answer: copied into the context's memory, or (copy
 * false) used in place because it already lives there.
 */
static char *
str(struct soap *soap, const char *s, bool copy)
{
	if (!s || !*s)
		return NULL;
	return copy ? soap_strdup(soap, s) : (char *)s;
}

/*
 * One instance on the wire.  type/net/group point at storage for the nested
 * parts (DescribeInstances allocates them for all instances at once: one
 * allocation per array instead of a few dozen per instance).
 */
static void
to_wire(struct soap *soap, const struct cc_inst *in, char *url, const char *node_state,
    bool copy, struct cc__instanceType *w, struct kr__virtualMachineType *type,
    struct kr__netConfigType *net, char **group)
{
	soap_default_cc__instanceType(soap, w);
	w->instanceId = str(soap, in->id, copy);
	w->reservationId = str(soap, in->reservation, copy);
	w->imageId = str(soap, in->image, copy);
	w->kernelId = str(soap, in->kernel, copy);
	w->ramdiskId = str(soap, in->ramdisk, copy);
	w->userId = str(soap, in->user, copy);
	w->keyName = str(soap, in->key, copy);
	w->stateName = in->state[0] ? str(soap, in->state, copy) : "Pending";
	w->stateReason = str(soap, in->reason, copy);
	w->launchTime = in->launched;
	w->serviceTag = url;
	w->launchIndex = str(soap, in->launch_index, copy);
	w->diskAttachment = str(soap, in->disk_att, copy);
	w->netAttachment = str(soap, in->net_att, copy);
	w->nodeState = (char *)node_state;
	w->instanceType = type;
	soap_default_kr__virtualMachineType(soap, type);
	type->name = str(soap, in->type, copy);
	type->cores = in->need.cores;
	type->memory = in->need.memory;
	type->disk = in->need.disk;
	w->netParams = net;
	soap_default_kr__netConfigType(soap, net);
	net->privateMacAddress = str(soap, in->mac, copy);
	net->privateIp = str(soap, in->priv_ip, copy);
	net->publicIp = str(soap, in->pub_ip, copy);
	net->vlan = in->vlan;
	net->networkIndex = in->net_index;
	net->bridge = str(soap, in->bridge, copy);
	if (in->group[0]) {
		w->__sizegroupNames = 1;
		w->groupNames = group;
		*group = str(soap, in->group, copy);
	}
	if (in->nvols && in->vols) {
		w->__sizevolumes = in->nvols;
		w->volumes = soap_malloc(soap, (size_t)in->nvols * sizeof(*w->volumes));
		for (int i = 0; w->volumes && i < in->nvols; i++) {
			soap_default_kr__volumeType(soap, &w->volumes[i]);
			w->volumes[i].volumeId = soap_strdup(soap, in->vols[i].id);
			w->volumes[i].localDev = str(soap, in->vols[i].local, true);
			w->volumes[i].state = str(soap, in->vols[i].state, true);
			w->volumes[i].attachment = str(soap, in->vols[i].attachment, true);
		}
		if (!w->volumes)
			w->__sizevolumes = 0;
	}
}

/* --- RunInstances ------------------------------------------------------------ */

static int
check_run(const struct _cc__RunInstances *req)
{
	int n = req->__sizeinstanceIds;
	const struct kr__virtualMachineType *t = req->instanceType;

	if (n < 1 || n > CC_RUN_MAX || !req->instanceIds) {
		kr_error("InvalidParameterValue", "1..%d instance ids are needed", CC_RUN_MAX);
		return -1;
	}
	if (!t || t->cores < 0 || t->memory < 0 || t->disk < 0 || t->cores > 4096 ||
	    t->memory > (1 << 30) || t->disk > (1 << 30)) {
		kr_error("InvalidParameterValue", "bad or missing instance type");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (!kr_id_valid(req->instanceIds[i], "i")) {
			kr_error("InvalidParameterValue", "bad instance id '%.32s'",
			    req->instanceIds[i] ? req->instanceIds[i] : "");
			return -1;
		}
		for (int j = 0; j < i; j++)
			if (strcmp(req->instanceIds[i], req->instanceIds[j]) == 0) {
				kr_error("InvalidParameterValue", "instance id %s given twice",
				    req->instanceIds[i]);
				return -1;
			}
	}
	if (req->__sizemacAddresses > 0 && req->__sizemacAddresses != n) {
		kr_error("InvalidParameterValue", "one MAC per instance, or none");
		return -1;
	}
	if (req->__sizenetworkIndexList > 0 && req->__sizenetworkIndexList != n) {
		kr_error("InvalidParameterValue", "one network index per instance, or none");
		return -1;
	}
	return 0;
}

/*
 * EC2's MinCount: launch as many as fit of the ids given (MaxCount), if at
 * least this many do.  A caller that sends none (0) or a bad one gets all
 * or nothing, as before MinCount was honoured.
 */
static int
min_count(const struct _cc__RunInstances *req)
{
	int n = req->__sizeinstanceIds;

	return req->minCount >= 1 && req->minCount <= n ? req->minCount : n;
}

int
__cc__RunInstances(struct soap *soap, struct _cc__RunInstances *req,
    struct _cc__RunInstancesResponse *resp)
{
	int n = req->__sizeinstanceIds, started = 0, netted = 0, placed;
	struct cc_node *where[CC_RUN_MAX];
	struct cc_inst *in = NULL;
	struct soap *client = NULL;
	const char *group;
	int rc = -1;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	if (check_run(req) < 0)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	group = req->__sizenetNames > 0 && req->netNames[0] ? req->netNames[0] : "default";
	if (!(in = calloc((size_t)n, sizeof(*in))) || !(client = cc_nc_soap_new(cc.call_timeout_s)))
		goto out;
	/* 1. each instance's record and network allocation */
	for (int i = 0; i < n; i++) {
		struct cc_inst *x = &in[i];

		cp(x->id, sizeof(x->id), req->instanceIds[i]);
		cp(x->reservation, sizeof(x->reservation), req->reservationId);
		cp(x->image, sizeof(x->image), req->imageId);
		cp(x->kernel, sizeof(x->kernel), req->kernelId);
		cp(x->ramdisk, sizeof(x->ramdisk), req->ramdiskId);
		cp(x->user, sizeof(x->user), req->ownerId ? req->ownerId : req->userId);
		cp(x->type, sizeof(x->type), req->instanceType->name);
		x->need = (struct cc_res){ req->instanceType->cores, req->instanceType->memory,
			req->instanceType->disk };
		cp(x->group, sizeof(x->group), group);
		cp(x->state, sizeof(x->state), "Pending");
		snprintf(x->launch_index, sizeof(x->launch_index), "%d", i);
		x->launched = time(NULL);
		if (cc_vnet_assign(x->id, x->user, group, req->vlan,
		    req->__sizenetworkIndexList ? req->networkIndexList[i] : -1,
		    req->__sizemacAddresses ? req->macAddresses[i] : NULL, x) < 0)
			goto out;
		netted++;
	}
	/* 2. placement and reservations, in one step under the lock */
	pthread_mutex_lock(&cc.lock);
	for (int i = 0; i < n; i++)
		if (cc_instance_locate(in[i].id, NULL)) {
			pthread_mutex_unlock(&cc.lock);
			kr_error("InvalidParameterValue", "instance %s exists already", in[i].id);
			goto out;
		}
	if ((placed = cc_sched_place(&in[0].need, min_count(req), n, where)) < 0) {
		pthread_mutex_unlock(&cc.lock);
		goto out;
	}
	for (int i = 0; i < placed; i++) {
		cc_resv_add(where[i], &in[i]);
		cc_node_hold(where[i]);
	}
	pthread_mutex_unlock(&cc.lock);
	/* What did not fit is not launched: its addresses go back now. */
	for (; n > placed; n--)
		cc_vnet_release(in[n - 1].id);
	netted = n;
	/*
	 * 3. the launches: one round trip per instance.  No ncStartNetwork
	 * first: the NC's launch makes the group's VLAN and bridge itself
	 * (nc/launch.c, from the vlan in netParams), so asking before every
	 * launch only doubled the round trips.
	 */
	for (started = 0; started < n; started++)
		if (cc_nc_run(client, where[started], req, &in[started], started) < 0)
			goto unreserve;
	pthread_mutex_lock(&cc.lock);
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < where[i]->nresv; j++)
			if (strcmp(where[i]->resv[j].inst.id, in[i].id) == 0)
				where[i]->resv[j].confirmed = true;
	}
	pthread_mutex_unlock(&cc.lock);
	resp->instances = soap_malloc(soap, (size_t)n * sizeof(*resp->instances));
	for (int i = 0; resp->instances && i < n; i++) {
		struct kr__virtualMachineType *t = soap_malloc(soap, sizeof(*t));
		struct kr__netConfigType *net = soap_malloc(soap, sizeof(*net));
		char **g = soap_malloc(soap, sizeof(*g));

		if (!t || !net || !g)
			break;
		to_wire(soap, &in[i], soap_strdup(soap, where[i]->url), "UP", true,
		    &resp->instances[resp->__sizeinstances++], t, net, g);
	}
	kr_log_info("RunInstances %s: %d instance(s) of %s placed", req->reservationId ?
	    req->reservationId : "-", n, in[0].type);
	rc = 0;
	netted = 0;	/* kept */
unreserve:
	if (rc < 0) {
		/* All or nothing: stop what did start, keep the first error. */
		struct kr_err e;

		kr_error_save(&e);
		for (int i = 0; i < started; i++)
			cc_nc_terminate(client, where[i], in[i].id);
		kr_error_restore(&e);
	}
	pthread_mutex_lock(&cc.lock);
	for (int i = 0; i < n; i++) {
		if (rc < 0)
			cc_resv_drop(where[i], in[i].id);
		cc_node_release(where[i]);
	}
	pthread_mutex_unlock(&cc.lock);
out:
	for (int i = 0; i < netted; i++)
		cc_vnet_release(in[i].id);
	if (client)
		soap_free(client);
	free(in);
	if (rc < 0) {
		if (!kr_error_code()[0])
			kr_error("InternalError", "out of memory");
		kr_log_info("RunInstances failed: %s", kr_error_message());
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	resp->_return = true_;
	return SOAP_OK;
}

/* --- DescribeInstances --------------------------------------------------------- */

/*
 * Answered from the cache (see instance_xml.c): cached fragments of UP
 * nodes, plus what must be rendered now, written straight to the
 * connection with a Content-Length.  Returns SOAP_STOP: the answer is sent.
 */
static bool
has_eip(const struct cc_node *n, char (*pub)[2][16], int npub)
{
	for (int p = 0; p < npub; p++)
		for (int i = 0; i < n->ninst; i++)
			if (strcmp(pub[p][1], n->inst[i].priv_ip) == 0)
				return true;
	return false;
}

static bool
wanted(const struct _cc__DescribeInstances *req, const char *id)
{
	if (req->__sizeinstanceIds <= 0)
		return true;
	for (int j = 0; j < req->__sizeinstanceIds; j++)
		if (req->instanceIds[j] && strcmp(req->instanceIds[j], id) == 0)
			return true;
	return false;
}

/* One instance rendered now: the CC's view of its public address and node. */
static void
render_now(struct kr_buf *b, const struct cc_inst *src, const struct cc_node *n,
    char (*pub)[2][16], int npub)
{
	struct cc_inst in = *src;
	const char *st = cc_node_state_name(n->state);

	if (npub >= 0) {
		/* The CC, not the NC, knows which elastic IP an instance has now. */
		in.pub_ip[0] = '\0';
		for (int p = 0; in.priv_ip[0] && p < npub; p++)
			if (strcmp(pub[p][1], in.priv_ip) == 0) {
				memcpy(in.pub_ip, pub[p][0], sizeof(in.pub_ip));
				break;
			}
	}
	if (n->state != CC_NODE_UP && !in.reason[0])
		snprintf(in.reason, sizeof(in.reason), "node %.100s is %s", n->url, st);
	cc_inst_xml(b, &in, n->url, st);
}

/*
 * The nodes heard from since this CC started (cc_node.last_ok is set by
 * the first answer): the CLC takes an instance missing from the answer for
 * gone only on one of these, since a node not heard from yet lists nothing.
 */
static void
add_heard_nodes(struct kr_buf *b)
{
	for (int i = 0; i < cc.nnodes; i++)
		if (cc.nodes[i]->last_ok) {
			kr_buf_add(b, "<cc:heardNodes>");
			kr_buf_add_xml(b, cc.nodes[i]->url);
			kr_buf_add(b, "</cc:heardNodes>");
		}
}

static int
send_answer(struct soap *soap, const struct _cc__DescribeInstances *req, struct cc_xml **frags,
    int nfrags, const struct kr_buf *now)
{
	struct kr_buf head = KR_BUF_INIT;
	const char *tail = "</cc:DescribeInstancesResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>";
	size_t total;
	int rc;

	kr_buf_add(&head, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope "
	    "xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" "
	    "xmlns:kr=\"urn:karri:types:2026-11\" xmlns:cc=\"urn:karri:cc:2026-11\">"
	    "<SOAP-ENV:Body><cc:DescribeInstancesResponse>");
	if (req->correlationId) {
		kr_buf_add(&head, "<cc:correlationId>");
		kr_buf_add_xml(&head, req->correlationId);
		kr_buf_add(&head, "</cc:correlationId>");
	}
	if (req->userId) {
		kr_buf_add(&head, "<cc:userId>");
		kr_buf_add_xml(&head, req->userId);
		kr_buf_add(&head, "</cc:userId>");
	}
	kr_buf_add(&head, "<cc:return>true</cc:return>");
	if (kr_buf_failed(&head) || kr_buf_failed(now)) {
		kr_buf_free(&head);
		kr_error("InternalError", "the DescribeInstances answer is too large");
		return kr_soap_error_fault(soap);
	}
	total = kr_buf_len(&head) + kr_buf_len(now) + strlen(tail);
	for (int i = 0; i < nfrags; i++)
		total += frags[i]->len;
	/* Buffered output with this Content-Length: one pass, no counting pass. */
	soap->omode = (soap->omode & ~SOAP_IO) | SOAP_IO_BUFFER;
	soap->count = total;
	rc = soap_response(soap, SOAP_OK) ||
	    soap_send_raw(soap, kr_buf_str(&head), kr_buf_len(&head));
	for (int i = 0; !rc && i < nfrags; i++)
		rc = soap_send_raw(soap, frags[i]->data, frags[i]->len);
	rc = rc || soap_send_raw(soap, kr_buf_str(now), kr_buf_len(now)) ||
	    soap_send_raw(soap, tail, strlen(tail)) || soap_end_send(soap);
	kr_buf_free(&head);
	if (rc)
		return soap->error;
	soap_closesock(soap);		/* only when the client did not keep it alive */
	return SOAP_STOP;
}

int
__cc__DescribeInstances(struct soap *soap, struct _cc__DescribeInstances *req,
    struct _cc__DescribeInstancesResponse *resp)
{
	struct kr_buf now = KR_BUF_INIT;
	char (*pub)[2][16] = soap_malloc(soap, VNET_PUBLIC_MAX * sizeof(*pub));
	struct cc_xml **frags = NULL;
	int npub, nfrags = 0, rc;

	KR_SOAP_ECHO(resp, req);
	if (!pub) {
		kr_error("InternalError", "out of memory");
		return kr_soap_error_fault(soap);
	}
	npub = cc_vnet_public_map(pub, VNET_PUBLIC_MAX);	/* before cc.lock: never both */
	pthread_mutex_lock(&cc.lock);
	frags = calloc((size_t)cc.nnodes + 1, sizeof(*frags));
	for (int i = 0; frags && i < cc.nnodes; i++) {
		struct cc_node *n = cc.nodes[i];

		if (req->__sizeinstanceIds <= 0 && n->xml && n->state == CC_NODE_UP &&
		    !has_eip(n, pub, npub)) {
			n->xml->refs++;
			frags[nfrags++] = n->xml;
		} else {
			for (int j = 0; j < n->ninst; j++)
				if (wanted(req, n->inst[j].id))
					render_now(&now, &n->inst[j], n, pub, npub);
		}
		for (int j = 0; j < n->nresv; j++)
			if (wanted(req, n->resv[j].inst.id))
				render_now(&now, &n->resv[j].inst, n, pub, npub);
	}
	/* Under the same lock as the instances: both describe one moment. */
	add_heard_nodes(&now);
	pthread_mutex_unlock(&cc.lock);
	if (!frags)
		kr_error("InternalError", "out of memory");
	rc = frags ? send_answer(soap, req, frags, nfrags, &now) : kr_soap_error_fault(soap);
	pthread_mutex_lock(&cc.lock);
	for (int i = 0; i < nfrags; i++)
		cc_xml_release(frags[i]);
	pthread_mutex_unlock(&cc.lock);
	free(frags);
	kr_buf_free(&now);
	return rc;
}

/* --- forwarded calls (nc_calls.c) ---------------------------------------------- */

int
__cc__TerminateInstances(struct soap *soap, struct _cc__TerminateInstances *req,
    struct _cc__TerminateInstancesResponse *resp)
{
	int n = req->__sizeinstanceIds;

	KR_SOAP_ECHO(resp, req);
	if (n < 0 || n > 4 * CC_RUN_MAX) {
		kr_error("InvalidParameterValue", "too many instance ids");
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	resp->__sizeisTerminated = n;
	resp->isTerminated = soap_malloc(soap, (size_t)n * sizeof(*resp->isTerminated) + 1);
	for (int i = 0; i < n; i++) {
		const char *id = req->instanceIds[i];
		struct _nc__ncTerminateInstance rq = { .correlationId = req->correlationId,
			.userId = req->userId, .instanceId = (char *)id, .force = req->force };
		struct _nc__ncTerminateInstanceResponse rr = { 0 };
		struct cc_fwd f;
		int ok = -1;

		if (cc_fwd_begin(&f, id) == 0) {
			f.rc = soap_call___nc__ncTerminateInstance(f.c, f.n->url, NULL, &rq, &rr);
			ok = cc_fwd_check(&f, "ncTerminateInstance", &rr._return, &rr.statusMessage);
			cc_fwd_end(&f);
		}
		resp->isTerminated[i] = ok == 0 ? true_ : false_;
		if (ok == 0) {
			struct cc_node *where;

			pthread_mutex_lock(&cc.lock);
			if ((where = cc_instance_locate(id, NULL)) != NULL) {
				cc_resv_drop(where, id);
				for (int j = 0; j < where->ninst; j++)
					if (strcmp(where->inst[j].id, id) == 0) {
						cp(where->inst[j].state, sizeof(where->inst[j].state),
						    "Teardown");
						/* The rendered view is stale until the next poll. */
						cc_xml_release(where->xml);
						where->xml = NULL;
					}
			}
			pthread_mutex_unlock(&cc.lock);
			cc_vnet_release(id);
		} else {
			kr_log_info("TerminateInstances %s: %s", id ? id : "-", kr_error_message());
		}
	}
	resp->_return = true_;
	return SOAP_OK;
}

int
__cc__RebootInstances(struct soap *soap, struct _cc__RebootInstances *req,
    struct _cc__RebootInstancesResponse *resp)
{
	int bad = 0;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	for (int i = 0; i < req->__sizeinstanceIds && i < 4 * CC_RUN_MAX; i++) {
		struct _nc__ncRebootInstance rq = { .correlationId = req->correlationId,
			.userId = req->userId, .instanceId = req->instanceIds[i] };
		struct _nc__ncRebootInstanceResponse rr = { 0 };
		struct cc_fwd f;

		if (cc_fwd_begin(&f, req->instanceIds[i]) < 0) {
			bad++;
			continue;
		}
		f.rc = soap_call___nc__ncRebootInstance(f.c, f.n->url, NULL, &rq, &rr);
		bad += cc_fwd_check(&f, "ncRebootInstance", &rr._return, &rr.statusMessage) < 0;
		cc_fwd_end(&f);
	}
	if (bad)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	resp->_return = true_;
	return SOAP_OK;
}

int
__cc__GetConsoleOutput(struct soap *soap, struct _cc__GetConsoleOutput *req,
    struct _cc__GetConsoleOutputResponse *resp)
{
	struct _nc__ncGetConsoleOutput rq = { .correlationId = req->correlationId,
		.userId = req->userId, .instanceId = req->instanceId };
	struct _nc__ncGetConsoleOutputResponse rr = { 0 };
	struct cc_fwd f;
	int ok;

	KR_SOAP_ECHO(resp, req);
	if (cc_fwd_begin(&f, req->instanceId) < 0)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	f.rc = soap_call___nc__ncGetConsoleOutput(f.c, f.n->url, NULL, &rq, &rr);
	ok = cc_fwd_check(&f, "ncGetConsoleOutput", &rr._return, &rr.statusMessage);
	/* Copied before fwd_end frees the client context's memory. */
	resp->consoleOutput = ok == 0 ? soap_strdup(soap, rr.consoleOutput) : NULL;
	cc_fwd_end(&f);
	if (ok < 0)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	resp->_return = true_;
	return SOAP_OK;
}

int
__cc__AttachVolume(struct soap *soap, struct _cc__AttachVolume *req,
    struct _cc__AttachVolumeResponse *resp)
{
	struct _nc__ncAttachVolume rq = { .correlationId = req->correlationId,
		.userId = req->userId, .instanceId = req->instanceId, .volumeId = req->volumeId,
		.remoteDev = req->remoteDev, .localDev = req->localDev };
	struct _nc__ncAttachVolumeResponse rr = { 0 };
	struct cc_fwd f;
	int ok;

	KR_SOAP_ECHO(resp, req);
	if (cc_fwd_begin(&f, req->instanceId) < 0)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	/*
	 * The node's storage MAC, which EBS must allow before the node can reach
	 * the volume.  Without a remoteDev this is only that question: the CLC
	 * asks first, exports the volume to that MAC, then attaches.
	 */
	pthread_mutex_lock(&cc.lock);
	resp->nodeMac = f.n->storage_mac[0] ? soap_strdup(soap, f.n->storage_mac) : NULL;
	pthread_mutex_unlock(&cc.lock);
	if (!req->remoteDev || !*req->remoteDev) {
		cc_fwd_end(&f);
		resp->_return = true_;
		return SOAP_OK;
	}
	f.rc = soap_call___nc__ncAttachVolume(f.c, f.n->url, NULL, &rq, &rr);
	ok = cc_fwd_check(&f, "ncAttachVolume", &rr._return, &rr.statusMessage);
	resp->attachment = ok == 0 ? soap_strdup(soap, rr.attachment) : NULL;
	cc_fwd_end(&f);
	if (ok < 0)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	resp->_return = true_;
	return SOAP_OK;
}

int
__cc__DetachVolume(struct soap *soap, struct _cc__DetachVolume *req,
    struct _cc__DetachVolumeResponse *resp)
{
	struct _nc__ncDetachVolume rq = { .correlationId = req->correlationId,
		.userId = req->userId, .instanceId = req->instanceId, .volumeId = req->volumeId,
		.remoteDev = req->remoteDev, .localDev = req->localDev, .force = req->force };
	struct _nc__ncDetachVolumeResponse rr = { 0 };
	struct cc_fwd f;
	int ok;

	KR_SOAP_ECHO(resp, req);
	if (cc_fwd_begin(&f, req->instanceId) < 0)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	f.rc = soap_call___nc__ncDetachVolume(f.c, f.n->url, NULL, &rq, &rr);
	ok = cc_fwd_check(&f, "ncDetachVolume", &rr._return, &rr.statusMessage);
	cc_fwd_end(&f);
	if (ok < 0)
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	resp->_return = true_;
	return SOAP_OK;
}
