/*
 * metadata.c - the EC2 instance metadata service: who asks, which version,
 * IMDSv2, and one log line per request.
 *
 * Guests ask http://169.254.169.254/<version>/... ; the CC DNATs that
 * address to the CLC's port, so the request arrives here with the guest's
 * own (private) address as its source.  That address is how the caller is
 * identified: an instance sees only its own data, and a request from an
 * address that is no running instance's gets 404.  When the peer is a
 * registered cluster's host (a CC that proxies rather than DNATs), the last
 * address of X-Forwarded-For is used instead; from anyone else that header
 * is ignored, since a guest could forge it - and a token PUT carrying it is
 * refused, as EC2 does, so a proxy inside a guest cannot fetch tokens.
 *
 * Every version EC2 has published is served, with the same tree (a newer
 * leaf under an old version harms no client); GET / from an instance lists
 * them.  IMDSv2: PUT <version>/api/token with X-aws-ec2-metadata-token-ttl-
 * seconds (1..21600) gives a token (metadata_token.c); a request carrying
 * X-aws-ec2-metadata-token must carry a valid one (else 401), and with
 * CLC_METADATA_TOKENS=required every request must.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "clc.h"
#include "clc_keys.h"
#include "clc_metadata.h"
#include "core/config.h"
#include "core/db.h"
#include "core/error.h"
#include "http/http_server.h"
#include "core/log.h"

static const char *const versions[] = { "1.0", "2007-01-19", "2007-03-01", "2007-08-29",
	"2007-10-10", "2007-12-15", "2008-02-01", "2008-09-01", "2009-04-04", "2011-01-01",
	"2011-05-01", "2012-01-12", "2014-02-25", "2014-11-05", "2015-10-20", "2016-04-19",
	"2016-06-30", "2016-09-02", "2018-03-28", "2018-08-17", "2018-09-24", "2019-10-01",
	"2020-10-27", "2021-01-03", "2021-03-23", "2021-07-15", "2022-09-24", "2024-04-11",
	"latest", NULL };

/* One request as the handlers below see it. */
struct md_req {
	struct clc *clc;
	struct evhttp_request *req;
	const char *path;		/* after the version, without the leading '/' */
	struct clc_md_instance in;
	struct kr_buf out;
	const char *type;		/* the answer's Content-Type */
};

static const char *
skip_version(const char *path)
{
	for (size_t i = 0; versions[i]; i++) {
		size_t n = strlen(versions[i]);

		if (path[0] == '/' && strncmp(path + 1, versions[i], n) == 0 &&
		    (path[n + 1] == '/' || path[n + 1] == '\0'))
			return path + n + 1;
	}
	return NULL;
}

bool
clc_metadata_path(const char *path)
{
	return skip_version(path) != NULL;
}

static bool
peer_is_cluster(sqlite3 *db, const char *peer)
{
	sqlite3_stmt *st;
	bool yes = false;

	if (kr_db_prepare(db, "SELECT 1 FROM services WHERE kind = 'cluster' AND host = ?",
	    &st) < 0)
		return false;
	sqlite3_bind_text(st, 1, peer, -1, SQLITE_STATIC);
	yes = kr_db_step(st) == 1;
	sqlite3_finalize(st);
	return yes;
}

/* The caller's address, per the rule above; false when XFF came from a non-cluster peer. */
static bool
caller_address(struct clc *clc, struct evhttp_request *req, char *out, size_t len)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const char *xff = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "X-Forwarded-For");
	char *peer = NULL;
	ev_uint16_t port;

	evhttp_connection_get_peer(conn, &peer, &port);
	snprintf(out, len, "%s", peer ? peer : "");
	if (xff && peer && peer_is_cluster(clc->db, peer)) {
		const char *last = strrchr(xff, ',');

		last = last ? last + 1 : xff;
		while (*last == ' ')
			last++;
		snprintf(out, len, "%s", last);
		return true;
	}
	return xff == NULL;
}

static const char instance_sql[] =
	"SELECT i.id, i.image_id, coalesce(i.kernel_id, ''), coalesce(i.ramdisk_id, ''),"
	" i.type, i.reservation_id, i.owner, i.zone, coalesce(i.private_ip, ''),"
	" coalesce(i.public_ip, ''), coalesce(i.mac, ''), coalesce(i.key_name, ''),"
	" coalesce(m.architecture, ''),"
	" coalesce(i.disk_attachment, ''),"
	" i.key_material, i.user_data, m.location,"
	" (SELECT group_concat(group_name, char(10)) FROM (SELECT group_name FROM"
	"  reservation_groups g WHERE g.reservation_id = i.reservation_id ORDER BY group_id)),"
	" (SELECT group_concat(group_id, char(10)) FROM (SELECT group_id FROM"
	"  reservation_groups g WHERE g.reservation_id = i.reservation_id ORDER BY group_id)),"
	" i.launch_index, coalesce(t.disk, 0), i.launched"
	" FROM instances i LEFT JOIN images m ON m.id = i.image_id"
	" LEFT JOIN instance_types t ON t.name = i.type"
	" WHERE (i.private_ip = ?1 OR i.public_ip = ?1)"
	" AND i.state IN ('pending', 'running') LIMIT 1";

