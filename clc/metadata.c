/*
 * metadata.c - the EC2 instance metadata service.
 *
 * Guests ask http://169.254.169.254/<version>/meta-data/... ; the CC DNATs
 * that address to the CLC's port, so the request arrives here with the
 * guest's own (private) address as its source.  That address is how the
 * caller is identified: an instance sees only its own data, and a request
 * from an address that is no running instance's gets 404.  When the peer is
 * a registered cluster's host (a CC that proxies rather than DNATs), the
 * last address of X-Forwarded-For is used instead; from anyone else that
 * header is ignored, since a guest could forge it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "clc.h"
#include "clc_keys.h"
#include "db.h"
#include "error.h"
#include "http_server.h"
#include "log.h"

static const char *const versions[] = { "latest", "1.0", "2007-01-19", "2007-03-01",
	"2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01", "2008-09-01", "2009-04-04",
	NULL };

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

/* The caller's address, per the rule above. */
static void
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
	}
}

static const char instance_cols[] =
	"SELECT i.id, i.image_id, i.launch_index, i.type, i.private_ip, i.public_ip,"
	" i.key_name, i.key_material, i.zone, i.reservation_id, i.kernel_id, i.ramdisk_id,"
	" i.mac, i.user_data,"
	" (SELECT group_concat(group_name, char(10)) FROM reservation_groups g"
	"  WHERE g.reservation_id = i.reservation_id)"
	" FROM instances i WHERE (i.private_ip = ?1 OR i.public_ip = ?1)"
	" AND i.state IN ('pending', 'running') LIMIT 1";

enum { C_ID, C_AMI, C_INDEX, C_TYPE, C_PRIV, C_PUB, C_KEY, C_KEYMAT, C_ZONE, C_RES,
	C_KERNEL, C_RAMDISK, C_MAC, C_USERDATA, C_GROUPS };

static const struct {
	const char *name;
	int col;
} leaves[] = {
	{ "ami-id", C_AMI }, { "ami-launch-index", C_INDEX }, { "hostname", C_PRIV },
	{ "instance-id", C_ID }, { "instance-type", C_TYPE }, { "kernel-id", C_KERNEL },
	{ "local-hostname", C_PRIV }, { "local-ipv4", C_PRIV }, { "mac", C_MAC },
	{ "public-hostname", C_PUB }, { "public-ipv4", C_PUB }, { "ramdisk-id", C_RAMDISK },
	{ "reservation-id", C_RES }, { "security-groups", C_GROUPS },
	{ "placement/availability-zone", C_ZONE },
};

static const char *
col(sqlite3_stmt *st, int c)
{
	return (const char *)sqlite3_column_text(st, c);
}

/* The text for a path under meta-data/, or -1 for 404. */
static int
meta_data(sqlite3_stmt *st, const char *rest, struct kr_buf *out)
{
	if (*rest == '\0') {
		for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++)
			if (!strchr(leaves[i].name, '/') && col(st, leaves[i].col))
				kr_buf_addf(out, "%s\n", leaves[i].name);
		kr_buf_add(out, "placement/\n");
		if (col(st, C_KEY))
			kr_buf_add(out, "public-keys/\n");
		return 0;
	}
	if (strcmp(rest, "placement") == 0 || strcmp(rest, "placement/") == 0) {
		kr_buf_add(out, "availability-zone");
		return 0;
	}
	if (col(st, C_KEY) && strncmp(rest, "public-keys", 11) == 0) {
		rest += 11;
		if (*rest == '\0' || strcmp(rest, "/") == 0)
			kr_buf_addf(out, "0=%s", col(st, C_KEY));
		else if (strcmp(rest, "/0") == 0 || strcmp(rest, "/0/") == 0)
			kr_buf_add(out, "openssh-key");
		else if (strcmp(rest, "/0/openssh-key") == 0 && col(st, C_KEYMAT))
			kr_buf_addf(out, "%s\n", col(st, C_KEYMAT));
		else
			return -1;
		return 0;
	}
	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++)
		if (strcmp(rest, leaves[i].name) == 0 && col(st, leaves[i].col)) {
			kr_buf_add(out, col(st, leaves[i].col));
			return 0;
		}
	return -1;
}

/* User data is stored as the base64 the client sent; the guest gets the bytes. */
static int
user_data(sqlite3_stmt *st, struct kr_buf *out)
{
	const char *b64 = col(st, C_USERDATA);
	unsigned char *raw;
	int n;

	if (b64 == NULL || *b64 == '\0')
		return -1;
	raw = malloc(strlen(b64));
	if (raw == NULL)
		return -1;
	n = clc_base64_decode(b64, raw, strlen(b64));
	if (n >= 0)
		kr_buf_add_len(out, raw, (size_t)n);
	free(raw);
	return n < 0 ? -1 : 0;
}

void
clc_metadata_handle(struct clc *clc, struct evhttp_request *req)
{
	const char *path = skip_version(evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req)));
	struct kr_buf out = KR_BUF_INIT;
	sqlite3_stmt *st = NULL;
	char addr[64];
	int rc = -1;

	caller_address(clc, req, addr, sizeof(addr));
	if (kr_db_prepare(clc->db, instance_cols, &st) < 0)
		goto done;
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	if (kr_db_step(st) != 1) {
		kr_log_info("metadata: %s is no running instance's address", addr);
		goto done;
	}
	if (*path == '\0' || strcmp(path, "/") == 0) {
		kr_buf_add(&out, "meta-data\nuser-data");
		rc = 0;
	} else if (strncmp(path, "/meta-data", 10) == 0 &&
	    (path[10] == '\0' || path[10] == '/'))
		rc = meta_data(st, path[10] ? path + 11 : "", &out);
	else if (strcmp(path, "/user-data") == 0 || strcmp(path, "/user-data/") == 0)
		rc = user_data(st, &out);
done:
	sqlite3_finalize(st);
	if (rc == 0)
		kr_http_reply(req, 200, "text/plain", &out);
	else {
		kr_buf_reset(&out);
		kr_buf_add(&out, "not found\n");
		kr_http_reply(req, 404, "text/plain", &out);
	}
	kr_buf_free(&out);
}
