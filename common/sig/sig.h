/*
 * sig.h - verify AWS request signatures (SigV4 and SigV2), without HTTP.
 *
 * The front ends (CLC Query API, Walrus S3) describe a request as it came
 * off the wire and ask kr_sig_verify() whether it was signed by the holder
 * of an access key.  The scheme is detected from the request:
 *
 *   SigV4, header:  Authorization: AWS4-HMAC-SHA256 Credential=...,
 *                   SignedHeaders=..., Signature=...
 *   SigV4, query:   X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
 *                   X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature in
 *                   the query (presigned URLs) or in a POST form body
 *   SigV2:          AWSAccessKeyId, SignatureVersion=2, SignatureMethod
 *                   (HmacSHA256 | HmacSHA1), Timestamp or Expires, Signature
 *                   in the query or a POST form body
 *
 * Rules chosen to match real clients (botocore with and without awscrt,
 * awscli 2.9, boto 2.49; see tools/gen-sig-vectors and testdata/sig/):
 *  - SigV4 is checked with the credential scope the client sent: any
 *    region and service name (boto2 signs region "0" for 127.0.0.1,
 *    euca2ools "undefined-<n>").
 *  - Service "s3" signs the path as sent; every other service signs it
 *    with dot segments and repeated slashes removed and then encoded once
 *    more ("%20" -> "%2520").  For s3, a path encoded differently from
 *    RFC 3986 is also tried re-encoded (boto2's S3 signer does that).
 *  - The payload hash is the x-amz-content-sha256 header when present
 *    (a hex SHA-256, which must then match the body, or a literal such as
 *    UNSIGNED-PAYLOAD / STREAMING-AWS4-HMAC-SHA256-PAYLOAD, which covers no
 *    body), UNSIGNED-PAYLOAD for presigned s3 URLs, else the body's SHA-256.
 *  - SigV2 signs the Host header as received, lowercased (boto2 sends and
 *    signs no port even on :8773; botocore sends and signs host:port).
 *  - Clock skew: 5 minutes either way.  Presigned SigV4 URLs are good from
 *    X-Amz-Date - 5 min to X-Amz-Date + X-Amz-Expires.
 *
 * Error codes (kr_error(), on -1), kept few; res->failure says more:
 *   AuthFailure            bad signature, unknown access key, body not
 *                          matching x-amz-content-sha256, unsupported scheme
 *   IncompleteSignature    a signature whose parts are missing or malformed
 *   MissingParameter       no authentication at all, or no date/timestamp
 *   RequestExpired         outside the skew window; presigned URL expired
 *   InvalidParameterValue  malformed date, expiry or signature method
 *   MalformedQueryString   the query or form body does not decode
 *   InternalError          out of memory, OpenSSL failure
 */
#ifndef KARRI_SIG_H
#define KARRI_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define KR_SIG_SKEW 300			/* seconds of clock skew allowed */
#define KR_SIG_MAX_EXPIRES 604800	/* longest presigned URL, 7 days */

struct kr_sig_header {
	const char *name;	/* as received; compared case-insensitively */
	const char *value;
};

struct kr_sig_request {
	const char *method;
	const char *path;		/* raw, still %-encoded, without the query */
	const char *query;		/* raw query string, "" when none */
	const struct kr_sig_header *headers;	/* in the order received */
	size_t n_headers;
	const void *body;		/* the body, or NULL */
	size_t body_len;
	/*
	 * The body's SHA-256 in hex when the caller already computed it (then
	 * body is not hashed again), else NULL.
	 */
	const char *payload_hash;
	/*
	 * The body has not been read yet (S3 uploads are streamed): SigV4 is
	 * checked against the x-amz-content-sha256 header, which is then
	 * required, and the caller compares res->payload_hash with the body's
	 * hash once read.  A form body carrying SigV2/SigV4 parameters cannot
	 * be deferred.
	 */
	bool body_deferred;
};

/* Secret for an access key id: 0 found, -1 unknown (record no error). */
typedef int (*kr_sig_secret_fn)(void *ctx, const char *access_key, char *secret,
    size_t secret_len);

