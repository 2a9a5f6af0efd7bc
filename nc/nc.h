/*
 * nc.h - the node controller's one private header.
 *
 * karri-nc runs instances on this host through libvirt.  The pieces, one
 * file each (prototypes grouped below under the file that defines them):
 *
 *   attach_policy.c  the per-instance attachment choice (pure function)
 *   domain_xml.c     instance spec -> libvirt domain / disk XML (pure)
 *   hypervisor.c     the driver table: qemu, kvm, lxc, xen
 *   kvm_probe.c      can KVM here run a stock kernel?
 *   fetch.c          HTTP download with limits (libcurl)
 *   image_cache.c    the image cache: single-flight, digest, LRU
 *   raw_clone.c      raw copies of cached images, made ahead of launches
 *   disk.c           root/ephemeral disks: qcow2 overlay, pre-allocated raw
 *   loopdev.c        loop devices through ioctl
 *   phydev.c         the pool of spare devices (NC_PHY_DEVICES)
 *   instance.c       the instance table, states and metadata files
 *   launch.c         the background launch and the teardown
 *   console_pty.c    a container's pty console copied to its console.log
 *   monitor.c        restart adoption and the domain watcher
 *   volume.c         hot-plugged volumes
 *   volume_source.c  remoteDev -> where the volume is (NC_VOLUME_PATHS)
 *   aoe_volume.c     AoE volumes: kernel AoE or a karri-aoe NBD helper
 *   ops_*.c          the SOAP operations of the NC contract
 *   main.c           start-up; with NC_PRIVSEP=Y the fork into a root
 *                    parent and the EUCA_USER child that is the NC
 *   priv_client.c    the child's calls for what needs root
 *   priv_parent.c    the parent's table of those acts, its checks, its loop
 *   priv_domain.c    a domain from a fixed request, its files checked
 *   priv_volume.c    hot-plug and karri-aoe, sources worked out by the parent
 *   priv_device.c    NC_PHY_DEVICES filled and wiped
 */
#ifndef KARRI_NC_H
#define KARRI_NC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "core/buf.h"
#include "core/config.h"
#include "daemon/privsep.h"

#define NC_ID_MAX 40
#define NC_NAME_MAX 64
#define NC_PATH_MAX 512
#define NC_URL_MAX 2048
#define NC_DIGEST_HEX 65		/* sha256 hex + NUL */
#define NC_PARAMS_MAX 512
#define NC_REASON_MAX 512
#define NC_KEY_MAX 4096			/* keyName: the public key itself (Eucalyptus) */
#define NC_USER_DATA_MAX 22528		/* base64 of EC2's 16 KiB of user data, + NUL */
#define NC_MAX_VOLUMES 16
#define NC_MAX_INSTANCES 256
#define NC_MAX_DISKS 4
#define NC_CONSOLE_TAIL (64 * 1024)	/* bytes of console returned */
#define NC_SWAP_MIB 512			/* swap disk, when the type's disk has room */

/* --- attach_policy.c ---------------------------------------------------- */

enum nc_bus { NC_BUS_VIRTIO, NC_BUS_SCSI, NC_BUS_IDE, NC_BUS_NONE };
enum nc_backing { NC_BACKING_TAP, NC_BACKING_PHY, NC_BACKING_FS };
enum nc_store {
	NC_STORE_OVERLAY,	/* tap: qcow2 overlay on the cached base, O(1) */
	NC_STORE_RAW,		/* tap: pre-allocated raw file */
	NC_STORE_LOOP,		/* phy: loop device over a pre-allocated raw file */
	NC_STORE_DEVICE,	/* phy: a spare device from NC_PHY_DEVICES */
	NC_STORE_FSIMAGE,	/* containers: a filesystem image, loop-mounted by libvirt */
};
enum nc_cachemode { NC_CACHE_NONE, NC_CACHE_WRITEBACK };
enum nc_io { NC_IO_NATIVE, NC_IO_THREADS };
enum nc_nic { NC_NIC_VIRTIO, NC_NIC_E1000, NC_NIC_VETH };

