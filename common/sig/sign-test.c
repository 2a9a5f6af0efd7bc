/*
 * sign-test.c - kr_sign_presign_url() and kr_sign_v4_headers() round trip
 * through kr_sig_verify(), the verifier the CLC and Walrus use; tampered
 * copies, a wrong secret and an expired URL must fail.
 */
#include "core/check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sig/sig.h"
#include "sig/sign.h"

#define ACCESS_KEY "AKIDKARRISIGN0000001"
#define SECRET "karri/Sign+Secret/0123456789abcdefghijKLMNOP"
#define NOW ((time_t)1795000000)	/* 2026-11-18 */

static const struct kr_sign_creds s3 = { ACCESS_KEY, SECRET, "karri", "s3" };
static const struct kr_sign_creds ec2 = { ACCESS_KEY, SECRET, "us-east-1", "ec2" };

static int
lookup(void *ctx, const char *ak, char *secret, size_t len)
{
	(void)ctx;
	if (strcmp(ak, ACCESS_KEY) != 0)
		return -1;
	snprintf(secret, len, "%s", SECRET);
	return 0;
}

static int
wrong_secret(void *ctx, const char *ak, char *secret, size_t len)
{
	(void)ctx;
	(void)ak;
	snprintf(secret, len, "not-the-secret");
	return 0;
}

/* A request as a server sees a URL: path, query and the Host header curl sends. */
struct wire {
	char path[1024], query[4096];
	struct kr_sig_header headers[4];
	size_t n;
	const char *method;
};

static void
split(const char *url, const char *host, struct wire *w)
{
	const char *p = strstr(url, "://"), *q;

	ck_assert_ptr_nonnull(p);
	p += strcspn(p + 3, "/?") + 3;
	ck_assert_int_eq(*p, '/');
	q = strchr(p, '?');
	snprintf(w->path, sizeof(w->path), "%.*s", (int)(q ? q - p : (long)strlen(p)), p);
	snprintf(w->query, sizeof(w->query), "%s", q ? q + 1 : "");
	w->headers[0].name = "Host";
	w->headers[0].value = host;
	w->n = 1;
}

static int
verify(const struct wire *w, kr_sig_secret_fn fn, time_t now, struct kr_sig_result *res)
{
	struct kr_sig_request req = {
		.method = w->method, .path = w->path, .query = w->query,
		.headers = w->headers, .n_headers = w->n,
	};

	return kr_sig_verify(&req, fn, NULL, now, res);
}

START_TEST(presigned_url_verifies)
{
	char url[4096];
	struct wire w = { .method = "GET" };
	struct kr_sig_result res;

	ck_assert_int_eq(kr_sign_presign_url(&s3, "GET",
	    "http://10.1.0.1:8779/services/Karri/image?bucket=b1&key=My%20Image.manifest.xml",
	    NOW, 3600, url, sizeof(url)), 0);
	ck_assert_ptr_nonnull(strstr(url, "&X-Amz-Signature="));
	ck_assert_ptr_nonnull(strstr(url, "X-Amz-Expires=3600"));
	split(url, "10.1.0.1:8779", &w);
	ck_assert_int_eq(verify(&w, lookup, NOW + 10, &res), 0);
	ck_assert_str_eq(res.access_key, ACCESS_KEY);
	ck_assert(res.presigned);
	ck_assert_int_eq(res.expires, NOW + 3600);
	/* Still good at the last second, not after it. */
	ck_assert_int_eq(verify(&w, lookup, NOW + 3600, &res), 0);
	ck_assert_int_eq(verify(&w, lookup, NOW + 3601, &res), -1);
	ck_assert_int_eq(res.failure, KR_SIG_EXPIRED);
	ck_assert_int_eq(verify(&w, wrong_secret, NOW, &res), -1);
	ck_assert_int_eq(res.failure, KR_SIG_MISMATCH);
}
END_TEST

