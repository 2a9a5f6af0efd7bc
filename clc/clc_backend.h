/*
 * clc_backend.h - calls to other daemons and remote clouds, off the event
 * loop (backend_call.c), and EC2 requests that wait for one (backend_defer.c).
 *
 * The CLC's event loop never waits on a CC, EBS, Walrus or a remote cloud
 * (DESIGN.md, "CLC event loop").  An action that needs one is split in two:
 * on the loop it decides and commits what it decided (clc_req_defer()),
 * a worker thread makes the network call(s), and on the loop again it
 * applies the answer, commits and replies (the resume function).  No sqlite
 * transaction is open while the worker runs, and the worker never touches
 * the database: it sees only what the action prepared for it.
 *
 * Each backend ("cc:<zone>", "ebs", "walrus", "cloud:<name>") has at most
 * CLC_MAX_BACKEND_CALLS calls in flight; one more is refused at once with
 * RequestLimitExceeded, so a stopped backend costs its own callers a
 * timeout and nobody else anything.
 */
#ifndef KARRI_CLC_BACKEND_H
#define KARRI_CLC_BACKEND_H

#include <stdbool.h>

#include <event2/http.h>

#include "clc.h"
#include "sig/form.h"

#define CLC_BACKEND_KEY_MAX 96
#define CLC_BACKEND_WORKERS_MAX 256	/* threads, over all backends */

/* Work on a worker thread: network only, never clc->db.  0, or -1 + kr_error. */
typedef int (*clc_work_fn)(void *arg);
/* Back on the loop: rc is the work's, and so is kr_error when rc < 0. */
typedef void (*clc_done_fn)(int rc, void *arg);

/* backend_call.c */
int clc_backend_init(struct event_base *base, int max_calls);
struct clc_slot;
/* A place in backend's queue of calls: -1 + RequestLimitExceeded when it is full. */
int clc_backend_reserve(const char *backend, struct clc_slot **out);
void clc_backend_unreserve(struct clc_slot *slot);	/* NULL-safe */
/* Run work on a worker and done on the loop; the slots are given back after done. */
void clc_backend_start(struct clc_slot *const *slots, int nslots, clc_work_fn work,
    clc_done_fn done, void *arg);
/*
 * reserve + start, for calls no client waits for (polls, retries): -1 +
 * RequestLimitExceeded when the backend is full (done is then not called).
 */
int clc_backend_run(const char *backend, clc_work_fn work, clc_done_fn done, void *arg);
/* How many calls to backend are in flight (for the poll: one at a time). */
int clc_backend_inflight(const char *backend);
void clc_backend_key(char *out, const char *kind, const char *name);

/* backend_defer.c: an EC2 request waiting for its backend. */
/*
 * On the loop, in a transaction that commits whatever it wrote: apply the
 * answer (rc and kr_error are the work's) and write the response into
 * r->out.  0, or -1 + kr_error (what the client gets).
 */
typedef int (*clc_resume_fn)(struct clc_req *r, int rc, void *arg);
/*
 * Called by an action after it decided: the request is answered once work
 * (on a worker, with arg) and resume (on the loop) ran.  The action then
 * returns 0 and its transaction commits.  arg is the deferral's from now
 * on (freed with free_arg in every case); -1 + RequestLimitExceeded when a
 * backend (backend2 may be NULL) has too many calls in flight.
 */
int clc_req_defer(struct clc_req *r, const char *backend, const char *backend2,
    clc_work_fn work, clc_resume_fn resume, void *arg, void (*free_arg)(void *));
/* The action failed or its transaction did not commit: nothing is called. */
void clc_defer_cancel(struct clc_req *r);
/* How a front end (api_query.c, ec2_soap.c) answers once resume ran. */
typedef void (*clc_reply_fn)(struct evhttp_request *req, struct clc_req *r, int rc,
    bool soap12);
/* Take over the request (its parameters too: *params is left empty) and start the call. */
void clc_defer_start(struct clc_req *r, struct evhttp_request *req, struct kr_form *params,
    clc_reply_fn reply, bool soap12);

#endif
