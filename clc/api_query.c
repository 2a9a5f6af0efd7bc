/*
 * api_query.c - the EC2 Query API front end.
 *
 * A request is GET (parameters in the query) or POST (form body, maybe a
 * query too).  In order: the signature (SigV4 or SigV2, kr_sig_verify
 * against the user database, 5-minute window), Action, Version, then the
 * action from the table.  The answer is <ActionResponse> in the namespace
 * of the Version asked for; any kr_error() recorded on the way becomes
 * EC2's <Response><Errors>...</Errors><RequestID/></Response> here, the one
 * place where error codes turn into XML and HTTP statuses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "clc.h"
#include "clc_backend.h"
#include "core/db.h"
#include "core/error.h"
#include "http/http_server.h"
#include "core/log.h"
#include "sig/sig.h"
#include "core/sizes.h"

#define MAX_HEADERS 100

/* The EC2 API versions Karri answers, from Eucalyptus 2's to botocore's. */
static const char *const versions[] = {
	"2009-11-30", "2010-06-15", "2010-08-31", "2010-11-15", "2011-01-01", "2011-02-28",
	"2011-05-15", "2011-07-15", "2011-11-01", "2011-12-01", "2011-12-15", "2012-03-01",
	"2012-04-01", "2012-05-01", "2012-06-01", "2012-06-15", "2012-07-20", "2012-08-15",
	"2012-10-01", "2012-12-01", "2013-02-01", "2013-06-15", "2013-07-15", "2013-08-15",
	"2013-10-01", "2013-10-15", "2014-02-01", "2014-05-01", "2014-06-15", "2014-09-01",
	"2014-10-01", "2015-03-01", "2015-04-15", "2015-10-01", "2016-04-01", "2016-09-15",
	"2016-11-15", NULL,
};

/* HTTP status of an EC2 error code, as EC2 answers them. */
int
clc_http_status(const char *code)
{
	static const struct { const char *code; int status; } map[] = {
		{ "AuthFailure", 401 }, { "InvalidClientTokenId", 403 },
		{ "SignatureDoesNotMatch", 403 }, { "OptInRequired", 403 },
		{ "UnauthorizedOperation", 403 }, { "Blocked", 403 },
		{ "InternalError", 500 }, { "InsufficientInstanceCapacity", 500 },
		{ "InsufficientAddressCapacity", 500 }, { "Unavailable", 503 },
		{ "ServiceUnavailable", 503 },
		{ "RequestLimitExceeded", 503 }, { "InvalidURI", 404 }, { "DryRunOperation", 412 },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(code, map[i].code) == 0)
			return map[i].status;
	return 400;
}

