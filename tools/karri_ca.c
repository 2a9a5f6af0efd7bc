/*
 * karri_ca.c - the cloud's own certificate authority (OpenSSL).
 *
 * Made on first use under $KARRI_HOME/var/lib/karri/ca/ (ca-cert.pem,
 * ca-pk.pem, the key readable by its owner only).  It signs the component
 * certificates `karri register-*` hands out for internal TLS, the cloud
 * certificate image bundles are encrypted to (KARRI_CLOUD_CERT, made here
 * if Walrus has not made one), and each user's X.509 pair in
 * `karri credentials`.  RSA 2048 with SHA-256; the CA lasts 10 years,
 * what it signs 5.
 *
 * The CA's certificate (never its key) is also kept as
 * var/lib/karri/keys/ca-cert.pem, the trust anchor every daemon's TLS
 * reads (common/tls/tls.h) and the file an admin copies to the other hosts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "daemon/daemon.h"
#include "karri_cmds.h"
#include "tls/pem.h"
#include "core/sizes.h"

#define DAYS_CA 3650
#define DAYS_LEAF 1825

/* Write a PEM file atomically (temp + rename), mode 0600 for keys. */
static int
write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
	char tmp[KR_PATH_MAX];
	FILE *f;
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, key ? 0600 : 0644);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "karri: %s: %s\n", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) :
	    PEM_write_X509(f, cert);
	if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
		fprintf(stderr, "karri: cannot write %s\n", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return 0;
}

/*
 * A certificate for key with subject CN=cn, signed by (ca, ca_key), or
 * self-signed; san (e.g. "DNS:localhost,IP:127.0.0.1") names the hosts a
 * TLS server certificate is good for.
 */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *ca, EVP_PKEY *ca_key, bool is_ca,
    const char *san)
{
	X509 *cert = X509_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	X509_NAME *name;

	if (cert == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	X509_set_version(cert, 2);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * (is_ca ? DAYS_CA : DAYS_LEAF));
	X509_set_pubkey(cert, key);
	name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Karri", -1,
	    -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
	    0);
	X509_set_issuer_name(cert, ca ? X509_get_subject_name(ca) : name);
	/*
	 * A TLS certificate (with a san) says so with its extended key usage:
	 * the daemons accept only peers whose certificate has it, so a user's
	 * X.509 pair from the same CA opens no internal SOAP port.
	 */
	if (add_ext(cert, ca ? ca : cert, NID_basic_constraints, is_ca ? "critical,CA:TRUE" :
	    "CA:FALSE") < 0 || add_ext(cert, ca ? ca : cert, NID_subject_key_identifier,
	    "hash") < 0 || (san && add_ext(cert, ca ? ca : cert, NID_subject_alt_name, san) < 0) ||
	    (san && add_ext(cert, ca ? ca : cert, NID_ext_key_usage, "serverAuth,clientAuth") < 0))
		goto fail;
	if (!X509_sign(cert, ca_key ? ca_key : key, EVP_sha256()))
		goto fail;
	BN_free(bn);
	return cert;
fail:
	BN_free(bn);
	X509_free(cert);
	return NULL;
}

/*
 * The CLC's HTTPS certificate (CLC_HTTPS_PORT), made with the CA: good for
 * localhost, 127.0.0.1 and this host's name, since `karri` runs on the
 * front end.  The CLC serves HTTPS when it finds it.
 */
/*
 * The CLC runs as the user its state directory belongs to (EUCA_USER,
 * docs/decisions.md): a pair made for it by root here, maybe while it runs,
 * is handed to that user (the key stays 0600).  Nothing changes when the
 * directory is root's (the CLC then runs as root, or has not yet started:
 * it takes its files over itself when it does).
 */
