/*
 * node.c - the node's start-up: configuration into nc_node (node_state.c),
 * the image cache, raw clones and device probes, and the choice of the
 * hypervisor driver (nc_node_connect, again from the monitor while libvirt
 * is away).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <libvirt/virterror.h>

#include "daemon/daemon.h"
#include "core/error.h"
#include "core/log.h"
#include "nc.h"

/* libvirt prints every error to stderr by default; we report them ourselves. */
static void
quiet(void *ud, virErrorPtr err)
{
	(void)ud;
	(void)err;
}

/*
 * The driver HYPERVISOR names, or its fallback when this host cannot run
 * it.  -1: this host cannot run it at all (a configuration error); -2:
 * libvirt is not reachable (yet): the NC serves anyway, says so, and the
 * monitor thread tries again.
 */
static int
probe(const struct nc_hv *hv, virConnectPtr c)
{
	if (hv->probe && hv->probe(c) < 0)
		return -1;
	return hv->run_probe ? nc_priv_kvm_probe() : 0;
}

int
nc_node_connect(void)
{
	const struct nc_hv *hv = nc_hv_lookup(kr_config_get(nc_node.cfg, "HYPERVISOR"));
	virConnectPtr c;
	int rc = 0;

	if (!hv)
		return -1;
	nc_node.hv = hv;
	if (!nc_node.uri[0])
		snprintf(nc_node.uri, sizeof(nc_node.uri), "%s", hv->default_uri);
	if (!(c = nc_conn()))
		return -2;
	if (probe(hv, c) < 0) {
		if (hv->fallback) {
			kr_log_warnx("HYPERVISOR=%s cannot run guests here (%s): using %s", hv->name,
			    kr_error_message(), hv->fallback);
			nc_node.hv = nc_hv_lookup(hv->fallback);
			if (probe(nc_node.hv, c) < 0)
				rc = -1;
		} else {
			rc = -1;
		}
	}
	virConnectClose(c);
	if (rc == 0) {
		kr_log_info("hypervisor %s (domain type '%s') through %s", nc_node.hv->name,
		    nc_node.hv->domain_type, nc_node.uri);
		__atomic_store_n(&nc_node.ready, true, __ATOMIC_RELEASE);
	}
	return rc;
}

/*
 * Raw clones of cached images for standard roots, where there is no
 * reflink (with reflink they would only cost space) and where a standard
 * root can be a tap file at all.  The pool opens with
 * NC_RAW_CLONES=0 too: it removes what an earlier configuration left.
 */
static int
start_clones(struct kr_config *cfg)
{
	char dir[NC_PATH_MAX];
	const char *attach = kr_config_get(cfg, "NC_DISK_ATTACH");
	const char *hv = kr_config_get(cfg, "HYPERVISOR");
	int n = (int)kr_config_int(cfg, "NC_RAW_CLONES");
	struct nc_raw_clones *p;

	/* no standard tap root here to take one: phy disks, containers */
	if (nc_node.reflink_ok || (attach && strcasecmp(attach, "phy") == 0) ||
	    (hv && strcasecmp(hv, "lxc") == 0))
		n = 0;

	if (nc_path(dir, sizeof(dir), "%s/clones", nc_node.cache_dir) < 0 ||
	    !(p = nc_raw_clone_open(dir, n)))
		return -1;
	if (n == 0) {
		nc_raw_clone_close(p);
		return 0;
	}
	nc_cache_set_clones(nc_node.cache, p);
	if (nc_raw_clone_start(p) < 0) {
		nc_cache_set_clones(nc_node.cache, NULL);
		nc_raw_clone_close(p);
		return -1;
	}
	nc_node.clones = p;
	kr_log_info("raw clones: up to %d per cached image in %s", n, dir);
	return 0;
}

int
nc_node_init(struct kr_config *cfg)
{
	const char *ipath = kr_config_get(cfg, "INSTANCE_PATH");
	const char *uri = kr_config_get(cfg, "NC_LIBVIRT_URI");
	const char *bridge = kr_config_get(cfg, "VNET_BRIDGE");

	virSetErrorFunc(NULL, quiet);
	nc_node.cfg = cfg;
	nc_node.max_staging = (int)kr_config_int(cfg, "NC_MAX_CONCURRENT_STAGING");
	nc_node.max_image = kr_config_int(cfg, "NC_IMAGE_MAX_SIZE") * 1024LL * 1024;
	snprintf(nc_node.uri, sizeof(nc_node.uri), "%s", uri ? uri : "");
	snprintf(nc_node.bridge, sizeof(nc_node.bridge), "%s", bridge ? bridge : "br0");
	if (nc_path(nc_node.instances_dir, sizeof(nc_node.instances_dir), "%s/instances", ipath) < 0 ||
	    nc_path(nc_node.cache_dir, sizeof(nc_node.cache_dir), "%s/cache", ipath) < 0)
		return -1;
	if (kr_mkdir_p(nc_node.instances_dir) < 0 || kr_mkdir_p(nc_node.cache_dir) < 0) {
		kr_error_errno("InternalError", "cannot create %s", ipath);
		return -1;
	}
	if (nc_fetch_global_init() < 0)
		return -1;
	nc_node.direct_io_ok = nc_disk_direct_ok(nc_node.instances_dir);
	nc_node.loop_ok = nc_priv_loop_available();
	nc_node.reflink_ok = nc_disk_reflink_ok(nc_node.instances_dir);
	kr_log_info("INSTANCE_PATH %s: O_DIRECT %s, loop devices %s, reflink %s", ipath,
	    nc_node.direct_io_ok ? "yes" : "no", nc_node.loop_ok ? "yes" : "no",
	    nc_node.reflink_ok ? "yes" : "no");
	nc_phy_init(cfg);
	nc_node.cache = nc_cache_open(nc_node.cache_dir,
	    kr_config_int(cfg, "NC_CACHE_SIZE") * 1024LL * 1024, nc_node.max_image);
	if (!nc_node.cache || start_clones(cfg) < 0)
		return -1;
	switch (nc_node_connect()) {
	case 0:
		return 0;
	case -2:
		snprintf(nc_node.unready_why, sizeof(nc_node.unready_why), "%s", kr_error_message());
		kr_log_warnx("libvirt is not reachable (%s): serving, and trying again",
		    nc_node.unready_why);
		return 0;
	default:
		return -1;
	}
}
