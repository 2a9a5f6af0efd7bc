/*
 * domain_xml-test.c - instance spec in, domain XML out, against golden
 * files in testdata/ (NC_REGENERATE=1 rewrites them; review the diff), and
 * every generated domain accepted by libvirt's test:///default driver.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "core/buf.h"
#include "core/check_run.h"
#include "core/error.h"
#include "nc.h"

struct golden {
	const char *file;
	struct nc_domain_spec spec;
};

#define DIR "/var/lib/karri/instances/instances/i-1a2b3c4d"

static const struct golden cases[] = {
	{ "virtio-tap-kernel.xml", {
		.type = "qemu", .name = "i-1a2b3c4d", .memory_mib = 256, .vcpus = 1,
		.kernel = DIR "/kernel", .ramdisk = DIR "/ramdisk",
		.cmdline = "console=ttyS0 root=/dev/vda karri.hold=forever",
		.console = DIR "/console.log",
		.disks = {
			{ NC_SRC_FILE, DIR "/root.qcow2", NULL, "qcow2", "vda", NC_BUS_VIRTIO,
			  NC_CACHE_NONE, NC_IO_NATIVE, NULL },
			{ NC_SRC_FILE, DIR "/ephemeral.raw", NULL, "raw", "vdb", NC_BUS_VIRTIO,
			  NC_CACHE_NONE, NC_IO_NATIVE, NULL },
		}, .ndisks = 2,
		.bridge = "br0", .mac = "d0:0d:1a:2b:3c:4d", .tap = "kr1a2b3c4d", .nic = NC_NIC_VIRTIO } },
	{ "virtio-phy-loop.xml", {
		.type = "kvm", .name = "i-00000001", .memory_mib = 512, .vcpus = 2,
		.kernel = DIR "/kernel", .cmdline = "console=ttyS0 root=/dev/vda",
		.console = DIR "/console.log",
		.disks = { { NC_SRC_BLOCK, "/dev/loop7", NULL, "raw", "vda", NC_BUS_VIRTIO,
			  NC_CACHE_NONE, NC_IO_NATIVE, NULL } }, .ndisks = 1,
		.bridge = "br0", .mac = "d0:0d:00:00:00:01", .tap = "kr00000001", .nic = NC_NIC_VIRTIO } },
	{ "scsi-tap-raw.xml", {
		.type = "qemu", .name = "i-00000002", .memory_mib = 256, .vcpus = 1,
		.kernel = DIR "/kernel", .ramdisk = DIR "/ramdisk",
		.cmdline = "console=ttyS0 root=/dev/sda", .console = DIR "/console.log",
		.disks = { { NC_SRC_FILE, DIR "/root.raw", NULL, "raw", "sda", NC_BUS_SCSI,
			  NC_CACHE_NONE, NC_IO_NATIVE, NULL } }, .ndisks = 1,
		.bridge = "br0", .mac = "d0:0d:00:00:00:02", .nic = NC_NIC_VIRTIO } },
	{ "virtio-raw-storage-nic.xml", {	/* guest-side AoE: a NIC on the storage network */
		.type = "qemu", .name = "i-00000005", .memory_mib = 256, .vcpus = 1,
		.kernel = DIR "/kernel", .cmdline = "console=ttyS0 root=/dev/vda",
		.console = DIR "/console.log",
		.disks = { { NC_SRC_FILE, DIR "/root.raw", NULL, "raw", "vda", NC_BUS_VIRTIO,
			  NC_CACHE_NONE, NC_IO_NATIVE, NULL } }, .ndisks = 1,
		.bridge = "br0", .mac = "d0:0d:00:00:00:05", .tap = "kr00000005", .nic = NC_NIC_VIRTIO,
		.storage_if = "eth1", .storage_mac = "d2:0d:00:00:00:05" } },
	{ "ide-e1000-whole-disk-writeback.xml", {
		.type = "qemu", .name = "i-00000003", .memory_mib = 1024, .vcpus = 1,
		.console = "/tmp/it's <here> & there/console.log",
		.disks = { { NC_SRC_FILE, DIR "/root.qcow2", NULL, "qcow2", "hda", NC_BUS_IDE,
			  NC_CACHE_WRITEBACK, NC_IO_NATIVE, NULL } }, .ndisks = 1,
		.bridge = "br0", .nic = NC_NIC_E1000 } },
	{ "lxc-container.xml", {
		.type = "lxc", .name = "i-00000004", .memory_mib = 128, .vcpus = 1,
		.init = "/sbin/init", .rootfs = "/dev/loop7",
		.bridge = "br0", .mac = "d0:0d:00:00:00:04", .tap = "kr00000004", .nic = NC_NIC_VETH } },
};

