/*
 * action_address.c - elastic IPs: AllocateAddress, ReleaseAddress,
 * DescribeAddresses, AssociateAddress, DisassociateAddress.
 *
 * The pool is VNET_PUBLICIPS (addresses and a-b ranges, as in
 * eucalyptus.conf), copied into the addresses table at start
 * (clc_addresses_sync).  Allocation is a database matter; association asks
 * the instance's CC to set up the NAT (AssignAddress), and only when the CC
 * agreed is the association recorded.  The CC is asked from a worker
 * (clc_backend.h); ending an association is decided and committed first,
 * its NAT's end at the CC follows.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clc_backend.h"
#include "clc_cc.h"
#include "clc_actions.h"
#include "core/config.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sizes.h"

#define MAX_POOL 65536

static int
add_pool_ip(sqlite3_stmt *ins, const char *ip)
{
	sqlite3_bind_text(ins, 1, ip, -1, SQLITE_TRANSIENT);
	if (kr_db_step(ins) < 0)
		return -1;
	sqlite3_reset(ins);
	return 0;
}

/* One item of VNET_PUBLICIPS: an address or a range first-last. */
static int
add_pool_item(sqlite3_stmt *ins, const char *item, size_t *count)
{
	char first[INET_ADDRSTRLEN], ip[INET_ADDRSTRLEN];
	const char *dash = strchr(item, '-');
	struct in_addr a, b;

	snprintf(first, sizeof(first), "%.*s", dash ? (int)(dash - item) : (int)strlen(item),
	    item);
	if (inet_pton(AF_INET, first, &a) != 1 || inet_pton(AF_INET, dash ? dash + 1 : first,
	    &b) != 1 || ntohl(b.s_addr) < ntohl(a.s_addr)) {
		kr_error("InvalidConfiguration", "VNET_PUBLICIPS: '%s' is not an address or "
		    "range", item);
		return -1;
	}
	for (uint32_t h = ntohl(a.s_addr); h <= ntohl(b.s_addr); h++) {
		struct in_addr x = { htonl(h) };

		if (++*count > MAX_POOL) {
			kr_error("InvalidConfiguration", "VNET_PUBLICIPS: more than %d addresses",
			    MAX_POOL);
			return -1;
		}
		inet_ntop(AF_INET, &x, ip, sizeof(ip));
		if (add_pool_ip(ins, ip) < 0)
			return -1;
		if (h == UINT32_MAX)
			break;
	}
	return 0;
}

int
clc_addresses_sync(struct clc *clc)
{
	char **items = NULL;
	size_t n = kr_config_list(clc->cfg, "VNET_PUBLICIPS", &items), count = 0;
	sqlite3_stmt *ins = NULL;
	int rc = -1;

	if (kr_db_begin(clc->db) < 0)
		goto done;
	/* Addresses dropped from the config leave the pool; held ones stay until released. */
	if (kr_db_exec(clc->db, "UPDATE addresses SET in_pool = 0;"
	    "DELETE FROM addresses WHERE owner IS NULL;") < 0 ||
	    kr_db_prepare(clc->db, "INSERT INTO addresses (public_ip) VALUES (?)"
	    " ON CONFLICT (public_ip) DO UPDATE SET in_pool = 1", &ins) < 0)
		goto done;
	for (size_t i = 0; i < n; i++)
		if (add_pool_item(ins, items[i], &count) < 0)
			goto done;
	rc = 0;
done:
	sqlite3_finalize(ins);
	if (rc == 0)
		rc = kr_db_commit(clc->db);
	else
		kr_db_rollback(clc->db);
	kr_config_list_free(items, n);
	return rc;
}

