/*
 * sig_time.c - fuzz the request-date parsers of common/sig/sig_time.c: HTTP
 * dates (Date, x-amz-date of S3 V2, IMF-fixdate / RFC 850 / asctime with
 * numeric zones), epoch Expires, ISO 8601 (SigV2 Timestamp) and the SigV4
 * basic form (X-Amz-Date).
 */
#define KR_SIG_PRIVATE
#include "fuzz.h"
#include "sig/sig.h"

FZ_INIT_QUIET

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	time_t t;

	memcpy(s, data, size);
	s[size] = '\0';
	(void)kr_sig_time_http(s, &t);
	(void)kr_sig_time_epoch(s, &t);
	(void)kr_sig_time_iso(s, &t);
	(void)kr_sig_time_iso_basic(s, &t);
	free(s);
	return 0;
}
