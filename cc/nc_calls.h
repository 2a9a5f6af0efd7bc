/*
 * nc_calls.h - the CC's calls to a node on an instance's behalf
 * (nc_calls.c), used by the instance operations (ops_instances.c).  Apart
 * from cc.h because they speak the generated gSOAP types.
 */
#ifndef KARRI_CC_NC_CALLS_H
#define KARRI_CC_NC_CALLS_H

#include "karriH.h"
#include "cc.h"

/* Launch instance `in` (launch index `index`) of RunInstances `req` on n: 0, or -1 + kr_error. */
int cc_nc_run(struct soap *soap, struct cc_node *n, const struct _cc__RunInstances *req,
    const struct cc_inst *in, int index);
/* Roll back a launch; a failure is logged, not reported. */
void cc_nc_terminate(struct soap *soap, struct cc_node *n, const char *id);

/*
 * A call forwarded to the node running an instance: cc_fwd_begin finds and
 * holds the node and lends a client context its connection; cc_fwd_check
 * turns the call's outcome into 0 or -1 + kr_error; cc_fwd_end gives all back.
 */
struct cc_fwd {
	struct cc_node *n;
	struct soap *c;
	bool borrowed;
	int rc;
};

int cc_fwd_begin(struct cc_fwd *f, const char *id);
/* After f->rc = soap_call_...(): read the answer only when there is one. */
int cc_fwd_check(struct cc_fwd *f, const char *what, const enum xsd__boolean *ret,
    char *const *msg);
void cc_fwd_end(struct cc_fwd *f);

#endif
