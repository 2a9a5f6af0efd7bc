/*
 * image_cache.c - the node's image cache: each image fetched once, verified,
 * kept by LRU within NC_CACHE_SIZE.
 *
 * On disk, under INSTANCE_PATH/cache: <id> (the image) and <id>.sha256
 * ("<hex digest> <size>"), written after the image is complete, so an image
 * without its sidecar is a half-made download.  At start every entry is
 * re-hashed and anything that does not match is removed: a crash or a bad
 * disk cannot hand a corrupt base to a new instance.
 *
 * Single flight: the first caller for an image downloads it while the
 * others wait on a condition variable; if that download fails the waiters
 * fail with its reason instead of all retrying at once.
 *
 * Instances get the image by hard link (O(1), no copy), so eviction never
 * pulls a base from under a running instance: the inode lives on until the
 * instance's link goes.  The file's mtime is its last use, which gives the
 * LRU order back after a restart.
 *
 * The raw clone pool (raw_clone.c), when set, is told of every image that
 * becomes ready and of every one that leaves (eviction, a changed digest),
 * so an image's clones never outlive it.  Its directory (clones/) lives
 * here too and is skipped by the scan.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/id.h"
#include "core/log.h"
#include "nc.h"

#define CACHE_ENTRIES 512

enum entry_state { ENTRY_FREE, ENTRY_READY, ENTRY_FETCHING, ENTRY_FAILED };

struct entry {
	enum entry_state st;
	char id[NC_ID_MAX];
	char digest[NC_DIGEST_HEX];
	long long size;
	long long used;		/* last use, ns since the epoch (LRU order) */
	int users;		/* callers linking it right now */
	char err[KR_ERROR_MSG_MAX];
	char err_code[KR_ERROR_CODE_MAX];
};

struct nc_cache {
	char dir[NC_PATH_MAX];
	long long max_bytes;
	long long max_image;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	long downloads;
	struct nc_raw_clones *clones;	/* told of arrivals and departures */
	struct entry e[CACHE_ENTRIES];
};

static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
entry_path(const struct nc_cache *c, const char *id, const char *suffix, char *out, size_t len)
{
	return nc_path(out, len, "%s/%s%s", c->dir, id, suffix);
}

static void
entry_remove_files(const struct nc_cache *c, const char *id)
{
	char p[NC_PATH_MAX];

	if (entry_path(c, id, ".sha256", p, sizeof(p)) == 0)
		unlink(p);
	if (entry_path(c, id, "", p, sizeof(p)) == 0)
		unlink(p);
}

/* An image leaves the cache: its files, and its raw clones. */
static void
entry_drop(struct nc_cache *c, struct entry *e)
{
	nc_raw_clone_image_gone(c->clones, e->id);
	entry_remove_files(c, e->id);
	e->st = ENTRY_FREE;
}

static void
clones_tell_ready(struct nc_cache *c, const struct entry *e)
{
	char path[NC_PATH_MAX];

	if (c->clones && entry_path(c, e->id, "", path, sizeof(path)) == 0)
		nc_raw_clone_image_ready(c->clones, e->id, e->digest, path);
}

static struct entry *
find(struct nc_cache *c, const char *id)
{
	for (int i = 0; i < CACHE_ENTRIES; i++)
		if (c->e[i].st != ENTRY_FREE && strcmp(c->e[i].id, id) == 0)
			return &c->e[i];
	return NULL;
}

static struct entry *
slot(struct nc_cache *c)
{
	for (int i = 0; i < CACHE_ENTRIES; i++)
		if (c->e[i].st == ENTRY_FREE)
			return &c->e[i];
	return NULL;
}

static int
read_sidecar(const char *path, char digest[NC_DIGEST_HEX], long long *size)
{
	FILE *f = fopen(path, "re");
	char hex[NC_DIGEST_HEX + 8];
	int ok;

	if (!f)
		return -1;
	ok = fscanf(f, "%70s %lld", hex, size) == 2 && strlen(hex) == 64;
	fclose(f);
	if (!ok)
		return -1;
	memcpy(digest, hex, NC_DIGEST_HEX);
	return 0;
}

