/*
 * sigv4-chunk-test.c - aws-chunked chunk signatures against AWS's published
 * example ("Signature Calculations for the Authorization Header:
 * Transferring Payload in Multiple Chunks", Example: PUT Object): a 66560
 * byte object of 'a' sent as a 64 KiB chunk, a 1 KiB chunk and the empty
 * last chunk, with the documented seed and chunk signatures.  The seed goes
 * through kr_sig_verify() as a server would see it; then the chain must
 * hold, and fail on changed data, reordered chunks, a wrong key, and stay
 * failed once broken.
 */
#define KR_SIG_PRIVATE
#include "core/check_run.h"
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/error.h"
#include "sig/sig.h"

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define SEED "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
#define SIG1 "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
#define SIG2 "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
#define SIG3 "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
#define EXAMPLE_TIME 1369353600		/* 20130524T000000Z */

static const char *secret = SECRET;

static int
lookup(void *ctx, const char *access_key, char *out, size_t len)
{
	(void)ctx;
	if (strcmp(access_key, AKID) != 0)
		return -1;
	snprintf(out, len, "%s", secret);
	return 0;
}

static const struct kr_sig_header example_headers[] = {
	{ "Host", "s3.amazonaws.com" },
	{ "x-amz-date", "20130524T000000Z" },
	{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
	{ "Authorization", "AWS4-HMAC-SHA256 Credential=" AKID "/20130524/us-east-1/s3/"
	  "aws4_request,SignedHeaders=content-encoding;content-length;host;"
	  "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"
	  "Signature=" SEED },
	{ "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" },
	{ "Content-Encoding", "aws-chunked" },
	{ "x-amz-decoded-content-length", "66560" },
	{ "Content-Length", "66824" },
};

/* The seed request verified as Walrus does it: body deferred. */
static void
verify_seed(struct kr_sig_result *res)
{
	struct kr_sig_request r = {
		.method = "PUT",
		.path = "/examplebucket/chunkObject.txt",
		.query = "",
		.headers = example_headers,
		.n_headers = sizeof(example_headers) / sizeof(example_headers[0]),
		.body_deferred = true,
	};

	ck_assert_int_eq(kr_sig_verify(&r, lookup, NULL, EXAMPLE_TIME, res), 0);
	ck_assert_str_eq(res->signature, SEED);
	ck_assert_str_eq(res->payload_hash, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
}

/* SHA-256 of n bytes of 'a', one changed to 'b' at `flip` (or none: -1). */
static void
hash_a(size_t n, long flip, unsigned char md[32])
{
	unsigned char *buf = malloc(n + 1);
	unsigned len = 0;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 'a', n);
	if (flip >= 0)
		buf[flip] = 'b';
	ck_assert(EVP_Digest(buf, n, md, &len, EVP_sha256(), NULL));
	free(buf);
}

static bool
all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

START_TEST(aws_example_chain)
{
	struct kr_sig_result res;
	struct kr_sig_chunk c;
	unsigned char h1[32], h2[32], h3[32];

	verify_seed(&res);
	hash_a(65536, -1, h1);
	hash_a(1024, -1, h2);
	hash_a(0, -1, h3);
	ck_assert_int_eq(kr_sig_v4_chunk_init(&c, &res, lookup, NULL), 0);
	ck_assert_str_eq(c.scope, "20130524/us-east-1/s3/aws4_request");
	ck_assert_str_eq(c.amz_date, "20130524T000000Z");
	ck_assert_int_eq(kr_sig_v4_chunk_verify(&c, h1, SIG1), 0);
	ck_assert_int_eq(kr_sig_v4_chunk_verify(&c, h2, SIG2), 0);
	ck_assert_int_eq(kr_sig_v4_chunk_verify(&c, h3, SIG3), 0);
	kr_sig_v4_chunk_wipe(&c);
	ck_assert(all_zero(&c, sizeof(c)));
	kr_sig_v4_chunk_wipe(NULL);
}
END_TEST

START_TEST(tampered_data_breaks_chain)
{
	struct kr_sig_result res;
	struct kr_sig_chunk c;
	unsigned char bad[32], h1[32];

	verify_seed(&res);
	hash_a(65536, 1000, bad);
	hash_a(65536, -1, h1);
	ck_assert_int_eq(kr_sig_v4_chunk_init(&c, &res, lookup, NULL), 0);
	ck_assert_int_eq(kr_sig_v4_chunk_verify(&c, bad, SIG1), -1);
	ck_assert_str_eq(kr_error_code(), "SignatureDoesNotMatch");
	ck_assert(all_zero(c.key, sizeof(c.key)));
	/* Once broken, even the right chunk is refused. */
	ck_assert_int_eq(kr_sig_v4_chunk_verify(&c, h1, SIG1), -1);
	/* A good first chunk, then a changed byte in the second. */
	ck_assert_int_eq(kr_sig_v4_chunk_init(&c, &res, lookup, NULL), 0);
	ck_assert_int_eq(kr_sig_v4_chunk_verify(&c, h1, SIG1), 0);
	hash_a(1024, 3, bad);
	ck_assert_int_eq(kr_sig_v4_chunk_verify(&c, bad, SIG2), -1);
}
END_TEST

START_TEST(reordered_or_malformed_signatures_fail)
{
	struct kr_sig_result res;
	struct kr_sig_chunk c;
	unsigned char h1[32], h2[32], h3[32];
	char upper[65];

	verify_seed(&res);
	hash_a(65536, -1, h1);
	hash_a(1024, -1, h2);
	hash_a(0, -1, h3);
	/* Skipping a chunk: the second chunk's data and signature first. */
	ck_assert_int_eq(kr_sig_v4_chunk_init(&c, &res, lookup, NULL), 0);
	ck_assert_int_eq(kr_sig_v4_chunk_verify(&c, h2, SIG2), -1);
	/* Dropping the data: the last chunk right after the seed. */
	ck_assert_int_eq(kr_sig_v4_chunk_init(&c, &res, lookup, NULL), 0);
	ck_assert_int_eq(kr_sig_v4_chunk_verify(&c, h3, SIG3), -1);
	/* Truncated, over-long, upper-case signatures. */
	ck_assert_int_eq(kr_sig_v4_chunk_init(&c, &res, lookup, NULL), 0);
	ck_assert_int_eq(kr_sig_v4_chunk_verify(&c, h1, "ad80c730"), -1);
	ck_assert_int_eq(kr_sig_v4_chunk_init(&c, &res, lookup, NULL), 0);
	ck_assert_int_eq(kr_sig_v4_chunk_verify(&c, h1, SIG1 "00"), -1);
	snprintf(upper, sizeof(upper), "%s", SIG1);
	upper[0] = 'A';
	ck_assert_int_eq(kr_sig_v4_chunk_init(&c, &res, lookup, NULL), 0);
	ck_assert_int_eq(kr_sig_v4_chunk_verify(&c, h1, upper), -1);
}
END_TEST

START_TEST(init_refuses)
{
	struct kr_sig_result res, other;
	struct kr_sig_chunk c;
	unsigned char h1[32];

	verify_seed(&res);
	other = res;
	snprintf(other.payload_hash, sizeof(other.payload_hash), "UNSIGNED-PAYLOAD");
	ck_assert_int_eq(kr_sig_v4_chunk_init(&c, &other, lookup, NULL), -1);
	other = res;
	other.presigned = true;
	ck_assert_int_eq(kr_sig_v4_chunk_init(&c, &other, lookup, NULL), -1);
	other = res;
	other.version = 2;
	ck_assert_int_eq(kr_sig_v4_chunk_init(&c, &other, lookup, NULL), -1);
	other = res;
	snprintf(other.access_key, sizeof(other.access_key), "AKIDGONE");
	ck_assert_int_eq(kr_sig_v4_chunk_init(&c, &other, lookup, NULL), -1);
	ck_assert(all_zero(&c, sizeof(c)));
	/* A different secret derives a different key: the first chunk fails. */
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEz";
	ck_assert_int_eq(kr_sig_v4_chunk_init(&c, &res, lookup, NULL), 0);
	secret = SECRET;
	hash_a(65536, -1, h1);
	ck_assert_int_eq(kr_sig_v4_chunk_verify(&c, h1, SIG1), -1);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("sigv4-chunk", &tc);

	tcase_add_test(tc, aws_example_chain);
	tcase_add_test(tc, tampered_data_breaks_chain);
	tcase_add_test(tc, reordered_or_malformed_signatures_fail);
	tcase_add_test(tc, init_refuses);
	return kr_check_run(s);
}
