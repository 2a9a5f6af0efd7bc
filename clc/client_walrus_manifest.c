/*
 * client_walrus_manifest.c - RegisterImage asks Walrus whether a bundle is whole.
 *
 * GET /services/Karri/manifest?bucket&key&user-signature=skip, presigned
 * with the cloud's identity (client_walrus_url.c): Walrus parses the manifest,
 * finds every part, checks they add up and that the cloud's key opens the
 * bundle, and answers the image's kind, name, architecture and the account
 * that uploaded the manifest.  The user's signature on the manifest is not
 * checked (the cloud keeps no user certificates); instead only the
 * manifest's uploader (or an admin) may register it, so nobody launches a
 * bundle they could not read.
 *
 * In three steps around RegisterImage's deferral (clc_backend.h): the URL
 * presigned on the loop, the GET on a worker thread (bounded: a short
 * connect and total timeout and a small answer), the answer judged on the
 * loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clc.h"
#include "clc_image.h"
#include "clc_walrus.h"
#include "core/error.h"
#include "http/http_client.h"
#include "core/log.h"

#define ANSWER_MAX (64u << 10)
#define CONNECT_TIMEOUT_S 5L
#define TOTAL_TIMEOUT_S 20L

/*
 * The text of <tag>...</tag> in xml, unescaped, into out[len]; false when
 * absent, too long or escaped in a way Walrus does not write.
 */
static bool
elem(const char *xml, const char *tag, char *out, size_t len)
{
	static const struct { const char *ent; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' },
		{ "&apos;", '\'' },
	};
	char open[64], close[64];
	const char *s, *e;
	size_t n = 0;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	if (!(s = strstr(xml, open)) || !(e = strstr(s, close)))
		return false;
	for (s += strlen(open); s < e; s++) {
		char c = *s;

		if (c == '&') {
			size_t i;

			for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++)
				if (strncmp(s, ents[i].ent, strlen(ents[i].ent)) == 0)
					break;
			if (i == sizeof(ents) / sizeof(ents[0]))
				return false;
			c = ents[i].c;
			s += strlen(ents[i].ent) - 1;
		}
		if (n + 1 >= len)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return true;
}

/* GET url into b: the HTTP status, or -1 + kr_error when Walrus did not answer. */
static long
get(const char *url, long timeout_s, struct kr_buf *b)
{
	const struct kr_http_opts o = { .url = url, .user_agent = "karri-clc",
		.connect_timeout_s = CONNECT_TIMEOUT_S < timeout_s ? CONNECT_TIMEOUT_S : timeout_s,
		.timeout_s = timeout_s };
	struct kr_http h;
	CURLcode cc;

	if (kr_http_open(&h, &o) < 0)
		return -1;
	curl_easy_setopt(h.curl, CURLOPT_WRITEFUNCTION, kr_http_collect);
	curl_easy_setopt(h.curl, CURLOPT_WRITEDATA, b);
	cc = kr_http_perform(&h);
	kr_http_close(&h);
	if (cc != CURLE_OK) {
		/* curl's words never hold the URL, so no signature reaches the log or user. */
		kr_error("Unavailable", "Walrus could not be asked to check the manifest: %s",
		    kr_http_strerror(&h, cc));
		return -1;
	}
	return h.status;
}

/* Walrus's S3-style error as RegisterImage's. */
static void
walrus_refused(const char *xml, long status, const char *location)
{
	char code[64] = "", msg[512] = "";

	elem(xml, "Code", code, sizeof(code));
	elem(xml, "Message", msg, sizeof(msg));
	if (strcmp(code, "InvalidManifest") == 0)
		kr_error("InvalidManifest", "%s", msg);
	else if (strcmp(code, "NoSuchKey") == 0 || strcmp(code, "NoSuchBucket") == 0)
		kr_error("InvalidManifest", "no manifest %s in Walrus", location);
	else if (status >= 500)
		kr_error("Unavailable", "Walrus could not check the manifest %s: %s %s", location,
		    code, msg);
	else
		kr_error("InternalError", "Walrus refused to check the manifest %s: HTTP %ld %s %s",
		    location, status, code, msg);
}

