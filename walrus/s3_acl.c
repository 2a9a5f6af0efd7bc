/*
 * s3_acl.c - who may do what: S3's canned ACLs on buckets and objects.
 *
 * An ACL is stored as its canned name; what each name grants is the table
 * below, read the same way for access checks (wl_acl_allows), for
 * GetBucketAcl/GetObjectAcl (the grants in S3's XML) and for an
 * AccessControlPolicy document sent to PutBucketAcl/PutObjectAcl (taken
 * only when its grants are exactly one canned ACL's: anything else is
 * NotImplemented, so a grant is never silently dropped).  The owner always
 * has full control.  Besides that:
 *
 *	private                    nobody else
 *	public-read                anyone (also anonymous) may READ
 *	public-read-write          anyone may READ and WRITE (buckets: add objects)
 *	authenticated-read         any user of this cloud may READ
 *	aws-exec-read              the cloud itself (karri-system, the CLC's
 *	ec2-bundle-read            identity) may READ: euca-upload-bundle's
 *	                           defaults, so the cloud can launch the bundle
 *	bucket-owner-read          objects: the bucket's owner may READ
 *	bucket-owner-full-control  objects: the bucket's owner has full control
 *	log-delivery-write         the LogDelivery group may WRITE and READ_ACP
 *	                           (no user is in it: Karri delivers no logs)
 *
 * On a bucket the bucket-owner-* ACLs grant nothing more than private, as
 * in S3, which accepts and ignores them there.  READ on a bucket lists it;
 * READ on an object gets it.
 */
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "walrus.h"

#define ALL_USERS "http://acs.amazonaws.com/groups/global/AllUsers"
#define AUTH_USERS "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
#define LOG_DELIVERY "http://acs.amazonaws.com/groups/s3/LogDelivery"

/* What a canned ACL grants besides the owner's FULL_CONTROL. */
enum {
	G_ALL_READ = 1 << 0,		/* AllUsers READ */
	G_ALL_WRITE = 1 << 1,		/* AllUsers WRITE */
	G_AUTH_READ = 1 << 2,		/* AuthenticatedUsers READ */
	G_SYSTEM_READ = 1 << 3,		/* karri-system READ */
	G_BUCKET_OWNER_READ = 1 << 4,	/* an object's bucket owner READ */
	G_BUCKET_OWNER_FULL = 1 << 5,	/* an object's bucket owner FULL_CONTROL */
	G_LOG_WRITE = 1 << 6,		/* LogDelivery WRITE */
	G_LOG_READ_ACP = 1 << 7,	/* LogDelivery READ_ACP */
	G_OTHER = 1 << 8,		/* in a document: a grant no canned ACL has */
};
#define G_BUCKET_OWNER (G_BUCKET_OWNER_READ | G_BUCKET_OWNER_FULL)

static const struct canned {
	const char *name;
	unsigned grants;
} canned[] = {
	/* First of equal grants wins when a document is read back as a name. */
	{ "private", 0 },
	{ "public-read", G_ALL_READ },
	{ "public-read-write", G_ALL_READ | G_ALL_WRITE },
	{ "authenticated-read", G_AUTH_READ },
	{ "aws-exec-read", G_SYSTEM_READ },
	{ "ec2-bundle-read", G_SYSTEM_READ },
	{ "bucket-owner-read", G_BUCKET_OWNER_READ },
	{ "bucket-owner-full-control", G_BUCKET_OWNER_FULL },
	{ "log-delivery-write", G_LOG_WRITE | G_LOG_READ_ACP },
};
#define N_CANNED (sizeof(canned) / sizeof(canned[0]))

static const struct canned *
canned_find(const char *name)
{
	for (size_t i = 0; i < N_CANNED; i++)
		if (strcmp(name, canned[i].name) == 0)
			return &canned[i];
	return NULL;
}

/* An unknown stored name (none is written) grants nothing: fail closed. */
static unsigned
canned_grants(const char *name)
{
	const struct canned *c = canned_find(name);

	return c ? c->grants : 0;
}

