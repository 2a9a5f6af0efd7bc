/*
 * karri.c - the admin CLI of Karri (what euca_conf was to Eucalyptus).
 *
 * This version knows `status` (is every service up?), `describe-service
 * URL` and `user add|delete|list|keys` (the front end's user database,
 * USERS_DB, which Walrus and the CLC authenticate against); registration
 * and credential commands arrive with the cloud controller.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autoconf.h"
#include "karriH.h"
#include "core/config.h"
#include "core/error.h"
#include "http/http_server.h"
#include "daemon/daemon.h"
#include "core/sizes.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"
#include "sig/userdb.h"
#include "karri_cmds.h"

#define CALL_TIMEOUT_S 5

struct options {
	const char *config_path;
	const char *host;
};

/*
 * Ask one endpoint who it is.  0 when it answered (the answer lives in
 * soap), else -1 with kr_error saying why (soap_error.c).
 */
static int
describe_service(struct soap *soap, const char *url, struct _svc__DescribeServiceResponse *resp)
{
	struct _svc__DescribeService req = { 0 };
	char correlation[KR_UUID_MAX];

	kr_http_request_id(correlation);
	req.correlationId = correlation;
	req.userId = "karri-admin";
	memset(resp, 0, sizeof(*resp));
	return kr_soap_error_read(soap, soap_call___svc__DescribeService(soap, url, NULL, &req,
	    resp), &resp->_return, &resp->statusMessage, NULL, "DescribeService", url);
}


/*
 * The CLI talks to the daemons as the front end does: with the CLC's
 * certificate (keys/clc-cert.pem) over TLS, or plain HTTP when karri.conf
 * says KARRI_INSECURE_HTTP="Y" (common/tls/tls.h).
 */
static void
init_tls(const struct kr_config *cfg)
{
	const char *home = getenv("KARRI_HOME");
	struct kr_tls_files f;

	kr_tls_files(home && strcmp(home, "/") ? home : "", "clc", &f);
	if (kr_tls_client_init(&f, cfg && kr_config_bool(cfg, "KARRI_INSECURE_HTTP")) < 0)
		kr_error_clear();	/* said when an https call fails */
}

static struct kr_config *
load_config(const struct options *o)
{
	char path[1024];
	const char *home = getenv("KARRI_HOME");
	struct kr_config *cfg;

	if (o->config_path == NULL) {
		snprintf(path, sizeof(path), "%s/etc/karri/karri.conf",
		    home && *home ? home : "");
		if (access(path, R_OK) != 0) {
			cfg = kr_config_defaults(kr_config_keys);
			init_tls(cfg);
			return cfg;
		}
	} else
		snprintf(path, sizeof(path), "%s", o->config_path);
	cfg = kr_config_load(path, kr_config_keys);
	if (cfg == NULL)
		fprintf(stderr, "karri: %s\n", kr_error_message());
	else
		init_tls(cfg);
	return cfg;
}

static int
print_row(struct soap *soap, const char *name, const char *url)
{
	struct _svc__DescribeServiceResponse r;

	if (describe_service(soap, url, &r) < 0) {
		printf("%-13s %-44s %-9s %s\n", name, url, "DOWN", kr_error_message());
		soap_destroy(soap);
		soap_end(soap);
		return -1;
	}
	printf("%-13s %-44s %-9s version=%s pid=%d uptime=%lds host=%s\n",
	    r.serviceName ? r.serviceName : name, url, r.state ? r.state : "?",
	    r.version ? r.version : "?", r.pid, r.uptimeSeconds, r.hostName ? r.hostName : "?");
	soap_destroy(soap);
	soap_end(soap);
	return 0;
}

