/*
 * raw_clone.c - pre-allocated raw copies of cached images, made ahead of
 * the launches that take them.
 *
 * A standard instance's root must be made in O(1) at launch (DESIGN s. 4),
 * which without reflink means a qcow2 overlay -- measured at ~0.8x a raw
 * file's speed on 1 MiB writes and ~1.3x its CPU per GB (bench/guestio).
 * A full copy is O(size) but need not be on the launch path: a background
 * thread keeps, per cached image, up to NC_RAW_CLONES ready copies (each
 * pre-allocated with posix_fallocate, then written, never sparse), and a
 * launch takes one by rename() into its directory.  When none is ready the
 * launch makes an overlay as before: it never waits for a clone.
 *
 * On disk, in one directory (INSTANCE_PATH/cache/clones):
 *   <id>.<sha256>.<n>.raw   a complete clone of the image with that digest
 *   .<id>.<n>.tmp           one being made; renamed only when complete and
 *                           fsync'd, so a half-made clone is never taken
 * At open every temp file is removed (a crash's leftovers); complete clones
 * are kept only when their image is registered again with the same digest
 * and size, up to the limit.
 *
 * Sizes: clones are bounded by their own rule, not inside NC_CACHE_SIZE.
 * They are derived data, deletable at any moment, while the cache holds
 * downloads; sharing one budget would let clones evict images (a re-download
 * to save a copy) or images evict clones in LRU order nobody asked for.  So
 * a clone exists only for an image in the cache (it goes when the image is
 * evicted), at most NC_RAW_CLONES per image, and only while the file system
 * keeps at least the clone's size and 5% of itself free after it: clone
 * space is at most NC_RAW_CLONES x NC_CACHE_SIZE, and never the space an
 * instance's own disks need.
 *
 * One thread makes the clones, one at a time, at idle I/O priority; the
 * pool's mutex is never held across I/O, so a launch taking a clone waits
 * for nothing but a rename.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "nc.h"

#define CLONE_IMAGES 256	/* images tracked; more are not cloned */
#define CLONES_MAX 8		/* NC_RAW_CLONES' upper bound */
#define MIB (1024LL * 1024)

struct pool_image {
	bool used;
	char id[NC_ID_MAX];
	char digest[NC_DIGEST_HEX];
	char base[NC_PATH_MAX];
	long long size;		/* of each clone: the base rounded up to a MiB */
	unsigned gen;		/* changes when the image is dropped or replaced */
	bool failed;		/* the last attempt failed: wait for a change */
	int nready;
	unsigned ready[CLONES_MAX];	/* sequence numbers of the ready clones */
};

struct nc_raw_clones {
	char dir[NC_PATH_MAX];
	int per_image;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* work to do, or a clone became ready */
	pthread_t thread;
	bool started, stop;
	unsigned seq, gen;
	long made;
	struct pool_image img[CLONE_IMAGES];
};

static int
clone_path(const struct nc_raw_clones *p, const struct pool_image *im, unsigned n, char *out,
    size_t len)
{
	return nc_path(out, len, "%s/%s.%s.%u.raw", p->dir, im->id, im->digest, n);
}

static struct pool_image *
find(struct nc_raw_clones *p, const char *id)
{
	for (int i = 0; i < CLONE_IMAGES; i++)
		if (p->img[i].used && strcmp(p->img[i].id, id) == 0)
			return &p->img[i];
	return NULL;
}

/* Remove every ready clone of an image (lock held). */
static void
drop_ready(struct nc_raw_clones *p, struct pool_image *im)
{
	char path[NC_PATH_MAX];

	for (int i = 0; i < im->nready; i++)
		if (clone_path(p, im, im->ready[i], path, sizeof(path)) == 0 && unlink(path) < 0 &&
		    errno != ENOENT)
			kr_log_warn("raw clones: cannot remove %s", path);
	im->nready = 0;
}

/* Would a clone of `size` bytes leave the file system enough room? */
static bool
room_for(const char *dir, long long size)
{
	struct statvfs vs;
	long long avail, total;

	if (statvfs(dir, &vs) < 0)
		return false;
	avail = (long long)vs.f_bavail * (long long)vs.f_frsize;
	total = (long long)vs.f_blocks * (long long)vs.f_frsize;
	return avail - size >= size && avail - size >= total / 20;
}

/* An image that wants a clone (lock held), NULL: none. */
static struct pool_image *
wanting(struct nc_raw_clones *p)
{
	for (int i = 0; i < CLONE_IMAGES; i++) {
		struct pool_image *im = &p->img[i];

		if (im->used && !im->failed && im->nready < p->per_image)
			return im;
	}
	return NULL;
}

