/*
 * aws_chunked.c - decoding an aws-chunked body (SigV4 streaming upload,
 * x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD) on its way to
 * disk.
 *
 * The wire body is a run of
 *
 *     <hex size>;chunk-signature=<64 hex>\r\n <size bytes> \r\n
 *
 * ending with a chunk of size 0 (and its \r\n) and nothing after.  Each
 * chunk's signature chains from the previous one (common/sig/sigv4_chunk.c).
 * The decoder is a byte-driven state machine: it keeps at most one header
 * line (4 KiB) and passes data through without copying, hashing it for the
 * chunk signature.  Data reaches the temporary file before its chunk's
 * signature is checked - a chunk may be 5 GiB - which is safe because
 * nothing is committed until the last chunk verified and the decoded size
 * equals x-amz-decoded-content-length; any failure answers and the upload
 * is discarded with its temporary file.
 *
 * As S3 does, a chunk smaller than 8 KiB must be the last one with data:
 * that keeps the per-chunk cost (a header line and an HMAC) small against
 * the data it carries.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/error.h"
#include "walrus.h"

#define LINE_MAX_BYTES 4096		/* a chunk header line, without its CRLF */
#define MIN_CHUNK 8192			/* every chunk but the last with data */
#define SIG_PREFIX ";chunk-signature="

enum state {
	ST_LINE,	/* reading a chunk header line */
	ST_DATA,	/* `left` bytes of chunk data to go */
	ST_DATA_CR,	/* the CRLF after chunk data */
	ST_DATA_LF,
	ST_LAST_CR,	/* the CRLF after the final (empty) chunk's line */
	ST_LAST_LF,
	ST_DONE,
};

struct wl_chunked {
	struct kr_sig_chunk chain;
	EVP_MD_CTX *sha;
	enum state st;
	char line[LINE_MAX_BYTES + 2];
	size_t line_len;
	char sig[65];			/* the current chunk's claimed signature */
	uint64_t left;			/* bytes left in the current chunk */
	uint64_t decoded;		/* data bytes so far */
	uint64_t declared;		/* x-amz-decoded-content-length */
	bool small_seen;		/* a chunk under MIN_CHUNK went by */
};

static int
framing(struct wl_req *rq, const char *why)
{
	wl_error(rq, 400, "InvalidRequest", "malformed aws-chunked body: %s", why);
	return -1;
}

struct wl_chunked *
wl_chunked_new(struct wl_req *rq, uint64_t declared)
{
	struct wl_chunked *d = calloc(1, sizeof(*d));

	if (!d || !(d->sha = EVP_MD_CTX_new()) ||
	    !EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL)) {
		wl_chunked_free(d);
		wl_error(rq, 503, "SlowDown", "out of memory");
		return NULL;
	}
	if (kr_sig_v4_chunk_init(&d->chain, &rq->sig, kr_userdb_secret, rq->w->users) < 0) {
		wl_chunked_free(d);
		wl_error(rq, 403, "SignatureDoesNotMatch", "%s", kr_error_message());
		return NULL;
	}
	d->declared = declared;
	return d;
}

void
wl_chunked_free(struct wl_chunked *d)
{
	if (!d)
		return;
	kr_sig_v4_chunk_wipe(&d->chain);
	EVP_MD_CTX_free(d->sha);
	free(d);
}

/* The current chunk's data is all in: check its signature, start the next hash. */
static int
chunk_verify(struct wl_req *rq, struct wl_chunked *d)
{
	unsigned char md[32];
	unsigned n = 0;

	if (!EVP_DigestFinal_ex(d->sha, md, &n) || !EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL)) {
		wl_error(rq, 500, "InternalError", "SHA-256 failed");
		return -1;
	}
	if (kr_sig_v4_chunk_verify(&d->chain, md, d->sig) < 0) {
		wl_error(rq, 403, "SignatureDoesNotMatch", "The chunk signature we calculated "
		    "does not match the signature you provided.");
		return -1;
	}
	return 0;
}