struct nc_attach_input {
	bool container;		/* the hypervisor runs containers (lxc): no disks */
	int image_has_virtio;	/* -1: not said (yes, unless platform=windows), 0, 1 */
	const char *platform;	/* NULL, "linux", "windows" */
	const char *io_class;	/* NULL, "standard", "io" */
	bool use_virtio_root;
	bool use_virtio_net;
	const char *disk_attach;	/* "auto", "tap" or "phy" */
	int phy_free;		/* spare NC_PHY_DEVICES free now */
	bool loop_ok;		/* loop devices can be made here */
	bool direct_io_ok;	/* INSTANCE_PATH accepts O_DIRECT (cache=none) */
	const char *guest_aoe;	/* NC_GUEST_AOE: "never", "io" or "always" */
	bool storage_nic_ok;	/* NC_STORAGE_INTERFACE exists: a guest NIC can join it */
	bool reflink_ok;	/* INSTANCE_PATH shares extents (FICLONE works) */
	bool clone_ready;	/* a raw clone of this image is ready (raw_clone.c) */
};

/* Where a tap root's content comes from (not in the disk string: a launch
 * resumed after a restart works it out again, see launch.c). */
enum nc_root_from {
	NC_ROOT_BASE,		/* overlay on the base, or a copy of it (io class) */
	NC_ROOT_REFLINK,	/* raw: FICLONE of the base, tail allocated */
	NC_ROOT_CLONE,		/* raw: a clone made ahead of the launch */
};

struct nc_attach {
	enum nc_bus bus;
	enum nc_backing backing;
	enum nc_store store;
	enum nc_cachemode cache;
	enum nc_io io;
	enum nc_nic nic;
	enum nc_root_from root_from;
	/* guest-side AoE: the instance gets a second NIC on the storage
	 * network (macvtap on NC_STORAGE_INTERFACE) and its volumes reach it
	 * through its own aoe driver, not through the host */
	bool guest_aoe;
	char storage_mac[18];	/* that NIC's MAC (set by the caller), "" none */
	char why[NC_REASON_MAX];	/* one line: the reasons, for the log */
};

/* 0, or -1 + kr_error("InsufficientInstanceCapacity") when the config
 * demands what the node cannot give (NC_DISK_ATTACH=phy, nothing free). */
int nc_attach_decide(const struct nc_attach_input *in, struct nc_attach *out);
/* "bus=virtio backing=tap store=qcow2 cache=none io=native" */
void nc_attach_disk_string(const struct nc_attach *a, char *out, size_t len);
/* "model=virtio", with " storage=MAC" for guest-side AoE */
void nc_attach_net_string(const struct nc_attach *a, char *out, size_t len);
/* Parse the two strings back (restart); 0/-1. */
int nc_attach_parse(const char *disk, const char *net, struct nc_attach *out);
const char *nc_bus_name(enum nc_bus b);
const char *nc_store_name(enum nc_store s);
const char *nc_nic_name(enum nc_nic n);
/* libvirt target name of disk `index` (0: a) on a bus: vda, sda, hda. */
int nc_bus_target(enum nc_bus b, int index, char *out, size_t len);
/* The device the guest kernel names it: /dev/vda, /dev/sda (ide too). */
int nc_bus_guest_dev(enum nc_bus b, int index, char *out, size_t len);

/* --- domain_xml.c --------------------------------------------------------- */

enum nc_disk_src { NC_SRC_FILE, NC_SRC_BLOCK, NC_SRC_NBD };

struct nc_disk_spec {
	enum nc_disk_src src;
	const char *path;	/* file, block device, or the NBD unix socket */
	const char *export_name;	/* NBD export, NULL: the default one */
	const char *format;	/* "raw" or "qcow2" */
	const char *target;	/* vda, sda, hda */
	enum nc_bus bus;
	enum nc_cachemode cache;
	enum nc_io io;
	const char *serial;	/* shown to the guest (volume id); NULL: none */
};

struct nc_domain_spec {
	const char *type;	/* libvirt domain type: qemu, kvm, lxc, xen */
	const char *name;
	long memory_mib;
	int vcpus;
	const char *kernel;	/* NULL: boot the first disk */
	const char *ramdisk;
	const char *cmdline;
	const char *init;	/* containers: the program to run */
	const char *rootfs;	/* containers: the root filesystem device (a loop device) */
	const char *console;	/* file the serial console goes to (hvm) */
	struct nc_disk_spec disks[NC_MAX_DISKS];
	int ndisks;
	const char *bridge;	/* NULL: no NIC */
	const char *mac;
	const char *tap;	/* tap device name */
	enum nc_nic nic;
	/* guest-side AoE: a virtio NIC on the storage network (macvtap) */
	const char *storage_if;	/* the node's storage NIC; NULL: none */
	const char *storage_mac;
};

