/*
 * image_cache.c - decrypted images, made once, served to every node.
 *
 * WALRUS_STORAGE_DIR/image-cache/<id>.img holds the decrypted image of one
 * bundle; <id> is a SHA-256 over the manifest's bucket, key and ETag and
 * every part's ETag, so a re-uploaded bundle is a new entry.  The first
 * request for an image that is not cached starts a decryption job writing
 * <id>.tmp; that request and any that come while the job runs (ten nodes
 * launching one image) are answered at once from the growing file, each
 * sent the bytes written so far and woken as more are (kr_httpd's growing
 * file answers).  So an image is decrypted once, and the first node does
 * not wait for the whole image before its download starts.
 *
 * The job runs on the event loop in slices (a zero timer, IMAGE_SLICE bytes
 * of a part per slice) instead of a thread: Walrus's state (sqlite, the
 * error record, kr_httpd) is single-threaded, and AES + inflate of a few
 * MiB is a few milliseconds.  Each part's SHA-1 is checked BEFORE it is
 * decrypted (a second read, from the page cache), so no byte of a tampered
 * part ever reaches a node; the tar digest and the size are checked at the
 * end, and a failure then drops the connections of those being served
 * (they see a short body) and discards the file.
 *
 * The cache is LRU-bounded by WALRUS_IMAGE_CACHE_SIZE (MiB): a hit touches
 * the file's mtime; when a job completes, the oldest entries go until the
 * total fits (the newest always stays).  An entry being read by someone
 * may be unlinked: the reader's descriptor keeps the data.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "daemon/daemon.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sizes.h"
#include "walrus.h"

#define IMAGE_SLICE (4u << 20)		/* bytes of a part per event-loop slice */
#define IO_BUF (1u << 20)

enum job_phase { PH_HASH, PH_DECRYPT };

struct waiter {
	struct wl_req *rq;
	struct wl_image_job *job;	/* NULL once the job is gone */
	struct waiter *next;
};

struct wl_image_job {
	struct walrus *w;
	struct wl_image_job *next;
	struct wl_bundle_src src;	/* owned: manifest, part blobs */
	char tmp[KR_PATH_MAX], final[KR_PATH_MAX];
	int fd;				/* the .tmp file, written */
	uint64_t written;
	size_t part;
	int part_fd;
	enum job_phase phase;
	EVP_MD_CTX *sha1;
	struct wl_unbundle *u;
	struct event *tick;
	struct waiter *waiters;
	unsigned char *buf;
};

void
wl_bundle_src_free(struct wl_bundle_src *s)
{
	wl_manifest_free(&s->m);
	free(s->blobs);
	s->blobs = NULL;
}

int
wl_image_cache_open(struct walrus *w)
{
	DIR *d;
	struct dirent *e;

	snprintf(w->image_dir, sizeof(w->image_dir), "%s/image-cache", w->storage);
	if (kr_mkdir_p(w->image_dir) < 0)
		return -1;
	if (!(d = opendir(w->image_dir))) {
		kr_error_errno("InternalError", "%s", w->image_dir);
		return -1;
	}
	/* A crash mid-decryption leaves a .tmp: never a valid image, remove it. */
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char path[1400];
		if (n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0) {
			snprintf(path, sizeof(path), "%s/%s", w->image_dir, e->d_name);
			unlink(path);
		}
	}
	closedir(d);
	return 0;
}

