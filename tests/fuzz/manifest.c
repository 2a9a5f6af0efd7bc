/*
 * manifest.c - fuzz the bundle manifest reader (walrus/bundle_manifest.c):
 * wl_manifest_parse() as Walrus runs it on a manifest.xml fetched from a
 * bucket, then wl_manifest_verify() against the certificate of the key the
 * seeds were signed with (tests/fuzz/data), and wl_manifest_keys() with the
 * cloud key, as image.c does before it decrypts.
 */
#include <openssl/pem.h>

#include "bundle.h"
#include "fuzz.h"

static char *cert;
static size_t cert_len;
static EVP_PKEY *cloud_key;

static char *
slurp(const char *name, size_t *len)
{
	char path[1024];
	const char *dir = getenv("KARRI_FUZZ_DATA");
	FILE *f;
	char *s;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/fuzz/data", name);
	if (!(f = fopen(path, "rb")) || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) < 0 || !(s = malloc((size_t)n + 1)) ||
	    fread(s, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "manifest: cannot read %s (set KARRI_FUZZ_DATA)\n", path);
		exit(1);
	}
	fclose(f);
	s[n] = '\0';
	*len = (size_t)n;
	return s;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t klen;
	char *key;
	BIO *bio;

	(void)argc, (void)argv;
	fz_quiet();
	cert = slurp("bundle-cert.pem", &cert_len);
	key = slurp("cloud-key.pem", &klen);
	bio = BIO_new_mem_buf(key, (int)klen);
	cloud_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	free(key);
	if (!cloud_key)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wl_manifest m;
	unsigned char key[16], iv[16];

	memset(&m, 0, sizeof(m));
	if (wl_manifest_parse((const char *)data, size, &m) == 0) {
		if (m.signed_len > size)
			abort();
		(void)wl_image_kind_name(m.kind);
		if (wl_manifest_verify(&m, cert, cert_len) == 0)
			(void)wl_manifest_keys(&m, cloud_key, key, iv);
	}
	wl_manifest_free(&m);
	return 0;
}
