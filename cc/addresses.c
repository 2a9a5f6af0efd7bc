/*
 * addresses.c - elastic IPs: AssignAddress, UnassignAddress,
 * DescribePublicAddresses.
 *
 * The pool is VNET_PUBLICIPS ("a.b.c.d" or "a.b.c.d-a.b.c.e" items); the
 * mappings public -> private are kept in cc.db.  Each public address sits
 * on VNET_PUBINTERFACE as a /32 (so the CC answers ARP for it) for as long
 * as the CC runs; which instance it reaches is only a DNAT/SNAT pair in
 * the firewall's picture, so moving it to another instance is one atomic
 * ruleset swap, after which the flows tracked to the old instance are
 * flushed (vnet_conntrack.c) so that they do not keep going there.  The
 * host's side of each step is the privileged parent's (priv.h), which reads
 * the same pool from karri.conf and refuses any address outside it.
 */
#include <stdio.h>
#include <string.h>

#include "karriH.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"
#include "priv.h"
#include "vnet.h"

static struct vnet_public *
pub_find(const char *pub)
{
	for (int i = 0; pub && i < V.npubs; i++)
		if (strcmp(V.pubs[i].pub, pub) == 0)
			return &V.pubs[i];
	return NULL;
}

static void
pool_add(uint32_t ip)
{
	if (V.npubs >= VNET_PUBLIC_MAX) {
		kr_log_warnx("VNET_PUBLICIPS: more than %d addresses, the rest ignored", VNET_PUBLIC_MAX);
		return;
	}
	vnet_ip_str(ip, V.pubs[V.npubs].pub);
	if (!pub_find(V.pubs[V.npubs].pub) || pub_find(V.pubs[V.npubs].pub) == &V.pubs[V.npubs])
		V.pubs[V.npubs++].priv[0] = '\0';
}

/* The pool, from karri.conf: the child's addresses, the parent's limits. */
void
vnet_public_pool(void)
{
	char **items = NULL;
	size_t n = kr_config_list(cc.cfg, "VNET_PUBLICIPS", &items);

	for (size_t i = 0; i < n; i++) {
		char *dash = strchr(items[i], '-');
		uint32_t a, b;

		if (dash)
			*dash = '\0';
		if (vnet_ip_parse(items[i], &a) < 0 || (dash && vnet_ip_parse(dash + 1, &b) < 0) ||
		    (dash && (b < a || b - a >= VNET_PUBLIC_MAX))) {
			kr_log_warnx("VNET_PUBLICIPS: bad item '%s' ignored", items[i]);
			continue;
		}
		for (uint32_t ip = a; ip <= (dash ? b : a); ip++)
			pool_add(ip);
	}
	kr_config_list_free(items, n);
}

int
vnet_public_load(void)
{
	sqlite3_stmt *st = NULL;

	pthread_mutex_lock(&cc.dblock);
	if (kr_db_prepare(cc.db, "SELECT public_ip, private_ip FROM public_ips", &st) == 0)
		while (kr_db_step(st) == 1) {
			struct vnet_public *p = pub_find((const char *)sqlite3_column_text(st, 0));

			if (p)
				snprintf(p->priv, sizeof(p->priv), "%s", sqlite3_column_text(st, 1));
		}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&cc.dblock);
	for (int i = 0; i < V.npubs; i++)
		if (cc_priv_address(CC_PRIV_ADDRESS_ASSIGN, V.pubs[i].pub) < 0)
			kr_log_warnx("%s", kr_error_message());
	return 0;
}

void
vnet_public_remove_all(void)
{
	for (int i = 0; i < V.npubs; i++)
		if (cc_priv_address(CC_PRIV_ADDRESS_UNASSIGN, V.pubs[i].pub) < 0)
			kr_log_warnx("%s", kr_error_message());
}

static int
map_db(const char *pub, const char *priv)
{
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&cc.dblock);
	rc = kr_db_prepare(cc.db, priv ?
	    "INSERT OR REPLACE INTO public_ips (public_ip, private_ip) VALUES (?1, ?2)" :
	    "DELETE FROM public_ips WHERE public_ip = ?1", &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, pub, -1, SQLITE_STATIC);
		if (priv)
			sqlite3_bind_text(st, 2, priv, -1, SQLITE_STATIC);
		rc = kr_db_step(st) < 0 ? -1 : 0;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&cc.dblock);
	return rc;
}

