/*
 * burst_run.c - RunInstances in a remote cloud.
 *
 * action_run.c has written the reservation and its rows (local i- ids, zone
 * = the cloud's name) inside the request's transaction; this launches the
 * instances remotely and records each remote id beside its local one.  The
 * key pair and security groups are made remotely first when missing, under
 * names that carry the caller's account ("karri-<account>-<name>"), since
 * every user of this cloud shares the one remote account; a key's remote
 * name also carries a digest of the key, so a key re-created locally under
 * the same name is never confused with its old remote copy.
 *
 * Nothing is left half-made: a failed launch removes the key and groups
 * this call created and rolls the rows back (the caller's transaction); a
 * launch whose answer is lost (the remote slow or dying mid-call) leaves
 * instances remotely that carry this cloud's tag but no row here, and the
 * next poll terminates them (burst_poll.c).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "clc_burst.h"
#include "db.h"
#include "error.h"
#include "log.h"

#define MAX_GROUPS 16
#define REMOTE_NAME_MAX 300

struct made {
	char key[REMOTE_NAME_MAX];		/* "" unless this call imported it */
	char groups[MAX_GROUPS][REMOTE_NAME_MAX];
	int ngroups;
};

/* 0 when done or already there (the remote's *.Duplicate), else -1 + kr_error. */
static int
call_allow_duplicate(const struct clc_remote *c, struct clc_burst_params *p, bool *created)
{
	xmlDoc *doc;

	*created = false;
	if (clc_burst_call(c, p, &doc) == 0) {
		xmlFreeDoc(doc);
		*created = true;
		return 0;
	}
	if (strstr(kr_error_code(), ".Duplicate")) {
		kr_error_clear();
		return 0;
	}
	return -1;
}

static int
ensure_key(struct clc_req *r, const struct clc_remote *c, const struct clc_burst_launch *l,
    char *name, size_t len, struct made *m)
{
	unsigned char md[SHA256_DIGEST_LENGTH], b64[4096];
	struct clc_burst_params p;
	size_t n = strlen(l->key_line);
	bool created;

	if (n > 3000) {
		kr_error("InvalidKey.Format", "the key pair %s is too long to copy", l->key_name);
		return -1;
	}
	SHA256((const unsigned char *)l->key_line, n, md);
	snprintf(name, len, "karri-%s-%s-%02x%02x%02x%02x", r->account, l->key_name, md[0],
	    md[1], md[2], md[3]);
	EVP_EncodeBlock(b64, (const unsigned char *)l->key_line, (int)n);
	clc_burst_params_init(&p, "ImportKeyPair");
	clc_burst_param(&p, "KeyName", name);
	clc_burst_param(&p, "PublicKeyMaterial", (const char *)b64);
	if (call_allow_duplicate(c, &p, &created) < 0)
		return -1;
	if (created)
		snprintf(m->key, sizeof(m->key), "%s", name);
	return 0;
}

/* The group's CIDR rules, copied when the remote group is new. */
static void
copy_rules(struct clc_req *r, const struct clc_remote *c, const char *group_name,
    const char *remote_name)
{
	struct clc_burst_params p;
	sqlite3_stmt *st;
	char v[32];
	xmlDoc *doc;
	int n = 0;

	if (kr_db_prepare(r->db, "SELECT protocol, from_port, to_port, cidr FROM group_rules"
	    " WHERE cidr <> '' AND group_id = (SELECT id FROM groups WHERE owner = ?"
	    " AND name = ?)", &st) < 0)
		return;
	sqlite3_bind_text(st, 1, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, group_name, -1, SQLITE_STATIC);
	clc_burst_params_init(&p, "AuthorizeSecurityGroupIngress");
	clc_burst_param(&p, "GroupName", remote_name);
	while (n < 100 && kr_db_step(st) == 1) {
		n++;
		clc_burst_paramf(&p, (const char *)sqlite3_column_text(st, 0),
		    "IpPermissions.%d.IpProtocol", n);
		snprintf(v, sizeof(v), "%d", sqlite3_column_int(st, 1));
		clc_burst_paramf(&p, v, "IpPermissions.%d.FromPort", n);
		snprintf(v, sizeof(v), "%d", sqlite3_column_int(st, 2));
		clc_burst_paramf(&p, v, "IpPermissions.%d.ToPort", n);
		clc_burst_paramf(&p, (const char *)sqlite3_column_text(st, 3),
		    "IpPermissions.%d.IpRanges.1.CidrIp", n);
	}
	sqlite3_finalize(st);
	if (n == 0) {
		kr_buf_free(&p.body);
		return;
	}
	if (clc_burst_call(c, &p, &doc) == 0)
		xmlFreeDoc(doc);
	else
		kr_log_warnx("cloud %s: the rules of group %s were not copied: %s", c->name,
		    remote_name, kr_error_message());
	kr_error_clear();
}

