/*
 * aoe_threads.c - the AoE target's rx thread and workers: moving frames.
 *
 * See aoe_target.h for who does what.  Buffers come from a fixed pool and
 * go back to it after their answer is sent; the queue to the workers is
 * bounded by the pool.  Frames in the receive ring go back to the kernel
 * in order, once served or copied into a pool buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <poll.h>
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

static void
release(struct ebs_target *t, struct ebs_req **rs, unsigned n)
{
	unsigned i;

	pthread_mutex_lock(&t->qlock);
	for (i = 0; i < n; i++) {
		rs[i]->next = t->free_list;
		t->free_list = rs[i];
	}
	pthread_cond_signal(&t->fcond);
	pthread_mutex_unlock(&t->qlock);
}

/*
 * Send answers (at most AOE_BATCH) with one sendmmsg(): each is its header
 * (and data) in the frame, then the data in a volume's mapping if it is
 * sent from there, then zeros up to Ethernet's 60-byte minimum -- never
 * what the buffer held before (another volume's data), and never written
 * into a ring frame, whose neighbour may start right after it.  Called
 * with table_lock held when any answer points into a mapping.
 */
static void
send_batch(struct ebs_target *t, struct ebs_req **rs, unsigned n)
{
	static const uint8_t zeros[60];
	struct mmsghdr msgs[AOE_BATCH];
	struct iovec iov[AOE_BATCH][3];
	unsigned k;

	memset(msgs, 0, sizeof(msgs[0]) * n);
	for (k = 0; k < n; k++) {
		size_t total = rs[k]->len + rs[k]->zc_len;
		unsigned m = 0;

		iov[k][m].iov_base = rs[k]->frame;
		iov[k][m++].iov_len = rs[k]->len;
		if (rs[k]->zc_len > 0) {
			iov[k][m].iov_base = (void *)rs[k]->zc;
			iov[k][m++].iov_len = rs[k]->zc_len;
		}
		if (total < sizeof(zeros)) {
			iov[k][m].iov_base = (void *)zeros;
			iov[k][m++].iov_len = sizeof(zeros) - total;
		}
		msgs[k].msg_hdr.msg_iov = iov[k];
		msgs[k].msg_hdr.msg_iovlen = m;
	}
	for (k = 0; k < n;) {
		int r = sendmmsg(t->fd, msgs + k, n - k, 0);

		if (r < 0 && errno == EINTR)
			continue;
		/* A failed answer is skipped (the initiator retransmits it);
		 * the ones after it are still sent. */
		k += r > 0 ? (unsigned)r : 1;
	}
}

void *
ebs_aoe_worker_main(void *arg)
{
	struct ebs_target *t = arg;
	struct ebs_req *rs[AOE_BATCH], *out[AOE_BATCH];

	for (;;) {
		unsigned n = 0, k, nout = 0, run;

		pthread_mutex_lock(&t->qlock);
		while (t->qhead == NULL && !atomic_load(&t->stop))
			pthread_cond_wait(&t->qcond, &t->qlock);
		if (t->qhead == NULL) {
			pthread_mutex_unlock(&t->qlock);
			return NULL;
		}
		/* Take a fair share, so that one worker does not swallow a whole
		 * window of O_DIRECT reads while the others sleep. */
		{
			unsigned share = t->qlen / (unsigned)t->nworkers + 1;

			while (t->qhead && n < AOE_BATCH && n < share) {
				rs[n++] = t->qhead;
				t->qhead = t->qhead->next;
				t->qlen--;
			}
			if (t->qhead == NULL)
				t->qtail = NULL;
			else
				pthread_cond_signal(&t->qcond);
		}
		pthread_mutex_unlock(&t->qlock);

		pthread_rwlock_rdlock(&t->table_lock);
		for (k = 0, run = 0; k < n; k++) {
			/* Served from the frame again: the export may have gone (or
			 * its MAC list changed) since the frame was queued. */
			size_t len;

			if (k >= run)
				run = k + ebs_aoe_write_run(t, rs + k, n - k, AOE_WAIT_ANY);
			len = ebs_aoe_serve(t, rs[k], AOE_WAIT_ANY);

			if (len > 0 && len != AOE_DEFER) {
				rs[k]->len = len;
				out[nout++] = rs[k];
			}
		}
		pthread_rwlock_unlock(&t->table_lock);
		send_batch(t, out, nout);
		release(t, rs, n);
	}
}

static void
enqueue(struct ebs_target *t, struct ebs_req **rs, unsigned n)
{
	unsigned i;

	if (n == 0)
		return;
	pthread_mutex_lock(&t->qlock);
	for (i = 0; i < n; i++) {
		rs[i]->next = NULL;
		if (t->qtail)
			t->qtail->next = rs[i];
		else
			t->qhead = rs[i];
		t->qtail = rs[i];
		t->qlen++;
	}
	pthread_cond_signal(&t->qcond);
	pthread_mutex_unlock(&t->qlock);
}

