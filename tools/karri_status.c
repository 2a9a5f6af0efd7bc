/*
 * karri_status.c - the cloud part of `karri status`: each registered
 * cluster with its nodes and free capacity per instance type (asked of its
 * CC now), each EBS with the zone it serves and the volumes it holds (and
 * whether it answers now), and every live instance with where it runs and how its disk and
 * network reached the guest (the NC's attachment choice), read from clc.db;
 * each attached volume with the path it took to its guest (kernel AoE,
 * nbd, guest AoE: the owner's karri:path tag); and each remote cloud
 * registered for bursting, asked now whether it answers, with how many
 * instances run there.
 */
#include <stdio.h>
#include <string.h>

#include "karriH.h"
#include "clc.h"
#include "clc_cc.h"
#include "core/config.h"
#include "core/db.h"
#include "core/error.h"
#include "karri_cmds.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

static int
cluster_status(sqlite3 *db, const char *name, const char *url)
{
	struct kr__virtualMachineType vm[CLC_MAX_TYPES];
	struct clc_type_cap caps[CLC_MAX_TYPES];
	struct _cc__DescribeResources req = { "karri-status", "karri-admin", 0, vm };
	struct _cc__DescribeResourcesResponse resp = { 0 };
	struct soap *soap = soap_new();
	int rc = 1;

	req.__sizeinstanceTypes = clc_types_load(db, vm, CLC_MAX_TYPES, caps);
	if (req.__sizeinstanceTypes < 0)
		req.__sizeinstanceTypes = 0;
	kr_soap_setup(soap, 5);
	if (kr_soap_error_read(soap, soap_call___cc__DescribeResources(soap, url, NULL, &req,
	    &resp), &resp._return, &resp.statusMessage, NULL, "DescribeResources", url) < 0) {
		printf("%-13s %-44s %-9s %s\n", "cluster", url, "DOWN", kr_error_message());
	} else {
		printf("%-13s %-44s %-9s zone=%s nodes=%d\n", "cluster", url, "UP", name,
		    resp.__sizenodes);
		for (int i = 0; i < resp.__sizenodes; i++) {
			struct cc__nodeType *n = &resp.nodes[i];

			printf("  node %-40s %-8s cores %d/%d mem %d/%d MiB disk %d/%d GiB "
			    "instances %d\n", n->serviceTag ? n->serviceTag : "?",
			    n->state ? n->state : "?", n->coresAvailable, n->coresMax,
			    n->memoryAvailable, n->memoryMax, n->diskAvailable, n->diskMax,
			    n->instances);
		}
		for (int i = 0; i < resp.__sizeresources; i++)
			printf("  %-12s free %4d / max %4d\n", resp.resources[i].instanceType &&
			    resp.resources[i].instanceType->name ? resp.resources[i].instanceType->name :
			    "?", resp.resources[i].availableInstances, resp.resources[i].maxInstances);
		rc = 0;
	}
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
	return rc;
}

/*
 * A zone's EBS, asked now whether it answers (DescribeService), with the
 * zone it serves ("*": every zone without its own) and the volumes it
 * holds in clc.db.  1 when it is down.
 */
static int
ebs_status(sqlite3 *db, const char *name, const char *zone, const char *url)
{
	struct _svc__DescribeService req = { "karri-status", "karri-admin" };
	struct _svc__DescribeServiceResponse resp = { 0 };
	struct soap *soap = soap_new();
	int down;

	kr_soap_setup(soap, 5);
	down = kr_soap_error_read(soap, soap_call___svc__DescribeService(soap, url, NULL, &req,
	    &resp), &resp._return, &resp.statusMessage, NULL, "DescribeService", url) < 0;
	printf("%-13s %-44s %-9s zone=%s name=%s volumes=%d%s%s\n", "ebs", url,
	    down ? "DOWN" : "UP", *zone ? zone : "*", name, karri_ebs_volumes(db, zone),
	    down ? " " : "", down ? kr_error_message() : "");
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
	return down;
}