static int
ensure_groups(struct clc_req *r, const struct clc_remote *c, const struct clc_burst_launch *l,
    char (*names)[REMOTE_NAME_MAX], struct made *m)
{
	for (int i = 0; i < l->ngroups && i < MAX_GROUPS; i++) {
		struct clc_burst_params p;
		bool created;

		snprintf(names[i], REMOTE_NAME_MAX, "karri-%s-%s", r->account, l->group_names[i]);
		clc_burst_params_init(&p, "CreateSecurityGroup");
		clc_burst_param(&p, "GroupName", names[i]);
		clc_burst_param(&p, "GroupDescription", "made by Karri for a burst instance");
		if (call_allow_duplicate(c, &p, &created) < 0)
			return -1;
		if (created) {
			memcpy(m->groups[m->ngroups++], names[i], REMOTE_NAME_MAX);
			copy_rules(r, c, l->group_names[i], names[i]);
		}
	}
	return 0;
}

/* Remove what this call made remotely; the launch's error stays recorded. */
static void
undo(const struct clc_remote *c, const struct made *m)
{
	struct kr_err saved = *kr_error_last();
	struct clc_burst_params p;
	xmlDoc *doc;

	for (int i = 0; i <= m->ngroups; i++) {
		const char *name = i < m->ngroups ? m->groups[i] : m->key;

		if (!*name)
			continue;
		clc_burst_params_init(&p, i < m->ngroups ? "DeleteSecurityGroup" :
		    "DeleteKeyPair");
		clc_burst_param(&p, i < m->ngroups ? "GroupName" : "KeyName", name);
		if (clc_burst_call(c, &p, &doc) == 0)
			xmlFreeDoc(doc);
	}
	kr_error_set(saved.file, saved.func, saved.line, saved.code, "%s", saved.message);
}

struct launched {
	struct clc_req *r;
	const struct clc_remote *c;
	const struct clc_burst_launch *l;
	int n;
	char remote[100][KR_ID_MAX];
};

/* One instance of the remote answer: map it to the next local row. */
static int
record(xmlNode *item, void *arg)
{
	struct launched *x = arg;
	char id[KR_ID_MAX], state[32], priv[64], pub[64];
	sqlite3_stmt *st;
	int rc;

