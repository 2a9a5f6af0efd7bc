/*
 * http_client-test.c - unit tests for http_client.c: the bounds and the
 * protocol restriction a caller gets without asking, and what logs see of
 * a presigned URL.
 */
#include "core/check_run.h"
#include <string.h>

#include "core/buf.h"
#include "http/http_client.h"

START_TEST(log_form_drops_the_query)
{
	char out[64];

	kr_http_url_for_log("http://w:8773/services/Walrus/b/k?X-Amz-Signature=abc", out,
	    sizeof(out));
	ck_assert_str_eq(out, "http://w:8773/services/Walrus/b/k");
	kr_http_url_for_log("https://h/p", out, sizeof(out));
	ck_assert_str_eq(out, "https://h/p");
	kr_http_url_for_log("http://h/0123456789?q", out, 12);
	ck_assert_str_eq(out, "http://h/01");
}
END_TEST

/* A file:// URL (or a redirect to one) must never read local files. */
START_TEST(only_http_and_https)
{
	struct kr_http_opts o = { .url = "file:///etc/passwd", .connect_timeout_s = 2 };
	struct kr_buf b = KR_BUF_INIT;
	struct kr_http h;

	kr_buf_init(&b, 1u << 20);
	ck_assert_int_eq(kr_http_open(&h, &o), 0);
	curl_easy_setopt(h.curl, CURLOPT_WRITEFUNCTION, kr_http_collect);
	curl_easy_setopt(h.curl, CURLOPT_WRITEDATA, &b);
	ck_assert_int_eq(kr_http_perform(&h), CURLE_UNSUPPORTED_PROTOCOL);
	ck_assert_uint_eq(kr_buf_len(&b), 0);
	ck_assert_int_eq(h.status, 0);
	ck_assert(strlen(kr_http_strerror(&h, CURLE_UNSUPPORTED_PROTOCOL)) > 0);
	kr_http_close(&h);
	kr_http_close(&h);
	kr_buf_free(&b);
}
END_TEST

START_TEST(refused_connection_has_words)
{
	struct kr_http_opts o = { .url = "http://127.0.0.1:1/x?secret", .connect_timeout_s = 2,
		.timeout_s = 5 };
	struct kr_http h;
	CURLcode cc;

	ck_assert_int_eq(kr_http_open(&h, &o), 0);
	cc = kr_http_perform(&h);
	ck_assert_int_eq(cc, CURLE_COULDNT_CONNECT);
	ck_assert_ptr_null(strstr(kr_http_strerror(&h, cc), "secret"));
	kr_http_close(&h);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("http_client", &tc);

	tcase_add_test(tc, log_form_drops_the_query);
	tcase_add_test(tc, only_http_and_https);
	tcase_add_test(tc, refused_connection_has_words);
	return kr_check_run(s);
}
