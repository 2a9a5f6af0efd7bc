/*
 * s3_acl.c - who may do what: S3's canned ACLs on buckets and objects.
 *
 * An ACL is stored as its canned name.  The owner always has full
 * control; the rest is:
 *
 *	private             nobody else
 *	public-read         anyone (also anonymous) may READ
 *	public-read-write   anyone may READ and WRITE (buckets: add objects)
 *	authenticated-read  any user of this cloud may READ
 *
 * READ on a bucket lists it; READ on an object gets it.  PutBucketAcl /
 * PutObjectAcl take x-amz-acl, or an AccessControlPolicy document whose
 * grants are one of these shapes (anything else: NotImplemented, so a
 * grant is never silently dropped).
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "walrus.h"

#define ALL_USERS "http://acs.amazonaws.com/groups/global/AllUsers"
#define AUTH_USERS "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"

static const char *const canned[] = {
	"private", "public-read", "public-read-write", "authenticated-read",
};

bool
wl_acl_allows(const struct wl_req *rq, const char *owner, const char *acl, enum wl_perm p)
{
	if (rq->who.authenticated && strcmp(rq->who.user.name, owner) == 0)
		return true;
	if (p == WL_READ && (strcmp(acl, "public-read") == 0 ||
	    strcmp(acl, "public-read-write") == 0))
		return true;
	if (p == WL_WRITE && strcmp(acl, "public-read-write") == 0)
		return true;
	if (p == WL_READ && strcmp(acl, "authenticated-read") == 0 && rq->who.authenticated)
		return true;
	return false;
}

const char *
wl_acl_canned(const struct wl_req *rq, const char *def)
{
	const char *v = kr_httpd_header(rq->http, "x-amz-acl");

	if (!v)
		return def;
	for (size_t i = 0; i < sizeof(canned) / sizeof(canned[0]); i++)
		if (strcmp(v, canned[i]) == 0)
			return canned[i];
	return NULL;
}

static void
grant(struct kr_buf *b, const char *type, const char *who, const char *name, const char *perm)
{
	kr_buf_addf(b, "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
	    " xsi:type=\"%s\">", type);
	if (strcmp(type, "Group") == 0)
		kr_buf_add_xml_elem(b, "URI", who);
	else {
		kr_buf_add_xml_elem(b, "ID", who);
		kr_buf_add_xml_elem(b, "DisplayName", name);
	}
	kr_buf_addf(b, "</Grantee><Permission>%s</Permission></Grant>", perm);
}

void
wl_acl_get(struct wl_req *rq, const char *owner, const char *owner_id, const char *acl)
{
	struct kr_buf b = KR_BUF_INIT;

	wl_xml_start(&b, "AccessControlPolicy");
	kr_buf_add(&b, "<Owner>");
	kr_buf_add_xml_elem(&b, "ID", owner_id);
	kr_buf_add_xml_elem(&b, "DisplayName", owner);
	kr_buf_add(&b, "</Owner><AccessControlList>");
	grant(&b, "CanonicalUser", owner_id, owner, "FULL_CONTROL");
	if (strcmp(acl, "public-read") == 0 || strcmp(acl, "public-read-write") == 0)
		grant(&b, "Group", ALL_USERS, NULL, "READ");
	if (strcmp(acl, "public-read-write") == 0)
		grant(&b, "Group", ALL_USERS, NULL, "WRITE");
	if (strcmp(acl, "authenticated-read") == 0)
		grant(&b, "Group", AUTH_USERS, NULL, "READ");
	kr_buf_add(&b, "</AccessControlList></AccessControlPolicy>");
	wl_reply_xml(rq, 200, &b);
}

struct grants {
	bool all_read, all_write, auth_read, other;
};

static int
one_grant(const char *text, size_t len, void *arg)
{
	struct grants *g = arg;
	char *uri = wl_xml_text(text, text + len, "URI");
	char *perm = wl_xml_text(text, text + len, "Permission");

	if (perm && strcmp(perm, "FULL_CONTROL") == 0 && !uri)
		;	/* the owner's own grant */
	else if (uri && perm && strcmp(uri, ALL_USERS) == 0 && strcmp(perm, "READ") == 0)
		g->all_read = true;
	else if (uri && perm && strcmp(uri, ALL_USERS) == 0 && strcmp(perm, "WRITE") == 0)
		g->all_write = true;
	else if (uri && perm && strcmp(uri, AUTH_USERS) == 0 && strcmp(perm, "READ") == 0)
		g->auth_read = true;
	else
		g->other = true;
	free(uri);
	free(perm);
	return 0;
}

struct acl_put {
	void (*apply)(struct wl_req *rq, const char *acl);
};

static void
acl_body(struct kr_httpd_req *http, const char *body, size_t len, void *ctx)
{
	struct wl_req *rq = ctx;
	struct acl_put *ap = rq->op;
	struct grants g = { 0 };
	const char *acl;

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
	if (wl_xml_each(body, body + len, "Grant", one_grant, &g) < 0) {
		wl_error(rq, 400, "MalformedACLError", "The XML you provided was not well-formed");
		return;
	}
	if (g.other || (g.all_write && !g.all_read) || (g.auth_read && (g.all_read || g.all_write))) {
		wl_error(rq, 501, "NotImplemented", "Only grants equal to a canned ACL (private, "
		    "public-read, public-read-write, authenticated-read) are supported");
		return;
	}
	acl = g.all_write ? "public-read-write" : g.all_read ? "public-read" :
	    g.auth_read ? "authenticated-read" : "private";
	ap->apply(rq, acl);
}

static void
acl_put_free(void *op, bool completed)
{
	(void)completed;
	free(op);
}

void
wl_acl_put(struct wl_req *rq, void (*apply)(struct wl_req *rq, const char *acl))
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
	if (!(ap = malloc(sizeof(*ap)))) {
		wl_error(rq, 503, "SlowDown", "out of memory");
		return;
	}
	ap->apply = apply;
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
