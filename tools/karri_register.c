/*
 * karri_register.c - `karri register-* / deregister-* / describe-*` and
 * `karri instance-type`.
 *
 * Registration writes the CLC's own tables in clc.db (CLC_DB) directly:
 * `karri` runs on the front end, next to the CLC, and sqlite's WAL lets
 * both write; the CLC rereads the services table on every poll (5 s), so
 * no CLC round trip is needed and registration works with the CLC down.
 * Nodes are also registered with their CC (RegisterNodes), which polls them.
 * An EBS serves one availability zone (--zone; the rules in karri_ebs.c).
 *
 * Internal TLS (common/tls/tls.h).  Each registered cluster, EBS, Walrus and
 * node gets a key and certificate from the cloud CA under
 * $KARRI_HOME/var/lib/karri/keys/: <kind>-<name>-cert.pem and -pk.pem,
 * a TLS certificate (serverAuth+clientAuth) with CN <kind>:<name>@<host>,
 * which servers match against who may call them, and the registered host
 * as subjectAltName (IP: or DNS:), which clients check.  When that host is an address of this machine (the front end) the
 * pair is also installed as <role>-cert.pem / <role>-pk.pem (cluster, node,
 * ebs), where the daemon looks; for another host the admin copies the pair
 * under those names, plus keys/ca-cert.pem, to that host's keys/ (the
 * command prints what to copy).  The services table records how the CLC
 * reaches each component: https, or http when this karri.conf has
 * KARRI_INSECURE_HTTP="Y" (re-registering updates it).
 */
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "karriH.h"
#include "clc.h"
#include "core/config.h"
#include "daemon/daemon.h"
#include "core/db.h"
#include "core/error.h"
#include "http/http_server.h"
#include "karri_cmds.h"
#include "core/sizes.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

sqlite3 *
karri_open_clc_db(struct kr_config *cfg)
{
	const char *path = kr_config_get(cfg, "CLC_DB");
	char dir[KR_DIR_MAX], *slash;
	sqlite3 *db = NULL;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		kr_mkdir_p(dir);
	}
	if (clc_db_open(path, &db) < 0) {
		fprintf(stderr, "karri: %s: %s\n", path, kr_error_message());
		return NULL;
	}
	return db;
}

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"

/* Names become zone names and file names: letters, digits, '.', '-', '_'. */
static bool
name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < 64 && s[0] != '.' && strspn(s, NAME_CHARS "_") == n;
}

/* "host" or "host:port" -> host and port (def when absent); -1 when malformed. */
static int
split_host(const char *s, char *host, size_t len, long def, long *port)
{
	const char *colon = strrchr(s, ':');
	char *end;

	*port = def;
	if (colon) {
		*port = strtol(colon + 1, &end, 10);
		if (*end || *port < 1 || *port > 65535)
			return -1;
	}
	snprintf(host, len, "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
	return *host && strspn(host, NAME_CHARS) == strlen(host) ? 0 : -1;
}

/* True when host is an address of this machine: it binds. */
bool
karri_host_is_local(const char *host)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai = NULL;
	bool local = false;
	int fd;

	if (getaddrinfo(host, NULL, &hints, &ai) != 0)
		return false;
	fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	local = fd >= 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return local;
}

/* Copy a PEM file atomically, keeping keys private. */
static int
copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[16384], tmp[1300];
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
	ssize_t n = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", to);
	if (in >= 0 && (out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) >= 0) {
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n)
				break;
		rc = n == 0 && close(out) == 0 && rename(tmp, to) == 0 ? 0 : -1;
		out = -1;
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (rc < 0) {
		fprintf(stderr, "karri: cannot install %s as %s\n", from, to);
		unlink(tmp);
	}
	return rc;
}

/* The name the daemon of `kind` looks for its certificate under (common/tls/tls.c). */
static const char *
tls_role(const char *kind)
{
	return strcmp(kind, "walrus") == 0 ? NULL : kind;	/* cluster, node, ebs */
}

