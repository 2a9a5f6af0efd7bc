/*
 * aoe_initiator.c - the userspace AoE initiator (see aoe_initiator.h).
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
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "aoe.h"
#include "aoe_initiator.h"
#include "error.h"

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

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int
kr_aoe_if_info(const char *ifname, uint8_t mac[6], int *mtu, int *ifindex)
{
	struct ifreq ifr;
	int fd, rc = -1;

	if (ifname == NULL || strlen(ifname) >= IFNAMSIZ) {
		kr_error("InvalidParameterValue", "bad interface name");
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		kr_error_errno("InternalError", "socket");
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, ifname);
	if (mac != NULL) {
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
			kr_error_errno("InvalidParameterValue", "interface %s", ifname);
			goto cleanup;
		}
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	}
	if (mtu != NULL) {
		if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
			kr_error_errno("InvalidParameterValue", "interface %s: MTU", ifname);
			goto cleanup;
		}
		*mtu = ifr.ifr_mtu;
	}
	if (ifindex != NULL) {
		if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
			kr_error_errno("InvalidParameterValue", "interface %s: index", ifname);
			goto cleanup;
		}
		*ifindex = ifr.ifr_ifindex;
	}
	rc = 0;
cleanup:
	close(fd);
	return rc;
}

static int
open_socket(struct kr_aoe_ini *ini)
{
	struct sockaddr_ll sll;
	int one = 1, bufsz = 8 << 20;

	ini->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(KR_AOE_ETHERTYPE));
	if (ini->fd < 0) {
		kr_error_errno("InternalError", "AF_PACKET socket (needs root or CAP_NET_RAW)");
		return -1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(KR_AOE_ETHERTYPE);
	sll.sll_ifindex = ini->ifindex;
	if (bind(ini->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		kr_error_errno("InternalError", "bind AF_PACKET");
		return -1;
	}
	/* A full window of jumbo answers must fit the receive queue. */
	if (setsockopt(ini->fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		(void)setsockopt(ini->fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	if (setsockopt(ini->fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		(void)setsockopt(ini->fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
#ifdef PACKET_IGNORE_OUTGOING
	(void)setsockopt(ini->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
#else
	(void)one;
#endif
	return 0;
}

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
	now = now_us();
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
		now = now_us();
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

static int
run_cmd(struct kr_aoe_ini *ini, uint8_t cmd, uint64_t lba, uint64_t count, void *buf)
{
	struct job j = { .cmd = cmd, .lba = lba, .end = lba + count, .buf = buf, .start = lba };

	return run_job(ini, &j);
}

/* Broadcast Query Config for shelf.slot until the target answers. */
static int
discover(struct kr_aoe_ini *ini)
{
	uint8_t f[KR_AOE_FRAME_MAX], r[KR_AOE_FRAME_MAX];
	struct kr_aoe_hdr h = { .major = (uint16_t)ini->shelf, .minor = (uint8_t)ini->slot,
	    .cmd = KR_AOE_CMD_CONFIG, .tag = 0x4b410000u };
	struct kr_aoe_cfg c = { .aoever = KR_AOE_VERSION, .ccmd = KR_AOE_CCMD_READ };
	uint64_t start = now_us(), give_up = (uint64_t)ini->timeout_ms * 1000u;
	size_t n;

	memset(h.dst, 0xff, 6);
	memcpy(h.src, ini->mac, 6);
	memset(f, 0, 60);
	kr_aoe_put_hdr(f, &h);
	n = kr_aoe_put_cfg(f, &c);
	while (now_us() - start < give_up) {
		struct pollfd pfd = { .fd = ini->fd, .events = POLLIN };
		uint64_t until = now_us() + 250000;

		if (send(ini->fd, f, n < 60 ? 60 : n, 0) < 0 && errno != ENOBUFS) {
			kr_error_errno("InternalError", "AoE send");
			return -1;
		}
		while (now_us() < until) {
			struct kr_aoe_hdr rh;
			struct kr_aoe_cfg rc;
			ssize_t len;

			if (poll(&pfd, 1, (int)((until - now_us()) / 1000) + 1) <= 0)
				continue;
			len = recv(ini->fd, r, sizeof(r), MSG_DONTWAIT);
			if (len <= 0 || kr_aoe_parse_hdr(r, (size_t)len, &rh) < 0 ||
			    !(rh.flags & KR_AOE_FLAG_RESPONSE) || rh.cmd != KR_AOE_CMD_CONFIG ||
			    (rh.flags & KR_AOE_FLAG_ERROR) || rh.major != ini->shelf ||
			    rh.minor != ini->slot || memcmp(rh.dst, ini->mac, 6) != 0 ||
			    kr_aoe_parse_cfg(r, (size_t)len, &rc) < 0)
				continue;
			memcpy(ini->target, rh.src, 6);
			ini->st.bufcnt = rc.bufcnt;
			ini->st.firmware = rc.firmware;
			memcpy(ini->st.config, rc.cstr, rc.cslen);
			ini->st.config[rc.cslen] = '\0';
			if (rc.bufcnt > 0 && rc.bufcnt < ini->window)
				ini->window = rc.bufcnt;
			/* scnt 0 is what old targets send; r11 reads it as "no limit
			 * given", so our MTU decides alone. */
			if (rc.scnt > 0 && rc.scnt < ini->spf)
				ini->spf = rc.scnt;
			return 0;
		}
	}
	kr_error("VolumeNotFound", "no AoE target answers for e%u.%u on %s within %d ms",
	    ini->shelf, ini->slot, ini->ifname, ini->timeout_ms);
	return -1;
}

struct kr_aoe_ini *
kr_aoe_ini_open(const struct kr_aoe_ini_opts *o)
{
	struct kr_aoe_ini *ini;
	uint8_t id[512];
	int mtu;
	unsigned i;

	if (o->shelf >= KR_AOE_MAJOR_ANY || o->slot >= KR_AOE_MINOR_ANY) {
		kr_error("InvalidParameterValue", "AoE address e%u.%u is out of range", o->shelf, o->slot);
		return NULL;
	}
	ini = calloc(1, sizeof(*ini));
	if (ini == NULL) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	ini->fd = -1;
	snprintf(ini->ifname, sizeof(ini->ifname), "%s", o->ifname ? o->ifname : "");
	ini->shelf = o->shelf;
	ini->slot = o->slot;
	ini->window = o->window == 0 ? 64 : o->window > WINDOW_MAX ? WINDOW_MAX : o->window;
	ini->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	ini->rto = RTO_INIT_US;
	for (i = 0; i < WINDOW_MAX; i++)
		if ((ini->tx[i] = calloc(1, KR_AOE_FRAME_MAX)) == NULL)
			goto oom;
	for (i = 0; i < BATCH; i++)
		if ((ini->rx[i] = malloc(2 * KR_AOE_FRAME_MAX)) == NULL)
			goto oom;
	if (kr_aoe_if_info(o->ifname, ini->mac, &mtu, &ini->ifindex) < 0 || open_socket(ini) < 0)
		goto fail;
	ini->spf = kr_aoe_sectors_per_frame(mtu);
	if (o->sectors_per_frame > 0 && o->sectors_per_frame < ini->spf)
		ini->spf = o->sectors_per_frame;
	if (ini->spf == 0) {
		kr_error("InvalidParameterValue", "MTU %d of %s is too small for AoE", mtu, o->ifname);
		goto fail;
	}
	if (discover(ini) < 0 || run_cmd(ini, KR_ATA_IDENTIFY, 0, 1, id) < 0)
		goto fail;
	for (i = 0; i < 4; i++)
		ini->sectors |= (uint64_t)(id[200 + 2 * i] | id[201 + 2 * i] << 8) << (16 * i);
	return ini;
oom:
	kr_error("InternalError", "out of memory");
fail:
	kr_aoe_ini_close(ini);
	return NULL;
}

void
kr_aoe_ini_close(struct kr_aoe_ini *ini)
{
	unsigned i;

	if (ini == NULL)
		return;
	if (ini->fd >= 0)
		close(ini->fd);
	for (i = 0; i < WINDOW_MAX; i++)
		free(ini->tx[i]);
	for (i = 0; i < BATCH; i++)
		free(ini->rx[i]);
	free(ini);
}

uint64_t
kr_aoe_ini_size(const struct kr_aoe_ini *ini)
{
	return ini->sectors * KR_AOE_SECTOR;
}

static int
check_range(const struct kr_aoe_ini *ini, size_t len, uint64_t off)
{
	uint64_t size = kr_aoe_ini_size(ini);

	if (off > size || len > size - off) {
		kr_error("InvalidParameterValue", "%zu bytes at %llu: beyond the end of the volume "
		    "(%llu bytes)", len, (unsigned long long)off, (unsigned long long)size);
		return -1;
	}
	return 0;
}

/* Sector-aligned span covering [off, off+len). */
static void
span(uint64_t off, size_t len, uint64_t *first, uint64_t *count)
{
	*first = off / KR_AOE_SECTOR;
	*count = (off + len + KR_AOE_SECTOR - 1) / KR_AOE_SECTOR - *first;
}

int
kr_aoe_ini_read(struct kr_aoe_ini *ini, void *buf, size_t len, uint64_t off)
{
	uint64_t first, count;
	uint8_t *tmp;
	int rc;

	if (check_range(ini, len, off) < 0)
		return -1;
	if (len == 0)
		return 0;
	span(off, len, &first, &count);
	if (off % KR_AOE_SECTOR == 0 && len % KR_AOE_SECTOR == 0)
		return run_cmd(ini, KR_ATA_READ_EXT, first, count, buf);
	/* Unaligned: read whole sectors aside, copy the middle out. */
	tmp = malloc(count * KR_AOE_SECTOR);
	if (tmp == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	rc = run_cmd(ini, KR_ATA_READ_EXT, first, count, tmp);
	if (rc == 0)
		memcpy(buf, tmp + (off - first * KR_AOE_SECTOR), len);
	free(tmp);
	return rc;
}

int
kr_aoe_ini_write(struct kr_aoe_ini *ini, const void *buf, size_t len, uint64_t off)
{
	uint64_t first, count;
	uint8_t *tmp;
	int rc = -1;

	if (check_range(ini, len, off) < 0)
		return -1;
	if (len == 0)
		return 0;
	span(off, len, &first, &count);
	if (off % KR_AOE_SECTOR == 0 && len % KR_AOE_SECTOR == 0)
		return run_cmd(ini, KR_ATA_WRITE_EXT, first, count, (void *)(uintptr_t)buf);
	/* Unaligned ends: read the partial first and last sectors, merge, write. */
	tmp = malloc(count * KR_AOE_SECTOR);
	if (tmp == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	if (run_cmd(ini, KR_ATA_READ_EXT, first, 1, tmp) < 0)
		goto cleanup;
	if (count > 1 && run_cmd(ini, KR_ATA_READ_EXT, first + count - 1, 1,
	    tmp + (count - 1) * KR_AOE_SECTOR) < 0)
		goto cleanup;
	memcpy(tmp + (off - first * KR_AOE_SECTOR), buf, len);
	rc = run_cmd(ini, KR_ATA_WRITE_EXT, first, count, tmp);
cleanup:
	free(tmp);
	return rc;
}

int
kr_aoe_ini_flush(struct kr_aoe_ini *ini)
{
	uint8_t dummy[KR_AOE_SECTOR];

	return run_cmd(ini, KR_ATA_FLUSH_EXT, 0, 1, dummy);
}

void
kr_aoe_ini_get_stats(const struct kr_aoe_ini *ini, struct kr_aoe_ini_stats *st)
{
	*st = ini->st;
	st->srtt_us = (unsigned)ini->srtt;
	st->rto_us = ini->rto;
	st->window = ini->window;
	st->sectors_per_frame = ini->spf;
	st->sectors = ini->sectors;
	kr_aoe_mac_format(ini->target, st->target_mac);
}