int
clc_allocate_address(struct clc_req *r)
{
	static const char *const known[] = { "Domain", "Address", "PublicIpv4Pool",
		"NetworkBorderGroup", "CustomerOwnedIpv4Pool", "TagSpecification", NULL };
	const char *domain = clc_param(r, "Domain");
	sqlite3_stmt *st;
	int rc;

	if (clc_param_check_known(r, known) < 0)
		return -1;
	if (domain && strcmp(domain, "standard") != 0) {
		kr_error("UnsupportedOperation", "Karri has no VPCs: only Domain=standard");
		return -1;
	}
	if (kr_db_prepare(r->db, "UPDATE addresses SET owner = ?1, allocated = ?2"
	    " WHERE public_ip = (SELECT public_ip FROM addresses WHERE owner IS NULL"
	    " AND in_pool = 1 ORDER BY random() LIMIT 1) RETURNING public_ip", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->now);
	rc = kr_db_step(st);
	if (rc == 1) {
		clc_xml_col(r->out, "publicIp", st, 0);
		clc_xml_elem(r->out, "domain", "standard");
	} else if (rc == 0)
		kr_error("AddressLimitExceeded", "no public address is free in this cloud "
		    "(VNET_PUBLICIPS)");
	sqlite3_finalize(st);
	return rc == 1 ? 0 : -1;
}

/* The caller's address: 0 and its instance ("" when none), or -1 + NotFound. */
static int
owned_address(struct clc_req *r, const char *ip, char *instance, size_t len)
{
	int rc = clc_db_text(r->db, "SELECT coalesce(instance_id, '') FROM addresses"
	    " WHERE public_ip = ? AND owner = ?", ip, r->account, instance, len);

	if (rc == 0)
		kr_error("InvalidAddress.NotFound", "Address '%.64s' not found.", ip);
	return rc == 1 ? 0 : -1;
}

/*
 * What a worker needs to NAT (assign) or stop NATting (unassign) a public
 * address to an instance's private one at its CC, found on the loop.
 */
struct nat {
	char url[300], priv[64], backend[CLC_BACKEND_KEY_MAX];
};

static int
nat_find(struct clc_req *r, const char *instance, struct nat *n)
{
	char zone[64] = "";
	struct clc_cluster *c;
	sqlite3_stmt *st;

	if (kr_db_prepare(r->db, "SELECT zone, coalesce(private_ip, '') FROM instances"
	    " WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, instance, -1, SQLITE_STATIC);
	if (kr_db_step(st) == 1) {
		snprintf(zone, sizeof(zone), "%s", sqlite3_column_text(st, 0));
		snprintf(n->priv, sizeof(n->priv), "%s", sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	if (!n->priv[0]) {
		kr_error("InvalidInstanceID", "instance %s has no private address yet", instance);
		return -1;
	}
	if ((c = clc_cluster_find(r->clc, zone)) == NULL)
		return -1;
	snprintf(n->url, sizeof(n->url), "%s", c->url);
	clc_backend_key(n->backend, "cc", c->name);
	return 0;
}

/* On a worker: the CC's AssignAddress / UnassignAddress. */
static int
nat_call(struct clc *clc, const char *public_ip, const struct nat *n, bool assign)
{
	struct soap *soap = clc_cc_soap(clc);
	char corr[KR_UUID_MAX], user[16];
	int rc;

	if (soap == NULL)
		return -1;
	clc_cc_ids(corr, user);
	if (assign) {
		struct _cc__AssignAddress req = { corr, user, (char *)public_ip, (char *)n->priv };
		struct _cc__AssignAddressResponse resp = { 0 };

		rc = clc_soap_check(soap, soap_call___cc__AssignAddress(soap, n->url, NULL, &req,
		    &resp), &resp._return, &resp.statusMessage, "Unavailable", "InternalError",
		    "AssignAddress", n->url);
	} else {
		struct _cc__UnassignAddress req = { corr, user, (char *)public_ip, (char *)n->priv };
		struct _cc__UnassignAddressResponse resp = { 0 };

		rc = clc_soap_check(soap, soap_call___cc__UnassignAddress(soap, n->url, NULL, &req,
		    &resp), &resp._return, &resp.statusMessage, "Unavailable", "InternalError",
		    "UnassignAddress", n->url);
	}
	clc_cc_done(soap);
	return rc;
}

/* Record the association (instance) or its end (NULL) on both sides. */
static int
set_instance(struct clc_req *r, const char *ip, const char *instance)
{
	if (clc_db_run(r->db, "UPDATE addresses SET instance_id = ?2 WHERE public_ip = ?1", ip,
	    instance, NULL) < 0)
		return -1;
	return clc_db_run(r->db, instance ? "UPDATE instances SET public_ip = ?1 WHERE id = ?2" :
	    "UPDATE instances SET public_ip = NULL WHERE public_ip = ?1", ip, instance,
	    NULL) < 0 ? -1 : 0;
}

/*
 * One address action waiting for its CC (clc_backend.h): the old
 * association's NAT ended (best effort: the CC drops what the CLC no
 * longer lists on its next sync), then for AssociateAddress the new one set.
 */
struct addr_job {
	struct clc *clc;
	char ip[64], instance[32], old_id[32];
	bool has_old, has_new;
	struct nat old, new;
};

static int
addr_work(void *arg)
{
	struct addr_job *j = arg;

	if (j->has_old && nat_call(j->clc, j->ip, &j->old, false) < 0) {
		kr_log_warnx("releasing %s from %s: %s (the CC will drop it on its next sync)",
		    j->ip, j->old.priv, kr_error_message());
		kr_error_clear();
	}
	return j->has_new ? nat_call(j->clc, j->ip, &j->new, true) : 0;
}

/* Release, Disassociate: what they decided is committed; the CC only follows. */
static int
unassign_resume(struct clc_req *r, int rc, void *arg)
{
	(void)rc;
	(void)arg;
	return clc_return_true(r);
}

/*
 * Associate: recorded only when the CC agreed and the caller still owns
 * the address.  The old association ended either way (the worker asked its
 * NAT's end first), so that is recorded even when the new one failed.
 */
static int
assign_resume(struct clc_req *r, int rc, void *arg)
{
	struct addr_job *j = arg;
	char cur[32];

	if (j->has_old && clc_db_run(r->db, "UPDATE addresses SET instance_id = NULL"
	    " WHERE public_ip = ?1 AND instance_id = ?2", j->ip, j->old_id, NULL) >= 0)
		clc_db_run(r->db, "UPDATE instances SET public_ip = NULL WHERE id = ?2"
		    " AND public_ip = ?1", j->ip, j->old_id, NULL);
	if (rc < 0)
		return -1;
	if (owned_address(r, j->ip, cur, sizeof(cur)) < 0)
		return -1;
	if (set_instance(r, j->ip, NULL) < 0 || set_instance(r, j->ip, j->instance) < 0)
		return -1;
	return clc_return_true(r);
}

static struct addr_job *
addr_job_new(struct clc_req *r, const char *ip, const char *old)
{
	struct addr_job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	j->clc = r->clc;
	snprintf(j->ip, sizeof(j->ip), "%s", ip);
	snprintf(j->old_id, sizeof(j->old_id), "%s", old);
	if (*old && nat_find(r, old, &j->old) < 0) {
		kr_log_warnx("releasing %s from %s: %s (the CC will drop it on its next sync)", ip,
		    old, kr_error_message());
		kr_error_clear();
	} else if (*old) {
		j->has_old = true;
	}
	return j;
}

/* The old association ends here; its NAT at the CC on a worker, the client answered then. */
static int
disassociate(struct clc_req *r, const char *ip, const char *instance)
{
	struct addr_job *j;

	if (*instance == '\0')
		return clc_return_true(r);
	if (!(j = addr_job_new(r, ip, instance)) || set_instance(r, ip, NULL) < 0) {
		free(j);
		return -1;
	}
	if (!j->has_old) {
		free(j);
		return clc_return_true(r);
	}
	return clc_req_defer(r, j->old.backend, NULL, addr_work, unassign_resume, j, free);
}

int
clc_release_address(struct clc_req *r)
{
	static const char *const known[] = { "PublicIp", "AllocationId", "NetworkBorderGroup",
		NULL };
	const char *ip;
	char instance[32];
	sqlite3_stmt *st;
	int rc;

	if (clc_param_check_known(r, known) < 0 || !(ip = clc_param_required(r, "PublicIp")) ||
	    owned_address(r, ip, instance, sizeof(instance)) < 0)
		return -1;
	if (kr_db_prepare(r->db, "UPDATE addresses SET owner = NULL, allocated = NULL"
	    " WHERE public_ip = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ip, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : disassociate(r, ip, instance);
}

int
clc_associate_address(struct clc_req *r)
{
	static const char *const known[] = { "PublicIp", "InstanceId", "AllocationId",
		"AllowReassociation", "NetworkInterfaceId", "PrivateIpAddress", NULL };
	const char *ip, *iid;
	char instance[32];
	struct addr_job *j;
	sqlite3_stmt *st;
	int rc;

	if (clc_param_check_known(r, known) < 0 || !(ip = clc_param_required(r, "PublicIp")) ||
	    !(iid = clc_param_required(r, "InstanceId")) ||
	    clc_check_id("InstanceId", iid, "i", "InvalidInstanceID.Malformed") < 0 ||
	    owned_address(r, ip, instance, sizeof(instance)) < 0)
		return -1;
	if (kr_db_prepare(r->db, "SELECT 1 FROM instances WHERE id = ? AND owner = ?"
	    " AND state IN ('pending', 'running')", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, iid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->account, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	if (rc != 1) {
		if (rc == 0)
			kr_error("InvalidInstanceID.NotFound", "The instance ID '%s' does not "
			    "exist", iid);
		return -1;
	}
	if (strcmp(instance, iid) == 0)
		return clc_return_true(r);
	if (!(j = addr_job_new(r, ip, instance)))
		return -1;
	snprintf(j->instance, sizeof(j->instance), "%s", iid);
	if (nat_find(r, iid, &j->new) < 0) {
		free(j);
		return -1;
	}
	j->has_new = true;
	return clc_req_defer(r, j->new.backend, j->has_old &&
	    strcmp(j->old.backend, j->new.backend) != 0 ? j->old.backend : NULL, addr_work,
	    assign_resume, j, free);
}

int
clc_disassociate_address(struct clc_req *r)
{
	static const char *const known[] = { "PublicIp", "AssociationId", NULL };
	const char *ip;
	char instance[32];

	if (clc_param_check_known(r, known) < 0 || !(ip = clc_param_required(r, "PublicIp")) ||
	    owned_address(r, ip, instance, sizeof(instance)) < 0)
		return -1;
	return disassociate(r, ip, instance);
}

struct addr_item {
	const char *ip, *instance;
};

static const char *
addr_field(void *item, const char *name, size_t idx)
{
	struct addr_item *a = item;

	if (idx)
		return NULL;
	if (strcmp(name, "public-ip") == 0)
		return a->ip;
	if (strcmp(name, "instance-id") == 0)
		return a->instance;
	if (strcmp(name, "domain") == 0)
		return "standard";
	return NULL;
}

int
clc_describe_addresses(struct clc_req *r)
{
	static const char *const known[] = { "PublicIp", "AllocationId", "Filter", NULL };
	static const char *const filters[] = { "public-ip", "instance-id", "domain", NULL };
	const char *ips[CLC_MAX_IDS];
	struct clc_filters fs;
	sqlite3_stmt *st;
	size_t n;
	int rc;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_param_list_checked(r, "PublicIp", NULL, ips, CLC_MAX_IDS, &n) < 0 ||
	    clc_filters_parse(r, filters, &fs) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char instance[32];

		if (owned_address(r, ips[i], instance, sizeof(instance)) < 0)
			return -1;
	}
	if (kr_db_prepare(r->db, "SELECT public_ip, instance_id FROM addresses"
	    " WHERE owner = ? ORDER BY public_ip", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, r->account, -1, SQLITE_STATIC);
	kr_buf_add(r->out, "<addressesSet>");
	while ((rc = kr_db_step(st)) == 1) {
		struct addr_item a = { (const char *)sqlite3_column_text(st, 0),
			(const char *)sqlite3_column_text(st, 1) };

		if ((n && !clc_in_list(a.ip, ips, n)) ||
		    !clc_filters_match(r, &fs, NULL, addr_field, &a))
			continue;
		kr_buf_add(r->out, "<item>");
		clc_xml_elem(r->out, "publicIp", a.ip);
		clc_xml_elem(r->out, "domain", "standard");
		if (a.instance)
			clc_xml_elem(r->out, "instanceId", a.instance);
		kr_buf_add(r->out, "</item>");
	}
	sqlite3_finalize(st);
	kr_buf_add(r->out, "</addressesSet>");
	return rc < 0 ? -1 : 0;
}
