/*
 * action_run_check.c - RunInstances' checks and answer (action_run.c does the
 * launch): parameters, ClientToken replay, image and its kernel/ramdisk
 * with their presigned Walrus URLs, key pair, security groups, tags.
 */
#include <stdio.h>
#include <string.h>

#include "clc.h"
#include "clc_image.h"
#include "clc_instance.h"
#include "clc_keys.h"
#include "clc_run.h"
#include "clc_walrus.h"
#include "core/db.h"
#include "core/error.h"
#include "core/id.h"

static const char *const known[] = { "ImageId", "MinCount", "MaxCount", "InstanceType",
	"KeyName", "SecurityGroup", "SecurityGroupId", "UserData", "Placement", "KernelId",
	"RamdiskId", "ClientToken", "BlockDeviceMapping", "Monitoring", "AdditionalInfo",
	"DisableApiTermination", "InstanceInitiatedShutdownBehavior", "TagSpecification",
	"AddressingType", "EbsOptimized", NULL };

/* Ephemeral mappings are what instance-store gives anyway; EBS ones are not built. */
static int
check_block_devices(struct clc_req *r)
{
	char key[64];

	for (int n = 1; n <= 32; n++) {
		snprintf(key, sizeof(key), "BlockDeviceMapping.%d.Ebs.VolumeSize", n);
		if (clc_param(r, key)) {
			kr_error("UnsupportedOperation", "Karri instances are instance-store: "
			    "EBS block device mappings are not supported");
			return -1;
		}
		snprintf(key, sizeof(key), "BlockDeviceMapping.%d.Ebs.SnapshotId", n);
		if (clc_param(r, key)) {
			kr_error("UnsupportedOperation", "Karri instances are instance-store: "
			    "EBS block device mappings are not supported");
			return -1;
		}
	}
	return 0;
}

static int
check_user_data(const char *ud)
{
	static unsigned char raw[CLC_MAX_USER_DATA + 3];
	size_t n = strlen(ud);

	if (n > (CLC_MAX_USER_DATA + 2) / 3 * 4 + 64 || clc_base64_decode(ud, raw,
	    sizeof(raw)) < 0) {
		kr_error("InvalidParameterValue", "UserData must be base64 and at most %d bytes "
		    "decoded", CLC_MAX_USER_DATA);
		return -1;
	}
	return 0;
}

int
clc_run_parse(struct clc_req *r, struct clc_launch *l, long *min, long *max,
    const char **token, const char **key_name)
{
	const char *mon = clc_param(r, "Monitoring.Enabled");

	if (clc_param_check_known(r, known) < 0 ||
	    !(l->image_id = clc_param_required(r, "ImageId")) ||
	    clc_image_check_id(l->image_id) < 0 ||
	    clc_param_int(r, "MinCount", 1, 100000, 1, min) < 0 ||
	    clc_param_int(r, "MaxCount", 1, 100000, *min, max) < 0 ||
	    check_block_devices(r) < 0)
		return -1;
	if (*min > *max) {
		kr_error("InvalidParameterValue", "MinCount (%ld) is above MaxCount (%ld)", *min,
		    *max);
		return -1;
	}
	if (mon && strcmp(mon, "false") != 0) {
		kr_error("UnsupportedOperation", "detailed monitoring is not available");
		return -1;
	}
	l->type = clc_param(r, "InstanceType") ? clc_param(r, "InstanceType") : "m1.small";
	*key_name = clc_param(r, "KeyName");
	*token = clc_param(r, "ClientToken");
	l->user_data = clc_param(r, "UserData");
	if (l->user_data && *l->user_data == '\0')
		l->user_data = NULL;
	if (*token && clc_check_name("ClientToken", *token, 64) < 0)
		return -1;
	if (l->user_data && check_user_data(l->user_data) < 0)
		return -1;
	return 0;
}

