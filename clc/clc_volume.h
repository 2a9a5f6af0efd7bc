/*
 * clc_volume.h - calls to EBS (ebs_client.c) for the volume actions.
 */
#ifndef KARRI_CLC_VOLUME_H
#define KARRI_CLC_VOLUME_H

#include "karriH.h"
#include "clc.h"

/* The registered EBS's URL: 0, or -1 + Unsupported (none registered). */
int clc_ebs_url(struct clc *clc, char *url, size_t len);
struct soap *clc_ebs_soap(struct clc *clc);
/* action_volume.c, action_snapshot.c */
int clc_volume_owned(struct clc_req *r, const char *id, char *status, size_t slen,
    char *instance, size_t ilen);
int clc_snapshot_owned(struct clc_req *r, const char *id, long *size);

/* Refresh volumes and snapshots in a transitional state from EBS. */
void clc_volumes_poll(struct clc *clc);

#endif
