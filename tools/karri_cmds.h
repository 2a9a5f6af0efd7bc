/*
 * karri_cmds.h - the `karri` commands that live outside karri.c: the
 * cloud CA (karri_ca.c), registration and instance types
 * (karri_register.c), credentials (karri_credentials.c), the cloud part
 * of `karri status` (karri_status.c).
 */
#ifndef KARRI_CMDS_H
#define KARRI_CMDS_H

#include <stdbool.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sqlite3.h>

struct kr_config;

struct karri_ca {
	EVP_PKEY *key;
	X509 *cert;
	char cert_path[1100];
};

/* Load the CA under $KARRI_HOME/var/lib/karri/ca, creating it the first time. */
int karri_ca_load(const char *home, struct karri_ca *ca);
void karri_ca_free(struct karri_ca *ca);
int karri_ca_issue(struct karri_ca *ca, const char *cn, const char *cert_path,
    const char *key_path);
int karri_ca_issue_san(struct karri_ca *ca, const char *cn, const char *san,
    const char *cert_path, const char *key_path);

/* Each returns the process exit status. */
int karri_cmd_register(struct kr_config *cfg, const char *cmd, int argc, char **argv);
int karri_cmd_instance_type(struct kr_config *cfg, int argc, char **argv);
int karri_status_cloud(struct kr_config *cfg);	/* karri_status.c: clusters down */
int karri_cmd_credentials(struct kr_config *cfg, const char *host, int argc, char **argv);
sqlite3 *karri_open_clc_db(struct kr_config *cfg);	/* karri_register.c */
/* karri_cloud.c: remote clouds (bursting) */
int karri_cmd_cloud(struct kr_config *cfg, const char *cmd, int argc, char **argv);
int karri_cloud_status(sqlite3 *db);	/* clouds down */

#endif