static char *
dup_col(sqlite3_stmt *st, int c)
{
	const char *s = (const char *)sqlite3_column_text(st, c);

	return s ? strdup(s) : NULL;
}

/*
 * The root disk's bus from the NC's attachment word ("bus=virtio backing=tap
 * ..."; older NCs "virtio/tap"): "" while not reported, "none" for a guest
 * without disks (a container, a remote cloud's instance).
 */
static void
bus_of(char *bus, size_t len)
{
	static const char *const known[] = { "virtio", "scsi", "ide" };
	const char *word = strncmp(bus, "bus=", 4) == 0 ? bus + 4 : bus;

	if (*bus == '\0')
		return;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		size_t n = strlen(known[i]);

		if (strncmp(word, known[i], n) == 0 && strchr(" /", word[n] ? word[n] : ' ')) {
			memmove(bus, known[i], n + 1);
			return;
		}
	}
	snprintf(bus, len, "none");
}

/* The instance at addr: 1, 0 (none), -1 (database error). */
static int
load_instance(sqlite3 *db, const char *addr, struct clc_md_instance *in)
{
	char *const fixed[] = { in->id, in->image, in->kernel, in->ramdisk, in->type,
		in->reservation, in->owner, in->zone, in->priv, in->pub, in->mac, in->key_name,
		in->arch, in->bus };
	const size_t sizes[] = { sizeof(in->id), sizeof(in->image), sizeof(in->kernel),
		sizeof(in->ramdisk), sizeof(in->type), sizeof(in->reservation),
		sizeof(in->owner), sizeof(in->zone), sizeof(in->priv), sizeof(in->pub),
		sizeof(in->mac), sizeof(in->key_name), sizeof(in->arch), sizeof(in->bus) };
	const size_t nfixed = sizeof(sizes) / sizeof(sizes[0]);
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, instance_sql, &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	if ((rc = kr_db_step(st)) == 1) {
		for (size_t i = 0; i < nfixed; i++)
			snprintf(fixed[i], sizes[i], "%s", sqlite3_column_text(st, (int)i));
		in->key_material = dup_col(st, (int)nfixed);
		in->user_data = dup_col(st, (int)nfixed + 1);
		in->manifest = dup_col(st, (int)nfixed + 2);
		in->group_names = dup_col(st, (int)nfixed + 3);
		in->group_ids = dup_col(st, (int)nfixed + 4);
		in->launch_index = sqlite3_column_int(st, (int)nfixed + 5);
		in->disk_gib = sqlite3_column_int(st, (int)nfixed + 6);
		in->launched = (time_t)sqlite3_column_int64(st, (int)nfixed + 7);
		bus_of(in->bus, sizeof(in->bus));
	}
	sqlite3_finalize(st);
	return rc;
}

static void
free_instance(struct clc_md_instance *in)
{
	free(in->key_material);
	free(in->user_data);
	free(in->manifest);
	free(in->group_names);
	free(in->group_ids);
}

/* User data is stored as the base64 the client sent; the guest gets the bytes. */
static int
user_data(struct md_req *m)
{
	const char *b64 = m->in.user_data;
	unsigned char *raw;
	int n;

	if (b64 == NULL || *b64 == '\0' || (raw = malloc(strlen(b64))) == NULL)
		return 404;
	n = clc_base64_decode(b64, raw, strlen(b64));
	if (n >= 0)
		kr_buf_add_len(&m->out, raw, (size_t)n);
	free(raw);
	m->type = "application/octet-stream";
	return n < 0 ? 500 : 200;
}

/* A leaf the tree leaves to us: user data, or a signature of the document. */
static int
dynamic_leaf(struct md_req *m, const struct clc_md_tree *t)
{
	struct kr_buf doc = KR_BUF_INIT;
	const char *name = strrchr(m->path, '/');
	int status = 404;

	if (strncmp(m->path, "user-data", 9) == 0)
		return user_data(m);
	name = name ? name + 1 : m->path;
	if (clc_md_tree_answer(t, "dynamic/instance-identity/document", &doc) == 200 &&
	    clc_md_identity_sign(m->clc->cfg, kr_buf_str(&doc), strcmp(name, "signature") == 0 ?
	    CLC_MD_SIG_RSA : CLC_MD_SIG_PKCS7, &m->out) == 0)
		status = 200;
	kr_buf_free(&doc);
	return status;
}

