/*
 * sig.c - kr_sig_verify(): find which signature scheme a request uses and
 * hand it to sigv4.c or sigv2.c.  What both share is sig_util.c's, the
 * date formats sig_time.c's.
 */
#define KR_SIG_PRIVATE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/error.h"
#include "sig/sig.h"
#include "core/uri.h"

/* --- the entry point ------------------------------------------------------ */

static bool
is_form(const struct kr_sig_request *req)
{
	const char *ct = kr_sig_header(req, "Content-Type");

	return ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

static int
parse_params(const struct kr_sig_request *req, struct kr_sig_params *p,
    struct kr_sig_result *res)
{
	const char *q = req->query ? req->query : "";

	if (kr_form_parse(q, strlen(q), NULL, &p->query) < 0)
		return kr_sig_fail(res, KR_SIG_MALFORMED);
	p->body_is_form = is_form(req) && req->body && !req->body_deferred;
	if (p->body_is_form && kr_form_parse(req->body, req->body_len, NULL, &p->body) < 0)
		return kr_sig_fail(res, KR_SIG_MALFORMED);
	return 0;
}

int
kr_sig_verify(const struct kr_sig_request *req, kr_sig_secret_fn lookup, void *ctx,
    time_t now, struct kr_sig_result *res)
{
	struct kr_sig_params p = { KR_FORM_INIT, KR_FORM_INIT, false };
	const char *auth;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (parse_params(req, &p, res) < 0)
		goto cleanup;
	if ((auth = kr_sig_header(req, "Authorization"))) {
		if (strncmp(auth, "AWS4-HMAC-SHA256 ", 17) == 0)
			rc = kr_sig_v4_header(req, &p, auth + 17, lookup, ctx, now, res);
		else {
			kr_error("AuthFailure", "unsupported Authorization scheme \"%.20s\"", auth);
			kr_sig_fail(res, KR_SIG_UNSUPPORTED);
		}
	} else if (kr_sig_param(&p, "X-Amz-Algorithm")) {
		rc = kr_sig_v4_query(req, &p, lookup, ctx, now, res);
	} else if (kr_sig_param(&p, "Signature") || kr_sig_param(&p, "AWSAccessKeyId")) {
		rc = kr_sig_v2(req, &p, lookup, ctx, now, res);
	} else {
		kr_error("MissingParameter", "the request must contain a signature: an "
		    "Authorization header, X-Amz-Signature or Signature");
		kr_sig_fail(res, KR_SIG_NO_AUTH);
	}
cleanup:
	kr_form_free(&p.query);
	kr_form_free(&p.body);
	if (rc == 0)
		res->failure = KR_SIG_OK;
	return rc;
}
