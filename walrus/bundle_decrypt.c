/*
 * bundle_decrypt.c - an image bundle's bytes back into the image, as a
 * stream: AES-128-CBC decryption, then gunzip (zlib), then a minimal ustar
 * reader that hands on the data of the archive's one regular file.  Memory
 * is zlib's window plus fixed buffers, whatever the image size, so Walrus
 * can unbundle a 100 GiB image as easily as a kernel.
 *
 * The tar reader knows what ec2-ami-tools, euca2ools and karri-bundle
 * write: ustar or GNU headers, sizes in octal or GNU base-256, GNU long
 * names and pax headers (skipped).  GNU sparse entries ('S', from
 * `tar --sparse`) are refused with a clear message rather than guessed at.
 * The SHA-1 of the whole tar stream must equal <image><digest>, the file
 * size <image><size>; the tar stream may not run on far past the file (a
 * bound on what a small upload can make Walrus decompress).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "bundle.h"
#include "error.h"

#define BAD(...) kr_error("InvalidManifest", __VA_ARGS__)
#define CHUNK (64u << 10)
#define TAR_SLACK (64u << 20)	/* tar bytes beyond the image: headers, padding, end */

enum tar_state { T_HEADER, T_SKIP, T_DATA, T_PAD, T_END };

struct wl_unbundle {
	EVP_CIPHER_CTX *cipher;
	z_stream z;
	bool z_ready, z_end;
	EVP_MD_CTX *sha1;
	const struct wl_manifest *m;
	wl_unbundle_out_fn out;
	void *arg;

	enum tar_state ts;
	unsigned char block[512];
	size_t block_len;
	uint64_t skip;			/* bytes left of a skipped entry or padding */
	uint64_t file_left;
	bool file_seen;
	uint64_t tar_bytes;

	unsigned char plain[CHUNK + 32];
	unsigned char inflated[CHUNK];
};

struct wl_unbundle *
wl_unbundle_new(const unsigned char key[16], const unsigned char iv[16],
    const struct wl_manifest *m, wl_unbundle_out_fn out, void *arg)
{
	struct wl_unbundle *u = calloc(1, sizeof(*u));

	if (!u) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	u->m = m;
	u->out = out;
	u->arg = arg;
	u->cipher = EVP_CIPHER_CTX_new();
	u->sha1 = EVP_MD_CTX_new();
	/* 15 + 32: zlib or gzip header, detected. */
	u->z_ready = inflateInit2(&u->z, 15 + 32) == Z_OK;
	if (!u->cipher || !u->sha1 || !u->z_ready ||
	    EVP_DecryptInit_ex(u->cipher, EVP_aes_128_cbc(), NULL, key, iv) != 1 ||
	    EVP_DigestInit_ex(u->sha1, EVP_sha1(), NULL) != 1) {
		kr_error("InternalError", "cannot set up decryption");
		wl_unbundle_free(u);
		return NULL;
	}
	return u;
}

void
wl_unbundle_free(struct wl_unbundle *u)
{
	if (!u)
		return;
	EVP_CIPHER_CTX_free(u->cipher);	/* wipes the key schedule */
	EVP_MD_CTX_free(u->sha1);
	if (u->z_ready)
		inflateEnd(&u->z);
	OPENSSL_cleanse(u, sizeof(*u));
	free(u);
}

/* A tar number field: octal, or GNU base-256 (high bit of the first byte). */
static int
tar_number(const unsigned char *f, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		if (f[0] != 0x80)
			return -1;	/* negative, or too large */
		for (i = 1; i < len; i++) {
			if (v >> 56)
				return -1;
			v = v << 8 | f[i];
		}
		*out = v;
		return 0;
	}
	while (i < len && f[i] == ' ')
		i++;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -1;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	if (i < len && f[i] != ' ' && f[i] != '\0')
		return -1;
	*out = v;
	return 0;
}

