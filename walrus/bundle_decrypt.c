/*
 * bundle_decrypt.c - an image bundle's bytes back into the image, as a
 * stream: AES-128-CBC decryption, then gunzip (zlib), then a minimal ustar
 * reader that hands on the data of the archive's one regular file.  Memory
 * is zlib's window plus fixed buffers, whatever the image size, so Walrus
 * can unbundle a 100 GiB image as easily as a kernel.
 *
 * The tar reader knows what ec2-ami-tools, euca2ools and karri-bundle
 * write: ustar or GNU headers, sizes in octal or GNU base-256, GNU long
 * names and pax headers (skipped), and GNU sparse files ('S' entries, the
 * format GNU tar writes for `tar --sparse`, which ec2-ami-tools runs on
 * what are usually sparse disk images): the map of data regions (header
 * and extension blocks, at most SPARSE_MAX regions) is read first, then
 * the stored regions are handed on with the holes between them as zeros.
 * The SHA-1 of the whole tar stream must equal <image><digest>, the file
 * size <image><size>; the tar stream may not run on far past the file (a
 * bound on what a small upload can make Walrus decompress).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <openssl/crypto.h>

#include "bundle.h"
#include "core/error.h"

#define BAD(...) kr_error("InvalidManifest", __VA_ARGS__)
#define CHUNK (64u << 10)
#define TAR_SLACK (64u << 20)	/* tar bytes beyond the image: headers, padding, end */
#define SPARSE_MAX (64u << 10)	/* data regions of a sparse file (16 bytes each) */

enum tar_state { T_HEADER, T_SPARSE_EXT, T_SKIP, T_DATA, T_PAD, T_END };

struct sparse_region {
	uint64_t off, len;
};

static const unsigned char zeros[CHUNK];

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
	uint64_t file_left;		/* bytes of the entry still in the archive */
	bool file_seen;
	uint64_t tar_bytes;

	/* A sparse entry: its regions, the one being read, the bytes handed on. */
	struct sparse_region *sp;
	size_t sp_n, sp_cap, sp_i;
	uint64_t sp_stored;		/* the entry's size field: the regions' bytes */
	uint64_t out_pos;
	bool sparse;

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
	free(u->sp);
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

/* Regions from n 24-byte (offset, length) fields; an empty offset ends them. */
static int
sparse_regions(struct wl_unbundle *u, const unsigned char *f, size_t n)
{
	for (size_t i = 0; i < n; i++, f += 24) {
		struct sparse_region r;

		if (f[0] == '\0')
			return 0;
		if (tar_number(f, 12, &r.off) < 0 || tar_number(f + 12, 12, &r.len) < 0) {
			BAD("the image archive has a bad sparse map");
			return -1;
		}
		if (u->sp_n == u->sp_cap) {
			size_t cap = u->sp_cap ? 2 * u->sp_cap : 64;
			struct sparse_region *sp;

			if (u->sp_n >= SPARSE_MAX) {
				BAD("the sparse image has more than %u data regions", SPARSE_MAX);
				return -1;
			}
			if (!(sp = realloc(u->sp, cap * sizeof(*sp)))) {
				kr_error("InternalError", "out of memory");
				return -1;
			}
			u->sp = sp;
			u->sp_cap = cap;
		}
		u->sp[u->sp_n++] = r;
	}
	return 0;
}

/* The whole map is read: check it and start on the data. */
static int
sparse_map_done(struct wl_unbundle *u)
{
	uint64_t end = 0, stored = 0;

	for (size_t i = 0; i < u->sp_n; i++) {
		const struct sparse_region *r = &u->sp[i];

		if (r->off < end || r->len > u->m->size || r->off > u->m->size - r->len) {
			BAD("the sparse map of the image is out of order or past its end");
			return -1;
		}
		end = r->off + r->len;
		stored += r->len;
	}
	if (stored != u->sp_stored) {
		BAD("the sparse map of the image does not add up to its stored size");
		return -1;
	}
	u->file_left = stored;
	u->skip = (512 - stored % 512) % 512;
	u->ts = stored ? T_DATA : (u->skip ? T_PAD : T_HEADER);
	return 0;
}