static int
issue_component_cert(struct kr_config *cfg, const char *kind, const char *name,
    const char *host)
{
	const char *home = kr_config_get(cfg, "KARRI_HOME"), *role = tls_role(kind);
	char dir[KR_DIR_MAX], cert[1200], key[1200], cn[400], san[300], to[1300];
	struct in6_addr a;
	struct karri_ca ca;
	int rc;

	home = home && strcmp(home, "/") ? home : "";
	if (karri_ca_load(home, &ca) < 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s/var/lib/karri/keys", home);
	kr_mkdir_p(dir);
	snprintf(cert, sizeof(cert), "%s/%s-%s-cert.pem", dir, kind, name);
	snprintf(key, sizeof(key), "%s/%s-%s-pk.pem", dir, kind, name);
	snprintf(cn, sizeof(cn), "%s:%s@%s", kind, name, host);
	/* What a client checks the server against: the host it was registered at. */
	snprintf(san, sizeof(san), "%s:%s", inet_pton(AF_INET, host, &a) == 1 ||
	    inet_pton(AF_INET6, host, &a) == 1 ? "IP" : "DNS", host);
	rc = karri_ca_issue_san(&ca, cn, san, cert, key);
	karri_ca_free(&ca);
	if (rc < 0)
		return -1;
	printf("certificate for %s %s: %s (key %s)\n", kind, name, cert, key);
	if (role == NULL)
		return 0;
	if (karri_host_is_local(host)) {
		snprintf(to, sizeof(to), "%s/%s-cert.pem", dir, role);
		if (copy_file(cert, to, 0644) < 0)
			return -1;
		snprintf(to, sizeof(to), "%s/%s-pk.pem", dir, role);
		if (copy_file(key, to, 0600) < 0)
			return -1;
		printf("installed as %s/%s-cert.pem and %s-pk.pem for the %s on this host\n", dir,
		    role, role, kind);
	} else {
		printf("copy to %s's %s/: %s as %s-cert.pem, %s as %s-pk.pem (mode 0600), "
		    "%s/ca-cert.pem\n", host, KR_TLS_KEYS, cert, role, key, role, dir);
	}
	return 0;
}

/*
 * How the CLC will reach what is registered now: this karri.conf says
 * (tls.h).  Walrus is S3 over plain HTTP (its own signatures), not SOAP.
 */
static const char *
scheme(struct kr_config *cfg, const char *kind)
{
	return strcmp(kind, "walrus") == 0 || kr_config_bool(cfg, "KARRI_INSECURE_HTTP") ?
	    "http" : "https";
}

/* Run sql with ?1..?3 = a, b, c, ?4 = n, ?5 = now, ?6 = e. */
static int
exec_sql(sqlite3 *db, const char *sql, const char *a, const char *b, const char *c, long n,
    const char *e)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, sql, &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, n);
	sqlite3_bind_int64(st, 5, (long)time(NULL));
	sqlite3_bind_text(st, 6, e, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : sqlite3_changes(db);
}

