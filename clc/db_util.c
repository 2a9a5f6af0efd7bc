/*
 * db_util.c - the two statement shapes the actions use most, so each is
 * written once: run a statement with up to three text parameters, and read
 * one text value.  NULL parameters bind SQL NULL.
 */
#include <stdio.h>

#include "clc.h"
#include "core/db.h"

static int
prepare_bound(sqlite3 *db, const char *sql, const char *a, const char *b, const char *c,
    sqlite3_stmt **st)
{
	const char *v[3] = { a, b, c };

	if (kr_db_prepare(db, sql, st) < 0)
		return -1;
	for (int i = 0; i < 3 && i < sqlite3_bind_parameter_count(*st); i++)
		if (v[i])
			sqlite3_bind_text(*st, i + 1, v[i], -1, SQLITE_STATIC);
	return 0;
}

/* Run sql once: the number of rows changed, or -1 + kr_error. */
int
clc_db_run(sqlite3 *db, const char *sql, const char *a, const char *b, const char *c)
{
	sqlite3_stmt *st;
	int rc;

	if (prepare_bound(db, sql, a, b, c, &st) < 0)
		return -1;
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : sqlite3_changes(db);
}

/* The first column of the first row into out: 1, 0 when no row, -1 + kr_error. */
int
clc_db_text(sqlite3 *db, const char *sql, const char *a, const char *b, char *out,
    size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if (prepare_bound(db, sql, a, b, NULL, &st) < 0)
		return -1;
	rc = kr_db_step(st);
	if (rc == 1)
		snprintf(out, len, "%s", sqlite3_column_text(st, 0) ?
		    (const char *)sqlite3_column_text(st, 0) : "");
	sqlite3_finalize(st);
	return rc;
}
