/*
 * metadata_tree.c - one instance's metadata tree, as EC2 serves it today.
 *
 * The tree is built whole for each request as a sorted list of leaves
 * (path under the version -> text); a directory is whatever has leaves
 * below it, listed one child a line with a trailing '/' on directories,
 * the way cloud-init's and the SDKs' crawlers walk it.  Building ~50
 * small strings per request is cheaper than keeping a second copy of the
 * instance table in step.  A leaf with NULL text is answered by
 * metadata.c (user data may be binary; signatures cost an RSA operation).
 *
 * Karri's instances look like EC2-Classic ones: one NIC (device 0) with
 * the instance's private address, no VPC or subnet, security groups by
 * name and id.  Names: ip-A-B-C-D.<region>.compute.internal (private) and
 * ec2-A-B-C-D.<region>.compute.internal (public, while an address is
 * associated).  Block devices are named as the guest sees them, from the
 * bus the NC chose (karri:disk bus=virtio -> vda root, vdb ephemeral0,
 * vdc swap; scsi -> sd*), so cloud-init mounts the right disks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "clc.h"
#include "clc_metadata.h"
#include "core/db.h"
#include "core/log.h"

#define DNS_SUFFIX CLC_REGION ".compute.internal"

static void __attribute__((format(printf, 3, 4)))
leaf(struct clc_md_tree *t, const char *text, const char *fmt, ...)
{
	char path[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (t->n == CLC_MD_MAX_LEAVES) {
		t->failed = true;
		return;
	}
	t->leaf[t->n].path = strdup(path);
	t->leaf[t->n].text = text ? strdup(text) : NULL;
	if (!t->leaf[t->n].path || (text && !t->leaf[t->n].text))
		t->failed = true;
	t->n++;
}

void
clc_md_dns_name(const char *prefix, const char *ip, char *out, size_t len)
{
	size_t off = (size_t)snprintf(out, len, "%s-", prefix);

	for (; *ip && off + 1 < len; ip++)
		out[off++] = *ip == '.' ? '-' : *ip;
	out[off] = '\0';
	snprintf(out + off, len - off, ".%s", DNS_SUFFIX);
}

/* "/dev/sdf" -> "sdf": EC2 writes device names without /dev/ except root. */
static const char *
short_dev(const char *dev)
{
	return strncmp(dev, "/dev/", 5) == 0 ? dev + 5 : dev;
}

static void
block_devices(sqlite3 *db, const struct clc_md_instance *in, struct clc_md_tree *t)
{
	const char *p = strcmp(in->bus, "virtio") == 0 ? "vd" : strcmp(in->bus, "ide") == 0 ?
	    "hd" : "sd";
	sqlite3_stmt *st;
	char dev[16];
	int n = 0;

	snprintf(dev, sizeof(dev), "%sa", p);
	leaf(t, dev, "meta-data/block-device-mapping/ami");
	snprintf(dev, sizeof(dev), "/dev/%sa", p);
	leaf(t, dev, "meta-data/block-device-mapping/root");
	/*
	 * The NC makes them for disk-backed guests whose type has room
	 * (nc/launch.c); before it reports its bus choice they get EC2's sd
	 * names, which cloud-init maps to the vd/xvd disk it finds.
	 */
	if (strcmp(in->bus, "none") != 0 && in->disk_gib > 0) {
		snprintf(dev, sizeof(dev), "%sb", p);
		leaf(t, dev, "meta-data/block-device-mapping/ephemeral0");
		snprintf(dev, sizeof(dev), "%sc", p);
		leaf(t, dev, "meta-data/block-device-mapping/swap");
	}
	if (kr_db_prepare(db, "SELECT device FROM volumes WHERE instance_id = ?"
	    " AND attach_status = 'attached' AND device IS NOT NULL ORDER BY attached, id",
	    &st) < 0) {
		t->failed = true;
		return;
	}
	sqlite3_bind_text(st, 1, in->id, -1, SQLITE_STATIC);
	while (kr_db_step(st) == 1)
		leaf(t, short_dev((const char *)sqlite3_column_text(st, 0)),
		    "meta-data/block-device-mapping/ebs%d", ++n);
	sqlite3_finalize(st);
}

