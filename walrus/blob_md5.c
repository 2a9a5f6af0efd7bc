/*
 * blob_md5.c - the MD5 (ETag) of a blob being written, beside the writer.
 *
 * MD5 runs at about the speed the kernel copies a body into the page
 * cache, and both used to happen one after the other on the event loop:
 * a large PUT took twice as long as writing the file (bench/walrus,
 * put_ratio 0.5).  Once a blob passes HASH_THREAD_MIN bytes, a thread of
 * its own reads back what the writer has written (pread from the page
 * cache, where the bytes still are) and hashes it, so writing and hashing
 * overlap on two cores.  Memory stays one fixed buffer per thread: the
 * file is the queue between writer and hasher.  Small blobs are hashed
 * inline (a thread costs more than it saves), and at most MAX_THREADS
 * blobs have a thread at once; the others are hashed inline too.
 *
 * Every call is made from the event loop; only the thread's own loop runs
 * elsewhere.  wl_md5_final waits for the thread to catch up: the lag is
 * at most what it has not yet read, since both sides go at similar speeds.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/error.h"
#include "walrus.h"

#define HASH_THREAD_MIN (8u << 20)
#define MAX_THREADS 4
#define READ_BUF (256u << 10)

struct wl_md5 {
	EVP_MD_CTX *ctx;
	bool threaded;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd;
	uint64_t hashed;	/* bytes fed to ctx (by the thread once threaded) */
	uint64_t written;	/* bytes the writer has put in the file */
	bool finishing, abandon;
	int err;		/* errno of a failed pread, or 0 */
};

static int threads_running;	/* event loop only */

struct wl_md5 *
wl_md5_new(void)
{
	struct wl_md5 *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	if (!(m->ctx = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(m->ctx, EVP_md5(), NULL)) {
		EVP_MD_CTX_free(m->ctx);
		free(m);
		return NULL;
	}
	m->fd = -1;
	return m;
}

/* Hash [hashed, target) from the file; false on a read error (m->err set). */
static bool
hash_range(struct wl_md5 *m, unsigned char *buf, uint64_t target)
{
	while (m->hashed < target) {
		size_t want = target - m->hashed < READ_BUF ? (size_t)(target - m->hashed) : READ_BUF;
		ssize_t n = pread(m->fd, buf, want, (off_t)m->hashed);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			m->err = n < 0 ? errno : EIO;
			return false;
		}
		EVP_DigestUpdate(m->ctx, buf, (size_t)n);
		m->hashed += (uint64_t)n;
	}
	return true;
}

static void *
hasher(void *arg)
{
	struct wl_md5 *m = arg;
	unsigned char *buf = malloc(READ_BUF);
	bool ok = buf != NULL;

	if (!ok)
		m->err = ENOMEM;
	pthread_mutex_lock(&m->lock);
	while (ok) {
		uint64_t target;

		while (!m->abandon && !m->finishing && m->hashed == m->written)
			pthread_cond_wait(&m->cond, &m->lock);
		if (m->abandon || m->hashed == m->written)
			break;
		target = m->written;
		pthread_mutex_unlock(&m->lock);
		ok = hash_range(m, buf, target);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	free(buf);
	return NULL;
}

/* Hand the rest of the blob to a thread; false (keep hashing inline) if none. */
static bool
start_thread(struct wl_md5 *m, int fd)
{
	sigset_t all, old;
	int rc;

	if (threads_running >= MAX_THREADS)
		return false;
	if (pthread_mutex_init(&m->lock, NULL) != 0)
		return false;
	if (pthread_cond_init(&m->cond, NULL) != 0) {
		pthread_mutex_destroy(&m->lock);
		return false;
	}
	m->fd = fd;
	m->written = m->hashed;
	/* Signals stay with the event loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&m->thread, NULL, hasher, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&m->cond);
		pthread_mutex_destroy(&m->lock);
		return false;
	}
	m->threaded = true;
	threads_running++;
	return true;
}

void
wl_md5_update(struct wl_md5 *m, int fd, const void *data, size_t len)
{
	if (!m->threaded) {
		EVP_DigestUpdate(m->ctx, data, len);
		m->hashed += len;
		if (m->hashed >= HASH_THREAD_MIN)
			start_thread(m, fd);
		return;
	}
	pthread_mutex_lock(&m->lock);
	m->written += len;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

/* Stop the thread: once it has hashed everything (finish) or at once. */
static void
stop_thread(struct wl_md5 *m, bool finish)
{
	if (!m->threaded)
		return;
	pthread_mutex_lock(&m->lock);
	if (finish)
		m->finishing = true;
	else
		m->abandon = true;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->thread, NULL);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	m->threaded = false;
	threads_running--;
}

int
wl_md5_final(struct wl_md5 *m, unsigned char out[16])
{
	unsigned int n = 16;

	stop_thread(m, true);
	if (m->err) {
		errno = m->err;
		kr_error_errno("InternalError", "reading back an upload for its MD5");
		return -1;
	}
	if (!EVP_DigestFinal_ex(m->ctx, out, &n)) {
		kr_error("InternalError", "MD5 failed");
		return -1;
	}
	return 0;
}

void
wl_md5_free(struct wl_md5 *m)
{
	if (!m)
		return;
	stop_thread(m, false);
	EVP_MD_CTX_free(m->ctx);
	free(m);
}