	if (x->n >= x->l->max || x->n >= 100)
		return 0;
	clc_burst_text(item, "instanceId", id, sizeof(id));
	clc_burst_text(item, "instanceState/name", state, sizeof(state));
	clc_burst_text(item, "privateIpAddress", priv, sizeof(priv));
	clc_burst_text(item, "ipAddress", pub, sizeof(pub));
	if (!*id || strlen(id) >= 32)
		return 0;
	snprintf(x->remote[x->n], KR_ID_MAX, "%s", id);
	if (clc_db_run(x->r->db, "INSERT INTO remote_instances (id, cloud, remote_id)"
	    " VALUES (?, ?, ?)", x->l->ids[x->n], x->c->name, id) < 0 ||
	    kr_db_prepare(x->r->db, "UPDATE instances SET state = coalesce(nullif(?2, ''), state),"
	    " private_ip = nullif(?3, ''), public_ip = nullif(?4, ''), node = ?5,"
	    " disk_attachment = 'remote', net_attachment = 'remote' WHERE id = ?1", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, x->l->ids[x->n], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, priv, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, pub, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, id, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	if (rc < 0)
		return -1;
	x->n++;
	return 0;
}

static void
launch_params(struct clc_burst_params *p, const struct clc_remote *c,
    const struct clc_burst_launch *l, const char *image, const char *type, const char *key,
    char (*groups)[REMOTE_NAME_MAX], const char *identity)
{
	char v[32];

	clc_burst_params_init(p, "RunInstances");
	clc_burst_param(p, "ImageId", image);
	snprintf(v, sizeof(v), "%ld", l->min);
	clc_burst_param(p, "MinCount", v);
	snprintf(v, sizeof(v), "%ld", l->max);
	clc_burst_param(p, "MaxCount", v);
	clc_burst_param(p, "InstanceType", type);
	clc_burst_param(p, "KeyName", key);
	for (int i = 0; i < l->ngroups && i < MAX_GROUPS; i++)
		clc_burst_paramf(p, groups[i], "SecurityGroup.%d", i + 1);
	clc_burst_param(p, "UserData", l->user_data);
	clc_burst_param(p, "Placement.AvailabilityZone", *c->zone ? c->zone : NULL);
	/* A retry by the remote's own client logic must not launch twice. */
	clc_burst_param(p, "ClientToken", l->reservation_id);
	clc_burst_param(p, "TagSpecification.1.ResourceType", "instance");
	clc_burst_param(p, "TagSpecification.1.Tag.1.Key", CLC_BURST_TAG);
	clc_burst_param(p, "TagSpecification.1.Tag.1.Value", identity);
}

int
clc_burst_run(struct clc_req *r, const struct clc_remote *c, const struct clc_burst_launch *l,
    int *started)
{
	static char groups[MAX_GROUPS][REMOTE_NAME_MAX];
	static struct launched x;
	char image[KR_ID_MAX + 64], type[64], key[REMOTE_NAME_MAX] = "", identity[40];
	struct clc_burst_params p;
	struct made m = { 0 };
	xmlDoc *doc;

	memset(&x, 0, sizeof(x));
	x = (struct launched){ .r = r, .c = c, .l = l };
	if (clc_burst_map(r->db, "remote_images", c->name, l->image_id, image,
	    sizeof(image)) < 0 ||
	    clc_burst_map(r->db, "remote_types", c->name, l->type, type, sizeof(type)) < 0 ||
	    clc_burst_identity(r->db, identity, sizeof(identity)) < 0)
		return -1;
	if ((l->key_name && ensure_key(r, c, l, key, sizeof(key), &m) < 0) ||
	    ensure_groups(r, c, l, groups, &m) < 0) {
		undo(c, &m);
		return -1;
	}
	launch_params(&p, c, l, image, type, *key ? key : NULL, groups, identity);
	if (clc_burst_call(c, &p, &doc) < 0) {
		undo(c, &m);
		return -1;
	}
	if (clc_burst_each(xmlDocGetRootElement(doc), "instancesSet", record, &x) < 0) {
		/* Launched but not recorded: terminate them now (else the poll will). */
		struct kr_err saved = *kr_error_last();

		clc_burst_params_init(&p, "TerminateInstances");
		for (int i = 0; i < x.n; i++)
			clc_burst_paramf(&p, x.remote[i], "InstanceId.%d", i + 1);
		xmlFreeDoc(doc);
		if (x.n && clc_burst_call(c, &p, &doc) == 0)
			xmlFreeDoc(doc);
		else
			kr_buf_free(&p.body);
		kr_error_set(saved.file, saved.func, saved.line, saved.code, "%s", saved.message);
		return -1;
	}
	xmlFreeDoc(doc);
	*started = x.n;
	kr_log_info("cloud %s: launched %d instance(s) of %s as %s for %s", c->name, x.n,
	    l->image_id, image, r->account);
	return 0;
}
