/*
 * log.h - Karri's one logger, shaped like OpenBSD ntpd's log.c.
 *
 * Every daemon logs through these calls.  Lines look like
 *
 *	2026-11-22 02:45:30.123 INFO  karri-nc[1234]: message
 *
 * (local time with milliseconds).  Logging works before kr_log_open()
 * (to stderr, as "karri", at INFO), is thread-safe (each line is one write()
 * under one mutex, so lines from different threads never interleave) and
 * keeps errno intact.  Control characters in messages are replaced by '?'
 * so that a value taken from a request cannot forge extra log lines.
 *
 * The logger prints what it is given: never pass it secrets (secret keys,
 * passwords, private keys, signed URLs).  It offers nothing that dumps
 * structures, on purpose.
 */
#ifndef KARRI_LOG_H
#define KARRI_LOG_H

#include <stdbool.h>

enum kr_log_level { KR_LOG_DEBUG, KR_LOG_INFO, KR_LOG_WARN, KR_LOG_ERROR };

/*
 * Log as `ident` (e.g. "karri-nc") to `path`, which must be absolute; NULL
 * or "-" means stderr.  When the file passes max_bytes (0: never) it is
 * renamed path.1 (path.1 becomes path.2, ... up to `keep` old files; keep 0
 * keeps none) and a new file is started.  May be called again to switch
 * files.  Returns 0, or -1 with kr_error() set (logging then stays where it
 * was).
 */
int kr_log_open(const char *ident, const char *path, enum kr_log_level level,
    long max_bytes, int keep);

/* Reopen the same path (after an external logrotate moved it); 0/-1. */
int kr_log_reopen(void);

/* Back to stderr; the ident and level stay. */
void kr_log_close(void);

/*
 * True while lines go to standard error (before kr_log_open(), with "-",
 * after kr_log_close()): a caller that also prints to stderr itself can
 * then say a thing once instead of twice.
 */
bool kr_log_is_stderr(void);

void kr_log_set_level(enum kr_log_level level);
enum kr_log_level kr_log_get_level(void);

/*
 * "DEBUG", "INFO", "WARN", "ERROR", case-insensitive, plus Eucalyptus'
 * LOGLEVEL names: EXTREME and TRACE mean DEBUG, WARNING means WARN, FATAL
 * means ERROR.  0, or -1 with kr_error("InvalidParameterValue").
 */
int kr_log_level_parse(const char *s, enum kr_log_level *out);
const char *kr_log_level_name(enum kr_log_level level);

#define KR_LOG_PRINTF __attribute__((format(printf, 1, 2)))

void kr_log_debug(const char *fmt, ...) KR_LOG_PRINTF;
void kr_log_info(const char *fmt, ...) KR_LOG_PRINTF;
void kr_log_warnx(const char *fmt, ...) KR_LOG_PRINTF;
void kr_log_errorx(const char *fmt, ...) KR_LOG_PRINTF;

/* These two append ": strerror(errno)". */
void kr_log_warn(const char *fmt, ...) KR_LOG_PRINTF;
void kr_log_error(const char *fmt, ...) KR_LOG_PRINTF;

/* Log at ERROR and exit(1); kr_fatal appends strerror(errno). */
_Noreturn void kr_fatal(const char *fmt, ...) KR_LOG_PRINTF;
_Noreturn void kr_fatalx(const char *fmt, ...) KR_LOG_PRINTF;

#endif
