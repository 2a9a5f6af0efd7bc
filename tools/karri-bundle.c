/*
 * karri-bundle - bundle a raw image, kernel or ramdisk as euca-bundle-image
 * and ec2-bundle-image do, so tests and the quickstart can publish images
 * without euca2ools:
 *
 *	karri-bundle -i disk.img -c user-cert.pem -k user-pk.pem
 *	    --ec2cert cloud-cert.pem -u 123456789012 -d outdir
 *	    [--image-type machine|kernel|ramdisk] [--kernel aki-..]
 *	    [--ramdisk ari-..] [-r x86_64] [-p prefix] [--part-size BYTES]
 *
 * writes outdir/<prefix>.manifest.xml and outdir/<prefix>.part.NN; upload
 * them with any S3 client (`aws s3 cp outdir s3://bucket/ --recursive`).
 * One pass over the image: tar header + data (SHA-1 of the tar stream on
 * the way) -> gzip -> AES-128-CBC -> parts of --part-size bytes, each with
 * its own SHA-1.  The format is described in walrus/bundle.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/buf.h"
#include "bundle.h"
#include "core/error.h"

#define IO_CHUNK (1u << 20)

struct bundler {
	const char *dir, *prefix;
	uint64_t part_size;
	EVP_MD_CTX *tar_sha1;
	z_stream z;
	EVP_CIPHER_CTX *cipher;
	/* the part being written */
	int part_fd;
	size_t n_parts;
	uint64_t part_bytes, bundled;
	EVP_MD_CTX *part_sha1;
	struct wl_bundle_part parts[WL_BUNDLE_MAX_PARTS];
	unsigned char zbuf[IO_CHUNK], ebuf[IO_CHUNK + 32];
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "karri-bundle: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static int
part_close(struct bundler *b)
{
	unsigned int n = 0;

	if (b->part_fd < 0)
		return 0;
	if (EVP_DigestFinal_ex(b->part_sha1, b->parts[b->n_parts - 1].sha1, &n) != 1 ||
	    fsync(b->part_fd) < 0 || close(b->part_fd) < 0)
		return -1;
	b->part_fd = -1;
	return 0;
}

