/*
 * ec2_soap_wsse.c - WS-Security X.509 signatures on EC2 SOAP requests.
 *
 * EC2 SOAP clients (ec2-api-tools, WSS4J, xmlsec) sign each request with
 * the user's X.509 key: <wsse:Security> in the header holds the
 * certificate (BinarySecurityToken), a <wsu:Timestamp> and a <ds:Signature>
 * whose SignedInfo references the Body and the Timestamp by wsu:Id, each
 * digested after exclusive XML canonicalization, SignedInfo itself signed
 * RSA-SHA1 (or RSA-SHA256).  Canonicalization is libxml2's (xmlsec's own),
 * streamed into OpenSSL digests.
 *
 * Against signature wrapping: every referenced id must name exactly one
 * element of the document, and the references must cover the very Body the
 * CLC executes and the very Timestamp it checks (pointer equality), not
 * some copy elsewhere.  The certificate must chain to the cloud CA
 * (var/lib/karri/keys/ca-cert.pem) and be a user's as `karri credentials`
 * issues them: not a CA, no subjectAltName (the CLC's and components'
 * certificates carry one or have a CN no user name can have), CN an
 * enabled user.  Certificates are not recorded per user, so any
 * certificate the CA issued for a user name is that user's until the CA
 * is replaced (there is no revocation list).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libxml/c14n.h>
#include <libxml/tree.h>
#include <libxml/xmlIO.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "clc_keys.h"
#include "ec2_soap.h"
#include "core/error.h"
#include "tls/pem.h"

#define WSSE_NS "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define WSU_NS "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
#define DS_NS "http://www.w3.org/2000/09/xmldsig#"
#define EXC_C14N "http://www.w3.org/2001/10/xml-exc-c14n#"
#define INC_C14N "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"

#define MAX_REFS 8
#define MAX_PREFIXES 16
#define MAX_SIG 1024		/* an 8192-bit RSA signature */
#define MAX_CERT 16384

#define unsigned_request(...) kr_error("AuthFailure", __VA_ARGS__)
#define bad_signature(...) kr_error("SignatureDoesNotMatch", __VA_ARGS__)

struct c14n_method {
	int mode;
	xmlChar *prefixes[MAX_PREFIXES + 1];	/* InclusiveNamespaces PrefixList */
	char list[256];
};

struct sink {
	EVP_MD_CTX *md;
	bool verify;		/* DigestVerifyUpdate (SignedInfo) or DigestUpdate */
};

/* The only child of parent named ns:name; NULL (and *n counts them) otherwise. */
static xmlNodePtr
only_child(xmlNodePtr parent, const char *ns, const char *name, int *n)
{
	xmlNodePtr found = NULL;

	*n = 0;
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
		if (clc_soap_is(c, ns, name)) {
			found = c;
			(*n)++;
		}
	return *n == 1 ? found : NULL;
}

static xmlNodePtr
child(xmlNodePtr parent, const char *ns, const char *name)
{
	int n;

	return only_child(parent, ns, name, &n);
}

static bool
attr_is(xmlNodePtr n, const char *attr, const char *value)
{
	xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)attr);
	bool eq = v && strcmp((const char *)v, value) == 0;

	xmlFree(v);
	return eq;
}

/* An element's id: wsu:Id, an unqualified Id, or xml:id. */
static bool
has_id(xmlNodePtr n, const char *id)
{
	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		const char *ns = a->ns ? (const char *)a->ns->href : NULL;
		xmlChar *v;
		bool eq;

		if (!((strcmp((const char *)a->name, "Id") == 0 && (!ns || !strcmp(ns, WSU_NS))) ||
		    (strcmp((const char *)a->name, "id") == 0 && ns &&
		    !strcmp(ns, (const char *)XML_XML_NAMESPACE))))
			continue;
		v = xmlNodeListGetString(n->doc, a->children, 1);
		eq = v && strcmp((const char *)v, id) == 0;
		xmlFree(v);
		if (eq)
			return true;
	}
	return false;
}

static void
find_id(xmlNodePtr n, const char *id, xmlNodePtr *found, int *count)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (has_id(n, id)) {
			*found = n;
			(*count)++;
		}
		find_id(n->children, id, found, count);
	}
}

/* The one element a "#id" URI names, or NULL + kr_error. */
static xmlNodePtr
resolve(xmlDocPtr doc, xmlNodePtr ref)
{
	xmlChar *uri = xmlGetNoNsProp(ref, (const xmlChar *)"URI");
	xmlNodePtr found = NULL;
	int count = 0;

	if (uri && uri[0] == '#' && uri[1] && strlen((const char *)uri) < 256)
		find_id(xmlDocGetRootElement(doc), (const char *)uri + 1, &found, &count);
	if (count != 1)
		unsigned_request("the signature's reference %.64s names %s element",
		    uri ? (const char *)uri : "(none)", count ? "more than one" : "no");
	xmlFree(uri);
	return count == 1 ? found : NULL;
}

