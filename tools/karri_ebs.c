/*
 * karri_ebs.c - the rules `karri register-ebs` and `deregister-ebs` keep:
 * one EBS per availability zone, and an EBS stays while it holds volumes.
 *
 * A cluster is an availability zone on its own L2 segment, and AoE does not
 * cross a router, so each zone needs its own EBS (the CLC sends every call
 * about a volume to the EBS of the volume's zone, clc/client_ebs.c).  An
 * EBS registered for zone '' (shown "*") is cloud-wide: it serves every
 * zone that has no EBS of its own, which is what a cloud with one EBS had
 * before zones mattered (clc/db_schema.c v7).
 *
 * Without --zone: an EBS already registered keeps its zone; a new one
 * serves the cloud's only cluster, or is cloud-wide when no cluster is
 * registered yet; with several clusters the admin has to say which
 * (docs/decisions.md).
 */
#include <stdio.h>
#include <string.h>

#include "core/db.h"
#include "core/error.h"
#include "karri_cmds.h"

#define ZONE_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"

/* Take "--zone ZONE" or "--zone=ZONE" out of argv: 0, or -1 when malformed. */
int
karri_ebs_zone_arg(int *argc, char **argv, const char **zone)
{
	int out = 0;

	for (int i = 0; i < *argc; i++) {
		if (strcmp(argv[i], "--zone") == 0 && i + 1 < *argc)
			*zone = argv[++i];
		else if (strncmp(argv[i], "--zone=", 7) == 0)
			*zone = argv[i] + 7;
		else if (strncmp(argv[i], "--", 2) == 0)
			return -1;
		else
			argv[out++] = argv[i];
	}
	*argc = out;
	if (*zone && (!**zone || strlen(*zone) >= 64 || **zone == '.' ||
	    strspn(*zone, ZONE_CHARS) != strlen(*zone))) {
		fprintf(stderr, "karri: bad zone name: %s\n", *zone);
		return -1;
	}
	return 0;
}

/* One text or integer answer of sql with ?1 = a, ?2 = b: 1, 0 (no row), -1. */
static int
query_one(sqlite3 *db, const char *sql, const char *a, const char *b, char *text, size_t len,
    long *n)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, sql, &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	if ((rc = kr_db_step(st)) == 1 && text)
		snprintf(text, len, "%s", sqlite3_column_text(st, 0));
	if (rc == 1 && n)
		*n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc;
}

/*
 * The volumes the EBS of zone holds (not the deleted ones): the zone's
 * own, and for the cloud-wide EBS ('') those of every zone without an EBS
 * of its own.  -1 on error.
 */
int
karri_ebs_volumes(sqlite3 *db, const char *zone)
{
	long n = 0;

	if (query_one(db, "SELECT count(*) FROM volumes v WHERE v.status <> 'deleted' AND"
	    " (v.zone = ?1 OR (?1 = '' AND NOT EXISTS (SELECT 1 FROM services s"
	    " WHERE s.kind = 'ebs' AND s.zone = v.zone)))", zone, NULL, NULL, 0, &n) < 0) {
		fprintf(stderr, "karri: %s\n", kr_error_message());
		return -1;
	}
	return (int)n;
}

static const char *
zone_shown(const char *zone)
{
	return *zone ? zone : "* (every zone without its own EBS)";
}