void
clc_send_error(struct evhttp_request *req, const char *code, const char *message)
{
	struct kr_buf body = KR_BUF_INIT;
	char request_id[KR_UUID_MAX];

	kr_http_request_id(request_id);
	kr_buf_add(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>");
	kr_buf_add_xml_elem(&body, "Code", code);
	kr_buf_add_xml_elem(&body, "Message", message);
	kr_buf_add(&body, "</Error></Errors>");
	kr_buf_add_xml_elem(&body, "RequestID", request_id);
	kr_buf_add(&body, "</Response>\n");
	kr_http_reply(req, clc_http_status(code), "text/xml; charset=UTF-8", &body);
	kr_buf_free(&body);
}

/* Send the recorded error; an unrecorded failure is a bug, reported as one. */
static void
send_recorded_error(struct evhttp_request *req, const char *action)
{
	const char *code = kr_error_code();

	if (*code == '\0') {
		kr_log_errorx("%s failed without recording why", action ? action : "request");
		clc_send_error(req, "InternalError", "internal error");
		return;
	}
	if (clc_http_status(code) >= 500)
		kr_log_warnx("%s: %s: %s", action ? action : "request", code, kr_error_message());
	clc_send_error(req, code, kr_error_message());
}

static bool
is_form(struct evhttp_request *req)
{
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");

	return ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

/* The parameters: the query's, then the form body's. */
static int
parse_params(const char *query, const char *body, size_t body_len, bool form,
    struct kr_form *out)
{
	struct kr_form q, b = KR_FORM_INIT;
	struct kr_form_param *all;

	if (kr_form_parse(query, strlen(query), NULL, &q) < 0)
		return -1;
	if (form && body_len && kr_form_parse(body, body_len, NULL, &b) < 0) {
		kr_form_free(&q);
		return -1;
	}
	if (b.n == 0) {
		*out = q;
		return 0;
	}
	all = realloc(q.params, (q.n + b.n) * sizeof(*all));
	if (all == NULL) {
		kr_form_free(&q);
		kr_form_free(&b);
		kr_error("InternalError", "out of memory");
		return -1;
	}
	memcpy(all + q.n, b.params, b.n * sizeof(*all));
	out->params = all;
	out->n = q.n + b.n;
	free(b.params);		/* the strings now belong to out */
	return 0;
}

/* Who signed it: 0 and the user, or -1 + kr_error (AuthFailure, RequestExpired, ...). */
static int
authenticate(struct clc *clc, struct evhttp_request *req, const char *path, const char *query,
    const char *body, size_t body_len, struct kr_user *user)
{
	struct kr_sig_header hdrs[MAX_HEADERS];
	struct kr_sig_request sr = { .path = path, .query = query, .headers = hdrs,
		.body = body, .body_len = body_len };
	struct kr_sig_result res;
	struct kr_access_key key;
	struct evkeyval *h;
	size_t n = 0;
	int rc;

	sr.method = evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "GET";
	TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) {
		if (n == MAX_HEADERS) {
			kr_error("InvalidParameterValue", "too many headers");
			return -1;
		}
		hdrs[n].name = h->key;
		hdrs[n++].value = h->value;
	}
	sr.n_headers = n;
	if (kr_sig_verify(&sr, kr_userdb_secret, clc->users, time(NULL), &res) < 0)
		return -1;
	rc = kr_userdb_lookup(clc->users, res.access_key, &key, user);
	explicit_bzero(&key, sizeof(key));
	if (rc < 0) {
		if (*kr_error_code() == '\0')
			kr_error("AuthFailure", "the access key was disabled");
		return -1;
	}
	return 0;
}

static bool
version_known(const char *v)
{
	for (size_t i = 0; versions[i]; i++)
		if (strcmp(v, versions[i]) == 0)
			return true;
	return false;
}

/* Action and Version present and known: the action, or NULL + kr_error. */
static const struct clc_action *
check_action(const struct kr_form *params, const char **action, const char **version)
{
	const struct clc_action *a;
	const char *dry;

	*action = kr_form_get(params, "Action");
	*version = kr_form_get(params, "Version");
	if (*action == NULL || **action == '\0') {
		kr_error("MissingAction", "the request must contain the parameter Action");
		return NULL;
	}
	if (*version == NULL || **version == '\0') {
		kr_error("MissingParameter", "the request must contain the parameter Version");
		return NULL;
	}
	if (!version_known(*version)) {
		kr_error("NoSuchVersion", "the requested version (%.32s) of service AmazonEC2 "
		    "does not exist; Karri answers 2009-11-30 to 2016-11-15", *version);
		return NULL;
	}
	if ((a = clc_action_find(*action)) == NULL) {
		kr_error("InvalidAction", "the action %.64s is not valid for this web service",
		    *action);
		return NULL;
	}
	if (a->fn == NULL) {
		kr_error("UnsupportedOperation", "%s is not supported by this Karri cloud",
		    a->name);
		return NULL;
	}
	/*
	 * DryRun: the caller is authenticated and the action exists, and Karri
	 * has no per-action permissions, so it would be allowed.  Never run it.
	 */
	dry = kr_form_get(params, "DryRun");
	if (dry && strcasecmp(dry, "true") == 0) {
		kr_error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
		return NULL;
	}
	return a;
}

/*
 * Run the action inside one transaction, so a failed action changes nothing.
 * An action that needs a backend commits what it decided here and defers
 * the rest (clc_backend.h): 1.
 */
int
clc_query_run(struct clc_req *r, struct evhttp_request *req, const struct clc_action **a)
{
	if ((*a = check_action(r->params, &r->action, &r->version)) == NULL)
		return -1;
	r->host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	r->account = r->user.account_id;
	r->admin = r->user.is_admin;
	r->now = time(NULL);
	if (kr_db_begin(r->db) < 0)
		return -1;
	if ((*a)->fn(r) < 0) {
		kr_db_rollback(r->db);
		clc_defer_cancel(r);
		return -1;
	}
	if (kr_db_commit(r->db) < 0) {
		clc_defer_cancel(r);
		return -1;
	}
	/* 1: what the action decided is committed; a backend call answers the rest. */
	return r->deferred ? 1 : 0;
}

/* Keep the memory for the next answer, unless one answer made it huge. */
void
clc_query_reset_out(struct clc *clc)
{
	if (clc->out.cap > CLC_OUT_KEEP)
		kr_buf_free(&clc->out);
	else
		kr_buf_reset(&clc->out);
}

/* The envelope around the action's XML, copied once into the connection's buffer. */
static void
reply(struct evhttp_request *req, const struct clc_req *r)
{
	struct evbuffer *out = evbuffer_new();
	struct kr_buf head = KR_BUF_INIT;
	char request_id[KR_UUID_MAX], tail[160];
	int n;

	kr_http_request_id(request_id);
	kr_buf_addf(&head, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<%sResponse xmlns=\"http://ec2.amazonaws.com/doc/%s/\"><requestId>%s</requestId>",
	    r->action, r->version, request_id);
	n = snprintf(tail, sizeof(tail), "</%sResponse>\n", r->action);
	if (out == NULL || kr_buf_failed(&head) || kr_buf_failed(r->out) ||
	    evbuffer_expand(out, kr_buf_len(&head) + kr_buf_len(r->out) + (size_t)n) < 0) {
		clc_send_error(req, "InternalError", "the response is too large");
	} else {
		evbuffer_add(out, kr_buf_str(&head), kr_buf_len(&head));
		evbuffer_add(out, kr_buf_str(r->out), kr_buf_len(r->out));
		evbuffer_add(out, tail, (size_t)n);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		    "text/xml; charset=UTF-8");
		evhttp_send_reply(req, 200, "OK", out);
	}
	if (out)
		evbuffer_free(out);
	kr_buf_free(&head);
}

