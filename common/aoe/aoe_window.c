/*
 * aoe_window.c - the windowed request engine of the userspace AoE
 * initiator (see aoe_window.h; discovery and the public calls are in
 * aoe_initiator.c).
 *
 * The heart is run_job(): a job is a run of frames (an ATA command each)
 * over a sector range; slots[] holds the frames in flight, at most
 * `window`.  Each pass sends every frame it can in one sendmmsg(), waits in
 * poll() until the earliest retransmission deadline, then drains answers
 * with recvmmsg().  A tag is slot index (low 16 bits) and a per-slot
 * sequence (high 16): an answer to a superseded transmission is ignored, so
 * a late reply can never complete the wrong frame.
 *
 * Sector data is not copied in user space (measured: with the volume in the
 * target's page cache, memory copies are what the CPUs spend the transfer
 * on): a write's data leaves from the caller's buffer (a second iovec after
 * the headers), and a read's answer is received straight into where its
 * sectors go -- answers come back in the order the frames were sent (see
 * predict()), so each recvmmsg() message points its data iovec at the next
 * expected frame's buffer.  A wrong guess costs a copy, never correctness
 * (see recv_batch()).
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "aoe/aoe.h"
#include "aoe/aoe_window.h"
#include "core/error.h"

static void
rtt_sample(struct kr_aoe_ini *ini, uint64_t rtt)
{
	double r = (double)rtt;

	if (ini->srtt == 0) {
		ini->srtt = r;
		ini->rttvar = r / 2;
	} else {
		double d = r > ini->srtt ? r - ini->srtt : ini->srtt - r;

		ini->rttvar = 0.75 * ini->rttvar + 0.25 * d;
		ini->srtt = 0.875 * ini->srtt + 0.125 * r;
	}
	r = ini->srtt + 4 * ini->rttvar;
	ini->rto = r < RTO_MIN_US ? RTO_MIN_US : r > RTO_MAX_US ? RTO_MAX_US : (unsigned)r;
}

/* Build slot i's headers into tx[i]; returns their length.  A write's data
 * follows from s->buf (*data, *data_len), not copied. */
static size_t
build_frame(struct kr_aoe_ini *ini, unsigned i, const uint8_t **data, size_t *data_len)
{
	struct slot *s = &ini->slots[i];
	struct kr_aoe_hdr h = { .major = (uint16_t)ini->shelf, .minor = (uint8_t)ini->slot,
	    .cmd = KR_AOE_CMD_ATA, .tag = (uint32_t)s->seq << 16 | i };
	struct kr_aoe_ata a = { .count = s->count, .cmdstat = s->cmd, .lba = s->lba };
	uint8_t *f = ini->tx[i];
	size_t n;

	memcpy(h.dst, ini->target, 6);
	memcpy(h.src, ini->mac, 6);
	if (kr_aoe_ata_is_ext(s->cmd))
		a.aflags |= KR_AOE_AFLAG_EXT;
	if (s->cmd == KR_ATA_WRITE_EXT || s->cmd == KR_ATA_WRITE)
		a.aflags |= KR_AOE_AFLAG_WRITE;
	kr_aoe_put_hdr(f, &h);
	n = kr_aoe_put_ata(f, &a);
	*data = NULL;
	*data_len = 0;
	if ((a.aflags & KR_AOE_AFLAG_WRITE) && s->count > 0) {
		*data = s->buf;		/* at least a sector: no padding needed */
		*data_len = (size_t)s->count * KR_AOE_SECTOR;
		return n;
	}
	if (n < 60) {		/* Ethernet minimum, padded with zeros */
		memset(f + n, 0, 60 - n);
		n = 60;
	}
	return n;
}

struct job {
	uint8_t cmd;
	uint64_t lba;		/* next sector to issue */
	uint64_t end;		/* one past the last */
	uint8_t *buf;		/* where sector `start` goes */
	uint64_t start;
	unsigned inflight;
	bool failed;
};

