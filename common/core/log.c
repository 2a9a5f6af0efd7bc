/*
 * log.c - the logger: one mutex, one write() per line, size-based rotation.
 *
 * The whole line is formatted and written under the mutex.  That costs a
 * little concurrency but makes the ident/file switch in kr_log_open() and
 * the rotation trivially race-free, and a daemon that logs so much that this
 * mutex matters has a different problem.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"

#define LOG_LINE_MAX 4096	/* longer messages are cut and end in "..." */

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int log_level = KR_LOG_INFO;
static char log_ident[64] = "karri";
static int log_fd = STDERR_FILENO;
static char *log_path;		/* NULL while logging to stderr */
static long log_max_bytes;
static int log_keep;
static long long log_size;	/* bytes in the current file */

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

static int
open_file(const char *path, long long *size)
{
	struct stat st;
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0) {
		kr_error_errno("InternalError", "cannot open log file %s", path);
		return -1;
	}
	*size = fstat(fd, &st) == 0 ? (long long)st.st_size : 0;
	return fd;
}

int
kr_log_open(const char *ident, const char *path, enum kr_log_level level,
    long max_bytes, int keep)
{
	char *newpath = NULL;
	long long size = 0;
	int fd = STDERR_FILENO;

	if (path && strcmp(path, "-") != 0) {
		/* Daemons chdir("/"): a relative path would land somewhere surprising. */
		if (path[0] != '/') {
			kr_error("InvalidConfiguration", "log file %s: must be an absolute path", path);
			return -1;
		}
		if (!(newpath = strdup(path))) {
			kr_error("InternalError", "out of memory");
			return -1;
		}
		if ((fd = open_file(path, &size)) < 0) {
			free(newpath);
			return -1;
		}
	}
	pthread_mutex_lock(&log_mutex);
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	free(log_path);
	log_fd = fd;
	log_path = newpath;
	log_size = size;
	log_max_bytes = max_bytes > 0 ? max_bytes : 0;
	log_keep = keep > 0 ? keep : 0;
	if (ident)
		snprintf(log_ident, sizeof(log_ident), "%s", ident);
	pthread_mutex_unlock(&log_mutex);
	kr_log_set_level(level);
	return 0;
}

int
kr_log_reopen(void)
{
	long long size;
	int fd, rc = 0;

	pthread_mutex_lock(&log_mutex);
	if (log_path) {
		if ((fd = open_file(log_path, &size)) < 0) {
			rc = -1;
		} else {
			close(log_fd);
			log_fd = fd;
			log_size = size;
		}
	}
	pthread_mutex_unlock(&log_mutex);
	return rc;
}

void
kr_log_close(void)
{
	pthread_mutex_lock(&log_mutex);
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = STDERR_FILENO;
	free(log_path);
	log_path = NULL;
	pthread_mutex_unlock(&log_mutex);
}

bool
kr_log_is_stderr(void)
{
	bool to_stderr;

	pthread_mutex_lock(&log_mutex);
	to_stderr = log_fd == STDERR_FILENO;
	pthread_mutex_unlock(&log_mutex);
	return to_stderr;
}

void
kr_log_set_level(enum kr_log_level level)
{
	if (level < KR_LOG_DEBUG || level > KR_LOG_ERROR)
		level = KR_LOG_INFO;
	atomic_store(&log_level, (int)level);
}

enum kr_log_level
kr_log_get_level(void)
{
	return (enum kr_log_level)atomic_load(&log_level);
}

const char *
kr_log_level_name(enum kr_log_level level)
{
	if (level < KR_LOG_DEBUG || level > KR_LOG_ERROR)
		return "?";
	return level_names[level];
}