/* "<hex size>;chunk-signature=<64 lower-case hex>", NUL-terminated. */
static int
parse_line(struct wl_req *rq, struct wl_chunked *d)
{
	size_t digits = strspn(d->line, "0123456789abcdefABCDEF");
	const char *p = d->line + digits, *sig;
	uint64_t size;

	if (digits > 16)
		return framing(rq, "chunk size too long");
	if (digits == 0 || strncmp(p, SIG_PREFIX, strlen(SIG_PREFIX)) != 0)
		return framing(rq, "expected <hex size>;chunk-signature=<signature>");
	size = strtoull(d->line, NULL, 16);	/* 16 hex digits cannot overflow */
	sig = p + strlen(SIG_PREFIX);
	if (strlen(sig) != 64 || strspn(sig, "0123456789abcdef") != 64)
		return framing(rq, "a chunk signature is 64 lower-case hex digits");
	memcpy(d->sig, sig, 65);
	if (size > d->declared - d->decoded) {
		wl_error(rq, 400, "IncompleteBody", "The aws-chunked body carries more than "
		    "x-amz-decoded-content-length (%llu) bytes.", (unsigned long long)d->declared);
		return -1;
	}
	if (size && d->small_seen) {
		wl_error(rq, 400, "InvalidChunkSizeError", "Only the last chunk is allowed to "
		    "have a size less than %d bytes", MIN_CHUNK);
		return -1;
	}
	if (size < MIN_CHUNK)
		d->small_seen = true;
	d->left = size;
	if (size) {
		d->st = ST_DATA;
		return 0;
	}
	/* The final chunk: empty data, so its hash is SHA-256(""). */
	if (d->decoded != d->declared) {
		wl_error(rq, 400, "IncompleteBody", "The aws-chunked body ended after %llu of "
		    "x-amz-decoded-content-length %llu bytes.", (unsigned long long)d->decoded,
		    (unsigned long long)d->declared);
		return -1;
	}
	d->st = ST_LAST_CR;
	return chunk_verify(rq, d);
}

/* One header-line byte; 0 or -1 having answered. */
static int
line_byte(struct wl_req *rq, struct wl_chunked *d, char c)
{
	if (c == '\n') {
		if (d->line_len == 0 || d->line[d->line_len - 1] != '\r')
			return framing(rq, "chunk header lines end with CRLF");
		d->line[d->line_len - 1] = '\0';
		d->line_len = 0;
		return parse_line(rq, d);
	}
	if (d->line_len > LINE_MAX_BYTES)
		return framing(rq, "chunk header line longer than 4 KiB");
	d->line[d->line_len++] = c;
	return 0;
}

/* A byte of framing outside the data; 0 or -1 having answered. */
static int
frame_byte(struct wl_req *rq, struct wl_chunked *d, char c)
{
	switch (d->st) {
	case ST_LINE:
		return line_byte(rq, d, c);
	case ST_DATA_CR:
	case ST_LAST_CR:
		if (c != '\r')
			return framing(rq, "chunk data must be followed by CRLF");
		d->st = d->st == ST_DATA_CR ? ST_DATA_LF : ST_LAST_LF;
		return 0;
	case ST_DATA_LF:
	case ST_LAST_LF:
		if (c != '\n')
			return framing(rq, "chunk data must be followed by CRLF");
		d->st = d->st == ST_DATA_LF ? ST_LINE : ST_DONE;
		return 0;
	case ST_DATA:
	case ST_DONE:
	default:
		return framing(rq, "data after the final chunk");
	}
}

int
wl_chunked_feed(struct wl_req *rq, struct wl_chunked *d, const void *data, size_t len,
    wl_chunked_out_fn out)
{
	const char *p = data, *end = p + len;

	while (p < end) {
		if (d->st == ST_DATA) {
			size_t n = (size_t)(end - p) < d->left ? (size_t)(end - p) : (size_t)d->left;

			EVP_DigestUpdate(d->sha, p, n);
			if (out(rq, p, n) < 0)
				return -1;
			p += n;
			d->left -= n;
			d->decoded += n;
			if (d->left == 0) {
				d->st = ST_DATA_CR;
				if (chunk_verify(rq, d) < 0)
					return -1;
			}
			continue;
		}
		if (frame_byte(rq, d, *p++) < 0)
			return -1;
	}
	return 0;
}

int
wl_chunked_end(struct wl_req *rq, struct wl_chunked *d)
{
	kr_sig_v4_chunk_wipe(&d->chain);	/* the chain is over either way */
	if (d->st == ST_DONE)
		return 0;
	wl_error(rq, 400, "IncompleteBody", "The aws-chunked body ended before its final "
	    "chunk (%llu of %llu bytes).", (unsigned long long)d->decoded,
	    (unsigned long long)d->declared);
	return -1;
}