static bool
is_user(const struct wl_req *rq, const char *name)
{
	return rq->who.authenticated && name && strcmp(rq->who.user.name, name) == 0;
}

/* Does `grants` give rq `p`?  bucket_owner: an object's bucket's, or NULL. */
static bool
granted(const struct wl_req *rq, unsigned grants, const char *bucket_owner, enum wl_perm p)
{
	bool bucket_owner_full = (grants & G_BUCKET_OWNER_FULL) && is_user(rq, bucket_owner);

	switch (p) {
	case WL_READ:
		return (grants & G_ALL_READ) ||
		    ((grants & G_AUTH_READ) && rq->who.authenticated) ||
		    ((grants & G_SYSTEM_READ) && is_user(rq, WL_SYSTEM_USER)) ||
		    ((grants & G_BUCKET_OWNER) && is_user(rq, bucket_owner));
	case WL_WRITE:
		return (grants & G_ALL_WRITE) || bucket_owner_full;
	case WL_READ_ACP:
	case WL_WRITE_ACP:
		return bucket_owner_full;
	}
	return false;
}

bool
wl_acl_allows(const struct wl_req *rq, const char *owner, const char *acl, enum wl_perm p)
{
	if (is_user(rq, owner))
		return true;
	return granted(rq, canned_grants(acl) & ~(unsigned)G_BUCKET_OWNER, NULL, p);
}

bool
wl_acl_object_allows(const struct wl_req *rq, const char *bucket, const struct wl_object *o,
    enum wl_perm p)
{
	unsigned grants = canned_grants(o->acl);
	struct wl_bucket b;

	if (is_user(rq, o->owner))
		return true;
	if (granted(rq, grants & ~(unsigned)G_BUCKET_OWNER, NULL, p))
		return true;
	if (!(grants & G_BUCKET_OWNER) || !rq->who.authenticated)
		return false;
	/* Only now is the bucket's owner worth a lookup. */
	switch (wl_bucket_get(rq->w, bucket, &b)) {
	case 1:
		return granted(rq, grants, b.owner, p);
	case 0:
		return false;	/* the bucket went away meanwhile */
	default:
		kr_log_warnx("bucket %s: %s; access to %s denied", bucket, kr_error_message(),
		    o->key);
		return false;
	}
}

const char *
wl_acl_canned(const struct wl_req *rq, const char *def)
{
	const char *v = kr_httpd_header(rq->http, "x-amz-acl");
	const struct canned *c;

	if (!v)
		return def;
	return (c = canned_find(v)) ? c->name : NULL;
}

/* --- GetBucketAcl, GetObjectAcl ------------------------------------------- */

/* karri-system's account id, "" when the CLC has not made it yet (then nobody holds it). */
static void
system_account(struct wl_req *rq, char id[KR_ACCOUNT_ID_LEN + 1])
{
	struct kr_user u;

	id[0] = '\0';
	if (kr_userdb_user_get(rq->w->users, WL_SYSTEM_USER, &u) == 0)
		snprintf(id, KR_ACCOUNT_ID_LEN + 1, "%s", u.account_id);
}

static void
grant_user(struct kr_buf *b, const char *id, const char *name, const char *perm)
{
	kr_buf_add(b, "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
	    " xsi:type=\"CanonicalUser\">");
	kr_buf_add_xml_elem(b, "ID", id);
	kr_buf_add_xml_elem(b, "DisplayName", name);
	kr_buf_addf(b, "</Grantee><Permission>%s</Permission></Grant>", perm);
}

static void
grant_group(struct kr_buf *b, const char *uri, const char *perm)
{
	kr_buf_add(b, "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
	    " xsi:type=\"Group\">");
	kr_buf_add_xml_elem(b, "URI", uri);
	kr_buf_addf(b, "</Grantee><Permission>%s</Permission></Grant>", perm);
}

