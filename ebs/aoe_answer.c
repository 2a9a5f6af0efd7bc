/*
 * aoe_answer.c - what Karri's AoE target answers to each frame.
 *
 * ATA commands (IDENTIFY, READ/WRITE in LBA28 and LBA48, FLUSH, CHECK
 * POWER), Query Config and the MAC mask list.  Every field of a request is
 * checked before it is used; a frame that cannot be read gets no answer, a
 * readable but wrong ATA command an ATA error (ABRT).  The same code serves
 * the rx thread (only what cannot block, or must wait for the disk only when
 * it has nothing else to do) and the workers.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "aoe/aoe_initiator.h"
#include "aoe_target.h"
#include "core/error.h"
#include "core/log.h"

void
ebs_aoe_refresh_mtu(struct ebs_target *t)
{
	int mtu;

	if (kr_aoe_if_info(t->ifname, NULL, &mtu, NULL) < 0 || mtu == atomic_load(&t->mtu))
		return;
	kr_log_info("AoE: %s MTU is %d: %u sectors per frame", t->ifname, mtu,
	    kr_aoe_sectors_per_frame(mtu));
	atomic_store(&t->mtu, mtu);
	atomic_store(&t->spf, kr_aoe_sectors_per_frame(mtu));
}

/* Caller holds table_lock (either way). */
struct ebs_export *
ebs_aoe_find_export(struct ebs_target *t, uint16_t shelf, uint8_t slot)
{
	int i;

	for (i = 0; i < AOE_EXPORTS_MAX; i++)
		if (t->exports[i] && t->exports[i]->shelf == shelf && t->exports[i]->slot == slot)
			return t->exports[i];
	return NULL;
}

bool
ebs_aoe_mac_allowed(const struct ebs_export *e, const uint8_t mac[6])
{
	unsigned i;

	for (i = 0; i < e->nmacs; i++)
		if (memcmp(e->macs[i], mac, 6) == 0)
			return true;
	return false;
}

void
ebs_aoe_send_frame(struct ebs_target *t, const uint8_t *f, size_t len)
{
	if (len < 60)
		len = 60;
	while (send(t->fd, f, len, 0) < 0 && errno == EINTR)
		;
}

/*
 * Ethernet's 60-byte minimum: a short answer is padded with zeros, never
 * with what the reused buffer held before (another volume's data).
 */
void
ebs_aoe_pad(struct ebs_req *r)
{
	if (r->len < 60) {
		memset(r->frame + r->len, 0, 60 - r->len);
		r->len = 60;
	}
}

/* ---- the ATA path ---- */

/*
 * The file I/O of a read or write (a write's data may be several frames',
 * one iovec each), waiting only for what `wait` allows (see enum ebs_aoe_wait);
 * otherwise nothing is done and AOE_IO_DEFER tells the rx thread to hand
 * the frame to a worker.  Else the bytes moved, or -1.
 */
static ssize_t
file_io(struct ebs_export *e, bool write, const struct iovec *iov, int iovcnt, size_t bytes,
    uint64_t lba, enum ebs_aoe_wait wait)
{
	off_t off = (off_t)(lba * KR_AOE_SECTOR);
	ssize_t r;

	if (!write) {
		if (wait != AOE_WAIT_NONE)
			return preadv(e->fd, iov, iovcnt, off);
		r = preadv2(e->fd, iov, iovcnt, off, RWF_NOWAIT);
		return r == (ssize_t)bytes ? r : AOE_IO_DEFER;
	}
	if (wait == AOE_WAIT_ANY)
		pthread_rwlock_rdlock(&e->io);
	else if (pthread_rwlock_tryrdlock(&e->io) != 0)
		return AOE_IO_DEFER;	/* paused for a snapshot: a worker waits */
	/*
	 * File systems without non-blocking buffered writes (ext4 today)
	 * refuse RWF_NOWAIT with EOPNOTSUPP.  Then the write is done here
	 * anyway, as vblade does: a buffered write only waits when the kernel
	 * throttles dirty pages, which would hold up the workers just the same,
	 * while handing every write to a worker halves the write rate.
	 */
	r = AOE_IO_DEFER;
	if (wait == AOE_WAIT_NONE && atomic_load(&e->nowait_writes)) {
		r = pwritev2(e->fd, iov, iovcnt, off, RWF_NOWAIT);
		if (r < 0 && errno == EOPNOTSUPP)
			atomic_store(&e->nowait_writes, false);
		else if (r != (ssize_t)bytes)
			r = AOE_IO_DEFER;	/* a worker redoes it whole: same bytes */
	}
	if (wait != AOE_WAIT_NONE || !atomic_load(&e->nowait_writes))
		r = pwritev(e->fd, iov, iovcnt, off);
	pthread_rwlock_unlock(&e->io);
	return r;
}

