/*
 * config_keys.c - THE table of every key Karri knows (see config.h).
 *
 * The first part keeps eucalyptus.conf's names and meanings, so an admin's
 * file carries over; the second part is Karri's own.  etc/karri/karri.conf
 * documents the same keys for admins: change both together.
 *
 * Columns: name, type, default, min, max, check (see config.h), help.
 * Paths default under $KARRI_HOME (the environment's KARRI_HOME, else "/").
 */
#include <limits.h>
#include <stddef.h>

#include "core/config.h"

#define S KR_CFG_STRING
#define I KR_CFG_INT
#define B KR_CFG_BOOL
#define E KR_CFG_ENUM
#define P KR_CFG_PORT
#define F KR_CFG_PATH
#define L KR_CFG_LIST
#define BIG LONG_MAX

const struct kr_cfg_key kr_config_keys[] = {
	/* eucalyptus.conf */
	{ "EUCALYPTUS", S, NULL, 0, 0, NULL, "accepted for compatibility and ignored: Karri uses KARRI_HOME" },
	{ "EUCA_USER", S, "karri", 0, 0, NULL, "unprivileged user the daemons run as" },
	{ "LOGLEVEL", E, "INFO", 0, 0, "DEBUG|INFO|WARN|ERROR|EXTREME=DEBUG|TRACE=DEBUG|WARNING=WARN|FATAL=ERROR", "least severe messages logged" },
	{ "CC_PORT", P, "8774", 0, 0, NULL, "cluster controller SOAP port" },
	{ "NC_PORT", P, "8775", 0, 0, NULL, "node controller SOAP port" },
	{ "SCHEDPOLICY", E, "ROUNDROBIN", 0, 0, "GREEDY|ROUNDROBIN|POWERSAVE", "how the CC picks a node for an instance" },
	{ "NODES", L, NULL, 0, 0, NULL, "node controllers of this cluster (host names or addresses)" },
	{ "NC_SERVICE", S, "axis2/services/EucalyptusNC", 0, 0, NULL, "URL path of the NC service on each node" },
	{ "HYPERVISOR", E, "qemu", 0, 0, "qemu|kvm|lxc|xen", "libvirt driver for instances (qemu: TCG, no VT needed)" },
	{ "INSTANCE_PATH", F, "$KARRI_HOME/var/lib/karri/instances", 0, 0, NULL, "NC: instance disks and the image cache" },
	{ "NC_CACHE_SIZE", I, "10240", 0, BIG, NULL, "NC: image cache size in MiB (0: no cache)" },
	{ "MAX_MEM", I, "0", 0, BIG, NULL, "NC: MiB of memory offered to instances (0: all)" },
	{ "MAX_CORES", I, "0", 0, BIG, NULL, "NC: cores offered to instances (0: all)" },
	{ "MAX_DISK", I, "0", 0, BIG, NULL, "NC: GiB of INSTANCE_PATH offered to instances (0: all)" },
	{ "USE_VIRTIO_ROOT", B, "Y", 0, 0, NULL, "NC: root disk on virtio unless the image lacks drivers" },
	{ "USE_VIRTIO_DISK", B, "Y", 0, 0, NULL, "NC: EBS volumes on virtio" },
	{ "USE_VIRTIO_NET", B, "Y", 0, 0, NULL, "NC: virtio NICs (else e1000)" },
	{ "MANUAL_INSTANCES_CLEANUP", B, "N", 0, 0, NULL, "NC: keep a terminated instance's files for inspection" },
	{ "VNET_MODE", E, "SYSTEM", 0, 0, "SYSTEM|STATIC|MANAGED-NOVLAN|MANAGED", "cluster networking mode" },
	{ "VNET_PUBINTERFACE", S, "eth0", 0, 0, NULL, "interface towards the public network" },
	{ "VNET_PRIVINTERFACE", S, "eth0", 0, 0, NULL, "CC: interface towards the nodes; NC (MANAGED): where group VLANs go" },
	{ "VNET_BRIDGE", S, NULL, 0, 0, NULL, "NC: bridge instances join (SYSTEM and STATIC modes)" },
	{ "VNET_DHCPDAEMON", F, "/usr/sbin/dnsmasq", 0, 0, NULL, "CC: the DHCP server (dnsmasq)" },
	{ "VNET_DHCPUSER", S, "dnsmasq", 0, 0, NULL, "CC: user the DHCP server runs as" },
	{ "VNET_SUBNET", S, NULL, 0, 0, "ipv4", "private network of the instances" },
	{ "VNET_NETMASK", S, NULL, 0, 0, "ipv4", "netmask of VNET_SUBNET" },
	{ "VNET_DNS", S, NULL, 0, 0, "ipv4", "DNS server handed to instances" },
	{ "VNET_ADDRSPERNET", I, "32", 4, 65536, "pow2", "addresses per security group network (a power of two)" },
	{ "VNET_PUBLICIPS", L, NULL, 0, 0, NULL, "public addresses to hand out: a.b.c.d or ranges a.b.c.d-a.b.c.e" },
	{ "VNET_CLOUDIP", S, NULL, 0, 0, "ipv4", "address of the CLC (for the metadata redirect)" },
	{ "VNET_LOCALIP", S, NULL, 0, 0, "ipv4", "this host's address on the private side" },
	{ "VNET_MACMAP", L, NULL, 0, 0, NULL, "STATIC mode: MAC=IP pairs" },
	{ "VNET_BROADCAST", S, NULL, 0, 0, "ipv4", "STATIC/SYSTEM: broadcast address handed to instances" },
	{ "VNET_ROUTER", S, NULL, 0, 0, "ipv4", "STATIC/SYSTEM: default router handed to instances" },
	{ "VNET_MACPREFIX", S, "d0:0d", 0, 0, "macprefix", "first two octets of instance MACs" },
	{ "NC_POLLING_FREQUENCY", I, "6", 1, 3600, NULL, "CC: seconds between polls of each node" },
	{ "POWER_IDLETHRESH", I, "300", 0, BIG, NULL, "POWERSAVE: seconds a node idles before it is powered off" },
	{ "POWER_WAKETHRESH", I, "300", 0, BIG, NULL, "POWERSAVE: seconds a node stays up once woken" },
	{ "DISABLE_TUNNELLING", B, "N", 0, 0, NULL, "MANAGED: no VLAN tunnels between clusters" },
	{ "CLOUD_OPTS", S, NULL, 0, 0, NULL, "accepted for compatibility and ignored (Java options)" },

	/* Karri's own */
	{ "KARRI_HOME", F, "/", 0, 0, NULL, "root of Karri's files; $KARRI_HOME in values means this" },
	{ "CLC_PORT", P, "8773", 0, 0, NULL, "CLC EC2 API port (HTTP)" },
	{ "CLC_HTTPS_PORT", P, "8443", 0, 0, NULL, "CLC EC2 API port (HTTPS)" },
	{ "WALRUS_PORT", P, "8779", 0, 0, NULL, "Walrus S3 port" },
	{ "EBS_PORT", P, "8776", 0, 0, NULL, "EBS SOAP control port" },
	{ "LOG_FILE", S, NULL, 0, 0, NULL, "log file (absolute; - = stderr); unset: $KARRI_HOME/var/log/karri/<daemon>.log" },
	{ "LOG_MAX_BYTES", I, "104857600", 0, BIG, NULL, "rotate the log past this size (0: never)" },
	{ "LOG_KEEP", I, "5", 0, 1000, NULL, "rotated log files kept" },
	{ "KARRI_INSECURE_HTTP", B, "N", 0, 0, NULL, "DEVELOPMENT ONLY: plain HTTP between daemons" },
	{ "KARRI_BIND_ADDRESS", S, "0.0.0.0", 0, 0, "ipv4", "address the daemons listen on" },
	{ "NC_DISK_ATTACH", E, "auto", 0, 0, "auto|tap|phy", "NC: disk backing (auto: per instance)" },
	{ "NC_PHY_DEVICES", L, NULL, 0, 0, "path", "NC: spare block devices for phy disks" },
	{ "NC_MAX_CONCURRENT_STAGING", I, "4", 1, 64, NULL, "NC: instances prepared at once" },
	{ "NC_LIBVIRT_URI", S, NULL, 0, 0, NULL, "NC: libvirt connection URI (unset: the HYPERVISOR's local default)" },
	{ "NC_IMAGE_MAX_SIZE", I, "16384", 1, BIG, NULL, "NC: largest image file the NC downloads, in MiB" },
	{ "NC_VOLUME_PATHS", L, "/dev $KARRI_HOME/var/lib/karri/volumes", 0, 0, "path", "NC: where local volume devices and files may be (no other host file reaches a guest)" },
	{ "NC_STORAGE_INTERFACE", S, "eth1", 0, 0, NULL, "NC: storage NIC for AoE volumes given as aoe:eS.L" },
	{ "NC_GUEST_AOE", E, "never", 0, 0, "never|io|always", "NC: guest-side AoE for volumes (a storage NIC in the guest): never, io-class instances, always" },
	{ "NC_AOE_INITIATOR", F, NULL, 0, 0, NULL, "NC: karri-aoe (userspace AoE initiator) path (unset: next to karri-nc)" },
	{ "EBS_VOLUMES_DIR", F, "$KARRI_HOME/var/lib/karri/volumes", 0, 0, NULL, "EBS: where volume files live" },
	{ "EBS_STORAGE_INTERFACE", S, NULL, 0, 0, NULL, "EBS: NIC that serves AoE (shares a segment with the nodes)" },
	{ "EBS_MAX_VOLUME_SIZE", I, "1024", 1, BIG, NULL, "EBS: largest volume in GiB" },
	{ "EBS_MAX_TOTAL_SIZE", I, "0", 0, BIG, NULL, "EBS: GiB of all volumes together (0: free space)" },
	{ "EBS_AOE_WORKERS", I, "8", 1, 64, NULL, "EBS: threads doing the AoE target's file I/O" },
	{ "EBS_DIRECT_IO", B, "N", 0, 0, NULL, "EBS: open volume files O_DIRECT (bypass the front end's page cache)" },
	{ "WALRUS_STORAGE_DIR", F, "$KARRI_HOME/var/lib/karri/walrus", 0, 0, NULL, "Walrus: where objects live" },
	{ "WALRUS_BUCKET_QUOTA", I, "0", 0, BIG, NULL, "Walrus: MiB of object data per bucket (0: no limit)" },
	{ "WALRUS_USER_QUOTA", I, "0", 0, BIG, NULL, "Walrus: MiB of object data per user, over all their buckets (0: no limit)" },
	{ "WALRUS_IMAGE_CACHE_SIZE", I, "20480", 0, BIG, NULL, "Walrus: MiB of decrypted images kept for the nodes (least recently used go first)" },
	{ "WALRUS_DB", F, "$KARRI_HOME/var/lib/karri/walrus.db", 0, 0, NULL, "Walrus: the sqlite database of buckets, objects and uploads" },
	{ "USERS_DB", F, "$KARRI_HOME/var/lib/karri/users.db", 0, 0, NULL, "front end: the users and access keys database (CLC, Walrus, karri user)" },
	{ "KARRI_CLOUD_CERT", F, "$KARRI_HOME/var/lib/karri/keys/cloud-cert.pem", 0, 0, NULL, "the cloud's X.509 certificate (PEM): image bundles are encrypted to it" },
	{ "KARRI_CLOUD_KEY", F, "$KARRI_HOME/var/lib/karri/keys/cloud-pk.pem", 0, 0, NULL, "the cloud's private key (PEM): Walrus decrypts image bundles with it" },
	{ "CLC_DB", F, "$KARRI_HOME/var/lib/karri/clc.db", 0, 0, NULL, "CLC: the sqlite database" },
	{ "SOAP_TIMEOUT", I, "30", 1, 3600, NULL, "seconds before a SOAP call between daemons fails" },
	{ "CLC_MAX_BACKEND_CALLS", I, "32", 1, 1024, NULL, "CLC: calls in flight to one CC, EBS, Walrus or remote cloud; more are refused with RequestLimitExceeded" },
	{ "CLC_METADATA_TOKENS", E, "optional", 0, 0, "optional|required", "CLC: IMDSv2 session tokens for instance metadata: optional (IMDSv1 works too) or required" },
	{ "NC_RAW_CLONES", I, "1", 0, 8, NULL, "NC: ready-made raw copies of each cached image for standard roots, where INSTANCE_PATH has no reflink (0: none)" },
	{ "NC_PRIVSEP", B, "Y", 0, 0, NULL, "NC: split karri-nc (started as root) into a root parent doing a short list of acts with a few capabilities, and an EUCA_USER child doing everything that parses" },
	{ NULL, 0, NULL, 0, 0, NULL, NULL }
};
