/*
 * raw_clone-test.c - the raw clone pool in a temp dir: clones made in the
 * background, complete and pre-allocated; taken once each, however many
 * threads ask; gone with their image; a crash's half-made files removed
 * and complete ones kept across a reopen.  And the reflink probe and
 * clone, on whatever file system the test runs (ext4: the probe says no;
 * KARRI_TEST_DIR=<a dir on XFS> runs it all there, where it says yes).
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/check_run.h"
#include "core/error.h"
#include "nc.h"

#define MIB (1024LL * 1024)
#define BASE_SIZE (3 * MIB + 5)		/* clones round it up to 4 MiB */
#define D1 "1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "2222222222222222222222222222222222222222222222222222222222222222"

static char top[256], clones[300], base[300];

static void
write_file(const char *path, long long size, int seed)
{
	FILE *f = fopen(path, "we");

	ck_assert_ptr_nonnull(f);
	for (long long i = 0; i < size; i++)
		fputc((int)((i * 7 + seed) & 0xff), f);
	ck_assert_int_eq(fclose(f), 0);
}

static void
setup(void)
{
	const char *in = getenv("KARRI_TEST_DIR");

	snprintf(top, sizeof(top), "%s/karri-raw-clone-XXXXXX", in && *in ? in : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(clones, sizeof(clones), "%s/clones", top);
	snprintf(base, sizeof(base), "%s/emi-00000001", top);
	write_file(base, BASE_SIZE, 1);
}

static void
rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char p[600];

		if (de->d_name[0] == '.' && (!de->d_name[1] || strcmp(de->d_name, "..") == 0))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			rm_tree(p);
		else
			unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static void
teardown(void)
{
	rm_tree(top);
}

/* Files in the clones dir: all, and those whose name starts with '.'. */
static int
count_files(int *hidden)
{
	DIR *d = opendir(clones);
	struct dirent *de;
	int n = 0;

	*hidden = 0;
	while (d && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		n++;
		if (de->d_name[0] == '.')
			(*hidden)++;
	}
	if (d)
		closedir(d);
	return n;
}

/* The clone holds the base, then zeros, 4 MiB, every block allocated. */
static void
check_clone(const char *path)
{
	struct stat st;
	FILE *f = fopen(path, "re");
	long long i;
	int c;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 4 * MIB);
	ck_assert_msg((long long)st.st_blocks * 512 >= 4 * MIB, "clone is sparse: %lld blocks",
	    (long long)st.st_blocks);
	for (i = 0; (c = fgetc(f)) != EOF; i++) {
		int want = i < BASE_SIZE ? (int)((i * 7 + 1) & 0xff) : 0;

		if (c != want)
			break;
	}
	fclose(f);
	ck_assert_int_eq(i, 4 * MIB);
}

START_TEST(made_in_background_and_taken_once)
{
	struct nc_raw_clones *p = nc_raw_clone_open(clones, 1);
	char a[NC_PATH_MAX], b[NC_PATH_MAX];
	int hidden;

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(nc_raw_clone_start(p), 0);
	ck_assert(!nc_raw_clone_ready(p, "emi-00000001", NULL));
	ck_assert_int_eq(nc_raw_clone_take(p, "emi-00000001", NULL, a, sizeof(a)), 1);
	nc_raw_clone_image_ready(p, "emi-00000001", D1, base);
	ck_assert_int_eq(nc_raw_clone_wait(p, "emi-00000001", 1, 30), 0);
	ck_assert(nc_raw_clone_ready(p, "emi-00000001", ""));
	ck_assert(nc_raw_clone_ready(p, "emi-00000001", D1));
	ck_assert(!nc_raw_clone_ready(p, "emi-00000001", D2));	/* another content */
	ck_assert_int_eq(nc_raw_clone_take(p, "emi-00000001", D2, a, sizeof(a)), 1);
	ck_assert_int_eq(nc_raw_clone_take(p, "emi-00000001", D1, a, sizeof(a)), 0);
	check_clone(a);
	/* the one taken is the launch's; the pool makes its replacement */
	ck_assert_int_eq(nc_raw_clone_wait(p, "emi-00000001", 1, 30), 0);
	ck_assert_int_eq(nc_raw_clone_take(p, "emi-00000001", NULL, b, sizeof(b)), 0);
	ck_assert_str_ne(a, b);
	check_clone(b);
	nc_raw_clone_discard(a);
	nc_raw_clone_discard(b);
	ck_assert_int_eq(nc_raw_clone_wait(p, "emi-00000001", 1, 30), 0);
	nc_raw_clone_close(p);
	/* one complete clone, nothing half-made */
	ck_assert_int_eq(count_files(&hidden), 1);
	ck_assert_int_eq(hidden, 0);
}
END_TEST

