/*
 * action_image.c - DescribeImages, RegisterImage, DeregisterImage.
 *
 * Images are instance-store bundles in Walrus (bucket/prefix.manifest.xml),
 * as in Eucalyptus 2.  A caller sees their own images, public ones and
 * those whose launch permission names their account; the admin sees all.
 * RegisterImage checks the location's shape here and has Walrus validate
 * the bundle from a worker thread (client_walrus_manifest.c, clc_backend.h):
 * nothing is recorded for a bundle that is missing, broken or not the
 * caller's, and the image's kind (emi/eki/eri), and by default its name and
 * architecture, come from its manifest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clc.h"
#include "clc_actions.h"
#include "clc_backend.h"
#include "clc_image.h"
#include "core/db.h"
#include "core/error.h"
#include "core/id.h"

/* Visible to the caller: the admin's view is everything. */
#define VISIBLE "(?1 = 1 OR owner = ?2 OR is_public = 1 OR EXISTS (SELECT 1 FROM" \
	" image_launch l WHERE l.image_id = images.id AND l.account = ?2))"

static const char image_cols[] =
	"SELECT id, location, state, owner, is_public, architecture, kind, kernel_id,"
	" ramdisk_id, name, description, platform,"
	" EXISTS (SELECT 1 FROM image_launch l WHERE l.image_id = images.id AND l.account = ?2)"
	" FROM images WHERE " VISIBLE " ORDER BY id";

enum { I_ID, I_LOC, I_STATE, I_OWNER, I_PUBLIC, I_ARCH, I_KIND, I_KERNEL, I_RAMDISK,
	I_NAME, I_DESC, I_PLATFORM, I_PERMITTED };

static const char *
text(sqlite3_stmt *st, int c)
{
	return (const char *)sqlite3_column_text(st, c);
}

static const char *
image_field(void *item, const char *name, size_t idx)
{
	static const struct clc_filter_col map[] = {
		{ "image-id", I_ID }, { "manifest-location", I_LOC }, { "state", I_STATE },
		{ "owner-id", I_OWNER }, { "architecture", I_ARCH }, { "image-type", I_KIND },
		{ "kernel-id", I_KERNEL }, { "ramdisk-id", I_RAMDISK }, { "name", I_NAME },
		{ "description", I_DESC }, { "platform", I_PLATFORM }, { NULL, 0 },
	};
	sqlite3_stmt *st = item;

	if (idx)
		return NULL;
	if (strcmp(name, "is-public") == 0)
		return sqlite3_column_int(st, I_PUBLIC) ? "true" : "false";
	if (strcmp(name, "root-device-type") == 0)
		return "instance-store";
	return clc_filter_column(st, map, name, idx);
}

/* Owner.N and ExecutableBy.N as EC2 reads them ("self", "all", account ids). */
static bool
owner_matches(struct clc_req *r, sqlite3_stmt *st, const char **owners, size_t no,
    const char **execs, size_t ne)
{
	const char *owner = text(st, I_OWNER);
	bool pub = sqlite3_column_int(st, I_PUBLIC), hit = no == 0;

	for (size_t i = 0; i < no && !hit; i++)
		hit = strcmp(strcmp(owners[i], "self") == 0 ? r->account : owners[i], owner) == 0;
	if (!hit)
		return false;
	hit = ne == 0;
	for (size_t i = 0; i < ne && !hit; i++) {
		if (strcmp(execs[i], "all") == 0)
			hit = pub;
		else if (strcmp(execs[i], "self") == 0 || strcmp(execs[i], r->account) == 0)
			hit = pub || strcmp(owner, r->account) == 0 ||
			    sqlite3_column_int(st, I_PERMITTED);
		else
			hit = pub || strcmp(owner, execs[i]) == 0;
	}
	return hit;
}

static void
image_xml(struct clc_req *r, sqlite3_stmt *st)
{
	kr_buf_add(r->out, "<item>");
	clc_xml_col(r->out, "imageId", st, I_ID);
	clc_xml_col(r->out, "imageLocation", st, I_LOC);
	clc_xml_col(r->out, "imageState", st, I_STATE);
	clc_xml_col(r->out, "imageOwnerId", st, I_OWNER);
	clc_xml_elem(r->out, "isPublic", sqlite3_column_int(st, I_PUBLIC) ? "true" : "false");
	clc_xml_col(r->out, "architecture", st, I_ARCH);
	clc_xml_col(r->out, "imageType", st, I_KIND);
	clc_xml_col(r->out, "kernelId", st, I_KERNEL);
	clc_xml_col(r->out, "ramdiskId", st, I_RAMDISK);
	clc_xml_col(r->out, "platform", st, I_PLATFORM);
	clc_xml_col(r->out, "name", st, I_NAME);
	clc_xml_col(r->out, "description", st, I_DESC);
	kr_buf_add(r->out, "<rootDeviceType>instance-store</rootDeviceType>"
	    "<rootDeviceName>/dev/sda1</rootDeviceName><blockDeviceMapping/>");
	clc_xml_elem(r->out, "virtualizationType", text(st, I_KERNEL) ? "paravirtual" : "hvm");
	clc_xml_elem(r->out, "hypervisor", "kvm");
	clc_tags_xml(r, text(st, I_ID));
	kr_buf_add(r->out, "</item>");
}