/* An 'S' header (GNU old sparse format): 4 regions, realsize, more to come? */
static int
sparse_header(struct wl_unbundle *u, uint64_t stored)
{
	const unsigned char *h = u->block;
	uint64_t real;

	if (tar_number(h + 483, 12, &real) < 0 || real != u->m->size) {
		BAD("the sparse image in the archive is not the manifest's size");
		return -1;
	}
	u->file_seen = true;
	u->sparse = true;
	u->sp_stored = stored;
	if (sparse_regions(u, h + 386, 4) < 0)
		return -1;
	if (h[482]) {
		u->ts = T_SPARSE_EXT;
		return 0;
	}
	return sparse_map_done(u);
}

/* A sparse extension block: 21 regions, then whether another block follows. */
static int
sparse_ext(struct wl_unbundle *u)
{
	if (sparse_regions(u, u->block, 21) < 0)
		return -1;
	return u->block[504] ? 0 : sparse_map_done(u);
}

/* Zeros up to offset `to` of the image (a hole of a sparse file). */
static int
out_zeros(struct wl_unbundle *u, uint64_t to)
{
	while (u->out_pos < to) {
		size_t n = to - u->out_pos < sizeof(zeros) ? (size_t)(to - u->out_pos) : sizeof(zeros);

		if (u->out(zeros, n, u->arg) < 0)
			return -1;
		u->out_pos += n;
	}
	return 0;
}

/* Entry data out: as is, or placed by the sparse map; bytes taken, or -1. */
static ssize_t
data_out(struct wl_unbundle *u, const unsigned char *p, size_t len)
{
	const struct sparse_region *r;
	size_t n;

	if (!u->sparse)
		return u->out(p, len, u->arg) < 0 ? -1 : (ssize_t)len;
	/* Past the regions handed on, and empty ones (they only mark the end). */
	while (u->sp_i < u->sp_n && (u->sp[u->sp_i].len == 0 ||
	    u->out_pos >= u->sp[u->sp_i].off + u->sp[u->sp_i].len))
		u->sp_i++;
	if (u->sp_i == u->sp_n) {	/* cannot be: the regions add up to the entry */
		BAD("the sparse map of the image does not add up to its stored size");
		return -1;
	}
	r = &u->sp[u->sp_i];
	if (out_zeros(u, r->off) < 0)
		return -1;
	n = r->off + r->len - u->out_pos < len ? (size_t)(r->off + r->len - u->out_pos) : len;
	if (u->out(p, n, u->arg) < 0)
		return -1;
	u->out_pos += n;
	return (ssize_t)n;
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
		break;
	default:
		BAD("the image archive holds something other than one regular file (type '%c')",
		    h[156] >= 32 && h[156] < 127 ? h[156] : '?');
		return -1;
	}
	if (u->file_seen) {
		BAD("the image archive holds more than one file");
		return -1;
	}
	if (h[156] == 'S')
		return sparse_header(u, size);
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
		case T_SPARSE_EXT:
			n = 512 - u->block_len < len ? 512 - u->block_len : len;
			memcpy(u->block + u->block_len, p, n);
			u->block_len += n;
			if (u->block_len == 512) {
				u->block_len = 0;
				if ((u->ts == T_HEADER ? tar_header(u) : sparse_ext(u)) < 0)
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
		case T_DATA: {
			ssize_t taken = data_out(u, p, u->file_left < len ? (size_t)u->file_left : len);

			if (taken < 0)
				return -1;
			n = (size_t)taken;
			u->file_left -= n;
			if (u->file_left == 0)
				u->ts = u->skip ? T_PAD : T_HEADER;
			break;
		}
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
	if (!u->file_seen || u->file_left > 0 || u->ts == T_SPARSE_EXT) {
		BAD("the image archive ends before the image does");
		return -1;
	}
	if (u->sparse && out_zeros(u, u->m->size) < 0)	/* a hole at the end */
		return -1;
	if (EVP_DigestFinal_ex(u->sha1, md, &mdlen) != 1 || mdlen != 20 ||
	    memcmp(md, u->m->digest, 20) != 0) {
		BAD("the image's SHA-1 digest does not match <image><digest>");
		return -1;
	}
	return 0;
}
