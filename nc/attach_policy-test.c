/*
 * attach_policy-test.c - the attachment choice over a table of cases.
 *
 * Each row is one situation an NC meets (image, I/O class, config, what is
 * free) and the choice Karri promises for it, as the string
 * ncDescribeInstances reports.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/check_run.h"
#include "core/error.h"
#include "nc.h"

struct row {
	const char *name;
	struct nc_attach_input in;
	const char *disk;	/* NULL: the choice must fail */
	const char *net;
	const char *why;	/* NULL, or words the reason must contain */
};

/* Each row starts from BASE and overrides what differs, on purpose. */
#pragma GCC diagnostic ignored "-Woverride-init"
/* rows without a why column leave it NULL */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define BASE .image_has_virtio = -1, .use_virtio_root = true, .use_virtio_net = true, \
	.disk_attach = "auto", .loop_ok = true, .direct_io_ok = true, .storage_nic_ok = true
/* the storage NIC's MAC, which the caller (ops_run.c) derives from the id */
#define SMAC "d2:0d:00:00:00:01"

static const struct row rows[] = {
	{ "default: virtio, qcow2 overlay, cache none",
	  { BASE }, "bus=virtio backing=tap store=qcow2 cache=none io=native", "model=virtio" },
	{ "standard class says the same",
	  { BASE, .io_class = "standard" }, "bus=virtio backing=tap store=qcow2 cache=none io=native", "model=virtio" },
	{ "io class, spare device free: phy",
	  { BASE, .io_class = "io", .phy_free = 1 }, "bus=virtio backing=phy store=device cache=none io=native", "model=virtio" },
	{ "io class, nothing free: pre-allocated raw",
	  { BASE, .io_class = "io" }, "bus=virtio backing=tap store=raw cache=none io=native", "model=virtio" },
	{ "IO class in capitals",
	  { BASE, .io_class = "IO", .phy_free = 2 }, "bus=virtio backing=phy store=device cache=none io=native", "model=virtio" },
	{ "image without virtio: ide and e1000",
	  { BASE, .image_has_virtio = 0 }, "bus=ide backing=tap store=qcow2 cache=none io=native", "model=e1000" },
	{ "windows, virtio not said: ide",
	  { BASE, .platform = "windows" }, "bus=ide backing=tap store=qcow2 cache=none io=native", "model=e1000" },
	{ "windows with virtio drivers said",
	  { BASE, .platform = "windows", .image_has_virtio = 1 }, "bus=virtio backing=tap store=qcow2 cache=none io=native", "model=virtio" },
	{ "USE_VIRTIO_ROOT=N: virtio-scsi",
	  { BASE, .use_virtio_root = false }, "bus=scsi backing=tap store=qcow2 cache=none io=native", "model=virtio" },
	{ "USE_VIRTIO_NET=N: e1000, disk unchanged",
	  { BASE, .use_virtio_net = false }, "bus=virtio backing=tap store=qcow2 cache=none io=native", "model=e1000" },
	{ "no O_DIRECT (tmpfs): writeback and threads, never writethrough",
	  { BASE, .direct_io_ok = false }, "bus=virtio backing=tap store=qcow2 cache=writeback io=threads", "model=virtio" },
	{ "phy on a block device takes O_DIRECT whatever the filesystem",
	  { BASE, .direct_io_ok = false, .io_class = "io", .phy_free = 1 }, "bus=virtio backing=phy store=device cache=none io=native", "model=virtio" },
	{ "NC_DISK_ATTACH=tap: overlay even with a spare device",
	  { BASE, .disk_attach = "tap", .phy_free = 1 }, "bus=virtio backing=tap store=qcow2 cache=none io=native", "model=virtio" },
	{ "NC_DISK_ATTACH=tap, io class: raw",
	  { BASE, .disk_attach = "tap", .io_class = "io", .phy_free = 1 }, "bus=virtio backing=tap store=raw cache=none io=native", "model=virtio" },
	{ "NC_DISK_ATTACH=phy, spare device",
	  { BASE, .disk_attach = "phy", .phy_free = 1 }, "bus=virtio backing=phy store=device cache=none io=native", "model=virtio" },
	{ "NC_DISK_ATTACH=phy, no spare: loop",
	  { BASE, .disk_attach = "phy" }, "bus=virtio backing=phy store=loop cache=none io=native", "model=virtio" },
	{ "NC_DISK_ATTACH=phy, nothing possible: refused",
	  { BASE, .disk_attach = "phy", .loop_ok = false }, NULL, NULL },
	{ "NC_DISK_ATTACH=phy with an ide image",
	  { BASE, .disk_attach = "phy", .image_has_virtio = 0 }, "bus=ide backing=phy store=loop cache=none io=native", "model=e1000" },
	{ "NC_GUEST_AOE=io, io class: a storage NIC, volumes by guest-side AoE",
	  { BASE, .io_class = "io", .guest_aoe = "io" }, "bus=virtio backing=tap store=raw cache=none io=native", "model=virtio storage=" SMAC },
	{ "NC_GUEST_AOE=io, standard class: volumes through the host",
	  { BASE, .guest_aoe = "io" }, "bus=virtio backing=tap store=qcow2 cache=none io=native", "model=virtio" },
	{ "NC_GUEST_AOE=always: every instance",
	  { BASE, .guest_aoe = "always" }, "bus=virtio backing=tap store=qcow2 cache=none io=native", "model=virtio storage=" SMAC },
	{ "NC_GUEST_AOE=never (the default), io class",
	  { BASE, .io_class = "io", .guest_aoe = "never" }, "bus=virtio backing=tap store=raw cache=none io=native", "model=virtio" },
	{ "NC_GUEST_AOE=always, no storage NIC on the node: through the host",
	  { BASE, .guest_aoe = "always", .storage_nic_ok = false }, "bus=virtio backing=tap store=qcow2 cache=none io=native", "model=virtio" },
	{ "NC_GUEST_AOE=always, image without virtio: through the host",
	  { BASE, .guest_aoe = "always", .image_has_virtio = 0 }, "bus=ide backing=tap store=qcow2 cache=none io=native", "model=e1000" },
	{ "container: a directory, veth",
	  { BASE, .container = true, .io_class = "io", .phy_free = 1 }, "bus=none backing=fs store=fsimage cache=writeback io=threads", "model=veth" },
	/* the standard class's raw root where it is O(1): reflink, else a clone */
	{ "standard, no reflink, no clone ready: overlay, and says why",
	  { BASE, .io_class = "standard" }, "bus=virtio backing=tap store=qcow2 cache=none io=native", "model=virtio",
	  "standard class: qcow2 overlay on the cached base (no reflink here, no raw clone ready)" },
	{ "standard, reflink on INSTANCE_PATH: raw",
	  { BASE, .io_class = "standard", .reflink_ok = true }, "bus=virtio backing=tap store=raw cache=none io=native", "model=virtio",
	  "standard class: reflink clone of the cached base: O(1), raw speed" },
	{ "standard, a raw clone ready: raw",
	  { BASE, .clone_ready = true }, "bus=virtio backing=tap store=raw cache=none io=native", "model=virtio",
	  "standard class: a raw clone made ahead of the launch" },
	{ "standard, reflink and a clone ready: reflink (no copy spent)",
	  { BASE, .reflink_ok = true, .clone_ready = true }, "bus=virtio backing=tap store=raw cache=none io=native", "model=virtio",
	  "reflink clone of the cached base" },
	{ "standard, clone ready, no O_DIRECT: raw, writeback",
	  { BASE, .clone_ready = true, .direct_io_ok = false }, "bus=virtio backing=tap store=raw cache=writeback io=threads", "model=virtio",
	  "a raw clone made ahead of the launch" },
	{ "standard, clone ready, image without virtio: ide on the clone",
	  { BASE, .clone_ready = true, .image_has_virtio = 0 }, "bus=ide backing=tap store=raw cache=none io=native", "model=e1000",
	  "a raw clone made ahead of the launch" },
	{ "NC_DISK_ATTACH=tap, standard, clone ready: raw (still a file through QEMU)",
	  { BASE, .disk_attach = "tap", .clone_ready = true }, "bus=virtio backing=tap store=raw cache=none io=native", "model=virtio",
	  "NC_DISK_ATTACH=tap, standard class: a raw clone made ahead of the launch" },
	{ "NC_DISK_ATTACH=tap, standard, nothing: overlay",
	  { BASE, .disk_attach = "tap" }, "bus=virtio backing=tap store=qcow2 cache=none io=native", "model=virtio",
	  "NC_DISK_ATTACH=tap, standard class: qcow2 overlay" },
	{ "io class with reflink and a clone: still its own copy (or a device)",
	  { BASE, .io_class = "io", .reflink_ok = true, .clone_ready = true }, "bus=virtio backing=tap store=raw cache=none io=native", "model=virtio",
	  "io class, no spare device free: tap on a pre-allocated raw file" },
	{ "io class, spare device, clone ready: the device",
	  { BASE, .io_class = "io", .phy_free = 1, .clone_ready = true }, "bus=virtio backing=phy store=device cache=none io=native", "model=virtio",
	  "io class, spare device free: phy" },
	{ "NC_DISK_ATTACH=phy, clone ready: loop as before",
	  { BASE, .disk_attach = "phy", .clone_ready = true, .reflink_ok = true }, "bus=virtio backing=phy store=loop cache=none io=native", "model=virtio",
	  "loop over a pre-allocated file" },
	{ "container, reflink: still a filesystem image",
	  { BASE, .container = true, .reflink_ok = true, .clone_ready = true }, "bus=none backing=fs store=fsimage cache=writeback io=threads", "model=veth",
	  "container" },
};

