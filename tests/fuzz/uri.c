/*
 * uri.c - fuzz kr_uri_decode() (paths with KR_URI_KEEP_SLASH off and on,
 * forms with '+' as space) and kr_uri_encode().  The decoder's contract
 * (common/core/uri.h): dst is always terminated, the empty string on failure,
 * never longer than its source; decode(encode(x)) == x.
 */
#include "fuzz.h"
#include "core/uri.h"

FZ_INIT_QUIET

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char *dst = malloc(size + 1);
	struct kr_buf b = KR_BUF_INIT;
	unsigned flags[] = { 0, KR_URI_PLUS_SPACE };

	for (size_t k = 0; k < 2; k++) {
		size_t bad = (size_t)-1;
		ssize_t n;

		memset(dst, 'X', size + 1);
		n = kr_uri_decode(dst, s, size, flags[k], &bad);
		if (n < 0 ? dst[0] != '\0' || bad >= size : (size_t)n > size || dst[n] != '\0')
			abort();
	}
	for (unsigned fl = 0; fl < 2; fl++) {
		char *back;
		ssize_t n;

		kr_buf_reset(&b);
		kr_uri_encode(&b, s, size, fl ? KR_URI_KEEP_SLASH : 0);
		if (kr_buf_failed(&b))
			continue;
		back = malloc(kr_buf_len(&b) + 1);
		n = kr_uri_decode(back, kr_buf_str(&b), kr_buf_len(&b), 0, NULL);
		if (n != (ssize_t)size || memcmp(back, s, size) != 0)
			abort();
		free(back);
	}
	kr_buf_free(&b);
	free(dst);
	return 0;
}