START_TEST(presigned_url_tampered)
{
	char url[4096], *p;
	struct wire w = { .method = "GET" };
	struct kr_sig_result res;

	ck_assert_int_eq(kr_sign_presign_url(&s3, "GET",
	    "http://walrus:8779/services/Karri/image?bucket=b1&key=k1", NOW, 60, url,
	    sizeof(url)), 0);
	split(url, "walrus:8779", &w);
	ck_assert_int_eq(verify(&w, lookup, NOW, &res), 0);
	/* Another key, another path, another host, another method. */
	p = strstr(w.query, "key=k1");
	p[5] = '2';
	ck_assert_int_eq(verify(&w, lookup, NOW, &res), -1);
	ck_assert_int_eq(res.failure, KR_SIG_MISMATCH);
	p[5] = '1';
	w.path[strlen(w.path) - 1] = 'X';
	ck_assert_int_eq(verify(&w, lookup, NOW, &res), -1);
	split(url, "walrus:8778", &w);
	ck_assert_int_eq(verify(&w, lookup, NOW, &res), -1);
	split(url, "walrus:8779", &w);
	w.method = "PUT";
	ck_assert_int_eq(verify(&w, lookup, NOW, &res), -1);
	/* A longer expiry than signed. */
	w.method = "GET";
	p = strstr(w.query, "X-Amz-Expires=60");
	p[14] = '9';
	ck_assert_int_eq(verify(&w, lookup, NOW, &res), -1);
}
END_TEST

START_TEST(presign_default_port_and_no_query)
{
	char url[2048];
	struct wire w = { .method = "GET" };
	struct kr_sig_result res;

	ck_assert_int_eq(kr_sign_presign_url(&s3, "GET", "https://walrus:443/b/k", NOW, 5,
	    url, sizeof(url)), 0);
	ck_assert_ptr_nonnull(strstr(url, "https://walrus:443/b/k?X-Amz-Algorithm="));
	split(url, "walrus", &w);
	ck_assert_int_eq(verify(&w, lookup, NOW, &res), 0);
	ck_assert_int_eq(kr_sign_presign_url(&ec2, "GET", "http://clc", NOW, 5, url,
	    sizeof(url)), 0);
	split(url, "clc", &w);
	ck_assert_str_eq(w.path, "/");
	ck_assert_int_eq(verify(&w, lookup, NOW, &res), 0);
}
END_TEST

