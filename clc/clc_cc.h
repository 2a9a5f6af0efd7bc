/*
 * clc_cc.h - the CLC's view of its clusters and the calls it makes to
 * them (client_cc.c, client_cc_instances.c, db_clusters.c) and to EBS (client_ebs.c).
 * Kept apart from clc.h because it needs the gSOAP types.
 */
#ifndef KARRI_CLC_CC_H
#define KARRI_CLC_CC_H

#include <stdbool.h>

#include "karriH.h"
#include "clc.h"

struct clc_type_cap {
	char name[32];
	int cores, memory, disk;	/* memory MiB, disk GiB */
	char io_class[16];
	int available, max;		/* from the CC's DescribeResources */
};

/* A registered cluster (= availability zone) and what the CLC last heard from it. */
struct clc_cluster {
	char name[64];
	char host[256];
	int port;
	char url[300];
	bool up;			/* answered the last DescribeResources */
	bool checked;			/* asked at least once */
	char why[512];			/* why not up */
	int ntypes;
	struct clc_type_cap types[CLC_MAX_TYPES];
	int nodes;
};

/* db_clusters.c */
int clc_clusters_load(struct clc *clc);
struct clc_cluster *clc_cluster_find(struct clc *clc, const char *zone);
/* No zone asked for: the up cluster with the most room for type (ties by name). */
struct clc_cluster *clc_cluster_pick(struct clc *clc, const char *type, const char *code);
int clc_types_load(sqlite3 *db, struct kr__virtualMachineType *out, int max,
    struct clc_type_cap *caps);
int clc_type_get(sqlite3 *db, const char *name, struct clc_type_cap *t);

/* client_cc.c */
struct soap *clc_cc_soap(struct clc *clc);
void clc_cc_done(struct soap *soap);
/*
 * The outcome of a call (kr_soap_error_read): the backend's own code and
 * message pass unchanged; fail_code is for a backend not reachable at all;
 * refuse_code is no longer used (kept while callers still pass it).
 */
int clc_soap_check(struct soap *soap, int call, const enum xsd__boolean *ret,
    char *const *status, const char *fail_code, const char *refuse_code, const char *what,
    const char *url);
void clc_cc_ids(char *correlation, char *user);
/* On a worker, with c a copy whose types were loaded on the loop. */
int clc_cc_describe_resources(struct clc *clc, struct clc_cluster *c);

/* client_cc_instances.c: the poll of a cluster's instances (worker: call; loop: apply). */
struct clc_cc_poll {
	struct soap *soap;
	struct _cc__DescribeInstancesResponse resp;
};
int clc_cc_poll_call(struct clc *clc, const char *url, struct clc_cc_poll *poll);
int clc_cc_poll_apply(struct clc *clc, const char *zone, const char *url,
    struct clc_cc_poll *poll);
void clc_cc_poll_free(struct clc_cc_poll *poll);

#endif
