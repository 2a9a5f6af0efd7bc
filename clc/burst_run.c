/*
 * burst_run.c - RunInstances in a remote cloud.
 *
 * action_run.c has written and committed the reservation and its rows
 * (local i- ids, zone = the cloud's name); this launches the instances
 * remotely and records each remote id beside its local one, in three
 * steps: prepared on the loop (maps, identity, the groups' rules read from
 * clc.db), called on a worker thread (every remote call, no database),
 * applied on the loop (the rows).  The
 * key pair and security groups are made remotely first when missing, under
 * names that carry the caller's account ("karri-<account>-<name>"), since
 * every user of this cloud shares the one remote account; a key's remote
 * name also carries a digest of the key, so a key re-created locally under
 * the same name is never confused with its old remote copy.
 *
 * Nothing is left half-made: a failed launch removes the key and groups
 * this call created and the caller deletes the rows; a
 * launch whose answer is lost (the remote slow or dying mid-call) leaves
 * instances remotely that carry this cloud's tag but no row here, and the
 * next poll terminates them (burst_instances.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "clc_burst.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"

#define MAX_GROUPS 16
#define REMOTE_NAME_MAX 300
#define MAX_RULES 100
#define MAX_LAUNCH 100

struct made {
	char key[REMOTE_NAME_MAX];		/* "" unless this call imported it */
	char groups[MAX_GROUPS][REMOTE_NAME_MAX];
	int ngroups;
};

/* A group's CIDR rules, read on the loop for the worker to copy. */
struct rule {
	char protocol[16], cidr[64];
	int from, to;
};