/* Every service of this front end, plus the nodes named in NODES. */
static int
cmd_status(const struct options *o)
{
	static const struct { const char *name, *key, *path, *kind; bool internal; } front[] = {
		{ "karri-clc", "CLC_PORT", "/services/Karri", NULL, false },
		{ "karri-walrus", "WALRUS_PORT", "/services/Karri", NULL, false },
		{ "karri-ebs", "EBS_PORT", "/", "ebs", true },
		{ "karri-cc", "CC_PORT", "/", "cluster", true },
	};
	struct kr_config *cfg = load_config(o);
	struct soap *soap;
	char url[512], **nodes = NULL;
	size_t nnodes;
	int down = 0;

	if (cfg == NULL)
		return 2;
	soap = soap_new();
	kr_soap_setup(soap, CALL_TIMEOUT_S);
	printf("%-13s %-44s %-9s %s\n", "SERVICE", "ENDPOINT", "STATE", "DETAILS");
	for (size_t i = 0; i < sizeof(front) / sizeof(front[0]); i++) {
		/* Each zone's own CC and EBS on their heads are asked below (karri_status.c). */
		if (front[i].kind && !karri_front_runs(cfg, front[i].kind))
			continue;
		snprintf(url, sizeof(url), "%s://%s:%ld%s", front[i].internal ? kr_tls_scheme() :
		    "http", o->host, kr_config_int(cfg, front[i].key), front[i].path);
		down += print_row(soap, front[i].name, url) < 0;
	}
	nnodes = kr_config_list(cfg, "NODES", &nodes);
	for (size_t i = 0; i < nnodes; i++) {
		/* A node is "host" or "host:port", as in Eucalyptus' NODES. */
		if (strchr(nodes[i], ':'))
			snprintf(url, sizeof(url), "%s://%s/", kr_tls_scheme(), nodes[i]);
		else
			snprintf(url, sizeof(url), "%s://%s:%ld/", kr_tls_scheme(), nodes[i],
			    kr_config_int(cfg, "NC_PORT"));
		down += print_row(soap, "karri-nc", url) < 0;
	}
	kr_config_list_free(nodes, nnodes);
	soap_free(soap);
	down += karri_status_cloud(cfg);	/* clusters, capacity, instances (karri_status.c) */
	kr_config_free(cfg);
	return down ? 1 : 0;
}

static int
cmd_describe_service(const char *url)
{
	struct _svc__DescribeServiceResponse r;
	struct soap *soap;
	int rc = 0;

	init_tls(NULL);		/* an https:// URL: as the front end */
	soap = soap_new();
	kr_soap_setup(soap, CALL_TIMEOUT_S);
	if (describe_service(soap, url, &r) < 0) {
		fprintf(stderr, "karri: %s: %s\n", url, kr_error_message());
		rc = 1;
	} else {
		printf("service=%s\nversion=%s\nstate=%s\npid=%d\nuptime=%ld\nhost=%s\n",
		    r.serviceName, r.version, r.state, r.pid, r.uptimeSeconds, r.hostName);
	}
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
	return rc;
}

static sqlite3 *
open_users(const struct options *o, struct kr_config **cfgp)
{
	struct kr_config *cfg = load_config(o);
	const char *path;
	char dir[KR_DIR_MAX], *slash;
	sqlite3 *db = NULL;

	*cfgp = cfg;
	if (cfg == NULL)
		return NULL;
	path = kr_config_get(cfg, "USERS_DB");
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		kr_mkdir_p(dir);
	}
	if (kr_userdb_open(path, &db) < 0) {
		fprintf(stderr, "karri: %s: %s\n", path, kr_error_message());
		return NULL;
	}
	return db;
}

static int
print_user(const struct kr_user *u, void *arg)
{
	(void)arg;
	printf("%-24s %s %-5s %s\n", u->name, u->account_id, u->is_admin ? "admin" : "-",
	    u->enabled ? "enabled" : "disabled");
	return 0;
}

static int
print_key(const struct kr_access_key *k, void *arg)
{
	(void)arg;
	printf("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n", k->access_key, k->secret_key);
	return 0;
}

/* karri user add NAME [--admin] | delete NAME | list | keys NAME */
static int
cmd_user(const struct options *o, int argc, char **argv)
{
	struct kr_config *cfg = NULL;
	sqlite3 *db;
	int rc = 1;

	if (argc < 1 || (strcmp(argv[0], "list") == 0 ? argc != 1 :
	    strcmp(argv[0], "add") == 0 ? (argc != 2 && !(argc == 3 &&
	    strcmp(argv[2], "--admin") == 0)) : argc != 2)) {
		fprintf(stderr, "usage: karri user add NAME [--admin] | delete NAME | list | keys NAME\n");
		return 2;
	}
	if (!(db = open_users(o, &cfg))) {
		kr_config_free(cfg);
		return 1;
	}
	if (strcmp(argv[0], "add") == 0) {
		struct kr_user u;
		struct kr_access_key k;

		if (kr_userdb_user_add(db, argv[1], argc == 3, &u) == 0 &&
		    kr_userdb_key_create(db, argv[1], &k) == 0) {
			printf("EC2_USER_ID=%s\n", u.account_id);
			print_key(&k, NULL);
			explicit_bzero(&k, sizeof(k));
			rc = 0;
		}
	} else if (strcmp(argv[0], "delete") == 0) {
		rc = kr_userdb_user_delete(db, argv[1]) == 0 ? 0 : 1;
	} else if (strcmp(argv[0], "list") == 0) {
		rc = kr_userdb_user_list(db, print_user, NULL) == 0 ? 0 : 1;
	} else if (strcmp(argv[0], "keys") == 0) {
		rc = kr_userdb_key_list(db, argv[1], print_key, NULL) == 0 ? 0 : 1;
	} else {
		fprintf(stderr, "karri: unknown user command '%s'\n", argv[0]);
		rc = 2;
	}
	if (rc == 1)
		fprintf(stderr, "karri: %s\n", kr_error_message());
	kr_userdb_close(db);
	kr_config_free(cfg);
	return rc;
}