/* Is a read or write of `a` (cmd one of the four) one the export can do?
 * The LBA width must match its flag, the range must be inside the volume,
 * and the data must fit the frame (a write) or our MTU (a read's answer). */
static bool
rw_valid(struct ebs_target *t, const struct ebs_export *e, const struct kr_aoe_ata *a, bool write)
{
	size_t bytes = (size_t)a->count * KR_AOE_SECTOR;

	return a->count != 0 && kr_aoe_ata_is_ext(a->cmdstat) == !!(a->aflags & KR_AOE_AFLAG_EXT) &&
	    a->lba < e->sectors && a->count <= e->sectors - a->lba &&
	    (!write || ((a->aflags & KR_AOE_AFLAG_WRITE) && a->data_len >= bytes)) &&
	    (write || a->count <= atomic_load(&t->spf));
}

/*
 * Is [off, off+len) of a mapped export in the page cache?  Asked of the
 * rx thread's residency window (struct ebs_export, res_*): a mincore() of
 * AOE_RES_PAGES pages from a multiple of half that below the request, so
 * that the request always fits and a sequential stream, forwards or
 * backwards, asks once per half window instead of once per frame.  The
 * answer is trusted for AOE_RES_NS only.  It is a hint either way, as a
 * per-frame mincore() was: a page evicted after the check makes the send
 * wait for the disk once; a page that arrived after it sends its frame to
 * a worker, which reads it with preadv().
 */
static bool
resident(struct ebs_export *e, uint64_t off, size_t len)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), first, last, p, now, total;
	struct timespec ts;

	if (e->map == NULL || len == 0 || off + len > e->map_len)
		return false;
	first = off / page;
	last = (off + len - 1) / page;
	if (last - first >= AOE_RES_PAGES / 2)
		return false;		/* no AoE frame spans that much */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (e->res_pages == 0 || now >= e->res_until || first < e->res_first ||
	    last >= e->res_first + e->res_pages) {
		uint64_t start = first - first % (AOE_RES_PAGES / 2);

		total = (e->map_len + page - 1) / page;
		e->res_pages = 0;
		if (mincore((void *)(e->map + start * page),
		    (size_t)((total - start < AOE_RES_PAGES ? total - start : AOE_RES_PAGES) * page),
		    e->res_vec) < 0)
			return false;
		e->res_first = start;
		e->res_pages = (unsigned)(total - start < AOE_RES_PAGES ? total - start : AOE_RES_PAGES);
		e->res_until = now + AOE_RES_NS;
	}
	for (p = first; p <= last; p++)
		if (!(e->res_vec[p - e->res_first] & 1))
			return false;
	return true;
}

/*
 * Do one ATA command and turn the frame into its answer in place: the
 * answer's length, 0 for no answer, or AOE_DEFER (when `wait` forbids what
 * the command needs, or the answer needs more room than r->room) with the
 * frame untouched, so that a pool buffer or a worker can start over from
 * it.  A page-cache read by the rx thread from a mapped volume answers
 * with the header only and points r->zc at the sectors in the mapping.
 */
size_t
ebs_aoe_answer_ata(struct ebs_target *t, struct ebs_export *e, struct ebs_req *r,
    enum ebs_aoe_wait wait)
{
	uint8_t *f = r->frame;
	size_t len = r->len, room = r->room ? r->room : KR_AOE_FRAME_MAX;
	struct kr_aoe_hdr h;
	struct kr_aoe_ata a;
	uint8_t id[512];
	size_t n, bytes = 0, extra = 0;
	ssize_t io;
	uint8_t cmd, status = KR_ATA_STATUS_DRDY;
	bool ok = true, written = r->written;