struct taker {
	struct nc_raw_clones *p;
	char path[NC_PATH_MAX];
	int rc;
};

static void *
take_one(void *arg)
{
	struct taker *t = arg;

	t->rc = nc_raw_clone_take(t->p, "emi-00000001", NULL, t->path, sizeof(t->path));
	return NULL;
}

START_TEST(concurrent_takers_never_share)
{
	struct nc_raw_clones *p = nc_raw_clone_open(clones, 3);
	struct taker t[8];
	pthread_t th[8];
	int got = 0;

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(nc_raw_clone_start(p), 0);
	nc_raw_clone_image_ready(p, "emi-00000001", D1, base);
	ck_assert_int_eq(nc_raw_clone_wait(p, "emi-00000001", 3, 60), 0);
	for (int i = 0; i < 8; i++) {
		t[i].p = p;
		ck_assert_int_eq(pthread_create(&th[i], NULL, take_one, &t[i]), 0);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 8; i++) {
		if (t[i].rc != 0)
			continue;
		got++;
		for (int j = 0; j < i; j++)
			ck_assert(t[j].rc != 0 || strcmp(t[i].path, t[j].path) != 0);
	}
	/* three were ready; the worker may have finished a fourth meanwhile */
	ck_assert_int_ge(got, 3);
	ck_assert_int_le(got, 5);
	nc_raw_clone_close(p);
}
END_TEST

START_TEST(gone_with_the_image)
{
	struct nc_raw_clones *p = nc_raw_clone_open(clones, 2);
	int hidden;

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(nc_raw_clone_start(p), 0);
	nc_raw_clone_image_ready(p, "emi-00000001", D1, base);
	ck_assert_int_eq(nc_raw_clone_wait(p, "emi-00000001", 1, 30), 0);
	nc_raw_clone_image_gone(p, "emi-00000001");
	ck_assert(!nc_raw_clone_ready(p, "emi-00000001", NULL));
	nc_raw_clone_close(p);	/* joins the worker: a clone in progress is dropped */
	ck_assert_int_eq(count_files(&hidden), 0);
}
END_TEST

START_TEST(replaced_image_drops_old_clones)
{
	struct nc_raw_clones *p = nc_raw_clone_open(clones, 1);
	char a[NC_PATH_MAX];

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(nc_raw_clone_start(p), 0);
	nc_raw_clone_image_ready(p, "emi-00000001", D1, base);
	ck_assert_int_eq(nc_raw_clone_wait(p, "emi-00000001", 1, 30), 0);
	nc_raw_clone_image_ready(p, "emi-00000001", D2, base);
	ck_assert(!nc_raw_clone_ready(p, "emi-00000001", D1));
	ck_assert_int_eq(nc_raw_clone_wait(p, "emi-00000001", 1, 30), 0);
	ck_assert_int_eq(nc_raw_clone_take(p, "emi-00000001", D2, a, sizeof(a)), 0);
	ck_assert_ptr_nonnull(strstr(a, D2));
	nc_raw_clone_close(p);
}
END_TEST

