/*
 * httpd.c - fuzz Karri's HTTP/1.1 server (common/http/httpd.c, httpd_read.c,
 * httpd_write.c), which Walrus serves S3 with: the input is what a client
 * sends on one connection (request lines, headers, Content-Length or
 * chunked bodies, pipelined requests), written to a real kr_httpd listening
 * on 127.0.0.1 in this process.  The handler streams the body of requests
 * whose path starts with /s, collects it whole (1 KiB limit) otherwise, and
 * answers with what it saw, keeping the connection alive as clients expect.
 */
#include "fuzz.h"
#include "http/httpd.h"

static struct event_base *base;
static struct kr_httpd *srv;
static int port;

struct body {
	size_t got;
};

static int
on_data(struct kr_httpd_req *r, const void *data, size_t len, void *ctx)
{
	struct body *b = ctx;

	(void)r;
	if (len && !data)
		abort();
	b->got += len;
	if (r->content_length >= 0 && b->got > (size_t)r->content_length)
		abort();	/* more body than Content-Length said */
	return 0;
}

static void
on_end(struct kr_httpd_req *r, void *ctx)
{
	struct body *b = ctx;

	kr_httpd_add_header(r, "X-Got", "%zu", b->got);
	kr_httpd_respond(r, 200, "text/plain", "ok\n", 3);
}

static void
on_all(struct kr_httpd_req *r, const char *body, size_t len, void *ctx)
{
	(void)ctx;
	if (!body)
		kr_httpd_respond(r, 413, "text/plain", "too large\n", 10);
	else
		kr_httpd_respond(r, 200, "application/octet-stream", body, len);
}

static void
on_done(void *ctx, bool completed)
{
	(void)completed;
	free(ctx);
}

static void
handler(struct kr_httpd_req *r, void *arg)
{
	struct body *b;

	(void)arg;
	if (!r->method || !r->path || !r->query || r->path[0] != '/')
		abort();
	for (size_t i = 0; i < r->n_headers; i++)
		if (!r->headers[i].name || !r->headers[i].value)
			abort();
	(void)kr_httpd_header(r, "Host");
	if (strcmp(r->method, "HEAD") == 0) {
		kr_httpd_respond(r, 200, "text/plain", "head", 4);
	} else if (strncmp(r->path, "/s", 2) == 0) {
		if (!(b = calloc(1, sizeof(*b))))
			abort();
		kr_httpd_on_done(r, on_done, b);
		kr_httpd_read_body(r, on_data, on_end, b);
	} else if (strncmp(r->path, "/x", 2) == 0) {
		kr_httpd_respond(r, 404, "text/plain", "unread body\n", 12);
	} else {
		kr_httpd_read_body_all(r, 1024, on_all, NULL);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const struct kr_httpd_opts opts = { .max_header_bytes = 8192, .max_headers = 32,
	    .timeout_s = 5 };
	int fd;

	(void)argc, (void)argv;
	fz_quiet();
	fd = fz_listen(&port);
	if (!(base = event_base_new()) || !(srv = kr_httpd_new(base, fd, &opts, handler, NULL)))
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)fz_exchange(base, port, data, size, 3000);
	return 0;
}
