/*
 * bundle_crypto.c - the small pieces of OpenSSL both the bundler and Walrus
 * use: hex as manifests spell bytes, and loading keys and certificates.
 */
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "bundle.h"
#include "core/error.h"

void
wl_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

ssize_t
wl_unhex(const char *in, size_t len, unsigned char *out, size_t max)
{
	if (len % 2 || len / 2 > max)
		return -1;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)in[2 * i]);
		int lo = OPENSSL_hexchar2int((unsigned char)in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return (ssize_t)(len / 2);
}

EVP_PKEY *
wl_pem_key_load(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (!f) {
		kr_error_errno("InternalError", "private key %s", path);
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k || EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		ERR_clear_error();
		kr_error("InternalError", "%s: not a PEM RSA private key", path);
		return NULL;
	}
	return k;
}

EVP_PKEY *
wl_pem_cert_pubkey(const char *pem, size_t len)
{
	BIO *b = len <= 64u << 10 ? BIO_new_mem_buf(pem, (int)len) : NULL;
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = x ? X509_get_pubkey(x) : NULL;

	X509_free(x);
	BIO_free(b);
	if (!k || EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		ERR_clear_error();
		kr_error("InvalidArgument", "not a PEM X.509 certificate with an RSA key");
		return NULL;
	}
	return k;
}