/* The CLC's commands (karri_register.c, karri_credentials.c) */
static int
cmd_clc(const struct options *o, const char *cmd, int argc, char **argv)
{
	struct kr_config *cfg = load_config(o);
	int rc;

	if (cfg == NULL)
		return 2;
	if (strcmp(cmd, "register-cloud") == 0 || strcmp(cmd, "deregister-cloud") == 0 ||
	    strcmp(cmd, "describe-clouds") == 0)
		rc = karri_cmd_cloud(cfg, cmd, argc, argv);
	else if (strcmp(cmd, "instance-type") == 0)
		rc = karri_cmd_instance_type(cfg, argc, argv);
	else if (strcmp(cmd, "credentials") == 0)
		rc = karri_cmd_credentials(cfg, o->host, argc, argv);
	else
		rc = karri_cmd_register(cfg, cmd, argc, argv);
	kr_config_free(cfg);
	return rc;
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: karri [-f CONFIG] [-H HOST] COMMAND [ARGS]\n\n"
	    "commands:\n"
	    "  status                  every service of this front end and its nodes, up or down\n"
	    "  describe-service URL    ask one daemon's SOAP endpoint who it is\n"
	    "  user add NAME [--admin] add a user with an access key (printed)\n"
	    "  user delete NAME        delete a user and its keys\n"
	    "  user list               every user: name, account id, admin, enabled\n"
	    "  user keys NAME          a user's access and secret keys\n"
	    "  credentials USER DIR    eucarc, X.509 pair and cloud cert for a user\n"
	    "  register-cluster|register-walrus NAME HOST[:PORT]\n"
	    "  register-ebs NAME HOST[:PORT] [--zone ZONE]  the block storage of a zone (one per\n"
	    "        zone; without --zone: the only cluster's zone, or every zone if none yet)\n"
	    "  deregister-cluster|deregister-walrus|deregister-ebs NAME\n"
	    "  register-nodes|deregister-nodes CLUSTER HOST[:PORT]...\n"
	    "  describe-services       registered clusters, Walrus, EBS (with zone) and nodes\n"
	    "  instance-type list | set NAME CORES MEM_MIB DISK_GIB standard|io\n"
	    "  register-cloud NAME --endpoint URL --region R --access-key K --secret-key[-file] S\n"
	    "        [--policy explicit|overflow] [--zone Z] [--timeout S] [--image EMI=ID]...\n"
	    "        [--type LOCAL=REMOTE]...  a remote EC2 cloud as zone NAME (bursting)\n"
	    "  deregister-cloud NAME | describe-clouds\n\n"
	    "  -f, --config FILE       configuration (default $KARRI_HOME/etc/karri/karri.conf)\n"
	    "  -H, --host HOST         the front end's address (default 127.0.0.1)\n"
	    "  -V, --version           print the version\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "host", required_argument, NULL, 'H' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .host = "127.0.0.1" };
	const char *cmd;
	int c;

	while ((c = getopt_long(argc, argv, "+f:H:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': o.config_path = optarg; break;
		case 'H': o.host = optarg; break;
		case 'V': printf("karri %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "status") == 0 && optind + 1 == argc)
		return cmd_status(&o);
	if (strcmp(cmd, "describe-service") == 0 && optind + 2 == argc)
		return cmd_describe_service(argv[optind + 1]);
	if (strcmp(cmd, "user") == 0)
		return cmd_user(&o, argc - optind - 1, argv + optind + 1);
	if (strncmp(cmd, "register-", 9) == 0 || strncmp(cmd, "deregister-", 11) == 0 ||
	    strcmp(cmd, "describe-services") == 0 || strcmp(cmd, "instance-type") == 0 ||
	    strcmp(cmd, "describe-clouds") == 0 ||
	    strcmp(cmd, "credentials") == 0)
		return cmd_clc(&o, cmd, argc - optind - 1, argv + optind + 1);
	fprintf(stderr, "karri: '%s' is not a command of this version (see karri --help)\n", cmd);
	return 2;
}
