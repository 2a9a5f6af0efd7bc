/*
 * aoe_ring.c - the AoE target's shared memory with the kernel: the receive
 * ring, and volumes mapped read-only for sending page-cache reads.
 *
 * Receive ring: PACKET_RX_RING with TPACKET_V2, one frame per slot, each
 * handed to user space as it arrives (the kernel wakes poll() per frame).
 * TPACKET_V3's variable-size blocks would pack small requests tighter, but
 * a V3 block reaches user space only when it is full or its retire timer
 * (at least 1 ms) fires: an initiator with one request outstanding (a
 * guest's synchronous I/O) would wait a millisecond per request.  The rx
 * thread serves frames where they lie -- a write's data goes from the ring
 * to pwritev() (a batch's sequential writes together), a read's answer
 * header is written over its request -- and copies into a pool buffer only
 * what a worker must do.
 *
 * Sending: page-cache reads are sent from a read-only MAP_SHARED mapping of
 * the volume, by sendmmsg() with the answer's header and the mapped sectors
 * as two iovecs: the kernel copies the sectors once, from the page cache
 * into the socket buffer, where pread() + send() copied them twice.  The
 * target never touches the mapping itself: only the kernel's copy does, so
 * a page that went away (evicted and unreadable) is an EFAULT from
 * sendmmsg, not a SIGBUS; mincore() first keeps the rx thread from waiting
 * for the disk.  PACKET_TX_RING was tried on paper and left out: its frames
 * are marked zero-copy (SKBFL_ZEROCOPY_FRAG), and veth -- the storage NIC
 * of these hosts -- copies such frames when it forwards them
 * (skb_orphan_frags in __dev_forward_skb), so the sectors would still be
 * copied twice (pread into the frame, then veth), and a frame is busy until
 * the initiator has read its answer.
 */
#include <errno.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aoe_target.h"
#include "core/error.h"
#include "core/log.h"

_Static_assert(AOE_RING_FRAME % TPACKET_ALIGNMENT == 0, "ring frames are 16-byte aligned");
_Static_assert(AOE_RING_FRAME >= TPACKET_ALIGN(TPACKET2_HDRLEN + 16) + KR_AOE_FRAME_MAX,
    "a ring frame holds the largest AoE frame");

/* Set up the receive ring on t->fd; -1 (logged) leaves the socket as it
 * was, and the rx thread uses recvmmsg(). */
int
ebs_aoe_ring_open(struct ebs_target *t)
{
	struct tpacket_req req = { .tp_block_size = AOE_RING_BLOCK, .tp_block_nr = AOE_RING_BLOCKS,
	    .tp_frame_size = AOE_RING_FRAME, .tp_frame_nr = AOE_RING_FRAMES };
	int v = TPACKET_V2;
	const char *env = getenv("KARRI_AOE_RING");

	if (env != NULL && strcmp(env, "0") == 0)	/* for measuring the difference */
		return -1;
	if (setsockopt(t->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0 ||
	    setsockopt(t->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0) {
		kr_log_warn("AoE: no receive ring on %s, receiving with recvmmsg", t->ifname);
		return -1;
	}
	t->ring_len = (size_t)AOE_RING_BLOCK * AOE_RING_BLOCKS;
	t->ring = mmap(NULL, t->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
	    t->fd, 0);
	if (t->ring == MAP_FAILED) {
		kr_log_warn("AoE: cannot map the receive ring on %s", t->ifname);
		t->ring = NULL;
		memset(&req, 0, sizeof(req));	/* no ring: back to recvmmsg */
		(void)setsockopt(t->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req));
		return -1;
	}
	t->ring_head = 0;
	return 0;
}

void
ebs_aoe_ring_close(struct ebs_target *t)
{
	if (t->ring != NULL)
		munmap(t->ring, t->ring_len);
	t->ring = NULL;
}

/* Frame i of the ring (frames do not straddle blocks). */
void *
ebs_aoe_ring_frame(struct ebs_target *t, unsigned i)
{
	return t->ring + (size_t)(i / AOE_RING_FRAMES_PER_BLOCK) * AOE_RING_BLOCK +
	    (size_t)(i % AOE_RING_FRAMES_PER_BLOCK) * AOE_RING_FRAME;
}

/* Map a buffered export for sending reads; without a mapping (O_DIRECT,
 * or mmap failed) reads are pread() into the frame as before. */
void
ebs_aoe_map(struct ebs_export *e)
{
	size_t len = (size_t)(e->sectors * KR_AOE_SECTOR);
	const char *env = getenv("KARRI_AOE_MAP");
	void *p;

	e->map = NULL;
	e->map_len = 0;
	if (e->direct || len == 0 || (env != NULL && strcmp(env, "0") == 0))
		return;
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, e->fd, 0);
	if (p == MAP_FAILED) {
		kr_log_warn("AoE: cannot map %s: its reads are copied twice", e->volume_id);
		return;
	}
	(void)madvise(p, len, MADV_DONTDUMP);	/* volume data stays out of core dumps */
	e->map = p;
	e->map_len = len;
}

void
ebs_aoe_unmap(struct ebs_export *e)
{
	if (e->map != NULL)
		munmap((void *)e->map, e->map_len);
	e->map = NULL;
	e->map_len = 0;
}
