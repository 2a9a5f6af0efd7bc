/*
 * clc_keys.h - key pairs and base64 (crypto_keys.c).
 */
#ifndef KARRI_CLC_KEYS_H
#define KARRI_CLC_KEYS_H

#include <stddef.h>

struct clc_key {
	char fingerprint[64 * 3];	/* colon-separated hex; ed25519: base64 SHA-256 */
	char public_line[1200];		/* "ssh-rsa AAAA... name" / "ssh-ed25519 ..." */
	char type[8];			/* "rsa" or "ed25519" (EC2's KeyType) */
	char private_pem[4096];		/* CreateKeyPair only; "" after import */
};

int clc_key_create(const char *name, struct clc_key *k);
int clc_key_import(const char *material, const char *name, struct clc_key *k);
/* EC2's KeyType of a stored OpenSSH public line: "ed25519" or "rsa". */
const char *clc_key_type(const char *public_line);

void clc_base64_encode(const unsigned char *in, size_t n, char *out);
int clc_base64_decode(const char *s, unsigned char *out, size_t outlen);

#endif
