/*
 * karri_credentials.c - `karri credentials USER DIR`: what a user needs to
 * use the cloud, as euca_conf --get-credentials gave it.
 *
 * DIR gets an eucarc to `source` (EC2_URL, S3_URL, AWS_* for awscli/boto3/
 * euca2ools 3.4, EC2_ACCESS_KEY/EC2_SECRET_KEY for older tools,
 * EC2_USER_ID, EC2_CERT/EC2_PRIVATE_KEY, EUCALYPTUS_CERT), the user's X.509
 * pair signed by the cloud CA, and the cloud certificate bundles are
 * encrypted to (KARRI_CLOUD_CERT; made from the CA if absent).  The user's
 * first active access key is used, or a new one made.  Files holding
 * secrets are mode 0600.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "daemon/daemon.h"
#include "core/error.h"
#include "karri_cmds.h"
#include "daemon/privdrop.h"
#include "core/sizes.h"
#include "sig/userdb.h"

static int
first_key(const struct kr_access_key *k, void *arg)
{
	struct kr_access_key *out = arg;

	if (k->active && out->access_key[0] == '\0')
		*out = *k;
	return 0;
}

static int
copy_file(const char *from, const char *to)
{
	char buf[8192];
	ssize_t n;
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;

	if (in < 0 || (out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		goto done;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto done;
	rc = n < 0 ? -1 : 0;
done:
	if (rc < 0)
		fprintf(stderr, "karri: cannot copy %s to %s: %s\n", from, to, strerror(errno));
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* The cloud certificate: Walrus's if it exists, else one made now from the CA. */
static int
cloud_cert(struct kr_config *cfg, struct karri_ca *ca, const char *dir)
{
	const char *cert = kr_config_get(cfg, "KARRI_CLOUD_CERT");
	const char *key = kr_config_get(cfg, "KARRI_CLOUD_KEY");
	char to[1200], kdir[KR_DIR_MAX], *slash;

	if (access(cert, R_OK) != 0) {
		snprintf(kdir, sizeof(kdir), "%s", key);
		if ((slash = strrchr(kdir, '/')) && slash != kdir) {
			*slash = '\0';
			kr_mkdir_p(kdir);
		}
		snprintf(kdir, sizeof(kdir), "%s", cert);
		if ((slash = strrchr(kdir, '/')) && slash != kdir) {
			*slash = '\0';
			kr_mkdir_p(kdir);
		}
		if (karri_ca_issue(ca, "Karri cloud", cert, key) < 0)
			return -1;
		/* The CLC and Walrus read the pair as EUCA_USER (common/daemon/privdrop.h). */
		if (kr_privdrop_give(kr_config_get(cfg, "EUCA_USER"), key) < 0 ||
		    kr_privdrop_give(kr_config_get(cfg, "EUCA_USER"), cert) < 0)
			fprintf(stderr, "karri: %s\n", kr_error_message());
	}
	snprintf(to, sizeof(to), "%s/cloud-cert.pem", dir);
	return copy_file(cert, to);
}

static int
write_eucarc(const char *dir, const char *host, struct kr_config *cfg,
    const struct kr_user *u, const struct kr_access_key *k)
{
	char path[KR_PATH_MAX], tmp[KR_TMP_PATH_MAX];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/eucarc", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "karri: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	fprintf(f, "# Karri credentials of %s (account %s).  Use: . %s\n"
	    "# awscli reads no endpoint from the environment, so name it:\n"
	    "#   aws --endpoint-url \"$EC2_URL\" ec2 describe-instances\n"
	    "EUCA_KEY_DIR=$(cd \"$(dirname \"${BASH_SOURCE:-$0}\")\" && pwd -P)\n"
	    "export EC2_URL=http://%s:%ld/services/Eucalyptus\n"
	    "export S3_URL=http://%s:%ld/services/Walrus\n"
	    "export AWS_ACCESS_KEY_ID='%s'\nexport AWS_SECRET_ACCESS_KEY='%s'\n"
	    "export AWS_DEFAULT_REGION=karri\n"
	    "export EC2_ACCESS_KEY='%s'\nexport EC2_SECRET_KEY='%s'\n"
	    "export EC2_USER_ID='%s'\n"
	    "export EC2_CERT=${EUCA_KEY_DIR}/%s-cert.pem\n"
	    "export EC2_PRIVATE_KEY=${EUCA_KEY_DIR}/%s-pk.pem\n"
	    "export EUCALYPTUS_CERT=${EUCA_KEY_DIR}/cloud-cert.pem\n",
	    u->name, u->account_id, path, host, kr_config_int(cfg, "CLC_PORT"), host,
	    kr_config_int(cfg, "WALRUS_PORT"), k->access_key, k->secret_key, k->access_key,
	    k->secret_key, u->account_id, u->name, u->name);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "karri: cannot write %s\n", path);
		return -1;
	}
	printf("%s\n", path);
	return 0;
}

int
karri_cmd_credentials(struct kr_config *cfg, const char *host, int argc, char **argv)
{
	const char *home = kr_config_get(cfg, "KARRI_HOME");
	struct kr_access_key key = { 0 };
	char cert[1200], pk[1200];
	struct karri_ca ca = { 0 };
	struct kr_user u;
	sqlite3 *db = NULL;
	int rc = 1;

	if (argc != 2 || strlen(argv[0]) > KR_USER_NAME_MAX) {
		fprintf(stderr, "usage: karri credentials USER DIR\n");
		return 2;
	}
	if (kr_userdb_open(kr_config_get(cfg, "USERS_DB"), &db) < 0 ||
	    kr_userdb_user_get(db, argv[0], &u) < 0 ||
	    kr_userdb_key_list(db, argv[0], first_key, &key) < 0 ||
	    (key.access_key[0] == '\0' && kr_userdb_key_create(db, argv[0], &key) < 0)) {
		fprintf(stderr, "karri: %s: %s\n", argv[0], kr_error_message());
		goto done;
	}
	if (kr_mkdir_p(argv[1]) < 0 || chmod(argv[1], 0700) < 0) {
		fprintf(stderr, "karri: cannot create %s: %s\n", argv[1], strerror(errno));
		goto done;
	}
	snprintf(cert, sizeof(cert), "%s/%s-cert.pem", argv[1], u.name);
	snprintf(pk, sizeof(pk), "%s/%s-pk.pem", argv[1], u.name);
	if (karri_ca_load(strcmp(home, "/") ? home : "", &ca) < 0 ||
	    karri_ca_issue(&ca, u.name, cert, pk) < 0 || cloud_cert(cfg, &ca, argv[1]) < 0 ||
	    write_eucarc(argv[1], host, cfg, &u, &key) < 0)
		goto done;
	rc = 0;
done:
	explicit_bzero(&key, sizeof(key));
	karri_ca_free(&ca);
	kr_userdb_close(db);
	return rc;
}