/* The cached image, opened (mtime touched for LRU), or -1 when not cached. */
int
wl_image_cache_lookup(struct walrus *w, const char *id)
{
	char path[KR_PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s.img", w->image_dir, id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0)
		futimens(fd, NULL);
	return fd;
}

struct entry { char name[80]; uint64_t size; struct timespec mtime; };

static int
older(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : x->mtime.tv_nsec > y->mtime.tv_nsec;
}

/* Remove the least recently used images until the cache fits; keep `keep`. */
static void
evict(struct walrus *w, const char *keep)
{
	struct entry *v = NULL, *nv;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	DIR *d = opendir(w->image_dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		struct stat st;
		if (l < 5 || l >= sizeof(v->name) || strcmp(e->d_name + l - 4, ".img") != 0 ||
		    fstatat(dirfd(d), e->d_name, &st, 0) < 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			if (!(nv = realloc(v, cap * sizeof(*v))))
				break;
			v = nv;
		}
		snprintf(v[n].name, sizeof(v[n].name), "%s", e->d_name);
		v[n].size = (uint64_t)st.st_size;
		v[n].mtime = st.st_mtim;
		total += v[n++].size;
	}
	closedir(d);
	if (v)
		qsort(v, n, sizeof(*v), older);
	for (size_t i = 0; i < n && total > w->image_cache_max; i++) {
		char path[1200];
		if (strncmp(v[i].name, keep, strlen(keep)) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", w->image_dir, v[i].name);
		if (unlink(path) == 0) {
			total -= v[i].size;
			kr_log_info("image cache: evicted %s (%llu bytes)", v[i].name,
			    (unsigned long long)v[i].size);
		}
	}
	free(v);
}

static void
job_free(struct wl_image_job *j)
{
	struct wl_image_job **pp;

	for (pp = &j->w->image_jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	for (struct waiter *x = j->waiters; x; x = x->next)
		x->job = NULL;
	if (j->tick)
		event_free(j->tick);
	if (j->fd >= 0)
		close(j->fd);
	if (j->part_fd >= 0)
		close(j->part_fd);
	EVP_MD_CTX_free(j->sha1);
	wl_unbundle_free(j->u);
	wl_bundle_src_free(&j->src);
	free(j->buf);
	free(j);
}

static void
job_fail(struct wl_image_job *j)
{
	struct waiter *x;

	kr_log_warnx("image cache: %s/%s: %s: %s", j->src.bucket, j->src.key, kr_error_code(),
	    kr_error_message());
	unlink(j->tmp);
	/* Drop those being served: a short body tells them it failed. */
	while ((x = j->waiters)) {
		j->waiters = x->next;
		x->job = NULL;
		x->next = NULL;
		kr_httpd_abort(x->rq->http);
	}
	job_free(j);
}

static void
job_done(struct wl_image_job *j)
{
	char id[80];

	if (fsync(j->fd) < 0 || rename(j->tmp, j->final) < 0) {
		kr_error_errno("InternalError", "cannot keep %s", j->final);
		job_fail(j);
		return;
	}
	kr_log_info("image cache: %s/%s decrypted (%llu bytes)", j->src.bucket, j->src.key,
	    (unsigned long long)j->written);
	snprintf(id, sizeof(id), "%s.img", j->src.id);
	evict(j->w, id);
	job_free(j);
}

static int
out_write(const void *data, size_t len, void *arg)
{
	struct wl_image_job *j = arg;
	const char *p = data;

	if (j->written + len > j->src.m.size) {
		kr_error("InvalidManifest", "the image is longer than <size>");
		return -1;
	}
	while (len > 0) {
		ssize_t n = write(j->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			kr_error_errno("InternalError", "writing %s", j->tmp);
			return -1;
		}
		p += n;
		len -= (size_t)n;
		j->written += (uint64_t)n;
	}
	return 0;
}

/* One slice of work: 1 to go on, 0 finished, -1 failed (kr_error set). */
static int
job_step(struct wl_image_job *j)
{
	const struct wl_bundle_part *bp;
	size_t done = 0;

	if (j->part == j->src.m.n_parts) {
		if (wl_unbundle_finish(j->u) < 0)
			return -1;
		if (j->written != j->src.m.size) {
			kr_error("InvalidManifest", "the image has %llu bytes, <size> says %llu",
			    (unsigned long long)j->written, (unsigned long long)j->src.m.size);
			return -1;
		}
		return 0;
	}
	bp = &j->src.m.parts[j->part];
	if (j->part_fd < 0) {
		if ((j->part_fd = wl_blob_open(j->w, j->src.blobs[j->part])) < 0)
			return -1;
		j->phase = PH_HASH;
		if (EVP_DigestInit_ex(j->sha1, EVP_sha1(), NULL) != 1) {
			kr_error("InternalError", "SHA-1 unavailable");
			return -1;
		}
	}
	while (done < IMAGE_SLICE) {
		ssize_t n = read(j->part_fd, j->buf, IO_BUF);
		if (n < 0) {
			kr_error_errno("InternalError", "reading part %s", bp->filename);
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
		if (j->phase == PH_HASH)
			EVP_DigestUpdate(j->sha1, j->buf, (size_t)n);
		else if (wl_unbundle_feed(j->u, j->buf, (size_t)n) < 0)
			return -1;
	}
	if (done >= IMAGE_SLICE)
		return 1;
	if (j->phase == PH_HASH) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		EVP_DigestFinal_ex(j->sha1, md, &mdlen);
		if (mdlen != 20 || CRYPTO_memcmp(md, bp->sha1, 20) != 0) {
			kr_error("InvalidManifest", "part %zu (%s) does not match its SHA-1 digest",
			    j->part, bp->filename);
			return -1;
		}
		j->phase = PH_DECRYPT;
		if (lseek(j->part_fd, 0, SEEK_SET) < 0) {
			kr_error_errno("InternalError", "seek");
			return -1;
		}
		return 1;
	}
	close(j->part_fd);
	j->part_fd = -1;
	j->part++;
	return 1;
}

static void
job_tick(evutil_socket_t fd, short what, void *arg)
{
	struct wl_image_job *j = arg;
	static const struct timeval now = { 0, 0 };
	int r;

	(void)fd;
	(void)what;
	kr_error_clear();
	r = job_step(j);
	if (r < 0) {
		job_fail(j);
		return;
	}
	for (struct waiter *x = j->waiters; x; x = x->next)
		kr_httpd_file_grown(x->rq->http, (off_t)j->written);
	if (r == 0)
		job_done(j);
	else
		event_add(j->tick, &now);
}

/*
 * Start decrypting src (taken over: the caller's copy is emptied) with the
 * key and IV; NULL + kr_error.
 */
struct wl_image_job *
wl_image_job_start(struct walrus *w, struct event_base *base, struct wl_bundle_src *src,
    const unsigned char key[16], const unsigned char iv[16])
{
	struct wl_image_job *j = calloc(1, sizeof(*j));
	static const struct timeval now = { 0, 0 };

	if (!j) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	j->w = w;
	j->src = *src;
	memset(src, 0, sizeof(*src));
	j->part_fd = -1;
	snprintf(j->tmp, sizeof(j->tmp), "%s/%s.tmp", w->image_dir, j->src.id);
	snprintf(j->final, sizeof(j->final), "%s/%s.img", w->image_dir, j->src.id);
	j->fd = open(j->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	j->buf = malloc(IO_BUF);
	j->sha1 = EVP_MD_CTX_new();
	j->u = wl_unbundle_new(key, iv, &j->src.m, out_write, j);
	j->tick = event_new(base, -1, 0, job_tick, j);
	if (j->fd < 0 || !j->buf || !j->sha1 || !j->u || !j->tick) {
		if (j->fd < 0)
			kr_error_errno("InternalError", "%s", j->tmp);
		else if (j->u)
			kr_error("InternalError", "out of memory");
		unlink(j->tmp);
		job_free(j);
		return NULL;
	}
	j->next = w->image_jobs;
	w->image_jobs = j;
	w->image_decryptions++;
	kr_log_info("image cache: decrypting %s/%s (%llu bytes, %zu parts) [decryption #%lu]",
	    j->src.bucket, j->src.key, (unsigned long long)j->src.m.size, j->src.m.n_parts,
	    w->image_decryptions);
	event_add(j->tick, &now);
	return j;
}

struct wl_image_job *
wl_image_job_find(struct walrus *w, const char *id)
{
	for (struct wl_image_job *j = w->image_jobs; j; j = j->next)
		if (strcmp(j->src.id, id) == 0)
			return j;
	return NULL;
}

static void
waiter_free(void *op, bool completed)
{
	struct waiter *x = op, **pp;

	(void)completed;
	if (x->job)
		for (pp = &x->job->waiters; *pp; pp = &(*pp)->next)
			if (*pp == x) {
				*pp = x->next;
				break;
			}
	free(x);
}

/*
 * Answer rq with [off, off+len) of the job's image, from its growing file
 * (status 200 or 206, headers already added); -1 + kr_error before answering.
 */
int
wl_image_job_join(struct wl_image_job *j, struct wl_req *rq, int status, uint64_t off,
    uint64_t len)
{
	struct waiter *x = calloc(1, sizeof(*x));
	int fd = open(j->tmp, O_RDONLY | O_CLOEXEC);

	if (!x || fd < 0) {
		free(x);
		if (fd >= 0)
			close(fd);
		kr_error_errno("InternalError", "opening %s", j->tmp);
		return -1;
	}
	x->rq = rq;
	x->job = j;
	x->next = j->waiters;
	j->waiters = x;
	rq->op = x;
	rq->op_free = waiter_free;
	kr_httpd_respond_growing_file(rq->http, status, "application/octet-stream",
	    strcmp(rq->http->method, "HEAD") == 0 ? (close(fd), -1) : fd, (off_t)off, (off_t)len,
	    (off_t)j->written);
	return 0;
}