	r->written = false;
	if (kr_aoe_parse_hdr(f, len, &h) < 0 || kr_aoe_parse_ata(f, len, &a) < 0)
		return 0;
	cmd = a.cmdstat;
	bytes = (size_t)a.count * KR_AOE_SECTOR;
	switch (cmd) {
	case KR_ATA_IDENTIFY:
		if (KR_AOE_ATA_LEN + sizeof(id) > room)
			return AOE_DEFER;
		kr_aoe_identify(id, e->sectors, e->volume_id, "Karri EBS volume");
		extra = sizeof(id);
		break;
	case KR_ATA_CHECK_POWER:
		a.count = 0xff;		/* active */
		break;
	case KR_ATA_FLUSH:
	case KR_ATA_FLUSH_EXT:
		if (wait != AOE_WAIT_ANY)
			return AOE_DEFER;	/* fdatasync blocks: always a worker's job */
		ok = fdatasync(e->fd) == 0;
		break;
	case KR_ATA_READ:
	case KR_ATA_READ_EXT:
	case KR_ATA_WRITE:
	case KR_ATA_WRITE_EXT: {
		bool write = cmd == KR_ATA_WRITE || cmd == KR_ATA_WRITE_EXT;

		if (!rw_valid(t, e, &a, write)) {
			ok = false;
			break;
		}
		/* O_DIRECT I/O waits for the disk even with RWF_NOWAIT: done
		 * by a busy rx thread it would serialize the volume as vblade
		 * does, so it goes to the workers, which keep several in flight. */
		if (wait == AOE_WAIT_NONE && e->direct)
			return AOE_DEFER;
		if (!write && wait == AOE_WAIT_NONE && e->map != NULL) {
			/* Sent from the page cache by the kernel's one copy. */
			if (!resident(e, a.lba * KR_AOE_SECTOR, bytes))
				return AOE_DEFER;
			r->zc = e->map + a.lba * KR_AOE_SECTOR;
			r->zc_len = bytes;
			break;
		}
		if (!write && KR_AOE_ATA_LEN + bytes > room)
			return AOE_DEFER;
		if (written && write) {
			io = (ssize_t)bytes;	/* ebs_aoe_write_run did it */
		} else {
			struct iovec iov = { .iov_base = f + KR_AOE_ATA_LEN, .iov_len = bytes };

			io = file_io(e, write, &iov, 1, bytes, a.lba, wait);
		}
		if (io == AOE_IO_DEFER)
			return AOE_DEFER;
		if (io != (ssize_t)bytes) {
			kr_log_warn("AoE: %s %s at sector %llu", write ? "write to" : "read from",
			    e->volume_id, (unsigned long long)a.lba);
			ok = false;
		} else if (!write) {
			extra = bytes;
		}
		break;
	}
	default:
		ok = false;
		break;
	}
	kr_aoe_hdr_reply(&h, t->mac);
	kr_aoe_put_hdr(f, &h);
	a.feature = ok ? 0 : KR_ATA_ERR_ABRT;
	a.cmdstat = ok ? status : KR_ATA_STATUS_DRDY | KR_ATA_STATUS_ERR;
	n = kr_aoe_put_ata(f, &a);
	if (!ok)
		return n;
	if (cmd == KR_ATA_IDENTIFY)
		memcpy(f + n, id, sizeof(id));
	return n + extra;
}

/* ---- Query Config and MAC mask list (rx thread) ---- */

static void
answer_config(struct ebs_target *t, struct ebs_export *e, const struct kr_aoe_hdr *rq,
    const struct kr_aoe_cfg *c)
{
	uint8_t f[KR_AOE_CFG_LEN + KR_AOE_CFG_STR_MAX + 60];
	struct kr_aoe_hdr h = *rq;
	size_t idlen = strlen(e->volume_id);
	struct kr_aoe_cfg out = { .bufcnt = AOE_BUFCNT, .firmware = AOE_FIRMWARE,
	    .scnt = (uint8_t)atomic_load(&t->spf), .aoever = KR_AOE_VERSION, .ccmd = c->ccmd,
	    .cslen = (uint16_t)idlen, .cstr = (const uint8_t *)e->volume_id };
	bool same = c->cslen == idlen && memcmp(c->cstr, e->volume_id, idlen) == 0;

	switch (c->ccmd) {
	case KR_AOE_CCMD_READ:
		break;
	case KR_AOE_CCMD_TEST:
		if (!same)
			return;		/* r11: no answer when the string differs */
		break;
	case KR_AOE_CCMD_TEST_PREFIX:
		if (c->cslen > idlen || memcmp(c->cstr, e->volume_id, c->cslen) != 0)
			return;
		break;
	case KR_AOE_CCMD_SET:
	case KR_AOE_CCMD_FORCE_SET:
		if (!same) {
			h.flags |= KR_AOE_FLAG_ERROR;	/* the volume id stays the config */
			h.error = KR_AOE_ERR_CFG_SET;
		}
		break;
	default:
		h.flags |= KR_AOE_FLAG_ERROR;
		h.error = KR_AOE_ERR_BADARG;
		break;
	}
	h.major = e->shelf;
	h.minor = e->slot;
	memset(f, 0, 60);
	kr_aoe_put_hdr(f, &h);
	ebs_aoe_send_frame(t, f, kr_aoe_put_cfg(f, &out));
}

