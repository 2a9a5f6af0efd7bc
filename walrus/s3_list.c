/*
 * s3_list.c - ListObjects (v1) and ListObjectsV2: prefix, delimiter
 * (common prefixes), marker / start-after / continuation-token, max-keys
 * (at most 1000), encoding-type=url (awscli always asks for it).
 *
 * Keys are compared as bytes (sqlite's BINARY collation), which is S3's
 * UTF-8 binary order.  A continuation token is the hex of the last key
 * or common prefix returned, so it is opaque and safe in any URL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/error.h"
#include "core/uri.h"
#include "walrus.h"

struct listing {
	const char *prefix, *delimiter, *after;
	bool v2, url, fetch_owner;
	long max_keys;
};

static void
add_text(struct kr_buf *b, const struct listing *l, const char *tag, const char *s)
{
	struct kr_buf enc = KR_BUF_INIT;

	if (!l->url) {
		kr_buf_add_xml_elem(b, tag, s);
		return;
	}
	kr_uri_encode(&enc, s, strlen(s), KR_URI_KEEP_SLASH);
	kr_buf_add_xml_elem(b, tag, kr_buf_str(&enc));
	kr_buf_free(&enc);
}

static char *
hex_encode(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(2 * n + 1);

	for (size_t i = 0; out && i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", (unsigned char)s[i]);
	if (out)
		out[2 * n] = '\0';
	return out;
}

static char *
hex_decode(const char *s)
{
	size_t n = strlen(s);
	char *out;

	if (n % 2 || !(out = malloc(n / 2 + 1)))
		return NULL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1 || v == 0) {
			free(out);
			return NULL;
		}
		out[i] = (char)v;
	}
	out[n / 2] = '\0';
	return out;
}

static void
add_contents(struct kr_buf *b, const struct listing *l, sqlite3_stmt *st, const char *key)
{
	char when[32];

	wl_time_iso((time_t)sqlite3_column_int64(st, 3), when);
	kr_buf_add(b, "<Contents>");
	add_text(b, l, "Key", key);
	kr_buf_add_xml_elem(b, "LastModified", when);
	kr_buf_add_xml_elem(b, "ETag", (const char *)sqlite3_column_text(st, 2));
	kr_buf_addf(b, "<Size>%lld</Size>", (long long)sqlite3_column_int64(st, 1));
	kr_buf_add(b, "<StorageClass>STANDARD</StorageClass>");
	if (!l->v2 || l->fetch_owner) {
		kr_buf_add(b, "<Owner>");
		kr_buf_add_xml_elem(b, "ID", (const char *)sqlite3_column_text(st, 5));
		kr_buf_add_xml_elem(b, "DisplayName", (const char *)sqlite3_column_text(st, 4));
		kr_buf_add(b, "</Owner>");
	}
	kr_buf_add(b, "</Contents>");
}

/* Walk the keys after l->after; entries into items, returns the count or -1. */
static int
walk(struct wl_req *rq, const struct listing *l, struct kr_buf *items, bool *truncated,
    char **last)
{
	sqlite3_stmt *st = NULL;
	size_t pl = strlen(l->prefix), dl = strlen(l->delimiter);
	char *cp = NULL;	/* the last common prefix emitted */
	int count = 0, r;

	*truncated = false;
	*last = NULL;
	if (kr_db_prepare(rq->w->db, "SELECT key, size, etag, modified, owner, owner_id"
	    " FROM objects WHERE bucket = ? AND key > ? AND key >= ? ORDER BY key", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, rq->bucket, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, l->after, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, l->prefix, -1, SQLITE_STATIC);
	/* A marker that is a common prefix: skip its keys too. */
	if (dl && strncmp(l->after, l->prefix, pl) == 0) {
		const char *d = strstr(l->after + pl, l->delimiter);
		if (d && d[dl] == '\0')
			cp = strdup(l->after);
	}
	while ((r = kr_db_step(st)) == 1) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *d;

		if (strncmp(key, l->prefix, pl) != 0)
			break;	/* past the prefix range */
		if (cp && strncmp(key, cp, strlen(cp)) == 0)
			continue;
		if (count == l->max_keys) {
			*truncated = true;
			break;
		}
		if (dl && (d = strstr(key + pl, l->delimiter))) {
			free(cp);
			cp = strndup(key, (size_t)(d - key) + dl);
			kr_buf_add(items, "<CommonPrefixes>");
			add_text(items, l, "Prefix", cp);
			kr_buf_add(items, "</CommonPrefixes>");
			free(*last);
			*last = strdup(cp);
		} else {
			add_contents(items, l, st, key);
			free(*last);
			*last = strdup(key);
		}
		count++;
	}
	free(cp);
	sqlite3_finalize(st);
	return r < 0 ? -1 : count;
}