/* Algorithm of a CanonicalizationMethod or Transform, with its PrefixList. */
static int
c14n_method(xmlNodePtr m, struct c14n_method *out)
{
	xmlNodePtr inc;
	xmlChar *list;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if (m && attr_is(m, "Algorithm", EXC_C14N))
		out->mode = XML_C14N_EXCLUSIVE_1_0;
	else if (m && attr_is(m, "Algorithm", INC_C14N))
		out->mode = XML_C14N_1_0;
	else {
		unsigned_request("the signature must use exclusive XML canonicalization (%s)",
		    EXC_C14N);
		return -1;
	}
	inc = child(m, EXC_C14N, "InclusiveNamespaces");
	if (inc == NULL || out->mode != XML_C14N_EXCLUSIVE_1_0)
		return 0;
	list = xmlGetNoNsProp(inc, (const xmlChar *)"PrefixList");
	snprintf(out->list, sizeof(out->list), "%s", list ? (const char *)list : "");
	xmlFree(list);
	for (char *save, *p = strtok_r(out->list, " \t\r\n", &save); p && n < MAX_PREFIXES;
	    p = strtok_r(NULL, " \t\r\n", &save))
		out->prefixes[n++] = (xmlChar *)p;
	return 0;
}

static int
sink_write(void *ctx, const char *buf, int len)
{
	struct sink *s = ctx;
	int ok = s->verify ? EVP_DigestVerifyUpdate(s->md, buf, (size_t)len) :
	    EVP_DigestUpdate(s->md, buf, (size_t)len);

	return ok == 1 ? len : -1;
}

static int
sink_close(void *ctx)
{
	(void)ctx;
	return 0;
}

/* The subtree at root is the node set: an element, its attributes, namespaces, content. */
static int
in_subtree(void *root, xmlNodePtr node, xmlNodePtr parent)
{
	xmlNodePtr n = node && node->type != XML_NAMESPACE_DECL ? node : parent;

	for (; n; n = n->parent)
		if (n == root)
			return 1;
	return 0;
}

/* Canonicalize the subtree at root into the digest md. */
static int
canonicalize(xmlNodePtr root, const struct c14n_method *m, EVP_MD_CTX *md, bool verify)
{
	struct sink s = { md, verify };
	xmlOutputBufferPtr out = xmlOutputBufferCreateIO(sink_write, sink_close, &s, NULL);
	int rc;

	if (out == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	rc = xmlC14NExecute(root->doc, in_subtree, root, m->mode,
	    m->prefixes[0] ? (xmlChar **)m->prefixes : NULL, 0, out);
	xmlOutputBufferClose(out);
	if (rc < 0) {
		unsigned_request("the signed XML cannot be canonicalized");
		return -1;
	}
	return 0;
}

static const EVP_MD *
digest_alg(xmlNodePtr m, bool signature)
{
	static const struct { const char *uri; bool sig; const EVP_MD *(*md)(void); } algs[] = {
		{ DS_NS "sha1", false, EVP_sha1 },
		{ "http://www.w3.org/2001/04/xmlenc#sha256", false, EVP_sha256 },
		{ DS_NS "rsa-sha1", true, EVP_sha1 },
		{ "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", true, EVP_sha256 },
	};

	for (size_t i = 0; m && i < sizeof(algs) / sizeof(algs[0]); i++)
		if (algs[i].sig == signature && attr_is(m, "Algorithm", algs[i].uri))
			return algs[i].md();
	unsigned_request("the signature must use %s", signature ? "RSA-SHA1 or RSA-SHA256" :
	    "SHA-1 or SHA-256 digests");
	return NULL;
}

/* Base64 text of an element, decoded: its length, or -1. */
static int
b64_child(xmlNodePtr n, unsigned char *out, size_t len)
{
	xmlChar *text = n ? xmlNodeGetContent(n) : NULL;
	int rc = text ? clc_base64_decode((const char *)text, out, len) : -1;

	xmlFree(text);
	return rc;
}

/* One ds:Reference: its digest matches its element, which goes to *target. */
static int
check_reference(xmlDocPtr doc, xmlNodePtr ref, xmlNodePtr *target)
{
	xmlNodePtr transforms = child(ref, DS_NS, "Transforms"), t = NULL;
	unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
	struct c14n_method m = { .mode = XML_C14N_1_0 };
	EVP_MD_CTX *md = NULL;
	const EVP_MD *alg;
	unsigned int n = 0;
	int wn, tn, rc = -1;

	if (transforms && (t = only_child(transforms, DS_NS, "Transform", &tn)) == NULL) {
		unsigned_request("a signature reference must have one transform, exclusive c14n");
		return -1;
	}
	if ((t && c14n_method(t, &m) < 0) || (*target = resolve(doc, ref)) == NULL ||
	    (alg = digest_alg(child(ref, DS_NS, "DigestMethod"), false)) == NULL)
		return -1;
	wn = b64_child(child(ref, DS_NS, "DigestValue"), want, sizeof(want));
	if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, alg, NULL) != 1 ||
	    canonicalize(*target, &m, md, false) < 0 || EVP_DigestFinal_ex(md, got, &n) != 1)
		goto done;
	if (wn != (int)n || CRYPTO_memcmp(want, got, n) != 0)
		bad_signature("the digest of the signed element %s does not match: it was "
		    "changed after signing", (const char *)(*target)->name);
	else
		rc = 0;
