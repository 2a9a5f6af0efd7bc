/*
 * clc_image.h - checks shared by the image actions (image_util.c).
 */
#ifndef KARRI_CLC_IMAGE_H
#define KARRI_CLC_IMAGE_H

struct clc_req;

int clc_image_check_id(const char *id);			/* InvalidAMIID.Malformed */
int clc_image_check_location(const char *location);	/* bucket/key.manifest.xml */
int clc_image_check_arch(const char *arch);
int clc_image_usable(struct clc_req *r, const char *id, const char *kind);
int clc_image_owned(struct clc_req *r, const char *id);	/* owner, or the admin */
bool clc_image_name_taken(struct clc_req *r, const char *name);
/* The hook for Walrus's manifest validation: sets *kind (machine, kernel, ramdisk). */
int clc_manifest_check(struct clc_req *r, const char *location, const char **kind);

#endif
