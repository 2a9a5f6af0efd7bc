/*
 * action_keypair.c - CreateKeyPair, ImportKeyPair, DescribeKeyPairs,
 * DeleteKeyPair.  Key pairs belong to an account; names are unique per
 * account (InvalidKeyPair.Duplicate), and DeleteKeyPair of a missing name
 * succeeds, as on EC2.
 */
#include <string.h>

#include "clc.h"
#include "clc_actions.h"
#include "clc_keys.h"
#include "core/db.h"
#include "core/error.h"

static int
store(struct clc_req *r, const char *name, const struct clc_key *k)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(r->db, "INSERT INTO key_pairs (owner, name, fingerprint, public_key,"
	    " created) VALUES (?, ?, ?, ?, ?)", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, k->fingerprint, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, k->public_line, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, r->now);
	rc = kr_db_step(st);
	if (rc < 0 && kr_db_unique_violation(r->db))
		kr_error("InvalidKeyPair.Duplicate", "The keypair '%s' already exists.", name);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

static const char *
key_name(struct clc_req *r)
{
	const char *name = clc_param_required(r, "KeyName");

	if (name == NULL || clc_check_name("KeyName", name, CLC_MAX_NAME) < 0)
		return NULL;
	return name;
}

int
clc_create_key_pair(struct clc_req *r)
{
	static const char *const known[] = { "KeyName", "KeyType", "KeyFormat",
		"TagSpecification", NULL };
	const char *name, *type = clc_param(r, "KeyType"), *fmt = clc_param(r, "KeyFormat");
	struct clc_key k;

	if (clc_param_check_known(r, known) < 0 || (name = key_name(r)) == NULL)
		return -1;
	if ((type && strcmp(type, "rsa") != 0) || (fmt && strcmp(fmt, "pem") != 0)) {
		kr_error("InvalidParameterValue", "Karri makes RSA key pairs in PEM format only");
		return -1;
	}
	if (clc_key_create(name, &k) < 0 || store(r, name, &k) < 0) {
		explicit_bzero(&k, sizeof(k));
		return -1;
	}
	clc_xml_elem(r->out, "keyName", name);
	clc_xml_elem(r->out, "keyFingerprint", k.fingerprint);
	clc_xml_elem(r->out, "keyMaterial", k.private_pem);
	explicit_bzero(&k, sizeof(k));
	return 0;
}

int
clc_import_key_pair(struct clc_req *r)
{
	static const char *const known[] = { "KeyName", "PublicKeyMaterial", "TagSpecification",
		NULL };
	const char *name, *material;
	struct clc_key k;

	if (clc_param_check_known(r, known) < 0 || (name = key_name(r)) == NULL ||
	    (material = clc_param_required(r, "PublicKeyMaterial")) == NULL)
		return -1;
	if (strlen(material) > 16384) {
		kr_error("InvalidKey.Format", "the public key is too long");
		return -1;
	}
	if (clc_key_import(material, name, &k) < 0 || store(r, name, &k) < 0)
		return -1;
	clc_xml_elem(r->out, "keyName", name);
	clc_xml_elem(r->out, "keyFingerprint", k.fingerprint);
	return 0;
}

/* KeyType is in the 2016-11-15 model (added there later); older versions never had it. */
static bool
has_key_type(const struct clc_req *r)
{
	return r->version && strcmp(r->version, "2016-11-15") >= 0;
}

struct kp_item {
	const char *name, *fingerprint, *type;
};

static const char *
kp_field(void *item, const char *name, size_t idx)
{
	struct kp_item *k = item;

	if (idx)
		return NULL;
	if (strcmp(name, "key-name") == 0)
		return k->name;
	if (strcmp(name, "fingerprint") == 0)
		return k->fingerprint;
	if (strcmp(name, "key-type") == 0)
		return k->type;
	return NULL;
}

int
clc_describe_key_pairs(struct clc_req *r)
{
	static const char *const known[] = { "KeyName", "Filter", "KeyPairId",
		"IncludePublicKey", NULL };
	static const char *const filters[] = { "key-name", "fingerprint", "key-type", NULL };
	const char *names[CLC_MAX_IDS];
	struct clc_filters fs;
	sqlite3_stmt *st;
	size_t n, seen = 0;
	int rc;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_param_list_checked(r, "KeyName", NULL, names, CLC_MAX_IDS, &n) < 0 ||
	    clc_filters_parse(r, filters, &fs) < 0)
		return -1;
	if (kr_db_prepare(r->db, "SELECT name, fingerprint, public_key FROM key_pairs WHERE owner = ?"
	    " ORDER BY name", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, r->account, -1, SQLITE_STATIC);
	kr_buf_add(r->out, "<keySet>");
	while ((rc = kr_db_step(st)) == 1) {
		struct kp_item k = { (const char *)sqlite3_column_text(st, 0),
			(const char *)sqlite3_column_text(st, 1),
			clc_key_type((const char *)sqlite3_column_text(st, 2)) };

		if (n && !clc_in_list(k.name, names, n))
			continue;
		seen++;
		if (!clc_filters_match(r, &fs, NULL, kp_field, &k))
			continue;
		kr_buf_add(r->out, "<item>");
		clc_xml_elem(r->out, "keyName", k.name);
		clc_xml_elem(r->out, "keyFingerprint", k.fingerprint);
		if (has_key_type(r))
			clc_xml_elem(r->out, "keyType", k.type);
		kr_buf_add(r->out, "</item>");
	}
	kr_buf_add(r->out, "</keySet>");
	sqlite3_finalize(st);
	if (rc == 0 && n && seen < n) {
		/* EC2 names the first missing one. */
		for (size_t i = 0; i < n; i++) {
			sqlite3_stmt *q;
			int found;

			if (kr_db_prepare(r->db, "SELECT 1 FROM key_pairs WHERE owner = ?"
			    " AND name = ?", &q) < 0)
				return -1;
			sqlite3_bind_text(q, 1, r->account, -1, SQLITE_STATIC);
			sqlite3_bind_text(q, 2, names[i], -1, SQLITE_STATIC);
			found = kr_db_step(q);
			sqlite3_finalize(q);
			if (found == 0) {
				kr_error("InvalidKeyPair.NotFound", "The key pair '%s' does not "
				    "exist", names[i]);
				return -1;
			}
		}
	}
	return rc < 0 ? -1 : 0;
}

int
clc_delete_key_pair(struct clc_req *r)
{
	static const char *const known[] = { "KeyName", "KeyPairId", NULL };
	const char *name;
	sqlite3_stmt *st;
	int rc;

	if (clc_param_check_known(r, known) < 0 || (name = key_name(r)) == NULL)
		return -1;
	if (kr_db_prepare(r->db, "DELETE FROM key_pairs WHERE owner = ? AND name = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : clc_return_true(r);
}
