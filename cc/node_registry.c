/*
 * node_registry.c - the nodes of this cluster (RegisterNodes and
 * DeregisterNodes, in ops_nodes.c, call it).
 *
 * Nodes come from NODES in karri.conf and from `karri register-nodes` at
 * run time; the latter are remembered in cc.db so a restarted CC knows them.
 * A node is named "host" or "host:port" (NC_PORT when no port is given);
 * its NC is at http://host:port/.  Removing a node that a poller or an
 * operation is using only marks it: the last user frees it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "karriH.h"
#include "cc.h"
#include "core/error.h"
#include "core/log.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

const char *
cc_node_state_name(enum cc_node_state s)
{
	switch (s) {
	case CC_NODE_UP: return "UP";
	case CC_NODE_DOWN: return "DOWN";
	case CC_NODE_POWEREDOFF: return "POWEREDOFF";
	default: return "UNKNOWN";
	}
}

/* Host names and addresses only: letters, digits, '.', '-', '_' (no URL tricks). */
int
cc_node_parse(const char *spec, int default_port, char host[CC_HOST_MAX], int *port)
{
	const char *colon;
	size_t len;

	if (!spec || !*spec) {
		kr_error("InvalidParameterValue", "empty node name");
		return -1;
	}
	colon = strchr(spec, ':');
	len = colon ? (size_t)(colon - spec) : strlen(spec);
	if (len == 0 || len >= CC_HOST_MAX) {
		kr_error("InvalidParameterValue", "bad node name '%.64s'", spec);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)spec[i]) && !strchr(".-_", spec[i])) {
			kr_error("InvalidParameterValue", "bad node name '%.64s'", spec);
			return -1;
		}
	*port = default_port;
	if (colon) {
		char *end;
		long p = strtol(colon + 1, &end, 10);

		if (*end || p < 1 || p > 65535) {
			kr_error("InvalidParameterValue", "bad port in node name '%.64s'", spec);
			return -1;
		}
		*port = (int)p;
	}
	memcpy(host, spec, len);
	host[len] = '\0';
	return 0;
}

struct cc_node *
cc_node_find(const char *host, int port)
{
	for (int i = 0; i < cc.nnodes; i++)
		if (cc.nodes[i]->port == port && strcmp(cc.nodes[i]->host, host) == 0)
			return cc.nodes[i];
	return NULL;
}

struct cc_node *
cc_node_add(const char *host, int port, bool configured)
{
	struct cc_node *n = cc_node_find(host, port);

	if (n) {
		n->configured |= configured;
		return n;
	}
	if (cc.nnodes >= CC_NODES_MAX) {
		kr_error("InvalidParameterValue", "a cluster has at most %d nodes", CC_NODES_MAX);
		return NULL;
	}
	if (cc.nnodes % 64 == 0) {
		struct cc_node **p = realloc(cc.nodes, (size_t)(cc.nnodes + 64) * sizeof(*p));

		if (!p) {
			kr_error("InternalError", "out of memory");
			return NULL;
		}
		cc.nodes = p;
	}
	if (!(n = calloc(1, sizeof(*n)))) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	snprintf(n->host, sizeof(n->host), "%s", host);
	n->port = port;
	/* https unless KARRI_INSECURE_HTTP: the CC's own mode says how its nodes speak. */
	snprintf(n->url, sizeof(n->url), "%s://%s:%d/", kr_tls_scheme(), host, port);
	n->configured = configured;
	n->state = CC_NODE_UNKNOWN;
	n->fd = -1;
	n->idle_since = time(NULL);
	cc.nodes[cc.nnodes++] = n;
	return n;
}

static void
node_free(struct cc_node *n)
{
	kr_tls_free(n->ssl);
	if (n->fd >= 0)
		close(n->fd);
	cc_inst_list_free(n->inst, n->ninst);
	cc_xml_release(n->xml);
	free(n->resv);
	free(n);
}

/* An instance list as a node's answer left it (n->inst): each one's volumes too. */
void
cc_inst_list_free(struct cc_inst *v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i].vols);
	free(v);
}

void
cc_node_remove(struct cc_node *n)
{
	for (int i = 0; i < cc.nnodes; i++)
		if (cc.nodes[i] == n) {
			memmove(&cc.nodes[i], &cc.nodes[i + 1],
			    (size_t)(cc.nnodes - i - 1) * sizeof(*cc.nodes));
			cc.nnodes--;
			break;
		}
	n->removed = true;
	if (n->refs == 0)
		node_free(n);
}

void
cc_node_hold(struct cc_node *n)
{
	n->refs++;
}

void
cc_node_release(struct cc_node *n)
{
	if (--n->refs == 0 && n->removed)
		node_free(n);
}

struct cc_node *
cc_instance_locate(const char *id, struct cc_inst *copy)
{
	for (int i = 0; id && i < cc.nnodes; i++) {
		struct cc_node *n = cc.nodes[i];

		for (int j = 0; j < n->ninst; j++)
			if (strcmp(n->inst[j].id, id) == 0) {
				if (copy)
					*copy = n->inst[j];
				return n;
			}
		for (int j = 0; j < n->nresv; j++)
			if (strcmp(n->resv[j].inst.id, id) == 0) {
				if (copy)
					*copy = n->resv[j].inst;
				return n;
			}
	}
	return NULL;
}

struct saved {
	char (*host)[CC_HOST_MAX];
	int *port;
	int n, cap;
};

static void
collect(const char *host, int port, void *arg)
{
	struct saved *s = arg;

	if (s->n == s->cap) {
		int cap = s->cap ? 2 * s->cap : 64;
		void *h = realloc(s->host, (size_t)cap * sizeof(*s->host));
		void *p = h ? realloc(s->port, (size_t)cap * sizeof(*s->port)) : NULL;

		if (h)
			s->host = h;
		if (!h || !p)
			return;
		s->port = p;
		s->cap = cap;
	}
	snprintf(s->host[s->n], CC_HOST_MAX, "%s", host);
	s->port[s->n++] = port;
}

int
cc_registry_load(void)
{
	char **items = NULL;
	size_t n = kr_config_list(cc.cfg, "NODES", &items);
	struct saved s = { 0 };
	int rc = 0;

	if (cc_state_nodes(collect, &s) < 0)
		rc = -1;
	pthread_mutex_lock(&cc.lock);
	for (size_t i = 0; i < n; i++) {
		char host[CC_HOST_MAX];
		int port;

		if (cc_node_parse(items[i], cc.nc_port, host, &port) < 0 ||
		    !cc_node_add(host, port, true))
			kr_log_warnx("NODES: %s", kr_error_message());
	}
	for (int i = 0; i < s.n; i++)
		if (!cc_node_add(s.host[i], s.port[i], false))
			kr_log_warnx("cc.db node %s: %s", s.host[i], kr_error_message());
	kr_log_info("%d node(s): %zu from NODES, %d registered", cc.nnodes, n, s.n);
	pthread_mutex_unlock(&cc.lock);
	kr_config_list_free(items, n);
	free(s.host);
	free(s.port);
	return rc;
}
