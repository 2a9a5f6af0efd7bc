/*
 * clc.h - the cloud controller's private interfaces.
 *
 * A request to the EC2 Query API goes api_route.c -> api_query.c
 * (authenticate, check Version, find the action in the table of
 * actions.c) -> one action_*.c function, which reads its parameters
 * through req_param.c, works on the sqlite state (db_schema.c) and, for
 * instances, addresses and volumes, calls the CC or EBS through
 * client_cc*.c / client_ebs.c.  An action writes only the inside of its
 * <XResponse> element; api_query.c wraps it in the namespace of the
 * requested Version, or turns the kr_error() the action recorded into
 * EC2's error XML.
 *
 * Every file but main.c belongs to a family named by its prefix.  Top
 * down; a file calls files of its own family and of the families below
 * it, never above.  The three front ends are one layer: api_route.c hands
 * requests to the other two, and the SOAP API answers through
 * api_query.c.  families-test (make check) reads this table and fails on
 * a file in no family or a call upwards:
 *
 *   api_*.c      the EC2 Query API over HTTP: listeners (api_listen.c),
 *                where a request goes (api_route.c), the signature and
 *                the answer or error (api_query.c)
 *   ec2_soap*.c  the EC2 SOAP API: the same actions from a signed envelope
 *   metadata*.c  the instances' metadata service (169.254.169.254)
 *   actions*.c   the table of EC2 actions, and every name EC2 has
 *   action_*.c   the EC2 actions, one file per family of resources
 *                (action_<family>.c), with the parts only actions use
 *                (action_<family>_<part>.c: checks, XML, deferred calls)
 *   reconcile.c  the poll of clusters, EBS and remote clouds (CLC_RECONCILE_S)
 *   burst_*.c    remote EC2 clouds: their rows, calls, launches and poll
 *   client_*.c   calls to another daemon, one file per daemon and topic
 *                (client_cc*.c, client_ebs.c, client_walrus_*.c); a
 *                client never calls an action or a front end
 *   backend_*.c  the worker threads those calls run on, and the EC2
 *                request that waits for one (clc_backend.h)
 *   db_*.c       clc.db: schema and migrations, the clusters and instance
 *                types, statement helpers, rows several families read
 *   req_*.c      one request as an action sees it (struct clc_req): its
 *                parameters, filters, and the answer's XML and pages
 *   crypto_*.c   key pairs and base64
 *
 * Headers: clc.h (what most files need), clc_<topic>.h for the rest and
 * ec2_soap.h for the SOAP API; each groups its prototypes under a comment
 * naming the file that defines them (tools/check-file-maps keeps every
 * such name true).
 */
#ifndef KARRI_CLC_H
#define KARRI_CLC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <event2/http.h>
#include <sqlite3.h>

#include "core/buf.h"
#include "sig/form.h"
#include "sig/userdb.h"

#define CLC_MAX_REQUEST (16u << 20)	/* largest EC2 request body (UserData fits) */
#define CLC_MAX_USER_DATA 16384		/* EC2's limit on decoded user data */
#define CLC_MAX_NAME 255		/* key pair, group, tag key/value lengths */
#define CLC_MAX_IDS 1000		/* ids or values in one list parameter */
#define CLC_TERMINATED_KEEP_S 3600	/* terminated instances stay visible this long */
#define CLC_REGION "karri"		/* the one region this cloud is */

#define CLC_RECONCILE_S 5		/* seconds between polls of the clusters */
#define CLC_MAX_CLUSTERS 16
#define CLC_MAX_TYPES 16

struct kr_daemon;
struct kr_config;
struct clc_cluster;
struct clc_deferred;

/* The controller: one per process, used from the event loop thread only. */
struct clc {
	struct kr_daemon *daemon;
	struct kr_config *cfg;
	sqlite3 *db;			/* clc.db */
	sqlite3 *users;			/* users.db (shared with Walrus and `karri user`) */
	struct event_base *base;
	int soap_timeout;		/* seconds per CC/EBS call */
	int max_backend_calls;		/* in flight per backend (clc_backend.h) */
	struct clc_cluster *clusters;	/* CLC_MAX_CLUSTERS of them; nclusters in use */
	size_t nclusters;
	bool network_dirty;		/* group rules changed: push them on the next poll */
	struct kr_buf out;		/* the answer being built, reused between requests */
};

