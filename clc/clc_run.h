/*
 * clc_run.h - RunInstances' helpers (action_run_check.c).
 */
#ifndef KARRI_CLC_RUN_H
#define KARRI_CLC_RUN_H

#include "clc.h"
#include "clc_instance.h"
#include "core/id.h"

int clc_run_parse(struct clc_req *r, struct clc_launch *l, long *min, long *max,
    const char **token, const char **key_name);
int clc_run_replay(struct clc_req *r, const char *token);
int clc_run_check_image(struct clc_req *r, struct clc_launch *l, char *kernel, char *ramdisk,
    char *image_url, char *kernel_url, char *ramdisk_url);
int clc_run_key(struct clc_req *r, const char *name, char *line, size_t len);
int clc_run_groups(struct clc_req *r, const char **names, const char **ids,
    char (*idbuf)[KR_ID_MAX], char (*namebuf)[CLC_MAX_NAME + 1], int max, int *n);
int clc_run_tag(struct clc_req *r, const char **ids, int n);
int clc_run_describe(struct clc_req *r, const char *res);

/* The reason of an instance whose launch is being asked (action_run.c). */
#define CLC_LAUNCHING "pending: the launch is in progress"
int clc_run_forget_unfinished(sqlite3 *db);

#endif
