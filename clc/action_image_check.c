/*
 * action_image_check.c - checks on image ids, locations and ownership (the bundle
 * itself is checked by Walrus: client_walrus_manifest.c).
 */
#include <stdbool.h>
#include <string.h>

#include "clc.h"
#include "clc_image.h"
#include "core/db.h"
#include "core/error.h"
#include "core/id.h"

int
clc_image_check_id(const char *id)
{
	if (kr_id_valid(id, "emi") || kr_id_valid(id, "eki") || kr_id_valid(id, "eri") ||
	    kr_id_valid(id, "ami") || kr_id_valid(id, "aki") || kr_id_valid(id, "ari"))
		return 0;
	kr_error("InvalidAMIID.Malformed", "Invalid id: \"%.64s\" (expecting \"emi-...\")", id);
	return -1;
}

int
clc_image_check_location(const char *loc)
{
	const char *slash = strchr(loc, '/');
	size_t n = strlen(loc);

	if (slash == NULL || slash == loc || n > 1024 || n < 14 ||
	    strcmp(loc + n - 13, ".manifest.xml") != 0 || !clc_name_ok(loc, 1024)) {
		kr_error("InvalidParameterValue", "ImageLocation must be bucket/name.manifest.xml "
		    "(got '%.64s')", loc);
		return -1;
	}
	return 0;
}

int
clc_image_check_arch(const char *arch)
{
	if (strcmp(arch, "x86_64") == 0 || strcmp(arch, "i386") == 0)
		return 0;
	kr_error("InvalidParameterValue", "Architecture must be x86_64 or i386");
	return -1;
}

/* A kernel or ramdisk (or machine image) the caller may launch. */
int
clc_image_usable(struct clc_req *r, const char *id, const char *kind)
{
	sqlite3_stmt *st;
	int rc;

	if (clc_image_check_id(id) < 0)
		return -1;
	if (kr_db_prepare(r->db, "SELECT 1 FROM images WHERE id = ?3 AND kind = ?4 AND"
	    " (?1 = 1 OR owner = ?2 OR is_public = 1 OR EXISTS (SELECT 1 FROM image_launch l"
	    " WHERE l.image_id = images.id AND l.account = ?2))", &st) < 0)
		return -1;
	sqlite3_bind_int(st, 1, r->admin);
	sqlite3_bind_text(st, 2, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	if (rc == 0)
		kr_error("InvalidAMIID.NotFound", "The image id '[%s]' does not exist (as a %s "
		    "image you may use)", id, kind);
	return rc == 1 ? 0 : -1;
}

int
clc_image_owned(struct clc_req *r, const char *id)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(r->db, "SELECT 1 FROM images WHERE id = ?2 AND (?3 = 1 OR owner = ?1)",
	    &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, r->admin);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	if (rc == 0)
		kr_error("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id);
	return rc == 1 ? 0 : -1;
}

bool
clc_image_name_taken(struct clc_req *r, const char *name)
{
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(r->db, "SELECT 1 FROM images WHERE owner = ? AND name = ?", &st) < 0)
		return true;
	sqlite3_bind_text(st, 1, r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	if (rc == 1)
		kr_error("InvalidAMIName.Duplicate", "AMI name %s is already in use", name);
	return rc != 0;
}
