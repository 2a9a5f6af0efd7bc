/*
 * domain_xml.c - an instance spec in, libvirt domain XML out.
 *
 * Pure text generation through kr_buf (every value escaped), so that golden
 * files (nc/testdata/NAME.xml, checked by domain_xml-test.c) pin the exact XML
 * each attachment choice produces.  What the XML says and why:
 *
 *   - <features><acpi/></features>: without ACPI a guest cannot power off.
 *   - on_poweroff/on_crash destroy: the NC notices the domain is gone and
 *     reports the instance stopped; on_reboot restart so a guest's own
 *     reboot keeps the instance.
 *   - the serial console goes to a file, appended, so it survives reboots
 *     and NC restarts and ncGetConsoleOutput can read its tail.
 *   - containers (lxc): an <init> in the root filesystem image, which
 *     libvirt mounts as '/' from the loop device the NC made over it;
 *     privnet, so a container never shares the node's network; a pty
 *     console (libvirt's LXC driver has no other kind), copied to the
 *     same file by console_pty.c.
 *   - cache/io from the attachment choice; io='native' only with
 *     cache='none' (QEMU refuses native without O_DIRECT).
 *   - a virtio-scsi controller whenever a disk is on the scsi bus.
 *   - guest-side AoE: a second virtio NIC, a macvtap in bridge mode on the
 *     node's storage NIC (no bridge to set up, and the node's own AoE
 *     traffic on that NIC is untouched).  The macvtap has the storage
 *     NIC's MTU; the guest sets its side's itself: libvirt 9.0 refuses
 *     <mtu> on a direct interface ("not supported yet").
 */
#include <string.h>

#include "core/error.h"
#include "nc.h"

static const char *
cache_attr(enum nc_cachemode c)
{
	return c == NC_CACHE_NONE ? "none" : "writeback";
}

static const char *
io_attr(const struct nc_disk_spec *d)
{
	return d->io == NC_IO_NATIVE && d->cache == NC_CACHE_NONE ? "native" : "threads";
}

static void
attr(struct kr_buf *b, const char *name, const char *value)
{
	kr_buf_addf(b, " %s='", name);
	kr_buf_add_xml(b, value);
	kr_buf_add_char(b, '\'');
}

int
nc_disk_xml(const struct nc_disk_spec *d, struct kr_buf *b)
{
	static const char *const types[] = { "file", "block", "network" };

	if (!d->path || !d->target || d->bus == NC_BUS_NONE) {
		kr_error("InternalError", "disk without a source, target or bus");
		return -1;
	}
	kr_buf_addf(b, "<disk type='%s' device='disk'>\n", types[d->src]);
	kr_buf_add(b, "  <driver name='qemu'");
	attr(b, "type", d->format ? d->format : "raw");
	attr(b, "cache", cache_attr(d->cache));
	attr(b, "io", io_attr(d));
	kr_buf_add(b, "/>\n");
	switch (d->src) {
	case NC_SRC_FILE:
		kr_buf_add(b, "  <source");
		attr(b, "file", d->path);
		kr_buf_add(b, "/>\n");
		break;
	case NC_SRC_BLOCK:
		kr_buf_add(b, "  <source");
		attr(b, "dev", d->path);
		kr_buf_add(b, "/>\n");
		break;
	case NC_SRC_NBD:
		kr_buf_add(b, "  <source protocol='nbd'");
		if (d->export_name && *d->export_name)
			attr(b, "name", d->export_name);
		kr_buf_add(b, ">\n    <host transport='unix'");
		attr(b, "socket", d->path);
		kr_buf_add(b, "/>\n  </source>\n");
		break;
	}
	kr_buf_add(b, "  <target");
	attr(b, "dev", d->target);
	attr(b, "bus", nc_bus_name(d->bus));
	kr_buf_add(b, "/>\n");
	if (d->serial) {
		kr_buf_add(b, "  ");
		kr_buf_add_xml_elem(b, "serial", d->serial);
		kr_buf_add_char(b, '\n');
	}
	kr_buf_add(b, "</disk>\n");
	return 0;
}

/* Indent every line of a finished fragment by `pad`. */
static void
add_indented(struct kr_buf *out, const char *text, const char *pad)
{
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);

		kr_buf_add(out, pad);
		kr_buf_add_len(out, p, n);
		p += n;
	}
}

static void
add_os(const struct nc_domain_spec *s, struct kr_buf *b, bool container)
{
	kr_buf_add(b, "  <os>\n");
	if (container) {
		kr_buf_add(b, "    <type>exe</type>\n    ");
		kr_buf_add_xml_elem(b, "init", s->init ? s->init : "/sbin/init");
		kr_buf_add_char(b, '\n');
	} else {
		kr_buf_add(b, "    <type arch='x86_64' machine='pc'>hvm</type>\n");
		if (s->kernel) {
			kr_buf_add(b, "    ");
			kr_buf_add_xml_elem(b, "kernel", s->kernel);
			if (s->ramdisk) {
				kr_buf_add(b, "\n    ");
				kr_buf_add_xml_elem(b, "initrd", s->ramdisk);
			}
			if (s->cmdline) {
				kr_buf_add(b, "\n    ");
				kr_buf_add_xml_elem(b, "cmdline", s->cmdline);
			}
			kr_buf_add_char(b, '\n');
		} else {
			kr_buf_add(b, "    <boot dev='hd'/>\n");
		}
	}
	kr_buf_add(b, "  </os>\n");
}