int
kr_log_level_parse(const char *s, enum kr_log_level *out)
{
	static const struct { const char *name; enum kr_log_level level; } names[] = {
		{ "DEBUG", KR_LOG_DEBUG }, { "INFO", KR_LOG_INFO },
		{ "WARN", KR_LOG_WARN }, { "ERROR", KR_LOG_ERROR },
		/* Eucalyptus' LOGLEVEL values. */
		{ "EXTREME", KR_LOG_DEBUG }, { "TRACE", KR_LOG_DEBUG },
		{ "WARNING", KR_LOG_WARN }, { "FATAL", KR_LOG_ERROR },
	};
	size_t i;

	for (i = 0; s && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	kr_error("InvalidParameterValue", "unknown log level \"%s\" (DEBUG, INFO, WARN, ERROR)",
	    s ? s : "");
	return -1;
}

/*
 * Called with the mutex held after the current file passed log_max_bytes:
 * shift path.N-1 -> path.N ... path -> path.1 and start a new file.  On a
 * failure we keep writing to the old descriptor (losing no lines) and try
 * again after another log_max_bytes.
 */
static void
rotate_locked(void)
{
	char from[PATH_MAX + 16], to[PATH_MAX + 16];
	long long size;
	int i, fd;

	for (i = log_keep - 1; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%d", log_path, i);
		snprintf(to, sizeof(to), "%s.%d", log_path, i + 1);
		if (rename(from, to) < 0 && errno != ENOENT)
			dprintf(STDERR_FILENO, "log rotation: rename %s: %s\n", from, strerror(errno));
	}
	if (log_keep > 0) {
		snprintf(to, sizeof(to), "%s.1", log_path);
		if (rename(log_path, to) < 0)
			dprintf(STDERR_FILENO, "log rotation: rename %s: %s\n", log_path, strerror(errno));
	} else if (unlink(log_path) < 0) {
		dprintf(STDERR_FILENO, "log rotation: unlink %s: %s\n", log_path, strerror(errno));
	}
	log_size = 0;
	if ((fd = open_file(log_path, &size)) < 0) {
		dprintf(STDERR_FILENO, "log rotation: %s\n", kr_error_message());
		return;
	}
	close(log_fd);
	log_fd = fd;
	log_size = size;
}

static void
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;		/* nowhere left to report it */
		p += n;
		len -= (size_t)n;
	}
}

/* Account for an snprintf() of n chars at line+*len; false when it was cut. */
static bool
advance(size_t *len, int n, size_t room)
{
	if (n < 0)
		return true;
	if ((size_t)n >= room - *len) {
		*len = room - 1;
		return false;
	}
	*len += (size_t)n;
	return true;
}

/* Format one line into `line` (LOG_LINE_MAX bytes); returns its length. */
__attribute__((format(printf, 4, 0)))
static size_t
format_line(char *line, enum kr_log_level level, const char *suffix, const char *fmt,
    va_list ap)
{
	size_t len, msg, i, room = LOG_LINE_MAX - 1;	/* keep a byte for the '\n' */
	struct timespec ts;
	struct tm tm;
	bool whole;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	len = strftime(line, room, "%Y-%m-%d %H:%M:%S", &tm);
	advance(&len, snprintf(line + len, room - len, ".%03ld %-5s %s[%ld]: ",
	    ts.tv_nsec / 1000000L, level_names[level], log_ident, (long)getpid()), room);
	msg = len;
	whole = advance(&len, vsnprintf(line + len, room - len, fmt, ap), room);
	if (whole && suffix)
		whole = advance(&len, snprintf(line + len, room - len, ": %s", suffix), room);
	if (!whole)
		memcpy(line + len - 3, "...", 3);
	for (i = msg; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = line[i] == '\t' ? ' ' : '?';
	line[len++] = '\n';
	return len;
}

__attribute__((format(printf, 3, 0)))
static void
emit(enum kr_log_level level, bool with_errno, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX], reason[256];
	const char *suffix = NULL;
	int saved = errno;
	size_t len;

	if ((int)level < atomic_load(&log_level))
		return;
	if (with_errno)
		suffix = strerror_r(saved, reason, sizeof(reason));
	pthread_mutex_lock(&log_mutex);
	len = format_line(line, level, suffix, fmt, ap);
	write_all(log_fd, line, len);
	log_size += (long long)len;
	if (log_path && log_max_bytes > 0 && log_size >= log_max_bytes)
		rotate_locked();
	pthread_mutex_unlock(&log_mutex);
	errno = saved;
}

#define LOG_FUNC(name, level, with_errno)		\
	void						\
	name(const char *fmt, ...)			\
	{						\
		va_list ap;				\
		va_start(ap, fmt);			\
		emit(level, with_errno, fmt, ap);	\
		va_end(ap);				\
	}

LOG_FUNC(kr_log_debug, KR_LOG_DEBUG, false)
LOG_FUNC(kr_log_info, KR_LOG_INFO, false)
LOG_FUNC(kr_log_warnx, KR_LOG_WARN, false)
LOG_FUNC(kr_log_errorx, KR_LOG_ERROR, false)
LOG_FUNC(kr_log_warn, KR_LOG_WARN, true)
LOG_FUNC(kr_log_error, KR_LOG_ERROR, true)

_Noreturn void
kr_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(KR_LOG_ERROR, true, fmt, ap);
	va_end(ap);
	exit(1);
}

_Noreturn void
kr_fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(KR_LOG_ERROR, false, fmt, ap);
	va_end(ap);
	exit(1);
}