static void
answer_mask(struct ebs_target *t, struct ebs_export *e, struct kr_aoe_hdr *h, const uint8_t *rf,
    size_t len)
{
	uint8_t f[KR_AOE_MASK_LEN + EBS_MACS_MAX * 8 + 60];
	struct kr_aoe_mask m;
	struct kr_aoe_mask_dir d = { .dcmd = KR_AOE_DCMD_NONE };
	unsigned i;

	memset(f, 0, 60);
	if (kr_aoe_parse_mask(rf, len, &m) < 0) {
		h->flags |= KR_AOE_FLAG_ERROR;
		h->error = KR_AOE_ERR_BADARG;
		kr_aoe_put_hdr(f, h);
		ebs_aoe_send_frame(t, f, KR_AOE_HDR_LEN);
		return;
	}
	kr_aoe_put_hdr(f, h);
	if (m.mcmd == KR_AOE_MCMD_READ) {
		m.merror = 0;
		m.dircount = (uint8_t)e->nmacs;
		len = kr_aoe_put_mask(f, &m);
		for (i = 0; i < e->nmacs; i++) {
			memcpy(d.mac, e->macs[i], 6);
			len = kr_aoe_put_mask_dir(f, i, &d);
		}
	} else {
		/* Edits are refused: the list is what the CLC allowed. */
		m.merror = KR_AOE_MERR_UNSPEC;
		m.dircount = 0;
		len = kr_aoe_put_mask(f, &m);
	}
	ebs_aoe_send_frame(t, f, len);
}

/* A control frame (not ATA): answered here; every matching export answers.
 * The caller holds table_lock shared. */
static void
on_control(struct ebs_target *t, const uint8_t *f, size_t len, const struct kr_aoe_hdr *rq)
{
	struct kr_aoe_cfg c;
	int i;

	if (rq->cmd == KR_AOE_CMD_CONFIG) {
		if (kr_aoe_parse_cfg(f, len, &c) < 0)
			return;
		ebs_aoe_refresh_mtu(t);
	}
	for (i = 0; i < AOE_EXPORTS_MAX; i++) {
		struct ebs_export *e = t->exports[i];
		struct kr_aoe_hdr h = *rq;

		if (e == NULL || !ebs_aoe_mac_allowed(e, rq->src))
			continue;
		if (rq->cmd == KR_AOE_CMD_CONFIG) {
			if ((rq->major == e->shelf || rq->major == KR_AOE_MAJOR_ANY) &&
			    (rq->minor == e->slot || rq->minor == KR_AOE_MINOR_ANY)) {
				kr_aoe_hdr_reply(&h, t->mac);
				answer_config(t, e, &h, &c);
			}
			continue;
		}
		if (rq->major != e->shelf || rq->minor != e->slot)
			continue;
		kr_aoe_hdr_reply(&h, t->mac);
		if (rq->cmd == KR_AOE_CMD_MASK) {
			answer_mask(t, e, &h, f, len);
		} else {
			uint8_t out[60] = { 0 };

			h.flags |= KR_AOE_FLAG_ERROR;
			h.error = KR_AOE_ERR_BADCMD;
			kr_aoe_put_hdr(out, &h);
			ebs_aoe_send_frame(t, out, KR_AOE_HDR_LEN);
		}
	}
}

/* Parse r's header into *h: true when it is a request addressed to us
 * (or broadcast). */
static bool
for_us(struct ebs_target *t, const struct ebs_req *r, struct kr_aoe_hdr *h)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	return kr_aoe_parse_hdr(r->frame, r->len, h) == 0 && !(h->flags & KR_AOE_FLAG_RESPONSE) &&
	    (memcmp(h->dst, t->mac, 6) == 0 || memcmp(h->dst, bcast, 6) == 0);
}

/* The export an ATA request (h from for_us) is for, when its sender may
 * use it; NULL: no answer.  Caller holds table_lock. */
