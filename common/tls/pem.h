/*
 * pem.h - reading a PEM certificate or private key from a file: the one
 * way for every daemon and tool (the file opened close-on-exec).
 */
#ifndef KARRI_PEM_H
#define KARRI_PEM_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * The first certificate / private key in the file at path; NULL when it is
 * missing or holds none.  No kr_error: each caller knows what the file is
 * for and says so in its own words.
 */
X509 *kr_pem_read_cert(const char *path);
EVP_PKEY *kr_pem_read_key(const char *path);

#endif