/* Append the domain XML; 0, or -1 + kr_error for an impossible spec. */
int nc_domain_xml(const struct nc_domain_spec *s, struct kr_buf *out);
int nc_disk_xml(const struct nc_disk_spec *d, struct kr_buf *out);

/* --- hypervisor.c --------------------------------------------------------- */

struct nc_hv {
	const char *name;		/* HYPERVISOR value */
	const char *domain_type;	/* <domain type=...> */
	const char *default_uri;
	bool container;			/* no disks, buses or serial file */
	/* Can this host run guests of this kind?  0, or -1 with the reason in
	 * kr_error.  NULL: assume yes. */
	int (*probe)(virConnectPtr conn);
	/* Then run a tiny guest (kvm_probe.c) to be sure. */
	bool run_probe;
	/* The driver to use instead when the probe fails (kvm -> qemu). */
	const char *fallback;
	/* Reboot a running domain; NULL: unsupported. */
	int (*reboot)(virDomainPtr dom);
	/* Hot-plug disks; false: attach/detach answer Unsupported. */
	bool hotplug;
	/* The console is a pty only (lxc): the NC copies it to console.log. */
	bool pty_console;
	/* Power the host down; NULL: unsupported here. */
	int (*power_down)(void);
};

const struct nc_hv *nc_hv_lookup(const char *name);

/* --- kvm_probe.c ---------------------------------------------------------- */

/* Run a tiny 64-bit guest doing cmpxchg16b; 0, or -1 + kr_error. */
int nc_kvm_probe_run(void);

/* --- fetch.c -------------------------------------------------------------- */

/* GET url into the new file dest (mode 0644), at most max_bytes; sha256 of
 * what arrived as hex into digest.  0, or -1 + kr_error naming the URL. */
int nc_fetch(const char *url, const char *dest, long long max_bytes,
    char digest[NC_DIGEST_HEX], long long *size);
int nc_fetch_global_init(void);
/* sha256 of a whole file as hex; 0/-1. */
int nc_sha256_file(const char *path, char digest[NC_DIGEST_HEX], long long *size);
bool nc_url_valid(const char *url);

/* --- image_cache.c -------------------------------------------------------- */

struct nc_cache;

struct nc_image_ref {
	const char *id;		/* emi-..., eki-..., eri-... */
	const char *url;
	const char *digest;	/* expected sha256 hex, NULL/"": not given */
};

/* Open (and check) the cache in dir; NULL + kr_error. */
struct nc_cache *nc_cache_open(const char *dir, long long max_bytes, long long max_image);
void nc_cache_free(struct nc_cache *c);
/* Make sure the image is cached (downloading it once however many callers
 * ask at the same time) and hard-link it to dest.  0/-1 + kr_error. */
int nc_cache_link(struct nc_cache *c, const struct nc_image_ref *img, const char *dest);
/* How many downloads the cache made since it was opened. */
long nc_cache_downloads(struct nc_cache *c);
/* Keep `p` told of images cached and evicted (now: every cached one). */
struct nc_raw_clones;
void nc_cache_set_clones(struct nc_cache *c, struct nc_raw_clones *p);

/* --- raw_clone.c ---------------------------------------------------------- */

/* The pool in dir (made if missing; temp leftovers removed), per_image
 * clones per machine image (0: none, and every file there removed).
 * NULL + kr_error. */
struct nc_raw_clones *nc_raw_clone_open(const char *dir, int per_image);
/* Keep the complete clones of images registered so far, start the thread. */
int nc_raw_clone_start(struct nc_raw_clones *p);
void nc_raw_clone_close(struct nc_raw_clones *p);
/* The image is cached at base (raw: clones wanted) / left the cache. */
void nc_raw_clone_image_ready(struct nc_raw_clones *p, const char *id, const char *digest,
    const char *base);
void nc_raw_clone_image_gone(struct nc_raw_clones *p, const char *id);
/* Is one ready (digest NULL/"": any)?  Take one: its path in out, 0; 1
 * none ready; -1 + kr_error.  Never waits for a clone being made. */
