/*
 * snapshot_format-test.c - unit tests for snapshot_format.c: maps built
 * from real sparse files (in the build directory's file system), objects
 * written and read back, and malformed headers refused.
 */
#include "core/check_run.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "snapshot_format.h"

#define KIB 1024ull
#define MIB (1024 * KIB)

/* A new empty file of size bytes (all hole), unlinked already. */
static int
sparse_file(uint64_t size)
{
	char path[] = "snapfmt-test-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void
write_at(int fd, uint64_t off, uint64_t len, unsigned char byte)
{
	unsigned char *b = malloc(len);

	memset(b, byte, len);
	ck_assert_int_eq(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
	free(b);
}

static void
ck_extent(const struct snapfmt_map *m, uint32_t i, uint64_t off, uint64_t len)
{
	ck_assert_uint_gt(m->n, i);
	ck_assert_uint_eq(m->ext[i].off, off);
	ck_assert_uint_eq(m->ext[i].len, len);
}

/* The map of [base, base + len) with the daemon's merge gap and bound. */
static void
build_map(int fd, uint64_t base, uint64_t len, struct snapfmt_map *m)
{
	ck_assert_int_eq(snapfmt_map_build(fd, base, len, SNAPFMT_MERGE_GAP, SNAPFMT_EXTENTS_MAX,
	    m), 0);
}

START_TEST(map_of_holes_merges_small_gaps)
{
	struct snapfmt_map m;
	int fd = sparse_file(16 * MIB);

	write_at(fd, 0, 4 * KIB, 1);
	write_at(fd, 8 * KIB, 4 * KIB, 2);	/* a 4 KiB hole: merged */
	write_at(fd, 1 * MIB, 128 * KIB, 3);
	write_at(fd, 10 * MIB, 4 * KIB, 4);
	build_map(fd, 0, 16 * MIB, &m);
	ck_assert_uint_eq(m.n, 3);
	ck_extent(&m, 0, 0, 12 * KIB);
	ck_extent(&m, 1, 1 * MIB, 128 * KIB);
	ck_extent(&m, 2, 10 * MIB, 4 * KIB);
	ck_assert_uint_eq(m.data_len, 144 * KIB);
	ck_assert_uint_eq(snapfmt_object_len(&m), 4 * KIB + 144 * KIB);
	snapfmt_map_free(&m);

	/* A segment in the middle of the file: offsets are the segment's. */
	build_map(fd, 1 * MIB, 8 * MIB, &m);
	ck_assert_uint_eq(m.n, 1);
	ck_extent(&m, 0, 0, 128 * KIB);
	snapfmt_map_free(&m);
	/* Data running past the segment's end is cut there. */
	build_map(fd, 0, 1 * MIB + 64 * KIB, &m);
	ck_assert_uint_eq(m.n, 2);
	ck_extent(&m, 1, 1 * MIB, 64 * KIB);
	snapfmt_map_free(&m);
	close(fd);
}
END_TEST

START_TEST(map_all_holes_all_data_and_preallocated)
{
	struct snapfmt_map m;
	int fd = sparse_file(8 * MIB);

	build_map(fd, 0, 8 * MIB, &m);
	ck_assert_uint_eq(m.n, 0);
	ck_assert_uint_eq(snapfmt_object_len(&m), SNAPFMT_ALIGN);
	snapfmt_map_free(&m);
	write_at(fd, 0, 8 * MIB, 0xaa);
	build_map(fd, 0, 8 * MIB, &m);
	ck_assert_uint_eq(m.n, 1);
	ck_extent(&m, 0, 0, 8 * MIB);
	snapfmt_map_free(&m);
	close(fd);

	/* A volume is pre-allocated: its unwritten extents read as holes. */
	fd = sparse_file(0);
	ck_assert_int_eq(posix_fallocate(fd, 0, 8 * MIB), 0);
	write_at(fd, 2 * MIB, 4 * KIB, 1);
	build_map(fd, 0, 8 * MIB, &m);
	ck_assert_uint_eq(m.n, 1);
	ck_extent(&m, 0, 2 * MIB, 4 * KIB);
	snapfmt_map_free(&m);
	close(fd);
}
END_TEST

START_TEST(map_too_fragmented_is_coarsened)
{
	struct snapfmt_map m;
	int fd = sparse_file(8 * MIB);

	for (int i = 0; i < 10; i++)		/* 10 extents, 252 KiB apart */
		write_at(fd, (uint64_t)i * 256 * KIB, 4 * KIB, (unsigned char)(i + 1));
	ck_assert_int_eq(snapfmt_map_build(fd, 0, 8 * MIB, SNAPFMT_MERGE_GAP, 4, &m), 0);
	ck_assert_uint_le(m.n, 4);
	ck_assert_uint_ge(m.n, 1);
	for (int i = 0; i < 10; i++) {		/* every byte of data still covered */
		uint64_t off = (uint64_t)i * 256 * KIB;
		bool in = false;

		for (uint32_t k = 0; k < m.n; k++)
			in |= m.ext[k].off <= off && off + 4 * KIB <= m.ext[k].off + m.ext[k].len;
		ck_assert(in);
	}
	snapfmt_map_free(&m);
	/* At most one extent: the whole data span. */
	ck_assert_int_eq(snapfmt_map_build(fd, 0, 8 * MIB, SNAPFMT_MERGE_GAP, 1, &m), 0);
	ck_assert_uint_eq(m.n, 1);
	ck_extent(&m, 0, 0, 9 * 256 * KIB + 4 * KIB);
	snapfmt_map_free(&m);
	close(fd);
}
END_TEST

/* The whole object of [base, base+len) of fd, malloc'd, in odd-sized reads. */
static unsigned char *
object_of(int fd, uint64_t base, const struct snapfmt_map *m, uint64_t *olen)
{
	struct snapfmt_writer w;
	unsigned char *obj;
	ssize_t n;

	*olen = snapfmt_object_len(m);
	obj = malloc(*olen + 1);
	ck_assert_int_eq(snapfmt_writer_init(&w, fd, base, m), 0);
	for (int pass = 0; pass < 2; pass++) {	/* a retried upload starts over */
		uint64_t got = 0;

		snapfmt_writer_rewind(&w);
		while ((n = snapfmt_writer_read(&w, obj + got, 1000 + (size_t)pass * 4000)) > 0)
			got += (uint64_t)n;
		ck_assert_int_eq(n, 0);
		ck_assert_uint_eq(got, *olen);
	}
	snapfmt_writer_free(&w);
	return obj;
}

/* Feed obj into a fresh pre-allocated file in chunks; what snapfmt_reader_end said. */
static int
restore(const unsigned char *obj, uint64_t olen, uint64_t room, int *out, uint64_t *seg_len,
    bool *raw)
{
	struct snapfmt_reader r;
	int fd = sparse_file(0), rc = 0;
	uint64_t off = 0;

	ck_assert_int_eq(posix_fallocate(fd, 0, (off_t)room), 0);
	snapfmt_reader_init(&r, fd, 0, room);
	while (rc == 0 && off < olen) {
		size_t k = off < 40 ? 7 : 65521;	/* the header split at odd places */

		k = olen - off < k ? (size_t)(olen - off) : k;
		rc = snapfmt_reader_feed(&r, obj + off, k);
		off += k;
	}
	if (rc == 0)
		rc = snapfmt_reader_end(&r, seg_len, raw);
	snapfmt_reader_free(&r);
	*out = fd;
	return rc;
}

static void
ck_same_file(int a, int b, uint64_t len)
{
	unsigned char *x = malloc(MIB), *y = malloc(MIB);

	for (uint64_t off = 0; off < len; off += MIB) {
		ck_assert_int_eq(pread(a, x, MIB, (off_t)off), (ssize_t)MIB);
		ck_assert_int_eq(pread(b, y, MIB, (off_t)off), (ssize_t)MIB);
		ck_assert(memcmp(x, y, MIB) == 0);
	}
	free(x);
	free(y);
}

START_TEST(object_round_trip)
{
	struct snapfmt_map m, back;
	uint64_t olen, seg_len = 0;
	unsigned char *obj;
	bool raw = true;
	int fd = sparse_file(12 * MIB), out;

	write_at(fd, 4 * MIB + 100, 3 * MIB, 0x11);
	write_at(fd, 7 * MIB + 200 * KIB, 1, 0x22);
	write_at(fd, 11 * MIB, 1 * MIB, 0x33);
	/* The segment is [4 MiB, 12 MiB) of the file. */
	build_map(fd, 4 * MIB, 8 * MIB, &m);
	ck_assert_uint_eq(m.n, 3);
	obj = object_of(fd, 4 * MIB, &m, &olen);
	ck_assert(snapfmt_is_ours(obj, olen));
	ck_assert_int_eq(snapfmt_header_parse(obj, olen, 8 * MIB, olen, &back),
	    (int64_t)snapfmt_header_len(3));
	ck_assert_uint_eq(back.seg_len, 8 * MIB);
	ck_assert_uint_eq(back.n, m.n);
	ck_assert_uint_eq(back.data_len, m.data_len);
	ck_assert(memcmp(back.ext, m.ext, m.n * sizeof(*m.ext)) == 0);
	snapfmt_map_free(&back);

	ck_assert_int_eq(restore(obj, olen, 8 * MIB, &out, &seg_len, &raw), 0);
	ck_assert(!raw);
	ck_assert_uint_eq(seg_len, 8 * MIB);
	{
		int seg = sparse_file(8 * MIB);	/* the segment alone, to compare */
		unsigned char *b = malloc(8 * MIB);

		ck_assert_int_eq(pread(fd, b, 8 * MIB, 4 * MIB), (ssize_t)(8 * MIB));
		ck_assert_int_eq(pwrite(seg, b, 8 * MIB, 0), (ssize_t)(8 * MIB));
		ck_same_file(seg, out, 8 * MIB);
		free(b);
		close(seg);
	}
	close(out);
	free(obj);
	snapfmt_map_free(&m);
	close(fd);
}
END_TEST

START_TEST(raw_objects_are_restored_as_before)
{
	unsigned char *obj = calloc(1, 2 * MIB);
	uint64_t seg_len = 0;
	bool raw = false;
	int out, src = sparse_file(2 * MIB);

	memcpy(obj, "KARRI-SNAPSHOT", 14);	/* almost the magic */
	memset(obj + MIB, 0x5a, 4096);
	ck_assert(!snapfmt_is_ours(obj, 2 * MIB));
	ck_assert_int_eq(restore(obj, 2 * MIB, 4 * MIB, &out, &seg_len, &raw), 0);
	ck_assert(raw);
	ck_assert_uint_eq(seg_len, 2 * MIB);
	ck_assert_int_eq(pwrite(src, obj, 2 * MIB, 0), (ssize_t)(2 * MIB));
	ck_same_file(src, out, 2 * MIB);
	close(out);
	/* Longer than the room: refused. */
	ck_assert_int_eq(restore(obj, 2 * MIB, 1 * MIB, &out, &seg_len, &raw), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidSnapshot");
	close(out);
	close(src);
	free(obj);
}
END_TEST

/* A valid object of 3 extents in a 1 MiB segment, and its length. */
static unsigned char *
good_object(uint64_t *olen)
{
	struct snapfmt_extent e[3] = { { 0, 4096 }, { 65536, 100 }, { MIB - 10, 10 } };
	struct snapfmt_map m = { .seg_len = MIB, .data_len = 4206, .n = 3, .ext = e };
	unsigned char *obj;

	*olen = snapfmt_object_len(&m);
	obj = calloc(1, *olen);
	snapfmt_header_write(&m, obj);
	memset(obj + snapfmt_header_len(3), 0x77, 4206);
	return obj;
}

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* The parse refuses it with InvalidSnapshot, and so does a restore. */
static void
ck_refused(const unsigned char *obj, uint64_t olen, size_t len)
{
	struct snapfmt_map m;
	uint64_t seg_len;
	bool raw;
	int out;

	kr_error_clear();
	ck_assert_int_eq(snapfmt_header_parse(obj, len, MIB, olen, &m), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidSnapshot");
	ck_assert_ptr_null(m.ext);
	ck_assert_int_eq(restore(obj, olen, MIB, &out, &seg_len, &raw), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidSnapshot");
	close(out);
}

START_TEST(malformed_headers_are_refused)
{
	struct snapfmt_map m;
	uint64_t olen, seg_len;
	unsigned char *obj = good_object(&olen);
	const size_t h = snapfmt_header_len(3);
	bool raw;
	int out;

	ck_assert_int_eq(snapfmt_header_parse(obj, olen, MIB, olen, &m), (int64_t)h);
	snapfmt_map_free(&m);
	ck_assert_int_eq(restore(obj, olen, MIB, &out, &seg_len, &raw), 0);
	ck_assert(!raw);
	close(out);

	/* Truncated: the header, and the data. */
	ck_refused(obj, h - 1, h - 1);
	ck_refused(obj, 40, 40);
	ck_refused(obj, olen - 1, olen - 1);
	/* The data length disagrees with the extents, or with the object. */
	put64(obj + 40, 4207);
	ck_refused(obj, olen, olen);
	put64(obj + 40, 4206);
	ck_assert_int_eq(snapfmt_header_parse(obj, olen, MIB, olen + 1, &m), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidSnapshot");
	/* A segment bigger than the room, or empty. */
	put64(obj + 24, 2 * MIB);
	ck_refused(obj, olen, olen);
	put64(obj + 24, 0);
	ck_refused(obj, olen, olen);
	put64(obj + 24, MIB);
	/* Too many extents (checked before anything is allocated or read). */
	put64(obj + 32, SNAPFMT_EXTENTS_MAX + 1);
	ck_refused(obj, olen, olen);
	put64(obj + 32, UINT64_MAX);
	ck_refused(obj, olen, olen);
	put64(obj + 32, 3);
	/* Overlapping, out of order, empty, outside the segment, wrapping around. */
	put64(obj + 64, 4000);			/* extent 1 starts inside extent 0 */
	ck_refused(obj, olen, olen);
	put64(obj + 64, 65536);
	put64(obj + 56, 0);			/* extent 0 empty */
	ck_refused(obj, olen, olen);
	put64(obj + 56, 4096);
	put64(obj + 80, MIB - 9);		/* extent 2 ends past the segment */
	ck_refused(obj, olen, olen);
	put64(obj + 80, UINT64_MAX - 5);
	ck_refused(obj, olen, olen);
	put64(obj + 80, MIB - 10);
	/* Garbage in the padding; a magic with a bad tail. */
	obj[h - 1] = 1;
	ck_refused(obj, olen, olen);
	obj[h - 1] = 0;
	obj[SNAPFMT_MAGIC_LEN] = 'x';
	ck_refused(obj, olen, olen);
	obj[SNAPFMT_MAGIC_LEN] = 0;
	ck_assert_int_eq(snapfmt_header_parse(obj, olen, MIB, olen, &m), (int64_t)h);
	snapfmt_map_free(&m);

	/* More data than the extents hold. */
	{
		unsigned char *big = calloc(1, olen + 1);

		memcpy(big, obj, olen);
		ck_assert_int_eq(restore(big, olen + 1, MIB, &out, &seg_len, &raw), -1);
		ck_assert_str_eq(kr_error_code(), "InvalidSnapshot");
		close(out);
		free(big);
	}
	/* No magic: not ours, and the parser says so. */
	obj[0] = 'k';
	ck_assert(!snapfmt_is_ours(obj, olen));
	ck_assert_int_eq(snapfmt_header_parse(obj, olen, MIB, olen, &m), -1);
	free(obj);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("snapshot_format", &tc);

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, map_of_holes_merges_small_gaps);
	tcase_add_test(tc, map_all_holes_all_data_and_preallocated);
	tcase_add_test(tc, map_too_fragmented_is_coarsened);
	tcase_add_test(tc, object_round_trip);
	tcase_add_test(tc, raw_objects_are_restored_as_before);
	tcase_add_test(tc, malformed_headers_are_refused);
	return kr_check_run(s);
}
