/*
 * sig_time.c - the request times a signature covers, parsed strictly:
 * X-Amz-Date (ISO 8601 basic), the EC2 query's Timestamp/Expires (ISO
 * 8601), the Date and x-amz-date headers (HTTP dates) and S3's presigned
 * Expires (seconds since the epoch).
 *
 * HTTP dates are what real clients send with SigV2 and what RFC 7231
 * §7.1.1.1 says a server must accept: IMF-fixdate, the obsolete RFC 850
 * and asctime forms, and, because Python's email.utils.formatdate()
 * (euca2ools) and s3cmd write RFC 5322 dates, a numeric zone in place of
 * GMT.  Being lenient about the form but strict about the content keeps a
 * signed time from meaning two things: every field is range-checked
 * (31 Feb is refused, not normalised to 3 Mar), nothing may follow the
 * zone, and an offset must be one some place on Earth uses (within 14 h).
 */
#define KR_SIG_PRIVATE
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "sig/sig.h"

#define MAX_ZONE_MINUTES (14 * 60)	/* UTC+14 (Kiribati) is the farthest zone */

static const char *const wkday[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
static const char *const weekday[] = {
	"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
};
static const char *const month[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

struct when {
	int y, mo, d, h, mi, s;
	long off;		/* seconds east of UTC */
};

/* Exactly n digits at *p as a number (advancing), or -1. */
static int
fixed_digits(const char **p, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

/* Digits s[0..n) as a number, or -1 (no advancing: the ISO forms index). */
static int
digits(const char *s, int n)
{
	return fixed_digits(&s, n);
}

/* The literal lit at *p (advancing): true, else false and *p unchanged. */
static bool
literal(const char **p, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

/* One of words (case-sensitive, as RFC 7231 says) not followed by a letter: its index. */
static int
word(const char **p, const char *const *words, int n)
{
	for (int i = 0; i < n; i++) {
		size_t len = strlen(words[i]);
		if (strncmp(*p, words[i], len) == 0 && !isalpha((unsigned char)(*p)[len])) {
			*p += len;
			return i;
		}
	}
	return -1;
}

static bool
leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The UTC time of w, with every field in range for its month; -1 otherwise. */
static int
when_time(const struct when *w, time_t *t)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct tm tm = { 0 };
	time_t v;

	if (w->y < 1970 || w->y > 9999 || w->mo < 1 || w->mo > 12 || w->d < 1 ||
	    w->d > mdays[w->mo - 1] + (w->mo == 2 && leap(w->y)) || w->h < 0 || w->h > 23 ||
	    w->mi < 0 || w->mi > 59 || w->s < 0 || w->s > 60)	/* 60: a leap second */
		return -1;
	tm.tm_year = w->y - 1900;
	tm.tm_mon = w->mo - 1;
	tm.tm_mday = w->d;
	tm.tm_hour = w->h;
	tm.tm_min = w->mi;
	tm.tm_sec = w->s;
	if ((v = timegm(&tm)) == (time_t)-1)
		return -1;
	*t = v - w->off;
	return 0;
}

/* "20240301T123456Z": X-Amz-Date. */
int
kr_sig_time_iso_basic(const char *s, time_t *t)
{
	struct when w = { 0 };

	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return -1;
	w.y = digits(s, 4);
	w.mo = digits(s + 4, 2);
	w.d = digits(s + 6, 2);
	w.h = digits(s + 9, 2);
	w.mi = digits(s + 11, 2);
	w.s = digits(s + 13, 2);
	return when_time(&w, t);
}

/* "+HH:MM", "+HHMM", "Z", "" (UTC) and the same with '-', to the end of z. */
static int
iso_zone(const char *z, long *off)
{
	int sign, h, m;

	*off = 0;
	if (*z == '\0' || strcmp(z, "Z") == 0)
		return 0;
	if (z[0] != '+' && z[0] != '-')
		return -1;
	sign = z[0] == '-' ? -1 : 1;
	z++;
	if ((h = fixed_digits(&z, 2)) < 0)
		return -1;
	literal(&z, ":");
	if ((m = fixed_digits(&z, 2)) < 0 || *z != '\0' || m > 59 ||
	    h * 60 + m > MAX_ZONE_MINUTES)
		return -1;
	*off = sign * (h * 3600L + m * 60L);
	return 0;
}

/* "2024-03-01T12:34:56Z", with optional fraction and zone: SigV2 Timestamp. */
int
kr_sig_time_iso(const char *s, time_t *t)
{
	struct when w = { 0 };
	const char *z;

	if (strlen(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':')
		return -1;
	z = s + 19;
	if (*z == '.') {
		z++;
		if (!isdigit((unsigned char)*z))
			return -1;
		while (isdigit((unsigned char)*z))
			z++;
	}
	if (iso_zone(z, &w.off) < 0)
		return -1;
	w.y = digits(s, 4);
	w.mo = digits(s + 5, 2);
	w.d = digits(s + 8, 2);
	w.h = digits(s + 11, 2);
	w.mi = digits(s + 14, 2);
	w.s = digits(s + 17, 2);
	return when_time(&w, t);
}

/* --- HTTP dates ----------------------------------------------------------- */

/* "HH:MM:SS" */
static int
clock_time(const char **p, struct when *w)
{
	if ((w->h = fixed_digits(p, 2)) < 0 || !literal(p, ":") ||
	    (w->mi = fixed_digits(p, 2)) < 0 || !literal(p, ":") ||
	    (w->s = fixed_digits(p, 2)) < 0)
		return -1;
	return 0;
}

/* The zone that ends an IMF-fixdate or RFC 850 date: GMT, UTC, +HHMM, -HHMM. */
static int
http_zone(const char *p, long *off)
{
	int sign, hhmm;

	*off = 0;
	if (strcmp(p, "GMT") == 0 || strcmp(p, "UTC") == 0)
		return 0;
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p++ == '-' ? -1 : 1;	/* "-0000" (RFC 5322: zone unknown) is UTC too */
	if ((hhmm = fixed_digits(&p, 4)) < 0 || *p != '\0' || hhmm % 100 > 59 ||
	    (hhmm / 100) * 60 + hhmm % 100 > MAX_ZONE_MINUTES)
		return -1;
	*off = sign * ((hhmm / 100) * 3600L + (hhmm % 100) * 60L);
	return 0;
}

/*
 * RFC 850's two-digit year: RFC 7231 says a year that looks more than 50
 * years ahead is the most recent past one with those digits.
 */
static int
full_year(int yy)
{
	time_t now = time(NULL);
	struct tm tm;
	int this_year, y;

	gmtime_r(&now, &tm);
	this_year = tm.tm_year + 1900;
	y = this_year - this_year % 100 + yy;
	return y > this_year + 50 ? y - 100 : y;
}

/* After "Sun, ": "06 Nov 1994 08:49:37 GMT" (IMF-fixdate, or a numeric zone). */
static int
imf_fixdate(const char *p, struct when *w)
{
	if ((w->d = fixed_digits(&p, 2)) < 0 || !literal(&p, " ") ||
	    (w->mo = word(&p, month, 12) + 1) < 1 || !literal(&p, " ") ||
	    (w->y = fixed_digits(&p, 4)) < 0 || !literal(&p, " ") ||
	    clock_time(&p, w) < 0 || !literal(&p, " "))
		return -1;
	return http_zone(p, &w->off);
}

/* After "Sunday, ": "06-Nov-94 08:49:37 GMT" (RFC 850). */
static int
rfc850_date(const char *p, struct when *w)
{
	if ((w->d = fixed_digits(&p, 2)) < 0 || !literal(&p, "-") ||
	    (w->mo = word(&p, month, 12) + 1) < 1 || !literal(&p, "-") ||
	    (w->y = fixed_digits(&p, 2)) < 0 || !literal(&p, " ") ||
	    clock_time(&p, w) < 0 || !literal(&p, " "))
		return -1;
	w->y = full_year(w->y);
	return http_zone(p, &w->off);
}

/* After "Sun ": "Nov  6 08:49:37 1994" (asctime: day space-padded, always GMT). */
static int
asctime_date(const char *p, struct when *w)
{
	if ((w->mo = word(&p, month, 12) + 1) < 1 || !literal(&p, " "))
		return -1;
	if (literal(&p, " "))
		w->d = fixed_digits(&p, 1);
	else
		w->d = fixed_digits(&p, 2);
	if (w->d < 0 || !literal(&p, " ") || clock_time(&p, w) < 0 || !literal(&p, " ") ||
	    (w->y = fixed_digits(&p, 4)) < 0 || *p != '\0')
		return -1;
	return 0;
}

/*
 * The day name is checked for form only, not against the date (as Go's
 * net/http and Apache do): the time that counts is the date's, and a
 * signed request's must be within minutes of the server's anyway.
 */
int
kr_sig_time_http(const char *s, time_t *t)
{
	struct when w = { 0 };
	const char *p = s;
	int rc;

	if (word(&p, wkday, 7) >= 0)
		rc = literal(&p, ", ") ? imf_fixdate(p, &w) :
		    literal(&p, " ") ? asctime_date(p, &w) : -1;
	else if (word(&p, weekday, 7) >= 0 && literal(&p, ", "))
		rc = rfc850_date(p, &w);
	else
		rc = -1;
	return rc < 0 ? -1 : when_time(&w, t);
}

/* S3's presigned Expires: decimal seconds since the epoch, digits only. */
int
kr_sig_time_epoch(const char *s, time_t *t)
{
	long long v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 12)	/* 12 digits: year 33658, far past any real expiry */
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*t = (time_t)v;
	return 0;
}
