/*
 * form.c - fuzz kr_form_parse(): every EC2 Query string and form body, and
 * every S3 query string, goes through it (clc/api_query.c, walrus/route.c,
 * common/sig/sig.c).  Checks what the callers rely on: keys and values are
 * NUL-terminated at their recorded lengths, and lookups of what was parsed
 * find something.
 */
#include "sig/form.h"
#include "fuzz.h"

FZ_INIT_QUIET

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kr_form f = KR_FORM_INIT;
	const struct kr_form_limits small = { 8, 64, 256 };

	if (kr_form_parse((const char *)data, size, &kr_form_default_limits, &f) == 0) {
		for (size_t i = 0; i < f.n; i++) {
			if (f.params[i].key[f.params[i].key_len] != '\0' ||
			    f.params[i].value[f.params[i].value_len] != '\0')
				abort();
			/* A key with a %00 in it cannot be asked for by name. */
			if (strlen(f.params[i].key) == f.params[i].key_len &&
			    (!kr_form_get(&f, f.params[i].key) ||
			    kr_form_count(&f, f.params[i].key) == 0))
				abort();
		}
	}
	kr_form_free(&f);
	if (kr_form_parse((const char *)data, size, &small, &f) == 0 && f.n > small.max_params)
		abort();
	kr_form_free(&f);
	return 0;
}
