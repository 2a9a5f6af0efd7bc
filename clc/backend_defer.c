/*
 * backend_defer.c - an EC2 request that waits for a backend (clc_backend.h).
 *
 * The front end (api_query.c, ec2_soap.c) builds the request on its stack; an
 * action that defers only records what it wants (clc_req_defer), and once
 * its "decide" transaction committed, clc_defer_start moves the request to
 * the heap: its parameters, its caller, its own answer buffer (the shared
 * clc->out serves the next request meanwhile).  When the worker is done,
 * the resume function applies the answer in a transaction of its own and
 * the front end's reply function answers the client.
 *
 * A client that hung up meanwhile costs nothing: evhttp keeps a request it
 * has not been answered, detached from its connection, and frees it when
 * the reply is sent.
 */
#include <stdlib.h>
#include <string.h>

#include "clc_backend.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"

struct clc_deferred {
	struct clc_slot *slots[2];
	int nslots;
	clc_work_fn work;
	clc_resume_fn resume;
	void *arg;
	void (*free_arg)(void *);
	/* From clc_defer_start on: */
	struct clc_req r;
	struct kr_form params;
	struct kr_buf out;
	char *host;
	struct evhttp_request *req;
	clc_reply_fn reply;
	bool soap12;
};

static void
deferred_free(struct clc_deferred *d)
{
	if (d->free_arg)
		d->free_arg(d->arg);
	kr_form_free(&d->params);
	kr_buf_free(&d->out);
	free(d->host);
	free(d);
}

int
clc_req_defer(struct clc_req *r, const char *backend, const char *backend2,
    clc_work_fn work, clc_resume_fn resume, void *arg, void (*free_arg)(void *))
{
	struct clc_deferred *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		if (free_arg)
			free_arg(arg);
		kr_error("InternalError", "out of memory");
		return -1;
	}
	*d = (struct clc_deferred){ .work = work, .resume = resume, .arg = arg,
		.free_arg = free_arg, .out = KR_BUF_INIT };
	if (clc_backend_reserve(backend, &d->slots[d->nslots++]) < 0 ||
	    (backend2 && clc_backend_reserve(backend2, &d->slots[d->nslots++]) < 0)) {
		for (int i = 0; i < d->nslots; i++)
			clc_backend_unreserve(d->slots[i]);
		deferred_free(d);
		return -1;
	}
	clc_defer_cancel(r);	/* one deferral per request */
	r->deferred = d;
	return 0;
}

void
clc_defer_cancel(struct clc_req *r)
{
	struct clc_deferred *d = r->deferred;

	if (d == NULL)
		return;
	r->deferred = NULL;
	for (int i = 0; i < d->nslots; i++)
		clc_backend_unreserve(d->slots[i]);
	deferred_free(d);
}

static void on_answer(int rc, void *arg);

static int
run_work(void *arg)
{
	struct clc_deferred *d = arg;

	return d->work(d->arg);
}

/*
 * resume deferred again (one more backend call after what it committed,
 * e.g. a launch a full cluster refused going on to the overflow cloud): the
 * request moves to the new deferral, which may share the old one's arg.
 */
static void
chain(struct clc_deferred *d)
{
	struct clc_deferred *next = d->r.deferred;

	d->r.deferred = NULL;
	if (next->arg == d->arg)
		d->free_arg = NULL;
	next->req = d->req;
	next->reply = d->reply;
	next->soap12 = d->soap12;
	next->params = d->params;
	d->params = (struct kr_form)KR_FORM_INIT;
	next->out = d->out;
	d->out = (struct kr_buf)KR_BUF_INIT;
	next->host = d->host;
	d->host = NULL;
	next->r = d->r;
	next->r.params = &next->params;
	next->r.account = next->r.user.account_id;
	next->r.out = &next->out;
	next->r.host = next->host;
	deferred_free(d);
	clc_backend_start(next->slots, next->nslots, run_work, on_answer, next);
}

/* On the loop: apply the answer, commit what resume wrote (even on error), reply. */
static void
on_answer(int rc, void *arg)
{
	struct clc_deferred *d = arg;
	struct kr_err saved;
	sqlite3 *db = d->r.db;

	if (kr_db_begin(db) < 0) {
		rc = -1;
	} else {
		rc = d->resume(&d->r, rc, d->arg);
		/*
		 * A failed backend call may still have made resume undo what the
		 * action decided (rows deleted, a volume marked gone): keep that.
		 */
		kr_error_save(&saved);
		if (kr_db_commit(db) < 0) {
			kr_db_rollback(db);
			rc = -1;
		} else if (rc < 0) {
			kr_error_restore(&saved);
		}
	}
	if (rc == 0 && d->r.deferred) {
		chain(d);
		return;
	}
	clc_defer_cancel(&d->r);
	d->reply(d->req, &d->r, rc, d->soap12);
	deferred_free(d);
}

void
clc_defer_start(struct clc_req *r, struct evhttp_request *req, struct kr_form *params,
    clc_reply_fn reply, bool soap12)
{
	struct clc_deferred *d = r->deferred;

	r->deferred = NULL;
	d->req = req;
	d->reply = reply;
	d->soap12 = soap12;
	d->params = *params;		/* the strings stay where they are */
	*params = (struct kr_form)KR_FORM_INIT;
	d->r = *r;
	d->r.params = &d->params;
	d->r.account = d->r.user.account_id;
	d->host = r->host ? strdup(r->host) : NULL;
	d->r.host = d->host;
	/* Whatever the action wrote before it deferred is the start of the answer. */
	kr_buf_add_len(&d->out, kr_buf_str(r->out), kr_buf_len(r->out));
	d->r.out = &d->out;
	clc_backend_start(d->slots, d->nslots, run_work, on_answer, d);
}
