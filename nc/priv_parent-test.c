/*
 * priv_parent-test.c - the NC's privileged parent, its table served in a
 * thread over a real SOCK_SEQPACKET pair, libvirt's test:///default driver
 * behind it.  A valid domain request is served (the domain exists, the
 * console file is root's, fresh); requests that would have root's QEMU open
 * something else (a symlinked root, a qcow2 overlay naming another backing
 * file) are refused and logged, and the parent goes on; requests off the
 * contract (a device that is not a loop device or not of NC_PHY_DEVICES, an
 * id that is a path, a type not on the table, a short struct) are logged
 * and end the parent's loop.  A volume outside NC_VOLUME_PATHS and a pid
 * that is not a karri-aoe are refused answers.
 */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/check_run.h"
#include "core/error.h"
#include "core/log.h"
#include "nc.h"

#define ID "i-0000c001"

static char dir[] = "/tmp/karri-priv-parent-test-XXXXXX";
static char idir[256], logpath[256];
static struct kr_config *cfg;

struct parent {
	pthread_t thread;
	int fds[2];
	int rc;
	struct kr_privsep_client client;
};

static void *
serve(void *arg)
{
	struct parent *p = arg;

	p->rc = kr_privsep_serve(p->fds[0], nc_priv_ops, NULL);
	close(p->fds[0]);	/* as the parent does: the child's call then fails */
	return NULL;
}

static void
parent_start(struct parent *p)
{
	ck_assert_int_eq(kr_privsep_pair(p->fds), 0);
	kr_privsep_client_init(&p->client, p->fds[1]);
	ck_assert_int_eq(pthread_create(&p->thread, NULL, serve, p), 0);
}

/* Close the child's end and collect the loop's result. */
static int
parent_stop(struct parent *p)
{
	close(p->fds[1]);
	pthread_join(p->thread, NULL);
	return p->rc;
}

static const char *
logged(void)
{
	static char text[1 << 16];
	FILE *f = fopen(logpath, "r");
	size_t n = 0;

	if (f) {
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
	}
	text[n] = '\0';
	return text;
}

