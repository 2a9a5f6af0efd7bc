/*
 * action_attach.c - AttachVolume and DetachVolume.
 *
 * Attach: the instance's CC AttachVolume without remoteDev answers the
 * node's storage MAC (the NC reports it in ncDescribeResource); EBS
 * ExportVolume allowing that MAC answers the target's AoE shelf.slot,
 * storage NIC and MAC; then the CC AttachVolume with remoteDev
 * "aoe::<target mac>:e<shelf>.<slot>" hot-plugs it (no IFACE: the node
 * uses its own storage NIC).  Only when both agreed is the attachment
 * recorded, with the path the NC took to the guest (clc_attach_path: the
 * volume's karri:path tag); otherwise the export is withdrawn.  Detach
 * goes the other way.  The calls run on a worker thread, in order, and
 * the outcome is recorded on the loop (clc_backend.h).
 *
 * Volume and instance must be in one availability zone (EC2's
 * InvalidVolume.ZoneMismatch): each zone has its own EBS on its own
 * storage network, and AoE does not cross a router.
 *
 * Guest-side AoE: an instance whose NC gave it a NIC on the storage network
 * says so in its net attachment ("model=virtio storage=MAC", the karri:net
 * tag).  Its volumes are exported to that MAC, not the node's: the guest's
 * own aoe driver reaches them and the node, which only records the
 * attachment, can not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aoe/aoe.h"
#include "clc_backend.h"
#include "clc_cc.h"
#include "clc_actions.h"
#include "clc_volume.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "soap/soap_error.h"
#include "core/sizes.h"

static int
ebs_export(struct clc *clc, const char *url, const char *vol, const char *mac,
    char *remote, size_t len)
{
	struct soap *soap = clc_ebs_soap(clc);
	char corr[KR_UUID_MAX], user[16], *macs[1] = { (char *)mac };
	struct _ebs__ExportVolume req = { corr, user, (char *)vol, mac ? 1 : 0, macs };
	struct _ebs__ExportVolumeResponse resp = { 0 };
	int rc = -1;

	if (soap == NULL)
		return -1;
	clc_cc_ids(corr, user);
	if (clc_soap_check(soap, soap_call___ebs__ExportVolume(soap, url, NULL, &req, &resp),
	    &resp._return, &resp.statusMessage, "Unavailable", "InternalError", "ExportVolume",
	    url) == 0) {
		/*
		 * No IFACE: resp.interface is the target's NIC name, which the
		 * node would take for its own (nc/aoe_volume.c: empty means the
		 * node's NC_STORAGE_INTERFACE); right in the sim only by chance.
		 */
		snprintf(remote, len, "aoe::%s:e%d.%d", resp.targetMac ? resp.targetMac : "",
		    resp.shelf, resp.slot);
		rc = 0;
	}
	clc_cc_done(soap);
	return rc;
}

static void
ebs_unexport(struct clc *clc, const char *url, const char *vol)
{
	struct soap *soap = clc_ebs_soap(clc);
	char corr[KR_UUID_MAX], user[16];
	struct _ebs__UnexportVolume req = { corr, user, (char *)vol };
	struct _ebs__UnexportVolumeResponse resp = { 0 };

	if (soap == NULL)
		return;
	clc_cc_ids(corr, user);
	if (kr_soap_error_read(soap, soap_call___ebs__UnexportVolume(soap, url, NULL, &req, &resp),
	    &resp._return, &resp.statusMessage, NULL, "UnexportVolume", url) < 0)
		kr_log_warnx("UnexportVolume %s failed (%s: %s): the export stays until EBS is told",
		    vol, kr_error_code(), kr_error_message());
	kr_error_clear();	/* said; the caller's outcome does not depend on it */
	clc_cc_done(soap);
}

/*
 * The NC's word for how a volume reached the guest (ncAttachVolume's
 * attachment, relayed by the CC) as the owner sees it in karri:path: ""
 * when the node did not say; a word this CLC does not know is shown as the
 * node gave it rather than hidden.
 */
