/*
 * clc_image.h - checks shared by the image actions (action_image_check.c) and
 * RegisterImage's validation of a bundle by Walrus (client_walrus_manifest.c).
 */
#ifndef KARRI_CLC_IMAGE_H
#define KARRI_CLC_IMAGE_H

#include <stdbool.h>

#include "core/buf.h"

struct clc_req;

int clc_image_check_id(const char *id);			/* InvalidAMIID.Malformed */
int clc_image_check_location(const char *location);	/* bucket/key.manifest.xml */
int clc_image_check_arch(const char *arch);
int clc_image_usable(struct clc_req *r, const char *id, const char *kind);
int clc_image_owned(struct clc_req *r, const char *id);	/* owner, or the admin */
bool clc_image_name_taken(struct clc_req *r, const char *name);
/* What Walrus says of a valid bundle. */
struct clc_manifest {
	char kind[16];			/* machine, kernel, ramdisk */
	char name[129];			/* the image's name in the manifest ("" if none) */
	char arch[16];			/* x86_64, i386 ("" if none) */
	char owner_id[16];		/* the account that uploaded the manifest */
	unsigned long long size;	/* of the decrypted image */
};

/*
 * Ask Walrus to validate the bundle at `location` (bucket/key.manifest.xml,
 * shape already checked): the URL presigned on the loop (prepare), fetched
 * on a worker (fetch), the answer judged on the loop (judge).  -1 +
 * kr_error: InvalidManifest (missing or broken bundle, or not the
 * caller's), Unavailable (Walrus did not answer), InvalidParameterValue
 * (no Walrus registered).
 */
struct clc_manifest_job {
	char location[1100];
	char url[4096];
	struct kr_buf answer;
	long status, timeout_s;
};
int clc_manifest_prepare(struct clc_req *r, const char *location, struct clc_manifest_job *j);
int clc_manifest_fetch(struct clc_manifest_job *j);
int clc_manifest_judge(struct clc_req *r, struct clc_manifest_job *j, struct clc_manifest *m);
void clc_manifest_job_free(struct clc_manifest_job *j);

#endif
