/*
 * hypervisor.c - the NC's hypervisor driver table (HYPERVISOR=qemu|kvm|lxc|xen).
 *
 * As libvirt's own driver tables: one static struct per backend with
 * designated initialisers, and an empty slot means "unsupported" (the SOAP
 * operation then answers so, honestly).  Everything goes through the libvirt
 * C API; no virsh, no shell.
 *
 * kvm has a probe (kvm_probe.c) because a host can advertise KVM and still
 * be unable to run guests with it (the development machines run a nested
 * PVM hypervisor whose guests fail on cmpxchg16b): the NC then falls back to
 * qemu (TCG) and says so in the log, instead of creating domains of type
 * 'kvm' that die.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "nc.h"

/* Capabilities must list a guest of domain type `type`. */
static int
caps_have(virConnectPtr conn, const char *type)
{
	char *caps = virConnectGetCapabilities(conn);
	char needle[64];
	int ok;

	if (!caps) {
		nc_virt_error("reading the hypervisor's capabilities");
		return -1;
	}
	snprintf(needle, sizeof(needle), "<domain type='%s'", type);
	ok = strstr(caps, needle) != NULL;
	free(caps);
	if (!ok)
		kr_error("Unsupported", "libvirt's capabilities list no '%s' guests", type);
	return ok ? 0 : -1;
}

/* KVM that libvirt offers (node.c then asks kvm_probe.c whether it runs a
 * stock kernel: /dev/kvm is root's, the privileged parent's under privsep). */
static int
kvm_probe(virConnectPtr conn)
{
	return caps_have(conn, "kvm");
}

static int
qemu_probe(virConnectPtr conn)
{
	return caps_have(conn, "qemu");
}

static int
lxc_probe(virConnectPtr conn)
{
	return caps_have(conn, "lxc");
}

static int
xen_probe(virConnectPtr conn)
{
	return caps_have(conn, "xen");
}

/* A hard reset: it works whether or not the guest listens to ACPI. */
static int
hvm_reboot(virDomainPtr dom)
{
	if (virDomainReset(dom, 0) < 0) {
		nc_virt_error("resetting the domain");
		return -1;
	}
	return 0;
}

/* Containers have no reset: ask init to reboot. */
static int
lxc_reboot(virDomainPtr dom)
{
	if (virDomainReboot(dom, 0) < 0) {
		nc_virt_error("rebooting the container");
		return -1;
	}
	return 0;
}

static const struct nc_hv hv_qemu = {
	.name = "qemu",
	.domain_type = "qemu",
	.default_uri = "qemu:///system",
	.probe = qemu_probe,
	.reboot = hvm_reboot,
	.hotplug = true,
};

static const struct nc_hv hv_kvm = {
	.name = "kvm",
	.domain_type = "kvm",
	.default_uri = "qemu:///system",
	.probe = kvm_probe,
	.run_probe = true,
	.fallback = "qemu",
	.reboot = hvm_reboot,
	.hotplug = true,
};

static const struct nc_hv hv_lxc = {
	.name = "lxc",
	.domain_type = "lxc",
	.default_uri = "lxc:///system",
	.container = true,
	.probe = lxc_probe,
	.reboot = lxc_reboot,
	.pty_console = true,
};

static const struct nc_hv hv_xen = {
	.name = "xen",
	.domain_type = "xen",
	.default_uri = "xen:///system",
	.probe = xen_probe,
	.reboot = hvm_reboot,
	.hotplug = true,
};

static const struct nc_hv *const drivers[] = { &hv_qemu, &hv_kvm, &hv_lxc, &hv_xen, NULL };

const struct nc_hv *
nc_hv_lookup(const char *name)
{
	for (int i = 0; drivers[i]; i++)
		if (name && strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	kr_error("InvalidParameterValue", "unknown hypervisor \"%s\"", name ? name : "");
	return NULL;
}
