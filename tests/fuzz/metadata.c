/*
 * metadata.c - fuzz the instance metadata service as karri-clc serves it:
 * the input is what a guest sends on one connection to the CLC's HTTP
 * listener (clc_http_new: libevent's evhttp with the CLC's limits, and
 * clc_route), so every byte goes through what the daemon runs - which
 * paths are metadata (the version prefix, GET / from a guest), who asks
 * (the peer address, X-Forwarded-For from a registered cluster), IMDSv2
 * (PUT api/token and its TTL header, X-aws-ec2-metadata-token on a GET),
 * the tree lookup and listings, user data, the identity document and its
 * RSA and PKCS#7 signatures (clc/metadata*.c).  Whatever is not a metadata
 * path goes on to the Query or SOAP front end, unauthenticated, as it would.
 *
 * The CLC's sqlite state (a scratch directory) has two running instances:
 * i-00000001 at 127.0.0.1, the harness's own address, with user data, a key,
 * two groups and a volume; and i-00000002 at 10.1.0.5, reached through
 * "X-Forwarded-For: 10.1.0.5" since 127.0.0.1 is also a cluster's host.
 * "TOKEN" anywhere in the input becomes a valid IMDSv2 token of
 * i-00000001 (a fuzzer cannot forge the HMAC); the seeds
 * (tests/fuzz/mkcorpus) are the requests cloud-init's EC2 datasource,
 * botocore and curl send, recorded from a server that answered each token
 * request with "TOKEN".
 */
#include <arpa/inet.h>
#include <event2/http.h>

#include "core/buf.h"
#include "clc.h"
#include "clc_metadata.h"
#include "core/config.h"
#include "daemon/daemon.h"
#include "core/error.h"
#include "fuzz.h"
#include "sig/userdb.h"

static struct kr_daemon d = { .name = "karri-clc", .port_key = "CLC_PORT" };
static struct clc clc = { .daemon = &d, .out = KR_BUF_INIT };
static int port;

static const char rows[] =
	"INSERT INTO images (id, owner, location, created) VALUES"
	" ('emi-00000001', '000000000001', 'fuzz/image.manifest.xml', 0);"
	"INSERT INTO reservations (id, owner, created) VALUES ('r-00000001', '000000000001', 0);"
	"INSERT INTO reservation_groups (reservation_id, group_id, group_name) VALUES"
	" ('r-00000001', 'sg-00000001', 'default'), ('r-00000001', 'sg-00000002', 'web');"
	"INSERT INTO instances (id, reservation_id, owner, image_id, kernel_id, type, key_name,"
	" key_material, launch_index, state, zone, private_ip, public_ip, mac, user_data, launched,"
	" state_changed, disk_attachment) VALUES"
	" ('i-00000001', 'r-00000001', '000000000001', 'emi-00000001', 'eki-00000001', 'm1.small',"
	"  'k', 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC fuzz@karri', 0, 'running', 'zone1',"
	"  '127.0.0.1', '192.0.2.10', 'd0:0d:00:00:00:01', 'I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogZnV6ego=',"
	"  1700000000, 1700000000, 'bus=virtio backing=tap store=raw cache=none io=native'),"
	" ('i-00000002', 'r-00000001', '000000000001', 'emi-00000001', NULL, 'c1.medium', NULL,"
	"  NULL, 1, 'running', 'zone1', '10.1.0.5', NULL, 'd0:0d:00:00:00:02', NULL,"
	"  1700000000, 1700000000, 'bus=scsi');"
	"INSERT INTO volumes (id, owner, size, zone, status, created, instance_id, device,"
	" attach_status, attached) VALUES ('vol-00000001', '000000000001', 1, 'zone1', 'in-use', 0,"
	" 'i-00000001', '/dev/sdf', 'attached', 0);"
	"INSERT INTO services (kind, name, host, port, registered) VALUES"
	" ('cluster', 'zone1', '127.0.0.1', 8774, 0);";

static void
setup_config(void)
{
	const char *data = getenv("KARRI_FUZZ_DATA");
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/karri.conf", fz_tmpdir());
	if (!(f = fopen(path, "w")))
		abort();
	fprintf(f, "KARRI_HOME=\"%s\"\nKARRI_CLOUD_KEY=\"%s/cloud-key.pem\"\n"
	    "KARRI_CLOUD_CERT=\"%s/cloud-cert.pem\"\nCLC_METADATA_TOKENS=\"optional\"\n",
	    fz_tmpdir(), data ? data : "tests/fuzz/data", data ? data : "tests/fuzz/data");
	if (fclose(f) != 0 || !(d.cfg = kr_config_load(path, kr_config_keys))) {
		fprintf(stderr, "metadata: cannot load %s\n", path);
		exit(1);
	}
	clc.cfg = d.cfg;
	snprintf(d.home, sizeof(d.home), "%s", fz_tmpdir());
	d.bind_address = "127.0.0.1";
}

/* Where clc_http_new's listener ended up (port 0: any free one). */
static void
bound_port(struct evhttp_bound_socket *s, void *arg)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	(void)arg;
	if (getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[600];
	struct evhttp *http;

	(void)argc, (void)argv;
	fz_quiet();
	setup_config();
	snprintf(path, sizeof(path), "%s/clc.db", fz_tmpdir());
	if (clc_db_open(path, &clc.db) < 0 ||
	    sqlite3_exec(clc.db, rows, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "metadata: cannot set up %s: %s\n", path,
		    clc.db ? sqlite3_errmsg(clc.db) : kr_error_message());
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/users.db", fz_tmpdir());
	if (kr_userdb_open(path, &clc.users) < 0)
		abort();
	if (!(clc.base = event_base_new()) || !(http = clc_http_new(&clc, 0)))
		abort();
	evhttp_foreach_bound_socket(http, bound_port, NULL);
	if (port == 0)
		abort();
	return 0;
}

/* The input with every "TOKEN" replaced by a token of i-00000001 (malloc'd). */
static char *
with_token(const uint8_t *data, size_t size, size_t *out_len)
{
	char token[CLC_MD_TOKEN_LEN];
	struct kr_buf b = KR_BUF_INIT;
	const char *p = (const char *)data, *end = p + size, *m;
	char *r;

	if (clc_md_token_issue("i-00000001", 600, time(NULL), token) < 0)
		abort();
	while ((m = memmem(p, (size_t)(end - p), "TOKEN", 5))) {
		kr_buf_add_len(&b, p, (size_t)(m - p));
		kr_buf_add(&b, token);
		p = m + 5;
	}
	kr_buf_add_len(&b, p, (size_t)(end - p));
	if (kr_buf_failed(&b))
		abort();
	*out_len = kr_buf_len(&b);
	if (!(r = malloc(*out_len + 1)))
		abort();
	memcpy(r, kr_buf_str(&b), *out_len);
	kr_buf_free(&b);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len;
	char *s = with_token(data, size, &len);

	(void)fz_exchange(clc.base, port, s, len, 3000);
	free(s);
	return 0;
}