START_TEST(table)
{
	const struct row *r = &rows[_i];
	struct nc_attach a, back;
	char disk[128], net[64];
	int rc = nc_attach_decide(&r->in, &a);

	if (!r->disk) {
		ck_assert_msg(rc == -1, "%s: expected a refusal", r->name);
		ck_assert_str_eq(kr_error_code(), "InsufficientInstanceCapacity");
		return;
	}
	ck_assert_msg(rc == 0, "%s: %s", r->name, kr_error_message());
	if (a.guest_aoe)
		snprintf(a.storage_mac, sizeof(a.storage_mac), "%s", SMAC);
	nc_attach_disk_string(&a, disk, sizeof(disk));
	nc_attach_net_string(&a, net, sizeof(net));
	ck_assert_msg(strcmp(disk, r->disk) == 0, "%s: disk %s, expected %s", r->name, disk, r->disk);
	ck_assert_msg(strcmp(net, r->net) == 0, "%s: net %s, expected %s", r->name, net, r->net);
	ck_assert_msg(a.why[0] != '\0', "%s: no reason given", r->name);
	ck_assert_msg(!r->why || strstr(a.why, r->why), "%s: why \"%s\", expected \"%s\" in it",
	    r->name, a.why, r->why);
	/* a raw standard root says where it comes from; nothing else claims one */
	ck_assert_int_eq(a.root_from != NC_ROOT_BASE, a.store == NC_STORE_RAW &&
	    !(r->in.io_class && strcasecmp(r->in.io_class, "io") == 0) && !r->in.container &&
	    a.backing == NC_BACKING_TAP);
	/* never writethrough; native only with none */
	ck_assert(a.io != NC_IO_NATIVE || a.cache == NC_CACHE_NONE);
	/* the strings parse back (restart) */
	ck_assert_int_eq(nc_attach_parse(disk, net, &back), 0);
	ck_assert_int_eq(back.bus, a.bus);
	ck_assert_int_eq(back.store, a.store);
	ck_assert_int_eq(back.cache, a.cache);
	ck_assert_int_eq(back.nic, a.nic);
	ck_assert_int_eq(back.guest_aoe, a.guest_aoe);
	ck_assert_str_eq(back.storage_mac, a.storage_mac);
}
END_TEST