#define CLC_OUT_KEEP (32u << 20)	/* largest answer buffer kept between requests */

/* One authenticated EC2 request, as an action sees it. */
struct clc_req {
	struct clc *clc;
	sqlite3 *db;
	const struct kr_form *params;	/* query and form body together */
	const char *action;
	const char *version;
	const char *host;		/* the Host header: this endpoint's name */
	struct kr_user user;		/* the caller */
	const char *account;		/* user.account_id */
	bool admin;
	struct kr_buf *out;		/* the response's inner XML */
	time_t now;
	struct clc_deferred *deferred;	/* a backend call to wait for (clc_backend.h) */
};

typedef int (*clc_action_fn)(struct clc_req *r);

/* actions.c: the table of EC2 actions. */
struct clc_action {
	const char *name;
	clc_action_fn fn;		/* NULL: known, not built -> UnsupportedOperation */
};
const struct clc_action *clc_action_find(const char *name);

/* api_listen.c */
typedef struct ssl_ctx_st SSL_CTX;
struct evhttp *clc_http_new(struct clc *clc, int port);
struct evhttp *clc_https_new(struct clc *clc, SSL_CTX **ctxp);

/* api_route.c: the one HTTP handler: metadata, SOAP or the EC2 Query API. */
void clc_route(struct evhttp_request *req, void *arg);

/* api_query.c: the EC2 Query API front end. */
void clc_query_handle(struct clc *clc, struct evhttp_request *req);
int clc_http_status(const char *code);
void clc_send_error(struct evhttp_request *req, const char *code, const char *message);
/*
 * Shared with the SOAP front end (ec2_soap.c), after authentication:
 * Action/Version/DryRun checks, the request's context, the action's run
 * (*a: the action, for the error's name; NULL when there is none); then
 * the answer buffer made ready for the next request.
 */
int clc_query_run(struct clc_req *r, struct evhttp_request *req, const struct clc_action **a);
/* After clc_query_run: the answer as the Query API gives it (rc < 0: the recorded error). */
void clc_query_reply(struct evhttp_request *req, struct clc_req *r, int rc, bool soap12);
void clc_query_reset_out(struct clc *clc);

/* metadata*.c: the instances' metadata service (via the CC's redirect). */
bool clc_metadata_path(const char *path);
bool clc_metadata_root(struct clc *clc, struct evhttp_request *req);	/* GET / by a guest */
void clc_metadata_handle(struct clc *clc, struct evhttp_request *req);

/* db_schema.c */
int clc_db_open(const char *path, sqlite3 **out);

/* req_param.c: parameters, validated.  Each getter records kr_error on a bad value. */
const char *clc_param(const struct clc_req *r, const char *name);
const char *clc_param_required(const struct clc_req *r, const char *name);
int clc_param_int(const struct clc_req *r, const char *name, long min, long max, long def,
    long *out);
int clc_param_bool(const struct clc_req *r, const char *name, bool def, bool *out);
/* Values of Prefix.1, Prefix.2, ... (also Prefix.N.Suffix when suffix != NULL). */
size_t clc_param_list(const struct clc_req *r, const char *prefix, const char *suffix,
    const char **vals, size_t max);
int clc_param_list_checked(const struct clc_req *r, const char *prefix, const char *suffix,
    const char **vals, size_t max, size_t *n);
bool clc_name_ok(const char *s, size_t max);
int clc_check_name(const char *param, const char *s, size_t max);
int clc_check_id(const char *param, const char *id, const char *prefix, const char *code);
/* Whether a parameter outside `known` was given: a typo must not pass silently. */
int clc_param_check_known(const struct clc_req *r, const char *const *known);

/* req_filter.c: Filter.N.Name / Filter.N.Value.M, matched with EC2's wildcards. */
#define CLC_MAX_FILTERS 50
#define CLC_MAX_FILTER_VALUES 200
struct clc_filter {
	const char *name;
	const char *values[CLC_MAX_FILTER_VALUES];
	size_t n;
};
struct clc_filters {
	struct clc_filter f[CLC_MAX_FILTERS];
	size_t n;
};
/* The idx-th value of field `name` of an item (NULL past the last). */
typedef const char *(*clc_field_fn)(void *item, const char *name, size_t idx);
int clc_filters_parse(const struct clc_req *r, const char *const *allowed,
    struct clc_filters *out);