bool nc_raw_clone_ready(struct nc_raw_clones *p, const char *id, const char *digest);
int nc_raw_clone_take(struct nc_raw_clones *p, const char *id, const char *digest, char *out,
    size_t len);
/* Remove a taken clone that was not used. */
void nc_raw_clone_discard(const char *path);
int nc_raw_clone_count(struct nc_raw_clones *p, const char *id);
/* Wait until id has n ready, at most timeout_s: 0/-1 (tests). */
int nc_raw_clone_wait(struct nc_raw_clones *p, const char *id, int n, int timeout_s);

/* --- disk.c --------------------------------------------------------------- */

/* "raw" or "qcow2" from the file's first bytes; NULL + kr_error. */
const char *nc_disk_format(const char *path);
long long nc_disk_virtual_size(const char *path, const char *format);
/* A qcow2 overlay on base (absolute path), size bytes (0: the base's). */
int nc_disk_overlay(const char *base, const char *base_format, const char *dest,
    long long size);
/* A new file of size bytes, allocated (posix_fallocate), never sparse. */
int nc_disk_prealloc(const char *path, long long size);
/* Copy a raw image into an existing file or device (no truncation). */
int nc_disk_copy(const char *src, const char *dst);
/* Zero a whole block device (BLKZEROOUT: the device may offload it). */
int nc_disk_wipe_device(const char *dev);
/* Does the directory accept O_DIRECT? */
bool nc_disk_direct_ok(const char *dir);
/* Does its file system share extents (FICLONE between two files there)? */
bool nc_disk_reflink_ok(const char *dir);
/* dst (new) shares src's extents (FICLONE), then is allocated to size
 * bytes (posix_fallocate on the tail, never sparse).  0/-1 + kr_error. */
int nc_disk_reflink(const char *src, const char *dst, long long size);

/* --- loopdev.c ------------------------------------------------------------ */

bool nc_loop_available(void);
/* Attach a loop device over file (direct I/O when it can); dev "/dev/loopN". */
int nc_loop_attach(const char *file, char *dev, size_t len);
int nc_loop_detach(const char *dev);
/* The loop device whose backing file is `file`, 0 found, 1 none, -1. */
int nc_loop_find(const char *file, char *dev, size_t len);

/* --- phydev.c ------------------------------------------------------------- */

int nc_phy_init(const struct kr_config *cfg);
/* Take a free spare device; 0, or -1 when none is free. */
int nc_phy_claim(char *dev, size_t len);
/* Mark a device as used (restart); 0, -1 when not in the pool. */
int nc_phy_mark(const char *dev);
void nc_phy_release(const char *dev);
int nc_phy_free_count(void);

/* --- instance.c ----------------------------------------------------------- */

enum nc_state { NC_ST_STAGING, NC_ST_BOOTING, NC_ST_RUNNING, NC_ST_SHUTDOWN, NC_ST_TEARDOWN };

struct nc_volume {
	char id[NC_ID_MAX];
	char remote[NC_PATH_MAX];
	char local[16];		/* asked for: sdf, vdb ... */
	char target[16];	/* what libvirt got: vdb, sdb */
	char attachment[16];	/* phy, file, nbd */
	/* the karri-aoe serving an aoe: volume's NBD socket (0: none) and its
	 * start time in /proc ticks, so a reused pid is never taken for it */
	pid_t helper;
	unsigned long long helper_start;
};

struct nc_instance {
	char id[NC_ID_MAX];
	char reservation[NC_ID_MAX];
	char user[NC_NAME_MAX];
	char image_id[NC_ID_MAX], kernel_id[NC_ID_MAX], ramdisk_id[NC_ID_MAX];
	char image_url[NC_URL_MAX], kernel_url[NC_URL_MAX], ramdisk_url[NC_URL_MAX];
	char image_digest[NC_DIGEST_HEX], kernel_digest[NC_DIGEST_HEX], ramdisk_digest[NC_DIGEST_HEX];
	char kernel_params[NC_PARAMS_MAX];
	char launch_index[16];
	char platform[16];
	int image_has_virtio;	/* -1 not said */
	char key_name[NC_KEY_MAX];		/* as given, printable, one line */
	char user_data[NC_USER_DATA_MAX];	/* base64, whitespace dropped */
	/* instance type */
	char type_name[NC_NAME_MAX];
	int memory_mib, cores, disk_gib;
	char io_class[16];
	/* network */
	char mac[18], ip[16], public_ip[16], bridge[16];
	int vlan, network_index;
	/* state */
	enum nc_state state;
	char reason[NC_REASON_MAX];
	time_t launch_time;
	int failed;		/* the launch failed; resources are gone */
	bool terminating;
	bool busy;		/* a launch or teardown thread owns it */
	/* the attachment choice and what it made */
	struct nc_attach attach;
	int attach_decided;
	char disk_attachment[128], net_attachment[64];
	char dir[NC_PATH_MAX];
	char root_dev[NC_PATH_MAX];	/* loop or spare device (phy) */
	char tap[16];
	/* the raw clone taken for the root (launch renames it in); in memory
	 * only: a restart finds it complete in the pool again */
	char clone[NC_PATH_MAX];
	struct nc_volume volumes[NC_MAX_VOLUMES];
	int nvolumes;
};

