/*
 * uri.c - RFC 3986 percent-encoding and decoding.
 */
#include "core/uri.h"

static const char hex_upper[] = "0123456789ABCDEF";

bool
kr_uri_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.' || c == '_' || c == '~';
}

void
kr_uri_encode(struct kr_buf *b, const char *s, size_t len, unsigned flags)
{
	size_t i, run = 0;
	char esc[3];

	/* Copy runs of characters that stay as they are in one append. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (kr_uri_unreserved(c) || (c == '/' && (flags & KR_URI_KEEP_SLASH)))
			continue;
		kr_buf_add_len(b, s + run, i - run);
		esc[0] = '%';
		esc[1] = hex_upper[c >> 4];
		esc[2] = hex_upper[c & 0xf];
		kr_buf_add_len(b, esc, 3);
		run = i + 1;
	}
	kr_buf_add_len(b, s + run, len - run);
}

int
kr_uri_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t
kr_uri_decode(char *dst, const char *src, size_t len, unsigned flags, size_t *bad)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		char c = src[i];

		if (c == '%') {
			int hi = i + 2 < len ? kr_uri_hexval(src[i + 1]) : -1;
			int lo = hi >= 0 ? kr_uri_hexval(src[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				/* Leave dst an empty string, never a prefix without
				 * its NUL: a caller that keeps dst after the error
				 * (to quote it in a message) must not read past it. */
				dst[0] = '\0';
				if (bad)
					*bad = i;
				return -1;
			}
			dst[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && (flags & KR_URI_PLUS_SPACE)) {
			dst[n++] = ' ';
		} else {
			dst[n++] = c;
		}
	}
	dst[n] = '\0';
	return (ssize_t)n;
}