/* Take up to `want` free buffers, waiting (bounded by `stop`) for at least one. */
static unsigned
take_buffers(struct ebs_target *t, struct ebs_req **rs, unsigned want)
{
	unsigned n = 0;

	pthread_mutex_lock(&t->qlock);
	while (t->free_list == NULL && !atomic_load(&t->stop)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&t->fcond, &t->qlock, &ts);
	}
	while (t->free_list && n < want) {
		rs[n++] = t->free_list;
		t->free_list = t->free_list->next;
	}
	pthread_mutex_unlock(&t->qlock);
	return n;
}

/*
 * A lone frame that must wait for the disk (an O_DIRECT read or write) while
 * no work is queued: handing it to a worker would add two thread wake-ups
 * to its latency, which is the whole cost at window 1 (a guest doing
 * synchronous I/O), so the rx thread does it itself.  It still hands over
 * FLUSH and writes to a volume paused for a snapshot, which can take long
 * while frames for other volumes wait.  True when the frame was dealt with.
 */
static bool
serve_lone(struct ebs_target *t, struct ebs_req *r)
{
	bool idle;
	size_t len;

	pthread_mutex_lock(&t->qlock);
	idle = t->qhead == NULL;
	pthread_mutex_unlock(&t->qlock);
	if (!idle)
		return false;
	pthread_rwlock_rdlock(&t->table_lock);
	len = ebs_aoe_serve(t, r, AOE_WAIT_DISK);
	if (len > 0 && len != AOE_DEFER) {
		r->len = len;
		send_batch(t, &r, 1);
	}
	pthread_rwlock_unlock(&t->table_lock);
	if (len == AOE_DEFER)
		return false;
	release(t, &r, 1);
	return true;
}

/*
 * Serve n pool buffers (received frames, r->len set; n <= AOE_BATCH) as
 * the rx thread does: answered at once when nothing must be waited for, a
 * lone frame that must wait for the disk done here when the workers are
 * idle, the rest queued for them.  Frames whose length is 0 are dropped.
 */
static void
serve_pool(struct ebs_target *t, struct ebs_req **rs, unsigned n)
{
	struct ebs_req *work[AOE_BATCH], *out[AOE_BATCH], *done[AOE_BATCH];
	unsigned k, nwork = 0, nout = 0, ndone = 0, got = 0, run = 0;

	pthread_rwlock_rdlock(&t->table_lock);
	for (k = 0; k < n; k++) {
		size_t len;

		if (k >= run)
			run = k + ebs_aoe_write_run(t, rs + k, n - k, AOE_WAIT_NONE);
		len = rs[k]->len > 0 ? ebs_aoe_serve(t, rs[k], AOE_WAIT_NONE) : 0;

		got += rs[k]->len > 0;
		if (len == AOE_DEFER) {
			work[nwork++] = rs[k];
		} else if (len > 0) {
			rs[k]->len = len;
			out[nout++] = rs[k];
		} else {
			done[ndone++] = rs[k];
		}
		/* Answers leave in small groups, not at the end of the
		 * batch: the initiator (another CPU) refills its window
		 * while we serve the rest. */
		if (nout >= AOE_SEND_EVERY) {
			send_batch(t, out, nout);
			release(t, out, nout);
			nout = 0;
		}
	}
	send_batch(t, out, nout);	/* before the unlock: answers may point into a mapping */
	pthread_rwlock_unlock(&t->table_lock);
	if (got == 1 && nwork == 1 && serve_lone(t, work[0]))
		nwork = 0;
	enqueue(t, work, nwork);
	release(t, out, nout);
	release(t, done, ndone);
}

/*
 * The rx thread with a receive ring: up to AOE_RING_BATCH frames served
 * where they lie, the answers sent from the ring (the header written over
 * the request), and the frames that need a pool buffer (room for a read's
 * data or IDENTIFY, or a worker) copied into one after table_lock is
 * released -- waiting for a free buffer with it held could deadlock with a
 * waiting unexport.  Then the frames go back to the kernel, in order.
 */
