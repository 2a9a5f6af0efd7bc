/*
 * action_rule.c - AuthorizeSecurityGroupIngress, RevokeSecurityGroupIngress.
 *
 * Two shapes reach these actions: IpPermissions.N.* (awscli, boto3,
 * euca2ools 3.4) and the old flat form IpProtocol/FromPort/ToPort/CidrIp/
 * SourceSecurityGroupName/SourceSecurityGroupOwnerId (boto2, euca2ools
 * 3.1).  Both become rows of one source each (a CIDR, or an owner's group).
 * The whole call succeeds or fails: a duplicate on authorize
 * (InvalidPermission.Duplicate) or a missing rule on revoke
 * (InvalidPermission.NotFound) undoes the rest, through the request's
 * transaction.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clc.h"
#include "clc_actions.h"
#include "core/db.h"
#include "core/error.h"
#include "core/id.h"

#define MAX_PERMS 100
#define MAX_SOURCES 100

struct rule {
	char protocol[8];
	long from, to;
	const char *cidr;		/* or */
	const char *src_owner, *src_group;
};

/* tcp/udp/icmp, their numbers, or -1/all: the stored protocol name. */
static int
parse_protocol(const char *p, char *out, size_t len)
{
	static const struct { const char *in, *out; } map[] = {
		{ "tcp", "tcp" }, { "6", "tcp" }, { "udp", "udp" }, { "17", "udp" },
		{ "icmp", "icmp" }, { "1", "icmp" }, { "-1", "-1" }, { "all", "-1" },
	};

	for (size_t i = 0; p && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(p, map[i].in) == 0) {
			snprintf(out, len, "%s", map[i].out);
			return 0;
		}
	kr_error(p ? "InvalidParameterValue" : "MissingParameter",
	    "IpProtocol must be tcp, udp, icmp or -1 (got '%.16s')", p ? p : "");
	return -1;
}

static int
parse_port(const char *s, const char *name, long min, long *out)
{
	char *end;

	if (s == NULL || *s == '\0') {
		kr_error("MissingParameter", "the rule needs %s", name);
		return -1;
	}
	*out = strtol(s, &end, 10);
	if (*end || *out < min || *out > 65535) {
		kr_error("InvalidParameterValue", "%s %.16s is not a valid port", name, s);
		return -1;
	}
	return 0;
}

static int
rule_ports(struct rule *ru, const char *from, const char *to)
{
	if (strcmp(ru->protocol, "-1") == 0) {
		ru->from = ru->to = -1;
		return 0;
	}
	/* For icmp these are type and code, where -1 means all. */
	if (parse_port(from, "FromPort", strcmp(ru->protocol, "icmp") == 0 ? -1 : 0,
	    &ru->from) < 0 || parse_port(to, "ToPort", strcmp(ru->protocol, "icmp") == 0 ?
	    -1 : 0, &ru->to) < 0)
		return -1;
	if (strcmp(ru->protocol, "icmp") != 0 && ru->from > ru->to) {
		kr_error("InvalidParameterValue", "FromPort %ld is above ToPort %ld", ru->from,
		    ru->to);
		return -1;
	}
	return 0;
}

static int
check_cidr(const char *c)
{
	char addr[INET_ADDRSTRLEN + 4];
	const char *slash = strchr(c, '/');
	struct in_addr a;
	char *end;
	long bits;

	if (slash == NULL || (size_t)(slash - c) >= INET_ADDRSTRLEN)
		goto bad;
	memcpy(addr, c, (size_t)(slash - c));
	addr[slash - c] = '\0';
	bits = strtol(slash + 1, &end, 10);
	if (inet_pton(AF_INET, addr, &a) != 1 || *end || end == slash + 1 || bits < 0 ||
	    bits > 32)
		goto bad;
	return 0;
bad:
	kr_error("InvalidParameterValue", "CIDR block %.64s is malformed", c);
	return -1;
}

/* Apply one rule: insert (authorize) or delete (revoke). */
static int
apply(struct clc_req *r, const char *group_id, const struct rule *ru, bool add)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(r->db, add ? "INSERT INTO group_rules (group_id, protocol, from_port,"
	    " to_port, cidr, src_owner, src_group) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)" :
	    "DELETE FROM group_rules WHERE group_id = ?1 AND protocol = ?2 AND from_port = ?3"
	    " AND to_port = ?4 AND cidr = ?5 AND src_owner = ?6 AND src_group = ?7", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, group_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ru->protocol, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, ru->from);
	sqlite3_bind_int64(st, 4, ru->to);
	sqlite3_bind_text(st, 5, ru->cidr ? ru->cidr : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, ru->src_owner ? ru->src_owner : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, ru->src_group ? ru->src_group : "", -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	if (rc < 0 && add && kr_db_unique_violation(r->db)) {
		kr_error("InvalidPermission.Duplicate", "the specified rule \"peer: %s, %s, "
		    "ports %ld-%ld\" already exists", ru->cidr ? ru->cidr : ru->src_group,
		    ru->protocol, ru->from, ru->to);
		return -1;
	}
	if (rc == 0 && !add && sqlite3_changes(r->db) == 0) {
		kr_error("InvalidPermission.NotFound", "the specified rule does not exist in "
		    "this security group");
		return -1;
	}
	return rc < 0 ? -1 : 0;
}