/* Lowest I/O priority for this thread: a launch's own I/O goes first
 * (takes effect under the bfq scheduler; harmless elsewhere). */
static void
idle_io(void)
{
#ifdef SYS_ioprio_set
	syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0 /* this thread */,
	    3 << 13 /* IOPRIO_CLASS_IDLE */);
#endif
}

static void *
worker(void *arg)
{
	struct nc_raw_clones *p = arg;

	idle_io();
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct pool_image *im = wanting(p), snap;
		char tmp[NC_PATH_MAX], path[NC_PATH_MAX];
		unsigned n;
		int rc = -1;

		if (!im) {
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		snap = *im;
		n = ++p->seq;
		pthread_mutex_unlock(&p->lock);

		if (nc_path(tmp, sizeof(tmp), "%s/.%s.%u.tmp", p->dir, snap.id, n) == 0) {
			if (!room_for(p->dir, snap.size))
				kr_error("InsufficientInstanceCapacity",
				    "not enough free space for a %lld-byte clone", snap.size);
			else if (nc_disk_prealloc(tmp, snap.size) == 0)
				rc = nc_disk_copy(snap.base, tmp);
		}
		pthread_mutex_lock(&p->lock);
		im = find(p, snap.id);
		if (rc == 0 && (!im || im->gen != snap.gen)) {
			kr_log_info("raw clone of %s dropped: the image left the cache", snap.id);
			rc = 1;
		} else if (rc == 0 && (clone_path(p, im, n, path, sizeof(path)) < 0 ||
		    rename(tmp, path) < 0)) {
			kr_error_errno("InternalError", "rename %s", tmp);
			rc = -1;
		}
		if (rc != 0)
			unlink(tmp);
		if (rc < 0) {
			kr_log_warnx("raw clone of %s not made: %s", snap.id, kr_error_message());
			if (im && im->gen == snap.gen)
				im->failed = true;
		} else if (rc == 0) {
			im->ready[im->nready++] = n;
			p->made++;
			kr_log_info("raw clone of %s ready (%d of %d, %lld bytes)", im->id, im->nready,
			    p->per_image, im->size);
			pthread_cond_broadcast(&p->cond);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Remove what a crash left: temp files, and anything not named like a clone. */
static void
clean_dir(struct nc_raw_clones *p)
{
	DIR *d = opendir(p->dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char path[NC_PATH_MAX];
		size_t l = strlen(de->d_name);

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (p->per_image > 0 && de->d_name[0] != '.' && l > 4 &&
		    strcmp(de->d_name + l - 4, ".raw") == 0)
			continue;	/* complete: kept if its image comes back */
		if (nc_path(path, sizeof(path), "%s/%s", p->dir, de->d_name) == 0 &&
		    unlink(path) == 0)
			kr_log_info("raw clones: removed leftover %s", de->d_name);
	}
	if (d)
		closedir(d);
}

struct nc_raw_clones *
nc_raw_clone_open(const char *dir, int per_image)
{
	struct nc_raw_clones *p;

	if (per_image < 0 || per_image > CLONES_MAX) {
		kr_error("InvalidParameterValue", "NC_RAW_CLONES: %d is not in 0..%d", per_image,
		    CLONES_MAX);
		return NULL;
	}
	if (!(p = calloc(1, sizeof(*p)))) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	p->per_image = per_image;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		kr_error_errno("InternalError", "cannot create %s", dir);
		nc_raw_clone_close(p);
		return NULL;
	}
	clean_dir(p);
	return p;
}

int
nc_raw_clone_start(struct nc_raw_clones *p)
{
	DIR *d;
	struct dirent *de;
	int err;

	if (!p || p->per_image == 0 || p->started)
		return 0;
	/* complete clones of images that came back with the same digest */
	pthread_mutex_lock(&p->lock);
	d = opendir(p->dir);
	while (d && (de = readdir(d))) {
		char id[NC_ID_MAX], digest[NC_DIGEST_HEX], path[NC_PATH_MAX];
		struct pool_image *im;
		struct stat st;
		unsigned n;
		int end = 0;

		if (de->d_name[0] == '.' ||
		    nc_path(path, sizeof(path), "%s/%s", p->dir, de->d_name) < 0)
			continue;
		if (sscanf(de->d_name, "%39[^.].%64[0-9a-f].%u.raw%n", id, digest, &n, &end) != 3 ||
		    de->d_name[end] != '\0' || !(im = find(p, id)) ||
		    strcmp(im->digest, digest) != 0 || im->nready >= p->per_image ||
		    stat(path, &st) < 0 || st.st_size != im->size) {
			unlink(path);
			continue;
		}
		im->ready[im->nready++] = n;
		if (n > p->seq)
			p->seq = n;
		kr_log_info("raw clone of %s ready (kept from before, %d of %d)", id, im->nready,
		    p->per_image);
	}
	if (d)
		closedir(d);
	pthread_mutex_unlock(&p->lock);
	err = pthread_create(&p->thread, NULL, worker, p);
	if (err) {
		errno = err;
		kr_error_errno("InternalError", "cannot start the raw clone thread");
		return -1;
	}
	p->started = true;
	return 0;
}

void
nc_raw_clone_close(struct nc_raw_clones *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
	}
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

void
nc_raw_clone_image_ready(struct nc_raw_clones *p, const char *id, const char *digest,
    const char *base)
{
	struct pool_image *im;
	const char *fmt;
	struct stat st;

	/* machine images only: kernels and ramdisks are never a root disk */
	if (!p || p->per_image == 0 || strncmp(id, "emi-", 4) != 0)
		return;
	if (!(fmt = nc_disk_format(base)) || strcmp(fmt, "raw") != 0 || stat(base, &st) < 0) {
		kr_log_info("raw clones: %s is not a raw image, none made", id);
		return;
	}
	pthread_mutex_lock(&p->lock);
	im = find(p, id);
	if (im && strcmp(im->digest, digest) != 0) {
		drop_ready(p, im);
		im->used = false;
		im = NULL;
	}
	if (!im) {
		for (int i = 0; i < CLONE_IMAGES && !im; i++)
			if (!p->img[i].used)
				im = &p->img[i];
		if (im) {
			memset(im, 0, sizeof(*im));
			im->used = true;
			im->gen = ++p->gen;
			snprintf(im->id, sizeof(im->id), "%s", id);
			snprintf(im->digest, sizeof(im->digest), "%s", digest);
			snprintf(im->base, sizeof(im->base), "%s", base);
			im->size = (st.st_size + MIB - 1) / MIB * MIB;
		}
	}
	if (im)
		im->failed = false;	/* something changed: worth another try */
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void
nc_raw_clone_image_gone(struct nc_raw_clones *p, const char *id)
{
	struct pool_image *im;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if ((im = find(p, id))) {
		if (im->nready)
			kr_log_info("raw clones: %s left the cache, its %d clone(s) removed", id,
			    im->nready);
		drop_ready(p, im);
		im->used = false;
		im->gen = 0;
	}
	pthread_mutex_unlock(&p->lock);
}

/* The image, when the digest asked for (if any) is the one cloned. */
static struct pool_image *
match(struct nc_raw_clones *p, const char *id, const char *digest)
{
	struct pool_image *im = find(p, id);

	if (im && digest && *digest && strcasecmp(digest, im->digest) != 0)
		return NULL;
	return im;
}

bool
nc_raw_clone_ready(struct nc_raw_clones *p, const char *id, const char *digest)
{
	struct pool_image *im;
	bool ready;

	if (!p)
		return false;
	pthread_mutex_lock(&p->lock);
	im = match(p, id, digest);
	ready = im && im->nready > 0;
	pthread_mutex_unlock(&p->lock);
	return ready;
}

int
nc_raw_clone_take(struct nc_raw_clones *p, const char *id, const char *digest, char *out,
    size_t len)
{
	struct pool_image *im;
	int rc = 1;

	if (!p)
		return 1;
	pthread_mutex_lock(&p->lock);
	im = match(p, id, digest);
	if (im && im->nready > 0) {
		/* the oldest first; the file stays where it is until the
		 * launch renames it: a restart before that finds it complete */
		rc = clone_path(p, im, im->ready[0], out, len);
		if (rc == 0) {
			memmove(im->ready, im->ready + 1, (size_t)(im->nready - 1) * sizeof(im->ready[0]));
			im->nready--;
			im->failed = false;
			pthread_cond_broadcast(&p->cond);	/* make its replacement */
		}
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void
nc_raw_clone_discard(const char *path)
{
	if (path && *path && unlink(path) < 0 && errno != ENOENT)
		kr_log_warn("raw clones: cannot remove %s", path);
}

int
nc_raw_clone_count(struct nc_raw_clones *p, const char *id)
{
	struct pool_image *im;
	int n;

	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	im = find(p, id);
	n = im ? im->nready : 0;
	pthread_mutex_unlock(&p->lock);
	return n;
}

int
nc_raw_clone_wait(struct nc_raw_clones *p, const char *id, int n, int timeout_s)
{
	struct timespec deadline;
	struct pool_image *im;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_s;
	pthread_mutex_lock(&p->lock);
	while (!((im = find(p, id)) && im->nready >= n) && rc == 0)
		rc = pthread_cond_timedwait(&p->cond, &p->lock, &deadline);
	pthread_mutex_unlock(&p->lock);
	return rc == 0 ? 0 : -1;
}