static void
rx_ring(struct ebs_target *t)
{
	struct ebs_req fr[AOE_RING_BATCH], *frs[AOE_RING_BATCH], *out[AOE_BATCH], *pool[AOE_BATCH];
	struct tpacket2_hdr *hs[AOE_RING_BATCH];
	unsigned defer[AOE_RING_BATCH], k;
	time_t last_mtu = time(NULL);

	memset(fr, 0, sizeof(fr));
	for (k = 0; k < AOE_RING_BATCH; k++)
		frs[k] = &fr[k];
	while (!atomic_load(&t->stop)) {
		unsigned n = 0, nout = 0, ndefer = 0, run = 0;

		if (time(NULL) != last_mtu) {	/* an admin may change the MTU at any time */
			last_mtu = time(NULL);
			ebs_aoe_refresh_mtu(t);
		}
		while (n < AOE_RING_BATCH) {
			hs[n] = ebs_aoe_ring_frame(t, (t->ring_head + n) % AOE_RING_FRAMES);
			if (!(__atomic_load_n(&hs[n]->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
				break;
			n++;
		}
		if (n == 0) {
			struct pollfd p = { .fd = t->fd, .events = POLLIN };

			(void)poll(&p, 1, 200);	/* bounded, so `stop` is seen */
			continue;
		}
		for (k = 0; k < n; k++) {
			fr[k].frame = (uint8_t *)hs[k] + hs[k]->tp_mac;
			fr[k].room = hs[k]->tp_snaplen;
			/* A truncated frame (length 0) is ignored. */
			fr[k].len = hs[k]->tp_snaplen == hs[k]->tp_len ? hs[k]->tp_snaplen : 0;
		}
		pthread_rwlock_rdlock(&t->table_lock);
		for (k = 0; k < n; k++) {
			struct ebs_req *r = &fr[k];
			size_t len = 0;

			if (k >= run)	/* sequential writes: one pwritev() */
				run = k + ebs_aoe_write_run(t, frs + k, n - k, AOE_WAIT_NONE);
			if (r->len > 0)
				len = ebs_aoe_serve(t, r, AOE_WAIT_NONE);
			if (len == AOE_DEFER) {
				defer[ndefer++] = k;
			} else if (len > 0) {
				r->len = len;
				out[nout++] = r;
			}
			if (nout >= AOE_SEND_EVERY) {
				send_batch(t, out, nout);
				nout = 0;
			}
		}
		send_batch(t, out, nout);
		pthread_rwlock_unlock(&t->table_lock);
		for (k = 0; k < ndefer;) {
			unsigned m = take_buffers(t, pool, ndefer - k < AOE_BATCH ? ndefer - k : AOE_BATCH);
			unsigned i;

			if (m == 0)
				break;		/* stopping */
			for (i = 0; i < m; i++, k++) {
				memcpy(pool[i]->frame, fr[defer[k]].frame, fr[defer[k]].len);
				pool[i]->len = fr[defer[k]].len;
				pool[i]->room = 0;
			}
			serve_pool(t, pool, m);
		}
		for (k = 0; k < n; k++)
			__atomic_store_n(&hs[k]->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		t->ring_head = (t->ring_head + n) % AOE_RING_FRAMES;
	}
}

/*
 * The rx thread: a batch in with one recvmmsg(), what can be served without
 * blocking served at once (page-cache reads and writes: no thread hand-off,
 * which is what a single-threaded vblade is good at), the answers out with
 * one sendmmsg(), and only what would block (FLUSH, disk reads, a volume
 * paused for a snapshot) queued for the workers.
 */
void *
ebs_aoe_rx_main(void *arg)
{
	struct ebs_target *t = arg;
	struct ebs_req *rs[AOE_BATCH];
	struct mmsghdr msgs[AOE_BATCH];
	struct iovec iov[AOE_BATCH];
	time_t last_mtu = time(NULL);

	if (t->ring != NULL) {
		rx_ring(t);
		return NULL;
	}
	while (!atomic_load(&t->stop)) {
		unsigned n, k;
		int r;

		if (time(NULL) != last_mtu) {	/* an admin may change the MTU at any time */
			last_mtu = time(NULL);
			ebs_aoe_refresh_mtu(t);
		}
		n = take_buffers(t, rs, AOE_BATCH);
		if (n == 0)
			continue;
		memset(msgs, 0, sizeof(msgs[0]) * n);
		for (k = 0; k < n; k++) {
			iov[k].iov_base = rs[k]->frame;
			iov[k].iov_len = KR_AOE_FRAME_MAX;
			msgs[k].msg_hdr.msg_iov = &iov[k];
			msgs[k].msg_hdr.msg_iovlen = 1;
		}
		/* Blocks for the first frame (SO_RCVTIMEO bounds it, so `stop`
		 * is seen), then takes whatever else is queued. */
		r = recvmmsg(t->fd, msgs, n, MSG_WAITFORONE, NULL);
		for (k = 0; k < n; k++) {
			bool got = r > 0 && k < (unsigned)r && !(msgs[k].msg_hdr.msg_flags & MSG_TRUNC);

			rs[k]->len = got ? msgs[k].msg_len : 0;
			rs[k]->room = 0;
		}
		/* Unreceived buffers (len 0) go straight back. */
		serve_pool(t, rs, n);
	}
	return NULL;
}