/* 1 (answered, or error recorded) when this token launched before; 0 to go on. */
int
clc_run_replay(struct clc_req *r, const char *token)
{
	char res[KR_ID_MAX] = "";
	int rc = clc_db_text(r->db, "SELECT id FROM reservations WHERE owner = ?"
	    " AND client_token = ?", r->account, token, res, sizeof(res));

	if (rc != 1)
		return rc < 0 ? 1 : 0;
	clc_run_describe(r, res);
	return 1;
}

/*
 * A presigned GET of the decrypted image of the bundle at `location`
 * (bucket/key.manifest.xml): nodes fetch it with no key of their own, for
 * as long as a launch may take.
 */
static int
image_url(struct clc_req *r, const char *location, char *out, size_t len)
{
	const char *slash = strchr(location, '/');
	char bucket[256], why[KR_ERROR_MSG_MAX];

	if (!slash || slash == location || (size_t)(slash - location) >= sizeof(bucket)) {
		kr_error("InternalError", "image location %.64s is not bucket/key", location);
		return -1;
	}
	snprintf(bucket, sizeof(bucket), "%.*s", (int)(slash - location), location);
	if (clc_walrus_presign_op(r->clc, r->db, "image", bucket, slash + 1, NULL,
	    CLC_IMAGE_URL_S, out, len) == 0)
		return 0;
	if (strcmp(kr_error_code(), "InvalidParameterValue") == 0) {
		/* The message is copied: kr_error() writes over the one it would read. */
		snprintf(why, sizeof(why), "%s", kr_error_message());
		kr_error("InsufficientInstanceCapacity", "nodes cannot fetch the image: %s", why);
	}
	return -1;
}