/* A source group named by name or id; the id form must be the caller's. */
static int
source_group(struct clc_req *r, struct rule *ru, const char *name, const char *id,
    const char *owner, char *buf, size_t len)
{
	char gid[KR_ID_MAX];

	ru->cidr = NULL;
	ru->src_owner = owner && *owner ? owner : r->account;
	if (id) {
		if (clc_group_lookup(r->db, r->account, NULL, id, gid, sizeof(gid), buf, len)
		    != 0) {
			if (*kr_error_code() == '\0')
				kr_error("InvalidGroup.NotFound", "The security group '%.64s' "
				    "does not exist", id);
			return -1;
		}
		ru->src_owner = r->account;
		ru->src_group = buf;
		return 0;
	}
	if (clc_check_name("SourceSecurityGroupName", name, CLC_MAX_NAME) < 0)
		return -1;
	ru->src_group = name;
	return 0;
}

/* The flat form: one rule, or one per CIDR/group given. */
static int
flat(struct clc_req *r, const char *group_id, bool add)
{
	const char *cidr = clc_param(r, "CidrIp"), *sg = clc_param(r, "SourceSecurityGroupName");
	char buf[CLC_MAX_NAME + 1];
	struct rule ru = { 0 };

	if (!cidr && !sg) {
		kr_error("MissingParameter", "the request must contain IpPermissions, CidrIp or "
		    "SourceSecurityGroupName");
		return -1;
	}
	if (sg && !clc_param(r, "IpProtocol")) {
		/* boto2's group-to-group grant: every protocol and port. */
		snprintf(ru.protocol, sizeof(ru.protocol), "-1");
		ru.from = ru.to = -1;
	} else if (parse_protocol(clc_param(r, "IpProtocol"), ru.protocol,
	    sizeof(ru.protocol)) < 0 || rule_ports(&ru, clc_param(r, "FromPort"),
	    clc_param(r, "ToPort")) < 0)
		return -1;
	if (cidr) {
		if (check_cidr(cidr) < 0)
			return -1;
		ru.cidr = cidr;
		if (apply(r, group_id, &ru, add) < 0)
			return -1;
	}
	if (sg && (source_group(r, &ru, sg, NULL, clc_param(r, "SourceSecurityGroupOwnerId"),
	    buf, sizeof(buf)) < 0 || apply(r, group_id, &ru, add) < 0))
		return -1;
	return 0;
}

static const char *
perm(struct clc_req *r, int n, const char *field)
{
	char key[96];

	snprintf(key, sizeof(key), "IpPermissions.%d.%s", n, field);
	return clc_param(r, key);
}

static const char *
perm_sub(struct clc_req *r, int n, const char *list, int m, const char *field)
{
	char key[128];

	snprintf(key, sizeof(key), "IpPermissions.%d.%s.%d.%s", n, list, m, field);
	return clc_param(r, key);
}

static int
one_permission(struct clc_req *r, const char *group_id, int n, bool add)
{
	char buf[CLC_MAX_NAME + 1];
	struct rule ru = { 0 };
	int sources = 0;

	if (parse_protocol(perm(r, n, "IpProtocol"), ru.protocol, sizeof(ru.protocol)) < 0 ||
	    rule_ports(&ru, perm(r, n, "FromPort"), perm(r, n, "ToPort")) < 0)
		return -1;
	for (int m = 1; m <= MAX_SOURCES; m++) {
		const char *cidr = perm_sub(r, n, "IpRanges", m, "CidrIp");

		if (cidr == NULL)
			continue;
		ru.cidr = cidr;
		ru.src_owner = ru.src_group = NULL;
		if (check_cidr(cidr) < 0 || apply(r, group_id, &ru, add) < 0)
			return -1;
		sources++;
	}
	for (int m = 1; m <= MAX_SOURCES; m++) {
		const char *gname = perm_sub(r, n, "Groups", m, "GroupName");
		const char *gid = perm_sub(r, n, "Groups", m, "GroupId");

		if (!gname && !gid)
			continue;
		if (source_group(r, &ru, gname, gid, perm_sub(r, n, "Groups", m, "UserId"), buf,
		    sizeof(buf)) < 0 || apply(r, group_id, &ru, add) < 0)
			return -1;
		sources++;
	}
	if (sources == 0) {
		/* EC2 reads a permission without sources as open to the world. */
		ru.cidr = "0.0.0.0/0";
		ru.src_owner = ru.src_group = NULL;
		return apply(r, group_id, &ru, add);
	}
	return 0;
}

static int
change_ingress(struct clc_req *r, bool add)
{
	static const char *const known[] = { "GroupName", "GroupId", "IpPermissions",
		"IpProtocol", "FromPort", "ToPort", "CidrIp", "SourceSecurityGroupName",
		"SourceSecurityGroupOwnerId", "TagSpecification", NULL };
	char id[KR_ID_MAX], name[CLC_MAX_NAME + 1];
	int perms = 0;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_group_from_params(r, id, sizeof(id), name, sizeof(name)) < 0)
		return -1;
	for (int n = 1; n <= MAX_PERMS; n++) {
		if (!perm(r, n, "IpProtocol"))
			continue;
		if (one_permission(r, id, n, add) < 0)
			return -1;
		perms++;
	}
	if (perms == 0 && flat(r, id, add) < 0)
		return -1;
	clc_network_changed(r);
	return clc_return_true(r);
}

int
clc_authorize_ingress(struct clc_req *r)
{
	return change_ingress(r, true);
}

int
clc_revoke_ingress(struct clc_req *r)
{
	return change_ingress(r, false);
}
