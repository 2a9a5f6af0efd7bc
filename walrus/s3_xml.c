/*
 * s3_xml.c - S3's XML: error documents, replies, and reading the few
 * request bodies S3 has (DeleteObjects, CompleteMultipartUpload,
 * AccessControlPolicy, CreateBucketConfiguration).
 *
 * The bodies are small documents of a fixed shape, so they are read with a
 * tag scanner rather than a general XML parser: it finds <Tag>text</Tag>
 * (a prefix such as <s3:Tag> and attributes are allowed) and decodes the
 * five predefined entities and character references.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "walrus.h"

void
wl_xml_start(struct kr_buf *b, const char *root)
{
	kr_buf_addf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<%s xmlns=\"%s\">", root,
	    WL_S3_NS);
}

void
wl_reply_xml(struct wl_req *rq, int status, struct kr_buf *xml)
{
	if (kr_buf_failed(xml)) {
		kr_buf_free(xml);
		wl_error(rq, 500, "InternalError", "the response could not be built");
		return;
	}
	kr_httpd_add_header(rq->http, "x-amz-request-id", "%s", rq->request_id);
	kr_httpd_respond(rq->http, status, "application/xml", kr_buf_str(xml), kr_buf_len(xml));
	kr_buf_free(xml);
}

void
wl_error(struct wl_req *rq, int status, const char *code, const char *fmt, ...)
{
	struct kr_buf b = KR_BUF_INIT;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kr_log_info("%s %s %s: %d %s: %s", rq->http->peer, rq->http->method, rq->http->path,
	    status, code, msg);
	kr_buf_add(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
	kr_buf_add_xml_elem(&b, "Code", code);
	kr_buf_add_xml_elem(&b, "Message", msg);
	if (rq->bucket[0])
		kr_buf_add_xml_elem(&b, "BucketName", rq->bucket);
	if (rq->key)
		kr_buf_add_xml_elem(&b, "Key", rq->key);
	kr_buf_add_xml_elem(&b, "Resource", rq->http->path);
	kr_buf_add_xml_elem(&b, "RequestId", rq->request_id);
	kr_buf_add(&b, "</Error>\n");
	kr_httpd_add_header(rq->http, "x-amz-request-id", "%s", rq->request_id);
	kr_httpd_respond(rq->http, status, "application/xml", kr_buf_str(&b), kr_buf_len(&b));
	kr_buf_free(&b);
}

/* kr_error() codes from common/ mapped to S3's. */
void
wl_error_from_kr(struct wl_req *rq)
{
	const char *code = kr_error_code(), *msg = kr_error_message();

	if (strcmp(code, "InsufficientStorage") == 0)
		wl_error(rq, 507, "InsufficientStorage", "%s", msg);
	else if (strcmp(code, "InvalidParameterValue") == 0 || strcmp(code, "InvalidArgument") == 0)
		wl_error(rq, 400, "InvalidArgument", "%s", msg);
	else if (strcmp(code, "MalformedQueryString") == 0)
		wl_error(rq, 400, "InvalidArgument", "%s", msg);
	else {
		kr_log_errorx("request %s: %s", rq->request_id, *msg ? msg : "unknown failure");
		wl_error(rq, 500, "InternalError", "We encountered an internal error. Please try again.");
	}
}

void
wl_time_iso(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

void
wl_time_http(time_t t, char out[40])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Decode entities of s[0..len) into a malloc'd string. */
static char *
decode(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		static const struct { const char *ent; char c; } ents[] = {
			{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
			{ "&quot;", '"' }, { "&apos;", '\'' },
		};
		bool done = false;

		if (s[i] != '&') {
			*o++ = s[i];
			continue;
		}
		for (size_t e = 0; e < 5 && !done; e++) {
			size_t el = strlen(ents[e].ent);
			if (i + el <= len && memcmp(s + i, ents[e].ent, el) == 0) {
				*o++ = ents[e].c;
				i += el - 1;
				done = true;
			}
		}
		if (!done && i + 2 < len && s[i + 1] == '#') {
			char *end;
			unsigned long cp = s[i + 2] == 'x' ? strtoul(s + i + 3, &end, 16) :
			    strtoul(s + i + 2, &end, 10);
			if (*end == ';' && cp > 0 && cp < 0x110000 && (size_t)(end - s) < len) {
				/* UTF-8 never grows past the reference's own length. */
				if (cp < 0x80)
					*o++ = (char)cp;
				else if (cp < 0x800) {
					*o++ = (char)(0xc0 | (cp >> 6));
					*o++ = (char)(0x80 | (cp & 0x3f));
				} else if (cp < 0x10000) {
					*o++ = (char)(0xe0 | (cp >> 12));
					*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
					*o++ = (char)(0x80 | (cp & 0x3f));
				} else {
					*o++ = (char)(0xf0 | (cp >> 18));
					*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
					*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
					*o++ = (char)(0x80 | (cp & 0x3f));
				}
				i = (size_t)(end - s);
				done = true;
			}
		}
		if (!done)
			*o++ = '&';
	}
	*o = '\0';
	return out;
}

/* Find the next <tag ...> (any prefix) in [s, end); sets *body to after '>'. */
static const char *
find_open(const char *s, const char *end, const char *tag, const char **body,
    const char **next)
{
	size_t tl = strlen(tag);

	for (const char *p = s; p < end; p++) {
		const char *name, *gt;

		if (*p != '<' || p + 1 >= end || p[1] == '/' || p[1] == '?' || p[1] == '!')
			continue;
		name = p + 1;
		for (const char *q = name; q < end && *q != '>' && *q != ' ' && *q != '/'; q++)
			if (*q == ':')
				name = q + 1;
		if ((size_t)(end - name) <= tl || memcmp(name, tag, tl) != 0 ||
		    (name[tl] != '>' && name[tl] != ' ' && name[tl] != '/'))
			continue;
		if (!(gt = memchr(name, '>', (size_t)(end - name))))
			return NULL;
		*body = gt[-1] == '/' ? NULL : gt + 1;	/* <Tag/> is empty */
		*next = gt + 1;
		return p;
	}
	return NULL;
}

static const char *
find_close(const char *s, const char *end, const char *tag, const char **after)
{
	size_t tl = strlen(tag);

	for (const char *p = s; p + 1 < end; p++) {
		const char *name;

		if (p[0] != '<' || p[1] != '/')
			continue;
		name = p + 2;
		for (const char *q = name; q < end && *q != '>'; q++)
			if (*q == ':')
				name = q + 1;
		if ((size_t)(end - name) > tl && memcmp(name, tag, tl) == 0 && name[tl] == '>') {
			*after = name + tl + 1;
			return p;
		}
	}
	return NULL;
}

int
wl_xml_each(const char *s, const char *end, const char *tag, wl_xml_elem_fn fn, void *arg)
{
	const char *body, *close, *after, *next;

	while (s < end && find_open(s, end, tag, &body, &next)) {
		if (!body) {	/* <Tag/> */
			if (fn("", 0, arg) != 0)
				return 1;
			s = next;
			continue;
		}
		if (!(close = find_close(body, end, tag, &after)))
			return -1;
		if (fn(body, (size_t)(close - body), arg) != 0)
			return 1;
		s = after;
	}
	return 0;
}

char *
wl_xml_text(const char *s, const char *end, const char *tag)
{
	const char *body, *close, *after, *next;

	if (!find_open(s, end, tag, &body, &next))
		return NULL;
	if (!body)
		return strdup("");
	if (!(close = find_close(body, end, tag, &after)))
		return NULL;
	return decode(body, (size_t)(close - body));
}
