/*
 * bundle_manifest.c - reading an image bundle's manifest.xml, which comes
 * from users and is untrusted: every field is bounded and checked, part
 * file names are plain names (never a path), the part count is bounded.
 *
 * libxml2 parses (a real parser: entities, encodings and nesting done
 * right), with the network off and no DTD accepted, so no entity tricks.
 * The signature, though, covers raw substrings of the file (the
 * <machine_configuration> and <image> text, as ec2-bundle-image signs it),
 * and reading values from one element while verifying another is the
 * classic signature-wrapping hole (issue 17: a decoy <image a="1"> or
 * <p:image> before a nested copy of the signed one).  So: each signed
 * element must appear exactly once in the whole document, as a plain child
 * of the root (no attributes, no namespace); comments, CDATA and processing
 * instructions are refused; and every value is read from a second parse of
 * exactly the signed bytes, never from the whole document.
 */
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "bundle.h"
#include "core/error.h"

#define BAD(...) kr_error("InvalidManifest", __VA_ARGS__)

const char *
wl_image_kind_name(enum wl_image_kind k)
{
	return k == WL_IMAGE_KERNEL ? "kernel" : k == WL_IMAGE_RAMDISK ? "ramdisk" : "machine";
}

bool
wl_bundle_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > WL_BUNDLE_MAX_NAME || s[0] == '.')
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-+") == n;
}

void
wl_manifest_free(struct wl_manifest *m)
{
	if (!m)
		return;
	free(m->parts);
	free(m->signed_text);
	memset(m, 0, sizeof(*m));
}

static xmlNode *
child(xmlNode *parent, const char *name)
{
	for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0)
			return n;
	return NULL;
}

/* Elements called name at or under n and its siblings.  libxml2's name is
 * the local part, so a prefix or a default namespace does not hide one.
 * Recursion is bounded: libxml2 refuses nesting deeper than 256 unless
 * XML_PARSE_HUGE, which is not given. */