static const char *
data_dir(void)
{
	const char *d = getenv("NC_TEST_DATA");

	return d ? d : "testdata";
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		s = NULL;
	}
	fclose(f);
	return s;
}

START_TEST(golden_files)
{
	const struct golden *g = &cases[_i];
	struct kr_buf b = KR_BUF_INIT;
	char path[1024], *want;

	ck_assert_int_eq(nc_domain_xml(&g->spec, &b), 0);
	snprintf(path, sizeof(path), "%s/%s", data_dir(), g->file);
	if (getenv("NC_REGENERATE")) {
		FILE *f = fopen(path, "w");

		ck_assert_ptr_nonnull(f);
		fputs(kr_buf_str(&b), f);
		fclose(f);
	}
	want = slurp(path);
	ck_assert_msg(want != NULL, "missing %s (NC_REGENERATE=1 makes it)", path);
	ck_assert_msg(strcmp(want, kr_buf_str(&b)) == 0, "%s differs:\n%s", g->file, kr_buf_str(&b));
	free(want);
	kr_buf_free(&b);
}
END_TEST

static void
quiet(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e;
}

/* libvirt itself parses every golden domain (the test driver runs nothing). */
START_TEST(test_driver_accepts)
{
	const struct golden *g = &cases[_i];
	struct kr_buf b = KR_BUF_INIT;
	virConnectPtr c;
	virDomainPtr d;

	virSetErrorFunc(NULL, quiet);
	c = virConnectOpen("test:///default");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(nc_domain_xml(&g->spec, &b), 0);
	d = virDomainCreateXML(c, kr_buf_str(&b), 0);
	ck_assert_msg(d != NULL, "%s: %s", g->file, virGetLastErrorMessage());
	ck_assert_str_eq(virDomainGetName(d), g->spec.name);
	virDomainDestroy(d);
	virDomainFree(d);
	virConnectClose(c);
	kr_buf_free(&b);
}
END_TEST