START_TEST(device_names)
{
	char t[16];

	ck_assert_int_eq(nc_bus_target(NC_BUS_VIRTIO, 0, t, sizeof(t)), 0);
	ck_assert_str_eq(t, "vda");
	ck_assert_int_eq(nc_bus_target(NC_BUS_IDE, 1, t, sizeof(t)), 0);
	ck_assert_str_eq(t, "hdb");
	ck_assert_int_eq(nc_bus_guest_dev(NC_BUS_VIRTIO, 0, t, sizeof(t)), 0);
	ck_assert_str_eq(t, "/dev/vda");
	ck_assert_int_eq(nc_bus_guest_dev(NC_BUS_SCSI, 0, t, sizeof(t)), 0);
	ck_assert_str_eq(t, "/dev/sda");
	ck_assert_int_eq(nc_bus_guest_dev(NC_BUS_IDE, 0, t, sizeof(t)), 0);
	ck_assert_str_eq(t, "/dev/sda");	/* libata */
	ck_assert_int_eq(nc_bus_target(NC_BUS_NONE, 0, t, sizeof(t)), -1);
}
END_TEST

START_TEST(garbage_does_not_parse)
{
	struct nc_attach a;

	ck_assert_int_eq(nc_attach_parse("bus=floppy backing=tap store=qcow2 cache=none io=native",
	    "model=virtio", &a), -1);
	ck_assert_int_eq(nc_attach_parse("", "", &a), -1);
	ck_assert_int_eq(nc_attach_parse("bus=virtio backing=tap store=raw cache=none io=native",
	    "model=virtio storage=d2:0d:00", &a), -1);
	ck_assert_int_eq(nc_attach_parse("bus=virtio backing=tap store=raw cache=none io=native",
	    "model=virtio storage=d2:0d:00:00:00:0g", &a), -1);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("attach_policy", &tc);

	tcase_add_loop_test(tc, table, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, device_names);
	tcase_add_test(tc, garbage_does_not_parse);
	return kr_check_run(s);
}