static int
reply(struct soap *soap, enum xsd__boolean *ret, char **msg, int rc)
{
	*ret = true_;
	return rc == 0 ? SOAP_OK : kr_soap_error_reply(soap, ret, msg);
}

/* Map (priv non-NULL) or unmap a public address; one ruleset swap. */
static int
set_mapping(const char *pub, const char *priv)
{
	struct vnet_public *p;
	uint32_t a;
	char old[16];
	int rc;

	if (!vnet_managed()) {
		kr_error("InvalidParameterValue", "elastic IPs need a MANAGED mode");
		return -1;
	}
	if (priv && (vnet_ip_parse(priv, &a) < 0 || (a & V.netmask) != V.subnet)) {
		kr_error("InvalidParameterValue", "'%.32s' is not an instance address", priv);
		return -1;
	}
	pthread_mutex_lock(&V.lock);
	if (!(p = pub_find(pub))) {
		kr_error("InvalidAddress.NotFound", "'%.32s' is not in VNET_PUBLICIPS", pub ? pub : "");
		rc = -1;
	} else if (!priv && p->priv[0] == '\0') {
		rc = 0;
	} else {
		/* An instance has at most one public address: drop its other one. */
		for (int i = 0; priv && i < V.npubs; i++)
			if (&V.pubs[i] != p && strcmp(V.pubs[i].priv, priv) == 0) {
				map_db(V.pubs[i].pub, NULL);
				V.pubs[i].priv[0] = '\0';
			}
		memcpy(old, p->priv, sizeof(old));
		if ((rc = map_db(pub, priv)) == 0) {
			snprintf(p->priv, sizeof(p->priv), "%s", priv ? priv : "");
			if ((rc = vnet_firewall_apply()) < 0) {
				memcpy(p->priv, old, sizeof(old));
				map_db(pub, old[0] ? old : NULL);
			} else {
				kr_log_info("elastic IP %s -> %s%s%s", pub, priv ? priv : "(none)",
				    old[0] ? ", was " : "", old);
				if (old[0] && strcmp(old, priv ? priv : "") != 0 &&
				    cc_priv_address(CC_PRIV_CONNTRACK_FLUSH, pub) < 0)
					kr_log_warnx("elastic IP %s: old connections not flushed: %s",
					    pub, kr_error_message());
			}
		}
	}
	pthread_mutex_unlock(&V.lock);
	return rc;
}

int
__cc__AssignAddress(struct soap *soap, struct _cc__AssignAddress *req,
    struct _cc__AssignAddressResponse *resp)
{
	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	if (!req->dest) {
		kr_error("InvalidParameterValue", "no private address");
		return reply(soap, &resp->_return, &resp->statusMessage, -1);
	}
	return reply(soap, &resp->_return, &resp->statusMessage, set_mapping(req->source, req->dest));
}

int
__cc__UnassignAddress(struct soap *soap, struct _cc__UnassignAddress *req,
    struct _cc__UnassignAddressResponse *resp)
{
	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	return reply(soap, &resp->_return, &resp->statusMessage, set_mapping(req->source, NULL));
}

int
__cc__DescribePublicAddresses(struct soap *soap, struct _cc__DescribePublicAddresses *req,
    struct _cc__DescribePublicAddressesResponse *resp)
{
	KR_SOAP_ECHO(resp, req);
	resp->_return = true_;
	pthread_mutex_lock(&V.lock);
	resp->addresses = soap_malloc(soap, (size_t)V.npubs * sizeof(*resp->addresses) + 1);
	resp->__sizeaddresses = V.npubs;
	for (int i = 0; i < V.npubs; i++) {
		struct cc__publicAddressType *w = &resp->addresses[i];

		soap_default_cc__publicAddressType(soap, w);
		w->publicIp = soap_strdup(soap, V.pubs[i].pub);
		w->privateIp = V.pubs[i].priv[0] ? soap_strdup(soap, V.pubs[i].priv) : NULL;
		for (int j = 0; w->privateIp && j < V.nleases; j++)
			if (strcmp(V.leases[j].ip, V.pubs[i].priv) == 0)
				w->instanceId = soap_strdup(soap, V.leases[j].id);
	}
	pthread_mutex_unlock(&V.lock);
	return SOAP_OK;
}
