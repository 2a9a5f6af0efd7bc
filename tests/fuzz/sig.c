/*
 * sig.c - fuzz request signature verification (common/sig/sig.c, sigv4.c,
 * sigv2.c, sig_time.c): kr_sig_verify() as the CLC (clc/api_query.c) and Walrus
 * call it, on a request written as
 *
 *	<now, seconds since the epoch>\n
 *	<METHOD> <raw path>[?<raw query>]\n
 *	<Name>: <value>\n ...
 *	\n
 *	<body>
 *
 * The seeds are the signed requests recorded from botocore, awscli, boto2
 * and the CRT signer (common/testdata/sig), so the fuzzer starts from
 * requests that verify and mutates every field of the canonical request.
 * Known key AKIDKARRITEST0000001 has the test vectors' secret.
 */
#include "fuzz.h"
#include "sig/sig.h"

#define ACCESS_KEY "AKIDKARRITEST0000001"
#define SECRET "karri/Test+Secret/0123456789abcdefghijKLMNOP"
#define MAX_HEADERS 64

static int
lookup(void *ctx, const char *access_key, char *secret, size_t len)
{
	(void)ctx;
	if (strcmp(access_key, ACCESS_KEY) != 0)
		return -1;
	snprintf(secret, len, "%s", SECRET);
	return 0;
}

FZ_INIT_QUIET

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *line, *nl, *sp, *q, *body;
	struct kr_sig_header h[MAX_HEADERS];
	struct kr_sig_request rq = { 0 };
	struct kr_sig_result res;
	time_t now;

	memcpy(s, data, size);
	s[size] = '\0';
	if (!(nl = strchr(s, '\n')))
		goto out;
	*nl = '\0';
	now = (time_t)strtoll(s, NULL, 10);
	line = nl + 1;
	if (!(nl = strchr(line, '\n')) || !(sp = strchr(line, ' ')) || sp > nl)
		goto out;
	*nl = *sp = '\0';
	rq.method = line;
	rq.path = sp + 1;
	if ((q = strchr(sp + 1, '?'))) {
		*q = '\0';
		rq.query = q + 1;
	} else
		rq.query = "";
	rq.headers = h;
	for (line = nl + 1; (nl = strchr(line, '\n')) && nl != line; line = nl + 1) {
		char *colon;

		*nl = '\0';
		if (!(colon = strchr(line, ':')) || rq.n_headers == MAX_HEADERS)
			goto out;
		*colon = '\0';
		h[rq.n_headers].name = line;
		h[rq.n_headers].value = colon + 1 + (colon[1] == ' ');
		rq.n_headers++;
	}
	body = nl ? nl + 1 : s + size;
	rq.body = body;
	rq.body_len = (size_t)(s + size - body);
	/* As Walrus, streaming: the body is not read yet. */
	rq.body_deferred = strcmp(rq.method, "PUT") == 0;
	memset(&res, 0, sizeof(res));
	if (kr_sig_verify(&rq, lookup, NULL, now, &res) == 0) {
		if (res.version != 2 && res.version != 4)
			abort();
		if (strcmp(res.access_key, ACCESS_KEY) != 0)
			abort();	/* verified with a key nobody has */
		if (res.version == 4 && !res.presigned &&
		    strncmp(res.payload_hash, "STREAMING-", 10) == 0) {
			struct kr_sig_chunk c;
			unsigned char zero[32] = { 0 };

			if (kr_sig_v4_chunk_init(&c, &res, lookup, NULL) == 0)
				(void)kr_sig_v4_chunk_verify(&c, zero, res.signature);
			kr_sig_v4_chunk_wipe(&c);
		}
	}
out:
	free(s);
	return 0;
}