/* Attached volumes only: a free volume has no path (clc.db volumes.attach_path). */
static void
volumes_status(sqlite3 *db)
{
	sqlite3_stmt *st;

	if (kr_db_prepare(db, "SELECT id, owner, instance_id, coalesce(device, '-'),"
	    " coalesce(attach_path, '-') FROM volumes WHERE instance_id IS NOT NULL"
	    " ORDER BY instance_id, id", &st) < 0)
		return;
	printf("%-12s %-12s %-12s %-10s %s\n", "VOLUME", "OWNER", "INSTANCE", "DEVICE", "PATH");
	while (kr_db_step(st) == 1)
		printf("%-12s %-12s %-12s %-10s %s\n", sqlite3_column_text(st, 0),
		    sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
		    sqlite3_column_text(st, 3), sqlite3_column_text(st, 4));
	sqlite3_finalize(st);
}

/*
 * Whether this front end runs the CC or EBS (kind "cluster" or "ebs"):
 * yes when none is registered yet (a fresh install) or one is registered
 * at an address of this host; no when every one runs elsewhere (a cluster
 * head per zone), where karri_status_cloud asks them.
 */
bool
karri_front_runs(struct kr_config *cfg, const char *kind)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	bool any = false, here = false;

	if (clc_db_open(kr_config_get(cfg, "CLC_DB"), &db) < 0) {
		kr_error_clear();
		return true;
	}
	if (kr_db_prepare(db, "SELECT DISTINCT host FROM services WHERE kind = ?", &st) == 0) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		while (!here && kr_db_step(st) == 1) {
			any = true;
			here = karri_host_is_local((const char *)sqlite3_column_text(st, 0));
		}
		sqlite3_finalize(st);
	}
	kr_db_close(db);
	return here || !any;
}

int
karri_status_cloud(struct kr_config *cfg)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	char url[400];
	int down = 0;

	if (clc_db_open(kr_config_get(cfg, "CLC_DB"), &db) < 0) {
		printf("(no cloud state: %s)\n", kr_error_message());
		return 0;
	}
	if (kr_db_prepare(db, "SELECT kind, name, host, port, scheme, zone FROM services"
	    " ORDER BY kind, name", &st) == 0) {
		while (kr_db_step(st) == 1) {
			const char *kind = (const char *)sqlite3_column_text(st, 0);
			const char *zone = (const char *)sqlite3_column_text(st, 5);

			snprintf(url, sizeof(url), "%s://%s:%d/", sqlite3_column_text(st, 4),
			    sqlite3_column_text(st, 2), sqlite3_column_int(st, 3));
			if (strcmp(kind, "cluster") == 0)
				down += cluster_status(db, (const char *)sqlite3_column_text(st, 1),
				    url);
			else if (strcmp(kind, "ebs") == 0)	/* the block storage of a zone */
				down += ebs_status(db, (const char *)sqlite3_column_text(st, 1), zone,
				    url);
			else
				printf("%-13s %-44s %-9s (registered)\n", sqlite3_column_text(st, 0),
				    url, "-");
		}
		sqlite3_finalize(st);
	}
	down += karri_cloud_status(db);	/* remote clouds (karri_cloud.c) */
	if (kr_db_prepare(db, "SELECT id, owner, state, type, zone, coalesce(node, '-'),"
	    " coalesce(private_ip, '-'), coalesce(disk_attachment, '-'),"
	    " coalesce(net_attachment, '-') FROM instances WHERE state <> 'terminated'"
	    " ORDER BY zone, id", &st) == 0) {
		printf("%-12s %-12s %-13s %-9s %-10s %-15s %-14s %-8s %s\n", "INSTANCE", "OWNER",
		    "STATE", "TYPE", "ZONE", "PRIVATE-IP", "DISK", "NET", "NODE");
		while (kr_db_step(st) == 1)
			printf("%-12s %-12s %-13s %-9s %-10s %-15s %-14s %-8s %s\n",
			    sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
			    sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
			    sqlite3_column_text(st, 4), sqlite3_column_text(st, 6),
			    sqlite3_column_text(st, 7), sqlite3_column_text(st, 8),
			    sqlite3_column_text(st, 5));
		sqlite3_finalize(st);
	}
	volumes_status(db);
	kr_db_close(db);
	return down;
}
