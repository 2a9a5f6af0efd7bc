/*
 * metadata_identity.c - dynamic/instance-identity/: the document and its
 * signatures.
 *
 * The document is EC2's JSON (same keys, same "key" : value layout, nulls
 * where Karri has nothing), so agents that parse it on EC2 parse it here.
 * It is signed with the cloud's own key pair, KARRI_CLOUD_KEY and
 * KARRI_CLOUD_CERT: the certificate every user already has as
 * EUCALYPTUS_CERT (cloud-cert.pem in `karri credentials`), so anyone can
 * check a document an instance shows them:
 *   signature  base64 RSA-SHA256 over the document's bytes
 *              (openssl dgst -sha256 -verify <pubkey> -signature ...)
 *   pkcs7, rsa2048  a detached PKCS#7 SignedData (SHA-256) as base64
 *              without the PEM lines, as EC2 serves it
 *              (openssl smime -verify -inform PEM -content document ...)
 * The key pair is read once; while it cannot be read, these paths are 404
 * and the reason is logged.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "core/buf.h"
#include "clc.h"
#include "clc_metadata.h"
#include "core/config.h"
#include "core/log.h"
#include "tls/pem.h"

static EVP_PKEY *cloud_key;
static X509 *cloud_cert;

/* A JSON string, or null for "". */
static void
json_str(struct kr_buf *b, const char *s)
{
	if (s == NULL || *s == '\0') {
		kr_buf_add(b, "null");
		return;
	}
	kr_buf_add_char(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			kr_buf_addf(b, "\\%c", c);
		else if (c < 0x20)
			kr_buf_addf(b, "\\u%04x", c);
		else
			kr_buf_add_char(b, (char)c);
	}
	kr_buf_add_char(b, '"');
}

static void
json_field(struct kr_buf *b, const char *name, const char *value, bool last)
{
	kr_buf_addf(b, "  \"%s\" : ", name);
	json_str(b, value);
	kr_buf_add(b, last ? "\n" : ",\n");
}

void
clc_md_identity_document(const struct clc_md_instance *in, struct kr_buf *out)
{
	char pending[32];
	struct tm tm;

	gmtime_r(&in->launched, &tm);
	strftime(pending, sizeof(pending), "%Y-%m-%dT%H:%M:%SZ", &tm);
	kr_buf_add(out, "{\n");
	json_field(out, "accountId", in->owner, false);
	json_field(out, "architecture", in->arch[0] ? in->arch : "x86_64", false);
	json_field(out, "availabilityZone", in->zone, false);
	kr_buf_add(out, "  \"billingProducts\" : null,\n  \"devpayProductCodes\" : null,\n"
	    "  \"marketplaceProductCodes\" : null,\n");
	json_field(out, "imageId", in->image, false);
	json_field(out, "instanceId", in->id, false);
	json_field(out, "instanceType", in->type, false);
	json_field(out, "kernelId", in->kernel, false);
	json_field(out, "pendingTime", pending, false);
	json_field(out, "privateIp", in->priv, false);
	json_field(out, "ramdiskId", in->ramdisk, false);
	json_field(out, "region", CLC_REGION, false);
	json_field(out, "version", "2017-09-30", true);
	kr_buf_add(out, "}");
}

static int
load_pair(const struct kr_config *cfg)
{
	const char *key = kr_config_get(cfg, "KARRI_CLOUD_KEY");
	const char *cert = kr_config_get(cfg, "KARRI_CLOUD_CERT");

	if (cloud_key && cloud_cert)
		return 0;
	EVP_PKEY_free(cloud_key);
	X509_free(cloud_cert);
	cloud_key = key ? kr_pem_read_key(key) : NULL;
	cloud_cert = cert ? kr_pem_read_cert(cert) : NULL;
	if (cloud_key && cloud_cert && X509_check_private_key(cloud_cert, cloud_key) == 1)
		return 0;
	kr_log_warnx("metadata: no identity signatures: cannot read a matching cloud key "
	    "pair from KARRI_CLOUD_KEY (%s) and KARRI_CLOUD_CERT (%s)", key ? key : "unset",
	    cert ? cert : "unset");
	EVP_PKEY_free(cloud_key);
	X509_free(cloud_cert);
	cloud_key = NULL;
	cloud_cert = NULL;
	return -1;
}

/* Base64 in lines of 64, as EC2 and PEM write it. */
static void
base64_lines(const unsigned char *in, size_t n, struct kr_buf *out)
{
	char line[65 + 1];

	for (size_t off = 0; off < n; off += 48) {
		size_t chunk = n - off < 48 ? n - off : 48;

		EVP_EncodeBlock((unsigned char *)line, in + off, (int)chunk);
		kr_buf_add(out, line);
		if (off + chunk < n)
			kr_buf_add_char(out, '\n');
	}
}

static int
sign_rsa(const char *doc, struct kr_buf *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[1024];
	size_t len = sizeof(sig);
	int ok;

	ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, cloud_key) == 1 &&
	    EVP_PKEY_get_size(cloud_key) <= (int)sizeof(sig) &&
	    EVP_DigestSign(ctx, sig, &len, (const unsigned char *)doc, strlen(doc)) == 1;
	EVP_MD_CTX_free(ctx);
	if (ok)
		base64_lines(sig, len, out);
	return ok ? 0 : -1;
}

static int
sign_pkcs7(const char *doc, struct kr_buf *out)
{
	BIO *in = BIO_new_mem_buf(doc, (int)strlen(doc));
	PKCS7 *p7 = NULL;
	unsigned char *der = NULL;
	int len = -1;

	if (in)
		p7 = PKCS7_sign(cloud_cert, cloud_key, NULL, in, PKCS7_DETACHED | PKCS7_BINARY);
	if (p7)
		len = i2d_PKCS7(p7, &der);
	if (len > 0)
		base64_lines(der, (size_t)len, out);
	OPENSSL_free(der);
	PKCS7_free(p7);
	BIO_free(in);
	return len > 0 ? 0 : -1;
}

int
clc_md_identity_sign(const struct kr_config *cfg, const char *doc, enum clc_md_sig how,
    struct kr_buf *out)
{
	int rc;

	if (load_pair(cfg) < 0)
		return -1;
	rc = how == CLC_MD_SIG_RSA ? sign_rsa(doc, out) : sign_pkcs7(doc, out);
	if (rc < 0)
		kr_log_errorx("metadata: signing the identity document failed");
	return rc;
}
