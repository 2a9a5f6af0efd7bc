/*
 * tls.c - the TLS contexts of Karri's daemon-to-daemon SOAP (see tls.h).
 *
 * One client SSL_CTX per process, made at start and shared by every gSOAP
 * context (reference counted): loading a key per call would cost a
 * millisecond or more, and sharing also lets OpenSSL cache sessions.
 * gSOAP makes its own context only when soap->ctx is NULL, so presetting
 * it (with ssl_flags saying what to verify) is all it takes.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdsoap2.h>

#include "core/error.h"
#include "core/log.h"
#include "tls/tls.h"

static struct {
	pthread_mutex_t lock;
	bool initialised;
	bool insecure;
	SSL_CTX *client;
	struct kr_tls_files files;	/* where the client identity is (or will be) */
	const char *const *callers;	/* server: who may call us (certificate CNs) */
} tls = { .lock = PTHREAD_MUTEX_INITIALIZER, .insecure = true };

/*
 * Who may call whom, by the CN `karri register-*` puts in a certificate
 * ("cluster:zone1@10.0.0.1"; the CLC's and the CLI's is "karri-clc").  A
 * prefix ending in ':' matches a kind, anything else the whole name.
 */
static const struct { const char *role; const char *const callers[3]; } acl[] = {
	{ "node", { "cluster:", "karri-clc", NULL } },
	{ "cluster", { "karri-clc", NULL } },
	{ "ebs", { "karri-clc", NULL } },
};

const char *
kr_tls_role(const char *daemon_name)
{
	static const struct { const char *daemon, *role; } roles[] = {
		{ "karri-cc", "cluster" }, { "karri-nc", "node" }, { "karri-ebs", "ebs" },
		{ "karri-clc", "clc" }, { "karri", "clc" },
	};

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(daemon_name, roles[i].daemon) == 0)
			return roles[i].role;
	return NULL;
}

void
kr_tls_files(const char *home, const char *role, struct kr_tls_files *f)
{
	snprintf(f->role, sizeof(f->role), "%s", role);
	snprintf(f->cert, sizeof(f->cert), "%s/" KR_TLS_KEYS "/%s-cert.pem", home, role);
	snprintf(f->key, sizeof(f->key), "%s/" KR_TLS_KEYS "/%s-pk.pem", home, role);
	snprintf(f->ca, sizeof(f->ca), "%s/" KR_TLS_KEYS "/ca-cert.pem", home);
}

int
kr_tls_files_check(const struct kr_tls_files *f)
{
	const char *paths[] = { f->cert, f->key, f->ca };
	char missing[3400] = "";
	size_t len = 0;

	for (size_t i = 0; i < 3; i++)
		if (access(paths[i], R_OK) != 0)
			len += (size_t)snprintf(missing + len, sizeof(missing) - len, "%s%s",
			    len ? ", " : "", paths[i]);
	if (len == 0)
		return 0;
	kr_error("InvalidConfiguration", "no TLS certificate: cannot read %s", missing);
	return -1;
}

/* The first OpenSSL error, for a message (the queue is cleared). */
static const char *
ssl_reason(void)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unknown OpenSSL error";
}

SSL_CTX *
kr_tls_ctx_new(const char *cert, const char *key, bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	const char *file = cert;

	if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		goto fail;
	file = key;
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	return ctx;
fail:
	kr_error("InvalidConfiguration", "TLS: %s: %s", file, ssl_reason());
	SSL_CTX_free(ctx);
	return NULL;
}

static bool
caller_allowed(const char *cn)
{
	for (const char *const *c = tls.callers; c && *c; c++) {
		size_t n = strlen(*c);

		if ((*c)[n - 1] == ':' ? strncmp(cn, *c, n) == 0 : strcmp(cn, *c) == 0)
			return true;
	}
	return false;
}

/*
 * The server's last word on a client certificate the CA signed: it must be
 * a TLS certificate of a component that may call this daemon (acl above).
 */