/* network/interfaces/macs/<mac>/: the one NIC, as an EC2-Classic instance had it. */
static void
interface(const struct clc_md_instance *in, const char *local, const char *public,
    struct clc_md_tree *t)
{
	char base[64];

	if (in->mac[0] == '\0')
		return;
	snprintf(base, sizeof(base), "meta-data/network/interfaces/macs/%s", in->mac);
	leaf(t, "0", "%s/device-number", base);
	leaf(t, in->mac, "%s/mac", base);
	leaf(t, in->owner, "%s/owner-id", base);
	if (in->priv[0]) {
		leaf(t, local, "%s/local-hostname", base);
		leaf(t, in->priv, "%s/local-ipv4s", base);
	}
	if (public) {
		leaf(t, public, "%s/public-hostname", base);
		leaf(t, in->pub, "%s/public-ipv4s", base);
		if (in->priv[0])
			leaf(t, in->priv, "%s/ipv4-associations/%s", base, in->pub);
	}
	leaf(t, in->group_names ? in->group_names : "", "%s/security-groups", base);
	leaf(t, in->group_ids ? in->group_ids : "", "%s/security-group-ids", base);
}

static void
identity(const struct clc_md_instance *in, struct clc_md_tree *t)
{
	struct kr_buf doc = KR_BUF_INIT;

	clc_md_identity_document(in, &doc);
	leaf(t, kr_buf_failed(&doc) ? NULL : kr_buf_str(&doc),
	    "dynamic/instance-identity/document");
	t->failed |= kr_buf_failed(&doc);
	kr_buf_free(&doc);
	leaf(t, NULL, "dynamic/instance-identity/pkcs7");
	leaf(t, NULL, "dynamic/instance-identity/rsa2048");
	leaf(t, NULL, "dynamic/instance-identity/signature");
}

static void
simple_leaves(const struct clc_md_instance *in, const char *local, const char *public,
    struct clc_md_tree *t)
{
	char idx[24];

	snprintf(idx, sizeof(idx), "%ld", in->launch_index);
	leaf(t, in->image, "meta-data/ami-id");
	leaf(t, idx, "meta-data/ami-launch-index");
	leaf(t, in->manifest ? in->manifest : "(unknown)", "meta-data/ami-manifest-path");
	leaf(t, local, "meta-data/hostname");
	leaf(t, "none", "meta-data/instance-action");
	leaf(t, in->id, "meta-data/instance-id");
	leaf(t, "on-demand", "meta-data/instance-life-cycle");
	leaf(t, in->type, "meta-data/instance-type");
	if (in->kernel[0])
		leaf(t, in->kernel, "meta-data/kernel-id");
	if (in->ramdisk[0])
		leaf(t, in->ramdisk, "meta-data/ramdisk-id");
	leaf(t, local, "meta-data/local-hostname");
	if (in->priv[0])
		leaf(t, in->priv, "meta-data/local-ipv4");
	if (in->mac[0])
		leaf(t, in->mac, "meta-data/mac");
	leaf(t, in->zone, "meta-data/placement/availability-zone");
	leaf(t, CLC_REGION, "meta-data/placement/region");
	leaf(t, in->kernel[0] ? "default-paravirtual" : "default-hvm", "meta-data/profile");
	if (public) {
		leaf(t, public, "meta-data/public-hostname");
		leaf(t, in->pub, "meta-data/public-ipv4");
	}
	leaf(t, in->reservation, "meta-data/reservation-id");
	leaf(t, in->group_names ? in->group_names : "", "meta-data/security-groups");
	leaf(t, "compute.internal", "meta-data/services/domain");
	leaf(t, "karri", "meta-data/services/partition");
}

