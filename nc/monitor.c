/*
 * monitor.c - a restarted NC adopts what runs; a running NC notices what
 * stopped.
 *
 * At start the instance directories (their metadata files) are matched
 * against libvirt's running domains:
 *   - a domain that runs is adopted as it is: never destroyed, never
 *     restarted, even when it has no metadata (then with what libvirt says);
 *   - an instance whose launch was cut short (STAGING/BOOTING, no domain) is
 *     finished: its partial disks are removed and the launch starts again;
 *   - an instance that was running but whose domain is gone while its disks
 *     are still there (the node restarted: a host reboot) is booted again
 *     from those disks and its volumes plugged back in, as an EC2 host
 *     reboot reboots its instances (only file-backed roots: a loop or spare
 *     device would have to be set up again);
 *   - any other instance whose domain is gone, or whose launch had failed,
 *     is cleaned up.
 * Afterwards a thread checks every few seconds that running instances
 * still have their domain and tears down those whose guest powered off,
 * and that the karri-aoe serving an attached AoE volume still runs:
 * one that died is started again on the same socket.  (QEMU's NBD client
 * as libvirt 9.0 configures it does not reconnect by itself, so the disk
 * stays in error until it is re-attached; the helper being there is what
 * lets a re-attach, and detach's clean-up, work.)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "core/error.h"
#include "core/id.h"
#include "core/log.h"
#include "nc.h"

#define MONITOR_PERIOD_S 2

/* Is a domain of that name running?  1 yes, 0 no, -1 cannot tell. */
static int
domain_running(virConnectPtr c, const char *name)
{
	virDomainPtr dom = virDomainLookupByName(c, name);
	int r;

	if (!dom) {
		virErrorPtr e = virGetLastError();

		return e && e->code == VIR_ERR_NO_DOMAIN ? 0 : -1;
	}
	r = virDomainIsActive(dom);
	virDomainFree(dom);
	return r;
}

/* Remove what a cut-short launch made, so it can start again. */
static void
clean_partial(struct nc_instance *in)
{
	static const char *const files[] = { "root.qcow2", "root.raw", "ephemeral.raw", "swap.raw" };
	char p[NC_PATH_MAX], dev[NC_PATH_MAX];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (nc_path(p, sizeof(p), "%s/%s", in->dir, files[i]) < 0)
			continue;
		for (int k = 0; k < 8 && nc_loop_find(p, dev, sizeof(dev)) == 0; k++)
			if (nc_priv_loop_detach(in->id, dev) < 0)
				break;
		unlink(p);
	}
	if (in->attach.store == NC_STORE_LOOP)
		in->root_dev[0] = '\0';
}

/* A running instance whose domain is gone but whose file-backed root is
 * still on disk: the node restarted under it. */
static bool
can_boot_again(const struct nc_instance *in)
{
	char root[NC_PATH_MAX];

	return in->state == NC_ST_RUNNING && !in->failed && in->attach_decided &&
	    !nc_node.hv->container && (in->attach.store == NC_STORE_OVERLAY ||
	    in->attach.store == NC_STORE_RAW) &&
	    nc_path(root, sizeof(root), "%s/%s", in->dir, in->attach.store ==
	    NC_STORE_OVERLAY ? "root.qcow2" : "root.raw") == 0 && access(root, R_OK) == 0;
}

/* Boot the instance again from its disks, then plug its volumes back in. */
static void *
boot_again_thread(void *arg)
{
	struct nc_instance *in = arg;
	struct nc_volume vols[NC_MAX_VOLUMES];
	char reason[NC_REASON_MAX], how[16];
	int nvols, rc = 0;

	nc_table_lock();
	nvols = in->nvolumes;
	memcpy(vols, in->volumes, sizeof(vols));
	in->nvolumes = 0;	/* attached again one by one below */
	nc_instance_set_state(in, NC_ST_BOOTING, "booting again: the node restarted");
	nc_table_unlock();
	if (in->vlan > 0)
		rc = nc_priv_vlan_up(in->vlan, NULL);
	if (rc == 0)
		rc = nc_domain_create(in);
	if (rc < 0) {
		snprintf(reason, sizeof(reason), "could not boot again after the node restarted: %s",
		    kr_error_message());
		kr_log_errorx("%s: %s", in->id, reason);
		nc_table_lock();
		in->nvolumes = nvols;
		memcpy(in->volumes, vols, sizeof(vols));
		in->failed = 1;
		nc_table_unlock();
		nc_teardown(in, reason);
	} else {
		for (int i = 0; i < nvols; i++)
			if (nc_volume_attach(in, vols[i].id, vols[i].remote,
			    vols[i].local[0] ? vols[i].local : NULL, how, sizeof(how)) < 0)
				kr_log_errorx("%s: %s not attached again: %s", in->id, vols[i].id,
				    kr_error_message());
		nc_table_lock();
		nc_instance_set_state(in, NC_ST_RUNNING, "booted again: the node restarted");
		nc_table_unlock();
		kr_log_info("%s: booted again from its disks, %d of %d volumes attached", in->id,
		    in->nvolumes, nvols);
	}
	nc_table_lock();
	in->busy = false;
	if (rc == 0 && in->terminating && nc_teardown_start(in, "terminated") < 0)
		kr_log_errorx("%s: %s", in->id, kr_error_message());
	nc_table_unlock();
	return NULL;
}