bool clc_filters_match(const struct clc_req *r, const struct clc_filters *f,
    const char *resource_id, clc_field_fn field, void *item);
bool clc_wildcard_match(const char *pattern, const char *s);
struct clc_filter_col {
	const char *name;		/* the filter, e.g. "volume-id" */
	int col;			/* its column in the row */
};
const char *clc_filter_column(sqlite3_stmt *st, const struct clc_filter_col *map,
    const char *name, size_t idx);
bool clc_in_list(const char *s, const char **list, size_t n);

/*
 * action_tag.c: tags, stored and derived.  CLC_TAGS_OF_SQL selects (key,
 * value) of every tag of resource ?1, the derived karri: ones included
 * (text here, not a symbol of action_tag.c, so that req_filter.c needs nothing
 * of it: no cycle).
 */
/* Rows (resource_id, owner, key, value); an empty or unknown value is no tag. */
#define CLC_DERIVED_TAGS \
	"SELECT id AS resource_id, owner, 'karri:disk' AS key, disk_attachment AS value" \
	" FROM instances WHERE disk_attachment <> ''" \
	" UNION ALL SELECT id, owner, 'karri:net', net_attachment FROM instances" \
	" WHERE net_attachment <> ''" \
	" UNION ALL SELECT id, owner, 'karri:path', attach_path FROM volumes" \
	" WHERE attach_path <> '' AND instance_id IS NOT NULL"

/* sqlite pushes "resource_id = ?1" into each arm: primary-key lookups. */
#define CLC_TAGS_OF_SQL \
	"SELECT key, value FROM tags WHERE resource_id = ?1" \
	" UNION ALL SELECT key, value FROM (" CLC_DERIVED_TAGS ") WHERE resource_id = ?1" \
	" ORDER BY 1"

void clc_tags_xml(const struct clc_req *r, const char *resource_id);
int clc_tags_delete_all(sqlite3 *db, const char *resource_id);
int clc_tags_apply_spec(const struct clc_req *r, const char *resource_id, const char *type);

/* db_util.c */
int clc_db_run(sqlite3 *db, const char *sql, const char *a, const char *b, const char *c);
int clc_db_text(sqlite3 *db, const char *sql, const char *a, const char *b, char *out,
    size_t len);

/* req_reply.c: pieces of response XML. */
void clc_xml_elem(struct kr_buf *b, const char *tag, const char *text);
void clc_xml_elem_int(struct kr_buf *b, const char *tag, long long v);
void clc_xml_time(struct kr_buf *b, const char *tag, time_t t);
void clc_xml_col(struct kr_buf *b, const char *tag, sqlite3_stmt *st, int col);
int clc_return_true(struct clc_req *r);

/* reconcile.c (clc_addresses_sync: action_address.c) */
void clc_reconcile(struct clc *clc);
int clc_addresses_sync(struct clc *clc);
void clc_network_changed(struct clc_req *r);
int clc_network_push(struct clc *clc);		/* client_cc_network.c */

/* action_group.c: helpers shared with instances and rules. */
int clc_group_from_params(struct clc_req *r, char *id, size_t idlen, char *name,
    size_t namelen);
int clc_group_ensure_default(sqlite3 *db, const char *account, char *id, size_t idlen);
int clc_group_lookup(sqlite3 *db, const char *account, const char *name, const char *id,
    char *out_id, size_t idlen, char *out_name, size_t namelen);


/* req_reply.c: MaxResults/NextToken over an ordered key. */
struct clc_pager {
	long max;			/* 0: no paging asked for */
	const char *after;		/* the NextToken: last key of the previous page */
	long count;
};
int clc_pager_init(const struct clc_req *r, long min, long max, struct clc_pager *p);
/* After an item with key: false when the page is full (write NextToken, stop). */
bool clc_pager_take(struct clc_pager *p);
void clc_pager_finish(const struct clc_req *r, const struct clc_pager *p, const char *last);

#endif