int
clc_describe_images(struct clc_req *r)
{
	static const char *const known[] = { "ImageId", "Owner", "ExecutableBy", "Filter",
		"IncludeDeprecated", NULL };
	static const char *const filters[] = { "image-id", "manifest-location", "state",
		"owner-id", "architecture", "image-type", "kernel-id", "ramdisk-id", "name",
		"description", "platform", "is-public", "root-device-type", NULL };
	const char *ids[CLC_MAX_IDS], *owners[CLC_MAX_IDS], *execs[CLC_MAX_IDS];
	size_t ni, no, ne, shown = 0;
	struct clc_filters fs;
	sqlite3_stmt *st;
	int rc;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_param_list_checked(r, "ImageId", NULL, ids, CLC_MAX_IDS, &ni) < 0 ||
	    clc_param_list_checked(r, "Owner", NULL, owners, CLC_MAX_IDS, &no) < 0 ||
	    clc_param_list_checked(r, "ExecutableBy", NULL, execs, CLC_MAX_IDS, &ne) < 0 ||
	    clc_filters_parse(r, filters, &fs) < 0)
		return -1;
	for (size_t i = 0; i < ni; i++)
		if (clc_image_check_id(ids[i]) < 0)
			return -1;
	if (kr_db_prepare(r->db, image_cols, &st) < 0)
		return -1;
	sqlite3_bind_int(st, 1, r->admin);
	sqlite3_bind_text(st, 2, r->account, -1, SQLITE_STATIC);
	kr_buf_add(r->out, "<imagesSet>");
	while ((rc = kr_db_step(st)) == 1) {
		if ((ni && !clc_in_list(text(st, I_ID), ids, ni)) ||
		    !owner_matches(r, st, owners, no, execs, ne) ||
		    !clc_filters_match(r, &fs, text(st, I_ID), image_field, st))
			continue;
		image_xml(r, st);
		shown++;
	}
	sqlite3_finalize(st);
	kr_buf_add(r->out, "</imagesSet>");
	if (rc == 0 && ni && shown < ni && fs.n == 0 && no == 0 && ne == 0) {
		kr_error("InvalidAMIID.NotFound", "one of the image ids asked for does not exist "
		    "or is not visible to you");
		return -1;
	}
	return rc < 0 ? -1 : 0;
}

struct new_image {
	struct clc_req *r;
	const char *location, *name, *description, *arch, *kernel, *ramdisk;
	const char *kind;
};

