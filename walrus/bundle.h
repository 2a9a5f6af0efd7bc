/*
 * bundle.h - image bundles as euca2ools and ec2-ami-tools make them.
 *
 * A bundle is a manifest (XML) plus parts.  The image is put in a tar
 * archive (one regular file), gzipped, encrypted with AES-128-CBC under a
 * random key and IV, and cut into parts (10 MiB by default).  The key and
 * IV - as 32-character hex TEXT, which is what ec2-ami-tools hands to
 * `openssl enc -K -iv` - are RSA-encrypted (PKCS#1 v1.5) to the cloud's
 * certificate and to the user's.  <image><digest> is the SHA-1 of the tar
 * stream, each part has its own SHA-1, and <signature> is RSA-SHA1 by the
 * user's key over the raw text of <machine_configuration>...</...> followed
 * by <image>...</image>, exactly as they appear in the file (ec2-ami-tools
 * signs the serialized elements, and Eucalyptus checks the same substrings).
 *
 * This code is shared by karri-walrus (parse, verify, decrypt) and the
 * karri-bundle tool (write); it touches no daemon state.
 */
#ifndef KARRI_WALRUS_BUNDLE_H
#define KARRI_WALRUS_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <zlib.h>

#define WL_BUNDLE_MAX_MANIFEST (4u << 20)	/* bytes of manifest.xml */
#define WL_BUNDLE_MAX_PARTS 10000
#define WL_BUNDLE_MAX_NAME 128			/* image and part file names */
#define WL_BUNDLE_MAX_IMAGE (1ull << 40)	/* 1 TiB: a sanity bound, not a quota */
#define WL_BUNDLE_MAX_RSA 1024			/* bytes of an RSA ciphertext (8192-bit keys) */
#define WL_BUNDLE_PART_SIZE (10u << 20)		/* as ec2-bundle-image */

enum wl_image_kind { WL_IMAGE_MACHINE, WL_IMAGE_KERNEL, WL_IMAGE_RAMDISK };

struct wl_bundle_part {
	char filename[WL_BUNDLE_MAX_NAME + 1];
	unsigned char sha1[20];
};

struct wl_manifest {
	char name[WL_BUNDLE_MAX_NAME + 1];
	char user[64];
	char arch[32];
	char kernel_id[32];		/* "" when none */
	char ramdisk_id[32];
	enum wl_image_kind kind;
	uint64_t size;			/* of the image */
	uint64_t bundled_size;		/* of all the parts */
	unsigned char digest[20];	/* SHA-1 of the tar stream */
	unsigned char ec2_key[WL_BUNDLE_MAX_RSA], ec2_iv[WL_BUNDLE_MAX_RSA];
	size_t ec2_key_len, ec2_iv_len;
	unsigned char signature[WL_BUNDLE_MAX_RSA];
	size_t signature_len;
	char *signed_text;		/* the raw machine_configuration + image text */
	size_t signed_len;
	struct wl_bundle_part *parts;
	size_t n_parts;
};

/* bundle_manifest.c */
/*
 * Parse an untrusted manifest; -1 with kr_error("InvalidManifest", what is
 * wrong).  DTDs, comments, CDATA and processing instructions are refused:
 * the signature covers raw substrings, which must be the elements parsed.
 */
int wl_manifest_parse(const char *xml, size_t len, struct wl_manifest *m);
void wl_manifest_free(struct wl_manifest *m);	/* NULL-safe, leaves it zeroed */
const char *wl_image_kind_name(enum wl_image_kind k);
/* RSA-SHA1 signature against a PEM certificate: 0, or -1 + kr_error("InvalidManifest"). */
int wl_manifest_verify(const struct wl_manifest *m, const char *cert_pem, size_t cert_len);
/* The AES key and IV with the cloud's private key: 0, or -1 + kr_error("InvalidManifest"). */
int wl_manifest_keys(const struct wl_manifest *m, EVP_PKEY *cloud_key, unsigned char key[16],
    unsigned char iv[16]);
bool wl_bundle_name_valid(const char *s);

/* bundle_crypto.c: helpers both sides need */
void wl_hex(const unsigned char *in, size_t len, char *out);	/* out: 2*len+1 */
/* -1 on a bad digit or when the text decodes to more than max bytes. */
ssize_t wl_unhex(const char *in, size_t len, unsigned char *out, size_t max);
EVP_PKEY *wl_pem_key_load(const char *path);	/* NULL + kr_error */
EVP_PKEY *wl_pem_cert_pubkey(const char *pem, size_t len);	/* NULL + kr_error */

/*
 * bundle_decrypt.c: the bundled bytes (the parts, in order) in, the image
 * out, as a stream: AES-128-CBC -> gunzip -> the one regular file of the
 * tar archive.  Memory is bounded (zlib's window and a tar block); the
 * SHA-1 of the tar stream and the image size are checked at the end.
 */
typedef int (*wl_unbundle_out_fn)(const void *data, size_t len, void *arg);
struct wl_unbundle;
struct wl_unbundle *wl_unbundle_new(const unsigned char key[16], const unsigned char iv[16],
    const struct wl_manifest *m, wl_unbundle_out_fn out, void *arg);
/* 0, or -1 + kr_error("InvalidManifest" for a bad bundle, or what out() recorded). */
int wl_unbundle_feed(struct wl_unbundle *u, const void *data, size_t len);
int wl_unbundle_finish(struct wl_unbundle *u);
void wl_unbundle_free(struct wl_unbundle *u);	/* NULL-safe; wipes the key */

#endif
