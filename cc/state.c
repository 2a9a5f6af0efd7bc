/*
 * state.c - the CC's small sqlite cache, $KARRI_HOME/var/lib/karri/cc.db.
 *
 * The CC is not the keeper of cloud state (the CLC is) and instances are
 * re-learned from the nodes after a restart (DESIGN.md section 3).  What
 * only the CC knows is kept here: the nodes registered at run time, the
 * networks it started, each instance's network allocation (MAC, private
 * address), elastic IP mappings and security-group rules, so that a CC
 * killed with SIGKILL comes back with the same view and re-applies the same
 * rules.  One connection, serialized by cc.dblock.
 *
 * The one `struct cc` (cc.h) is defined here too: every file of the CC
 * uses it, so it lives in the file at the bottom, which calls no other.
 */
#include <stdio.h>
#include <string.h>

#include "cc.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"

struct cc cc = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const struct kr_db_migration migrations[] = {
	{ 1,
	  "CREATE TABLE nodes (host TEXT NOT NULL, port INTEGER NOT NULL,"
	  "  PRIMARY KEY (host, port));"
	  "CREATE TABLE networks (vlan INTEGER PRIMARY KEY, user TEXT NOT NULL,"
	  "  name TEXT NOT NULL, UNIQUE (user, name));"
	  "CREATE TABLE leases (instance_id TEXT PRIMARY KEY, vlan INTEGER NOT NULL,"
	  "  net_index INTEGER NOT NULL, mac TEXT NOT NULL, ip TEXT NOT NULL,"
	  "  UNIQUE (vlan, net_index));"
	  "CREATE TABLE public_ips (public_ip TEXT PRIMARY KEY, private_ip TEXT NOT NULL);"
	  "CREATE TABLE rules (id INTEGER PRIMARY KEY, user TEXT NOT NULL, name TEXT NOT NULL,"
	  "  protocol TEXT NOT NULL, port_min INTEGER NOT NULL, port_max INTEGER NOT NULL,"
	  "  source_net TEXT, source_user TEXT, source_name TEXT);" },
};

int
cc_state_open(const char *path)
{
	pthread_mutex_init(&cc.dblock, NULL);
	return kr_db_open(path, migrations, sizeof(migrations) / sizeof(migrations[0]), &cc.db);
}

void
cc_state_close(void)
{
	kr_db_close(cc.db);
	cc.db = NULL;
}

static int
node_stmt(const char *sql, const char *host, int port)
{
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&cc.dblock);
	rc = kr_db_prepare(cc.db, sql, &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, port);
		rc = kr_db_step(st) < 0 ? -1 : 0;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&cc.dblock);
	return rc;
}

int
cc_state_node_save(const char *host, int port)
{
	return node_stmt("INSERT OR IGNORE INTO nodes (host, port) VALUES (?, ?)", host, port);
}

int
cc_state_node_forget(const char *host, int port)
{
	return node_stmt("DELETE FROM nodes WHERE host = ? AND port = ?", host, port);
}

int
cc_state_nodes(cc_state_node_fn fn, void *arg)
{
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&cc.dblock);
	rc = kr_db_prepare(cc.db, "SELECT host, port FROM nodes ORDER BY rowid", &st);
	while (rc == 0 && (rc = kr_db_step(st)) == 1) {
		fn((const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1), arg);
		rc = 0;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&cc.dblock);
	return rc < 0 ? -1 : 0;
}
