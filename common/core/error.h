/*
 * error.h - Karri's one error convention.
 *
 * The function that detects a failure records it once with kr_error(): an
 * error code (the EC2/S3 code name the API edge will show, e.g.
 * "InvalidParameterValue", or "InternalError"), a message, and where it was
 * detected.  It then returns -1 or NULL; callers pass the failure up without
 * recording it again, and only the API edge turns it into XML.  The record
 * is per thread.
 */
#ifndef KARRI_ERROR_H
#define KARRI_ERROR_H

#define KR_ERROR_CODE_MAX 64
#define KR_ERROR_MSG_MAX 1024

struct kr_err {
	char code[KR_ERROR_CODE_MAX];	/* "" when no error is recorded */
	char message[KR_ERROR_MSG_MAX];
	const char *file;
	const char *func;
	int line;
};

void kr_error_set(const char *file, const char *func, int line, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define kr_error(code, ...) kr_error_set(__FILE__, __func__, __LINE__, (code), __VA_ARGS__)

/* Like kr_error(), with ": strerror(errno)" appended to the message. */
void kr_error_set_errno(const char *file, const char *func, int line, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define kr_error_errno(code, ...) \
	kr_error_set_errno(__FILE__, __func__, __LINE__, (code), __VA_ARGS__)

const struct kr_err *kr_error_last(void);
const char *kr_error_code(void);	/* "" when none */
const char *kr_error_message(void);	/* "" when none */
void kr_error_clear(void);

/*
 * Clean-up on a failure path (a DELETE, a kill) may record errors of its
 * own; the caller must still see the first one, where it was detected:
 *
 *	struct kr_err saved;
 *
 *	kr_error_save(&saved);
 *	undo_what_was_made();
 *	kr_error_restore(&saved);
 *	return -1;
 */
void kr_error_save(struct kr_err *out);
void kr_error_restore(const struct kr_err *saved);

#endif