static void
add_nic(const struct nc_domain_spec *s, struct kr_buf *b, bool container)
{
	kr_buf_add(b, "    <interface type='bridge'>\n      <source");
	attr(b, "bridge", s->bridge);
	kr_buf_add(b, "/>\n");
	if (s->mac) {
		kr_buf_add(b, "      <mac");
		attr(b, "address", s->mac);
		kr_buf_add(b, "/>\n");
	}
	if (s->tap) {
		kr_buf_add(b, "      <target");
		attr(b, "dev", s->tap);
		kr_buf_add(b, "/>\n");
	}
	if (!container) {
		kr_buf_add(b, "      <model");
		attr(b, "type", nc_nic_name(s->nic));
		kr_buf_add(b, "/>\n");
	}
	kr_buf_add(b, "    </interface>\n");
}

static void
add_storage_nic(const struct nc_domain_spec *s, struct kr_buf *b)
{
	kr_buf_add(b, "    <interface type='direct'>\n      <source");
	attr(b, "dev", s->storage_if);
	kr_buf_add(b, " mode='bridge'/>\n      <mac");
	attr(b, "address", s->storage_mac);
	kr_buf_add(b, "/>\n      <model type='virtio'/>\n    </interface>\n");
}

int
nc_domain_xml(const struct nc_domain_spec *s, struct kr_buf *b)
{
	bool container = s->type && strcmp(s->type, "lxc") == 0;
	bool scsi = false;

	if (!s->type || !s->name || s->memory_mib <= 0 || s->vcpus <= 0) {
		kr_error("InternalError", "domain spec without type, name, memory or cpus");
		return -1;
	}
	if (container && !s->rootfs) {
		kr_error("InternalError", "container spec without a root filesystem device");
		return -1;
	}
	kr_buf_add(b, "<domain");
	attr(b, "type", s->type);
	kr_buf_add(b, ">\n  ");
	kr_buf_add_xml_elem(b, "name", s->name);
	kr_buf_addf(b, "\n  <memory unit='MiB'>%ld</memory>\n  <vcpu>%d</vcpu>\n",
	    s->memory_mib, s->vcpus);
	add_os(s, b, container);
	/* privnet: a network namespace of its own even without a NIC */
	kr_buf_add(b, container ? "  <features><privnet/></features>\n" :
	    "  <features><acpi/></features>\n");
	kr_buf_add(b, "  <on_poweroff>destroy</on_poweroff>\n"
	    "  <on_reboot>restart</on_reboot>\n  <on_crash>destroy</on_crash>\n");
	kr_buf_add(b, "  <devices>\n");
	if (container) {
		/* the instance's own copy of the image over a loop device,
		 * mounted by libvirt: the container writes to it, not to the
		 * cache; libvirt allows the device in the container's cgroup */
		kr_buf_add(b, "    <filesystem type='block' accessmode='passthrough'>\n"
		    "      <source");
		attr(b, "dev", s->rootfs);
		kr_buf_add(b, "/>\n      <target dir='/'/>\n    </filesystem>\n");
	}
	for (int i = 0; i < s->ndisks && !container; i++) {
		struct kr_buf d = KR_BUF_INIT;

		if (nc_disk_xml(&s->disks[i], &d) < 0) {
			kr_buf_free(&d);
			return -1;
		}
		add_indented(b, kr_buf_str(&d), "    ");
		kr_buf_free(&d);
		scsi |= s->disks[i].bus == NC_BUS_SCSI;
	}
	if (scsi)
		kr_buf_add(b, "    <controller type='scsi' model='virtio-scsi'/>\n");
	if (s->bridge)
		add_nic(s, b, container);
	if (s->storage_if && s->storage_mac && !container)
		add_storage_nic(s, b);
	if (container) {
		kr_buf_add(b, "    <console type='pty'/>\n");
	} else if (s->console) {
		kr_buf_add(b, "    <serial type='file'>\n      <source");
		attr(b, "path", s->console);
		kr_buf_add(b, " append='on'/>\n      <target port='0'/>\n    </serial>\n"
		    "    <console type='file'>\n      <source");
		attr(b, "path", s->console);
		kr_buf_add(b, " append='on'/>\n      <target type='serial' port='0'/>\n"
		    "    </console>\n");
	}
	kr_buf_add(b, "  </devices>\n</domain>\n");
	return kr_buf_failed(b) ? -1 : 0;
}
