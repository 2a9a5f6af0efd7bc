/*
 * aoe_window.h - inside the userspace AoE initiator: the state one
 * initiator keeps and the windowed request engine (aoe_window.c) that
 * aoe_initiator.c (discovery, the public read/write/flush calls) runs its
 * commands through.  Private to those two files; everyone else includes
 * aoe_initiator.h.
 */
#ifndef KARRI_AOE_WINDOW_H
#define KARRI_AOE_WINDOW_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "aoe/aoe_initiator.h"

#define WINDOW_MAX 256
#define BATCH 64
#define ORDER_CAP (4 * WINDOW_MAX)	/* frames in send order, for predict() */
/* TCP's floor.  Below it a busy front end (a scheduling hiccup, a journal
 * commit stalling O_DIRECT writes) makes spurious resends -- wasted work
 * at the worst moment -- while real losses on a LAN are rare enough that
 * waiting longer for them costs little. */
#define RTO_MIN_US 200000
#define RTO_MAX_US 2000000
#define RTO_INIT_US 200000
/* FLUSH takes disk time (seconds for a big dirty cache), not network time:
 * it gets its own generous timeout and never feeds the RTT estimate. */
#define FLUSH_RTO_US 5000000
#define FLUSH_RTO_MAX_US 20000000

struct slot {
	bool busy;
	bool resent;		/* Karn: no RTT sample from this frame */
	uint16_t seq;
	uint8_t cmd;
	uint8_t count;
	uint64_t lba;
	uint8_t *buf;		/* read into / write from; count * 512 bytes */
	uint64_t sent_us;
	uint64_t first_us;	/* for the give-up deadline */
	uint64_t deadline_us;
	unsigned rto_us;	/* this frame's current timeout (doubles per resend) */
};

struct kr_aoe_ini {
	int fd;
	int ifindex;
	char ifname[IFNAMSIZ];
	uint8_t mac[6];
	uint8_t target[6];
	unsigned shelf, slot;
	unsigned window;
	unsigned spf;
	int timeout_ms;
	uint64_t sectors;
	/* RTT estimator, microseconds, TCP-style fixed point kept simple. */
	double srtt, rttvar;
	unsigned rto;
	struct slot slots[WINDOW_MAX];
	uint8_t *tx[WINDOW_MAX];	/* one frame buffer per slot (headers; data stays put) */
	uint8_t *rx[BATCH];		/* 2 * KR_AOE_FRAME_MAX: a frame, then overflow room */
	/* Read frames in the order they were first sent: slot index and seq.
	 * Entries go stale when their slot completes or is resent. */
	uint16_t order_slot[ORDER_CAP];
	uint16_t order_seq[ORDER_CAP];
	unsigned order_head, order_tail;
	struct kr_aoe_ini_stats st;
};

static inline uint64_t
kr_aoe_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Run one ATA command over count sectors from lba (IDENTIFY and FLUSH: one
 * frame), buf holding count * 512 bytes, keeping up to ini->window frames
 * in flight and resending the overdue ones.  0, or -1 + kr_error (the
 * target refused a frame: "InternalError"; no answer for timeout_ms:
 * "VolumeUnavailable").
 */
int kr_aoe_window_run(struct kr_aoe_ini *ini, uint8_t cmd, uint64_t lba, uint64_t count,
    void *buf);

#endif
