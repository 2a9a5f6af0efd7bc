/*
 * unbundle.c - fuzz the reader of a bundle's image archive
 * (walrus/bundle_decrypt.c): the input is the tar stream inside a bundle
 * (ustar, GNU long names, pax headers, GNU sparse 'S' entries and their
 * extension blocks), after a 4-byte image size.  The harness does what
 * ec2-bundle-image does - gzip, AES-128-CBC - and feeds the result to
 * wl_unbundle_feed()/wl_unbundle_finish() in part-sized pieces, with the
 * manifest's digest set to the stream's SHA-1 so a good stream is
 * accepted whole.  The image handed out must never exceed the manifest's
 * size.
 */
#include <openssl/sha.h>
#include <zlib.h>

#include "bundle.h"
#include "fuzz.h"

#define MAX_IMAGE (8u << 20)

static const unsigned char key[16] = "karri-fuzz-key!!", iv[16] = "karri-fuzz-iv!!!";

struct sink {
	uint64_t size, limit;
};

static int
out(const void *data, size_t len, void *arg)
{
	struct sink *s = arg;

	(void)data;
	s->size += len;
	if (s->size > s->limit)
		abort();	/* more image than the manifest says */
	return 0;
}

FZ_INIT_QUIET

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wl_manifest m;
	struct sink s = { 0, 0 };
	struct wl_unbundle *u;
	z_stream z = { 0 };
	unsigned char *gz, *enc;
	size_t gz_len, enc_len, off = 0;
	int outl = 0, finl = 0, rc = 0;
	EVP_CIPHER_CTX *c;

	if (size < 4)
		return 0;
	memset(&m, 0, sizeof(m));
	m.size = ((uint64_t)data[0] | (uint64_t)data[1] << 8 | (uint64_t)data[2] << 16 |
	    (uint64_t)data[3] << 24) % (MAX_IMAGE + 1);
	s.limit = m.size;
	data += 4, size -= 4;
	SHA1(data, size, m.digest);

	/* gzip, as tar -z / ec2-bundle-image */
	gz_len = compressBound((uLong)size) + 64;
	gz = malloc(gz_len);
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	z.next_in = (unsigned char *)data;
	z.avail_in = (uInt)size;
	z.next_out = gz;
	z.avail_out = (uInt)gz_len;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	gz_len = gz_len - z.avail_out;
	deflateEnd(&z);

	/* AES-128-CBC, PKCS#7 padding, as openssl enc */
	enc = malloc(gz_len + 32);
	c = EVP_CIPHER_CTX_new();
	if (!c || EVP_EncryptInit_ex(c, EVP_aes_128_cbc(), NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(c, enc, &outl, gz, (int)gz_len) != 1 ||
	    EVP_EncryptFinal_ex(c, enc + outl, &finl) != 1)
		abort();
	EVP_CIPHER_CTX_free(c);
	enc_len = (size_t)outl + (size_t)finl;
	free(gz);

	if (!(u = wl_unbundle_new(key, iv, &m, out, &s)))
		abort();
	while (rc == 0 && off < enc_len) {
		size_t k = enc_len - off < 4099 ? enc_len - off : 4099;

		rc = wl_unbundle_feed(u, enc + off, k);
		off += k;
	}
	if (rc == 0 && wl_unbundle_finish(u) == 0 && s.size != m.size)
		abort();	/* accepted, yet not the manifest's size */
	wl_unbundle_free(u);
	free(enc);
	return 0;
}
