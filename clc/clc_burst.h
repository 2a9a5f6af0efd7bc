/*
 * clc_burst.h - bursting to a remote EC2-compatible cloud.
 *
 * `karri register-cloud` records a remote cloud (its EC2 endpoint, region,
 * access and secret key, image and instance-type maps, policy) in clc.db;
 * it then shows as one more availability zone.  Calls about its instances
 * are forwarded over the remote's EC2 Query API, SigV4-signed with libcurl
 * (burst_http.c); launches go there when asked for by zone or, for an
 * `overflow` cloud, when no local cluster can fit them (burst_run.c); each
 * poll (burst_instances.c) moves the rows along and terminates what this cloud
 * launched remotely but never recorded.  The secret key is read from the
 * database for each call and wiped after; it is never logged or answered.
 */
#ifndef KARRI_CLC_BURST_H
#define KARRI_CLC_BURST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <libxml/tree.h>
#include <sqlite3.h>

#include "clc.h"
#include "core/id.h"

#define CLC_BURST_VERSION "2016-11-15"	/* the EC2 API version spoken to remotes */
#define CLC_BURST_MAX_REPLY (4u << 20)	/* largest remote answer read */
#define CLC_BURST_TAG "karri:burst"	/* tag on remote instances: this cloud's identity */
#define CLC_BURST_DOWN_RETRY_S 30	/* a cloud that failed its poll waits this long */

struct clc_remote {
	char name[64];
	char endpoint[512];
	char region[64];
	char access_key[128];
	char secret_key[128];
	char policy[16];		/* explicit | overflow */
	char zone[64];			/* the remote's own zone, "" to let it choose */
	int timeout;			/* seconds per call */
};

/* burst_cloud.c: the registry. 1 found, 0 not a remote cloud, -1 error. */
int clc_burst_get(sqlite3 *db, const char *name, struct clc_remote *out);
int clc_burst_overflow(sqlite3 *db, struct clc_remote *out);
void clc_burst_wipe(struct clc_remote *c);
int clc_burst_identity(sqlite3 *db, char *out, size_t len);
int clc_burst_map(sqlite3 *db, const char *table, const char *cloud, const char *local,
    char *out, size_t len);
int clc_burst_remote_id(sqlite3 *db, const char *local_id, char *cloud, size_t clen,
    char *remote_id, size_t rlen);
/* What the last poll learnt of each remote cloud (for DescribeAvailabilityZones). */
struct clc_burst_state {
	char name[64];
	bool up, checked;
	char why[300];
	time_t retry_at;		/* down: not polled again before this */
};
size_t clc_burst_states(sqlite3 *db, struct clc_burst_state *out, size_t max);
void clc_burst_set_state(const char *name, bool up, const char *why);

/* burst_http.c: one signed EC2 Query call; *doc to xmlFreeDoc(). */
struct clc_burst_params {
	struct kr_buf body;
};
void clc_burst_params_init(struct clc_burst_params *p, const char *action);
void clc_burst_param(struct clc_burst_params *p, const char *key, const char *value);
void clc_burst_paramf(struct clc_burst_params *p, const char *value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int clc_burst_call(const struct clc_remote *c, struct clc_burst_params *p, xmlDoc **doc);
xmlNode *clc_burst_child(xmlNode *n, const char *name);
void clc_burst_text(xmlNode *n, const char *path, char *out, size_t len);
typedef int (*clc_burst_item_fn)(xmlNode *item, void *arg);
int clc_burst_each(xmlNode *n, const char *parent, clc_burst_item_fn fn, void *arg);

/* burst_run.c: a launch in a remote cloud (the rows are action_run.c's). */
struct clc_burst_launch {
	const char *image_id, *type, *key_name, *key_line, *user_data, *reservation_id;
	const char **group_names;
	int ngroups;
	long min, max;
	const char **ids;		/* the local ids of the rows written */
};
/* Prepared on the loop, called on a worker, applied on the loop (the rows), freed. */
struct clc_burst_job;
struct clc_burst_job *clc_burst_run_prepare(struct clc_req *r, const struct clc_remote *c,
    const struct clc_burst_launch *l);
int clc_burst_run_call(struct clc_burst_job *j);
int clc_burst_run_apply(struct clc_req *r, struct clc_burst_job *j, int *started);
void clc_burst_run_free(struct clc_burst_job *j);	/* NULL-safe */

/* burst_instances.c: the calls about running ones, and the poll. */
/* On a worker, no client waiting (local ids, or the remote's own): the poll asks again. */
void clc_burst_terminate_later(sqlite3 *db, const char *zone, const char **ids, int n);
void clc_burst_terminate_remote_later(const struct clc_remote *c, const char **remote_ids,
    int n);
/* The calls of RebootInstances / GetConsoleOutput, on a worker (action_instance_call.c). */
int clc_burst_ids_call(const struct clc_remote *c, const char *action, const char **remote,
    int n);
int clc_burst_console_call(const struct clc_remote *c, const char *remote, xmlDoc **doc);
void clc_burst_console_xml(struct clc_req *r, const char *id, xmlDoc *doc);	/* loop */
/* The poll of every remote cloud, each on a worker; applied on the loop. */
void clc_burst_poll(struct clc *clc);

#endif