static size_t
count_named(xmlNode *n, const char *name)
{
	size_t c = 0;

	for (; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			c += (strcmp((const char *)n->name, name) == 0) + count_named(n->children, name);
	return c;
}

/* The one child called name, or NULL if none; -1 + kr_error if repeated, so
 * no field has a second value another reader could pick instead. */
static int
only_child(xmlNode *parent, const char *name, xmlNode **out)
{
	*out = child(parent, name);
	for (xmlNode *n = *out ? (*out)->next : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0) {
			BAD("<%s> appears more than once", name);
			return -1;
		}
	return 0;
}

/* The element's text into out (bounded); -1 + kr_error when missing/too long. */
static int
text(xmlNode *parent, const char *name, char *out, size_t outlen, bool required)
{
	xmlNode *n;
	xmlChar *t;
	int rc = 0;

	out[0] = '\0';
	if (only_child(parent, name, &n) < 0)
		return -1;
	if (!n) {
		if (required)
			BAD("<%s> is missing", name);
		return required ? -1 : 0;
	}
	t = xmlNodeGetContent(n);
	if (!t || strlen((const char *)t) >= outlen) {
		BAD("<%s> is too long", name);
		rc = -1;
	} else {
		/* Trim the blanks a pretty-printer leaves. */
		const char *s = (const char *)t;
		size_t l = strlen(s);
		while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
			s++, l--;
		while (l && strchr(" \n\t\r", s[l - 1]))
			l--;
		memcpy(out, s, l);
		out[l] = '\0';
	}
	xmlFree(t);
	return rc;
}

static int
number(xmlNode *parent, const char *name, uint64_t max, uint64_t *out)
{
	char buf[32], *end;
	unsigned long long v;

	if (text(parent, name, buf, sizeof(buf), true) < 0)
		return -1;
	v = strtoull(buf, &end, 10);
	if (!buf[0] || *end || buf[0] == '-' || v > max) {
		BAD("<%s> is not a size", name);
		return -1;
	}
	*out = v;
	return 0;
}

static int
hexfield(xmlNode *parent, const char *name, unsigned char *out, size_t max, size_t *len,
    bool exact)
{
	char buf[2 * WL_BUNDLE_MAX_RSA + 1];
	ssize_t n;

	if (text(parent, name, buf, sizeof(buf), true) < 0)
		return -1;
	n = wl_unhex(buf, strlen(buf), out, max);
	if (n <= 0 || (exact && (size_t)n != max)) {
		BAD("<%s> is not hex of the right length", name);
		return -1;
	}
	if (len)
		*len = (size_t)n;
	return 0;
}

static int
id_field(xmlNode *mc, const char *name, const char *prefix, char *out, size_t outlen)
{
	if (text(mc, name, out, outlen, false) < 0)
		return -1;
	if (out[0] && (strncmp(out, prefix, 4) != 0 || strlen(out) < 5 ||
	    strspn(out + 4, "0123456789abcdefABCDEF") != strlen(out) - 4)) {
		BAD("<%s> %s is not an image id", name, out);
		return -1;
	}
	return 0;
}

static int
parse_parts(xmlNode *image, struct wl_manifest *m)
{
	xmlNode *parts;
	xmlChar *count;
	size_t n = 0;
	char *end;

	if (only_child(image, "parts", &parts) < 0)
		return -1;
	if (!parts) {
		BAD("<parts> is missing");
		return -1;
	}
	count = xmlGetProp(parts, (const xmlChar *)"count");
	if (count) {
		unsigned long c = strtoul((const char *)count, &end, 10);
		n = *end || c > WL_BUNDLE_MAX_PARTS ? (size_t)-1 : c;
		xmlFree(count);
	}
	if (n == 0 || n == (size_t)-1) {
		BAD("<parts count> must be 1..%d", WL_BUNDLE_MAX_PARTS);
		return -1;
	}
	if (!(m->parts = calloc(n, sizeof(*m->parts)))) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	m->n_parts = n;
	for (xmlNode *p = parts->children; p; p = p->next) {
		xmlChar *idx;
		unsigned long i;
		struct wl_bundle_part *bp;

		if (p->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp((const char *)p->name, "part") != 0 ||
		    !(idx = xmlGetProp(p, (const xmlChar *)"index"))) {
			BAD("<parts> holds something other than <part index>");
			return -1;
		}
		i = strtoul((const char *)idx, &end, 10);
		if (*end || !idx[0] || i >= n || m->parts[i].filename[0]) {
			xmlFree(idx);
			BAD("<part index> out of range or repeated");
			return -1;
		}
		xmlFree(idx);
		bp = &m->parts[i];
		if (text(p, "filename", bp->filename, sizeof(bp->filename), true) < 0)
			return -1;
		if (!wl_bundle_name_valid(bp->filename)) {
			BAD("part %lu: bad file name (plain names only)", i);
			return -1;
		}
		if (hexfield(p, "digest", bp->sha1, 20, NULL, true) < 0)
			return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (!m->parts[i].filename[0]) {
			BAD("part %zu of %zu is missing", i, n);
			return -1;
		}
	return 0;
}

/* The raw text of the one <tag>...</tag> in the file; -1 unless exactly one. */
static int
raw_element(const char *xml, size_t len, const char *tag, const char **start, size_t *rlen)
{
	char open[64], close[64];
	const char *a, *b;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = memmem(xml, len, open, strlen(open));
	if (!a)
		return 0;
	if (memmem(a + 1, len - (size_t)(a + 1 - xml), open, strlen(open)) ||
	    !(b = memmem(a, len - (size_t)(a - xml), close, strlen(close))) ||
	    memmem(b + 1, len - (size_t)(b + 1 - xml), close, strlen(close))) {
		BAD("<%s> must appear once", tag);
		return -1;
	}
	*start = a;
	*rlen = (size_t)(b - a) + strlen(close);
	return 1;
}

static int
signed_text(const char *xml, size_t len, struct wl_manifest *m)
{
	const char *mc = NULL, *im = NULL;
	size_t mcl = 0, iml = 0;
	int r;

	if (raw_element(xml, len, "machine_configuration", &mc, &mcl) < 0 ||
	    (r = raw_element(xml, len, "image", &im, &iml)) < 0)
		return -1;
	if (r == 0) {
		BAD("no plain <image> element");
		return -1;
	}
	if (!(m->signed_text = malloc(mcl + iml + 1))) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	if (mcl)
		memcpy(m->signed_text, mc, mcl);
	memcpy(m->signed_text + mcl, im, iml);
	m->signed_len = mcl + iml;
	return 0;
}

static int
parse_image(xmlNode *image, struct wl_manifest *m)
{
	char kind[16];

	if (text(image, "name", m->name, sizeof(m->name), true) < 0 ||
	    text(image, "user", m->user, sizeof(m->user), false) < 0 ||
	    text(image, "type", kind, sizeof(kind), false) < 0)
		return -1;
	if (!kind[0] || strcmp(kind, "machine") == 0)
		m->kind = WL_IMAGE_MACHINE;
	else if (strcmp(kind, "kernel") == 0)
		m->kind = WL_IMAGE_KERNEL;
	else if (strcmp(kind, "ramdisk") == 0)
		m->kind = WL_IMAGE_RAMDISK;
	else {
		BAD("<type> must be machine, kernel or ramdisk");
		return -1;
	}
	if (number(image, "size", WL_BUNDLE_MAX_IMAGE, &m->size) < 0 ||
	    number(image, "bundled_size", WL_BUNDLE_MAX_IMAGE + (64u << 20), &m->bundled_size) < 0 ||
	    hexfield(image, "digest", m->digest, 20, NULL, true) < 0 ||
	    hexfield(image, "ec2_encrypted_key", m->ec2_key, WL_BUNDLE_MAX_RSA, &m->ec2_key_len,
	    false) < 0 ||
	    hexfield(image, "ec2_encrypted_iv", m->ec2_iv, WL_BUNDLE_MAX_RSA, &m->ec2_iv_len,
	    false) < 0)
		return -1;
	if (m->bundled_size == 0) {
		BAD("<bundled_size> is 0");
		return -1;
	}
	return parse_parts(image, m);
}

/*
 * A signed element (machine_configuration, image) is in the document exactly
 * once (at most once if optional), anywhere and in any namespace, and that
 * once as a plain child of the root: so the one "<tag>" raw_element finds is
 * the start of this very element, and no decoy can stand beside it.
 */
static int
check_signed_element(xmlNode *root, const char *tag, bool required)
{
	size_t c = count_named(root, tag);
	xmlNode *n = child(root, tag);

	if (c > 1 || (required && c == 0)) {
		BAD("<%s> must appear exactly once in the manifest", tag);
		return -1;
	}
	if (c == 1 && (!n || n->ns || n->nsDef || n->properties)) {
		BAD("<%s> must be a child of <manifest>, without attributes or namespace", tag);
		return -1;
	}
	return 0;
}

/* Parse exactly the signed bytes, inside a bare root, and read every signed
 * value from that: whatever the rest of the file says, what the bundle is
 * read with is what the signature covers. */
static int
parse_signed(struct wl_manifest *m, const char *encoding)
{
	static const char open[] = "<signed>", close[] = "</signed>";
	size_t len = strlen(open) + m->signed_len + strlen(close), elems = 0;
	char *buf = malloc(len);
	xmlDoc *doc = NULL;
	xmlNode *root, *mc, *image;
	int rc = -1;

	if (!buf) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	memcpy(buf, open, strlen(open));
	memcpy(buf + strlen(open), m->signed_text, m->signed_len);
	memcpy(buf + strlen(open) + m->signed_len, close, strlen(close));
	doc = xmlReadMemory(buf, (int)len, "manifest.xml", encoding,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	root = doc ? xmlDocGetRootElement(doc) : NULL;
	for (xmlNode *n = root ? root->children : NULL; n; n = n->next)
		elems += n->type == XML_ELEMENT_NODE;
	mc = child(root, "machine_configuration");
	image = child(root, "image");
	if (!image || elems != 1u + (mc != NULL)) {
		BAD("the signed <machine_configuration> and <image> are not two whole elements");
		goto out;
	}
	if (text(mc, "architecture", m->arch, sizeof(m->arch), false) < 0 ||
	    id_field(mc, "kernel_id", "aki-", m->kernel_id, sizeof(m->kernel_id)) < 0 ||
	    id_field(mc, "ramdisk_id", "ari-", m->ramdisk_id, sizeof(m->ramdisk_id)) < 0 ||
	    parse_image(image, m) < 0)
		goto out;
	rc = 0;
out:
	xmlFreeDoc(doc);
	free(buf);
	return rc;
}

static int
parse_signature(xmlNode *root, struct wl_manifest *m)
{
	char sig[2 * WL_BUNDLE_MAX_RSA + 1];
	ssize_t n;

	if (text(root, "signature", sig, sizeof(sig), true) < 0)
		return -1;
	n = wl_unhex(sig, strlen(sig), m->signature, sizeof(m->signature));
	if (n <= 0) {
		BAD("<signature> is not hex");
		return -1;
	}
	m->signature_len = (size_t)n;
	return 0;
}

int
wl_manifest_parse(const char *xml, size_t len, struct wl_manifest *m)
{
	xmlDoc *doc = NULL;
	xmlNode *root;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (len > WL_BUNDLE_MAX_MANIFEST) {
		BAD("manifest larger than %u bytes", WL_BUNDLE_MAX_MANIFEST);
		return -1;
	}
	if (memmem(xml, len, "<!", 2) || (len > 2 && memmem(xml + 2, len - 2, "<?", 2))) {
		BAD("DTDs, comments, CDATA and processing instructions are not accepted");
		return -1;
	}
	doc = xmlReadMemory(xml, (int)len, "manifest.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		BAD("not well-formed XML");
		return -1;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || strcmp((const char *)root->name, "manifest") != 0) {
		BAD("the root element is not <manifest>");
		goto out;
	}
	if (check_signed_element(root, "machine_configuration", false) < 0 ||
	    check_signed_element(root, "image", true) < 0 ||
	    signed_text(xml, len, m) < 0 ||
	    parse_signed(m, (const char *)doc->encoding) < 0 ||
	    parse_signature(root, m) < 0)
		goto out;
	if (!wl_bundle_name_valid(m->name)) {
		BAD("<image><name> must be a plain file name");
		goto out;
	}
	rc = 0;
out:
	xmlFreeDoc(doc);
	if (rc < 0)
		wl_manifest_free(m);
	return rc;
}

int
wl_manifest_verify(const struct wl_manifest *m, const char *cert_pem, size_t cert_len)
{
	EVP_PKEY *k = wl_pem_cert_pubkey(cert_pem, cert_len);
	EVP_MD_CTX *md = k ? EVP_MD_CTX_new() : NULL;
	int ok = 0;

	if (!k)
		return -1;
	if (md && EVP_DigestVerifyInit(md, NULL, EVP_sha1(), NULL, k) == 1)
		ok = EVP_DigestVerify(md, m->signature, m->signature_len,
		    (const unsigned char *)m->signed_text, m->signed_len) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	ERR_clear_error();
	if (!ok) {
		BAD("the signature does not verify against the user's certificate");
		return -1;
	}
	return 0;
}

/* One RSA-encrypted hex string (the key or the IV) back to 16 bytes. */
static int
rsa_hex16(EVP_PKEY *pk, const unsigned char *in, size_t inlen, unsigned char out[16],
    const char *what)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
	unsigned char plain[WL_BUNDLE_MAX_RSA];
	size_t n = sizeof(plain);
	int rc = -1;

	if (ctx && EVP_PKEY_decrypt_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_decrypt(ctx, plain, &n, in, inlen) == 1 &&
	    n == 32 && wl_unhex((const char *)plain, 32, out, 16) == 16)
		rc = 0;
	else
		BAD("the %s does not decrypt with the cloud's key (bundled for another cloud?)",
		    what);
	OPENSSL_cleanse(plain, sizeof(plain));
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

int
wl_manifest_keys(const struct wl_manifest *m, EVP_PKEY *cloud_key, unsigned char key[16],
    unsigned char iv[16])
{
	if (rsa_hex16(cloud_key, m->ec2_key, m->ec2_key_len, key, "ec2_encrypted_key") < 0 ||
	    rsa_hex16(cloud_key, m->ec2_iv, m->ec2_iv_len, iv, "ec2_encrypted_iv") < 0) {
		OPENSSL_cleanse(key, 16);
		return -1;
	}
	return 0;
}
