/*
 * image_cache-test.c - the image cache against a small HTTP server in a
 * thread: one download however many callers ask at once, waiters share a
 * failure, LRU eviction that never takes an image in use, digests checked
 * on download and again when the cache is opened.
 *
 * The server answers GET /<name> with MIB bytes derived from the name
 * (404 for "missing"), after a short delay so that callers overlap.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/check_run.h"
#include "core/error.h"
#include "nc.h"

#define MIB (1024 * 1024)

static int port;
static int hits[4];		/* GETs of /a /b /c /missing */
static pthread_mutex_t hits_lock = PTHREAD_MUTEX_INITIALIZER;
static char dir[256];

static void *
serve_one(void *arg)
{
	int fd = (int)(long)arg, idx;
	char req[2048], path[64] = "", head[256];
	ssize_t n = 0, r;
	char *body;

	while (n < (ssize_t)sizeof(req) - 1 && (r = read(fd, req + n, sizeof(req) - 1 - (size_t)n)) > 0) {
		n += r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	sscanf(req, "GET /%63s", path);
	idx = strcmp(path, "a") == 0 ? 0 : strcmp(path, "b") == 0 ? 1 : strcmp(path, "c") == 0 ? 2 : 3;
	pthread_mutex_lock(&hits_lock);
	hits[idx]++;
	pthread_mutex_unlock(&hits_lock);
	usleep(200 * 1000);
	if (idx == 3) {
		snprintf(head, sizeof(head), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
		    "Connection: close\r\n\r\n");
		(void)!write(fd, head, strlen(head));
	} else {
		body = malloc(MIB);
		memset(body, 'a' + idx, MIB);
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
		    "Connection: close\r\n\r\n", MIB);
		(void)!write(fd, head, strlen(head));
		for (size_t off = 0; off < MIB;) {
			ssize_t w = write(fd, body + off, MIB - off);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
		free(body);
	}
	close(fd);
	return NULL;
}

static void *
server(void *arg)
{
	int ls = (int)(long)arg;

	for (;;) {
		int fd = accept(ls, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			continue;
		pthread_create(&t, NULL, serve_one, (void *)(long)fd);
		pthread_detach(t);
	}
	return NULL;
}

static void
start_server(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	pthread_t t;

	ck_assert_int_ge(ls, 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(ls, 64), 0);
	getsockname(ls, (struct sockaddr *)&a, &l);
	port = ntohs(a.sin_port);
	pthread_create(&t, NULL, server, (void *)(long)ls);
	pthread_detach(t);
}

static void
setup(void)
{
	char cmd[300];

	if (!port) {
		signal(SIGPIPE, SIG_IGN);	/* the client may hang up mid-body */
		start_server();
		nc_fetch_global_init();
	}
	memset(hits, 0, sizeof(hits));
	snprintf(dir, sizeof(dir), "/tmp/nc-cache-test.%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "%s/cache", dir);
	mkdir(dir, 0700);
	mkdir(cmd, 0700);
}

static void
teardown(void)
{
	/* the test made a few flat files: remove them without a shell */
	char p[512];

	for (int i = 0; i < 16; i++) {
		snprintf(p, sizeof(p), "%s/dest%d", dir, i);
		unlink(p);
	}
	for (const char *const *n = (const char *const[]){ "emi-0000000a", "emi-0000000b",
	    "emi-0000000c", "emi-0000000d", NULL }; *n; n++) {
		snprintf(p, sizeof(p), "%s/cache/%s", dir, *n);
		unlink(p);
		snprintf(p, sizeof(p), "%s/cache/%s.sha256", dir, *n);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/cache", dir);
	rmdir(p);
	rmdir(dir);
}

struct job {
	struct nc_cache *c;
	const char *id, *name, *digest;
	int n;
	int rc;
	char err[256];
};

static void *
link_job(void *arg)
{
	struct job *j = arg;
	char url[128], dest[512];
	struct nc_image_ref img;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", port, j->name);
	snprintf(dest, sizeof(dest), "%s/dest%d", dir, j->n);
	img = (struct nc_image_ref){ j->id, url, j->digest };
	j->rc = nc_cache_link(j->c, &img, dest);
	snprintf(j->err, sizeof(j->err), "%s", kr_error_message());
	return NULL;
}

/* n callers at once; returns how many succeeded. */
static int
link_many(struct nc_cache *c, const char *id, const char *name, int first, int n, struct job *jobs)
{
	pthread_t t[16];
	int ok = 0;

	for (int i = 0; i < n; i++) {
		jobs[i] = (struct job){ .c = c, .id = id, .name = name, .n = first + i };
		pthread_create(&t[i], NULL, link_job, &jobs[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		ok += jobs[i].rc == 0;
	}
	return ok;
}

static bool
cached(const char *id)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/cache/%s", dir, id);
	return stat(p, &st) == 0;
}

START_TEST(one_download_for_many_callers)
{
	char p[512];
	struct nc_cache *c;
	struct job jobs[8];
	struct stat a, b;

	snprintf(p, sizeof(p), "%s/cache", dir);
	c = nc_cache_open(p, 10LL * MIB, 4LL * MIB);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(link_many(c, "emi-0000000a", "a", 0, 8, jobs), 8);
	ck_assert_int_eq(hits[0], 1);
	ck_assert_int_eq(nc_cache_downloads(c), 1);
	/* every caller got the same file, by hard link */
	snprintf(p, sizeof(p), "%s/dest0", dir);
	stat(p, &a);
	snprintf(p, sizeof(p), "%s/dest7", dir);
	stat(p, &b);
	ck_assert_int_eq(a.st_ino, b.st_ino);
	ck_assert_int_eq(a.st_size, MIB);
	nc_cache_free(c);
}
END_TEST

START_TEST(lru_never_takes_what_is_in_use_and_counts_users_right)
{
	char p[512];
	struct nc_cache *c;
	struct job jobs[8];

	snprintf(p, sizeof(p), "%s/cache", dir);
	c = nc_cache_open(p, 2LL * MIB + MIB / 2, 4LL * MIB);
	/* several callers share a's download (the users count must come back
	 * to zero, or a could never be evicted), then b and c arrive */
	ck_assert_int_eq(link_many(c, "emi-0000000a", "a", 0, 4, jobs), 4);
	ck_assert_int_eq(link_many(c, "emi-0000000b", "b", 4, 1, jobs), 1);
	ck_assert(cached("emi-0000000a") && cached("emi-0000000b"));
	ck_assert_int_eq(link_many(c, "emi-0000000c", "c", 5, 1, jobs), 1);
	ck_assert_msg(!cached("emi-0000000a"), "the least recently used image stays");
	ck_assert(cached("emi-0000000b") && cached("emi-0000000c"));
	/* instances keep their links */
	snprintf(p, sizeof(p), "%s/dest0", dir);
	ck_assert_int_eq(access(p, R_OK), 0);
	/* using b again makes c the oldest */
	ck_assert_int_eq(link_many(c, "emi-0000000b", "b", 6, 1, jobs), 1);
	ck_assert_int_eq(hits[1], 1);
	ck_assert_int_eq(link_many(c, "emi-0000000a", "a", 7, 1, jobs), 1);
	ck_assert(!cached("emi-0000000c") && cached("emi-0000000b") && cached("emi-0000000a"));
	nc_cache_free(c);
}
END_TEST

START_TEST(waiters_share_a_failure)
{
	char p[512];
	struct nc_cache *c;
	struct job jobs[4];

	snprintf(p, sizeof(p), "%s/cache", dir);
	c = nc_cache_open(p, 10LL * MIB, 4LL * MIB);
	ck_assert_int_eq(link_many(c, "emi-0000000d", "missing", 0, 4, jobs), 0);
	ck_assert_int_eq(hits[3], 1);
	for (int i = 0; i < 4; i++)
		ck_assert_msg(strstr(jobs[i].err, "404"), "%s", jobs[i].err);
	ck_assert(!cached("emi-0000000d"));
	nc_cache_free(c);
}
END_TEST

START_TEST(digests_checked_on_download_and_at_open)
{
	char p[512], url[128], dest[512];
	struct nc_cache *c;
	struct nc_image_ref img;
	FILE *f;

	snprintf(p, sizeof(p), "%s/cache", dir);
	c = nc_cache_open(p, 10LL * MIB, 4LL * MIB);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/a", port);
	snprintf(dest, sizeof(dest), "%s/dest0", dir);
	img = (struct nc_image_ref){ "emi-0000000a", url,
		"0000000000000000000000000000000000000000000000000000000000000000" };
	ck_assert_int_eq(nc_cache_link(c, &img, dest), -1);
	ck_assert_msg(strstr(kr_error_message(), "sha256"), "%s", kr_error_message());
	ck_assert(!cached("emi-0000000a"));
	img.digest = NULL;
	ck_assert_int_eq(nc_cache_link(c, &img, dest), 0);
	img.id = "emi-0000000b";
	ck_assert_int_eq(nc_cache_link(c, &img, dest), 0);
	nc_cache_free(c);
	/* a bit flips in a's cached copy: the next open drops a, keeps b */
	snprintf(p, sizeof(p), "%s/cache/emi-0000000a", dir);
	unlink(dest);		/* the link shares the inode: break it first */
	f = fopen(p, "r+");
	ck_assert_ptr_nonnull(f);
	fputc('z', f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/cache", dir);
	c = nc_cache_open(p, 10LL * MIB, 4LL * MIB);
	ck_assert(!cached("emi-0000000a") && cached("emi-0000000b"));
	nc_cache_free(c);
}
END_TEST

START_TEST(size_limit_enforced)
{
	char p[512], url[128], dest[512];
	struct nc_cache *c;
	struct nc_image_ref img;

	snprintf(p, sizeof(p), "%s/cache", dir);
	c = nc_cache_open(p, 10LL * MIB, MIB / 2);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/a", port);
	snprintf(dest, sizeof(dest), "%s/dest0", dir);
	img = (struct nc_image_ref){ "emi-0000000a", url, NULL };
	ck_assert_int_eq(nc_cache_link(c, &img, dest), -1);
	ck_assert_msg(strstr(kr_error_message(), "larger than"), "%s", kr_error_message());
	img.url = "file:///etc/passwd";
	ck_assert_int_eq(nc_cache_link(c, &img, dest), -1);
	nc_cache_free(c);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("image_cache", &tc);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, one_download_for_many_callers);
	tcase_add_test(tc, lru_never_takes_what_is_in_use_and_counts_users_right);
	tcase_add_test(tc, waiters_share_a_failure);
	tcase_add_test(tc, digests_checked_on_download_and_at_open);
	tcase_add_test(tc, size_limit_enforced);
	return kr_check_run(s);
}
