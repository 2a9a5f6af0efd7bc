/*
 * id.c - random EC2-style ids (see id.h for why random is safe here).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "core/error.h"
#include "core/id.h"

/* Length of a valid prefix at s (1..KR_ID_PREFIX_MAX lowercase letters), else 0. */
static size_t
prefix_len(const char *s)
{
	size_t n = 0;

	while (s[n] >= 'a' && s[n] <= 'z')
		n++;
	return n <= KR_ID_PREFIX_MAX ? n : 0;
}

static bool
lower_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int
kr_id_new(const char *prefix, char *out, size_t outlen)
{
	uint32_t r;
	size_t plen = prefix ? prefix_len(prefix) : 0;
	ssize_t n;

	if (plen == 0 || prefix[plen] != '\0') {
		kr_error("InternalError", "id prefix \"%s\" is not 1-%d lowercase letters",
		    prefix ? prefix : "(null)", KR_ID_PREFIX_MAX);
		return -1;
	}
	if (outlen < plen + 1 + 8 + 1) {
		kr_error("InternalError", "no room for a %s- id (%zu bytes)", prefix, outlen);
		return -1;
	}
	/* 4 bytes from the urandom pool never block once it is initialised. */
	do
		n = getrandom(&r, sizeof(r), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(r)) {
		kr_error_errno("InternalError", "getrandom");
		return -1;
	}
	snprintf(out, outlen, "%s-%08" PRIx32, prefix, r);
	return 0;
}

bool
kr_id_valid(const char *id, const char *prefix)
{
	size_t plen, hex;

	if (!id)
		return false;
	if (prefix) {
		plen = strlen(prefix);
		if (plen == 0 || strncmp(id, prefix, plen) != 0)
			return false;
	} else if ((plen = prefix_len(id)) == 0) {
		return false;
	}
	if (id[plen] != '-')
		return false;
	hex = strlen(id + plen + 1);
	return (hex == 8 || hex == 17) && lower_hex(id + plen + 1, hex);
}

int
kr_id_mac_from_instance(const char *instance_id, const char *mac_prefix, char out[18])
{
	const char *h;
	unsigned int a, b;
	int end = 0;

	if (!mac_prefix)
		mac_prefix = "d0:0d";
	if (!kr_id_valid(instance_id, "i") || strlen(instance_id) != 2 + 8) {
		kr_error("InvalidParameterValue", "\"%s\" is not an instance id of 8 hex digits",
		    instance_id ? instance_id : "(null)");
		return -1;
	}
	h = instance_id + 2;
	if (strlen(mac_prefix) != 5 || sscanf(mac_prefix, "%2x:%2x%n", &a, &b, &end) != 2 ||
	    end != 5 || !isxdigit((unsigned char)mac_prefix[0]) ||
	    !isxdigit((unsigned char)mac_prefix[3])) {
		kr_error("InvalidParameterValue", "MAC prefix \"%s\" is not two hex octets",
		    mac_prefix);
		return -1;
	}
	snprintf(out, 18, "%02x:%02x:%.2s:%.2s:%.2s:%.2s", a, b, h, h + 2, h + 4, h + 6);
	return 0;
}