done:
	if (rc < 0 && *kr_error_code() == '\0')
		kr_error("InternalError", "cannot digest the signed XML");
	EVP_MD_CTX_free(md);
	return rc;
}

/* SignedInfo's signature under the certificate's key. */
static int
check_signed_info(xmlNodePtr si, xmlNodePtr sig_value, X509 *cert)
{
	unsigned char sig[MAX_SIG];
	EVP_PKEY *key = X509_get0_pubkey(cert);
	struct c14n_method m;
	EVP_MD_CTX *md;
	const EVP_MD *alg;
	int n, rc = -1;

	if (c14n_method(child(si, DS_NS, "CanonicalizationMethod"), &m) < 0 ||
	    (alg = digest_alg(child(si, DS_NS, "SignatureMethod"), true)) == NULL)
		return -1;
	if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		unsigned_request("the certificate's key is not RSA");
		return -1;
	}
	if ((n = b64_child(sig_value, sig, sizeof(sig))) <= 0) {
		unsigned_request("the SignatureValue is not base64");
		return -1;
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, NULL, alg, NULL, key) != 1) {
		kr_error("InternalError", "cannot verify signatures");
		goto done;
	}
	if (canonicalize(si, &m, md, true) < 0)
		goto done;
	if (EVP_DigestVerifyFinal(md, sig, (size_t)n) != 1)
		bad_signature("the signature does not verify with the certificate's key");
	else
		rc = 0;
done:
	EVP_MD_CTX_free(md);
	return rc;
}

/* The certificate of the BinarySecurityToken (or KeyInfo's X509Certificate). */
static X509 *
signer_cert(xmlNodePtr security, xmlNodePtr signature)
{
	unsigned char der[MAX_CERT];
	xmlNodePtr token = child(security, WSSE_NS, "BinarySecurityToken");
	xmlNodePtr ki = child(signature, DS_NS, "KeyInfo");
	xmlNodePtr str = child(ki, WSSE_NS, "SecurityTokenReference");
	xmlNodePtr ref = child(str, WSSE_NS, "Reference");
	const unsigned char *p = der;
	X509 *cert;
	int n;

	if (token == NULL)
		token = child(child(ki, DS_NS, "X509Data"), DS_NS, "X509Certificate");
	else if (ref && resolve(security->doc, ref) != token) {
		unsigned_request("the signature's KeyInfo does not name the BinarySecurityToken");
		return NULL;
	}
	if (token == NULL) {
		unsigned_request("the request carries no X.509 certificate "
		    "(wsse:BinarySecurityToken)");
		return NULL;
	}
	if ((n = b64_child(token, der, sizeof(der))) <= 0 ||
	    (cert = d2i_X509(NULL, &p, n)) == NULL) {
		unsigned_request("the BinarySecurityToken is not a base64 DER X.509 certificate");
		return NULL;
	}
	return cert;
}

/* The user a certificate from the cloud CA was issued to. */
static int
cert_user(X509 *cert, const char *ca_path, sqlite3 *users, time_t now, struct kr_user *user)
{
	X509 *ca = kr_pem_read_cert(ca_path);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	char cn[KR_USER_NAME_MAX + 2] = "";
	int rc = -1;

	if (ca == NULL) {
		unsigned_request("this cloud has no CA yet, so no X.509 credentials");
		goto done;
	}
	if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, ca) != 1 ||
	    X509_STORE_CTX_init(ctx, store, cert, NULL) != 1) {
		kr_error("InternalError", "cannot check certificates");
		goto done;
	}
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), now);
	if (X509_verify_cert(ctx) != 1) {
		unsigned_request("the certificate is not from this cloud's CA: %s",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto done;
	}
	if (X509_check_ca(cert) != 0 || X509_get_ext_by_NID(cert, NID_subject_alt_name, -1) >= 0 ||
	    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
	    sizeof(cn)) <= 0 || strlen(cn) > KR_USER_NAME_MAX) {
		unsigned_request("the certificate is not a user's (`karri credentials` issues them)");
		goto done;
	}
	if (kr_userdb_user_get(users, cn, user) < 0 || !user->enabled) {
		unsigned_request("the certificate's user %s does not exist or is disabled", cn);
		goto done;
	}
	rc = 0;
done:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(ca);
	return rc;
}

/* 2026-11-22T05:50:00Z, with optional fraction and +00:00. */
static int
parse_time(xmlNodePtr n, time_t *out)
{
	xmlChar *text = n ? xmlNodeGetContent(n) : NULL;
	const char *s = (const char *)text;
	struct tm tm = { 0 };
	int used = 0, rc = -1;

	while (s && isspace((unsigned char)*s))
		s++;
	if (s && sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) == 6) {
		s += used;
		if (*s == '.')
			while (isdigit((unsigned char)*++s))
				;
		if (*s == 'Z')
			s++;
		else if (strncmp(s, "+00:00", 6) == 0)
			s += 6;
		else
			s = "?";
		while (isspace((unsigned char)*s))
			s++;
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		if (*s == '\0' && (*out = timegm(&tm)) != (time_t)-1)
			rc = 0;
	}
	xmlFree(text);
	return rc;
}

/* Created within the skew window of now, Expires (when given) not passed. */
static int
check_timestamp(xmlNodePtr ts, time_t now)
{
	xmlNodePtr expires = child(ts, WSU_NS, "Expires");
	time_t created, exp;

	if (parse_time(child(ts, WSU_NS, "Created"), &created) < 0 ||
	    (expires && parse_time(expires, &exp) < 0)) {
		unsigned_request("the wsu:Timestamp needs a Created (and optional Expires) time "
		    "in UTC, like 2016-11-15T12:00:00Z");
		return -1;
	}
	if (created > now + CLC_SOAP_SKEW_S || created < now - CLC_SOAP_SKEW_S ||
	    (expires && exp < now)) {
		kr_error("RequestExpired", "the request's wsu:Timestamp is %s (allowed: Created "
		    "within %d seconds of the server's clock, Expires not passed)",
		    expires && exp < now ? "expired" : "outside the time window", CLC_SOAP_SKEW_S);
		return -1;
	}
	return 0;
}

/* Every reference checks out, and they cover body and timestamp. */
static int
check_references(xmlNodePtr si, xmlNodePtr body, xmlNodePtr ts)
{
	bool body_signed = false, ts_signed = false;
	int refs = 0;

	for (xmlNodePtr r = si->children; r; r = r->next) {
		xmlNodePtr target;

		if (!clc_soap_is(r, DS_NS, "Reference"))
			continue;
		if (++refs > MAX_REFS) {
			unsigned_request("the signature has too many references");
			return -1;
		}
		if (check_reference(si->doc, r, &target) < 0)
			return -1;
		body_signed |= target == body;
		ts_signed |= target == ts;
	}
	if (!body_signed || !ts_signed) {
		unsigned_request("the signature must cover the SOAP Body and the wsu:Timestamp");
		return -1;
	}
	return 0;
}

int
clc_wsse_verify(xmlNodePtr body, const char *ca_path, sqlite3 *users,
    time_t now, struct kr_user *user)
{
	const char *env_ns = (const char *)body->ns->href;
	xmlNodePtr header = child(body->parent, env_ns, "Header");
	xmlNodePtr security = child(header, WSSE_NS, "Security");
	xmlNodePtr sig = child(security, DS_NS, "Signature");
	xmlNodePtr ts = child(security, WSU_NS, "Timestamp");
	xmlNodePtr si = child(sig, DS_NS, "SignedInfo");
	X509 *cert = NULL;
	int rc = -1;

	if (security == NULL || sig == NULL || si == NULL || ts == NULL) {
		unsigned_request("the request is not signed: EC2 SOAP requests need a "
		    "wsse:Security header with the user's X.509 certificate, a wsu:Timestamp and "
		    "a ds:Signature over the Body and the Timestamp");
		return -1;
	}
	if ((cert = signer_cert(security, sig)) == NULL ||
	    check_signed_info(si, child(sig, DS_NS, "SignatureValue"), cert) < 0 ||
	    check_references(si, body, ts) < 0 || check_timestamp(ts, now) < 0 ||
	    cert_user(cert, ca_path, users, now, user) < 0)
		goto done;
	rc = 0;
done:
	X509_free(cert);
	return rc;
}