/* Refuse what would leave volumes with an EBS that does not have them: -1 (said why). */
static int
check_move(sqlite3 *db, const char *name, const char *zone)
{
	char old[64], other[64];
	int rc, n;

	/* Moving an EBS to another zone: its volumes stay where they are. */
	if ((rc = query_one(db, "SELECT zone FROM services WHERE kind = 'ebs' AND name = ?1",
	    name, NULL, old, sizeof(old), NULL)) < 0)
		goto db_error;
	if (rc == 1 && strcmp(old, zone) != 0 && (n = karri_ebs_volumes(db, old)) != 0) {
		if (n > 0)
			fprintf(stderr, "karri: EBS %s serves zone %s and holds %d volume(s) there: "
			    "it cannot move to zone %s\n", name, zone_shown(old), n, zone_shown(zone));
		return -1;
	}
	/* A zone's own EBS would take over volumes the cloud-wide one holds. */
	if (*zone && (rc == 0 || strcmp(old, zone) != 0)) {
		long count = 0;

		if ((rc = query_one(db, "SELECT name FROM services WHERE kind = 'ebs' AND"
		    " zone = '' AND name <> ?1", name, NULL, other, sizeof(other), NULL)) < 0 ||
		    (rc == 1 && query_one(db, "SELECT count(*) FROM volumes WHERE zone = ?1 AND"
		    " status <> 'deleted'", zone, NULL, NULL, 0, &count) < 0))
			goto db_error;
		if (count > 0) {
			fprintf(stderr, "karri: zone %s has %ld volume(s) on the cloud-wide EBS %s: "
			    "delete them before the zone gets an EBS of its own\n", zone, count,
			    other);
			return -1;
		}
	}
	return 0;
db_error:
	fprintf(stderr, "karri: %s\n", kr_error_message());
	return -1;
}

/*
 * The zone EBS argv[0] is registered for (into zone), after the checks:
 * 0, or -1 when refused (said why).  A call with the wrong arguments is
 * left to the caller's usage message (0).
 */
int
karri_ebs_zone(sqlite3 *db, int argc, char **argv, const char *asked, char *zone,
    size_t len)
{
	char other[64];
	long clusters = 0;
	int rc;

	if (argc != 2)
		return 0;
	if (asked)
		snprintf(zone, len, "%s", asked);
	else if ((rc = query_one(db, "SELECT zone FROM services WHERE kind = 'ebs' AND"
	    " name = ?1", argv[0], NULL, zone, len, NULL)) < 0 ||
	    (rc == 0 && query_one(db, "SELECT count(*) FROM services WHERE kind = 'cluster'",
	    NULL, NULL, NULL, 0, &clusters) < 0))
		goto db_error;
	else if (rc == 0 && clusters > 1) {
		fprintf(stderr, "karri: this cloud has %ld clusters: say which zone EBS %s "
		    "serves (--zone ZONE)\n", clusters, argv[0]);
		return -1;
	} else if (rc == 0 && clusters == 1 && query_one(db, "SELECT name FROM services WHERE"
	    " kind = 'cluster'", NULL, NULL, zone, len, NULL) < 0)
		goto db_error;
	if ((rc = query_one(db, "SELECT name FROM services WHERE kind = 'ebs' AND zone = ?1"
	    " AND name <> ?2", zone, argv[0], other, sizeof(other), NULL)) < 0)
		goto db_error;
	if (rc == 1) {
		fprintf(stderr, "karri: zone %s already has EBS %s (one EBS per zone: "
		    "deregister-ebs %s first)\n", zone_shown(zone), other, other);
		return -1;
	}
	if (*zone && query_one(db, "SELECT 1 FROM services WHERE kind = 'cluster' AND name = ?1",
	    zone, NULL, NULL, 0, NULL) == 0)
		printf("note: no cluster %s is registered yet (karri register-cluster %s "
		    "HOST)\n", zone, zone);
	return check_move(db, argv[0], zone);
db_error:
	fprintf(stderr, "karri: %s\n", kr_error_message());
	return -1;
}

/* deregister-ebs NAME: refused (-1, said why) while it holds volumes. */
int
karri_ebs_may_deregister(sqlite3 *db, int argc, char **argv)
{
	char zone[64];
	int rc, n;

	if (argc != 1)
		return 0;
	if ((rc = query_one(db, "SELECT zone FROM services WHERE kind = 'ebs' AND name = ?1",
	    argv[0], NULL, zone, sizeof(zone), NULL)) < 0) {
		fprintf(stderr, "karri: %s\n", kr_error_message());
		return -1;
	}
	if (rc == 0)
		return 0;	/* "no ebs NAME is registered" follows */
	if ((n = karri_ebs_volumes(db, zone)) != 0) {
		if (n > 0)
			fprintf(stderr, "karri: EBS %s (zone %s) holds %d volume(s): delete them "
			    "before deregistering it\n", argv[0], zone_shown(zone), n);
		return -1;
	}
	return 0;
}