void
wl_list_objects(struct wl_req *rq, const struct wl_bucket *b)
{
	struct listing l = { 0 };
	struct kr_buf out = KR_BUF_INIT, items = KR_BUF_INIT;
	const char *mk = wl_query(rq, "max-keys"), *token = wl_query(rq, "continuation-token");
	const char *enc = wl_query(rq, "encoding-type");
	char *after = NULL, *last = NULL, *tok;
	bool truncated;
	int n;

	if (!wl_acl_allows(rq, b->owner, b->acl, WL_READ)) {
		wl_error(rq, 403, "AccessDenied", "Access Denied");
		return;
	}
	l.v2 = wl_query(rq, "list-type") && strcmp(wl_query(rq, "list-type"), "2") == 0;
	l.prefix = wl_query(rq, "prefix") ? wl_query(rq, "prefix") : "";
	l.delimiter = wl_query(rq, "delimiter") ? wl_query(rq, "delimiter") : "";
	l.url = enc && strcmp(enc, "url") == 0;
	l.fetch_owner = wl_query(rq, "fetch-owner") && strcmp(wl_query(rq, "fetch-owner"), "true") == 0;
	l.max_keys = 1000;
	if (enc && !l.url) {
		wl_error(rq, 400, "InvalidArgument", "Invalid Encoding Method specified in Request");
		return;
	}
	if (mk) {
		char *e;
		l.max_keys = strtol(mk, &e, 10);
		if (*e || e == mk || l.max_keys < 0) {
			wl_error(rq, 400, "InvalidArgument", "max-keys must be a non-negative integer");
			return;
		}
		if (l.max_keys > 1000)
			l.max_keys = 1000;
	}
	if (l.v2 && token) {
		if (!(after = hex_decode(token))) {
			wl_error(rq, 400, "InvalidArgument", "The continuation token provided is incorrect");
			return;
		}
	} else if (l.v2)
		after = strdup(wl_query(rq, "start-after") ? wl_query(rq, "start-after") : "");
	else
		after = strdup(wl_query(rq, "marker") ? wl_query(rq, "marker") : "");
	l.after = after ? after : "";
	n = walk(rq, &l, &items, &truncated, &last);
	if (n < 0) {
		wl_error_from_kr(rq);
		goto out;
	}
	wl_xml_start(&out, "ListBucketResult");
	kr_buf_add_xml_elem(&out, "Name", b->name);
	add_text(&out, &l, "Prefix", l.prefix);
	if (l.v2) {
		if (token)
			kr_buf_add_xml_elem(&out, "ContinuationToken", token);
		if (wl_query(rq, "start-after"))
			add_text(&out, &l, "StartAfter", wl_query(rq, "start-after"));
		kr_buf_addf(&out, "<KeyCount>%d</KeyCount>", n);
	} else
		add_text(&out, &l, "Marker", l.after);
	kr_buf_addf(&out, "<MaxKeys>%ld</MaxKeys>", l.max_keys);
	if (*l.delimiter)
		add_text(&out, &l, "Delimiter", l.delimiter);
	if (l.url)
		kr_buf_add_xml_elem(&out, "EncodingType", "url");
	kr_buf_addf(&out, "<IsTruncated>%s</IsTruncated>", truncated ? "true" : "false");
	if (truncated && last) {
		if (l.v2) {
			tok = hex_encode(last);
			kr_buf_add_xml_elem(&out, "NextContinuationToken", tok);
			free(tok);
		} else
			add_text(&out, &l, "NextMarker", last);
	}
	kr_buf_add_len(&out, kr_buf_str(&items), kr_buf_len(&items));
	kr_buf_add(&out, "</ListBucketResult>");
	wl_reply_xml(rq, 200, &out);
out:
	kr_buf_free(&items);
	free(after);
	free(last);
}