static int
by_path(const void *a, const void *b)
{
	return strcmp(((const struct clc_md_leaf *)a)->path, ((const struct clc_md_leaf *)b)->path);
}

void
clc_md_tree_build(sqlite3 *db, const struct clc_md_instance *in,
    const struct kr_config *cfg, struct clc_md_tree *t)
{
	char local[96] = "", public[96] = "", keys[300];
	bool has_public = in->pub[0] && strcmp(in->pub, in->priv) != 0;

	(void)cfg;
	memset(t, 0, sizeof(*t));
	if (in->priv[0])
		clc_md_dns_name("ip", in->priv, local, sizeof(local));
	if (has_public)
		clc_md_dns_name("ec2", in->pub, public, sizeof(public));
	simple_leaves(in, local, has_public ? public : NULL, t);
	block_devices(db, in, t);
	interface(in, local, has_public ? public : NULL, t);
	if (in->key_name[0] && in->key_material) {
		/* EC2 lists keys as "index=name", then index/ holds openssh-key. */
		snprintf(keys, sizeof(keys), "0=%s", in->key_name);
		leaf(t, keys, "meta-data/public-keys/");
		leaf(t, in->key_material, "meta-data/public-keys/0/openssh-key");
	}
	identity(in, t);
	if (in->user_data && in->user_data[0])
		leaf(t, NULL, "user-data");
	qsort(t->leaf, t->n, sizeof(t->leaf[0]), by_path);
}

void
clc_md_tree_free(struct clc_md_tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->leaf[i].path);
		free(t->leaf[i].text);
	}
	t->n = 0;
}

static const struct clc_md_leaf *
find(const struct clc_md_tree *t, const char *path)
{
	struct clc_md_leaf key = { .path = (char *)path };

	return bsearch(&key, t->leaf, t->n, sizeof(t->leaf[0]), by_path);
}

/* The children of directory dir ("" for the root), one a line. */
static int
listing(const struct clc_md_tree *t, const char *dir, struct kr_buf *out)
{
	size_t dlen = strlen(dir), last_len = 0;
	const char *last = NULL;

	for (size_t i = 0; i < t->n; i++) {
		const char *p = t->leaf[i].path, *child, *slash;
		size_t clen;

		if (dlen && (strncmp(p, dir, dlen) != 0 || p[dlen] != '/'))
			continue;
		child = dlen ? p + dlen + 1 : p;
		slash = strchr(child, '/');
		clen = slash ? (size_t)(slash - child) : strlen(child);
		if (clen == 0 || (last && clen == last_len && strncmp(child, last, clen) == 0))
			continue;
		if (last)
			kr_buf_add_char(out, '\n');
		kr_buf_add_len(out, child, clen);
		/* EC2 marks subdirectories with '/', except at the version's root. */
		if (slash && dlen)
			kr_buf_add_char(out, '/');
		last = child;
		last_len = clen;
	}
	return last ? 200 : 404;
}

int
clc_md_tree_answer(const struct clc_md_tree *t, const char *path, struct kr_buf *out)
{
	char norm[512], dir[514];
	const struct clc_md_leaf *l;
	size_t n;

	if (t->failed)
		return 500;
	n = (size_t)snprintf(norm, sizeof(norm), "%s", path);
	if (n >= sizeof(norm))
		return 404;
	while (n && norm[n - 1] == '/')
		norm[--n] = '\0';
	snprintf(dir, sizeof(dir), "%s/", norm);
	if (n && (l = find(t, dir)) != NULL) {		/* a directory's own listing */
		kr_buf_add(out, l->text);
		return 200;
	}
	if (n && (l = find(t, norm)) != NULL) {
		if (l->text == NULL)
			return 0;			/* metadata.c answers it */
		kr_buf_add(out, l->text);
		return 200;
	}
	return listing(t, norm, out);
}