static void
write_file(const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", idir, name);
	unlink(path);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void
setup(void)
{
	char path[512];
	static char zeros[65536];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(logpath, sizeof(logpath), "%s/test.log", dir);
	ck_assert_int_eq(kr_log_open("priv-parent-test", logpath, KR_LOG_DEBUG, 0, 0), 0);
	snprintf(path, sizeof(path), "%s/instances", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(idir, sizeof(idir), "%s/instances/" ID, dir);
	ck_assert_int_eq(mkdir(idir, 0755), 0);
	cfg = kr_config_defaults(NULL);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(kr_config_set(cfg, "HYPERVISOR", "qemu"), 0);
	ck_assert_int_eq(kr_config_set(cfg, "INSTANCE_PATH", dir), 0);
	ck_assert_int_eq(kr_config_set(cfg, "NC_LIBVIRT_URI", "test:///default"), 0);
	ck_assert_int_eq(nc_priv_parent_init(cfg), 0);
	write_file("base", zeros, sizeof(zeros));
	write_file("root.raw", zeros, sizeof(zeros));
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void
teardown(void)
{
	kr_log_close();
	kr_config_free(cfg);
	ck_assert_int_eq(nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	snprintf(dir, sizeof(dir), "/tmp/karri-priv-parent-test-XXXXXX");
}

/* What launch.c sends for a tap instance with a raw root. */
static void
raw_request(struct nc_priv_domain *r)
{
	*r = (struct nc_priv_domain){ .memory_mib = 128, .vcpus = 1, .store = NC_STORE_RAW,
		.bus = NC_BUS_VIRTIO, .cache = NC_CACHE_NONE, .io = NC_IO_NATIVE,
		.nic = NC_NIC_VIRTIO };
	snprintf(r->id, sizeof(r->id), ID);
	snprintf(r->hv, sizeof(r->hv), "qemu");
	snprintf(r->mac, sizeof(r->mac), "d0:0d:00:00:c0:01");
}

static int
ask(struct parent *p, uint32_t type, const void *req, size_t len)
{
	char reply[64];

	return kr_privsep_call(&p->client, type, req, len, reply, sizeof(reply), NULL);
}

START_TEST(valid_domain_served)
{
	struct parent p;
	struct nc_priv_domain r;
	struct nc_priv_id id = { ID };
	virConnectPtr c;
	virDomainPtr dom;
	char console[512];
	struct stat st;

	raw_request(&r);
	snprintf(console, sizeof(console), "%s/console.log", idir);
	ck_assert_int_eq(symlink("/etc/passwd", console), 0);	/* replaced, not followed */
	parent_start(&p);
	ck_assert_msg(ask(&p, NC_PRIV_DOMAIN_CREATE, &r, sizeof(r)) == 0, "%s",
	    kr_error_message());
	c = virConnectOpen("test:///default");
	dom = virDomainLookupByName(c, ID);
	ck_assert_ptr_nonnull(dom);
	ck_assert_int_eq(virDomainIsActive(dom), 1);
	ck_assert_int_eq(lstat(console, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 0);
	virDomainFree(dom);
	ck_assert_int_eq(ask(&p, NC_PRIV_DOMAIN_DESTROY, &id, sizeof(id)), 0);
	ck_assert_ptr_null(virDomainLookupByName(c, ID));	/* transient: gone */
	virConnectClose(c);
	ck_assert_int_eq(parent_stop(&p), 0);
}
END_TEST

START_TEST(root_outside_the_instance_refused)
{
	struct parent p;
	struct nc_priv_domain r;
	char root[512];

	raw_request(&r);
	snprintf(root, sizeof(root), "%s/root.raw", idir);
	unlink(root);
	ck_assert_int_eq(symlink("/etc/passwd", root), 0);
	parent_start(&p);
	ck_assert_int_eq(ask(&p, NC_PRIV_DOMAIN_CREATE, &r, sizeof(r)), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	ck_assert_ptr_nonnull(strstr(logged(), "not a regular file inside the instance directory"));
	/* an answer, not a broken contract: the parent still serves */
	ck_assert_int_eq(ask(&p, NC_PRIV_DOMAIN_DESTROY, &(struct nc_priv_id){ ID }, NC_ID_MAX), 0);
	ck_assert_int_eq(parent_stop(&p), 0);
}
END_TEST

/* A qcow2 v2 header (72 bytes) whose backing file is `backing`. */
static void
write_overlay(const char *backing)
{
	unsigned char h[512] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 2 };
	size_t n = strlen(backing);

	h[15] = 72;			/* backing_file_offset */
	h[19] = (unsigned char)n;	/* backing_file_size */
	h[23] = 16;			/* cluster_bits */
	memcpy(h + 72, backing, n);
	write_file("root.qcow2", h, sizeof(h));
}

START_TEST(overlay_on_another_file_refused)
{
	struct parent p;
	struct nc_priv_domain r;

	raw_request(&r);
	r.store = NC_STORE_OVERLAY;
	write_overlay("/dev/sda");
	parent_start(&p);
	ck_assert_int_eq(ask(&p, NC_PRIV_DOMAIN_CREATE, &r, sizeof(r)), -1);
	ck_assert_ptr_nonnull(strstr(logged(), "its backing file is not the instance's base"));
	ck_assert_int_eq(parent_stop(&p), 0);
}
END_TEST

START_TEST(device_not_a_loop_ends_the_parent)
{
	struct parent p;
	struct nc_priv_loop l = { ID, "/dev/sda" };

	parent_start(&p);
	ck_assert_int_eq(ask(&p, NC_PRIV_LOOP_DETACH, &l, sizeof(l)), -1);
	ck_assert_int_eq(parent_stop(&p), -1);
	ck_assert_ptr_nonnull(strstr(logged(), "LOOP_DETACH refused"));
	ck_assert_ptr_nonnull(strstr(logged(), "the child broke the contract"));
}
END_TEST

START_TEST(id_as_a_path_ends_the_parent)
{
	struct parent p;
	struct nc_priv_id id = { "../../etc" };

	parent_start(&p);
	ck_assert_int_eq(ask(&p, NC_PRIV_LOOP_ATTACH, &id, sizeof(id)), -1);
	ck_assert_int_eq(parent_stop(&p), -1);
	ck_assert_ptr_nonnull(strstr(logged(), "refused: instance id"));
}
END_TEST

START_TEST(unknown_type_ends_the_parent)
{
	struct parent p;

	parent_start(&p);
	ck_assert_int_eq(ask(&p, 99, "x", 1), -1);
	ck_assert_int_eq(parent_stop(&p), -1);
	ck_assert_ptr_nonnull(strstr(logged(), "unknown request type 99"));
}
END_TEST

START_TEST(wrong_size_ends_the_parent)
{
	struct parent p;
	struct nc_priv_domain r;

	raw_request(&r);
	parent_start(&p);
	ck_assert_int_eq(ask(&p, NC_PRIV_DOMAIN_CREATE, &r, sizeof(r) - 1), -1);
	ck_assert_int_eq(parent_stop(&p), -1);
	ck_assert_ptr_nonnull(strstr(logged(), "DOMAIN_CREATE request of"));
}
END_TEST

START_TEST(device_outside_the_pool_ends_the_parent)
{
	struct parent p;
	struct nc_priv_device d = { ID, "/dev/sda" };

	parent_start(&p);
	ck_assert_int_eq(ask(&p, NC_PRIV_DEVICE_WIPE, &d, sizeof(d)), -1);
	ck_assert_int_eq(parent_stop(&p), -1);
	ck_assert_ptr_nonnull(strstr(logged(), "a device of NC_PHY_DEVICES"));
}
END_TEST

START_TEST(volume_outside_volume_paths_refused)
{
	struct parent p;
	struct nc_priv_disk r = { .id = ID, .vol = "vol-0000c001", .remote = "/etc/shadow",
		.target = "vdb", .bus = NC_BUS_VIRTIO };

	parent_start(&p);
	ck_assert_int_eq(ask(&p, NC_PRIV_DISK_ATTACH, &r, sizeof(r)), -1);
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "is not in NC_VOLUME_PATHS"));
	ck_assert_int_eq(parent_stop(&p), 0);
}
END_TEST

START_TEST(stopping_what_is_not_karri_aoe_refused)
{
	struct parent p;
	struct nc_priv_aoe a = { .id = ID, .vol = "vol-0000c001", .remote = "aoe:eth1:e1.1",
		.helper = 1 };

	parent_start(&p);
	ck_assert_int_eq(ask(&p, NC_PRIV_AOE_STOP, &a, sizeof(a)), -1);
	ck_assert_ptr_nonnull(strstr(logged(), "AOE_STOP refused: pid 1 is not a karri-aoe"));
	ck_assert_int_eq(parent_stop(&p), 0);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("priv_parent", &tc);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, valid_domain_served);
	tcase_add_test(tc, root_outside_the_instance_refused);
	tcase_add_test(tc, overlay_on_another_file_refused);
	tcase_add_test(tc, device_not_a_loop_ends_the_parent);
	tcase_add_test(tc, id_as_a_path_ends_the_parent);
	tcase_add_test(tc, unknown_type_ends_the_parent);
	tcase_add_test(tc, wrong_size_ends_the_parent);
	tcase_add_test(tc, device_outside_the_pool_ends_the_parent);
	tcase_add_test(tc, volume_outside_volume_paths_refused);
	tcase_add_test(tc, stopping_what_is_not_karri_aoe_refused);
	return kr_check_run(s);
}