/* The grants besides the owner's, in S3's order. */
static void
add_grants(struct wl_req *rq, struct kr_buf *b, unsigned g, const struct wl_bucket *bucket)
{
	char system_id[KR_ACCOUNT_ID_LEN + 1];

	if (g & G_ALL_READ)
		grant_group(b, ALL_USERS, "READ");
	if (g & G_ALL_WRITE)
		grant_group(b, ALL_USERS, "WRITE");
	if (g & G_AUTH_READ)
		grant_group(b, AUTH_USERS, "READ");
	if (g & G_SYSTEM_READ) {
		system_account(rq, system_id);
		if (system_id[0])
			grant_user(b, system_id, WL_SYSTEM_USER, "READ");
	}
	if (bucket && (g & G_BUCKET_OWNER))
		grant_user(b, bucket->owner_id, bucket->owner,
		    g & G_BUCKET_OWNER_FULL ? "FULL_CONTROL" : "READ");
	if (g & G_LOG_WRITE)
		grant_group(b, LOG_DELIVERY, "WRITE");
	if (g & G_LOG_READ_ACP)
		grant_group(b, LOG_DELIVERY, "READ_ACP");
}

void
wl_acl_get(struct wl_req *rq, const char *owner, const char *owner_id, const char *acl,
    const struct wl_bucket *bucket)
{
	struct kr_buf b = KR_BUF_INIT;
	unsigned g = canned_grants(acl);

	/* The bucket owner's grant says nothing new when it is the owner's own. */
	if (!bucket || strcmp(bucket->owner, owner) == 0)
		g &= ~(unsigned)G_BUCKET_OWNER;
	wl_xml_start(&b, "AccessControlPolicy");
	kr_buf_add(&b, "<Owner>");
	kr_buf_add_xml_elem(&b, "ID", owner_id);
	kr_buf_add_xml_elem(&b, "DisplayName", owner);
	kr_buf_add(&b, "</Owner><AccessControlList>");
	grant_user(&b, owner_id, owner, "FULL_CONTROL");
	add_grants(rq, &b, g, bucket);
	kr_buf_add(&b, "</AccessControlList></AccessControlPolicy>");
	wl_reply_xml(rq, 200, &b);
}

/* --- PutBucketAcl, PutObjectAcl ------------------------------------------- */

struct acl_put {
	void (*apply)(struct wl_req *rq, const char *acl);
	/* Who the grants of a document may name, by canonical (account) id. */
	char owner_id[KR_ACCOUNT_ID_LEN + 1];
	char bucket_owner_id[KR_ACCOUNT_ID_LEN + 1];	/* objects only, else "" */
	char system_id[KR_ACCOUNT_ID_LEN + 1];
	unsigned grants;
};

/* The G_* bit of a grant to a group, or G_OTHER. */
static unsigned
group_grant(const char *uri, const char *perm)
{
	static const struct {
		const char *uri, *perm;
		unsigned bit;
	} groups[] = {
		{ ALL_USERS, "READ", G_ALL_READ },
		{ ALL_USERS, "WRITE", G_ALL_WRITE },
		{ AUTH_USERS, "READ", G_AUTH_READ },
		{ LOG_DELIVERY, "WRITE", G_LOG_WRITE },
		{ LOG_DELIVERY, "READ_ACP", G_LOG_READ_ACP },
	};

	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strcmp(uri, groups[i].uri) == 0 && strcmp(perm, groups[i].perm) == 0)
			return groups[i].bit;
	return G_OTHER;
}

/* The G_* bit of a grant to a canonical user (0: the owner's own), or G_OTHER. */
static unsigned
user_grant(const struct acl_put *ap, const char *id, const char *perm)
{
	bool read = strcmp(perm, "READ") == 0, full = strcmp(perm, "FULL_CONTROL") == 0;

	if (full && strcmp(id, ap->owner_id) == 0)
		return 0;
	if (ap->bucket_owner_id[0] && strcmp(id, ap->bucket_owner_id) == 0 && (read || full))
		return full ? G_BUCKET_OWNER_FULL : G_BUCKET_OWNER_READ;
	if (ap->system_id[0] && strcmp(id, ap->system_id) == 0 && read)
		return G_SYSTEM_READ;
	return G_OTHER;
}

