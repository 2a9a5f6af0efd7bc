/*
 * httpd_read.c - reading a request off a connection: the header section
 * (request line, headers, framing: Content-Length or chunked, keep-alive,
 * Expect: 100-continue) and the body, de-chunked, handed to the handler as
 * it arrives.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "http/httpd_conn.h"

const char *
kr_httpd_header(const struct kr_httpd_req *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* Split the header section (NUL-terminated, CRLF lines) into the request. */
static int
parse_head(struct kr_httpd_conn *c, int *status, const char **why)
{
	struct kr_httpd_req *r = &c->req;
	char *line = c->head, *end, *sp1, *sp2, *q;
	size_t max = c->srv->opts.max_headers;
	const char *conn_hdr, *te, *cl;

	*status = 400;
	if (!(end = strstr(line, "\r\n")))
		return (*why = "no request line", -1);
	*end = '\0';
	if (!(sp1 = strchr(line, ' ')) || !(sp2 = strchr(sp1 + 1, ' ')))
		return (*why = "malformed request line", -1);
	*sp1 = *sp2 = '\0';
	r->method = line;
	r->path = sp1 + 1;
	for (const char *m = r->method; *m; m++)
		if (*m < 'A' || *m > 'Z')
			return (*why = "malformed method", -1);
	if (strcmp(sp2 + 1, "HTTP/1.1") == 0)
		r->version_minor = 1;
	else if (strcmp(sp2 + 1, "HTTP/1.0") == 0)
		r->version_minor = 0;
	else
		return (*status = 505, *why = "HTTP version not supported", -1);
	if (r->path[0] != '/')
		return (*why = "the request target must be a path", -1);
	if ((q = strchr(sp1 + 1, '?'))) {
		*q = '\0';
		r->query = q + 1;
	} else
		r->query = "";
	if (!(c->headers = calloc(max, sizeof(*c->headers))))
		return (*status = 500, *why = "out of memory", -1);
	for (line = end + 2; *line; line = end + 2) {
		char *colon, *v, *e;

		if (!(end = strstr(line, "\r\n")))
			return (*why = "header line without CRLF", -1);
		*end = '\0';
		if (*line == '\0')
			break;
		if (*line == ' ' || *line == '\t')
			return (*why = "folded header lines are not accepted", -1);
		if (!(colon = strchr(line, ':')) || colon == line)
			return (*why = "malformed header line", -1);
		for (char *n = line; n < colon; n++)
			if (*n <= ' ' || *n >= 127)
				return (*why = "malformed header name", -1);
		if (r->n_headers == max)
			return (*status = 431, *why = "too many header lines", -1);
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		c->headers[r->n_headers].name = line;
		c->headers[r->n_headers].value = v;
		r->n_headers++;
	}
	r->headers = c->headers;

	te = kr_httpd_header(r, "Transfer-Encoding");
	cl = kr_httpd_header(r, "Content-Length");
	if (te) {
		if (cl)
			return (*why = "both Transfer-Encoding and Content-Length", -1);
		if (strcasecmp(te, "chunked") != 0)
			return (*status = 501, *why = "only chunked transfer coding is supported", -1);
		r->chunked = true;
		r->content_length = -1;
	} else if (cl) {
		char *endp;
		unsigned long long n;

		errno = 0;
		n = strtoull(cl, &endp, 10);
		if (*cl < '0' || *cl > '9' || *endp || errno || n > INT64_MAX)
			return (*why = "malformed Content-Length", -1);
		/* Repeated Content-Length headers must agree. */
		for (size_t i = 0; i < r->n_headers; i++)
			if (strcasecmp(r->headers[i].name, "Content-Length") == 0 &&
			    strcmp(r->headers[i].value, cl) != 0)
				return (*why = "conflicting Content-Length headers", -1);
		r->content_length = (int64_t)n;
	}
	c->body_left = r->chunked ? 0 : r->content_length;
	c->chunk = CH_SIZE;
	c->body_done = !r->chunked && r->content_length == 0;

	conn_hdr = kr_httpd_header(r, "Connection");
	if (r->version_minor == 1)
		c->keep_alive = !(conn_hdr && strcasecmp(conn_hdr, "close") == 0);
	else
		c->keep_alive = conn_hdr && strcasecmp(conn_hdr, "keep-alive") == 0;
	r->expect_continue = r->version_minor == 1 &&
	    kr_httpd_header(r, "Expect") &&
	    strcasecmp(kr_httpd_header(r, "Expect"), "100-continue") == 0;
	return 0;
}