/*
 * Handle one received frame; completes a slot when it answers one.  in_place:
 * the frame's data was received into this buffer (f holds the headers only,
 * len is still the whole frame's), so it need not be copied when it is the
 * answering slot's.
 */
static void
on_frame(struct kr_aoe_ini *ini, struct job *j, const uint8_t *f, size_t len, uint64_t now,
    const uint8_t *in_place)
{
	struct kr_aoe_hdr h;
	struct kr_aoe_ata a;
	struct slot *s;
	unsigned i;

	if (kr_aoe_parse_hdr(f, len, &h) < 0 || !(h.flags & KR_AOE_FLAG_RESPONSE) ||
	    h.cmd != KR_AOE_CMD_ATA || h.major != ini->shelf || h.minor != ini->slot ||
	    memcmp(h.src, ini->target, 6) != 0 || memcmp(h.dst, ini->mac, 6) != 0)
		return;
	i = h.tag & 0xffff;
	if (i >= ini->window || !ini->slots[i].busy || ini->slots[i].seq != h.tag >> 16)
		return;		/* stale (answer to a superseded transmission) or foreign */
	s = &ini->slots[i];
	if (kr_aoe_parse_ata(f, len, &a) < 0)
		return;
	if ((h.flags & KR_AOE_FLAG_ERROR) || (a.cmdstat & KR_ATA_STATUS_ERR)) {
		kr_error("InternalError", "AoE target %u.%u refused command 0x%02x at sector %llu "
		    "(AoE error %u, ATA status 0x%02x error 0x%02x)", ini->shelf, ini->slot, s->cmd,
		    (unsigned long long)s->lba, h.error, a.cmdstat, a.feature);
		j->failed = true;
	} else if (s->cmd == KR_ATA_READ_EXT || s->cmd == KR_ATA_IDENTIFY) {
		size_t want = (size_t)(s->cmd == KR_ATA_IDENTIFY ? 1 : s->count) * KR_AOE_SECTOR;

		if (a.data_len < want)
			return;	/* short answer: treat as lost, it will be resent */
		if (in_place != s->buf)
			memcpy(s->buf, a.data, want);
	}
	if (!s->resent && s->cmd != KR_ATA_FLUSH_EXT)
		rtt_sample(ini, now - s->sent_us);
	s->busy = false;
	j->inflight--;
	ini->st.frames++;
}

static int
send_slots(struct kr_aoe_ini *ini, const unsigned *idx, unsigned n)
{
	struct mmsghdr msgs[WINDOW_MAX];
	struct iovec iov[WINDOW_MAX][2];
	unsigned k, done = 0;

	memset(msgs, 0, sizeof(struct mmsghdr) * n);
	for (k = 0; k < n; k++) {
		const uint8_t *data;
		size_t data_len;

		iov[k][0].iov_base = ini->tx[idx[k]];
		iov[k][0].iov_len = build_frame(ini, idx[k], &data, &data_len);
		iov[k][1].iov_base = (void *)(uintptr_t)data;
		iov[k][1].iov_len = data_len;
		msgs[k].msg_hdr.msg_iov = iov[k];
		msgs[k].msg_hdr.msg_iovlen = data_len > 0 ? 2 : 1;
	}
	while (done < n) {
		int r = sendmmsg(ini->fd, msgs + done, n - done, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS || errno == EAGAIN) {
				/* The NIC queue is full: the frames count as sent and
				 * the retransmission timer recovers them. */
				break;
			}
			kr_error_errno("InternalError", "AoE send");
			return -1;
		}
		done += (unsigned)r;
	}
	return 0;
}

/* Slot i was just sent for the first time: its answer is expected after
 * those of the frames sent before it. */
static void
order_push(struct kr_aoe_ini *ini, unsigned i)
{
	if (ini->order_tail - ini->order_head == ORDER_CAP)
		return;		/* the oldest frame keeps getting lost: its followers are copied */
	ini->order_slot[ini->order_tail % ORDER_CAP] = (uint16_t)i;
	ini->order_seq[ini->order_tail % ORDER_CAP] = ini->slots[i].seq;
	ini->order_tail++;
}

