/*
 * aoe_target.c - the AoE target's life cycle and its table of exports.
 *
 * The control plane adds and removes exports and pauses a volume's writes
 * for a snapshot; the data plane (aoe_threads.c, aoe_answer.c) reads the
 * table under table_lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "aoe/aoe_initiator.h"
#include "aoe_target.h"
#include "core/error.h"
#include "core/log.h"

/* ---- life cycle and the export table ---- */

/* aligned_alloc() wants a size that is a multiple of the alignment (C11
 * 7.22.3.1; glibc lets it pass, ASan aborts), and AOE_BUF_SIZE is not. */
#define AOE_BUF_ALLOC ((AOE_BUF_SIZE + AOE_ALIGN - 1) / AOE_ALIGN * AOE_ALIGN)
_Static_assert(AOE_BUF_ALLOC % AOE_ALIGN == 0 && AOE_BUF_ALLOC >= AOE_BUF_SIZE,
    "aligned_alloc size must be a multiple of the alignment");

static int
open_socket(struct ebs_target *t)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
	    .sll_protocol = htons(KR_AOE_ETHERTYPE), .sll_ifindex = t->ifindex };
	int bufsz = 16 << 20, one = 1;

	t->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(KR_AOE_ETHERTYPE));
	if (t->fd < 0) {
		kr_error_errno("InternalError", "AF_PACKET socket on %s (needs root)", t->ifname);
		return -1;
	}
	if (bind(t->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		kr_error_errno("InternalError", "bind AF_PACKET to %s", t->ifname);
		return -1;
	}
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };

	/* The rx thread blocks in recvmmsg(); this bounds it so it sees `stop`. */
	if (setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		kr_error_errno("InternalError", "SO_RCVTIMEO");
		return -1;
	}
	/* Room for full windows from many initiators while workers are busy. */
	if (setsockopt(t->fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		(void)setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	if (setsockopt(t->fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		(void)setsockopt(t->fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
#ifdef PACKET_IGNORE_OUTGOING
	(void)setsockopt(t->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
#endif
	/* Answers go straight to the driver: an AoE target has no use for
	 * traffic shaping on its storage NIC, and the qdisc lock is skipped. */
	(void)setsockopt(t->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	(void)ebs_aoe_ring_open(t);	/* else recvmmsg(), as before */
	return 0;
}

/* An export's file, lock and mapping; NULL-safe. */
static void
export_free(struct ebs_export *e)
{
	if (e == NULL)
		return;
	ebs_aoe_unmap(e);
	close(e->fd);
	pthread_rwlock_destroy(&e->io);
	free(e);
}

/*
 * The half of the start that needs a privilege: the AF_PACKET socket
 * (CAP_NET_RAW; CAP_NET_ADMIN for buffers above rmem_max) and its ring.
 * karri-ebs opens it as root, then gives root up before any thread exists
 * (docs/decisions.md, "Least privilege"); ebs_target_run() starts the rest.
 */
struct ebs_target *
ebs_target_open(const char *ifname)
{
	struct ebs_target *t = calloc(1, sizeof(*t));
	pthread_rwlockattr_t ra;
	int i, mtu;

	if (t == NULL) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	t->fd = -1;
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifname);
	pthread_rwlockattr_init(&ra);
	/* Writers first, so that unexport is not starved by a busy volume. */
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&t->table_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&t->qlock, NULL);
	pthread_cond_init(&t->qcond, NULL);
	pthread_cond_init(&t->fcond, NULL);
	for (i = 0; i < AOE_POOL; i++) {
		t->reqs[i].base = aligned_alloc(AOE_ALIGN, AOE_BUF_ALLOC);
		if (t->reqs[i].base == NULL) {
			kr_error("InternalError", "out of memory");
			goto fail;
		}
		t->reqs[i].frame = t->reqs[i].base + AOE_ALIGN - KR_AOE_ATA_LEN;
		t->reqs[i].next = t->free_list;
		t->free_list = &t->reqs[i];
	}
	if (kr_aoe_if_info(ifname, t->mac, &mtu, &t->ifindex) < 0 || open_socket(t) < 0)
		goto fail;
	atomic_store(&t->mtu, mtu);
	atomic_store(&t->spf, kr_aoe_sectors_per_frame(mtu));
	return t;
fail:
	ebs_target_stop(t);
	return NULL;
}

/* The workers and the receiver; -1 (kr_error set) and the caller stops t. */
int
ebs_target_run(struct ebs_target *t, int workers)
{
	int i;

	t->nworkers = workers > 0 ? workers : 8;
	t->workers = calloc((size_t)t->nworkers, sizeof(pthread_t));
	if (t->workers == NULL) {
		t->nworkers = 0;
		kr_error("InternalError", "out of memory");
		return -1;
	}
	for (i = 0; i < t->nworkers; i++)
		if (pthread_create(&t->workers[i], NULL, ebs_aoe_worker_main, t) != 0) {
			t->nworkers = i;
			kr_error("InternalError", "cannot start AoE workers");
			return -1;
		}
	if (pthread_create(&t->rx_thread, NULL, ebs_aoe_rx_main, t) != 0) {
		t->rx_thread = 0;	/* undefined after a failure: ebs_target_stop joins it */
		kr_error("InternalError", "cannot start the AoE receiver");
		return -1;
	}
	kr_log_info("AoE target on %s (MTU %d, %u sectors per frame, %d workers, %s)", t->ifname,
	    atomic_load(&t->mtu), atomic_load(&t->spf), t->nworkers,
	    t->ring ? "receive ring" : "recvmmsg");
	return 0;
}

struct ebs_target *
ebs_target_start(const char *ifname, int workers)
{
	struct ebs_target *t = ebs_target_open(ifname);

	if (t != NULL && ebs_target_run(t, workers) < 0) {
		ebs_target_stop(t);
		return NULL;
	}
	return t;
}

void
ebs_target_stop(struct ebs_target *t)
{
	int i;

	if (t == NULL)
		return;
	atomic_store(&t->stop, true);
	if (t->rx_thread)
		pthread_join(t->rx_thread, NULL);
	pthread_mutex_lock(&t->qlock);
	pthread_cond_broadcast(&t->qcond);
	pthread_mutex_unlock(&t->qlock);
	for (i = 0; i < t->nworkers; i++)
		pthread_join(t->workers[i], NULL);
	for (i = 0; i < AOE_EXPORTS_MAX; i++)
		export_free(t->exports[i]);
	for (i = 0; i < AOE_POOL; i++)
		free(t->reqs[i].base);
	ebs_aoe_ring_close(t);
	if (t->fd >= 0)
		close(t->fd);
	free(t->workers);
	free(t);
}

void
ebs_target_mac(const struct ebs_target *t, char out[18])
{
	kr_aoe_mac_format(t->mac, out);
}

int
ebs_target_mtu(struct ebs_target *t)
{
	ebs_aoe_refresh_mtu(t);
	return atomic_load(&t->mtu);
}

static int
find_by_id(struct ebs_target *t, const char *volume_id)
{
	int i;

	for (i = 0; i < AOE_EXPORTS_MAX; i++)
		if (t->exports[i] && strcmp(t->exports[i]->volume_id, volume_id) == 0)
			return i;
	return -1;
}

int
ebs_target_add(struct ebs_target *t, const char *volume_id, const char *path,
    unsigned shelf, unsigned slot, const uint8_t (*macs)[6], unsigned nmacs, bool direct)
{
	struct ebs_export *e;
	struct stat st;
	int i, free_i = -1, rc = -1;

	if (nmacs == 0 || nmacs > EBS_MACS_MAX || shelf >= KR_AOE_MAJOR_ANY ||
	    slot >= KR_AOE_MINOR_ANY || strlen(volume_id) >= KR_ID_MAX) {
		kr_error("InvalidParameterValue", "bad export of %s", volume_id);
		return -1;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	e->fd = open(path, O_RDWR | O_CLOEXEC | (direct ? O_DIRECT : 0));
	if (e->fd < 0 || fstat(e->fd, &st) < 0) {
		kr_error_errno("InternalError", "open %s", path);
		if (e->fd >= 0)
			close(e->fd);
		free(e);
		return -1;
	}
	strcpy(e->volume_id, volume_id);
	e->shelf = (uint16_t)shelf;
	e->slot = (uint8_t)slot;
	e->sectors = (uint64_t)st.st_size / KR_AOE_SECTOR;
	memcpy(e->macs, macs, nmacs * 6);
	e->nmacs = nmacs;
	e->direct = direct;
	atomic_store(&e->nowait_writes, true);
	pthread_rwlock_init(&e->io, NULL);
	ebs_aoe_map(e);

	pthread_rwlock_wrlock(&t->table_lock);
	i = find_by_id(t, volume_id);
	if (i >= 0) {		/* re-export: new MACs replace the old at once */
		export_free(t->exports[i]);
		t->exports[i] = NULL;
		free_i = i;
	}
	for (i = 0; i < AOE_EXPORTS_MAX && free_i < 0; i++)
		if (t->exports[i] == NULL)
			free_i = i;
	if (ebs_aoe_find_export(t, e->shelf, e->slot) != NULL) {
		kr_error("InternalError", "AoE address e%u.%u is taken", shelf, slot);
	} else if (free_i < 0) {
		kr_error("InsufficientCapacity", "this EBS serves %d exports at most", AOE_EXPORTS_MAX);
	} else {
		t->exports[free_i] = e;
		e = NULL;
		rc = 0;
	}
	pthread_rwlock_unlock(&t->table_lock);
	export_free(e);
	return rc;
}

int
ebs_target_remove(struct ebs_target *t, const char *volume_id)
{
	struct ebs_export *e = NULL;
	int i;

	pthread_rwlock_wrlock(&t->table_lock);	/* waits for in-flight I/O on it */
	i = find_by_id(t, volume_id);
	if (i >= 0) {
		e = t->exports[i];
		t->exports[i] = NULL;
	}
	pthread_rwlock_unlock(&t->table_lock);
	if (e == NULL)
		return 0;
	(void)fdatasync(e->fd);		/* an unexported volume is a complete one */
	export_free(e);
	return 0;
}

int
ebs_target_quiesce(struct ebs_target *t, const char *volume_id)
{
	struct ebs_export *e;
	int i;

	pthread_rwlock_rdlock(&t->table_lock);
	i = find_by_id(t, volume_id);
	if (i < 0) {
		pthread_rwlock_unlock(&t->table_lock);
		return 0;
	}
	e = t->exports[i];
	/* Keep table_lock shared until resume, so the export cannot go away. */
	pthread_rwlock_wrlock(&e->io);
	e->quiesced = true;
	return 1;
}

void
ebs_target_resume(struct ebs_target *t, const char *volume_id)
{
	int i = find_by_id(t, volume_id);

	if (i >= 0 && t->exports[i]->quiesced) {
		t->exports[i]->quiesced = false;
		pthread_rwlock_unlock(&t->exports[i]->io);
	}
	pthread_rwlock_unlock(&t->table_lock);
}

