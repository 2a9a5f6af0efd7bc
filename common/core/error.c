/*
 * error.c - the per-thread "last error" record behind kr_error().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

static _Thread_local struct kr_err last_error;

/* The format attribute lets -Wformat=2 (clang: -Wformat-nonliteral) pass. */
__attribute__((format(printf, 6, 0)))
static void
record(const char *file, const char *func, int line, const char *code,
    const char *suffix, const char *fmt, va_list ap)
{
	struct kr_err *e = &last_error;
	int n;

	snprintf(e->code, sizeof(e->code), "%s", code ? code : "InternalError");
	n = vsnprintf(e->message, sizeof(e->message), fmt, ap);
	if (suffix && n >= 0 && (size_t)n < sizeof(e->message))
		snprintf(e->message + n, sizeof(e->message) - n, ": %s", suffix);
	e->file = file;
	e->func = func;
	e->line = line;
}

void
kr_error_set(const char *file, const char *func, int line, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record(file, func, line, code, NULL, fmt, ap);
	va_end(ap);
}

void
kr_error_set_errno(const char *file, const char *func, int line, const char *code,
    const char *fmt, ...)
{
	char reason[256];
	int saved = errno;
	va_list ap;

	/* GNU strerror_r returns the string, which may not be `reason`. */
	const char *s = strerror_r(saved, reason, sizeof(reason));
	va_start(ap, fmt);
	record(file, func, line, code, s, fmt, ap);
	va_end(ap);
	errno = saved;
}

const struct kr_err *
kr_error_last(void)
{
	return &last_error;
}

const char *
kr_error_code(void)
{
	return last_error.code;
}

const char *
kr_error_message(void)
{
	return last_error.message;
}

void
kr_error_clear(void)
{
	memset(&last_error, 0, sizeof(last_error));
}

void
kr_error_save(struct kr_err *out)
{
	*out = last_error;
}

/* As it was, where it was detected (file, function and line included). */
void
kr_error_restore(const struct kr_err *saved)
{
	last_error = *saved;
}