static int
insert_image(sqlite3 *db, const char *id, void *arg)
{
	struct new_image *im = arg;
	sqlite3_stmt *st;
	int rc;

	if (kr_db_prepare(db, "INSERT INTO images (id, owner, location, name, description, kind,"
	    " architecture, kernel_id, ramdisk_id, created) VALUES (?,?,?,?,?,?,?,?,?,?)",
	    &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, im->r->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, im->location, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, im->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, im->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, im->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, im->arch, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, im->kernel, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, im->ramdisk, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, im->r->now);
	rc = kr_db_step(st);
	sqlite3_finalize(st);
	return rc < 0 ? -1 : 0;
}

/*
 * VirtualizationType as Karri boots it: paravirtual is a kernel (+ ramdisk)
 * the node boots directly, so it needs KernelId (Karri has no cloud-wide
 * default kernel); hvm boots the image's own loader, so it takes none.
 * Left out, it follows from KernelId, as DescribeImages reports it.
 */
static int
check_virtualization(struct clc_req *r, const char *kernel, const char *ramdisk)
{
	const char *v = clc_param(r, "VirtualizationType");

	if (v == NULL)
		return 0;
	if (strcmp(v, "paravirtual") != 0 && strcmp(v, "hvm") != 0) {
		kr_error("InvalidParameterValue", "Value (%.32s) for parameter virtualizationType "
		    "is invalid: paravirtual or hvm", v);
		return -1;
	}
	if (strcmp(v, "paravirtual") == 0 && !kernel) {
		kr_error("InvalidParameterCombination", "a paravirtual image is booted with its "
		    "kernel: register it with KernelId (and RamdiskId)");
		return -1;
	}
	if (strcmp(v, "hvm") == 0 && (kernel || ramdisk)) {
		kr_error("InvalidParameterCombination", "an hvm image boots its own loader: "
		    "KernelId and RamdiskId are for paravirtual images");
		return -1;
	}
	return 0;
}

/* Name and Architecture default to the manifest's (a taken name is then left out). */
static void
defaults_from_manifest(struct clc_req *r, struct new_image *im, const struct clc_manifest *m)
{
	if (!im->name && m->name[0] && clc_name_ok(m->name, 128)) {
		if (clc_image_name_taken(r, m->name))
			kr_error_clear();
		else
			im->name = m->name;
	}
	if (!im->arch)
		im->arch = m->arch[0] && clc_image_check_arch(m->arch) == 0 ? m->arch : "x86_64";
	kr_error_clear();
}

struct register_job {
	struct clc_manifest_job m;
};

static int
register_work(void *arg)
{
	return clc_manifest_fetch(arg);
}

static void
register_free(void *arg)
{
	struct register_job *j = arg;

	clc_manifest_job_free(&j->m);
	free(j);
}

/* RegisterImage's parameters, checked (again, after the Walrus call: kernels may go). */
static int
image_params(struct clc_req *r, struct new_image *im)
{
	*im = (struct new_image){ .r = r };
	if (!(im->location = clc_param_required(r, "ImageLocation")) ||
	    clc_image_check_location(im->location) < 0)
		return -1;
	im->name = clc_param(r, "Name");
	im->description = clc_param(r, "Description");
	im->arch = clc_param(r, "Architecture");
	im->kernel = clc_param(r, "KernelId");
	im->ramdisk = clc_param(r, "RamdiskId");
	if ((im->name && clc_check_name("Name", im->name, 128) < 0) ||
	    (im->description && clc_check_name("Description", im->description, 255) < 0) ||
	    (im->arch && clc_image_check_arch(im->arch) < 0) ||
	    (im->kernel && clc_image_usable(r, im->kernel, "kernel") < 0) ||
	    (im->ramdisk && clc_image_usable(r, im->ramdisk, "ramdisk") < 0) ||
	    (im->name && clc_image_name_taken(r, im->name)) ||
	    check_virtualization(r, im->kernel, im->ramdisk) < 0)
		return -1;
	return 0;
}

/* Walrus's answer: the image recorded, of the kind its manifest says. */
static int
register_resume(struct clc_req *r, int rc, void *arg)
{
	struct register_job *j = arg;
	struct new_image im;
	struct clc_manifest m;
	char id[KR_ID_MAX];

	if (rc < 0 || image_params(r, &im) < 0 || clc_manifest_judge(r, &j->m, &m) < 0)
		return -1;
	im.kind = m.kind;
	if (strcmp(im.kind, "machine") != 0 && (im.kernel || im.ramdisk)) {
		kr_error("InvalidParameterValue", "%s is a %s image: KernelId and RamdiskId are "
		    "for machine images", im.location, im.kind);
		return -1;
	}
	defaults_from_manifest(r, &im, &m);
	if (kr_db_insert_new_id(r->db, strcmp(im.kind, "kernel") == 0 ? "eki" :
	    strcmp(im.kind, "ramdisk") == 0 ? "eri" : "emi", id, sizeof(id), insert_image,
	    &im) < 0)
		return -1;
	clc_xml_elem(r->out, "imageId", id);
	return 0;
}

int
clc_register_image(struct clc_req *r)
{
	static const char *const known[] = { "ImageLocation", "Name", "Description",
		"Architecture", "KernelId", "RamdiskId", "RootDeviceName", "BlockDeviceMapping",
		"VirtualizationType", "SriovNetSupport", "EnaSupport", "BillingProduct",
		"BootMode", "TpmSupport", "UefiData", "ImdsSupport", NULL };
	struct register_job *j;
	struct new_image im;

	if (clc_param_check_known(r, known) < 0)
		return -1;
	if (clc_param(r, "RootDeviceName") || clc_param(r, "BlockDeviceMapping.1.DeviceName")) {
		kr_error("UnsupportedOperation", "Karri images are instance-store bundles: "
		    "register an ImageLocation (bucket/name.manifest.xml)");
		return -1;
	}
	if (image_params(r, &im) < 0)
		return -1;
	if (!(j = calloc(1, sizeof(*j)))) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	if (clc_manifest_prepare(r, im.location, &j->m) < 0) {
		register_free(j);
		return -1;
	}
	/* Nothing is recorded before Walrus said the bundle is whole and the caller's. */
	return clc_req_defer(r, "walrus", NULL, register_work, register_resume, j,
	    register_free);
}

int
clc_deregister_image(struct clc_req *r)
{
	static const char *const known[] = { "ImageId", NULL };
	const char *id;

	if (clc_param_check_known(r, known) < 0 || !(id = clc_param_required(r, "ImageId")) ||
	    clc_image_check_id(id) < 0 || clc_image_owned(r, id) < 0)
		return -1;
	if (clc_db_run(r->db, "DELETE FROM images WHERE id = ?", id, NULL, NULL) < 0 ||
	    clc_tags_delete_all(r->db, id) < 0)
		return -1;
	return clc_return_true(r);
}