const char *
clc_attach_path(const char *nc_attachment)
{
	static const struct { const char *nc, *path; } paths[] = {
		{ "phy", "kernel" }, { "nbd", "nbd" }, { "guest", "guest" },
		{ "guest-aoe", "guest" }, { "file", "file" },
	};

	if (nc_attachment == NULL)
		return "";
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (strcmp(nc_attachment, paths[i].nc) == 0)
			return paths[i].path;
	return nc_attachment;
}

/* What the CC's AttachVolume answers: the node's storage MAC; once hot-plugged, the path. */
struct cc_answer {
	char mac[64];
	char path[32];
};

static int
cc_attach(struct clc *clc, const char *cc_url, const char *inst, const char *vol,
    const char *remote, const char *dev, struct cc_answer *ans)
{
	struct soap *soap = clc_cc_soap(clc);
	char corr[KR_UUID_MAX], user[16];
	struct _cc__AttachVolume req = { corr, user, (char *)inst, (char *)vol, (char *)remote,
		(char *)dev };
	struct _cc__AttachVolumeResponse resp = { 0 };
	int rc = -1;

	if (soap == NULL)
		return -1;
	clc_cc_ids(corr, user);
	if (clc_soap_check(soap, soap_call___cc__AttachVolume(soap, cc_url, NULL, &req, &resp),
	    &resp._return, &resp.statusMessage, "Unavailable", "InternalError", "AttachVolume",
	    cc_url) == 0) {
		snprintf(ans->mac, sizeof(ans->mac), "%s", resp.nodeMac ? resp.nodeMac : "");
		snprintf(ans->path, sizeof(ans->path), "%s", clc_attach_path(resp.attachment));
		rc = 0;
	}
	clc_cc_done(soap);
	return rc;
}

/*
 * The MAC of the instance's own storage NIC, if it has one (guest-side
 * AoE): 1 found, 0 none, -1 error.  Checked as a MAC, although the NC
 * wrote it, because it becomes an EBS allow-list entry.
 */