static int
one_grant(const char *text, size_t len, void *arg)
{
	struct acl_put *ap = arg;
	char *uri = wl_xml_text(text, text + len, "URI");
	char *id = wl_xml_text(text, text + len, "ID");
	char *perm = wl_xml_text(text, text + len, "Permission");

	if (!perm || (uri != NULL) == (id != NULL))
		ap->grants |= G_OTHER;	/* an e-mail grantee, or none */
	else
		ap->grants |= uri ? group_grant(uri, perm) : user_grant(ap, id, perm);
	free(uri);
	free(id);
	free(perm);
	return 0;
}

static void
acl_body(struct kr_httpd_req *http, const char *body, size_t len, void *ctx)
{
	struct wl_req *rq = ctx;
	struct acl_put *ap = rq->op;

	(void)http;
	if (!body) {
		wl_error(rq, 400, "MalformedACLError", "The ACL document is too large");
		return;
	}
	if (wl_auth_body(rq, body, len) < 0 || wl_auth_body_end(rq) < 0)
		return;
	if (len == 0) {
		wl_error(rq, 400, "MissingSecurityHeader", "x-amz-acl or an ACL document is required");
		return;
	}
	if (wl_xml_each(body, body + len, "Grant", one_grant, ap) < 0) {
		wl_error(rq, 400, "MalformedACLError", "The XML you provided was not well-formed");
		return;
	}
	for (size_t i = 0; i < N_CANNED; i++)
		if (canned[i].grants == ap->grants) {
			ap->apply(rq, canned[i].name);
			return;
		}
	wl_error(rq, 501, "NotImplemented", "Only grants equal to a canned ACL (private, "
	    "public-read, public-read-write, authenticated-read, aws-exec-read, "
	    "bucket-owner-read, bucket-owner-full-control, log-delivery-write) are supported");
}

static void
acl_put_free(void *op, bool completed)
{
	(void)completed;
	free(op);
}

void
wl_acl_put(struct wl_req *rq, const char *owner_id, const struct wl_bucket *bucket,
    void (*apply)(struct wl_req *rq, const char *acl))
{
	struct acl_put *ap;
	const char *acl = wl_acl_canned(rq, NULL);

	if (kr_httpd_header(rq->http, "x-amz-acl")) {
		if (!acl) {
			wl_error(rq, 400, "InvalidArgument", "unknown canned ACL");
			return;
		}
		apply(rq, acl);
		return;
	}
	if (!(ap = calloc(1, sizeof(*ap)))) {
		wl_error(rq, 503, "SlowDown", "out of memory");
		return;
	}
	ap->apply = apply;
	snprintf(ap->owner_id, sizeof(ap->owner_id), "%s", owner_id);
	if (bucket)
		snprintf(ap->bucket_owner_id, sizeof(ap->bucket_owner_id), "%s", bucket->owner_id);
	system_account(rq, ap->system_id);
	rq->op = ap;
	rq->op_free = acl_put_free;
	kr_httpd_read_body_all(rq->http, WL_MAX_XML_BODY, acl_body, rq);
}

void
wl_acl_store(struct wl_req *rq, const char *acl, bool object)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (kr_db_prepare(rq->w->db, object ?
	    "UPDATE objects SET acl = ? WHERE bucket = ? AND key = ?" :
	    "UPDATE buckets SET acl = ? WHERE name = ?", &st) < 0) {
		wl_error_from_kr(rq);
		return;
	}
	sqlite3_bind_text(st, 1, acl, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rq->bucket, -1, SQLITE_STATIC);
	if (object)
		sqlite3_bind_text(st, 3, rq->key, -1, SQLITE_STATIC);
	r = kr_db_step(st);
	sqlite3_finalize(st);
	if (r < 0) {
		wl_error_from_kr(rq);
		return;
	}
	kr_httpd_add_header(rq->http, "x-amz-request-id", "%s", rq->request_id);
	kr_httpd_respond(rq->http, 200, NULL, "", 0);
}