START_TEST(presign_refuses_bad_input)
{
	char url[200];
	struct kr_sign_creds bad = s3;

	ck_assert_int_eq(kr_sign_presign_url(&s3, "GET", "ftp://x/y", NOW, 5, url, sizeof(url)),
	    -1);
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	ck_assert_int_eq(kr_sign_presign_url(&s3, "GET", "http:///y", NOW, 5, url, sizeof(url)),
	    -1);
	ck_assert_int_eq(kr_sign_presign_url(&s3, "GET", "http://u@h/y", NOW, 5, url,
	    sizeof(url)), -1);
	ck_assert_int_eq(kr_sign_presign_url(&s3, "GET", "http://h/a b", NOW, 5, url,
	    sizeof(url)), -1);
	ck_assert_int_eq(kr_sign_presign_url(&s3, "GET", "http://h/y", NOW, 0, url, sizeof(url)),
	    -1);
	ck_assert_int_eq(kr_sign_presign_url(&s3, "GET", "http://h/y", NOW,
	    KR_SIG_MAX_EXPIRES + 1, url, sizeof(url)), -1);
	ck_assert_int_eq(kr_sign_presign_url(&s3, "get", "http://h/y", NOW, 5, url, sizeof(url)),
	    -1);
	bad.region = "a/b";
	ck_assert_int_eq(kr_sign_presign_url(&bad, "GET", "http://h/y", NOW, 5, url,
	    sizeof(url)), -1);
	/* Too small an output buffer is an error, not a truncated URL. */
	ck_assert_int_eq(kr_sign_presign_url(&s3, "GET", "http://h/y", NOW, 5, url, 100), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	ck_assert_str_eq(url, "");
}
END_TEST

START_TEST(signed_headers_verify)
{
	static const char body[] = "Action=DescribeInstances&Version=2016-11-15";
	const char *ct = "application/x-www-form-urlencoded; charset=utf-8";
	struct kr_sign_headers h;
	struct kr_sig_result res;
	struct kr_sig_header hd[5];
	struct kr_sig_request req = {
		.method = "POST", .path = "/", .query = "", .headers = hd, .n_headers = 5,
		.body = body, .body_len = sizeof(body) - 1,
	};
	char tampered[sizeof(body)];

	ck_assert_int_eq(kr_sign_v4_headers(&ec2, "POST", "https://ec2.example.com/", ct,
	    body, sizeof(body) - 1, NOW, &h), 0);
	ck_assert_ptr_nonnull(strstr(h.authorization, "SignedHeaders=content-type;host;"
	    "x-amz-content-sha256;x-amz-date, Signature="));
	hd[0] = (struct kr_sig_header){ "Host", "ec2.example.com" };
	hd[1] = (struct kr_sig_header){ "Content-Type", ct };
	hd[2] = (struct kr_sig_header){ "X-Amz-Date", h.x_amz_date };
	hd[3] = (struct kr_sig_header){ "X-Amz-Content-Sha256", h.x_amz_content_sha256 };
	hd[4] = (struct kr_sig_header){ "Authorization", h.authorization };
	ck_assert_int_eq(kr_sig_verify(&req, lookup, NULL, NOW + 60, &res), 0);
	ck_assert_int_eq(res.version, 4);
	ck_assert_str_eq(res.service, "ec2");
	/* Outside the 5-minute window. */
	ck_assert_int_eq(kr_sig_verify(&req, lookup, NULL, NOW + 301, &res), -1);
	ck_assert_int_eq(res.failure, KR_SIG_EXPIRED);
	/* A changed body no longer matches x-amz-content-sha256. */
	memcpy(tampered, body, sizeof(body));
	tampered[7] = 'X';
	req.body = tampered;
	ck_assert_int_eq(kr_sig_verify(&req, lookup, NULL, NOW, &res), -1);
	ck_assert_int_eq(res.failure, KR_SIG_PAYLOAD_MISMATCH);
	req.body = body;
	req.path = "/x";
	ck_assert_int_eq(kr_sig_verify(&req, lookup, NULL, NOW, &res), -1);
	ck_assert_int_eq(res.failure, KR_SIG_MISMATCH);
	req.path = "/";
	ck_assert_int_eq(kr_sig_verify(&req, wrong_secret, NULL, NOW, &res), -1);
}
END_TEST

START_TEST(signed_headers_s3_with_query_no_content_type)
{
	struct kr_sign_headers h;
	struct kr_sig_result res;
	struct kr_sig_header hd[4];
	struct kr_sig_request req = {
		.method = "GET", .path = "/services/Karri/manifest",
		.query = "bucket=b&key=a%2Bb.manifest.xml", .headers = hd, .n_headers = 4,
	};

	ck_assert_int_eq(kr_sign_v4_headers(&s3, "GET",
	    "http://127.0.0.1:8779/services/Karri/manifest?bucket=b&key=a%2Bb.manifest.xml",
	    NULL, NULL, 0, NOW, &h), 0);
	hd[0] = (struct kr_sig_header){ "host", "127.0.0.1:8779" };
	hd[1] = (struct kr_sig_header){ "x-amz-date", h.x_amz_date };
	hd[2] = (struct kr_sig_header){ "x-amz-content-sha256", h.x_amz_content_sha256 };
	hd[3] = (struct kr_sig_header){ "authorization", h.authorization };
	ck_assert_int_eq(kr_sig_verify(&req, lookup, NULL, NOW, &res), 0);
	req.query = "bucket=b&key=a%2Bc.manifest.xml";
	ck_assert_int_eq(kr_sig_verify(&req, lookup, NULL, NOW, &res), -1);
	/* A content type that is not one trimmed line is refused. */
	ck_assert_int_eq(kr_sign_v4_headers(&s3, "GET", "http://h/", "text/plain\r\nX: y",
	    NULL, 0, NOW, &h), -1);
	ck_assert_str_eq(h.authorization, "");
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("sign", &tc);

	tcase_add_test(tc, presigned_url_verifies);
	tcase_add_test(tc, presigned_url_tampered);
	tcase_add_test(tc, presign_default_port_and_no_query);
	tcase_add_test(tc, presign_refuses_bad_input);
	tcase_add_test(tc, signed_headers_verify);
	tcase_add_test(tc, signed_headers_s3_with_query_no_content_type);
	return kr_check_run(s);
}