static struct ebs_export *
ata_export(struct ebs_target *t, const struct ebs_req *r, const struct kr_aoe_hdr *h)
{
	struct ebs_export *e;

	/* ATA only to one exact address: a broadcast read makes no sense. */
	if (h->major == KR_AOE_MAJOR_ANY || h->minor == KR_AOE_MINOR_ANY ||
	    r->len < KR_AOE_ATA_LEN)
		return NULL;
	e = ebs_aoe_find_export(t, h->major, h->minor);
	if (e == NULL || !ebs_aoe_mac_allowed(e, h->src))
		return NULL;
	return e;
}

/*
 * Serve a received frame (table_lock held shared), from the rx thread or,
 * with AOE_WAIT_ANY, a worker: control frames are answered, ATA commands
 * done at once when they need wait for nothing `wait` forbids.  The
 * answer's length (the frame became it), 0 when nothing is to be sent,
 * AOE_DEFER when a worker must do it.
 */
size_t
ebs_aoe_serve(struct ebs_target *t, struct ebs_req *r, enum ebs_aoe_wait wait)
{
	struct kr_aoe_hdr h;
	struct ebs_export *e;
	bool written = r->written;

	r->zc = NULL;
	r->zc_len = 0;
	r->written = false;
	if (!for_us(t, r, &h))
		return 0;
	if (h.cmd != KR_AOE_CMD_ATA) {
		on_control(t, r->frame, r->len, &h);
		return 0;
	}
	if ((e = ata_export(t, r, &h)) == NULL)
		return 0;
	r->written = written;
	return ebs_aoe_answer_ata(t, e, r, wait);
}

/*
 * Writes that continue each other -- an initiator's window of sequential
 * writes arrives back to back -- written with one pwritev() whose iovecs
 * point into the frames: ext4 charges its buffered-write overhead
 * (block_write_begin, block_commit_write) per call, not per byte; bench/aoe
 * measured the target's CPU per GB of page-cache writes at 0.70 instead of
 * 1.25 CPU-s.  From rs[0], the frames that are valid writes to one
 * buffered export, each starting where the one before ended, at most
 * AOE_RUN_FRAMES and AOE_RUN_BYTES; at least two, or nothing is done.
 * O_DIRECT volumes are left out: merging a worker's O_DIRECT writes, or
 * its reads into one preadv(), changed neither CPU per GB nor throughput
 * beyond the noise of a shared machine, so neither is done.  Each frame
 * is marked written, so that ebs_aoe_serve() then answers it -- after its
 * data is written, as always -- without writing it again.  Returns how
 * many frames the run holds (0 or >= 2); when `wait` forbids the write (a
 * volume paused for a snapshot) or it did not go through whole, none is
 * marked and they are served one by one as before (bytes already written
 * are written again, the same).  The caller holds table_lock (shared) from
 * here until the frames are served.
 */
unsigned
ebs_aoe_write_run(struct ebs_target *t, struct ebs_req **rs, unsigned n, enum ebs_aoe_wait wait)
{
	struct iovec iov[AOE_RUN_FRAMES];
	struct ebs_export *e = NULL;
	uint64_t lba = 0, next = 0;
	size_t bytes = 0;
	unsigned m, k;

	for (m = 0; m < n && m < AOE_RUN_FRAMES; m++) {
		struct kr_aoe_hdr h;
		struct kr_aoe_ata a;
		struct ebs_export *x;
		size_t len;

		if (!for_us(t, rs[m], &h) || h.cmd != KR_AOE_CMD_ATA ||
		    (x = ata_export(t, rs[m], &h)) == NULL || x->direct ||
		    kr_aoe_parse_ata(rs[m]->frame, rs[m]->len, &a) < 0 ||
		    (a.cmdstat != KR_ATA_WRITE && a.cmdstat != KR_ATA_WRITE_EXT) ||
		    !rw_valid(t, x, &a, true))
			break;
		len = (size_t)a.count * KR_AOE_SECTOR;
		if (m == 0) {
			e = x;
			lba = a.lba;
		} else if (x != e || a.lba != next || bytes + len > AOE_RUN_BYTES) {
			break;
		}
		next = a.lba + a.count;
		iov[m].iov_base = rs[m]->frame + KR_AOE_ATA_LEN;
		iov[m].iov_len = len;
		bytes += len;
	}
	if (m < 2)
		return 0;
	if (file_io(e, true, iov, (int)m, bytes, lba, wait) == (ssize_t)bytes)
		for (k = 0; k < m; k++)
			rs[k]->written = true;
	return m;
}