static int
boot_again_start(struct nc_instance *in)
{
	pthread_t t;

	in->busy = true;
	if (pthread_create(&t, NULL, boot_again_thread, in) != 0) {
		in->busy = false;
		kr_error("InternalError", "cannot start a thread");
		return -1;
	}
	pthread_detach(t);
	return 0;
}

static void
adopt_dir(virConnectPtr c, const char *dir)
{
	struct nc_instance in, *t;
	int running;

	if (nc_instance_load(dir, &in) < 0) {
		kr_log_warnx("adopt: %s", kr_error_message());
		return;
	}
	if (in.attach_decided &&
	    nc_attach_parse(in.disk_attachment, in.net_attachment, &in.attach) < 0)
		in.attach_decided = 0;
	if (in.attach_decided && in.attach.store == NC_STORE_DEVICE && in.root_dev[0])
		nc_phy_mark(in.root_dev);
	running = domain_running(c, in.id);
	nc_table_lock();
	t = nc_table_add(&in);
	nc_table_unlock();
	if (!t) {
		kr_log_warnx("adopt %s: %s", in.id, kr_error_message());
		return;
	}
	if (running == 1) {
		nc_table_lock();
		nc_instance_set_state(t, NC_ST_RUNNING, in.state == NC_ST_RUNNING ? NULL :
		    "adopted: the domain runs");
		nc_table_unlock();
		kr_log_info("%s: adopted running domain (%s)", t->id, t->disk_attachment);
		if (nc_node.hv->pty_console && nc_priv_console_follow(t->id) < 0)
			kr_log_warnx("%s: %s", t->id, kr_error_message());
		for (int i = 0; i < in.nvolumes; i++)
			if (in.volumes[i].helper > 0)
				kr_log_info("%s: %s: karri-aoe pid %ld %s", t->id, in.volumes[i].id,
				    (long)in.volumes[i].helper, nc_aoe_alive(&in.volumes[i]) ?
				    "adopted" : "gone: the monitor restarts it");
		return;
	}
	if (running < 0) {
		kr_log_warnx("%s: cannot ask libvirt about it, left as it is", t->id);
		return;
	}
	nc_table_lock();
	if (can_boot_again(t)) {
		kr_log_info("%s: its domain is gone but its disks are here: booting it again", t->id);
		if (boot_again_start(t) < 0)
			kr_log_warnx("%s: %s", t->id, kr_error_message());
	} else if ((in.state == NC_ST_STAGING || in.state == NC_ST_BOOTING) && !in.failed &&
	    in.attach_decided) {
		kr_log_info("%s: launch was cut short by a restart: finishing it", t->id);
		clean_partial(t);
		t->state = NC_ST_STAGING;
		if (nc_launch_start(t) < 0)
			kr_log_warnx("%s: %s", t->id, kr_error_message());
	} else {
		nc_teardown_start(t, in.failed ? in.reason :
		    "the domain stopped while the NC was not running");
	}
	nc_table_unlock();
}

/* Running domains named like instances but without a directory. */
static void
adopt_orphans(virConnectPtr c)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(c, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);

	for (int i = 0; i < n; i++) {
		const char *name = virDomainGetName(doms[i]);
		struct nc_instance in = { 0 }, *t;

		nc_table_lock();
		if (name && kr_id_valid(name, "i") && !nc_table_find(name)) {
			snprintf(in.id, sizeof(in.id), "%s", name);
			snprintf(in.reason, sizeof(in.reason), "adopted without metadata");
			snprintf(in.disk_attachment, sizeof(in.disk_attachment), "unknown");
			snprintf(in.net_attachment, sizeof(in.net_attachment), "unknown");
			in.state = NC_ST_RUNNING;
			in.image_has_virtio = -1;
			t = nc_table_add(&in);
			if (t)
				kr_log_warnx("%s: running domain without metadata adopted as it is",
				    name);
		}
		nc_table_unlock();
		virDomainFree(doms[i]);
	}
	free(doms);
}