enum kr_sig_failure {
	KR_SIG_OK = 0,
	KR_SIG_NO_AUTH,		/* anonymous: S3 may allow it */
	KR_SIG_MALFORMED,	/* IncompleteSignature, InvalidParameterValue, ... */
	KR_SIG_EXPIRED,		/* RequestExpired */
	KR_SIG_UNKNOWN_KEY,	/* AuthFailure (S3: InvalidAccessKeyId) */
	KR_SIG_MISMATCH,	/* AuthFailure (S3: SignatureDoesNotMatch) */
	KR_SIG_PAYLOAD_MISMATCH,	/* AuthFailure (S3: XAmzContentSHA256Mismatch) */
	KR_SIG_UNSUPPORTED,	/* AuthFailure: a scheme Karri does not take */
	KR_SIG_INTERNAL,	/* InternalError */
};

struct kr_sig_result {
	enum kr_sig_failure failure;	/* set on failure too */
	char access_key[128];
	int version;			/* 2 or 4 */
	bool presigned;			/* auth in query/form parameters */
	char region[64];		/* SigV4 scope; "" for SigV2 */
	char service[64];
	time_t signed_at;		/* X-Amz-Date / Date / Timestamp; 0 for Expires */
	time_t expires;			/* last valid second for presigned/Expires, else 0 */
	char payload_hash[72];		/* SigV4: hash or literal that was signed */
	char signature[72];		/* SigV4 hex signature (seed for aws-chunked) */
};

/*
 * 0 and *res filled when req carries a valid signature by an access key that
 * lookup knows, checked at time `now`; -1 with kr_error() recorded and
 * res->failure set otherwise.
 */
int kr_sig_verify(const struct kr_sig_request *req, kr_sig_secret_fn lookup, void *ctx,
    time_t now, struct kr_sig_result *res);

/*
 * aws-chunked bodies (x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD):
 * the headers carry a "seed" signature, checked by kr_sig_verify(), and the
 * body is a run of chunks each signed with the same derived key over
 *
 *   AWS4-HMAC-SHA256-PAYLOAD \n date \n scope \n previous signature \n
 *   SHA-256("") \n SHA-256(chunk data)
 *
 * so chunk n's signature chains from chunk n-1's (the seed for the first)
 * and chunks cannot be dropped, reordered or replayed elsewhere.  After a
 * successful kr_sig_verify() of such a request, kr_sig_v4_chunk_init()
 * derives the key once (the secret is looked up again and wiped at once);
 * the caller hashes each chunk as it streams and asks
 * kr_sig_v4_chunk_verify() at its end; kr_sig_v4_chunk_wipe() clears the
 * key.  Any failure also wipes it, so the chain cannot go on after one.
 */
struct kr_sig_chunk {
	unsigned char key[32];		/* kDate/kRegion/kService/kSigning: the signing key */
	char prev[65];			/* the last good signature, hex */
	char amz_date[17];		/* YYYYMMDDTHHMMSSZ of the seed request */
	char scope[200];		/* date/region/service/aws4_request */
	bool ready;
};

/* 0, or -1 with kr_error(): res is not a SigV4 header-signed result, or the key is gone. */
int kr_sig_v4_chunk_init(struct kr_sig_chunk *c, const struct kr_sig_result *res,
    kr_sig_secret_fn lookup, void *ctx);
/*
 * Does `signature` (64 hex digits) sign the next chunk, whose data hashes
 * to data_sha256?  0 yes (the chain moves on), -1 no: kr_error()
 * SignatureDoesNotMatch (or InternalError) and the key is wiped.
 */
int kr_sig_v4_chunk_verify(struct kr_sig_chunk *c, const unsigned char data_sha256[32],
    const char *signature);
void kr_sig_v4_chunk_wipe(struct kr_sig_chunk *c);	/* NULL-safe */