static int
instance_storage_mac(struct clc_req *r, const char *inst, char mac[18])
{
	sqlite3_stmt *st;
	const char *net, *v;
	int rc;

	if (kr_db_prepare(r->db, "SELECT net_attachment FROM instances WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, inst, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	net = rc == 1 ? (const char *)sqlite3_column_text(st, 0) : NULL;
	v = net ? strstr(net, " storage=") : NULL;
	rc = rc < 0 ? -1 : 0;
	if (v && strcspn(v += 9, " ") == 17) {
		uint8_t bytes[6];

		snprintf(mac, 18, "%.17s", v);
		rc = kr_aoe_mac_parse(mac, bytes) == 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* The instance's zone, if the caller owns it and it runs. */
static struct clc_cluster *
running_instance_cluster(struct clc_req *r, const char *inst)
{
	sqlite3_stmt *st;
	char zone[64] = "";
	int rc;

	if (clc_check_id("InstanceId", inst, "i", "InvalidInstanceID.Malformed") < 0 ||
	    kr_db_prepare(r->db, "SELECT zone FROM instances WHERE id = ? AND owner = ?"
	    " AND state = 'running'", &st) < 0)
		return NULL;
	sqlite3_bind_text(st, 1, inst, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->account, -1, SQLITE_STATIC);
	if ((rc = kr_db_step(st)) == 1)
		snprintf(zone, sizeof(zone), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc == 0)
		kr_error("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist or "
		    "is not running", inst);
	return rc == 1 ? clc_cluster_find(r->clc, zone) : NULL;
}

/* path: clc_attach_path's word, "" when the node did not say (no karri:path). */
static int
record(struct clc_req *r, const char *vol, const char *inst, const char *dev,
    const char *path)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(r->db, inst ? "UPDATE volumes SET status = 'in-use', instance_id = ?2,"
	    " device = ?3, attach_status = 'attached', attached = ?4, attach_path = ?5"
	    " WHERE id = ?1" :
	    "UPDATE volumes SET status = 'available', instance_id = NULL, device = NULL,"
	    " attach_status = NULL, attached = NULL, attach_path = NULL WHERE id = ?1", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, vol, -1, SQLITE_STATIC);
	if (inst) {
		sqlite3_bind_text(st, 2, inst, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, dev, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, r->now);
		if (*path)
			sqlite3_bind_text(st, 5, path, -1, SQLITE_STATIC);
	}
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

static void
attachment_xml(struct clc_req *r, const char *vol, const char *inst, const char *dev,
    const char *status)
{
	clc_xml_elem(r->out, "volumeId", vol);
	clc_xml_elem(r->out, "instanceId", inst);
	clc_xml_elem(r->out, "device", dev);
	clc_xml_elem(r->out, "status", status);
	clc_xml_time(r->out, "attachTime", r->now);
}

/* An attachment or detachment: decided on the loop, its calls made on a worker. */
struct attach_job {
	struct clc *clc;
	char vol[32], inst[32], dev[33], cc_url[300], ebs_url[300];
	char cc_key[CLC_BACKEND_KEY_MAX], ebs_key[CLC_BACKEND_KEY_MAX];	/* backend queues */
	bool guest;			/* the instance's own storage NIC: no question to the CC */
	struct cc_answer ans;
	char remote[300];
};

/* CC (the node's MAC), EBS export to it, CC hot-plug; the export withdrawn on failure. */
static int
attach_work(void *arg)
{
	struct attach_job *j = arg;

	if (!j->guest && cc_attach(j->clc, j->cc_url, j->inst, j->vol, NULL, j->dev,
	    &j->ans) < 0)
		return -1;
	if (!*j->ans.mac) {
		kr_error("Unsupported", "the node of %s does not report its storage MAC: it "
		    "cannot reach EBS volumes", j->inst);
		return -1;
	}
	if (ebs_export(j->clc, j->ebs_url, j->vol, j->ans.mac, j->remote, sizeof(j->remote)) < 0)
		return -1;
	if (cc_attach(j->clc, j->cc_url, j->inst, j->vol, j->remote, j->dev, &j->ans) < 0) {
		struct kr_err e;

		kr_error_save(&e);
		ebs_unexport(j->clc, j->ebs_url, j->vol);
		kr_error_restore(&e);
		return -1;
	}
	return 0;
}

static int
attach_resume(struct clc_req *r, int rc, void *arg)
{
	struct attach_job *j = arg;
	char status[32], cur[32];

	if (rc < 0)
		return -1;
	/* Still the caller's and still free (nothing else attached it meanwhile). */
	if (clc_volume_owned(r, j->vol, status, sizeof(status), cur, sizeof(cur)) < 0 ||
	    record(r, j->vol, j->inst, j->dev, j->ans.path) < 0)
		return -1;
	attachment_xml(r, j->vol, j->inst, j->dev, "attaching");
	return 0;
}

static struct attach_job *
job_new(struct clc_req *r, const char *vol, const char *inst, const char *dev)
{
	struct attach_job *j = calloc(1, sizeof(*j));
	struct clc_cluster *c;
	char zone[64];

	if (j == NULL) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	j->clc = r->clc;
	snprintf(j->vol, sizeof(j->vol), "%s", vol);
	snprintf(j->inst, sizeof(j->inst), "%s", inst);
	snprintf(j->dev, sizeof(j->dev), "%s", dev ? dev : "");
	/* AoE does not cross a router: a zone's EBS reaches that zone's nodes only. */
	if (!(c = running_instance_cluster(r, inst)) ||
	    clc_volume_zone(r->db, vol, zone, sizeof(zone)) < 0)
		goto fail;
	if (strcmp(zone, c->name) != 0) {
		kr_error("InvalidVolume.ZoneMismatch", "The volume '%s' is not in the same "
		    "availability zone as instance '%s'", vol, inst);
		goto fail;
	}
	if (clc_ebs_url(r->clc, zone, j->ebs_url, sizeof(j->ebs_url), j->ebs_key) < 0)
		goto fail;
	snprintf(j->cc_url, sizeof(j->cc_url), "%s", c->url);
	clc_backend_key(j->cc_key, "cc", c->name);
	return j;
fail:
	free(j);
	return NULL;
}

int
clc_attach_volume(struct clc_req *r)
{
	static const char *const known[] = { "VolumeId", "InstanceId", "Device", NULL };
	const char *vol, *inst, *dev;
	char status[32], cur[32];
	struct attach_job *j;
	int guest;

	if (clc_param_check_known(r, known) < 0 || !(vol = clc_param_required(r, "VolumeId")) ||
	    !(inst = clc_param_required(r, "InstanceId")) ||
	    !(dev = clc_param_required(r, "Device")) ||
	    clc_check_name("Device", dev, 32) < 0 ||
	    clc_volume_owned(r, vol, status, sizeof(status), cur, sizeof(cur)) < 0)
		return -1;
	if (strcmp(status, "available") != 0) {
		kr_error("IncorrectState", "volume %s is %s, not available", vol, status);
		return -1;
	}
	/*
	 * The node's storage MAC first (a CC AttachVolume without remoteDev
	 * only answers it): EBS exports only to named MACs (1..16) and ignores
	 * every other initiator, so the node could not reach the volume before
	 * the export names it.  (Exporting first to nobody, as this did, is
	 * refused by EBS: found by the end-to-end test.)  An instance with its
	 * own storage NIC needs no question: its MAC is the one.
	 */
	if (!(j = job_new(r, vol, inst, dev)))
		return -1;
	if ((guest = instance_storage_mac(r, inst, j->ans.mac)) < 0) {
		free(j);
		return -1;
	}
	j->guest = guest;
	return clc_req_defer(r, j->cc_key, j->ebs_key, attach_work, attach_resume, j, free);
}

static int
detach_work(void *arg)
{
	struct attach_job *j = arg;
	struct soap *soap = clc_cc_soap(j->clc);
	char corr[KR_UUID_MAX], user[16];
	struct _cc__DetachVolume req = { corr, user, j->inst, j->vol, NULL, NULL, NULL };
	struct _cc__DetachVolumeResponse resp = { 0 };
	int rc;

	if (soap == NULL)
		return -1;
	clc_cc_ids(corr, user);
	rc = clc_soap_check(soap, soap_call___cc__DetachVolume(soap, j->cc_url, NULL, &req,
	    &resp), &resp._return, &resp.statusMessage, "Unavailable", "InternalError",
	    "DetachVolume", j->cc_url);
	clc_cc_done(soap);
	if (rc == 0)
		ebs_unexport(j->clc, j->ebs_url, j->vol);
	return rc;
}

static int
detach_resume(struct clc_req *r, int rc, void *arg)
{
	struct attach_job *j = arg;

	if (rc < 0 || record(r, j->vol, NULL, NULL, NULL) < 0)
		return -1;
	attachment_xml(r, j->vol, j->inst, j->dev, "detaching");
	return 0;
}

/* The device a volume is attached as (what DetachVolume answers); "" if none. */
static int
attached_device(struct clc_req *r, const char *vol, char *dev, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(r->db, "SELECT coalesce(device, '') FROM volumes WHERE id = ?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, vol, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	snprintf(dev, len, "%s", rc == 1 ? (const char *)sqlite3_column_text(st, 0) : "");
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

int
clc_detach_volume(struct clc_req *r)
{
	static const char *const known[] = { "VolumeId", "InstanceId", "Device", "Force", NULL };
	char status[32], inst[32], dev[33];
	struct attach_job *j;
	const char *vol;

	if (clc_param_check_known(r, known) < 0 || !(vol = clc_param_required(r, "VolumeId")) ||
	    clc_volume_owned(r, vol, status, sizeof(status), inst, sizeof(inst)) < 0)
		return -1;
	if (!*inst) {
		kr_error("IncorrectState", "Volume %s is not attached", vol);
		return -1;
	}
	if (attached_device(r, vol, dev, sizeof(dev)) < 0 || !(j = job_new(r, vol, inst, dev)))
		return -1;
	return clc_req_defer(r, j->cc_key, j->ebs_key, detach_work, detach_resume, j, free);
}