const char *nc_state_name(enum nc_state s);	/* Pending, Extant, Teardown */
const char *nc_state_detail(enum nc_state s);	/* STAGING ... TEARDOWN */

/* The table: a fixed array under one lock; entries are referenced by
 * pointer only while the lock is held or while `busy` is set. */
void nc_table_lock(void);
void nc_table_unlock(void);
struct nc_instance *nc_table_find(const char *id);	/* lock held */
/* Add a new instance (copied); -1 + kr_error when full or a duplicate. */
struct nc_instance *nc_table_add(const struct nc_instance *in);	/* lock held */
void nc_table_remove(struct nc_instance *in);	/* lock held */
int nc_table_count(void);
struct nc_instance *nc_table_at(int i);		/* lock held; NULL for a free slot */
/* Change the state, log it with the reason; lock held. */
void nc_instance_set_state(struct nc_instance *in, enum nc_state st, const char *reason);
/* Write / read the instance's metadata file (dir/meta); lock held to save. */
int nc_instance_save(const struct nc_instance *in);
int nc_instance_load(const char *dir, struct nc_instance *out);
/* keyName and userData of a run request, checked and kept: -1 + kr_error. */
int nc_instance_set_user_fields(struct nc_instance *in, const char *key_name,
    const char *user_data);

/* --- launch.c ------------------------------------------------------------- */

/* Start the launch of a new table entry in the background (lock held). */
int nc_launch_start(struct nc_instance *in);
/* Tear an instance down: volumes, domain, devices, files (no lock held;
 * in->busy set by the caller).  The entry stays, as Teardown. */
void nc_teardown(struct nc_instance *in, const char *reason);
/* Start a teardown in the background (lock held). */
int nc_teardown_start(struct nc_instance *in, const char *reason);
/* Build the domain spec of an instance and create the domain. */
int nc_domain_create(struct nc_instance *in);

/* --- monitor.c ------------------------------------------------------------ */

/* Rebuild the table from instance directories and libvirt (at start). */
int nc_adopt(void);
/* Start the thread that notices domains that stopped. */
int nc_monitor_start(void);

/* --- volume.c ------------------------------------------------------------- */

/* Parse remoteDev into a disk spec source; 0/-1 + kr_error. */
int nc_volume_source(const char *remote, struct nc_disk_spec *d, char *sock,
    size_t socklen, char *export_name, size_t exportlen, const char **attachment);
int nc_volume_attach(struct nc_instance *in, const char *vol, const char *remote,
    const char *local, char *attachment, size_t len);
int nc_volume_detach(struct nc_instance *in, const char *vol, bool force);

/* --- aoe_volume.c: AoE volumes through kernel AoE or karri-aoe ----------- */

/* Is remoteDev an AoE address (aoe:...)? */
bool nc_aoe_remote(const char *remote);
const char *nc_storage_interface(void);	/* NC_STORAGE_INTERFACE or eth1 */
/* Its MTU, -1 when this node has no such NIC. */
int nc_storage_mtu(void);
/* aoe:[IFACE:[MAC:]]eS.L -> the NIC (NC_STORAGE_INTERFACE when not given)
 * and "S.L"; 0/-1 + kr_error. */
int nc_aoe_parse(const char *remote, char *ifname, size_t iflen, unsigned *shelf,
    unsigned *slot);