/*
 * Request times (sig_time.c), for the signers' Date and x-amz-date headers
 * and S3's presigned Expires; the CLC and Walrus use these and no other
 * date parser.  0 and *t set, or -1 (nothing recorded: the caller names the
 * header in its error).
 *
 * kr_sig_time_http(): an HTTP date in any form RFC 7231 §7.1.1.1 makes a
 * server accept, plus RFC 5322's numeric zones, which euca2ools
 * (email.utils.formatdate: "-0000") and s3cmd ("+0000") send:
 *
 *   Sun, 06 Nov 1994 08:49:37 GMT       IMF-fixdate (also "UTC")
 *   Sun, 06 Nov 1994 10:49:37 +0200     with a zone, converted to UTC
 *   Sunday, 06-Nov-94 08:49:37 GMT      RFC 850 (zone as above; the year
 *                                       is the nearest not 50 years ahead)
 *   Sun Nov  6 08:49:37 1994            asctime (UTC)
 *
 * Refused: other spellings (names are case-sensitive), any field out of
 * range for its month, anything before or after, zones beyond +-14:00.
 * The day name is not checked against the date.
 */
int kr_sig_time_http(const char *s, time_t *t);
/* "1735689600": decimal seconds since the epoch, digits only (at most 12). */
int kr_sig_time_epoch(const char *s, time_t *t);

#ifdef KR_SIG_PRIVATE
/*
 * Shared by sig.c, sig_util.c, sigv4.c and sigv2.c only.
 */
#include "core/buf.h"
#include "sig/form.h"
#include <openssl/evp.h>

#define KR_SIG_SECRET_MAX 256

/* The parameters of a request: its query string and, if a form, its body. */
struct kr_sig_params {
	struct kr_form query;
	struct kr_form body;		/* empty unless a form body */
	bool body_is_form;
};

/* sig_util.c */
int kr_sig_fail(struct kr_sig_result *res, enum kr_sig_failure why);
const char *kr_sig_header(const struct kr_sig_request *req, const char *name);
const char *kr_sig_param(const struct kr_sig_params *p, const char *key);
int kr_sig_lookup(kr_sig_secret_fn lookup, void *ctx, const char *access_key,
    char *secret, size_t secret_len, struct kr_sig_result *res);
int kr_sig_hmac(const EVP_MD *md, const void *key, size_t key_len, const void *data,
    size_t len, unsigned char *out, unsigned *out_len, struct kr_sig_result *res);
int kr_sig_sha256_hex(const void *data, size_t len, char hex[65], struct kr_sig_result *res);
void kr_sig_hex(const unsigned char *bin, size_t len, char *out);
bool kr_sig_equal(const char *a, const char *b);
int kr_sig_check_skew(time_t t, time_t now, const char *what, struct kr_sig_result *res);
int kr_sig_canonical_query(struct kr_buf *out, const struct kr_form *a, const struct kr_form *b,
    const char *skip, bool sort_encoded, struct kr_sig_result *res);

/* sig_time.c: 0, or -1 (nothing recorded) for anything but exactly the form. */
int kr_sig_time_iso_basic(const char *s, time_t *t);	/* 20240301T123456Z */
int kr_sig_time_iso(const char *s, time_t *t);	/* 2024-03-01T12:34:56[.f][Z|+HH:MM] */

/* sigv4.c: the SigV4 signing key for a secret and scope (32 bytes). */
int kr_sig_v4_key(const char *secret, const char *date, const char *region,
    const char *service, unsigned char key[32], struct kr_sig_result *res);
/* sigv4.c: a non-S3 canonical URI: dot/empty segments dropped, encoded again. */
int kr_sig_v4_normalized_path(struct kr_buf *b, const char *path);

/* sigv4.c, sigv2.c */
int kr_sig_v4_header(const struct kr_sig_request *req, const struct kr_sig_params *p,
    const char *auth, kr_sig_secret_fn lookup, void *ctx, time_t now,
    struct kr_sig_result *res);
int kr_sig_v4_query(const struct kr_sig_request *req, const struct kr_sig_params *p,
    kr_sig_secret_fn lookup, void *ctx, time_t now, struct kr_sig_result *res);
int kr_sig_v2(const struct kr_sig_request *req, const struct kr_sig_params *p,
    kr_sig_secret_fn lookup, void *ctx, time_t now, struct kr_sig_result *res);
#endif

#endif
