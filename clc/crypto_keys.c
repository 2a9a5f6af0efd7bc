/*
 * crypto_keys.c - key pairs as EC2 makes and imports them (OpenSSL 3): RSA made
 * and imported, ed25519 imported (OpenSSH "ssh-ed25519 AAAA... comment").
 *
 * Fingerprints follow EC2 exactly, since users compare them with what
 * their tools print:
 *   CreateKeyPair: SHA-1 of the private key as PKCS#8 DER;
 *   ImportKeyPair, RSA: MD5 of the public key as DER SubjectPublicKeyInfo;
 * both as colon-separated lowercase hex;
 *   ImportKeyPair, ed25519: SHA-256 of the OpenSSH key blob, base64 with
 * its padding (what ssh-keygen -l prints after "SHA256:", bar the "=").
 * The private key goes back to the user once, as PEM "RSA PRIVATE KEY"
 * (PKCS#1, what ssh and EC2 use), and is never stored; the CLC keeps the
 * OpenSSH public line for the metadata service (public-keys/0/openssh-key).
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "clc.h"
#include "clc_keys.h"
#include "core/error.h"

#define SSH_RSA "ssh-rsa"
#define SSH_ED25519 "ssh-ed25519"
#define ED25519_KEY_LEN 32

/* Standard base64 into out (NUL-terminated); out needs 4*ceil(n/3)+1 bytes. */
void
clc_base64_encode(const unsigned char *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* Decoded length, or -1 when s is not base64 (whitespace is skipped). */
int
clc_base64_decode(const char *s, unsigned char *out, size_t outlen)
{
	char clean[8192 * 4];
	size_t n = 0, pad = 0;
	int len;

	for (; *s; s++) {
		if (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
			continue;
		if (n == sizeof(clean) - 1)
			return -1;
		clean[n++] = *s;
	}
	if (n == 0 || n % 4 || (n / 4) * 3 > outlen)
		return -1;
	pad = (clean[n - 1] == '=') + (clean[n - 2] == '=');
	len = EVP_DecodeBlock(out, (const unsigned char *)clean, (int)n);
	return len < 0 ? -1 : len - (int)pad;
}

static void
hex_colons(const unsigned char *md, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 3 * i, "%02x%s", md[i], i + 1 < n ? ":" : "");
}

static int
digest_colons(const EVP_MD *type, const unsigned char *der, int len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n;

	if (!EVP_Digest(der, (size_t)len, md, &n, type, NULL)) {
		kr_error("InternalError", "digest failed");
		return -1;
	}
	hex_colons(md, n, out);
	return 0;
}

/* SSH wire: uint32 length + bytes. */
static void
ssh_put(struct kr_buf *b, const unsigned char *p, size_t n)
{
	unsigned char len[4] = { (unsigned char)(n >> 24), (unsigned char)(n >> 16),
		(unsigned char)(n >> 8), (unsigned char)n };

	kr_buf_add_len(b, len, 4);
	kr_buf_add_len(b, p, n);
}

static void
ssh_put_mpint(struct kr_buf *b, const BIGNUM *bn)
{
	unsigned char raw[1 + 2048];
	int n = BN_num_bytes(bn);

	if (n > 2048) {
		b->failed = true;
		return;
	}
	raw[0] = 0;
	BN_bn2bin(bn, raw + 1);
	/* A leading zero byte keeps a number with its top bit set positive. */
	if (n > 0 && (raw[1] & 0x80))
		ssh_put(b, raw, (size_t)n + 1);
	else
		ssh_put(b, raw + 1, (size_t)n);
}

/* "ssh-rsa AAAA... name" for an RSA key. */
static int
openssh_line(EVP_PKEY *pk, const char *comment, char *out, size_t outlen)
{
	struct kr_buf blob = KR_BUF_INIT;
	BIGNUM *n = NULL, *e = NULL;
	char b64[4096];
	int rc = -1;

	if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e)) {
		kr_error("InvalidKey.Format", "the key is not an RSA key");
		goto done;
	}
	ssh_put(&blob, (const unsigned char *)SSH_RSA, strlen(SSH_RSA));
	ssh_put_mpint(&blob, e);
	ssh_put_mpint(&blob, n);
	if (kr_buf_failed(&blob) || kr_buf_len(&blob) * 4 / 3 + 8 > sizeof(b64)) {
		kr_error("InvalidKey.Format", "the key is too large");
		goto done;
	}
	clc_base64_encode((const unsigned char *)kr_buf_str(&blob), kr_buf_len(&blob), b64);
	if ((size_t)snprintf(out, outlen, "%s %s %s", SSH_RSA, b64, comment) >= outlen) {
		kr_error("InvalidKey.Format", "the key is too large");
		goto done;
	}
	rc = 0;
