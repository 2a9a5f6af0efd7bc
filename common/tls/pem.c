/*
 * pem.c - PEM files in (see pem.h).
 */
#include <stdbool.h>
#include <stdio.h>

#include <openssl/pem.h>

#include "tls/pem.h"

/* The first private key (key) or certificate in the file at path, or NULL. */
static void *
read_pem(const char *path, bool key)
{
	FILE *f = fopen(path, "re");
	void *obj = NULL;

	if (f) {
		obj = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL) :
		    (void *)PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	return obj;
}

X509 *
kr_pem_read_cert(const char *path)
{
	return read_pem(path, false);
}

EVP_PKEY *
kr_pem_read_key(const char *path)
{
	return read_pem(path, true);
}
