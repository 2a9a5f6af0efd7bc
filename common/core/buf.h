/*
 * buf.h - a growable byte buffer that remembers its first error.
 *
 * Callers append freely and check once (kr_buf_failed() or the return of
 * kr_buf_detach()), as libvirt's virBuffer does: after an allocation failure
 * or when the buffer would pass its size limit, every later append is a
 * no-op.  The contents are always NUL-terminated.  Every buffer has a limit:
 * nothing that comes off the network can grow one without bound.
 */
#ifndef KARRI_BUF_H
#define KARRI_BUF_H

#include <stdbool.h>
#include <stddef.h>

#define KR_BUF_DEFAULT_MAX (64u << 20)	/* 64 MiB */

struct kr_buf {
	char *data;		/* NULL until the first append */
	size_t len;
	size_t cap;
	size_t max;		/* most bytes it may hold */
	bool failed;		/* sticky: out of memory or over max */
};

#define KR_BUF_INIT { NULL, 0, 0, KR_BUF_DEFAULT_MAX, false }

void kr_buf_init(struct kr_buf *b, size_t max);	/* max 0: KR_BUF_DEFAULT_MAX */
void kr_buf_free(struct kr_buf *b);		/* NULL-safe; leaves it empty and reusable */
void kr_buf_reset(struct kr_buf *b);		/* empty it, keep the memory, clear the error */

void kr_buf_add(struct kr_buf *b, const char *s);
void kr_buf_add_len(struct kr_buf *b, const void *data, size_t len);
void kr_buf_add_char(struct kr_buf *b, char c);
void kr_buf_addf(struct kr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Text escaped for XML element content or attribute values: & < > " ' are
 * escaped; characters XML 1.0 forbids (most control characters) and bytes
 * that are not valid UTF-8 become U+FFFD, so the output always parses.
 */
void kr_buf_add_xml(struct kr_buf *b, const char *s);
void kr_buf_add_xml_len(struct kr_buf *b, const char *s, size_t len);

/* <tag>escaped text</tag>; a NULL text gives <tag/>. */
void kr_buf_add_xml_elem(struct kr_buf *b, const char *tag, const char *text);

bool kr_buf_failed(const struct kr_buf *b);
const char *kr_buf_str(const struct kr_buf *b);	/* "" when empty; never NULL */
size_t kr_buf_len(const struct kr_buf *b);

/*
 * Hand the contents to the caller (free() them) and empty the buffer.
 * NULL, with kr_error() recorded, when the buffer failed.
 */
char *kr_buf_detach(struct kr_buf *b, size_t *len);

#endif