static bool
order_live(const struct kr_aoe_ini *ini, unsigned pos)
{
	const struct slot *s = &ini->slots[ini->order_slot[pos % ORDER_CAP]];

	return s->busy && s->seq == ini->order_seq[pos % ORDER_CAP];
}

/* The slots whose answers should arrive next, at most n: the oldest frames
 * in flight, as first sent (a resent frame drops out: its answer is copied). */
static unsigned
predict(struct kr_aoe_ini *ini, unsigned *pred, unsigned n)
{
	unsigned pos, k = 0;

	while (ini->order_head != ini->order_tail && !order_live(ini, ini->order_head))
		ini->order_head++;
	for (pos = ini->order_head; pos != ini->order_tail && k < n; pos++)
		if (order_live(ini, pos))
			pred[k++] = ini->order_slot[pos % ORDER_CAP];
	return k;
}

/*
 * One recvmmsg() of answers, handled.  For a read, message k is received as
 * the headers into rx[k], the data into the buffer of the k-th predicted
 * slot, anything beyond into rx[k]'s second half.  Then, before any answer
 * is handled, every message whose tag is not its predicted slot's is put
 * back together in rx[k] (the kernel has only written, so far, and those
 * buffers belong to slots still in flight, which their own answers fill
 * again).  Only then are answers handled in order: a copy into a slot's
 * buffer is always its own, complete answer.  Returns the messages received.
 */
static unsigned
recv_batch(struct kr_aoe_ini *ini, struct job *j)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH][3];
	unsigned pred[BATCH];
	bool hit[BATCH];
	unsigned k, np = 0;
	uint64_t now;
	int r;

	if (j->cmd == KR_ATA_READ_EXT)
		np = predict(ini, pred, BATCH);
	memset(msgs, 0, sizeof(msgs));
	for (k = 0; k < BATCH; k++) {
		uint8_t *f = ini->rx[k];

		msgs[k].msg_hdr.msg_iov = iov[k];
		iov[k][0].iov_base = f;
		if (k < np) {
			size_t want = (size_t)ini->slots[pred[k]].count * KR_AOE_SECTOR;

			iov[k][0].iov_len = KR_AOE_ATA_LEN;
			iov[k][1].iov_base = ini->slots[pred[k]].buf;
			iov[k][1].iov_len = want;
			/* The same room in all as an unpredicted frame has. */
			iov[k][2].iov_base = f + KR_AOE_FRAME_MAX;
			iov[k][2].iov_len = KR_AOE_FRAME_MAX - KR_AOE_ATA_LEN - want;
			msgs[k].msg_hdr.msg_iovlen = 3;
		} else {
			iov[k][0].iov_len = KR_AOE_FRAME_MAX;
			msgs[k].msg_hdr.msg_iovlen = 1;
		}
	}
	r = recvmmsg(ini->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
	if (r <= 0)
		return 0;
	now = kr_aoe_now_us();
	for (k = 0; k < (unsigned)r; k++) {
		uint8_t *f = ini->rx[k];
		size_t len = msgs[k].msg_len, want, data, in;
		struct kr_aoe_hdr h;

		hit[k] = false;
		if (k >= np)
			continue;
		want = iov[k][1].iov_len;
		if (len >= KR_AOE_ATA_LEN + want && kr_aoe_parse_hdr(f, len, &h) == 0 &&
		    h.tag == ((uint32_t)ini->slots[pred[k]].seq << 16 | pred[k])) {
			hit[k] = true;
			continue;
		}
		data = len > KR_AOE_ATA_LEN ? len - KR_AOE_ATA_LEN : 0;
		in = data < want ? data : want;
		memcpy(f + KR_AOE_ATA_LEN, iov[k][1].iov_base, in);
		memcpy(f + KR_AOE_ATA_LEN + in, f + KR_AOE_FRAME_MAX, data - in);
	}
	for (k = 0; k < (unsigned)r; k++)
		on_frame(ini, j, ini->rx[k], msgs[k].msg_len, now,
		    hit[k] ? iov[k][1].iov_base : NULL);
	return (unsigned)r;
}