/* A deferred action's answer (clc_backend.h). */
void
clc_query_reply(struct evhttp_request *req, struct clc_req *r, int rc, bool soap12)
{
	(void)soap12;
	if (rc < 0)
		send_recorded_error(req, r->action);
	else
		reply(req, r);
}

void
clc_query_handle(struct clc *clc, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *uri = evhttp_request_get_uri(req);
	const char *q = strchr(uri, '?');
	size_t body_len = evbuffer_get_length(in);
	char *path = strndup(uri, q ? (size_t)(q - uri) : strlen(uri));
	const char *body = body_len ? (const char *)evbuffer_pullup(in, -1) : NULL;
	struct kr_form params = KR_FORM_INIT;
	struct clc_req r = { .clc = clc, .db = clc->db, .params = &params, .out = &clc->out };
	const struct clc_action *a = NULL;
	int rc;

	kr_error_clear();
	q = q ? q + 1 : "";
	if (path == NULL || (body_len && body == NULL)) {
		kr_error("InternalError", "out of memory");
		goto fail;
	}
	if (authenticate(clc, req, path, q, body, body_len, &r.user) < 0 ||
	    parse_params(q, body, body_len, is_form(req), &params) < 0 ||
	    (rc = clc_query_run(&r, req, &a)) < 0)
		goto fail;
	if (rc == 1)
		clc_defer_start(&r, req, &params, clc_query_reply, false);
	else
		reply(req, &r);
	goto done;
fail:
	send_recorded_error(req, a ? a->name : NULL);
done:
	clc_query_reset_out(clc);
	kr_form_free(&params);
	free(path);
}
