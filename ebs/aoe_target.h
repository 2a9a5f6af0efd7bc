/*
 * aoe_target.h - the AoE target's private parts, shared by its three files.
 *
 * Karri's AoE target serves exported volumes on the storage NIC, built to
 * keep a full window of requests moving, which vblade (one thread, one
 * frame at a time, 16 buffers) cannot:
 *
 *   rx thread   (aoe_threads.c) takes frames from one AF_PACKET socket's
 *               receive ring (aoe_ring.c; recvmmsg() into pool buffers where
 *               there is no ring); serves at once what cannot block -- Query
 *               Config, MAC mask, page-cache reads and writes -- and copies
 *               the rest into request buffers from a fixed pool for the
 *               workers.
 *   workers     (aoe_threads.c) do what blocks -- FLUSH (fdatasync), O_DIRECT
 *               I/O, reads that miss the page cache, writes to a volume
 *               paused for a snapshot -- several in flight at once, and send
 *               their answers with one sendmmsg().
 *   answers     (aoe_answer.c) what the target says to each frame.
 *   life cycle  (aoe_target.c) start/stop and the table of exports.
 *   rings       (aoe_ring.c) the receive ring, and each buffered volume
 *               mapped read-only, so that a page-cache read is sent from
 *               the page cache with one copy (into the socket buffer)
 *               instead of two (pread into a buffer, then send).
 *
 * What each byte costs, the reason for the rings (bench/aoe measures it in
 * CPU-seconds per GB): a write is copied once by the kernel into the
 * receive ring and once by pwritev() into the page cache, with no system
 * call to receive it, and the writes of one batch that continue each other
 * (a window of sequential writes) share one pwritev() whose iovecs point
 * into the ring (ebs_aoe_write_run): ext4's per-call cost of a buffered
 * write is paid once per run; each frame is still answered on its own,
 * after its data is written.  A page-cache read is copied once, from the
 * mapping into the answer, by the sendmmsg() that sends it.
 *
 * A write is acknowledged only after pwritev() returned: the data is in the
 * page cache (or on disk with O_DIRECT), so killing the daemon loses nothing
 * acknowledged; FLUSH answers only after fdatasync().  Nothing is dropped
 * for lack of room: when the pool is empty the rx thread waits for a buffer
 * and the kernel's socket queue (sized for it) holds new frames meanwhile.
 *
 * Security: an export answers only the MACs the control plane allowed
 * (ExportVolume); frames from anyone else get no answer at all, not even to
 * Query Config.  The MAC mask list can be read over AoE but not edited: the
 * control plane owns it.  Likewise the config string (the volume id).
 */
#ifndef KARRI_EBS_AOE_TARGET_H
#define KARRI_EBS_AOE_TARGET_H

#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aoe/aoe.h"
#include "ebs.h"

#define AOE_POOL 1024		/* request buffers */
#define AOE_BUFCNT 256		/* outstanding requests we invite each initiator to keep */
/* Frames per recvmmsg() (and per worker hand-off).  Small, below an
 * initiator's window: measured on veth in a 2-vCPU VM at window 16, taking
 * the whole window in one batch put initiator and target in lockstep (each
 * idle while the other worked; MTU 1500 reads 180 MB/s), 4 overlaps them
 * (370 MB/s); 1, 4 and 32 are level at MTU 9000. */
#define AOE_BATCH 4
/* Answers per sendmmsg() from the rx thread.  Small: measured on veth in a
 * 2-vCPU VM, answering sooner (the initiator refills its window meanwhile)
 * beats saving system calls; 1, 2 and 4 were within the noise of each other,
 * the end of a 32-frame batch was clearly worse. */
#define AOE_SEND_EVERY 2
/* Frames taken from the receive ring per hold of table_lock: no system
 * call per batch any more, so this only bounds how long a batch holds it. */
#define AOE_RING_BATCH 16
/* Writes merged into one pwritev() (ebs_aoe_write_run), at most: ext4's
 * buffered-write overhead is paid per call, not per byte. */
#define AOE_RUN_FRAMES 64
#define AOE_RUN_BYTES (1u << 20)
/* Page-cache residency of a read is taken from one mincore() per window
 * of AOE_RES_PAGES pages, trusted for AOE_RES_NS: one mincore() per frame
 * was 18% of the target's CPU on page-cache reads (bench/aoe, perf). */
#define AOE_RES_PAGES 256
#define AOE_RES_NS 1000000
#define AOE_EXPORTS_MAX 256
#define AOE_FIRMWARE 0x4011
#define AOE_ALIGN 4096		/* frame data lands on this boundary, for O_DIRECT */
#define AOE_BUF_SIZE (AOE_ALIGN + KR_AOE_FRAME_MAX)

