/*
 * uri.h - RFC 3986 percent-encoding, as AWS request signing needs it.
 *
 * SigV4 and SigV2 sign an exact byte string, so the server must rebuild the
 * encoding a client used: every byte except the unreserved characters
 * A-Z a-z 0-9 - . _ ~ becomes %XX with upper-case hex (AWS's "UriEncode").
 * Decoding is the other half: clients put '+' for a space in forms and
 * query strings, and a '%' not followed by two hex digits is an error.
 */
#ifndef KARRI_URI_H
#define KARRI_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"

/* Flags for kr_uri_encode(). */
#define KR_URI_KEEP_SLASH 0x1	/* leave '/' as is (paths) */

/* Flags for kr_uri_decode(). */
#define KR_URI_PLUS_SPACE 0x1	/* '+' means a space (forms, query strings) */

bool kr_uri_unreserved(unsigned char c);

/* Append the encoding of s[0..len) to b. */
void kr_uri_encode(struct kr_buf *b, const char *s, size_t len, unsigned flags);

/*
 * Decode src[0..len) into dst, which must hold len + 1 bytes (decoding never
 * grows); dst is NUL-terminated but may contain NULs from %00.  Returns the
 * decoded length, or -1 at a malformed escape, with *bad (if not NULL) set
 * to its offset and dst set to the empty string: on either outcome dst is
 * always a terminated string, never a partial decoding.  Records no error:
 * the caller knows what was being decoded (a query string, a path) and so
 * which error code to give.
 */
ssize_t kr_uri_decode(char *dst, const char *src, size_t len, unsigned flags, size_t *bad);

/* Value of one hex digit (either case), or -1. */
int kr_uri_hexval(char c);

#endif