/* ST_HEADERS: 0 when more input is needed or a request was dispatched, -1 to stop. */
int
httpd_read_headers(struct kr_httpd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr end;
	size_t max = c->srv->opts.max_header_bytes, len;
	const char *why;
	int status;

	/* Blank lines between requests are allowed (RFC 9112 2.2). */
	while (evbuffer_get_length(in) >= 2) {
		unsigned char two[2];
		evbuffer_copyout(in, two, 2);
		if (two[0] != '\r' || two[1] != '\n')
			break;
		evbuffer_drain(in, 2);
	}
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) > max) {
			httpd_fail_request(c, 431, "request header section too large");
			return -1;
		}
		return 0;
	}
	len = (size_t)end.pos + 4;
	if (len > max) {
		httpd_fail_request(c, 431, "request header section too large");
		return -1;
	}
	if (!(c->head = malloc(len + 1))) {
		httpd_fail_request(c, 500, "out of memory");
		return -1;
	}
	evbuffer_remove(in, c->head, len);
	c->head[len] = '\0';
	c->req.conn = c;
	c->req.content_length = 0;
	memcpy(c->req.peer, c->peer, sizeof(c->req.peer));
	if (parse_head(c, &status, &why) < 0) {
		httpd_fail_request(c, status, why);
		return -1;
	}
	c->state = ST_HANDLER;
	c->srv->handler(&c->req, c->srv->arg);
	return 0;
}

static int
deliver(struct kr_httpd_conn *c, const void *data, size_t len)
{
	if (c->on_data)
		return c->on_data(&c->req, data, len, c->body_ctx);
	if (c->on_all) {
		kr_buf_add_len(&c->all, data, len);
		return 0;
	}
	return 0;	/* lingering: dropped */
}

/* Hand up to `want` bytes of input to the handler; the count delivered, or -1. */
static ssize_t
deliver_input(struct kr_httpd_conn *c, struct evbuffer *in, size_t want)
{
	struct evbuffer_iovec v[8];
	size_t done = 0;
	int n = evbuffer_peek(in, (ev_ssize_t)want, NULL, v, 8);

	for (int i = 0; i < n && i < 8 && done < want; i++) {
		size_t l = v[i].iov_len < want - done ? v[i].iov_len : want - done;
		if (deliver(c, v[i].iov_base, l) < 0) {
			evbuffer_drain(in, done + l);
			return -1;
		}
		done += l;
	}
	evbuffer_drain(in, done);
	return (ssize_t)done;
}

/* Hand the handler what is buffered of the body_left bytes due (of the body or chunk). */
static int
deliver_due(struct kr_httpd_conn *c, struct evbuffer *in, size_t avail)
{
	ssize_t n = deliver_input(c, in, (uint64_t)c->body_left < avail ?
	    (size_t)c->body_left : avail);

	if (n < 0)
		return -1;
	c->body_left -= n;
	return 0;
}

/* ST_BODY: feed what input there is; 1 when the body ended, 0 for more, -1 on error. */
int
httpd_read_body(struct kr_httpd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	for (;;) {
		size_t avail = evbuffer_get_length(in);

		if (!c->req.chunked) {
			if (c->body_left == 0)
				return 1;
			if (avail == 0)
				return 0;
			if (deliver_due(c, in, avail) < 0)
				return -1;
			continue;
		}
		switch (c->chunk) {
		case CH_SIZE:
		case CH_TRAILER: {
			size_t ll;
			char *line = evbuffer_readln(in, &ll, EVBUFFER_EOL_CRLF_STRICT);
			char *endp;

			if (!line) {
				if (avail > CHUNK_LINE_MAX) {
					httpd_fail_request(c, 400, "chunk size line too long");
					return -1;
				}
				return 0;
			}
			if (c->chunk == CH_TRAILER) {
				c->chunk = ll == 0 ? CH_DONE : CH_TRAILER;
				free(line);
				break;
			}
			errno = 0;
			c->body_left = (int64_t)strtoll(line, &endp, 16);
			if (endp == line || errno || c->body_left < 0 ||
			    (*endp && *endp != ';' && *endp != ' ')) {
				free(line);
				httpd_fail_request(c, 400, "malformed chunk size");
				return -1;
			}
			free(line);
			c->chunk = c->body_left == 0 ? CH_TRAILER : CH_DATA;
			break;
		}
		case CH_DATA:
			if (avail == 0)
				return 0;
			if (deliver_due(c, in, avail) < 0)
				return -1;
			if (c->body_left == 0)
				c->chunk = CH_CRLF;
			break;
		case CH_CRLF: {
			char two[2];
			if (avail < 2)
				return 0;
			evbuffer_remove(in, two, 2);
			if (two[0] != '\r' || two[1] != '\n') {
				httpd_fail_request(c, 400, "chunk not followed by CRLF");
				return -1;
			}
			c->chunk = CH_SIZE;
			break;
		}
		case CH_DONE:
			return 1;
		}
	}
}
