/*
 * ops_describe.c - ncDescribeInstances and ncDescribeResource.
 *
 * Resources: what the node offers is MAX_MEM / MAX_CORES / MAX_DISK when
 * set, else what it has -- minus, for memory, a share left to the host
 * itself (QEMU's own overhead, the NC, page cache for the image cache):
 * a tenth of it, at least 256 MiB.  Available is that minus what the
 * node's live instances (everything not torn down) were given.
 */
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "karriH.h"
#include "core/error.h"
#include "core/log.h"
#include "nc.h"
#include "soap/soap_server.h"

#define HOST_RESERVE_MIN_MIB 256

void
nc_resources_get(struct nc_resources *r)
{
	virConnectPtr c = nc_conn();
	virNodeInfo ni;
	struct statvfs vfs;
	long total_mib, cpus, reserve;
	long max_mem = kr_config_int(nc_node.cfg, "MAX_MEM");
	long max_cores = kr_config_int(nc_node.cfg, "MAX_CORES");
	long max_disk = kr_config_int(nc_node.cfg, "MAX_DISK");
	long disk_total = 0, disk_avail = 0;

	memset(r, 0, sizeof(*r));
	if (c && virNodeGetInfo(c, &ni) == 0) {
		total_mib = (long)(ni.memory / 1024);
		cpus = (long)ni.cpus;
	} else {
		total_mib = (long)(sysconf(_SC_PHYS_PAGES) / 1024 * sysconf(_SC_PAGESIZE) / 1024);
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
	}
	if (c)
		virConnectClose(c);
	reserve = total_mib / 10 > HOST_RESERVE_MIN_MIB ? total_mib / 10 : HOST_RESERVE_MIN_MIB;
	r->mem_max = total_mib - reserve;
	if (max_mem > 0 && max_mem < r->mem_max)
		r->mem_max = max_mem;
	r->cores_max = max_cores > 0 ? max_cores : cpus;
	if (statvfs(nc_node.instances_dir, &vfs) == 0) {
		disk_total = (long)((unsigned long long)vfs.f_blocks * vfs.f_frsize >> 30);
		disk_avail = (long)((unsigned long long)vfs.f_bavail * vfs.f_frsize >> 30);
	}
	r->disk_max = max_disk > 0 && max_disk < disk_total ? max_disk : disk_total;
	r->mem_free = r->mem_max;
	r->cores_free = r->cores_max;
	r->disk_free = r->disk_max;
	nc_table_lock();
	for (int i = 0; i < nc_table_count(); i++) {
		struct nc_instance *in = nc_table_at(i);

		if (!in || in->state == NC_ST_TEARDOWN)
			continue;
		r->mem_free -= in->memory_mib;
		r->cores_free -= in->cores;
		r->disk_free -= in->disk_gib;
	}
	nc_table_unlock();
	if (r->disk_free > disk_avail)
		r->disk_free = disk_avail;
	if (r->mem_free < 0)
		r->mem_free = 0;
	if (r->cores_free < 0)
		r->cores_free = 0;
	if (r->disk_free < 0)
		r->disk_free = 0;
}

void
nc_resources_free(long *mem, long *cores)
{
	struct nc_resources r;

	nc_resources_get(&r);
	*mem = r.mem_free;
	*cores = r.cores_free;
}

static bool
asked(const struct _nc__ncDescribeInstances *req, const char *id)
{
	if (req->__sizeinstanceIds <= 0)
		return true;
	for (int i = 0; i < req->__sizeinstanceIds; i++)
		if (req->instanceIds[i] && strcmp(req->instanceIds[i], id) == 0)
			return true;
	return false;
}

int
__nc__ncDescribeInstances(struct soap *soap, struct _nc__ncDescribeInstances *req,
    struct _nc__ncDescribeInstancesResponse *resp)
{
	int n = 0;

	KR_SOAP_ECHO(resp, req);
	nc_table_lock();
	resp->instances = soap_malloc(soap, NC_MAX_INSTANCES * sizeof(*resp->instances));
	for (int i = 0; resp->instances && i < nc_table_count(); i++) {
		struct nc_instance *in = nc_table_at(i);

		if (in && asked(req, in->id))
			nc_soap_instance(soap, in, &resp->instances[n++]);
	}
	nc_table_unlock();
	resp->__sizeinstances = n;
	resp->_return = true_;
	return SOAP_OK;
}

/*
 * The storage NIC's MAC: the CC hands it to the CLC, which must name it in
 * EBS's allow list before this node can reach a volume.  NULL when unknown.
 */
static char *
storage_mac(struct soap *soap)
{
	const char *def = nc_storage_interface();
	char path[128], mac[32] = "";
	FILE *f;

	if (strchr(def, '/') || strlen(def) > 15)
		return NULL;
	snprintf(path, sizeof(path), "/sys/class/net/%s/address", def);
	if (!(f = fopen(path, "r")))
		return NULL;
	if (!fgets(mac, sizeof(mac), f))
		mac[0] = '\0';
	fclose(f);
	mac[strcspn(mac, "\n")] = '\0';
	return strlen(mac) == 17 ? soap_strdup(soap, mac) : NULL;
}

int
__nc__ncDescribeResource(struct soap *soap, struct _nc__ncDescribeResource *req,
    struct _nc__ncDescribeResourceResponse *resp)
{
	struct nc_resources r;

	KR_SOAP_ECHO(resp, req);
	nc_resources_get(&r);
	resp->_return = true_;
	resp->nodeStatus = nc_node.ready ? "enabled" : "disabled";
	if (!nc_node.ready)
		resp->statusMessage = soap_strdup(soap, nc_node.unready_why);
	resp->memorySizeMax = (int)r.mem_max;
	resp->memorySizeAvailable = (int)r.mem_free;
	resp->diskSizeMax = (int)r.disk_max;
	resp->diskSizeAvailable = (int)r.disk_free;
	resp->numberOfCoresMax = (int)r.cores_max;
	resp->numberOfCoresAvailable = (int)r.cores_free;
	resp->hypervisor = nc_node.hv ? (char *)nc_node.hv->name : NULL;
	resp->storageMac = storage_mac(soap);
	resp->phyDevicesFree = nc_phy_free_count();
	return SOAP_OK;
}
