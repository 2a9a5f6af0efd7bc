/*
 * aoe_initiator.h - Karri's userspace AoE initiator.
 *
 * Hosts without the kernel's aoe module (these test machines, many cloud
 * kernels) still reach EBS volumes: this library speaks AoE r11 from a raw
 * AF_PACKET socket, and karri-aoe serves what it reads to QEMU as an NBD
 * export.
 *
 * Open finds the target by shelf.slot with a broadcast Query Config,
 * negotiates the window (the target's buffer count, capped by ours) and the
 * sectors per frame (the target's, capped by our own MTU), and reads the
 * capacity with IDENTIFY DEVICE.  A read or write is split into frames and
 * keeps up to `window` of them outstanding; a frame not answered in time is
 * sent again under a fresh tag, with the timeout estimated from measured
 * round trips as TCP does (srtt + 4 * rttvar, Karn's rule: no samples from
 * retransmitted frames, doubling on each timeout).  A frame that gets no
 * answer for timeout_ms fails the call with EIO.
 *
 * One initiator is used by one thread at a time.
 */
#ifndef KARRI_AOE_INITIATOR_H
#define KARRI_AOE_INITIATOR_H

#include <stddef.h>
#include <stdint.h>

struct kr_aoe_ini_opts {
	const char *ifname;		/* NIC on the storage segment */
	unsigned shelf;			/* 0..65534 */
	unsigned slot;			/* 0..254 */
	unsigned window;		/* most frames outstanding; 0: 64; capped by the target's buffer count */
	unsigned sectors_per_frame;	/* 0: negotiate; else a further cap */
	int timeout_ms;			/* give up on a frame (and on discovery) after this; 0: 30000 */
};

struct kr_aoe_ini_stats {
	uint64_t frames;		/* frames answered */
	uint64_t retransmits;		/* frames sent again after a timeout */
	unsigned srtt_us;		/* smoothed round trip */
	unsigned rto_us;		/* current retransmission timeout */
	unsigned window;		/* negotiated */
	unsigned sectors_per_frame;	/* negotiated */
	unsigned bufcnt;		/* target's buffer count */
	unsigned firmware;
	uint64_t sectors;		/* capacity */
	char target_mac[18];
	char config[1025];		/* target's config string */
};

struct kr_aoe_ini;

/* Discover and negotiate.  NULL + kr_error ("VolumeNotFound" when nobody answers). */
struct kr_aoe_ini *kr_aoe_ini_open(const struct kr_aoe_ini_opts *opts);
void kr_aoe_ini_close(struct kr_aoe_ini *ini);	/* NULL-safe */

uint64_t kr_aoe_ini_size(const struct kr_aoe_ini *ini);	/* bytes */

/*
 * Any offset and length inside the volume: partial sectors at either end
 * are read (and, for a write, merged) so callers need not align.  A write
 * returns only once every frame of it was acknowledged.  0 or -1 + kr_error.
 */
int kr_aoe_ini_read(struct kr_aoe_ini *ini, void *buf, size_t len, uint64_t off);
int kr_aoe_ini_write(struct kr_aoe_ini *ini, const void *buf, size_t len, uint64_t off);

/* FLUSH CACHE EXT: acknowledged writes are durable on the target. */
int kr_aoe_ini_flush(struct kr_aoe_ini *ini);

void kr_aoe_ini_get_stats(const struct kr_aoe_ini *ini, struct kr_aoe_ini_stats *st);

/* The interface's MAC and MTU (for tools and tests); 0 or -1 + kr_error. */
int kr_aoe_if_info(const char *ifname, uint8_t mac[6], int *mtu, int *ifindex);

#endif
