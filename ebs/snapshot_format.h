/*
 * snapshot_format.h - the sparse snapshot object: one segment (up to
 * EBS_SEGMENT_BYTES) of a volume as a map of the extents that hold data,
 * then those extents' bytes.  A volume that holds 5 MiB of 10 GiB is
 * stored as about 5 MiB, not 10 GiB of mostly zeros.
 *
 * Layout (every integer a little-endian u64):
 *
 *	0	magic "KARRI-SNAPSHOT-1\n", NUL-padded to 24 bytes
 *	24	segment length: the bytes of volume the object stands for
 *	32	extent count n (at most SNAPFMT_EXTENTS_MAX)
 *	40	data length: the sum of the extents' lengths
 *	48	n pairs (offset in the segment, length): non-empty, sorted,
 *		non-overlapping, inside the segment
 *	...	zeros up to a multiple of 4096: the header length
 *	then the extents' data, concatenated in map order.
 *
 * The object is exactly header length + data length bytes; every byte of
 * the segment outside the extents is zero.  An object that does not start
 * with the magic is a raw snapshot (the segment's bytes, zeros included),
 * as EBS wrote them before this format: still restored.  Objects come back
 * from the network, so the reader checks every field before it writes.
 */
#ifndef KARRI_SNAPSHOT_FORMAT_H
#define KARRI_SNAPSHOT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SNAPFMT_MAGIC "KARRI-SNAPSHOT-1\n"
#define SNAPFMT_MAGIC_LEN 17
#define SNAPFMT_FIXED_LEN 48		/* magic field and the three counts */
#define SNAPFMT_ALIGN 4096
#define SNAPFMT_EXTENTS_MAX 65536	/* a header of at most 1 MiB + 4 KiB */
#define SNAPFMT_MERGE_GAP (64 * 1024)	/* holes shorter than this are sent as zeros */

struct snapfmt_extent {
	uint64_t off, len;		/* in the segment */
};

struct snapfmt_map {
	uint64_t seg_len;
	uint64_t data_len;		/* sum of the extents' lengths */
	uint32_t n;
	struct snapfmt_extent *ext;	/* malloc'd */
};

/*
 * The extents of [base, base+seg_len) of fd that hold data (SEEK_DATA /
 * SEEK_HOLE), holes shorter than gap merged into their neighbours, at most
 * max extents (more: the gap doubles until they fit).  Without SEEK_DATA,
 * one extent covers the segment.  0 or -1 + kr_error.
 */
int snapfmt_map_build(int fd, uint64_t base, uint64_t seg_len, uint64_t gap, uint32_t max,
    struct snapfmt_map *m);
void snapfmt_map_free(struct snapfmt_map *m);	/* NULL-safe, leaves it empty */

size_t snapfmt_header_len(uint64_t n);
uint64_t snapfmt_object_len(const struct snapfmt_map *m);
/* The header of m into out, snapfmt_header_len(m->n) bytes. */
void snapfmt_header_write(const struct snapfmt_map *m, unsigned char *out);

/* Whether len (>= SNAPFMT_MAGIC_LEN) bytes start an object of this format. */
bool snapfmt_is_ours(const unsigned char *p, size_t len);
/*
 * Parse the header at the start of an object: p holds its first len bytes
 * (the whole header, or it is "truncated"); room is the most the segment
 * may be, object_len the object's length (UINT64_MAX: not known yet).
 * The header length (> 0) with m filled, or -1 + kr_error InvalidSnapshot.
 */
int64_t snapfmt_header_parse(const unsigned char *p, size_t len, uint64_t room,
    uint64_t object_len, struct snapfmt_map *m);

/* The object's bytes, in order, read from the segment of fd (an upload's body). */
struct snapfmt_writer {
	int fd;
	uint64_t base;			/* the segment's offset in fd */
	const struct snapfmt_map *m;
	unsigned char *hdr;		/* malloc'd */
	size_t hdr_len;
	uint64_t pos;			/* bytes of the object handed out */
	uint32_t cur;			/* the extent being read, and how far */
	uint64_t within;
};

int snapfmt_writer_init(struct snapfmt_writer *w, int fd, uint64_t base,
    const struct snapfmt_map *m);
void snapfmt_writer_rewind(struct snapfmt_writer *w);	/* from the start again */
/* Up to want bytes into buf: how many (0 at the end), or -1 + kr_error. */
ssize_t snapfmt_writer_read(struct snapfmt_writer *w, void *buf, size_t want);
void snapfmt_writer_free(struct snapfmt_writer *w);

/*
 * An object's bytes, in order, placed into the segment of fd (a download):
 * fd is freshly pre-allocated, so zeros are never written.  Memory stays
 * bounded: the header (at most snapfmt_header_len(SNAPFMT_EXTENTS_MAX)).
 */
struct snapfmt_reader {
	int fd;
	uint64_t base, room;		/* the segment's offset in fd, its most bytes */
	enum { SNAPFMT_START, SNAPFMT_RAW, SNAPFMT_HEADER, SNAPFMT_DATA } state;
	unsigned char fixed[SNAPFMT_FIXED_LEN];
	unsigned char *hdr;		/* malloc'd once the header's length is known */
	size_t have, need;		/* header bytes in, and wanted */
	struct snapfmt_map map;
	uint64_t raw_len;		/* a raw object's bytes so far */
	uint32_t cur;			/* the extent being filled, and how far */
	uint64_t within;
};

void snapfmt_reader_init(struct snapfmt_reader *r, int fd, uint64_t base, uint64_t room);
int snapfmt_reader_feed(struct snapfmt_reader *r, const void *data, size_t len);
/* At the object's end: the segment length it held and whether it was raw; -1 + kr_error. */
int snapfmt_reader_end(struct snapfmt_reader *r, uint64_t *seg_len, bool *raw);
void snapfmt_reader_free(struct snapfmt_reader *r);

#endif