static int
verify_caller(int ok, X509_STORE_CTX *st)
{
	X509 *c = X509_STORE_CTX_get_current_cert(st);
	char cn[256] = "";

	if (!ok || X509_STORE_CTX_get_error_depth(st) != 0 || c == NULL)
		return ok;
	X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof(cn));
	if (!(X509_get_extension_flags(c) & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(c) & XKU_SSL_CLIENT)) {
		kr_log_warnx("refusing a client certificate not issued for TLS (CN=%s): a user's, "
		    "or from before `karri register-*` made them so", cn);
		X509_STORE_CTX_set_error(st, X509_V_ERR_INVALID_PURPOSE);
		return 0;
	}
	if (!caller_allowed(cn)) {
		kr_log_warnx("refusing a client certificate of %s: it may not call this service", cn);
		X509_STORE_CTX_set_error(st, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return 1;
}

/* A context with our certificate and key, trusting only the cloud CA. */
static SSL_CTX *
make_ctx(const struct kr_tls_files *f, bool server)
{
	SSL_CTX *ctx = kr_tls_ctx_new(f->cert, f->key, server);

	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_load_verify_locations(ctx, f->ca, NULL) != 1) {
		kr_error("InvalidConfiguration", "TLS: %s: %s", f->ca, ssl_reason());
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (server) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(f->ca);

		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
		/* Mutual TLS: no certificate from the cloud CA, no connection. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		    verify_caller);
		/* OpenSSL resumes client-authenticated sessions only with this set. */
		SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"karri", 5);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	SSL_CTX_set_verify_depth(ctx, 4);
	return ctx;
}

int
kr_tls_client_init(const struct kr_tls_files *f, bool insecure)
{
	SSL_CTX *ctx = NULL;
	int rc = 0;

	if (!insecure && (kr_tls_files_check(f) < 0 || (ctx = make_ctx(f, false)) == NULL))
		rc = -1;
	pthread_mutex_lock(&tls.lock);
	SSL_CTX_free(tls.client);
	tls.client = ctx;
	tls.insecure = insecure;
	tls.initialised = true;
	if (f)
		tls.files = *f;
	pthread_mutex_unlock(&tls.lock);
	return rc;
}

const char *
kr_tls_scheme(void)
{
	bool plain;

	pthread_mutex_lock(&tls.lock);
	plain = !tls.initialised || tls.insecure;
	pthread_mutex_unlock(&tls.lock);
	return plain ? "http" : "https";
}

void
kr_tls_soap_client(struct soap *soap)
{
	pthread_mutex_lock(&tls.lock);
	/*
	 * A CLC started before `karri` made the CA has no certificate yet:
	 * pick it up once it is there, without a restart.
	 */
	if (tls.initialised && !tls.insecure && !tls.client && access(tls.files.cert, R_OK) == 0)
		tls.client = make_ctx(&tls.files, false);
	if (tls.client && soap->ctx == NULL) {
		SSL_CTX_up_ref(tls.client);
		soap->ctx = tls.client;
	}
	pthread_mutex_unlock(&tls.lock);
	/*
	 * Verify the server's chain against the cloud CA (in the context) and
	 * its certificate against the host of the URL; never the system's CAs.
	 * Without a context (no certificate here) gSOAP would make one that
	 * trusts nothing of ours, so an https:// call fails verification.
	 */
	soap->ssl_flags = SOAP_SSL_REQUIRE_SERVER_AUTHENTICATION | SOAP_SSL_NO_DEFAULT_CA_PATH;
}

int
kr_tls_soap_server(struct soap *soap, const struct kr_tls_files *f)
{
	SSL_CTX *ctx;

	if (kr_tls_files_check(f) < 0 || (ctx = make_ctx(f, true)) == NULL)
		return -1;
	pthread_mutex_lock(&tls.lock);
	tls.callers = NULL;
	for (size_t i = 0; i < sizeof(acl) / sizeof(acl[0]); i++)
		if (strcmp(acl[i].role, f->role) == 0)
			tls.callers = acl[i].callers;
	pthread_mutex_unlock(&tls.lock);
	SSL_CTX_free(soap->ctx);	/* a client one from kr_soap_setup */
	soap->ctx = ctx;
	soap->ssl_flags = SOAP_SSL_REQUIRE_CLIENT_AUTHENTICATION | SOAP_SSL_NO_DEFAULT_CA_PATH;
	return 0;
}

void
kr_tls_soap_lend(struct soap *soap, void *ssl)
{
	soap->ssl = ssl;
	if (ssl) {
		soap->imode |= SOAP_ENC_SSL;
		soap->omode |= SOAP_ENC_SSL;
	}
}

void *
kr_tls_soap_take(struct soap *soap)
{
	SSL *ssl = soap->ssl;

	soap->ssl = NULL;
	soap->bio = NULL;
	return ssl;
}

void
kr_tls_free(void *ssl)
{
	SSL_free(ssl);
}