/* Encrypted bytes out, cut into parts. */
static int
parts_write(struct bundler *b, const unsigned char *p, size_t len)
{
	while (len > 0) {
		size_t n;
		char path[4096];

		if (b->part_fd < 0 || b->part_bytes == b->part_size) {
			struct wl_bundle_part *bp;
			if (part_close(b) < 0)
				return -1;
			if (b->n_parts == WL_BUNDLE_MAX_PARTS) {
				errno = EFBIG;
				return -1;
			}
			bp = &b->parts[b->n_parts++];
			snprintf(bp->filename, sizeof(bp->filename), "%s.part.%02zu", b->prefix,
			    b->n_parts - 1);
			snprintf(path, sizeof(path), "%s/%s", b->dir, bp->filename);
			b->part_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (b->part_fd < 0 || EVP_DigestInit_ex(b->part_sha1, EVP_sha1(), NULL) != 1)
				return -1;
			b->part_bytes = 0;
		}
		n = b->part_size - b->part_bytes < len ? (size_t)(b->part_size - b->part_bytes) : len;
		if (write(b->part_fd, p, n) != (ssize_t)n)
			return -1;
		EVP_DigestUpdate(b->part_sha1, p, n);
		b->part_bytes += n;
		b->bundled += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int
encrypt_write(struct bundler *b, const unsigned char *p, size_t len, bool last)
{
	int outl = 0;

	if (len && (EVP_EncryptUpdate(b->cipher, b->ebuf, &outl, p, (int)len) != 1 ||
	    parts_write(b, b->ebuf, (size_t)outl) < 0))
		return -1;
	if (last && (EVP_EncryptFinal_ex(b->cipher, b->ebuf, &outl) != 1 ||
	    parts_write(b, b->ebuf, (size_t)outl) < 0))
		return -1;
	return 0;
}

/* Tar stream in: hashed, gzipped, encrypted. */
static int
tar_write(struct bundler *b, const void *p, size_t len, bool last)
{
	int r;

	EVP_DigestUpdate(b->tar_sha1, p, len);
	b->z.next_in = (unsigned char *)p;
	b->z.avail_in = (uInt)len;
	do {
		b->z.next_out = b->zbuf;
		b->z.avail_out = sizeof(b->zbuf);
		r = deflate(&b->z, last ? Z_FINISH : Z_NO_FLUSH);
		if (r == Z_STREAM_ERROR)
			return -1;
		if (encrypt_write(b, b->zbuf, sizeof(b->zbuf) - b->z.avail_out, false) < 0)
			return -1;
	} while (b->z.avail_out == 0 || (last && r != Z_STREAM_END));
	return last ? encrypt_write(b, NULL, 0, true) : 0;
}

static void
tar_field_octal(unsigned char *f, size_t len, uint64_t v)
{
	if (v >> (3 * (len - 1))) {
		/* Too big for octal: GNU base-256, as GNU tar writes > 8 GiB files. */
		memset(f, 0, len);
		f[0] = 0x80;
		for (size_t i = len - 1; i > 0 && v; i--, v >>= 8)
			f[i] = (unsigned char)(v & 0xff);
		return;
	}
	snprintf((char *)f, len, "%0*llo", (int)len - 1, (unsigned long long)v);
}

static void
tar_header(unsigned char h[512], const char *name, uint64_t size)
{
	unsigned sum = 0;

	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	tar_field_octal(h + 100, 8, 0644);
	tar_field_octal(h + 108, 8, 0);
	tar_field_octal(h + 116, 8, 0);
	tar_field_octal(h + 124, 12, size);
	tar_field_octal(h + 136, 12, (uint64_t)time(NULL));
	h[156] = '0';
	memcpy(h + 257, "ustar\0" "00", 8);
	memcpy(h + 265, "root", 4);
	memcpy(h + 297, "root", 4);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

static EVP_PKEY *
cert_key(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = x ? X509_get_pubkey(x) : NULL;

	if (f)
		fclose(f);
	X509_free(x);
	if (!k)
		die("%s: not a PEM X.509 certificate", path);
	return k;
}

/* RSA PKCS#1 v1.5 of the 32-character hex text of 16 bytes, as hex. */
static void
rsa_hex(EVP_PKEY *k, const unsigned char v[16], char *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	unsigned char enc[WL_BUNDLE_MAX_RSA];
	char plain[33];
	size_t n = sizeof(enc);

	wl_hex(v, 16, plain);
	if (!ctx || EVP_PKEY_encrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_encrypt(ctx, enc, &n, (unsigned char *)plain, 32) != 1)
		die("%s", "RSA encryption failed");
	EVP_PKEY_CTX_free(ctx);
	wl_hex(enc, n, out);
	OPENSSL_cleanse(plain, sizeof(plain));
}

struct opts {
	const char *image, *cert, *key, *ec2cert, *user, *dir, *arch, *prefix, *type;
	const char *kernel, *ramdisk;
	uint64_t part_size;
};

static void
manifest_write(const struct opts *o, struct bundler *b, uint64_t size,
    const unsigned char key[16], const unsigned char iv[16])
{
	EVP_PKEY *ec2 = cert_key(o->ec2cert), *user = cert_key(o->cert), *pk;
	struct kr_buf mc = KR_BUF_INIT, im = KR_BUF_INIT, doc = KR_BUF_INIT;
	unsigned char digest[20], sig[WL_BUNDLE_MAX_RSA];
	char hex[2 * WL_BUNDLE_MAX_RSA + 1], path[4096];
	unsigned int dl = 0;
	size_t sl = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool machine = strcmp(o->type, "machine") == 0;
	FILE *f;

	kr_buf_add(&mc, "<machine_configuration>");
	kr_buf_add_xml_elem(&mc, "architecture", o->arch);
	if (machine) {
		kr_buf_add(&mc, "<block_device_mapping>");
		kr_buf_add(&mc, "<mapping><virtual>ami</virtual><device>sda1</device></mapping>");
		kr_buf_add(&mc, "<mapping><virtual>root</virtual><device>/dev/sda1</device></mapping>");
		kr_buf_add(&mc, "</block_device_mapping>");
		if (o->kernel)
			kr_buf_add_xml_elem(&mc, "kernel_id", o->kernel);
		if (o->ramdisk)
			kr_buf_add_xml_elem(&mc, "ramdisk_id", o->ramdisk);
	}
	kr_buf_add(&mc, "</machine_configuration>");

	EVP_DigestFinal_ex(b->tar_sha1, digest, &dl);
	kr_buf_add(&im, "<image>");
	kr_buf_add_xml_elem(&im, "name", b->prefix);
	kr_buf_add_xml_elem(&im, "user", o->user);
	kr_buf_add_xml_elem(&im, "type", o->type);
	wl_hex(digest, 20, hex);
	kr_buf_addf(&im, "<digest algorithm=\"SHA1\">%s</digest>", hex);
	kr_buf_addf(&im, "<size>%llu</size>", (unsigned long long)size);
	kr_buf_addf(&im, "<bundled_size>%llu</bundled_size>", (unsigned long long)b->bundled);
	rsa_hex(ec2, key, hex);
	kr_buf_addf(&im, "<ec2_encrypted_key algorithm=\"AES-128-CBC\">%s</ec2_encrypted_key>", hex);
	rsa_hex(user, key, hex);
	kr_buf_addf(&im, "<user_encrypted_key algorithm=\"AES-128-CBC\">%s</user_encrypted_key>", hex);
	rsa_hex(ec2, iv, hex);
	kr_buf_addf(&im, "<ec2_encrypted_iv>%s</ec2_encrypted_iv>", hex);
	rsa_hex(user, iv, hex);
	kr_buf_addf(&im, "<user_encrypted_iv>%s</user_encrypted_iv>", hex);
	kr_buf_addf(&im, "<parts count=\"%zu\">", b->n_parts);
	for (size_t i = 0; i < b->n_parts; i++) {
		wl_hex(b->parts[i].sha1, 20, hex);
		kr_buf_addf(&im, "<part index=\"%zu\"><filename>%s</filename>"
		    "<digest algorithm=\"SHA1\">%s</digest></part>", i, b->parts[i].filename, hex);
	}
	kr_buf_add(&im, "</parts></image>");

	/* RSA-SHA1 over the two elements' text exactly as written below. */
	if (!(pk = wl_pem_key_load(o->key)))
		die("%s", kr_error_message());
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha1(), NULL, pk) != 1 ||
	    EVP_DigestSignUpdate(md, kr_buf_str(&mc), kr_buf_len(&mc)) != 1 ||
	    EVP_DigestSignUpdate(md, kr_buf_str(&im), kr_buf_len(&im)) != 1 ||
	    EVP_DigestSignFinal(md, sig, &sl) != 1)
		die("%s", "signing the manifest failed");
	wl_hex(sig, sl, hex);

	kr_buf_add(&doc, "<?xml version=\"1.0\" ?>\n<manifest>\n<version>2007-10-10</version>\n");
	kr_buf_add(&doc, "<bundler><name>karri-bundle</name><version>1.0</version>"
	    "<release>1</release></bundler>\n");
	kr_buf_add_len(&doc, kr_buf_str(&mc), kr_buf_len(&mc));
	kr_buf_add(&doc, "\n");
	kr_buf_add_len(&doc, kr_buf_str(&im), kr_buf_len(&im));
	kr_buf_addf(&doc, "\n<signature>%s</signature>\n</manifest>\n", hex);
	if (kr_buf_failed(&doc) || kr_buf_failed(&mc) || kr_buf_failed(&im))
		die("%s", "out of memory");
	snprintf(path, sizeof(path), "%s/%s.manifest.xml", o->dir, b->prefix);
	if (!(f = fopen(path, "w")) || fwrite(kr_buf_str(&doc), 1, kr_buf_len(&doc), f) !=
	    kr_buf_len(&doc) || fclose(f) != 0)
		die("cannot write %s", path);
	printf("%s\n", path);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(ec2);
	EVP_PKEY_free(user);
	kr_buf_free(&mc);
	kr_buf_free(&im);
	kr_buf_free(&doc);
}

static void
bundle(const struct opts *o)
{
	static struct bundler b;	/* the part table is large: not on the stack */
	unsigned char key[16], iv[16], hdr[512];
	unsigned char *buf = malloc(IO_CHUNK);
	struct stat st;
	uint64_t left;
	int fd = open(o->image, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		die("%s: cannot read a regular file", o->image);
	if (!buf || RAND_bytes(key, 16) != 1 || RAND_bytes(iv, 16) != 1)
		die("%s", "no random bytes");
	b.dir = o->dir;
	b.prefix = o->prefix;
	b.part_size = o->part_size;
	b.part_fd = -1;
	b.tar_sha1 = EVP_MD_CTX_new();
	b.part_sha1 = EVP_MD_CTX_new();
	b.cipher = EVP_CIPHER_CTX_new();
	if (!b.tar_sha1 || !b.part_sha1 || !b.cipher ||
	    EVP_DigestInit_ex(b.tar_sha1, EVP_sha1(), NULL) != 1 ||
	    EVP_EncryptInit_ex(b.cipher, EVP_aes_128_cbc(), NULL, key, iv) != 1 ||
	    deflateInit2(&b.z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		die("%s", "cannot set up OpenSSL/zlib");

	tar_header(hdr, o->prefix, (uint64_t)st.st_size);
	if (tar_write(&b, hdr, 512, false) < 0)
		die("%s", "writing parts failed");
	for (left = (uint64_t)st.st_size; left > 0;) {
		ssize_t n = read(fd, buf, IO_CHUNK);
		if (n <= 0)
			die("%s: read failed or the file shrank", o->image);
		if ((uint64_t)n > left)
			n = (ssize_t)left;
		left -= (uint64_t)n;
		if (tar_write(&b, buf, (size_t)n, false) < 0)
			die("writing parts to %s failed", o->dir);
	}
	/* Pad the file to a block, then tar's two zero end blocks. */
	memset(buf, 0, 1024 + 512);
	if (tar_write(&b, buf, (512 - (size_t)st.st_size % 512) % 512 + 1024, true) < 0 ||
	    part_close(&b) < 0)
		die("writing parts to %s failed", o->dir);
	close(fd);
	deflateEnd(&b.z);
	manifest_write(o, &b, (uint64_t)st.st_size, key, iv);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	EVP_CIPHER_CTX_free(b.cipher);
	EVP_MD_CTX_free(b.tar_sha1);
	EVP_MD_CTX_free(b.part_sha1);
	free(buf);
}

static void
usage(void)
{
	fprintf(stderr, "usage: karri-bundle -i IMAGE -c USER_CERT -k USER_KEY --ec2cert CLOUD_CERT\n"
	    "    -u ACCOUNT_ID -d DIR [--image-type machine|kernel|ramdisk] [--kernel aki-...]\n"
	    "    [--ramdisk ari-...] [-r ARCH] [-p PREFIX] [--part-size BYTES]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "image", required_argument, NULL, 'i' },
		{ "cert", required_argument, NULL, 'c' },
		{ "privatekey", required_argument, NULL, 'k' },
		{ "ec2cert", required_argument, NULL, 'E' },
		{ "user", required_argument, NULL, 'u' },
		{ "destination", required_argument, NULL, 'd' },
		{ "arch", required_argument, NULL, 'r' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "image-type", required_argument, NULL, 'T' },
		{ "kernel", required_argument, NULL, 'K' },
		{ "ramdisk", required_argument, NULL, 'R' },
		{ "part-size", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .arch = "x86_64", .type = "machine", .part_size = WL_BUNDLE_PART_SIZE };
	const char *slash;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "i:c:k:u:d:r:p:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': o.image = optarg; break;
		case 'c': o.cert = optarg; break;
		case 'k': o.key = optarg; break;
		case 'E': o.ec2cert = optarg; break;
		case 'u': o.user = optarg; break;
		case 'd': o.dir = optarg; break;
		case 'r': o.arch = optarg; break;
		case 'p': o.prefix = optarg; break;
		case 'T': o.type = optarg; break;
		case 'K': o.kernel = optarg; break;
		case 'R': o.ramdisk = optarg; break;
		case 'P':
			o.part_size = strtoull(optarg, &end, 10);
			if (*end || o.part_size < 4096 || o.part_size > (5ull << 30))
				die("--part-size %s: 4096 bytes .. 5 GiB", optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !o.image || !o.cert || !o.key || !o.ec2cert || !o.user || !o.dir)
		usage();
	if (strcmp(o.type, "machine") && strcmp(o.type, "kernel") && strcmp(o.type, "ramdisk"))
		die("--image-type %s: machine, kernel or ramdisk", o.type);
	if (!o.prefix)
		o.prefix = (slash = strrchr(o.image, '/')) ? slash + 1 : o.image;
	if (!wl_bundle_name_valid(o.prefix) || strlen(o.prefix) > 90)
		die("prefix %s: 1..90 characters of [A-Za-z0-9._+-], not starting with '.'",
		    o.prefix);
	if ((o.kernel || o.ramdisk) && strcmp(o.type, "machine") != 0)
		die("%s", "--kernel and --ramdisk go with machine images");
	bundle(&o);
	return 0;
}