/* The NBD unix socket of a volume served by karri-aoe: DIR/VOL.nbd. */
int nc_aoe_socket(const struct nc_instance *in, const char *vol, char *out, size_t len);
/* Start karri-aoe for v (v->remote, v->id) and wait for its socket: fills
 * v->helper and v->helper_start; 0/-1 + kr_error. */
int nc_aoe_start(const struct nc_instance *in, struct nc_volume *v);
/* Stop v's karri-aoe (if it is still the process we started) and remove
 * its socket.  Never fails: whatever is left is logged. */
void nc_aoe_stop(const struct nc_instance *in, struct nc_volume *v);
/* Is v's karri-aoe running? */
bool nc_aoe_alive(const struct nc_volume *v);

/* --- ops_common.c: between gSOAP structs and the NC's ------------------ */

#ifdef karriH_H		/* only where the gSOAP types are known */

/* An instance as the contract shows it (lock held; strings copied). */
void nc_soap_instance(struct soap *soap, const struct nc_instance *in,
    struct nc__instanceType *out);
/* A failed operation answers with kr_soap_error_reply() (common/soap/soap_error.h). */
char *nc_soap_strdup(struct soap *soap, const char *s);
#endif

/* --- ops_describe.c ------------------------------------------------------- */

struct nc_resources {
	long mem_max, mem_free;		/* MiB */
	long cores_max, cores_free;
	long disk_max, disk_free;	/* GiB */
};

void nc_resources_get(struct nc_resources *r);
void nc_resources_free(long *mem, long *cores);

/* --- ops_run.c ------------------------------------------------------------ */

bool nc_ifname_ok(const char *name);

/* --- vnet.c: the node's side of the virtual network ------------------------- */

/* MANAGED: make (or find) network vlan's VLAN/VXLAN + bridge on
 * VNET_PRIVINTERFACE; its bridge in bridge_out (16 bytes, may be NULL). */
int nc_vnet_vlan_up(int vlan, char *bridge_out);
/* The bridge an instance joins: krbr<vlan> for a VLAN (made at launch),
 * else the given one or VNET_BRIDGE, which must exist.  -1 + kr_error. */
int nc_vnet_instance_bridge(int vlan, const char *given, char bridge[16]);

/* --- console_pty.c --------------------------------------------------------- */

/* Copy the running domain's pty console to in->dir/console.log in a thread
 * (no-op when already copied).  -1 + kr_error. */
int nc_console_follow(const char *id);
/* Stop copying (call after destroying the domain); waits a bounded time. */
void nc_console_unfollow(const char *id);

/* --- node_state.c: the node's shared context (node.c: its start-up) ---------- */

struct nc_node {
	struct kr_config *cfg;
	const struct nc_hv *hv;
	char uri[NC_PATH_MAX];
	char instances_dir[NC_PATH_MAX];	/* INSTANCE_PATH/instances */
	char cache_dir[NC_PATH_MAX];		/* INSTANCE_PATH/cache */
	char bridge[16];			/* default bridge */
	struct nc_cache *cache;
	bool direct_io_ok;
	bool loop_ok;
	bool reflink_ok;			/* FICLONE works in instances_dir */
	struct nc_raw_clones *clones;		/* NULL: NC_RAW_CLONES=0 */
	int max_staging;
	long long max_image;
	bool ready;			/* hypervisor reachable and chosen */
	/* the unprivileged child (NC_PRIVSEP=Y): libvirt read-only, changes
	 * through the parent (priv_client.c) */
	bool read_only;
	char unready_why[256];
};

extern struct nc_node nc_node;

/* node.c: initialise the node (after kr_daemon_start); -1 + kr_error. */
int nc_node_init(struct kr_config *cfg);
/* node.c: connect to libvirt and choose the hypervisor driver: 0, -1 (this
 * host cannot run it), -2 (libvirt not reachable). */