struct clc_burst_job {
	struct clc_remote c;
	const struct clc_burst_launch *l;	/* action_run.c's, alive until freed */
	char account[16];
	char image[KR_ID_MAX + 64], type[64], identity[40];
	char key[REMOTE_NAME_MAX];
	char groups[MAX_GROUPS][REMOTE_NAME_MAX];
	struct rule *rules[MAX_GROUPS];
	int nrules[MAX_GROUPS];
	/* The answer: remote id, state and addresses of each instance launched. */
	int n;
	char remote[MAX_LAUNCH][KR_ID_MAX], state[MAX_LAUNCH][32], priv[MAX_LAUNCH][64],
	    pub[MAX_LAUNCH][64];
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
ensure_key(struct clc_burst_job *j, struct made *m)
{
	const struct clc_burst_launch *l = j->l;
	unsigned char md[SHA256_DIGEST_LENGTH], b64[4096];
	struct clc_burst_params p;
	size_t n = strlen(l->key_line);
	bool created;

	if (n > 3000) {
		kr_error("InvalidKey.Format", "the key pair %s is too long to copy", l->key_name);
		return -1;
	}
	SHA256((const unsigned char *)l->key_line, n, md);
	snprintf(j->key, sizeof(j->key), "karri-%s-%s-%02x%02x%02x%02x", j->account,
	    l->key_name, md[0], md[1], md[2], md[3]);
	EVP_EncodeBlock(b64, (const unsigned char *)l->key_line, (int)n);
	clc_burst_params_init(&p, "ImportKeyPair");
	clc_burst_param(&p, "KeyName", j->key);
	clc_burst_param(&p, "PublicKeyMaterial", (const char *)b64);
	if (call_allow_duplicate(&j->c, &p, &created) < 0)
		return -1;
	if (created)
		snprintf(m->key, sizeof(m->key), "%s", j->key);
	return 0;
}

/* On the loop: the CIDR rules of the caller's group, for copy_rules. */
static int
load_rules(struct clc_req *r, struct clc_burst_job *j, int g)
{
	sqlite3_stmt *st;
	int n = 0;

	if (!(j->rules[g] = calloc(MAX_RULES, sizeof(struct rule)))) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	if (kr_db_prepare(r->db, "SELECT protocol, from_port, to_port, cidr FROM group_rules"
	    " WHERE cidr <> '' AND group_id = (SELECT id FROM groups WHERE owner = ?"
	    " AND name = ?)", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, j->l->group_names[g], -1, SQLITE_STATIC);
	while (n < MAX_RULES && kr_db_step(st) == 1) {
		struct rule *x = &j->rules[g][n++];

		snprintf(x->protocol, sizeof(x->protocol), "%s", sqlite3_column_text(st, 0));
		x->from = sqlite3_column_int(st, 1);
		x->to = sqlite3_column_int(st, 2);
		snprintf(x->cidr, sizeof(x->cidr), "%s", sqlite3_column_text(st, 3));
	}
	sqlite3_finalize(st);
	j->nrules[g] = n;
	return 0;
}

/* The group's CIDR rules, copied when the remote group is new. */
static void
copy_rules(struct clc_burst_job *j, int g)
{
	struct clc_burst_params p;
	char v[32];
	xmlDoc *doc;

	if (j->nrules[g] == 0)
		return;
	clc_burst_params_init(&p, "AuthorizeSecurityGroupIngress");
	clc_burst_param(&p, "GroupName", j->groups[g]);
	for (int i = 0; i < j->nrules[g]; i++) {
		const struct rule *x = &j->rules[g][i];

		clc_burst_paramf(&p, x->protocol, "IpPermissions.%d.IpProtocol", i + 1);
		snprintf(v, sizeof(v), "%d", x->from);
		clc_burst_paramf(&p, v, "IpPermissions.%d.FromPort", i + 1);
		snprintf(v, sizeof(v), "%d", x->to);
		clc_burst_paramf(&p, v, "IpPermissions.%d.ToPort", i + 1);
		clc_burst_paramf(&p, x->cidr, "IpPermissions.%d.IpRanges.1.CidrIp", i + 1);
	}
	if (clc_burst_call(&j->c, &p, &doc) == 0)
		xmlFreeDoc(doc);
	else
		kr_log_warnx("cloud %s: the rules of group %s were not copied: %s", j->c.name,
		    j->groups[g], kr_error_message());
	kr_error_clear();
}

static int
ensure_groups(struct clc_burst_job *j, struct made *m)
{
	for (int i = 0; i < j->l->ngroups && i < MAX_GROUPS; i++) {
		struct clc_burst_params p;
		bool created;

		clc_burst_params_init(&p, "CreateSecurityGroup");
		clc_burst_param(&p, "GroupName", j->groups[i]);
		clc_burst_param(&p, "GroupDescription", "made by Karri for a burst instance");
		if (call_allow_duplicate(&j->c, &p, &created) < 0)
			return -1;
		if (created) {
			memcpy(m->groups[m->ngroups++], j->groups[i], REMOTE_NAME_MAX);
			copy_rules(j, i);
		}
	}
	return 0;
}

/* Remove what this call made remotely; the launch's error stays recorded. */
static void
undo(const struct clc_remote *c, const struct made *m)
{
	struct kr_err saved;
	struct clc_burst_params p;
	xmlDoc *doc;

	kr_error_save(&saved);
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
	kr_error_restore(&saved);
}

/* One instance of the remote answer, kept for the loop to record. */
static int
take(xmlNode *item, void *arg)
{
	struct clc_burst_job *j = arg;
	char id[KR_ID_MAX];

	if (j->n >= j->l->max || j->n >= MAX_LAUNCH)
		return 0;
	clc_burst_text(item, "instanceId", id, sizeof(id));
	if (!*id || strlen(id) >= 32)
		return 0;
	snprintf(j->remote[j->n], KR_ID_MAX, "%s", id);
	clc_burst_text(item, "instanceState/name", j->state[j->n], sizeof(j->state[0]));
	clc_burst_text(item, "privateIpAddress", j->priv[j->n], sizeof(j->priv[0]));
	clc_burst_text(item, "ipAddress", j->pub[j->n], sizeof(j->pub[0]));
	j->n++;
	return 0;
}

static void
launch_params(struct clc_burst_params *p, const struct clc_burst_job *j)
{
	const struct clc_burst_launch *l = j->l;
	char v[32];

	clc_burst_params_init(p, "RunInstances");
	clc_burst_param(p, "ImageId", j->image);
	snprintf(v, sizeof(v), "%ld", l->min);
	clc_burst_param(p, "MinCount", v);
	snprintf(v, sizeof(v), "%ld", l->max);
	clc_burst_param(p, "MaxCount", v);
	clc_burst_param(p, "InstanceType", j->type);
	clc_burst_param(p, "KeyName", *j->key ? j->key : NULL);
	for (int i = 0; i < l->ngroups && i < MAX_GROUPS; i++)
		clc_burst_paramf(p, j->groups[i], "SecurityGroup.%d", i + 1);
	clc_burst_param(p, "UserData", l->user_data);
	clc_burst_param(p, "Placement.AvailabilityZone", *j->c.zone ? j->c.zone : NULL);
	/* A retry by the remote's own client logic must not launch twice. */
	clc_burst_param(p, "ClientToken", l->reservation_id);
	clc_burst_param(p, "TagSpecification.1.ResourceType", "instance");
	clc_burst_param(p, "TagSpecification.1.Tag.1.Key", CLC_BURST_TAG);
	clc_burst_param(p, "TagSpecification.1.Tag.1.Value", j->identity);
}

struct clc_burst_job *
clc_burst_run_prepare(struct clc_req *r, const struct clc_remote *c,
    const struct clc_burst_launch *l)
{
	struct clc_burst_job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	j->c = *c;
	j->l = l;
	snprintf(j->account, sizeof(j->account), "%s", r->account);
	if (clc_burst_map(r->db, "remote_images", c->name, l->image_id, j->image,
	    sizeof(j->image)) < 0 ||
	    clc_burst_map(r->db, "remote_types", c->name, l->type, j->type, sizeof(j->type)) < 0 ||
	    clc_burst_identity(r->db, j->identity, sizeof(j->identity)) < 0)
		goto fail;
	for (int i = 0; i < l->ngroups && i < MAX_GROUPS; i++) {
		snprintf(j->groups[i], REMOTE_NAME_MAX, "karri-%s-%s", r->account,
		    l->group_names[i]);
		if (load_rules(r, j, i) < 0)
			goto fail;
	}
	return j;
fail:
	clc_burst_run_free(j);
	return NULL;
}

int
clc_burst_run_call(struct clc_burst_job *j)
{
	struct clc_burst_params p;
	struct made m = { 0 };
	xmlDoc *doc;

	if ((j->l->key_name && ensure_key(j, &m) < 0) || ensure_groups(j, &m) < 0) {
		undo(&j->c, &m);
		return -1;
	}
	launch_params(&p, j);
	if (clc_burst_call(&j->c, &p, &doc) < 0) {
		undo(&j->c, &m);
		return -1;
	}
	clc_burst_each(xmlDocGetRootElement(doc), "instancesSet", take, j);
	xmlFreeDoc(doc);
	kr_log_info("cloud %s: launched %d instance(s) of %s as %s for %s", j->c.name, j->n,
	    j->l->image_id, j->image, j->account);
	return 0;
}

/* Launched but not recorded: terminate them now (else the poll will). */
static void
terminate_launched(struct clc_burst_job *j)
{
	const char *ids[MAX_LAUNCH];

	for (int i = 0; i < j->n; i++)
		ids[i] = j->remote[i];
	clc_burst_terminate_remote_later(&j->c, ids, j->n);
}

int
clc_burst_run_apply(struct clc_req *r, struct clc_burst_job *j, int *started)
{
	sqlite3_stmt *st;
	int rc;

	for (int i = 0; i < j->n; i++) {
		if (clc_db_run(r->db, "INSERT INTO remote_instances (id, cloud, remote_id)"
		    " VALUES (?, ?, ?)", j->l->ids[i], j->c.name, j->remote[i]) < 0 ||
		    kr_db_prepare(r->db, "UPDATE instances SET state = coalesce(nullif(?2, ''),"
		    " state), private_ip = nullif(?3, ''), public_ip = nullif(?4, ''), node = ?5,"
		    " disk_attachment = 'remote', net_attachment = 'remote' WHERE id = ?1",
		    &st) < 0)
			goto fail;
		sqlite3_bind_text(st, 1, j->l->ids[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, j->state[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, j->priv[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, j->pub[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, j->remote[i], -1, SQLITE_STATIC);
		rc = kr_db_step(st);
		sqlite3_finalize(st);
		if (rc < 0)
			goto fail;
	}
	*started = j->n;
	return 0;
fail:
	terminate_launched(j);
	return -1;
}

void
clc_burst_run_free(struct clc_burst_job *j)
{
	if (j == NULL)
		return;
	for (int i = 0; i < MAX_GROUPS; i++)
		free(j->rules[i]);
	clc_burst_wipe(&j->c);
	free(j);
}