START_TEST(nbd_volume_disk)
{
	struct nc_disk_spec d;
	struct kr_buf b = KR_BUF_INIT;
	char sock[256], exp[64];
	const char *how;

	ck_assert_int_eq(nc_volume_source("nbd+unix:///vol-1a2b3c4d?socket=/run/karri/aoe/vol.sock",
	    &d, sock, sizeof(sock), exp, sizeof(exp), &how), 0);
	ck_assert_str_eq(how, "nbd");
	ck_assert_str_eq(sock, "/run/karri/aoe/vol.sock");
	ck_assert_str_eq(exp, "vol-1a2b3c4d");
	d.target = "vdc";
	d.bus = NC_BUS_VIRTIO;
	d.cache = NC_CACHE_NONE;
	d.io = NC_IO_THREADS;
	d.serial = "vol-1a2b3c4d";
	ck_assert_int_eq(nc_disk_xml(&d, &b), 0);
	ck_assert_str_eq(kr_buf_str(&b),
	    "<disk type='network' device='disk'>\n"
	    "  <driver name='qemu' type='raw' cache='none' io='threads'/>\n"
	    "  <source protocol='nbd' name='vol-1a2b3c4d'>\n"
	    "    <host transport='unix' socket='/run/karri/aoe/vol.sock'/>\n"
	    "  </source>\n"
	    "  <target dev='vdc' bus='virtio'/>\n"
	    "  <serial>vol-1a2b3c4d</serial>\n"
	    "</disk>\n");
	kr_buf_free(&b);
	/* the default export, and what is refused */
	ck_assert_int_eq(nc_volume_source("nbd+unix:///?socket=/s", &d, sock, sizeof(sock), exp,
	    sizeof(exp), &how), 0);
	ck_assert_ptr_null(d.export_name);
	ck_assert_int_eq(nc_volume_source("nbd+unix:///x?socket=rel", &d, sock, sizeof(sock), exp,
	    sizeof(exp), &how), -1);
	ck_assert_int_eq(nc_volume_source("nbd://host/x", &d, sock, sizeof(sock), exp,
	    sizeof(exp), &how), -1);
	ck_assert_int_eq(nc_volume_source("relative/file", &d, sock, sizeof(sock), exp,
	    sizeof(exp), &how), -1);
	ck_assert_int_eq(nc_volume_source("/dev/null'/><x", &d, sock, sizeof(sock), exp,
	    sizeof(exp), &how), -1);
	ck_assert_int_eq(nc_volume_source("aoe:eth1:e9.9", &d, sock, sizeof(sock), exp,
	    sizeof(exp), &how), -1);
	ck_assert_str_eq(kr_error_code(), "Unsupported");
}
END_TEST

/* aoe:[IFACE:[MAC:]]eS.L; the NIC defaults to eth1 (no config here) */
START_TEST(aoe_remote_dev)
{
	char ifn[16];
	unsigned shelf, slot;
	static const char *const bad[] = { "aoe:", "aoe:e1", "aoe:e1.", "aoe:e.1", "aoe:e1.2x",
	    "aoe:e65535.1", "aoe:e1.255", "aoe:eth 1:e1.2", "aoe:eth0:zz:e1.2",
	    "aoe:averyveryverylongname:e1.2", "aoe:eth1:", "aoe::e1.2" };

	ck_assert_int_eq(nc_aoe_parse("aoe:e3.1", ifn, sizeof(ifn), &shelf, &slot), 0);
	ck_assert_str_eq(ifn, "eth1");
	ck_assert_uint_eq(shelf, 3);
	ck_assert_uint_eq(slot, 1);
	ck_assert_int_eq(nc_aoe_parse("aoe:stor0:e65534.254", ifn, sizeof(ifn), &shelf, &slot), 0);
	ck_assert_str_eq(ifn, "stor0");
	ck_assert_uint_eq(shelf, 65534);
	ck_assert_uint_eq(slot, 254);
	ck_assert_int_eq(nc_aoe_parse("aoe:eth1:00:11:22:33:44:5a:e3.1", ifn, sizeof(ifn), &shelf,
	    &slot), 0);
	ck_assert_str_eq(ifn, "eth1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(nc_aoe_parse(bad[i], ifn, sizeof(ifn), &shelf, &slot) == -1, "%s",
		    bad[i]);
		ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	}
}
END_TEST

START_TEST(impossible_specs_fail)
{
	struct nc_domain_spec s = { .type = "qemu", .name = "x", .memory_mib = 0, .vcpus = 1 };
	struct kr_buf b = KR_BUF_INIT;

	ck_assert_int_eq(nc_domain_xml(&s, &b), -1);
	s.memory_mib = 64;
	s.type = "lxc";
	ck_assert_int_eq(nc_domain_xml(&s, &b), -1);	/* a container needs a root */
	kr_buf_free(&b);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("domain_xml", &tc);
	int n = (int)(sizeof(cases) / sizeof(cases[0]));

	tcase_add_loop_test(tc, golden_files, 0, n);
	tcase_add_loop_test(tc, test_driver_accepts, 0, n);
	tcase_add_test(tc, nbd_volume_disk);
	tcase_add_test(tc, aoe_remote_dev);
	tcase_add_test(tc, impossible_specs_fail);
	return kr_check_run(s);
}