int
clc_manifest_prepare(struct clc_req *r, const char *location, struct clc_manifest_job *j)
{
	const char *slash = strchr(location, '/');
	char bucket[256];

	memset(j, 0, sizeof(*j));
	snprintf(j->location, sizeof(j->location), "%s", location);
	/* As long as a call to any other daemon may take (SOAP_TIMEOUT), at most TOTAL. */
	j->timeout_s = r->clc->soap_timeout > 0 && r->clc->soap_timeout < TOTAL_TIMEOUT_S ?
	    r->clc->soap_timeout : TOTAL_TIMEOUT_S;
	if ((size_t)(slash - location) >= sizeof(bucket)) {
		kr_error("InvalidParameterValue", "the bucket name in ImageLocation is too long");
		return -1;
	}
	snprintf(bucket, sizeof(bucket), "%.*s", (int)(slash - location), location);
	/* What RunInstances will hand the nodes must fit the launch request. */
	if (clc_walrus_presign_op(r->clc, r->db, "image", bucket, slash + 1, NULL,
	    CLC_IMAGE_URL_S, j->url, CLC_IMAGE_URL_MAX) < 0) {
		if (strcmp(kr_error_code(), "InvalidParameterValue") == 0 &&
		    strstr(kr_error_message(), "does not fit"))
			kr_error("InvalidParameterValue", "ImageLocation is too long for the "
			    "nodes' image URLs: use a shorter bucket/key");
		return -1;
	}
	return clc_walrus_presign_op(r->clc, r->db, "manifest", bucket, slash + 1,
	    "user-signature=skip", CLC_MANIFEST_URL_S, j->url, sizeof(j->url));
}

int
clc_manifest_fetch(struct clc_manifest_job *j)
{
	kr_buf_init(&j->answer, ANSWER_MAX);
	return (j->status = get(j->url, j->timeout_s, &j->answer)) < 0 ? -1 : 0;
}

void
clc_manifest_job_free(struct clc_manifest_job *j)
{
	kr_buf_free(&j->answer);
}

int
clc_manifest_judge(struct clc_req *r, struct clc_manifest_job *j, struct clc_manifest *m)
{
	const char *xml = kr_buf_str(&j->answer), *location = j->location;
	char size[32] = "";

	memset(m, 0, sizeof(*m));
	if (j->status != 200) {
		walrus_refused(xml, j->status, location);
		return -1;
	}
	if (!elem(xml, "ImageKind", m->kind, sizeof(m->kind)) ||
	    !elem(xml, "ManifestOwnerId", m->owner_id, sizeof(m->owner_id)) ||
	    !elem(xml, "Size", size, sizeof(size))) {
		kr_error("InternalError", "Walrus's answer checking %s lacks the image kind, "
		    "owner or size", location);
		return -1;
	}
	elem(xml, "Name", m->name, sizeof(m->name));
	elem(xml, "Architecture", m->arch, sizeof(m->arch));
	m->size = strtoull(size, NULL, 10);
	if (strcmp(m->kind, "machine") != 0 && strcmp(m->kind, "kernel") != 0 &&
	    strcmp(m->kind, "ramdisk") != 0) {
		kr_error("InvalidManifest", "%s declares image type \"%s\" (machine, kernel or "
		    "ramdisk)", location, m->kind);
		return -1;
	}
	if (!r->admin && strcmp(m->owner_id, r->account) != 0) {
		kr_error("InvalidManifest", "%s was not uploaded by your account: register "
		    "bundles from your own buckets", location);
		return -1;
	}
	kr_log_info("%s registers %s: a %s image of %llu bytes", r->user.name, location,
	    m->kind, m->size);
	return 0;
}