static int
write_sidecar(const struct nc_cache *c, const char *id, const char *digest, long long size)
{
	char path[NC_PATH_MAX], tmp[NC_PATH_MAX];
	FILE *f;

	if (entry_path(c, id, ".sha256", path, sizeof(path)) < 0 ||
	    entry_path(c, id, ".sha256.tmp", tmp, sizeof(tmp)) < 0)
		return -1;
	f = fopen(tmp, "we");
	if (!f || fprintf(f, "%s %lld\n", digest, size) < 0 || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		kr_error_errno("InternalError", "writing %s", tmp);
		if (f)
			fclose(f);
		unlink(tmp);
		return -1;
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		kr_error_errno("InternalError", "rename %s", tmp);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Check one cached image at start; keep it only when it verifies. */
static void
check_entry(struct nc_cache *c, const char *id)
{
	char path[NC_PATH_MAX], side[NC_PATH_MAX], want[NC_DIGEST_HEX], got[NC_DIGEST_HEX];
	long long want_size, got_size;
	struct stat st;
	struct entry *e;

	if (entry_path(c, id, "", path, sizeof(path)) < 0 ||
	    entry_path(c, id, ".sha256", side, sizeof(side)) < 0)
		return;
	if (read_sidecar(side, want, &want_size) < 0 || stat(path, &st) < 0 ||
	    st.st_size != want_size || nc_sha256_file(path, got, &got_size) < 0 ||
	    strcmp(want, got) != 0) {
		kr_log_warnx("image cache: %s does not verify, removed", id);
		entry_remove_files(c, id);
		return;
	}
	if (!(e = slot(c))) {
		entry_remove_files(c, id);
		return;
	}
	e->st = ENTRY_READY;
	snprintf(e->id, sizeof(e->id), "%.39s", id);
	memcpy(e->digest, want, NC_DIGEST_HEX);
	e->size = want_size;
	e->used = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

static int
scan(struct nc_cache *c)
{
	DIR *d = opendir(c->dir);
	struct dirent *de;
	int n = 0;

	if (!d) {
		kr_error_errno("InternalError", "cannot open %s", c->dir);
		return -1;
	}
	while ((de = readdir(d))) {
		char p[NC_PATH_MAX];

		if (de->d_type == DT_DIR)
			continue;	/* clones/ (raw_clone.c), . and .. */
		if (de->d_name[0] == '.') {
			/* .<id>.part.<n>: a download cut short */
			if (strstr(de->d_name, ".part") &&
			    nc_path(p, sizeof(p), "%s/%s", c->dir, de->d_name) == 0)
				unlink(p);
			continue;
		}
		if (kr_id_valid(de->d_name, NULL)) {
			check_entry(c, de->d_name);
			n++;
		} else if (!strstr(de->d_name, ".sha256") &&
		    nc_path(p, sizeof(p), "%s/%s", c->dir, de->d_name) == 0) {
			unlink(p);
		}
	}
	closedir(d);
	/* sidecars whose image is gone */
	d = opendir(c->dir);
	while (d && (de = readdir(d))) {
		char id[NC_ID_MAX];
		size_t l = strlen(de->d_name);

		if (l > 7 && l - 7 < sizeof(id) && strcmp(de->d_name + l - 7, ".sha256") == 0) {
			snprintf(id, sizeof(id), "%.*s", (int)(l - 7), de->d_name);
			if (!find(c, id))
				entry_remove_files(c, id);
		}
	}
	if (d)
		closedir(d);
	kr_log_info("image cache %s: %d images checked", c->dir, n);
	return 0;
}

struct nc_cache *
nc_cache_open(const char *dir, long long max_bytes, long long max_image)
{
	struct nc_cache *c = calloc(1, sizeof(*c));

	if (!c) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	c->max_bytes = max_bytes;
	c->max_image = max_image;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (scan(c) < 0) {
		nc_cache_free(c);
		return NULL;
	}
	return c;
}

void
nc_cache_free(struct nc_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}

void
nc_cache_set_clones(struct nc_cache *c, struct nc_raw_clones *p)
{
	pthread_mutex_lock(&c->lock);
	c->clones = p;
	for (int i = 0; i < CACHE_ENTRIES; i++)
		if (c->e[i].st == ENTRY_READY)
			clones_tell_ready(c, &c->e[i]);
	pthread_mutex_unlock(&c->lock);
}

long
nc_cache_downloads(struct nc_cache *c)
{
	long n;

	pthread_mutex_lock(&c->lock);
	n = c->downloads;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* Drop least recently used images not in use until the cache fits (lock held). */
static void
evict(struct nc_cache *c, const struct entry *keep)
{
	for (;;) {
		long long total = 0;
		struct entry *lru = NULL;

		for (int i = 0; i < CACHE_ENTRIES; i++) {
			struct entry *e = &c->e[i];

			if (e->st != ENTRY_READY)
				continue;
			total += e->size;
			if (e != keep && e->users == 0 && (!lru || e->used < lru->used))
				lru = e;
		}
		if (total <= c->max_bytes || !lru)
			return;
		kr_log_info("image cache: evicting %s (%lld bytes, LRU)", lru->id, lru->size);
		entry_drop(c, lru);
	}
}

/* Download into the cache (lock NOT held); 0/-1 + kr_error. */
static int
download(struct nc_cache *c, const struct nc_image_ref *img, char digest[NC_DIGEST_HEX],
    long long *size)
{
	static unsigned long seq;
	char tmp[NC_PATH_MAX], path[NC_PATH_MAX];

	if (nc_path(tmp, sizeof(tmp), "%s/.%s.part.%lu", c->dir, img->id,
	    __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED)) < 0 ||
	    entry_path(c, img->id, "", path, sizeof(path)) < 0)
		return -1;
	if (nc_fetch(img->url, tmp, c->max_image, digest, size) < 0)
		return -1;
	if (img->digest && *img->digest && strcasecmp(img->digest, digest) != 0) {
		kr_error("InvalidParameterValue", "%s: sha256 %s, expected %s", img->id, digest,
		    img->digest);
		unlink(tmp);
		return -1;
	}
	unlink(path);
	if (rename(tmp, path) < 0) {
		kr_error_errno("InternalError", "rename %s", tmp);
		unlink(tmp);
		return -1;
	}
	if (write_sidecar(c, img->id, digest, *size) < 0) {
		unlink(path);
		return -1;
	}
	return 0;
}

static int
link_to(struct nc_cache *c, struct entry *e, const char *dest)
{
	char path[NC_PATH_MAX];

	if (entry_path(c, e->id, "", path, sizeof(path)) < 0)
		return -1;
	unlink(dest);
	if (link(path, dest) < 0) {
		kr_error_errno("InternalError", "cannot link %s to %s", path, dest);
		return -1;
	}
	utimensat(AT_FDCWD, path, NULL, 0);	/* last use, for LRU after a restart */
	return 0;
}

int
nc_cache_link(struct nc_cache *c, const struct nc_image_ref *img, const char *dest)
{
	struct entry *e;
	bool waited = false;
	int rc;

	if (!kr_id_valid(img->id, NULL) || !nc_url_valid(img->url)) {
		kr_error("InvalidParameterValue", "bad image id or URL for \"%s\"", img->id);
		return -1;
	}
	pthread_mutex_lock(&c->lock);
	for (;;) {
		e = find(c, img->id);
		if (e && e->st == ENTRY_FETCHING) {
			if (!waited)
				kr_log_info("image cache: waiting for the download of %s", e->id);
			waited = true;
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		if (e && e->st == ENTRY_FAILED && waited) {
			kr_error(e->err_code, "%s", e->err);
			pthread_mutex_unlock(&c->lock);
			return -1;
		}
		if (e && e->st == ENTRY_READY && img->digest && *img->digest &&
		    strcasecmp(img->digest, e->digest) != 0) {
			if (e->users > 0) {	/* someone links the old one: let them finish */
				pthread_cond_wait(&c->cond, &c->lock);
				continue;
			}
			kr_log_info("image cache: %s changed digest, fetching again", e->id);
			entry_drop(c, e);
			e = NULL;
		}
		break;
	}
	if (e && e->st == ENTRY_READY) {
		e->users++;
		e->used = now_ns();
		pthread_mutex_unlock(&c->lock);
		rc = link_to(c, e, dest);
		pthread_mutex_lock(&c->lock);
		e->users--;
		evict(c, NULL);
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	if (!e && !(e = slot(c))) {
		pthread_mutex_unlock(&c->lock);
		kr_error("InsufficientInstanceCapacity", "image cache table full");
		return -1;
	}
	e->st = ENTRY_FETCHING;
	snprintf(e->id, sizeof(e->id), "%s", img->id);
	e->users = 1;
	pthread_mutex_unlock(&c->lock);

	kr_log_info("image cache: downloading %s", img->id);
	rc = download(c, img, e->digest, &e->size);
	pthread_mutex_lock(&c->lock);
	c->downloads++;
	if (rc < 0) {
		e->st = ENTRY_FAILED;
		snprintf(e->err, sizeof(e->err), "%s", kr_error_message());
		snprintf(e->err_code, sizeof(e->err_code), "%s", kr_error_code());
		e->users--;
	} else {
		e->st = ENTRY_READY;
		e->used = now_ns();
		kr_log_info("image cache: %s cached, %lld bytes, sha256 %s", e->id, e->size,
		    e->digest);
		clones_tell_ready(c, e);
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (rc < 0)
		return -1;
	rc = link_to(c, e, dest);
	pthread_mutex_lock(&c->lock);
	e->users--;	/* others may hold it too: never just 0 */
	evict(c, NULL);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return rc;
}
