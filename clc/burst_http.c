/*
 * burst_http.c - one EC2 Query call to a remote cloud: a POST form,
 * SigV4-signed (common/sig/sign.c), sent with libcurl under the cloud's
 * timeout, its XML answer parsed with libxml2.
 *
 * Every way the remote can fail ends as one kr_error() a user can act on:
 * not reachable, too slow, a 5xx, or Karri's own credentials refused all
 * become Unavailable naming the cloud (the user's request was fine; the
 * remote was not); any other EC2 error the remote gives (a bad image id,
 * its capacity) passes through with its code, the message prefixed with the
 * cloud's name.  The request body and headers hold no secret (only the
 * signature), and nothing here logs them anyway.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>

#include "clc_burst.h"
#include "core/error.h"
#include "http/http_client.h"
#include "sig/sign.h"
#include "core/uri.h"

#define CONNECT_TIMEOUT_S 5L
#define FORM_TYPE "application/x-www-form-urlencoded; charset=utf-8"

void
clc_burst_params_init(struct clc_burst_params *p, const char *action)
{
	kr_buf_init(&p->body, 1u << 20);
	clc_burst_param(p, "Action", action);
	clc_burst_param(p, "Version", CLC_BURST_VERSION);
}

void
clc_burst_param(struct clc_burst_params *p, const char *key, const char *value)
{
	if (value == NULL)
		return;
	if (kr_buf_len(&p->body))
		kr_buf_add_char(&p->body, '&');
	kr_uri_encode(&p->body, key, strlen(key), 0);
	kr_buf_add_char(&p->body, '=');
	kr_uri_encode(&p->body, value, strlen(value), 0);
}

/* A parameter whose key is formatted: ("sg-1", "SecurityGroup.%d", 1). */
void
clc_burst_paramf(struct clc_burst_params *p, const char *value, const char *fmt, ...)
{
	char key[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	clc_burst_param(p, key, value);
}

/* The first element called name among n's children (namespace ignored). */
xmlNode *
clc_burst_child(xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

/* The text at "a/b/c" below n into out ("" when absent). */
void
clc_burst_text(xmlNode *n, const char *path, char *out, size_t len)
{
	char step[64];
	xmlChar *s;

	*out = '\0';
	while (n && *path) {
		size_t k = strcspn(path, "/");

		snprintf(step, sizeof(step), "%.*s", (int)k, path);
		n = clc_burst_child(n, step);
		path += k + (path[k] == '/');
	}
	if (n && (s = xmlNodeGetContent(n))) {
		snprintf(out, len, "%s", (const char *)s);
		xmlFree(s);
	}
}

/* fn on every <item> whose parent is an element called parent, anywhere below n. */
int
clc_burst_each(xmlNode *n, const char *parent, clc_burst_item_fn fn, void *arg)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp((const char *)c->name, "item") == 0 &&
		    strcmp((const char *)n->name, parent) == 0) {
			if (fn(c, arg) < 0)
				return -1;
		} else if (clc_burst_each(c, parent, fn, arg) < 0)
			return -1;
	}
	return 0;
}