struct ebs_export {
	char volume_id[KR_ID_MAX];
	uint16_t shelf;
	uint8_t slot;
	int fd;
	uint64_t sectors;
	uint8_t macs[EBS_MACS_MAX][6];
	unsigned nmacs;
	pthread_rwlock_t io;	/* writes hold it shared; a snapshot holds it exclusive */
	bool quiesced;
	bool direct;		/* O_DIRECT: every read and write waits for the disk */
	atomic_bool nowait_writes;	/* the file system takes RWF_NOWAIT buffered writes */
	const uint8_t *map;	/* the file read-only (not with O_DIRECT), or NULL */
	size_t map_len;
	/* What mincore() last said about a window of the mapping, the rx
	 * thread's alone (resident() in aoe_answer.c): res_pages 0 is nothing
	 * known; asked again once res_until (CLOCK_MONOTONIC ns) has passed. */
	uint64_t res_first;
	unsigned res_pages;
	uint64_t res_until;
	unsigned char res_vec[AOE_RES_PAGES];
};

struct ebs_req {
	uint8_t *base;		/* aligned allocation */
	uint8_t *frame;		/* base + AOE_ALIGN - KR_AOE_ATA_LEN: data is aligned */
	size_t len;		/* received, then the answer's length */
	/* 0: a pool buffer, room for any answer; else the bytes the answer
	 * may take in place (a frame in the receive ring: what was received) */
	size_t room;
	/* The answer's data when it is sent from a volume's mapping rather
	 * than from the frame (set by ebs_aoe_serve; NULL otherwise): valid
	 * only while table_lock is held, so sent before it is released. */
	const uint8_t *zc;
	size_t zc_len;
	/* A write already done together with the writes that continue it
	 * (ebs_aoe_write_run): answered without writing again. */
	bool written;
	struct ebs_req *next;
};

struct ebs_target {
	char ifname[IFNAMSIZ];
	int ifindex;
	uint8_t mac[6];
	atomic_int mtu;
	atomic_uint spf;
	int fd;
	atomic_bool stop;

	pthread_rwlock_t table_lock;
	struct ebs_export *exports[AOE_EXPORTS_MAX];

	pthread_mutex_t qlock;
	pthread_cond_t qcond;		/* work queued */
	pthread_cond_t fcond;		/* a buffer was freed */
	struct ebs_req *free_list;
	struct ebs_req *qhead, *qtail;
	unsigned qlen;

	uint8_t *ring;			/* PACKET_RX_RING (TPACKET_V2), or NULL */
	size_t ring_len;
	unsigned ring_head;		/* the next frame to look at (rx thread) */

	struct ebs_req reqs[AOE_POOL];
	pthread_t rx_thread;
	pthread_t *workers;
	int nworkers;
};

#define AOE_DEFER ((size_t)-1)	/* ebs_aoe_answer_ata: hand the frame to a worker */

/* What serving a frame may wait for. */
enum ebs_aoe_wait {
	AOE_WAIT_NONE,	/* the rx thread, busy: the page cache only */
	AOE_WAIT_DISK,	/* the rx thread, idle: also an O_DIRECT read or write */
	AOE_WAIT_ANY,	/* a worker: also FLUSH and a volume paused for a snapshot */
};
#define AOE_IO_DEFER ((ssize_t)-2)	/* file_io: the same; -1 stays "failed" */

/* aoe_answer.c */
void ebs_aoe_refresh_mtu(struct ebs_target *t);
struct ebs_export *ebs_aoe_find_export(struct ebs_target *t, uint16_t shelf, uint8_t slot);
bool ebs_aoe_mac_allowed(const struct ebs_export *e, const uint8_t mac[6]);
void ebs_aoe_send_frame(struct ebs_target *t, const uint8_t *f, size_t len);
void ebs_aoe_pad(struct ebs_req *r);
size_t ebs_aoe_answer_ata(struct ebs_target *t, struct ebs_export *e, struct ebs_req *r,
    enum ebs_aoe_wait wait);
size_t ebs_aoe_serve(struct ebs_target *t, struct ebs_req *r, enum ebs_aoe_wait wait);
unsigned ebs_aoe_write_run(struct ebs_target *t, struct ebs_req **rs, unsigned n,
    enum ebs_aoe_wait wait);

/* aoe_ring.c */
#define AOE_RING_BLOCK 65536	/* 6 frames of 10912 bytes: a jumbo frame and the ring's header */
#define AOE_RING_FRAME 10912
#define AOE_RING_FRAMES_PER_BLOCK (AOE_RING_BLOCK / AOE_RING_FRAME)
#define AOE_RING_BLOCKS 171	/* 1026 frames, as many as the socket buffer held before */
#define AOE_RING_FRAMES (AOE_RING_BLOCKS * AOE_RING_FRAMES_PER_BLOCK)
int ebs_aoe_ring_open(struct ebs_target *t);
void ebs_aoe_ring_close(struct ebs_target *t);
void *ebs_aoe_ring_frame(struct ebs_target *t, unsigned i);
void ebs_aoe_map(struct ebs_export *e);
void ebs_aoe_unmap(struct ebs_export *e);

/* aoe_threads.c */
void *ebs_aoe_rx_main(void *arg);
void *ebs_aoe_worker_main(void *arg);

#endif