static int
answer_get(struct md_req *m)
{
	struct clc_md_tree *t = malloc(sizeof(*t));
	int status;

	if (t == NULL)
		return 500;
	clc_md_tree_build(m->clc->db, &m->in, m->clc->cfg, t);
	status = clc_md_tree_answer(t, m->path, &m->out);
	if (status == 0)
		status = dynamic_leaf(m, t);
	clc_md_tree_free(t);
	free(t);
	return status;
}

/* PUT api/token: a token for the caller, good for the seconds it asked. */
static int
answer_token(struct md_req *m)
{
	struct evkeyvalq *hdrs = evhttp_request_get_input_headers(m->req);
	const char *ttl_s = evhttp_find_header(hdrs, "X-aws-ec2-metadata-token-ttl-seconds");
	char token[CLC_MD_TOKEN_LEN], *end;
	long ttl;

	if (ttl_s == NULL)
		return 400;
	ttl = strtol(ttl_s, &end, 10);
	if (end == ttl_s || *end || ttl < 1 || ttl > CLC_MD_TOKEN_MAX_TTL)
		return 400;
	if (clc_md_token_issue(m->in.id, ttl, time(NULL), token) < 0)
		return 500;
	kr_buf_add(&m->out, token);
	evhttp_add_header(evhttp_request_get_output_headers(m->req),
	    "X-aws-ec2-metadata-token-ttl-seconds", ttl_s);
	return 200;
}

/* IMDSv2 rules for a GET: 0 to go on, or the status to answer. */
static int
check_token(struct md_req *m)
{
	const char *token = evhttp_find_header(evhttp_request_get_input_headers(m->req),
	    "X-aws-ec2-metadata-token");
	const char *mode = kr_config_get(m->clc->cfg, "CLC_METADATA_TOKENS");

	if (token)
		return clc_md_token_valid(token, m->in.id, time(NULL)) ? 0 : 401;
	return mode && strcmp(mode, "required") == 0 ? 401 : 0;
}

static int
dispatch(struct md_req *m, bool xff_ok)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(m->req);
	bool is_token = strcmp(m->path, "api/token") == 0;
	int status;

	if (cmd == EVHTTP_REQ_PUT) {
		if (!is_token)
			return 405;
		return xff_ok ? answer_token(m) : 403;
	}
	if (is_token)
		return 405;
	if ((status = check_token(m)) != 0)
		return status;
	return answer_get(m);
}

static void
versions_list(struct kr_buf *out)
{
	for (size_t i = 0; versions[i]; i++)
		kr_buf_addf(out, "%s%s", i ? "\n" : "", versions[i]);
}

static void
send_answer(struct md_req *m, int status)
{
	static const struct { int status; const char *text; } texts[] = {
		{ 400, "Bad Request\n" }, { 401, "Unauthorized\n" }, { 403, "Forbidden\n" },
		{ 404, "Not Found\n" }, { 405, "Method Not Allowed\n" },
		{ 500, "Internal Server Error\n" },
	};

	if (status != 200) {
		kr_buf_reset(&m->out);
		m->type = "text/plain";
		for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
			if (texts[i].status == status)
				kr_buf_add(&m->out, texts[i].text);
	}
	kr_http_reply(m->req, status, m->type, &m->out);
}

void
clc_metadata_handle(struct clc *clc, struct evhttp_request *req)
{
	const char *uri_path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	const char *rest = skip_version(uri_path);
	struct md_req m = { .clc = clc, .req = req, .out = KR_BUF_INIT, .type = "text/plain" };
	char addr[64];
	bool xff_ok = caller_address(clc, req, addr, sizeof(addr));
	int status, found = load_instance(clc->db, addr, &m.in);

	m.path = rest ? rest + (*rest == '/') : "";
	if (found < 0)
		status = 500;
	else if (found == 0)
		status = 404;
	else if (rest == NULL) {	/* GET /: the versions */
		versions_list(&m.out);
		status = 200;
	} else
		status = dispatch(&m, xff_ok);
	kr_log_info("metadata: %s %s %s %s %d", found == 1 ? m.in.id : "-", addr,
	    evhttp_request_get_command(req) == EVHTTP_REQ_PUT ? "PUT" : "GET", uri_path, status);
	send_answer(&m, status);
	kr_buf_free(&m.out);
	free_instance(&m.in);
}

/*
 * GET / with no query, no body and no signature, from a running instance's
 * address: a guest asking for the metadata versions, not an EC2 client (an
 * EC2 request always carries Action).  Anything else at / is the EC2 API.
 */
bool
clc_metadata_root(struct clc *clc, struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct clc_md_instance in = { 0 };
	char addr[64];
	int found;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET ||
	    strcmp(evhttp_uri_get_path(uri), "/") != 0 || evhttp_uri_get_query(uri) ||
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization") ||
	    evbuffer_get_length(evhttp_request_get_input_buffer(req)) > 0)
		return false;
	caller_address(clc, req, addr, sizeof(addr));
	found = load_instance(clc->db, addr, &in);
	free_instance(&in);
	return found == 1;
}