static bool
auth_code(const char *code)
{
	static const char *const codes[] = { "AuthFailure", "SignatureDoesNotMatch",
		"InvalidClientTokenId", "InvalidAccessKeyId", "UnauthorizedOperation",
		"RequestExpired", "OptInRequired", "Blocked", NULL };

	for (size_t i = 0; codes[i]; i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

/* Turn the answer (status, parsed body) into 0 or the one kr_error. */
static int
judge(const struct clc_remote *c, const char *action, long status, xmlDoc *doc)
{
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	char code[KR_ERROR_CODE_MAX] = "", msg[400] = "";

	if (status == 200 && root && strcmp((const char *)root->name, "Response") != 0)
		return 0;
	clc_burst_text(root, "Errors/Error/Code", code, sizeof(code));
	clc_burst_text(root, "Errors/Error/Message", msg, sizeof(msg));
	if (status >= 500 || !*code || root == NULL)
		kr_error("Unavailable", "the cloud %s failed %s (HTTP %ld%s%s): try again later",
		    c->name, action, status, *code ? ", " : "", code);
	else if (status == 401 || status == 403 || auth_code(code))
		kr_error("Unavailable", "the cloud %s refused this cloud's credentials for it "
		    "(%s): the administrator must check `karri register-cloud %s`", c->name,
		    code, c->name);
	else
		kr_error(code, "cloud %s: %s", c->name, msg);
	return -1;
}

static struct curl_slist *
headers(const struct kr_sign_headers *h)
{
	char line[600];
	struct curl_slist *l = NULL, *t;

	snprintf(line, sizeof(line), "Content-Type: %s", FORM_TYPE);
	l = curl_slist_append(l, line);
	snprintf(line, sizeof(line), "X-Amz-Date: %s", h->x_amz_date);
	if (l && (t = curl_slist_append(l, line)))
		l = t;
	snprintf(line, sizeof(line), "X-Amz-Content-Sha256: %s", h->x_amz_content_sha256);
	if (l && (t = curl_slist_append(l, line)))
		l = t;
	snprintf(line, sizeof(line), "Authorization: %s", h->authorization);
	if (l && (t = curl_slist_append(l, line)))
		l = t;
	l = l ? curl_slist_append(l, "Expect:") : NULL;	/* no 100-continue round trip */
	explicit_bzero(line, sizeof(line));
	return l;
}

/* POST the parameters; *doc the parsed answer (a success), or -1 + kr_error. */
int
clc_burst_call(const struct clc_remote *c, struct clc_burst_params *p, xmlDoc **doc)
{
	struct kr_sign_creds creds = { c->access_key, c->secret_key, c->region, "ec2" };
	struct kr_http_opts o = { .url = c->endpoint, .user_agent = "karri-clc (burst)",
		.connect_timeout_s = c->timeout < CONNECT_TIMEOUT_S ? (long)c->timeout :
		    CONNECT_TIMEOUT_S, .timeout_s = (long)c->timeout };
	struct kr_buf reply = KR_BUF_INIT;
	char action[64] = "";
	struct kr_sign_headers h;
	struct curl_slist *hl = NULL;
	struct kr_http http = { .curl = NULL };
	CURLcode cc;
	int rc = -1;

	*doc = NULL;
	sscanf(kr_buf_str(&p->body), "Action=%63[A-Za-z]", action);
	kr_buf_init(&reply, CLC_BURST_MAX_REPLY);
	if (kr_buf_failed(&p->body)) {
		kr_error("InternalError", "the request to the cloud %s is too large", c->name);
		goto done;
	}
	if (kr_sign_v4_headers(&creds, "POST", c->endpoint, FORM_TYPE,
	    kr_buf_str(&p->body), kr_buf_len(&p->body), time(NULL), &h) < 0 ||
	    kr_http_open(&http, &o) < 0)
		goto done;
	if (!(hl = headers(&h))) {
		kr_error("InternalError", "out of memory calling the cloud %s", c->name);
		goto done;
	}
	curl_easy_setopt(http.curl, CURLOPT_POSTFIELDS, kr_buf_str(&p->body));
	curl_easy_setopt(http.curl, CURLOPT_POSTFIELDSIZE, (long)kr_buf_len(&p->body));
	curl_easy_setopt(http.curl, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(http.curl, CURLOPT_WRITEFUNCTION, kr_http_collect);
	curl_easy_setopt(http.curl, CURLOPT_WRITEDATA, &reply);
	cc = kr_http_perform(&http);
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		kr_error("Unavailable", "the cloud %s did not answer %s within %d s", c->name,
		    action, c->timeout);
		goto done;
	}
	if (cc != CURLE_OK) {
		kr_error("Unavailable", "the cloud %s is not reachable (%s): %s", c->name, action,
		    kr_http_strerror(&http, cc));
		goto done;
	}
	*doc = xmlReadMemory(kr_buf_str(&reply), (int)kr_buf_len(&reply), "reply.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if ((rc = judge(c, action, http.status, *doc)) < 0 && *doc) {
		xmlFreeDoc(*doc);
		*doc = NULL;
	}
done:
	explicit_bzero(&h, sizeof(h));
	curl_slist_free_all(hl);
	kr_http_close(&http);
	kr_buf_free(&reply);
	kr_buf_free(&p->body);
	return rc;
}
