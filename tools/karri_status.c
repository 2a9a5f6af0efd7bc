/*
 * karri_status.c - the cloud part of `karri status`: each registered
 * cluster with its nodes and free capacity per instance type (asked of its
 * CC now), and every live instance with where it runs and how its disk and
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
#include "config.h"
#include "db.h"
#include "error.h"
#include "karri_cmds.h"
#include "soap_server.h"

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
	if (soap_call___cc__DescribeResources(soap, url, NULL, &req, &resp) != SOAP_OK ||
	    resp._return != true_) {
		printf("%-13s %-44s %-9s %s\n", "cluster", url, "DOWN",
		    *soap_faultstring(soap) ? *soap_faultstring(soap) : "not reachable");
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
	if (kr_db_prepare(db, "SELECT kind, name, host, port, scheme FROM services"
	    " ORDER BY kind, name", &st) == 0) {
		while (kr_db_step(st) == 1) {
			snprintf(url, sizeof(url), "%s://%s:%d/", sqlite3_column_text(st, 4),
			    sqlite3_column_text(st, 2), sqlite3_column_int(st, 3));
			if (strcmp((const char *)sqlite3_column_text(st, 0), "cluster") == 0)
				down += cluster_status(db, (const char *)sqlite3_column_text(st, 1),
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
