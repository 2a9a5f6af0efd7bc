/*
 * metadata_token.c - IMDSv2 session tokens.
 *
 * A token is stateless: its expiry and an HMAC-SHA256 of (instance id,
 * expiry) under a secret drawn at the CLC's start, as hex.  So nothing is
 * stored per token and a guest cannot mint one or use another instance's
 * (the HMAC covers the id the caller's address maps to).  A restarted CLC
 * draws a new secret and old tokens fail with 401, which every IMDSv2
 * client (cloud-init, botocore, the SDKs) answers by asking for a new one.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "clc_metadata.h"
#include "core/log.h"

#define MAC_BYTES 24

static unsigned char secret[32];
static bool have_secret;

static int
mac_of(const char *instance_id, unsigned long long expiry, unsigned char mac[MAC_BYTES])
{
	unsigned char full[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char msg[80];
	int len;

	if (!have_secret) {
		if (RAND_bytes(secret, sizeof(secret)) != 1)
			return -1;
		have_secret = true;
	}
	len = snprintf(msg, sizeof(msg), "%s\n%llu", instance_id, expiry);
	if (len < 0 || (size_t)len >= sizeof(msg) ||
	    !HMAC(EVP_sha256(), secret, sizeof(secret), (unsigned char *)msg, (size_t)len,
	    full, &n) || n < MAC_BYTES)
		return -1;
	memcpy(mac, full, MAC_BYTES);
	return 0;
}

int
clc_md_token_issue(const char *instance_id, long ttl, time_t now,
    char out[CLC_MD_TOKEN_LEN])
{
	unsigned long long expiry = (unsigned long long)now + (unsigned long long)ttl;
	unsigned char mac[MAC_BYTES];
	size_t off;

	if (mac_of(instance_id, expiry, mac) < 0) {
		kr_log_errorx("metadata: cannot make an IMDSv2 token");
		return -1;
	}
	off = (size_t)snprintf(out, CLC_MD_TOKEN_LEN, "KR1%016llx", expiry);
	for (size_t i = 0; i < MAC_BYTES; i++)
		off += (size_t)snprintf(out + off, CLC_MD_TOKEN_LEN - off, "%02x", mac[i]);
	return 0;
}

bool
clc_md_token_valid(const char *token, const char *instance_id, time_t now)
{
	unsigned char mac[MAC_BYTES], got[MAC_BYTES];
	unsigned long long expiry;
	char hex[17];

	if (strlen(token) != 3 + 16 + 2 * MAC_BYTES || strncmp(token, "KR1", 3) != 0)
		return false;
	memcpy(hex, token + 3, 16);
	hex[16] = '\0';
	if (sscanf(hex, "%16llx", &expiry) != 1 || expiry <= (unsigned long long)now)
		return false;
	for (size_t i = 0; i < MAC_BYTES; i++) {
		unsigned int byte;

		if (sscanf(token + 19 + 2 * i, "%2x", &byte) != 1)
			return false;
		got[i] = (unsigned char)byte;
	}
	return mac_of(instance_id, expiry, mac) == 0 && CRYPTO_memcmp(mac, got, MAC_BYTES) == 0;
}