START_TEST(restart_removes_half_made_keeps_complete)
{
	struct nc_raw_clones *p = nc_raw_clone_open(clones, 1);
	char half[400], stray[400], old[400];
	int hidden;

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(nc_raw_clone_start(p), 0);
	nc_raw_clone_image_ready(p, "emi-00000001", D1, base);
	ck_assert_int_eq(nc_raw_clone_wait(p, "emi-00000001", 1, 30), 0);
	nc_raw_clone_close(p);
	/* what a crash leaves: a clone being written; a clone of an image
	 * since evicted; a wrong-sized one */
	snprintf(half, sizeof(half), "%s/.emi-00000001.77.tmp", clones);
	write_file(half, 1000, 0);
	snprintf(stray, sizeof(stray), "%s/emi-00000002.%s.3.raw", clones, D1);
	write_file(stray, 4 * MIB, 0);
	snprintf(old, sizeof(old), "%s/emi-00000001.%s.90.raw", clones, D1);
	write_file(old, 1000, 0);
	ck_assert_int_eq(count_files(&hidden), 4);

	p = nc_raw_clone_open(clones, 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(access(half, F_OK), -1);	/* half-made: gone at open */
	nc_raw_clone_image_ready(p, "emi-00000001", D1, base);	/* the cache's scan */
	ck_assert_int_eq(nc_raw_clone_start(p), 0);
	/* the complete one is ready at once, without a copy */
	ck_assert_int_eq(nc_raw_clone_count(p, "emi-00000001"), 1);
	nc_raw_clone_close(p);
	ck_assert_int_eq(access(stray, F_OK), -1);
	ck_assert_int_eq(access(old, F_OK), -1);
	ck_assert_int_eq(count_files(&hidden), 1);
	ck_assert_int_eq(hidden, 0);

	/* NC_RAW_CLONES=0: whatever was there goes */
	p = nc_raw_clone_open(clones, 0);
	ck_assert_ptr_nonnull(p);
	nc_raw_clone_image_ready(p, "emi-00000001", D1, base);
	ck_assert_int_eq(nc_raw_clone_start(p), 0);
	ck_assert(!nc_raw_clone_ready(p, "emi-00000001", NULL));
	nc_raw_clone_close(p);
	ck_assert_int_eq(count_files(&hidden), 0);
	ck_assert_ptr_null(nc_raw_clone_open(clones, 99));
}
END_TEST

START_TEST(only_raw_machine_images)
{
	struct nc_raw_clones *p = nc_raw_clone_open(clones, 1);
	char q[400], k[400];
	int hidden;

	ck_assert_ptr_nonnull(p);
	snprintf(q, sizeof(q), "%s/emi-00000003", top);
	write_file(q, 4096, 0);
	{	/* a qcow2 header */
		int fd = open(q, O_WRONLY);

		ck_assert_int_eq(pwrite(fd, "QFI\xfb", 4, 0), 4);
		close(fd);
	}
	snprintf(k, sizeof(k), "%s/eki-00000001", top);
	write_file(k, 4096, 0);
	ck_assert_int_eq(nc_raw_clone_start(p), 0);
	nc_raw_clone_image_ready(p, "emi-00000003", D1, q);
	nc_raw_clone_image_ready(p, "eki-00000001", D1, k);
	nc_raw_clone_image_ready(p, "emi-00000001", D1, base);	/* a fence: after the others */
	ck_assert_int_eq(nc_raw_clone_wait(p, "emi-00000001", 1, 30), 0);
	ck_assert_int_eq(nc_raw_clone_count(p, "emi-00000003"), 0);
	ck_assert_int_eq(nc_raw_clone_count(p, "eki-00000001"), 0);
	nc_raw_clone_close(p);
	ck_assert_int_eq(count_files(&hidden), 1);
}
END_TEST

/* The reflink probe says what FICLONE does here, and leaves nothing. */
START_TEST(reflink_probe)
{
	char dst[400];
	bool ok = nc_disk_reflink_ok(top);
	struct stat st;
	int n = 0;
	DIR *d = opendir(top);
	struct dirent *de;

	while (d && (de = readdir(d)))
		n += strncmp(de->d_name, ".reflink-probe", 14) == 0;
	if (d)
		closedir(d);
	ck_assert_int_eq(n, 0);
	snprintf(dst, sizeof(dst), "%s/root.raw", top);
	fprintf(stderr, "raw_clone-test: reflink in %s: %s\n", top, ok ? "yes" : "no");
	if (!ok) {
		/* ext4, tmpfs: the clone fails cleanly, nothing left */
		ck_assert_int_eq(nc_disk_reflink(base, dst, 4 * MIB), -1);
		ck_assert_int_eq(access(dst, F_OK), -1);
		return;
	}
	ck_assert_int_eq(nc_disk_reflink(base, dst, 4 * MIB), 0);
	ck_assert_int_eq(stat(dst, &st), 0);
	ck_assert_int_eq(st.st_size, 4 * MIB);
	check_clone(dst);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("raw_clone", &tc);

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, made_in_background_and_taken_once);
	tcase_add_test(tc, concurrent_takers_never_share);
	tcase_add_test(tc, gone_with_the_image);
	tcase_add_test(tc, replaced_image_drops_old_clones);
	tcase_add_test(tc, restart_removes_half_made_keeps_complete);
	tcase_add_test(tc, only_raw_machine_images);
	tcase_add_test(tc, reflink_probe);
	return kr_check_run(s);
}