static int
tar_header(struct wl_unbundle *u)
{
	const unsigned char *h = u->block;
	uint64_t sum = 0, want, size;
	bool zero = true;

	for (size_t i = 0; i < 512; i++) {
		zero &= h[i] == 0;
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	}
	if (zero) {
		u->ts = T_END;
		return 0;
	}
	if (tar_number(h + 148, 8, &want) < 0 || want != sum) {
		BAD("the image archive has a bad tar header checksum");
		return -1;
	}
	if (tar_number(h + 124, 12, &size) < 0) {
		BAD("the image archive has a bad tar entry size");
		return -1;
	}
	switch (h[156]) {
	case 'L': case 'K': case 'x': case 'g':	/* long names, pax attributes */
		if (size > (1u << 20)) {
			BAD("a tar extension header is too large");
			return -1;
		}
		u->skip = (size + 511) / 512 * 512;
		u->ts = u->skip ? T_SKIP : T_HEADER;
		return 0;
	case '0': case '\0': case '7':
		break;
	case 'S':
		BAD("the image archive uses GNU sparse entries (tar --sparse); not supported");
		return -1;
	default:
		BAD("the image archive holds something other than one regular file (type '%c')",
		    h[156] >= 32 && h[156] < 127 ? h[156] : '?');
		return -1;
	}
	if (u->file_seen) {
		BAD("the image archive holds more than one file");
		return -1;
	}
	if (size != u->m->size) {
		BAD("the image in the archive has %llu bytes, the manifest says %llu",
		    (unsigned long long)size, (unsigned long long)u->m->size);
		return -1;
	}
	u->file_seen = true;
	u->file_left = size;
	u->skip = (512 - size % 512) % 512;
	u->ts = size ? T_DATA : (u->skip ? T_PAD : T_HEADER);
	return 0;
}

static int
tar_feed(struct wl_unbundle *u, const unsigned char *p, size_t len)
{
	u->tar_bytes += len;
	if (u->tar_bytes > u->m->size + TAR_SLACK) {
		BAD("the image archive runs on past the image");
		return -1;
	}
	while (len > 0) {
		size_t n;

		switch (u->ts) {
		case T_HEADER:
			n = 512 - u->block_len < len ? 512 - u->block_len : len;
			memcpy(u->block + u->block_len, p, n);
			u->block_len += n;
			if (u->block_len == 512) {
				u->block_len = 0;
				if (tar_header(u) < 0)
					return -1;
			}
			break;
		case T_SKIP:
		case T_PAD:
			n = u->skip < len ? (size_t)u->skip : len;
			u->skip -= n;
			if (u->skip == 0)
				u->ts = T_HEADER;
			break;
		case T_DATA:
			n = u->file_left < len ? (size_t)u->file_left : len;
			if (u->out(p, n, u->arg) < 0)
				return -1;
			u->file_left -= n;
			if (u->file_left == 0)
				u->ts = u->skip ? T_PAD : T_HEADER;
			break;
		case T_END:
		default:
			return 0;	/* end blocks and tar's padding to its record size */
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* Gunzip what was decrypted. */
static int
inflate_feed(struct wl_unbundle *u, const unsigned char *p, size_t len, bool last)
{
	u->z.next_in = (unsigned char *)p;
	u->z.avail_in = (uInt)len;
	while (u->z.avail_in > 0 || last) {
		int r;
		size_t got;

		if (u->z_end) {
			if (u->z.avail_in > 0) {
				BAD("data after the end of the gzip stream");
				return -1;
			}
			return 0;
		}
		u->z.next_out = u->inflated;
		u->z.avail_out = sizeof(u->inflated);
		r = inflate(&u->z, Z_NO_FLUSH);
		if (r != Z_OK && r != Z_STREAM_END && !(r == Z_BUF_ERROR && last)) {
			BAD("the decrypted image is not gzip data (wrong key, or a damaged part)");
			return -1;
		}
		got = sizeof(u->inflated) - u->z.avail_out;
		if (got && (EVP_DigestUpdate(u->sha1, u->inflated, got) != 1 ||
		    tar_feed(u, u->inflated, got) < 0))
			return -1;
		if (r == Z_STREAM_END)
			u->z_end = true;
		else if (last && got == 0 && u->z.avail_in == 0) {
			BAD("the gzip stream of the image is truncated");
			return -1;
		}
	}
	return 0;
}

int
wl_unbundle_feed(struct wl_unbundle *u, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		size_t n = len < CHUNK ? len : CHUNK;
		int outl = 0;

		if (EVP_DecryptUpdate(u->cipher, u->plain, &outl, p, (int)n) != 1) {
			BAD("decryption failed");
			return -1;
		}
		if (outl > 0 && inflate_feed(u, u->plain, (size_t)outl, false) < 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

int
wl_unbundle_finish(struct wl_unbundle *u)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int outl = 0;

	if (EVP_DecryptFinal_ex(u->cipher, u->plain, &outl) != 1) {
		BAD("the last block does not decrypt (bad padding: wrong key or a damaged part)");
		return -1;
	}
	if (inflate_feed(u, u->plain, (size_t)outl, true) < 0)
		return -1;
	if (!u->file_seen || u->file_left > 0) {
		BAD("the image archive ends before the image does");
		return -1;
	}
	if (EVP_DigestFinal_ex(u->sha1, md, &mdlen) != 1 || mdlen != 20 ||
	    memcmp(md, u->m->digest, 20) != 0) {
		BAD("the image's SHA-1 digest does not match <image><digest>");
		return -1;
	}
	return 0;
}
