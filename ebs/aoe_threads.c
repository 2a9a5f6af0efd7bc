/*
 * aoe_threads.c - the AoE target's rx thread and workers: moving frames.
 *
 * See aoe_target.h for who does what.  Buffers come from a fixed pool and
 * go back to it after their answer is sent; the queue to the workers is
 * bounded by the pool.
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

#include "aoe_initiator.h"
#include "aoe_target.h"
#include "error.h"
#include "log.h"

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

static void
send_batch(struct ebs_target *t, struct ebs_req **rs, unsigned n)
{
	struct mmsghdr msgs[AOE_BATCH];
	struct iovec iov[AOE_BATCH];
	unsigned k;

	memset(msgs, 0, sizeof(msgs[0]) * n);
	for (k = 0; k < n; k++) {
		ebs_aoe_pad(rs[k]);
		iov[k].iov_base = rs[k]->frame;
		iov[k].iov_len = rs[k]->len;
		msgs[k].msg_hdr.msg_iov = &iov[k];
		msgs[k].msg_hdr.msg_iovlen = 1;
	}
	for (k = 0; k < n;) {
		int r = sendmmsg(t->fd, msgs + k, n - k, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;	/* the initiator retransmits */
		}
		k += (unsigned)r;
	}
}

void *
ebs_aoe_worker_main(void *arg)
{
	struct ebs_target *t = arg;
	struct ebs_req *rs[AOE_BATCH], *out[AOE_BATCH];

	for (;;) {
		unsigned n = 0, k, nout = 0;

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
		for (k = 0; k < n; k++) {
			/* Served from the frame again: the export may have gone (or
			 * its MAC list changed) since the frame was queued. */
			size_t len = ebs_aoe_serve(t, rs[k], AOE_WAIT_ANY);

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
	pthread_rwlock_unlock(&t->table_lock);
	if (len == AOE_DEFER)
		return false;
	if (len > 0) {
		r->len = len;
		send_batch(t, &r, 1);
	}
	release(t, &r, 1);
	return true;
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
	struct ebs_req *rs[AOE_BATCH], *work[AOE_BATCH], *out[AOE_BATCH], *done[AOE_BATCH];
	struct mmsghdr msgs[AOE_BATCH];
	struct iovec iov[AOE_BATCH];
	time_t last_mtu = time(NULL);

	while (!atomic_load(&t->stop)) {
		unsigned n, k, nwork = 0, nout = 0, ndone = 0;
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
		if (r > 0)
			pthread_rwlock_rdlock(&t->table_lock);
		for (k = 0; k < n; k++) {
			size_t len = 0;

			if (r > 0 && k < (unsigned)r && !(msgs[k].msg_hdr.msg_flags & MSG_TRUNC)) {
				rs[k]->len = msgs[k].msg_len;
				len = ebs_aoe_serve(t, rs[k], AOE_WAIT_NONE);
			}
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
		if (r > 0)
			pthread_rwlock_unlock(&t->table_lock);
		send_batch(t, out, nout);
		if (r == 1 && nwork == 1 && serve_lone(t, work[0]))
			nwork = 0;
		enqueue(t, work, nwork);
		release(t, out, nout);
		release(t, done, ndone);
	}
	return NULL;
}