static void
give_to_clc(const char *home, const char *path)
{
	char state[KR_DIR_MAX];
	struct stat st;

	snprintf(state, sizeof(state), "%s/var/lib/karri", home);
	if (geteuid() != 0 || stat(state, &st) < 0 || st.st_uid == 0)
		return;
	if (fchownat(AT_FDCWD, path, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		fprintf(stderr, "karri: cannot hand %s to the CLC's user: %s\n", path,
		    strerror(errno));
}

static int
issue_clc_cert(const char *home, struct karri_ca *ca)
{
	char dir[KR_DIR_MAX], cert[KR_PATH_MAX], key[KR_PATH_MAX], san[400], host[256] = "localhost";

	gethostname(host, sizeof(host) - 1);
	snprintf(dir, sizeof(dir), "%s/var/lib/karri/keys", home);
	snprintf(cert, sizeof(cert), "%s/clc-cert.pem", dir);
	snprintf(key, sizeof(key), "%s/clc-pk.pem", dir);
	snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,DNS:%s", host);
	if (kr_mkdir_p(dir) < 0 || karri_ca_issue_san(ca, "karri-clc", san, cert, key) < 0)
		return -1;
	give_to_clc(home, cert);
	give_to_clc(home, key);
	printf("certificate for the CLC's HTTPS: %s\n", cert);
	return 0;
}

/* keys/ca-cert.pem: the CA certificate where the daemons look for it. */
static int
publish_ca_cert(const char *home, struct karri_ca *ca)
{
	char dir[KR_DIR_MAX], path[KR_PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/var/lib/karri/keys", home);
	snprintf(path, sizeof(path), "%s/ca-cert.pem", dir);
	if (kr_mkdir_p(dir) < 0 || write_pem(path, NULL, ca->cert) < 0) {
		karri_ca_free(ca);
		return -1;
	}
	return 0;
}

/* The CLC's certificate is there and made for TLS (older CAs made it without the EKU). */
static bool
clc_cert_current(const char *home)
{
	char path[KR_PATH_MAX];
	X509 *c;
	bool ok;

	snprintf(path, sizeof(path), "%s/var/lib/karri/keys/clc-cert.pem", home);
	c = kr_pem_read_cert(path);
	ok = c && (X509_get_extension_flags(c) & EXFLAG_XKUSAGE) &&
	    (X509_get_extended_key_usage(c) & XKU_SSL_CLIENT);
	X509_free(c);
	return ok;
}

int
karri_ca_load(const char *home, struct karri_ca *ca)
{
	char dir[KR_DIR_MAX], cert[KR_PATH_MAX], key[KR_PATH_MAX];

	memset(ca, 0, sizeof(*ca));
	snprintf(dir, sizeof(dir), "%s/var/lib/karri/ca", home);
	snprintf(cert, sizeof(cert), "%s/ca-cert.pem", dir);
	snprintf(key, sizeof(key), "%s/ca-pk.pem", dir);
	snprintf(ca->cert_path, sizeof(ca->cert_path), "%s", cert);
	if (access(cert, R_OK) == 0) {
		ca->key = kr_pem_read_key(key);
		ca->cert = kr_pem_read_cert(cert);
		if (!ca->key || !ca->cert) {
			fprintf(stderr, "karri: cannot read the cloud CA in %s\n", dir);
			karri_ca_free(ca);
			return -1;
		}
		if (!clc_cert_current(home) && issue_clc_cert(home, ca) < 0) {
			karri_ca_free(ca);
			return -1;
		}
		return publish_ca_cert(home, ca);
	}
	if (kr_mkdir_p(dir) < 0 || chmod(dir, 0700) < 0) {
		fprintf(stderr, "karri: cannot create %s\n", dir);
		return -1;
	}
	ca->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ca->cert = ca->key ? make_cert(ca->key, "Karri cloud CA", NULL, NULL, true, NULL) : NULL;
	if (!ca->cert || write_pem(key, ca->key, NULL) < 0 || write_pem(cert, NULL, ca->cert) < 0) {
		fprintf(stderr, "karri: cannot create the cloud CA in %s\n", dir);
		karri_ca_free(ca);
		return -1;
	}
	printf("created the cloud CA: %s\n", cert);
	return issue_clc_cert(home, ca) < 0 ? -1 : publish_ca_cert(home, ca);
}

void
karri_ca_free(struct karri_ca *ca)
{
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	ca->key = NULL;
	ca->cert = NULL;
}

/* A new key pair with a certificate for CN=cn, written to cert_path and key_path. */
int
karri_ca_issue(struct karri_ca *ca, const char *cn, const char *cert_path, const char *key_path)
{
	return karri_ca_issue_san(ca, cn, NULL, cert_path, key_path);
}

int
karri_ca_issue_san(struct karri_ca *ca, const char *cn, const char *san, const char *cert_path,
    const char *key_path)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	X509 *cert = key ? make_cert(key, cn, ca->cert, ca->key, false, san) : NULL;
	int rc = -1;

	if (cert && write_pem(key_path, key, NULL) == 0 && write_pem(cert_path, NULL, cert) == 0)
		rc = 0;
	else
		fprintf(stderr, "karri: cannot issue a certificate for %s\n", cn);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}
