/*
 * clc_metadata.h - the instance metadata service, in three parts:
 * metadata.c (who is asking, which version, IMDSv2 enforcement, the log
 * line), metadata_tree.c (the tree of one instance as path -> text) and
 * metadata_token.c (IMDSv2 session tokens), with the signed identity
 * document from metadata_identity.c.
 */
#ifndef KARRI_CLC_METADATA_H
#define KARRI_CLC_METADATA_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <sqlite3.h>

struct kr_buf;
struct kr_config;

/* One instance, as the metadata service describes it (strings "" when unknown). */
struct clc_md_instance {
	char id[32], image[32], kernel[32], ramdisk[32], type[32], reservation[32];
	char owner[16], zone[64], priv[16], pub[16], mac[20], key_name[256];
	char arch[16];			/* the image's architecture */
	char bus[48];			/* root disk's bus: virtio, scsi, ide; "" not yet
					 * known; "none": no disks (container, remote) */
	char *key_material;		/* OpenSSH line, or NULL */
	char *user_data;		/* the base64 RunInstances got, or NULL */
	char *manifest;			/* the image's bucket/manifest, or NULL */
	char *group_names;		/* newline-separated */
	char *group_ids;		/* newline-separated, same order */
	long launch_index, disk_gib;
	time_t launched;
};

/* metadata_tree.c */
#define CLC_MD_MAX_LEAVES 160
struct clc_md_leaf {
	char *path;			/* under the version: "meta-data/ami-id" */
	char *text;
};
struct clc_md_tree {
	struct clc_md_leaf leaf[CLC_MD_MAX_LEAVES];
	size_t n;
	bool failed;			/* out of memory or leaves: answer 500 */
};
/* The whole tree of inst (its attached volumes read from db), sorted by path. */
void clc_md_tree_build(sqlite3 *db, const struct clc_md_instance *inst,
    const struct kr_config *cfg, struct clc_md_tree *t);
void clc_md_tree_free(struct clc_md_tree *t);
/* The text at path ("" is the version's root): 200, 404 or 500. */
int clc_md_tree_answer(const struct clc_md_tree *t, const char *path, struct kr_buf *out);
/* "ip-10-1-2-3.<region>.compute.internal" for an address. */
void clc_md_dns_name(const char *prefix, const char *ip, char *out, size_t len);

/* metadata_identity.c: the document's JSON, and its signatures by KARRI_CLOUD_KEY. */
void clc_md_identity_document(const struct clc_md_instance *inst, struct kr_buf *out);
enum clc_md_sig { CLC_MD_SIG_RSA, CLC_MD_SIG_PKCS7 };
/* 0, or -1 when the cloud's key or certificate cannot be read (logged). */
int clc_md_identity_sign(const struct kr_config *cfg, const char *doc, enum clc_md_sig how,
    struct kr_buf *out);

/* metadata_token.c: IMDSv2 tokens, bound to one instance, good for ttl seconds. */
#define CLC_MD_TOKEN_MAX_TTL 21600
#define CLC_MD_TOKEN_LEN 96
int clc_md_token_issue(const char *instance_id, long ttl, time_t now,
    char out[CLC_MD_TOKEN_LEN]);
bool clc_md_token_valid(const char *token, const char *instance_id, time_t now);

#endif