int nc_node_connect(void);
/* Is the hypervisor there?  false + kr_error("Unavailable"). */
bool nc_node_ready(void);
/* The libvirt connection, reopened when it died.  NULL + kr_error. */
virConnectPtr nc_conn(void);
/* kr_error from the last libvirt error, prefixed with what was tried. */
void nc_virt_error(const char *what);
/* Staging slots: bounded concurrency of disk-heavy work. */
void nc_staging_enter(void);
void nc_staging_leave(void);
/* A string safe to keep: printable ASCII, no quotes or newline, < len. */
bool nc_safe_text(const char *s, size_t maxlen);
/* snprintf that fails (kr_error) on truncation. */
int nc_path(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --- priv_domain.c, priv_parent.c, priv_client.c: the privileged parent ----- */

/*
 * NC_PRIVSEP=Y: a root parent does the node's few privileged acts for an
 * unprivileged child (docs/decisions.md, "karri-nc split the OpenBSD
 * way").  Requests are these fixed structs: ids, enums, numbers, never a
 * path or XML; the parent derives every path from INSTANCE_PATH and the id.
 */
enum nc_priv_type {
	NC_PRIV_DOMAIN_CREATE = 1,	/* struct nc_priv_domain */
	NC_PRIV_DOMAIN_DESTROY,		/* struct nc_priv_id */
	NC_PRIV_DOMAIN_REBOOT,		/* struct nc_priv_id */
	NC_PRIV_LOOP_ATTACH,		/* struct nc_priv_id -> struct nc_priv_loop */
	NC_PRIV_LOOP_DETACH,		/* struct nc_priv_loop */
	NC_PRIV_VLAN_UP,		/* struct nc_priv_vlan -> its bridge name */
	NC_PRIV_KVM_PROBE,		/* no payload */
	NC_PRIV_DISK_ATTACH,		/* struct nc_priv_disk */
	NC_PRIV_DISK_DETACH,		/* struct nc_priv_disk */
	NC_PRIV_DEVICE_FILL,		/* struct nc_priv_device */
	NC_PRIV_DEVICE_WIPE,		/* struct nc_priv_device */
	NC_PRIV_CONSOLE_FOLLOW,		/* struct nc_priv_id: LXC's pty to console.log */
	NC_PRIV_CONSOLE_UNFOLLOW,	/* struct nc_priv_id */
	NC_PRIV_AOE_START,		/* struct nc_priv_aoe -> the same, helper set */
	NC_PRIV_AOE_STOP,		/* struct nc_priv_aoe */
};

#define NC_PRIV_DEV_MAX 24		/* "/dev/loop" + digits */
#define NC_PRIV_CMDLINE_MAX (NC_PARAMS_MAX + 96)

struct nc_priv_id {
	char id[NC_ID_MAX];
};

struct nc_priv_loop {
	char id[NC_ID_MAX];
	char dev[NC_PRIV_DEV_MAX];
};

struct nc_priv_vlan {
	int32_t vlan;
};

struct nc_priv_domain {
	char id[NC_ID_MAX];
	char hv[8];			/* the driver's name: HYPERVISOR or its fallback */
	int32_t memory_mib, vcpus;
	uint8_t store, bus, cache, io, nic;	/* enum nc_store, nc_bus, ... */
	uint8_t kernel, ramdisk;	/* <dir>/kernel, <dir>/ramdisk are there */
	uint8_t ephemeral, swap;	/* <dir>/ephemeral.raw, <dir>/swap.raw */
	uint8_t guest_aoe;		/* a NIC on NC_STORAGE_INTERFACE */
	uint8_t direct_io;		/* ephemeral and swap with cache=none, io=native */
	char cmdline[NC_PRIV_CMDLINE_MAX];
	/* phy or container root: the loop over <dir>/root.raw, or a device
	 * of NC_PHY_DEVICES */
	char root_dev[NC_PATH_MAX];
	char bridge[16], mac[18], tap[16], storage_mac[18];
};

/*
 * A volume hot-plugged into (or out of) a running domain.  remote is the
 * remoteDev as the CC sent it: the parent works out the source again with
 * its own reading of NC_VOLUME_PATHS (volume_source.c).
 */
struct nc_priv_disk {
	char id[NC_ID_MAX];
	char vol[NC_ID_MAX];
	char remote[NC_PATH_MAX];
	char target[8];			/* vdb, sdc ... */
	uint8_t bus, cache, io;
	uint8_t aoe_nbd;		/* from <dir>/<vol>.nbd, karri-aoe's socket */
};

/* A spare device of NC_PHY_DEVICES: filled from <dir>/base, or wiped. */
struct nc_priv_device {
	char id[NC_ID_MAX];
	char dev[NC_PATH_MAX];
};

/* priv_device.c: the contract of a device request, and the two acts. */
bool nc_priv_device_check(const struct nc_priv_device *r);
int nc_priv_device_fill_run(const struct nc_priv_device *r);
int nc_priv_device_wipe_run(const struct nc_priv_device *r);

/* karri-aoe serving volume vol (remote aoe:...) on <dir>/<vol>.nbd. */
struct nc_priv_aoe {
	char id[NC_ID_MAX];
	char vol[NC_ID_MAX];
	char remote[NC_PATH_MAX];
	int32_t helper;			/* its pid (AOE_STOP; AOE_START's answer) */
	uint64_t helper_start;		/* and start time, /proc ticks */
};

/* priv_volume.c: the contract of a disk request, and the acts. */
bool nc_priv_disk_check(const struct nc_priv_disk *r);
int nc_priv_disk_attach_run(const struct nc_priv_disk *r);
int nc_priv_disk_detach_run(const struct nc_priv_disk *r);
bool nc_priv_aoe_check(const struct nc_priv_aoe *r);
int nc_priv_aoe_start_run(struct nc_priv_aoe *r);
int nc_priv_aoe_stop_run(const struct nc_priv_aoe *r);

/* priv_domain.c: check a domain request (false, logged, kr_error set) and
 * create the domain it describes (0, or -1 + kr_error). */
bool nc_priv_domain_check(const struct nc_priv_domain *r);
/* i-xxxxxxxx, NUL-terminated within size bytes. */
bool nc_priv_id_ok(const char *id, size_t size);
int nc_priv_domain_run(const struct nc_priv_domain *r);
/* <INSTANCE_PATH>/instances/<id>/<name> into path, and what its real path
 * must be into real; _file also requires a regular file reached without a
 * symlink (refusals logged).  0, or -1 + kr_error. */
int nc_priv_instance_path(const char *id, const char *name, char *path, size_t len, char *real,
    size_t rlen);
int nc_priv_instance_file(const char *id, const char *name, char *path, size_t len, char *real,
    size_t rlen);

/* priv_parent.c: the parent's table, its checks and their actions. */
extern const struct kr_privsep_op nc_priv_ops[];
bool nc_priv_loop_name_ok(const char *dev, size_t size);
/* The parent's own reading of the config, before the fork; -1 + kr_error. */
int nc_priv_parent_init(struct kr_config *cfg);
/* Hand root's files under INSTANCE_PATH/{instances,cache} to user (when
 * INSTANCE_PATH is the NC's: user's, or root's inside home). */
int nc_priv_hand_over(struct kr_config *cfg, const char *home, const char *user);
/* Keep only the parent's capabilities (and bounding set); -1 + kr_error. */
int nc_priv_parent_limit(void);
/* Serve the child on fd until it goes or breaks the contract; the exit code. */
int nc_priv_parent_serve(int fd, pid_t child);
/* The acts themselves (the parent's, or the NC's own when NC_PRIVSEP=N). */
int nc_priv_loop_attach_run(const char *id, char *dev, size_t len);
int nc_priv_loop_detach_run(const char *id, const char *dev);
int nc_priv_domain_destroy_run(const char *id);
int nc_priv_domain_reboot_run(const char *id);

/* priv_client.c: the child's typed calls; without a parent (NC_PRIVSEP=N)
 * each runs the act itself.  0, or -1 + kr_error. */
void nc_priv_client_init(int fd, bool loops);
bool nc_priv_separated(void);
bool nc_priv_loop_available(void);
int nc_priv_domain_create(const struct nc_priv_domain *r);
int nc_priv_domain_destroy(const char *id);
int nc_priv_domain_reboot(const char *id);
int nc_priv_loop_attach(const char *id, char *dev, size_t len);
int nc_priv_loop_detach(const char *id, const char *dev);
int nc_priv_vlan_up(int vlan, char *bridge_out);
int nc_priv_kvm_probe(void);
int nc_priv_disk_attach(const struct nc_priv_disk *r);
int nc_priv_disk_detach(const struct nc_priv_disk *r);
int nc_priv_device_fill(const char *id, const char *dev);
int nc_priv_device_wipe(const char *id, const char *dev);
int nc_priv_aoe_start(const struct nc_instance *in, struct nc_volume *v);
void nc_priv_aoe_stop(const struct nc_instance *in, struct nc_volume *v);
int nc_priv_console_follow(const char *id);
void nc_priv_console_unfollow(const char *id);

#endif