/* zone: the zone an EBS serves (karri_ebs.c), '' for the other kinds. */
static int
register_service(sqlite3 *db, struct kr_config *cfg, const char *kind, const char *name,
    const char *where, const char *port_key, const char *zone)
{
	char host[256];
	sqlite3_stmt *st;
	long port;
	int rc;

	if (!name_ok(name) ||
	    split_host(where, host, sizeof(host), kr_config_int(cfg, port_key), &port) < 0) {
		fprintf(stderr, "karri: bad name or HOST[:PORT]: %s %s\n", name, where);
		return 2;
	}
	if (kr_db_prepare(db, "INSERT INTO services (kind, name, host, port, registered, scheme,"
	    " zone) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (kind, name) DO UPDATE SET"
	    " host = ?3, port = ?4, scheme = ?6, zone = ?7", &st) < 0) {
		fprintf(stderr, "karri: %s\n", kr_error_message());
		return 1;
	}
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, port);
	sqlite3_bind_int64(st, 5, (long)time(NULL));
	sqlite3_bind_text(st, 6, scheme(cfg, kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, zone, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	if (rc < 0) {
		fprintf(stderr, "karri: %s\n", kr_error_message());
		return 1;
	}
	printf("registered %s %s at %s://%s:%ld%s%s\n", kind, name, scheme(cfg, kind), host,
	    port, strcmp(kind, "ebs") ? "" : " for zone ", strcmp(kind, "ebs") ? "" :
	    *zone ? zone : "* (every zone without its own EBS)");
	return issue_component_cert(cfg, kind, name, host) < 0 ? 1 : 0;
}

static int
print_services(sqlite3 *db)
{
	sqlite3_stmt *st;

	/* An EBS with the zone it serves ("*": every zone without its own). */
	if (kr_db_prepare(db, "SELECT kind, name, host, port, scheme, CASE kind WHEN 'ebs' THEN"
	    " ' zone=' || CASE zone WHEN '' THEN '*' ELSE zone END ELSE '' END FROM services"
	    " ORDER BY kind, name", &st) < 0)
		return 1;
	while (kr_db_step(st) == 1)
		printf("%-8s %-20s %s:%d %s%s\n", sqlite3_column_text(st, 0),
		    sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
		    sqlite3_column_int(st, 3), sqlite3_column_text(st, 4),
		    sqlite3_column_text(st, 5));
	sqlite3_finalize(st);
	if (kr_db_prepare(db, "SELECT cluster, host FROM nodes ORDER BY cluster, host", &st) < 0)
		return 1;
	while (kr_db_step(st) == 1)
		printf("%-8s %-20s %s\n", "node", sqlite3_column_text(st, 0),
		    sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	return 0;
}

/* Tell the cluster's CC about its nodes; a CC that is down is reported, not fatal. */
static int
tell_cc(sqlite3 *db, const char *cluster, char **nodes, int n, bool add)
{
	char url[400] = "", corr[KR_UUID_MAX];
	struct soap *soap;
	sqlite3_stmt *st;
	int rc = 1;

	if (kr_db_prepare(db, "SELECT host, port, scheme FROM services WHERE kind = 'cluster'"
	    " AND name = ?", &st) < 0)
		return 1;
	sqlite3_bind_text(st, 1, cluster, -1, SQLITE_STATIC);
	if (kr_db_step(st) == 1)
		snprintf(url, sizeof(url), "%s://%s:%d/", sqlite3_column_text(st, 2),
		    sqlite3_column_text(st, 0), sqlite3_column_int(st, 1));
	sqlite3_finalize(st);
	if (!*url) {
		fprintf(stderr, "karri: no cluster %s is registered\n", cluster);
		return 1;
	}
	soap = soap_new();
	kr_soap_setup(soap, 10);
	kr_http_request_id(corr);
	if (add) {
		struct _cc__RegisterNodes req = { corr, "karri-admin", n, nodes };
		struct _cc__RegisterNodesResponse resp = { 0 };

		rc = kr_soap_error_read(soap, soap_call___cc__RegisterNodes(soap, url, NULL, &req,
		    &resp), &resp._return, &resp.statusMessage, NULL, "RegisterNodes", url) ? 1 : 0;
	} else {
		struct _cc__DeregisterNodes req = { corr, "karri-admin", n, nodes };
		struct _cc__DeregisterNodesResponse resp = { 0 };

		rc = kr_soap_error_read(soap, soap_call___cc__DeregisterNodes(soap, url, NULL, &req,
		    &resp), &resp._return, &resp.statusMessage, NULL, "DeregisterNodes", url) ? 1 : 0;
	}
	if (rc)
		fprintf(stderr, "karri: the cluster controller at %s did not take the change "
		    "(%s); it is recorded and can be repeated\n", url, kr_error_message());
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
	return rc;
}

static int
nodes(sqlite3 *db, struct kr_config *cfg, bool add, int argc, char **argv)
{
	char host[256];
	long port;

	for (int i = 1; i < argc; i++) {
		if (split_host(argv[i], host, sizeof(host), kr_config_int(cfg, "NC_PORT"),
		    &port) < 0) {
			fprintf(stderr, "karri: bad node address %s\n", argv[i]);
			return 2;
		}
		if (exec_sql(db, add ? "INSERT OR IGNORE INTO nodes (cluster, host, registered)"
		    " VALUES (?1, ?2, ?5)" : "DELETE FROM nodes WHERE cluster = ?1 AND host = ?2",
		    argv[0], argv[i], NULL, 0, NULL) < 0) {
			fprintf(stderr, "karri: %s\n", kr_error_message());
			return 1;
		}
		if (add && issue_component_cert(cfg, "node", argv[i], host) < 0)
			return 1;
	}
	return tell_cc(db, argv[0], argv + 1, argc - 1, add);
}

int
karri_cmd_register(struct kr_config *cfg, const char *cmd, int argc, char **argv)
{
	static const struct { const char *cmd, *kind, *port_key; } kinds[] = {
		{ "cluster", "cluster", "CC_PORT" }, { "walrus", "walrus", "WALRUS_PORT" },
		{ "ebs", "ebs", "EBS_PORT" },
	};
	bool reg = strncmp(cmd, "register-", 9) == 0;
	const char *what = strchr(cmd, '-') + 1, *asked = NULL;
	bool ebs = strcmp(what, "ebs") == 0;
	char zone[64] = "";
	sqlite3 *db;
	int rc = 2;

	if (ebs && reg && karri_ebs_zone_arg(&argc, argv, &asked) < 0)
		goto usage;
	if ((db = karri_open_clc_db(cfg)) == NULL)
		return 1;
	/* An EBS: one per zone, kept while it holds volumes (karri_ebs.c). */
	if (ebs && (reg ? karri_ebs_zone(db, argc, argv, asked, zone, sizeof(zone)) :
	    karri_ebs_may_deregister(db, argc, argv)) < 0) {
		rc = 1;
		goto done;
	}
	if (strcmp(cmd, "describe-services") == 0 && argc == 0)
		rc = print_services(db);
	else if (strcmp(what, "nodes") == 0 && argc >= 2 && name_ok(argv[0]))
		rc = nodes(db, cfg, reg, argc, argv);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && rc == 2; i++) {
		if (strcmp(what, kinds[i].cmd) != 0)
			continue;
		if (reg && argc == 2)
			rc = register_service(db, cfg, kinds[i].kind, argv[0], argv[1],
			    kinds[i].port_key, zone);
		else if (!reg && argc == 1) {
			int n = exec_sql(db, "DELETE FROM services WHERE kind = ?1 AND name = ?2",
			    kinds[i].kind, argv[0], NULL, 0, NULL);

			rc = n == 1 ? 0 : 1;
			if (n == 0)
				fprintf(stderr, "karri: no %s %s is registered\n", what, argv[0]);
		}
	}
done:
	kr_db_close(db);
	if (rc != 2)
		return rc;
usage:
	fprintf(stderr, "usage: karri register-cluster|register-walrus NAME HOST[:PORT]\n"
	    "       karri register-ebs NAME HOST[:PORT] [--zone ZONE]\n"
	    "       karri deregister-cluster|deregister-walrus|deregister-ebs NAME\n"
	    "       karri register-nodes|deregister-nodes CLUSTER HOST[:PORT]...\n"
	    "       karri describe-services\n");
	return 2;
}

/* karri instance-type list | set NAME CORES MEMORY_MIB DISK_GIB IO_CLASS */
int
karri_cmd_instance_type(struct kr_config *cfg, int argc, char **argv)
{
	sqlite3 *db = karri_open_clc_db(cfg);
	sqlite3_stmt *st;
	int rc = 1;

	if (db == NULL)
		return 1;
	if (argc == 1 && strcmp(argv[0], "list") == 0 &&
	    kr_db_prepare(db, "SELECT name, cores, memory, disk, io_class FROM instance_types"
	    " ORDER BY sort", &st) == 0) {
		printf("%-12s %5s %8s %6s %s\n", "TYPE", "CORES", "MEM(MiB)", "DISK", "IO");
		while (kr_db_step(st) == 1)
			printf("%-12s %5d %8d %6d %s\n", sqlite3_column_text(st, 0),
			    sqlite3_column_int(st, 1), sqlite3_column_int(st, 2),
			    sqlite3_column_int(st, 3), sqlite3_column_text(st, 4));
		sqlite3_finalize(st);
		rc = 0;
	} else if (argc == 6 && strcmp(argv[0], "set") == 0 &&
	    kr_db_prepare(db, "UPDATE instance_types SET cores = ?2, memory = ?3, disk = ?4,"
	    " io_class = ?5 WHERE name = ?1", &st) == 0) {
		sqlite3_bind_text(st, 1, argv[1], -1, SQLITE_STATIC);
		for (int i = 2; i <= 4; i++)
			sqlite3_bind_int64(st, i, strtol(argv[i], NULL, 10));
		sqlite3_bind_text(st, 5, argv[5], -1, SQLITE_STATIC);
		rc = kr_db_step(st) < 0 ? 1 : sqlite3_changes(db) == 1 ? 0 : 1;
		if (rc)
			fprintf(stderr, "karri: %s\n", *kr_error_message() ? kr_error_message() :
			    "no such instance type (the five are m1.small c1.medium m1.large "
			    "m1.xlarge c1.xlarge)");
		sqlite3_finalize(st);
	} else {
		fprintf(stderr, "usage: karri instance-type list | set NAME CORES MEMORY_MIB "
		    "DISK_GIB standard|io\n");
		rc = 2;
	}
	kr_db_close(db);
	return rc;
}
