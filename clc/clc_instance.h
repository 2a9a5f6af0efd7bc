/*
 * clc_instance.h - instances: the columns every instance query selects
 * (action_instance_xml.c), their XML, and the CC calls about them (client_cc_instances.c).
 */
#ifndef KARRI_CLC_INSTANCE_H
#define KARRI_CLC_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "core/buf.h"

struct clc_req;
struct clc;

extern const char clc_instance_cols[];
enum { C_ID, C_RES, C_OWNER, C_IMAGE, C_KERNEL, C_RAMDISK, C_TYPE, C_KEY, C_INDEX, C_STATE,
	C_REASON, C_ZONE, C_PRIV, C_PUB, C_LAUNCHED, C_DISK, C_NET };

/*
 * What an instance's XML needs besides its row: its reservation's groups
 * (asked once per reservation, kept until the next one) and which of the
 * owner's instances have stored tags (asked once).  init (owner NULL: every
 * account's instances), write the rows, free.  A failed lookup records a
 * kr_error() and sets failed: check it when done.
 */
struct clc_instance_ctx {
	sqlite3_stmt *groups_st;
	struct kr_buf groups;		/* "sg-1 default\nsg-2 web" of reservation res */
	struct kr_buf groups_xml;	/* the same as a <groupSet> */
	char res[64];
	bool have_groups, groups_null;
	bool failed;			/* a lookup failed (kr_error recorded) */
	char **tagged;			/* sorted ids of the instances with stored tags */
	size_t ntagged;
};
int clc_instance_ctx_init(struct clc_instance_ctx *x, sqlite3 *db, const char *owner);
void clc_instance_ctx_free(struct clc_instance_ctx *x);
const char *clc_instance_groups(struct clc_instance_ctx *x, const char *reservation_id);

int clc_state_code(const char *state);
void clc_groups_xml(struct kr_buf *b, const char *groups);
void clc_instance_item(const struct clc_req *r, struct clc_instance_ctx *x, sqlite3_stmt *st);
void clc_reservation_open(const struct clc_req *r, struct clc_instance_ctx *x,
    sqlite3_stmt *st);
void clc_reservation_close(const struct clc_req *r);
void clc_instance_row(const struct clc_req *r, struct clc_instance_ctx *x, sqlite3_stmt *st,
    char *cur_res, size_t len);

/* A launch, as RunInstances hands it to the CC. */
struct clc_launch {
	const char *reservation_id;
	const char **instance_ids;
	const char **macs;
	int count, min_count;
	const char *image_id, *image_url, *kernel_id, *kernel_url, *ramdisk_id, *ramdisk_url;
	const char **groups;
	int ngroups;
	const char *key_material, *user_data, *owner;
	const char *type;
};

/* client_cc_instances.c */
/* A launch: prepared (loop), called (worker), applied (loop); l lives until freed. */
struct clc_cc_run;
struct clc_cc_run *clc_cc_run_prepare(struct clc *clc, sqlite3 *db, const char *url,
    const struct clc_launch *l);
int clc_cc_run_call(struct clc_cc_run *x);
int clc_cc_run_apply(struct clc_cc_run *x, sqlite3 *db, int *started);
void clc_cc_run_free(struct clc_cc_run *x);
#define CLC_TERMINATE_BATCH 1000	/* ids in one TerminateInstances to a CC */
/* A termination on a worker, no client waiting: a failed one is asked again by the poll. */
void clc_cc_terminate_later(struct clc *clc, const char *zone, const char *url,
    const char **ids, int n);
int clc_cc_terminate(struct clc *clc, const char *url, const char **ids, int n);
int clc_cc_reboot(struct clc *clc, const char *url, const char **ids, int n);
int clc_cc_console(struct clc *clc, const char *url, const char *id, char **output);

/*
 * action_instance_call.c: RebootInstances / GetConsoleOutput deferred to a worker.
 * new, add each instance (on the loop, with its zone), then reboot or
 * console (clc_req_defer: x is the deferral's from then on, even on -1);
 * free only when it was never handed over.
 */
struct inst_call;
struct inst_call *clc_inst_call_new(struct clc_req *r, const char *console_id);
int clc_inst_call_add(struct clc_req *r, struct inst_call *x, const char *id, const char *zone,
    int max_ids);
int clc_inst_call_reboot(struct clc_req *r, struct inst_call *x);
int clc_inst_call_console(struct clc_req *r, struct inst_call *x);
void clc_inst_call_free(struct inst_call *x);

#endif