static int
run_job(struct kr_aoe_ini *ini, struct job *j)
{
	unsigned idx[WINDOW_MAX];
	unsigned i, n;
	uint64_t now, give_up = (uint64_t)ini->timeout_ms * 1000u;

	j->inflight = 0;
	j->failed = false;
	while (!j->failed && (j->lba < j->end || j->inflight > 0)) {
		uint64_t next = UINT64_MAX;
		int timeout, r;
		struct pollfd pfd = { .fd = ini->fd, .events = POLLIN };

		/* Fill free slots with new frames and resend the overdue ones. */
		now = kr_aoe_now_us();
		n = 0;
		for (i = 0; i < ini->window; i++) {
			struct slot *s = &ini->slots[i];

			if (!s->busy && j->lba < j->end) {
				uint64_t c = j->end - j->lba;

				if (c > ini->spf)
					c = ini->spf;
				s->busy = true;
				s->resent = false;
				s->seq++;
				s->cmd = j->cmd;
				s->lba = j->lba;
				s->count = (uint8_t)c;
				s->buf = j->buf + (j->lba - j->start) * KR_AOE_SECTOR;
				/* IDENTIFY carries a count of 1, as Linux's aoe driver
				 * sends it (vblade refuses 0); FLUSH carries none. */
				if (j->cmd == KR_ATA_FLUSH_EXT)
					s->count = 0;
				else if (j->cmd == KR_ATA_IDENTIFY)
					s->count = 1;
				s->sent_us = s->first_us = now;
				s->rto_us = j->cmd == KR_ATA_FLUSH_EXT ? FLUSH_RTO_US : ini->rto;
				s->deadline_us = now + s->rto_us;
				j->lba += c;
				j->inflight++;
				if (j->cmd == KR_ATA_READ_EXT)
					order_push(ini, i);
				idx[n++] = i;
			} else if (s->busy && now >= s->deadline_us) {
				if (now - s->first_us >= give_up) {
					kr_error("VolumeUnavailable", "AoE target %u.%u: no answer for "
					    "%d ms (sector %llu)", ini->shelf, ini->slot,
					    ini->timeout_ms, (unsigned long long)s->lba);
					return -1;
				}
				s->seq++;
				s->resent = true;
				{
					unsigned cap = s->cmd == KR_ATA_FLUSH_EXT ? FLUSH_RTO_MAX_US :
					    RTO_MAX_US;

					s->rto_us = s->rto_us * 2 > cap ? cap : s->rto_us * 2;
				}
				s->sent_us = now;
				s->deadline_us = now + s->rto_us;
				ini->st.retransmits++;
				idx[n++] = i;
			}
			if (s->busy && s->deadline_us < next)
				next = s->deadline_us;
		}
		if (n > 0 && send_slots(ini, idx, n) < 0)
			return -1;
		if (j->inflight == 0)
			break;
		timeout = next <= now ? 0 : (int)((next - now + 999) / 1000);
		r = poll(&pfd, 1, timeout);
		if (r < 0 && errno != EINTR) {
			kr_error_errno("InternalError", "poll");
			return -1;
		}
		if (r <= 0)
			continue;
		while (recv_batch(ini, j) == BATCH)
			;
	}
	/* A failed job may leave frames in flight: forget them (their tags go stale). */
	for (i = 0; i < ini->window; i++)
		ini->slots[i].busy = false;
	return j->failed ? -1 : 0;
}

int
kr_aoe_window_run(struct kr_aoe_ini *ini, uint8_t cmd, uint64_t lba, uint64_t count,
    void *buf)
{
	struct job j = { .cmd = cmd, .lba = lba, .end = lba + count, .buf = buf, .start = lba };

	return run_job(ini, &j);
}
