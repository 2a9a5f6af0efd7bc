/*
 * vnet_state.c - the cluster network's state: V (vnet.h), its lookups, and
 * its rows in cc.db (networks, leases, rules), read back at start.  The
 * bottom of the CC's network files: it calls none of them.
 */
#include <stdio.h>
#include <string.h>

#include "cc.h"
#include "core/db.h"
#include "vnet.h"

struct vnet V = { .lock = PTHREAD_MUTEX_INITIALIZER };

bool
vnet_managed(void)
{
	return V.mode == VNET_MANAGED || V.mode == VNET_MANAGED_NOVLAN;
}

struct vnet_net *
vnet_net_find(int vlan)
{
	for (int i = 0; i < V.nnets; i++)
		if (V.nets[i].vlan == vlan)
			return &V.nets[i];
	return NULL;
}

struct vnet_net *
vnet_net_by_name(const char *user, const char *name)
{
	for (int i = 0; i < V.nnets; i++)
		if (strcmp(V.nets[i].user, user ? user : "") == 0 &&
		    strcmp(V.nets[i].name, name ? name : "") == 0)
			return &V.nets[i];
	return NULL;
}

struct vnet_lease *
vnet_lease_find(const char *id)
{
	for (int i = 0; i < V.nleases; i++)
		if (strcmp(V.leases[i].id, id) == 0)
			return &V.leases[i];
	return NULL;
}

bool
vnet_index_used(int vlan, int index)
{
	for (int i = 0; i < V.nleases; i++)
		if (V.leases[i].vlan == vlan && V.leases[i].index == index)
			return true;
	return false;
}

int
vnet_db_exec(const char *sql, const char *t1, const char *t2, const char *t3, int i1, int i2)
{
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&cc.dblock);
	if ((rc = kr_db_prepare(cc.db, sql, &st)) == 0) {
		int k = 1;

		if (t1) sqlite3_bind_text(st, k++, t1, -1, SQLITE_STATIC);
		if (t2) sqlite3_bind_text(st, k++, t2, -1, SQLITE_STATIC);
		if (t3) sqlite3_bind_text(st, k++, t3, -1, SQLITE_STATIC);
		if (i1 != -1) sqlite3_bind_int(st, k++, i1);
		if (i2 != -1) sqlite3_bind_int(st, k++, i2);
		rc = kr_db_step(st) < 0 ? -1 : 0;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&cc.dblock);
	return rc;
}

int
vnet_state_load(void)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	pthread_mutex_lock(&cc.dblock);
	if (kr_db_prepare(cc.db, "SELECT vlan, user, name FROM networks", &st) == 0)
		while (V.nnets < VNET_NETS_MAX && kr_db_step(st) == 1) {
			struct vnet_net *n = &V.nets[V.nnets++];

			n->vlan = sqlite3_column_int(st, 0);
			snprintf(n->user, sizeof(n->user), "%s", sqlite3_column_text(st, 1));
			snprintf(n->name, sizeof(n->name), "%s", sqlite3_column_text(st, 2));
		}
	else
		rc = -1;
	sqlite3_finalize(st);
	st = NULL;
	if (kr_db_prepare(cc.db, "SELECT instance_id, vlan, net_index, mac, ip FROM leases", &st) == 0)
		while (V.nleases < VNET_LEASES_MAX && kr_db_step(st) == 1) {
			struct vnet_lease *l = &V.leases[V.nleases++];

			snprintf(l->id, sizeof(l->id), "%s", sqlite3_column_text(st, 0));
			l->vlan = sqlite3_column_int(st, 1);
			l->index = sqlite3_column_int(st, 2);
			snprintf(l->mac, sizeof(l->mac), "%s", sqlite3_column_text(st, 3));
			snprintf(l->ip, sizeof(l->ip), "%s", sqlite3_column_text(st, 4));
		}
	else
		rc = -1;
	sqlite3_finalize(st);
	st = NULL;
	if (kr_db_prepare(cc.db, "SELECT user, name, protocol, port_min, port_max, source_net,"
	    " source_user, source_name FROM rules ORDER BY id", &st) == 0)
		while (V.nrules < VNET_RULES_MAX && kr_db_step(st) == 1) {
			struct vnet_rule *r = &V.rules[V.nrules++];
			const unsigned char *t;

			snprintf(r->user, sizeof(r->user), "%s", sqlite3_column_text(st, 0));
			snprintf(r->name, sizeof(r->name), "%s", sqlite3_column_text(st, 1));
			snprintf(r->protocol, sizeof(r->protocol), "%s", sqlite3_column_text(st, 2));
			r->port_min = sqlite3_column_int(st, 3);
			r->port_max = sqlite3_column_int(st, 4);
			t = sqlite3_column_text(st, 5);
			snprintf(r->source_net, sizeof(r->source_net), "%s", t ? (const char *)t : "");
			t = sqlite3_column_text(st, 6);
			snprintf(r->source_user, sizeof(r->source_user), "%s", t ? (const char *)t : "");
			t = sqlite3_column_text(st, 7);
			snprintf(r->source_name, sizeof(r->source_name), "%s", t ? (const char *)t : "");
		}
	else
		rc = -1;
	sqlite3_finalize(st);
	pthread_mutex_unlock(&cc.dblock);
	return rc;
}