done:
	BN_free(n);
	BN_free(e);
	kr_buf_free(&blob);
	return rc;
}

int
clc_key_create(const char *name, struct clc_key *k)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	unsigned char *der = NULL;
	BIO *bio = NULL;
	char *pem;
	long len;
	int dlen, rc = -1;

	if (pk == NULL || (p8 = EVP_PKEY2PKCS8(pk)) == NULL ||
	    (dlen = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) <= 0 ||
	    (bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_PrivateKey_traditional(bio, pk, NULL, NULL, 0, NULL, NULL)) {
		kr_error("InternalError", "RSA key generation failed");
		goto done;
	}
	if (digest_colons(EVP_sha1(), der, dlen, k->fingerprint) < 0 ||
	    openssh_line(pk, name, k->public_line, sizeof(k->public_line)) < 0)
		goto done;
	len = BIO_get_mem_data(bio, &pem);
	if (len <= 0 || (size_t)len >= sizeof(k->private_pem)) {
		kr_error("InternalError", "RSA key too large");
		goto done;
	}
	memcpy(k->private_pem, pem, (size_t)len);
	k->private_pem[len] = '\0';
	snprintf(k->type, sizeof(k->type), "rsa");
	rc = 0;
done:
	if (der)
		OPENSSL_clear_free(der, (size_t)dlen);
	PKCS8_PRIV_KEY_INFO_free(p8);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return rc;
}

const char *
clc_key_type(const char *public_line)
{
	return strncmp(public_line, SSH_ED25519 " ", sizeof(SSH_ED25519)) == 0 ? "ed25519" : "rsa";
}

/* Read one uint32-length field of an SSH blob. */
static const unsigned char *
ssh_get(const unsigned char **p, const unsigned char *end, size_t *n)
{
	const unsigned char *s = *p;
	size_t len;

	if (end - s < 4)
		return NULL;
	len = (size_t)s[0] << 24 | (size_t)s[1] << 16 | (size_t)s[2] << 8 | s[3];
	if ((size_t)(end - s - 4) < len)
		return NULL;
	*n = len;
	*p = s + 4 + len;
	return s + 4;
}

