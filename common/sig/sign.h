/*
 * sign.h - SigV4 signing of Karri's own outgoing requests (client side).
 *
 * sig.h verifies what clients send; this signs what Karri sends: the CLC
 * hands nodes and EBS presigned Walrus URLs (so they need no keys), and
 * forwards EC2 Query calls to a remote cloud when bursting.  Both produce
 * exactly what kr_sig_verify() accepts, which the unit test checks by
 * round trip.
 *
 * Errors (kr_error(), on -1): InvalidParameterValue for a URL that does not
 * parse (only http:// and https:// with a host), an output that does not
 * fit, an expiry outside 1..KR_SIG_MAX_EXPIRES; InternalError for OpenSSL.
 */
#ifndef KARRI_SIGN_H
#define KARRI_SIGN_H

#include <stddef.h>
#include <time.h>

struct kr_sign_creds {
	const char *access_key;
	const char *secret_key;
	const char *region;	/* e.g. "karri" or "us-east-1" */
	const char *service;	/* "s3" (path signed as is) or "ec2" */
};

/*
 * A presigned URL: `url` (http[s]://host[:port]/path[?query], path and
 * query already %-encoded) with X-Amz-Algorithm, -Credential, -Date,
 * -Expires, -SignedHeaders=host and -Signature added to its query, valid
 * for `expires_s` seconds from `now`, payload UNSIGNED-PAYLOAD.
 */
int kr_sign_presign_url(const struct kr_sign_creds *c, const char *method, const char *url,
    time_t now, unsigned expires_s, char *out, size_t out_len);

/* The headers a signed request carries besides Host (which is signed as in `url`). */
struct kr_sign_headers {
	char x_amz_date[17];		/* X-Amz-Date: 20261122T054200Z */
	char x_amz_content_sha256[65];	/* X-Amz-Content-Sha256: hex of the body */
	char authorization[512];	/* Authorization: AWS4-HMAC-SHA256 Credential=... */
};

/*
 * Sign a request with its body (e.g. an EC2 Query POST, content type
 * application/x-www-form-urlencoded; charset=utf-8): signed headers are
 * content-type (when not NULL), host, x-amz-content-sha256 and x-amz-date.
 * The caller sends exactly those, with these values.
 */
int kr_sign_v4_headers(const struct kr_sign_creds *c, const char *method, const char *url,
    const char *content_type, const void *body, size_t body_len, time_t now,
    struct kr_sign_headers *out);

#endif
