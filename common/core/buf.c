/*
 * buf.c - growable buffer with a sticky error and a size limit.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"

void
kr_buf_init(struct kr_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max ? max : KR_BUF_DEFAULT_MAX;
}

void
kr_buf_free(struct kr_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}

void
kr_buf_reset(struct kr_buf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->data)
		b->data[0] = '\0';
}

/* Make room for `extra` more bytes plus the terminating NUL. */
static bool
reserve(struct kr_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->failed)
		return false;
	if (b->max == 0)
		b->max = KR_BUF_DEFAULT_MAX;
	if (extra > b->max || b->len > b->max - extra) {
		b->failed = true;
		return false;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	b->data[b->len] = '\0';
	return true;
}

void
kr_buf_add_len(struct kr_buf *b, const void *data, size_t len)
{
	if (!reserve(b, len))
		return;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
kr_buf_add(struct kr_buf *b, const char *s)
{
	if (s)
		kr_buf_add_len(b, s, strlen(s));
}

void
kr_buf_add_char(struct kr_buf *b, char c)
{
	kr_buf_add_len(b, &c, 1);
}

void
kr_buf_addf(struct kr_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (!reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/*
 * Length of the valid UTF-8 sequence at s (at most `left` bytes), or 0 when
 * it is not valid (overlong, surrogate, beyond U+10FFFF, truncated).
 */
static size_t
utf8_len(const unsigned char *s, size_t left, uint32_t *cp)
{
	size_t n, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		c = s[0] & 0x07;
	} else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static bool
xml_allowed(uint32_t c)
{
	if (c < 0x20)
		return c == '\t' || c == '\n' || c == '\r';
	return c != 0xfffe && c != 0xffff;
}

void
kr_buf_add_xml_len(struct kr_buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, n;
	uint32_t cp;

	/* Copy runs of plain characters at once; escape the rest one by one. */
	while (i < len) {
		const char *esc = NULL;

		n = utf8_len(p + i, len - i, &cp);
		if (n == 0 || !xml_allowed(cp))
			esc = "\xef\xbf\xbd";	/* U+FFFD */
		else if (cp == '&')
			esc = "&amp;";
		else if (cp == '<')
			esc = "&lt;";
		else if (cp == '>')
			esc = "&gt;";
		else if (cp == '"')
			esc = "&quot;";
		else if (cp == '\'')
			esc = "&apos;";
		if (!esc) {
			i += n;
			continue;
		}
		kr_buf_add_len(b, s + run, i - run);
		kr_buf_add(b, esc);
		i += n ? n : 1;
		run = i;
	}
	kr_buf_add_len(b, s + run, i - run);
}

void
kr_buf_add_xml(struct kr_buf *b, const char *s)
{
	if (s)
		kr_buf_add_xml_len(b, s, strlen(s));
}

void
kr_buf_add_xml_elem(struct kr_buf *b, const char *tag, const char *text)
{
	if (!text) {
		kr_buf_addf(b, "<%s/>", tag);
		return;
	}
	kr_buf_addf(b, "<%s>", tag);
	kr_buf_add_xml(b, text);
	kr_buf_addf(b, "</%s>", tag);
}

bool
kr_buf_failed(const struct kr_buf *b)
{
	return b->failed;
}

const char *
kr_buf_str(const struct kr_buf *b)
{
	return b->data ? b->data : "";
}

size_t
kr_buf_len(const struct kr_buf *b)
{
	return b->len;
}

char *
kr_buf_detach(struct kr_buf *b, size_t *len)
{
	char *p;

	if (b->failed) {
		kr_error("InternalError", "buffer over its %zu-byte limit or out of memory", b->max);
		kr_buf_free(b);
		return NULL;
	}
	if (!b->data && !reserve(b, 0)) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	p = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