/* An image's location, kernel and ramdisk (each must be usable by the caller). */
static int
image_row(struct clc_req *r, const char *id, const char *kind, char *url, size_t len,
    char *kernel, char *ramdisk)
{
	char loc[1100] = "";
	sqlite3_stmt *st;

	if (clc_image_usable(r, id, kind) < 0 ||
	    kr_db_prepare(r->db, "SELECT location, coalesce(kernel_id, ''),"
	    " coalesce(ramdisk_id, '') FROM images WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (kr_db_step(st) == 1) {
		snprintf(loc, sizeof(loc), "%s", sqlite3_column_text(st, 0));
		if (kernel && !*kernel)
			snprintf(kernel, KR_ID_MAX, "%s", sqlite3_column_text(st, 1));
		if (ramdisk && !*ramdisk)
			snprintf(ramdisk, KR_ID_MAX, "%s", sqlite3_column_text(st, 2));
	}
	sqlite3_finalize(st);
	return image_url(r, loc, url, len);
}

int
clc_run_check_image(struct clc_req *r, struct clc_launch *l, char *kernel, char *ramdisk,
    char *image_url, char *kernel_url, char *ramdisk_url)
{
	if (clc_param(r, "KernelId"))
		snprintf(kernel, KR_ID_MAX, "%s", clc_param(r, "KernelId"));
	if (clc_param(r, "RamdiskId"))
		snprintf(ramdisk, KR_ID_MAX, "%s", clc_param(r, "RamdiskId"));
	if (image_row(r, l->image_id, "machine", image_url, CLC_IMAGE_URL_MAX, kernel,
	    ramdisk) < 0 ||
	    (*kernel && image_row(r, kernel, "kernel", kernel_url, CLC_IMAGE_URL_MAX, NULL,
	    NULL) < 0) ||
	    (*ramdisk && image_row(r, ramdisk, "ramdisk", ramdisk_url, CLC_IMAGE_URL_MAX, NULL,
	    NULL) < 0))
		return -1;
	l->image_url = image_url;
	l->kernel_id = *kernel ? kernel : NULL;
	l->kernel_url = *kernel ? kernel_url : NULL;
	l->ramdisk_id = *ramdisk ? ramdisk : NULL;
	l->ramdisk_url = *ramdisk ? ramdisk_url : NULL;
	return 0;
}

int
clc_run_key(struct clc_req *r, const char *name, char *line, size_t len)
{
	int rc;

	if (name == NULL)
		return 0;
	rc = clc_db_text(r->db, "SELECT public_key FROM key_pairs WHERE owner = ? AND name = ?",
	    r->account, name, line, len);
	if (rc == 0)
		kr_error("InvalidKeyPair.NotFound", "The key pair '%.64s' does not exist", name);
	return rc == 1 ? 0 : -1;
}

/* SecurityGroup.N (names) and SecurityGroupId.N; none given: "default". */
int
clc_run_groups(struct clc_req *r, const char **names, const char **ids,
    char (*idbuf)[KR_ID_MAX], char (*namebuf)[CLC_MAX_NAME + 1], int max, int *n)
{
	const char *byname[CLC_MAX_IDS], *byid[CLC_MAX_IDS];
	size_t nn, ni;

	*n = 0;
	if (clc_param_list_checked(r, "SecurityGroup", NULL, byname, CLC_MAX_IDS, &nn) < 0 ||
	    clc_param_list_checked(r, "SecurityGroupId", NULL, byid, CLC_MAX_IDS, &ni) < 0 ||
	    clc_group_ensure_default(r->db, r->account, idbuf[0], KR_ID_MAX) < 0)
		return -1;
	if (nn + ni > (size_t)max) {
		kr_error("InvalidParameterValue", "at most %d security groups", max);
		return -1;
	}
	if (nn + ni == 0)
		byname[nn++] = "default";
	for (size_t i = 0; i < nn + ni; i++) {
		const char *name = i < nn ? byname[i] : NULL, *id = i < nn ? NULL : byid[i - nn];
		int rc = clc_group_lookup(r->db, r->account, name, id, idbuf[*n], KR_ID_MAX,
		    namebuf[*n], CLC_MAX_NAME + 1);

		if (rc != 0) {
			if (rc == 1)
				kr_error("InvalidGroup.NotFound", "The security group '%.64s' does "
				    "not exist", name ? name : id);
			return -1;
		}
		ids[*n] = idbuf[*n];
		names[*n] = namebuf[*n];
		(*n)++;
	}
	return 0;
}

/* TagSpecification.N with ResourceType instance. */
int
clc_run_tag(struct clc_req *r, const char **ids, int n)
{
	for (int i = 0; i < n; i++)
		if (clc_tags_apply_spec(r, ids[i], "instance") < 0)
			return -1;
	return 0;
}

/* The RunInstances answer: the reservation as DescribeInstances shows it. */
int
clc_run_describe(struct clc_req *r, const char *res)
{
	struct clc_instance_ctx x;
	char sql[1200];
	sqlite3_stmt *st;
	int rc;

	snprintf(sql, sizeof(sql), "%s WHERE i.reservation_id = ? ORDER BY i.launch_index",
	    clc_instance_cols);
	if (clc_instance_ctx_init(&x, r->db, r->account) < 0)
		return -1;
	if (kr_db_prepare(r->db, sql, &st) < 0) {
		clc_instance_ctx_free(&x);
		return -1;
	}
	sqlite3_bind_text(st, 1, res, -1, SQLITE_STATIC);
	if ((rc = kr_db_step(st)) == 1) {
		clc_xml_col(r->out, "reservationId", st, C_RES);
		clc_xml_col(r->out, "ownerId", st, C_OWNER);
		clc_groups_xml(r->out, clc_instance_groups(&x, res));
		kr_buf_add(r->out, "<instancesSet>");
		do
			clc_instance_item(r, &x, st);
		while ((rc = kr_db_step(st)) == 1);
		kr_buf_add(r->out, "</instancesSet>");
	} else if (rc == 0)
		kr_error("InternalError", "reservation %s has no instances", res);
	sqlite3_finalize(st);
	if (x.failed)
		rc = -1;
	clc_instance_ctx_free(&x);
	return rc < 0 || *kr_error_code() ? -1 : 0;
}