static EVP_PKEY *
rsa_from_ssh(const unsigned char *blob, size_t len)
{
	const unsigned char *p = blob, *end = blob + len, *t, *e, *n;
	size_t tl, el, nl;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *bn = NULL, *be = NULL;

	if (!(t = ssh_get(&p, end, &tl)) || tl != 7 || memcmp(t, SSH_RSA, 7) != 0 ||
	    !(e = ssh_get(&p, end, &el)) || !(n = ssh_get(&p, end, &nl)) || p != end ||
	    nl < 128 || nl > 2049)
		return NULL;
	be = BN_bin2bn(e, (int)el, NULL);
	bn = BN_bin2bn(n, (int)nl, NULL);
	if (!be || !bn || (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return pk;
}

/* "ssh-rsa BASE64 [comment]" or a PEM public key, as text. */
static EVP_PKEY *
parse_public(const char *text, size_t len)
{
	static unsigned char blob[4096];
	char word[8192];
	const char *p, *q;
	int n;

	if (len > 7 && strncmp(text, "-----BEGIN", 10) == 0) {
		BIO *bio = BIO_new_mem_buf(text, (int)len);
		EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;

		BIO_free(bio);
		return pk;
	}
	if (len < 9 || strncmp(text, "ssh-rsa ", 8) != 0)
		return NULL;
	p = text + 8;
	q = memchr(p, ' ', len - 8);
	n = (int)(q ? (size_t)(q - p) : len - 8);
	if (n <= 0 || (size_t)n >= sizeof(word))
		return NULL;
	memcpy(word, p, (size_t)n);
	word[n] = '\0';
	if ((n = clc_base64_decode(word, blob, sizeof(blob))) < 0)
		return NULL;
	return rsa_from_ssh(blob, (size_t)n);
}

/*
 * "ssh-ed25519 BASE64 [comment]": 1 imported into k, 0 not an ed25519 line,
 * -1 an ed25519 line whose key blob is not one ed25519 key (kr_error).
 */
static int
import_ed25519(const char *text, size_t len, const char *name, struct clc_key *k)
{
	static const size_t plen = sizeof(SSH_ED25519);	/* with the space */
	unsigned char blob[256], md[32];
	const unsigned char *p = blob, *t, *key;
	char word[512], b64[48];
	size_t n, tl, kl;
	int bl;

	if (len <= plen || strncmp(text, SSH_ED25519 " ", plen) != 0)
		return 0;
	n = strcspn(text + plen, " \t\r\n");
	if (n > len - plen)
		n = len - plen;
	if (n == 0 || n >= sizeof(word))
		goto bad;
	memcpy(word, text + plen, n);
	word[n] = '\0';
	/* The blob: string "ssh-ed25519", string key (32 bytes), nothing else. */
	if ((bl = clc_base64_decode(word, blob, sizeof(blob))) < 0 ||
	    !(t = ssh_get(&p, blob + bl, &tl)) || tl != strlen(SSH_ED25519) ||
	    memcmp(t, SSH_ED25519, tl) != 0 || !(key = ssh_get(&p, blob + bl, &kl)) ||
	    kl != ED25519_KEY_LEN || p != blob + bl)
		goto bad;
	if (!EVP_Digest(blob, (size_t)bl, md, NULL, EVP_sha256(), NULL)) {
		kr_error("InternalError", "digest failed");
		return -1;
	}
	clc_base64_encode(md, sizeof(md), b64);
	snprintf(k->fingerprint, sizeof(k->fingerprint), "%s", b64);
	if ((size_t)snprintf(k->public_line, sizeof(k->public_line), "%s %s %s", SSH_ED25519,
	    word, name) >= sizeof(k->public_line)) {
		kr_error("InvalidKey.Format", "the key name is too long");
		return -1;
	}
	snprintf(k->type, sizeof(k->type), "ed25519");
	k->private_pem[0] = '\0';
	return 1;
bad:
	kr_error("InvalidKey.Format", "Key is not in valid OpenSSH public key format "
	    "(the ssh-ed25519 key blob must hold one 32-byte ed25519 key)");
	return -1;
}

int
clc_key_import(const char *material, const char *name, struct clc_key *k)
{
	static unsigned char raw[8192];
	EVP_PKEY *pk = NULL;
	unsigned char *der = NULL;
	size_t rawlen = 0;
	int n, dlen, rc = -1;

	/* Clients send the key base64-encoded (a blob in botocore's model); some raw. */
	n = clc_base64_decode(material, raw, sizeof(raw) - 1);
	if (n > 0) {
		raw[n] = '\0';
		rawlen = strcspn((const char *)raw, "\r\n") == (size_t)n ? (size_t)n :
		    strlen((const char *)raw);
		if ((rc = import_ed25519((const char *)raw, rawlen, name, k)) != 0)
			return rc < 0 ? -1 : 0;
		pk = parse_public((const char *)raw, rawlen);
	}
	if (pk == NULL && (rc = import_ed25519(material, strlen(material), name, k)) != 0)
		return rc < 0 ? -1 : 0;
	rc = -1;
	if (pk == NULL)
		pk = parse_public(material, strlen(material));
	if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
		kr_error("InvalidKey.Format", "Key is not in valid OpenSSH public key format "
		    "(an RSA key, ssh-rsa or PEM, or ssh-ed25519)");
		goto done;
	}
	if ((dlen = i2d_PUBKEY(pk, &der)) <= 0) {
		kr_error("InternalError", "cannot encode the public key");
		goto done;
	}
	if (digest_colons(EVP_md5(), der, dlen, k->fingerprint) < 0 ||
	    openssh_line(pk, name, k->public_line, sizeof(k->public_line)) < 0)
		goto done;
	snprintf(k->type, sizeof(k->type), "rsa");
	k->private_pem[0] = '\0';
	rc = 0;
done:
	OPENSSL_free(der);
	EVP_PKEY_free(pk);
	return rc;
}
