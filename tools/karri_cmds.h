/*
 * karri_cmds.h - the `karri` commands that live outside karri.c: the
 * cloud CA (karri_ca.c), registration and instance types
 * (karri_register.c), credentials (karri_credentials.c), the cloud part
 * of `karri status` (karri_status.c).
 */
#ifndef KARRI_CMDS_H
#define KARRI_CMDS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "core/sizes.h"

struct kr_config;

struct karri_ca {
	EVP_PKEY *key;
	X509 *cert;
	char cert_path[KR_PATH_MAX];
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
bool karri_host_is_local(const char *host);
/* karri_status.c: whether the front end runs the cluster/ebs daemon `karri status` probes. */
bool karri_front_runs(struct kr_config *cfg, const char *kind);
/* karri_ebs.c: one EBS per availability zone */
int karri_ebs_zone_arg(int *argc, char **argv, const char **zone);
int karri_ebs_zone(sqlite3 *db, int argc, char **argv, const char *asked, char *zone,
    size_t len);
int karri_ebs_may_deregister(sqlite3 *db, int argc, char **argv);
int karri_ebs_volumes(sqlite3 *db, const char *zone);
/* karri_cloud.c: remote clouds (bursting) */
int karri_cmd_cloud(struct kr_config *cfg, const char *cmd, int argc, char **argv);
int karri_cloud_status(sqlite3 *db);	/* clouds down */

#endif
