/*
 * tls.h - mutual TLS between Karri's daemons, with the cloud CA's certificates.
 *
 * Every component finds its TLS material in its own KARRI_HOME, under
 * var/lib/karri/keys/ (KR_TLS_KEYS):
 *
 *   ca-cert.pem            the cloud CA's certificate (trust anchor; public)
 *   <role>-cert.pem        the component's certificate, signed by the CA
 *   <role>-pk.pem          its private key (0600)
 *
 * with <role> "cluster" for karri-cc, "node" for karri-nc, "ebs" for
 * karri-ebs and "clc" for karri-clc and the `karri` CLI (both run on the
 * front end).  `karri register-*` issues them (tools/karri_register.c) and
 * installs them itself when the component runs on the front end; for other
 * hosts the admin copies the three files, as euca_conf's key sync did.
 *
 * A server (kr_soap_server, soap_server.c) requires a client certificate
 * signed by the cloud CA, issued for TLS (extended key usage clientAuth:
 * users' X.509 pairs from the same CA have none) and for a component
 * allowed to call it: an NC takes calls from its CC and the front end
 * ("cluster:..." and "karri-clc"), a CC and EBS from the front end only.
 * A client verifies the server against the CA and the host it called (the
 * certificates carry the registered host as a subjectAltName).  KARRI_INSECURE_HTTP="Y" turns all of it off: plain HTTP
 * both ways, for development and the single-daemon tests.
 */
#ifndef KARRI_TLS_H
#define KARRI_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/sizes.h"

#define KR_TLS_KEYS "var/lib/karri/keys"

/*
 * The kr_tls_soap_* functions take gSOAP's context by pointer only: users
 * that make no SOAP calls (the CLC's HTTPS listener, the CLI's set-up)
 * include this header without gSOAP's.
 */
struct soap;

struct kr_tls_files {
	char role[16];
	char cert[KR_PATH_MAX];
	char key[KR_PATH_MAX];
	char ca[KR_PATH_MAX];
};

/*
 * An OpenSSL context with a certificate (chain) and its key, TLS 1.2 or
 * later, and nothing else (the CLC's user-facing HTTPS); NULL with
 * kr_error() naming the file that does not load.
 */
struct ssl_ctx_st *kr_tls_ctx_new(const char *cert, const char *key, bool server);

/* The role of a daemon for its file names ("karri-cc" -> "cluster"), or NULL. */
const char *kr_tls_role(const char *daemon_name);

/* The three paths of `role` under home ("" or "/x": KARRI_HOME without a trailing slash). */
void kr_tls_files(const char *home, const char *role, struct kr_tls_files *f);

/* 0 when all three are readable; else -1 with kr_error() naming each missing one. */
int kr_tls_files_check(const struct kr_tls_files *f);

/*
 * The process's TLS mode and client identity: insecure = plain HTTP to
 * peers; otherwise load the client context from f (-1 with kr_error() when
 * it cannot; calls then fail naming why).  Called once at start (daemon.c
 * for daemons, tools/karri.c for the CLI); thread-safe afterwards.
 */
int kr_tls_client_init(const struct kr_tls_files *f, bool insecure);

/* "https" unless this process runs with KARRI_INSECURE_HTTP (or never initialised TLS). */
const char *kr_tls_scheme(void);

/*
 * Make `soap` a TLS client with the process's identity (kr_soap_setup()
 * calls it for every context): https:// endpoints are then verified
 * against the cloud CA and the host called, and the client presents its
 * certificate.  http:// endpoints are untouched.
 */
void kr_tls_soap_client(struct soap *soap);

/*
 * A server context for gSOAP: our certificate, and peers must present one
 * signed by the cloud CA.  Attached to the listening context before the
 * workers copy it.  -1 with kr_error() when a file does not load.
 */
int kr_tls_soap_server(struct soap *soap, const struct kr_tls_files *f);

/* Give a borrowed TLS connection's state back to a soap context / take it away. */
void kr_tls_soap_lend(struct soap *soap, void *ssl);
void *kr_tls_soap_take(struct soap *soap);

/* Free what kr_tls_soap_take returned (the socket is closed separately). */
void kr_tls_free(void *ssl);

#endif