int
nc_adopt(void)
{
	virConnectPtr c = nc_conn();
	DIR *d;
	struct dirent *de;

	if (!c)
		return -1;
	d = opendir(nc_node.instances_dir);
	while (d && (de = readdir(d))) {
		char dir[NC_PATH_MAX];

		if (!kr_id_valid(de->d_name, "i") ||
		    nc_path(dir, sizeof(dir), "%s/%s", nc_node.instances_dir, de->d_name) < 0)
			continue;
		adopt_dir(c, dir);
	}
	if (d)
		closedir(d);
	adopt_orphans(c);
	virConnectClose(c);
	return 0;
}

/* Restart the dead karri-aoe helpers of running instance `id`. */
static void
watch_helpers(const char *id)
{
	struct nc_instance *in;
	bool dead = false;

	nc_table_lock();
	in = nc_table_find(id);
	for (int i = 0; in && !in->busy && in->state == NC_ST_RUNNING && i < in->nvolumes; i++)
		dead |= in->volumes[i].helper > 0 && !nc_aoe_alive(&in->volumes[i]);
	if (!dead || !in || in->busy || in->state != NC_ST_RUNNING) {
		nc_table_unlock();
		return;
	}
	in->busy = true;	/* attach/detach/terminate wait for us */
	nc_table_unlock();
	for (int i = 0; i < in->nvolumes; i++) {
		struct nc_volume v = in->volumes[i];

		if (v.helper <= 0 || nc_aoe_alive(&v))
			continue;
		kr_log_warnx("%s: karri-aoe pid %ld serving %s died: restarting it", in->id,
		    (long)v.helper, v.id);
		if (nc_priv_aoe_start(in, &v) < 0) {
			/* keep the old pid: tried again next round */
			kr_log_errorx("%s: %s: %s", in->id, v.id, kr_error_message());
			continue;
		}
		nc_table_lock();
		in->volumes[i].helper = v.helper;
		in->volumes[i].helper_start = v.helper_start;
		nc_instance_save(in);
		nc_table_unlock();
	}
	nc_table_lock();
	in->busy = false;
	if (in->terminating && nc_teardown_start(in, "terminated") < 0)
		kr_log_errorx("%s: %s", in->id, kr_error_message());
	nc_table_unlock();
}

static void
check_running(void)
{
	virConnectPtr c = nc_conn();

	if (!c)
		return;
	for (int i = 0; i < nc_table_count(); i++) {
		struct nc_instance *in;
		char id[NC_ID_MAX];
		int r;

		nc_table_lock();
		in = nc_table_at(i);
		if (!in || in->busy || in->state != NC_ST_RUNNING) {
			nc_table_unlock();
			continue;
		}
		snprintf(id, sizeof(id), "%s", in->id);
		nc_table_unlock();
		r = domain_running(c, id);
		nc_table_lock();
		in = nc_table_find(id);
		if (r == 0 && in && !in->busy && in->state == NC_ST_RUNNING) {
			in->state = NC_ST_SHUTDOWN;
			nc_teardown_start(in, "the domain stopped (guest powered off or crashed)");
		}
		nc_table_unlock();
		if (r == 1)
			watch_helpers(id);
	}
	virConnectClose(c);
}

static void *
monitor_thread(void *arg)
{
	bool told = false;
	int rc;

	(void)arg;
	while (!kr_daemon_stopping()) {
		sleep(MONITOR_PERIOD_S);
		if (!nc_node.ready) {
			/* libvirt was not there at start: adopt once it is */
			if ((rc = nc_node_connect()) == 0)
				nc_adopt();
			else if (rc == -1 && !told)
				kr_log_errorx("the hypervisor cannot run guests: %s", kr_error_message());
			told |= rc == -1;
			continue;
		}
		check_running();
	}
	return NULL;
}

int
nc_monitor_start(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, monitor_thread, NULL) != 0) {
		kr_error("InternalError", "cannot start the monitor thread");
		return -1;
	}
	pthread_detach(t);
	return 0;
}
