/*
 * snapshot_format.c - the sparse snapshot object (layout in
 * snapshot_format.h): the extent map built from a file's holes, the header
 * written and parsed, and the object streamed out of and into a file.
 *
 * The map comes from SEEK_DATA/SEEK_HOLE on the point-in-time copy, whose
 * holes are what the volume never held (a pre-allocated volume's unwritten
 * extents, and zeros the copy skipped).  Short holes are not worth an
 * entry: sending 64 KiB of zeros costs less than fragmenting the map.  The
 * parser treats the header as untrusted (it came over the network): every
 * count is bounded before anything is allocated, and the extents must
 * tile the segment in order, so a bad object fails before a byte lands in
 * the wrong place.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebs.h"
#include "core/error.h"
#include "snapshot_format.h"

static void
put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

size_t
snapfmt_header_len(uint64_t n)
{
	return (size_t)((SNAPFMT_FIXED_LEN + 16 * n + SNAPFMT_ALIGN - 1) / SNAPFMT_ALIGN *
	    SNAPFMT_ALIGN);
}

uint64_t
snapfmt_object_len(const struct snapfmt_map *m)
{
	return snapfmt_header_len(m->n) + m->data_len;
}

void
snapfmt_map_free(struct snapfmt_map *m)
{
	if (m == NULL)
		return;
	free(m->ext);
	memset(m, 0, sizeof(*m));
}

static uint64_t
ext_end(const struct snapfmt_extent *e)
{
	return e->off + e->len;
}

/* Merge neighbours less than gap apart, in place. */
static void
map_coarsen(struct snapfmt_map *m, uint64_t gap)
{
	uint32_t w = 0;

	for (uint32_t i = 1; i < m->n; i++) {
		if (m->ext[i].off - ext_end(&m->ext[w]) < gap)
			m->ext[w].len = ext_end(&m->ext[i]) - m->ext[w].off;
		else
			m->ext[++w] = m->ext[i];
	}
	if (m->n > 0)
		m->n = w + 1;
}

/* Add [off, off+len), after every extent so far; *gap grows when the map is full. */
static void
map_add(struct snapfmt_map *m, uint64_t off, uint64_t len, uint64_t *gap, uint32_t max)
{
	/* A gap beyond the segment merges everything: the loop ends. */
	while (m->n >= max && *gap <= m->seg_len) {
		*gap = *gap ? *gap * 2 : SNAPFMT_ALIGN;
		map_coarsen(m, *gap);
	}
	if (m->n > 0 && off - ext_end(&m->ext[m->n - 1]) < *gap) {
		m->ext[m->n - 1].len = off + len - m->ext[m->n - 1].off;
		return;
	}
	m->ext[m->n].off = off;
	m->ext[m->n].len = len;
	m->n++;
}

int
snapfmt_map_build(int fd, uint64_t base, uint64_t seg_len, uint64_t gap, uint32_t max,
    struct snapfmt_map *m)
{
	uint64_t pos = 0, end = base + seg_len;

	memset(m, 0, sizeof(*m));
	m->seg_len = seg_len;
	if (max < 1 || max > SNAPFMT_EXTENTS_MAX)
		max = SNAPFMT_EXTENTS_MAX;
	if ((m->ext = malloc((size_t)max * sizeof(*m->ext))) == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	while (pos < seg_len) {
		off_t d = lseek(fd, (off_t)(base + pos), SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			break;			/* nothing but holes from here */
		if (d < 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
			map_add(m, pos, seg_len - pos, &gap, max);	/* no SEEK_DATA: all data */
			break;
		}
		if (d < 0) {
			kr_error_errno("InternalError", "SEEK_DATA");
			snapfmt_map_free(m);
			return -1;
		}
		if ((uint64_t)d >= end)
			break;
		if ((h = lseek(fd, d, SEEK_HOLE)) < 0) {
			kr_error_errno("InternalError", "SEEK_HOLE");
			snapfmt_map_free(m);
			return -1;
		}
		if ((uint64_t)h > end || h <= d)
			h = (off_t)end;
		map_add(m, (uint64_t)d - base, (uint64_t)h - (uint64_t)d, &gap, max);
		pos = (uint64_t)h - base;
	}
	for (uint32_t i = 0; i < m->n; i++)
		m->data_len += m->ext[i].len;
	return 0;
}

void
snapfmt_header_write(const struct snapfmt_map *m, unsigned char *out)
{
	size_t len = snapfmt_header_len(m->n);

	memset(out, 0, len);
	memcpy(out, SNAPFMT_MAGIC, SNAPFMT_MAGIC_LEN);
	put_le64(out + 24, m->seg_len);
	put_le64(out + 32, m->n);
	put_le64(out + 40, m->data_len);
	for (uint32_t i = 0; i < m->n; i++) {
		put_le64(out + SNAPFMT_FIXED_LEN + 16 * (size_t)i, m->ext[i].off);
		put_le64(out + SNAPFMT_FIXED_LEN + 16 * (size_t)i + 8, m->ext[i].len);
	}
}

bool
snapfmt_is_ours(const unsigned char *p, size_t len)
{
	return len >= SNAPFMT_MAGIC_LEN && memcmp(p, SNAPFMT_MAGIC, SNAPFMT_MAGIC_LEN) == 0;
}

/* The fixed part: the header's length, or -1 + kr_error. */
static int64_t
header_need(const unsigned char *p, uint64_t room, uint64_t *seg_len, uint64_t *n)
{
	static const unsigned char pad[24 - SNAPFMT_MAGIC_LEN];

	if (!snapfmt_is_ours(p, SNAPFMT_FIXED_LEN) ||
	    memcmp(p + SNAPFMT_MAGIC_LEN, pad, sizeof(pad)) != 0) {
		kr_error("InvalidSnapshot", "snapshot object: bad magic");
		return -1;
	}
	*seg_len = get_le64(p + 24);
	*n = get_le64(p + 32);
	if (*seg_len == 0 || *seg_len > room) {
		kr_error("InvalidSnapshot", "snapshot object: segment of %llu bytes, at most %llu",
		    (unsigned long long)*seg_len, (unsigned long long)room);
		return -1;
	}
	if (*n > SNAPFMT_EXTENTS_MAX) {
		kr_error("InvalidSnapshot", "snapshot object: %llu extents, at most %d",
		    (unsigned long long)*n, SNAPFMT_EXTENTS_MAX);
		return -1;
	}
	return (int64_t)snapfmt_header_len(*n);
}

int64_t
snapfmt_header_parse(const unsigned char *p, size_t len, uint64_t room, uint64_t object_len,
    struct snapfmt_map *m)
{
	uint64_t seg_len, n, data_len, sum = 0, prev_end = 0;
	int64_t hlen;

	memset(m, 0, sizeof(*m));
	if (len < SNAPFMT_FIXED_LEN) {
		kr_error("InvalidSnapshot", "snapshot object: truncated header");
		return -1;
	}
	if ((hlen = header_need(p, room, &seg_len, &n)) < 0)
		return -1;
	if (len < (uint64_t)hlen) {
		kr_error("InvalidSnapshot", "snapshot object: truncated header");
		return -1;
	}
	for (size_t i = SNAPFMT_FIXED_LEN + 16 * (size_t)n; i < (size_t)hlen; i++)
		if (p[i] != 0) {
			kr_error("InvalidSnapshot", "snapshot object: header padding is not zero");
			return -1;
		}
	data_len = get_le64(p + 40);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t off = get_le64(p + SNAPFMT_FIXED_LEN + 16 * i);
		uint64_t elen = get_le64(p + SNAPFMT_FIXED_LEN + 16 * i + 8);

		if (elen == 0 || off < prev_end || elen > seg_len || off > seg_len - elen) {
			kr_error("InvalidSnapshot", "snapshot object: extent %llu (%llu+%llu) is "
			    "empty, out of order, overlapping or outside the %llu-byte segment",
			    (unsigned long long)i, (unsigned long long)off,
			    (unsigned long long)elen, (unsigned long long)seg_len);
			return -1;
		}
		prev_end = off + elen;
		sum += elen;		/* <= seg_len: the extents do not overlap */
	}
	if (sum != data_len || (object_len != UINT64_MAX &&
	    object_len != (uint64_t)hlen + data_len)) {
		kr_error("InvalidSnapshot", "snapshot object: %llu data bytes in its extents, "
		    "%llu in its header, %llu after its header", (unsigned long long)sum,
		    (unsigned long long)data_len, object_len == UINT64_MAX ? 0ull :
		    (unsigned long long)(object_len - (uint64_t)hlen));
		return -1;
	}
	if ((m->ext = malloc((size_t)(n ? n : 1) * sizeof(*m->ext))) == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	for (uint64_t i = 0; i < n; i++) {
		m->ext[i].off = get_le64(p + SNAPFMT_FIXED_LEN + 16 * i);
		m->ext[i].len = get_le64(p + SNAPFMT_FIXED_LEN + 16 * i + 8);
	}
	m->seg_len = seg_len;
	m->n = (uint32_t)n;
	m->data_len = data_len;
	return hlen;
}

/* --- streaming the object out of a file ------------------------------------------------ */

int
snapfmt_writer_init(struct snapfmt_writer *w, int fd, uint64_t base, const struct snapfmt_map *m)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->base = base;
	w->m = m;
	w->hdr_len = snapfmt_header_len(m->n);
	if ((w->hdr = malloc(w->hdr_len)) == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	snapfmt_header_write(m, w->hdr);
	return 0;
}

void
snapfmt_writer_rewind(struct snapfmt_writer *w)
{
	w->pos = 0;
	w->cur = 0;
	w->within = 0;
}

ssize_t
snapfmt_writer_read(struct snapfmt_writer *w, void *buf, size_t want)
{
	const struct snapfmt_extent *e;
	ssize_t n;

	if (w->pos < w->hdr_len) {
		size_t k = w->hdr_len - (size_t)w->pos < want ? w->hdr_len - (size_t)w->pos : want;

		memcpy(buf, w->hdr + w->pos, k);
		w->pos += k;
		return (ssize_t)k;
	}
	if (w->cur >= w->m->n || want == 0)
		return 0;
	e = &w->m->ext[w->cur];
	if (want > e->len - w->within)
		want = (size_t)(e->len - w->within);
	do {
		n = pread(w->fd, buf, want, (off_t)(w->base + e->off + w->within));
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		if (n == 0)
			errno = EIO;	/* the copy is shorter than its map */
		kr_error_errno("InternalError", "read the snapshot copy");
		return -1;
	}
	w->pos += (uint64_t)n;
	if ((w->within += (uint64_t)n) == e->len) {
		w->cur++;
		w->within = 0;
	}
	return n;
}

void
snapfmt_writer_free(struct snapfmt_writer *w)
{
	free(w->hdr);
	w->hdr = NULL;
}

/* --- placing an object into a file ------------------------------------------------------ */

void
snapfmt_reader_init(struct snapfmt_reader *r, int fd, uint64_t base, uint64_t room)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->base = base;
	r->room = room;
	r->state = SNAPFMT_START;
}

void
snapfmt_reader_free(struct snapfmt_reader *r)
{
	free(r->hdr);
	r->hdr = NULL;
	snapfmt_map_free(&r->map);
}

/* len bytes at off of the file, zeros skipped (the file is pre-allocated); -1 + kr_error. */
static int
place(struct snapfmt_reader *r, uint64_t off, const unsigned char *p, size_t len)
{
	if (ebs_all_zero((const char *)p, len))
		return 0;
	while (len > 0) {
		ssize_t w = pwrite(r->fd, p, len, (off_t)(r->base + off));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			kr_error_errno("InternalError", "write the volume");
			return -1;
		}
		p += w;
		off += (uint64_t)w;
		len -= (size_t)w;
	}
	return 0;
}

static int
feed_raw(struct snapfmt_reader *r, const unsigned char *p, size_t len)
{
	if (len > r->room - r->raw_len) {
		kr_error("InvalidSnapshot", "snapshot object: more than %llu bytes",
		    (unsigned long long)r->room);
		return -1;
	}
	if (place(r, r->raw_len, p, len) < 0)
		return -1;
	r->raw_len += len;
	return 0;
}

static int
feed_data(struct snapfmt_reader *r, const unsigned char *p, size_t len)
{
	while (len > 0) {
		const struct snapfmt_extent *e;
		size_t k;

		if (r->cur >= r->map.n) {
			kr_error("InvalidSnapshot", "snapshot object: more data than its %llu bytes "
			    "of extents", (unsigned long long)r->map.data_len);
			return -1;
		}
		e = &r->map.ext[r->cur];
		k = e->len - r->within < len ? (size_t)(e->len - r->within) : len;
		if (place(r, e->off + r->within, p, k) < 0)
			return -1;
		p += k;
		len -= k;
		if ((r->within += k) == e->len) {
			r->cur++;
			r->within = 0;
		}
	}
	return 0;
}

/* Gather header bytes; *used of len consumed.  Parses once it is whole. */
static int
feed_header(struct snapfmt_reader *r, const unsigned char *p, size_t len, size_t *used)
{
	unsigned char *dst = r->hdr != NULL ? r->hdr : r->fixed;
	size_t k = r->need - r->have < len ? r->need - r->have : len;

	memcpy(dst + r->have, p, k);
	r->have += k;
	*used = k;
	if (r->have < r->need)
		return 0;
	if (r->hdr == NULL) {		/* the fixed part: now the whole header's length */
		uint64_t seg_len, n;
		int64_t need = header_need(r->fixed, r->room, &seg_len, &n);

		if (need < 0)
			return -1;
		if ((r->hdr = malloc((size_t)need)) == NULL) {
			kr_error("InternalError", "out of memory");
			return -1;
		}
		memcpy(r->hdr, r->fixed, SNAPFMT_FIXED_LEN);
		r->need = (size_t)need;
		return 0;
	}
	if (snapfmt_header_parse(r->hdr, r->have, r->room, UINT64_MAX, &r->map) < 0)
		return -1;
	free(r->hdr);			/* the map is all that is needed now */
	r->hdr = NULL;
	r->state = SNAPFMT_DATA;
	return 0;
}

int
snapfmt_reader_feed(struct snapfmt_reader *r, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		size_t k;

		switch (r->state) {
		case SNAPFMT_START:	/* as many bytes as tell the magic from a raw object */
			k = SNAPFMT_MAGIC_LEN - r->have < len ? SNAPFMT_MAGIC_LEN - r->have : len;
			memcpy(r->fixed + r->have, p, k);
			r->have += k;
			p += k;
			len -= k;
			if (memcmp(r->fixed, SNAPFMT_MAGIC, r->have) != 0) {
				r->state = SNAPFMT_RAW;
				k = r->have;
				r->have = 0;
				if (feed_raw(r, r->fixed, k) < 0)
					return -1;
			} else if (r->have == SNAPFMT_MAGIC_LEN) {
				r->state = SNAPFMT_HEADER;
				r->need = SNAPFMT_FIXED_LEN;
			}
			break;
		case SNAPFMT_RAW:
			return feed_raw(r, p, len);
		case SNAPFMT_HEADER:
			if (feed_header(r, p, len, &k) < 0)
				return -1;
			p += k;
			len -= k;
			break;
		case SNAPFMT_DATA:
			return feed_data(r, p, len);
		}
	}
	return 0;
}

int
snapfmt_reader_end(struct snapfmt_reader *r, uint64_t *seg_len, bool *raw)
{
	if (r->state == SNAPFMT_START) {	/* shorter than the magic: a (bad) raw object */
		r->state = SNAPFMT_RAW;
		if (feed_raw(r, r->fixed, r->have) < 0)
			return -1;
	}
	if (r->state == SNAPFMT_RAW) {
		*seg_len = r->raw_len;
		*raw = true;
		return 0;
	}
	if (r->state == SNAPFMT_HEADER) {
		kr_error("InvalidSnapshot", "snapshot object: truncated header");
		return -1;
	}
	if (r->cur < r->map.n) {
		kr_error("InvalidSnapshot", "snapshot object: ends inside extent %u of %u",
		    r->cur, r->map.n);
		return -1;
	}
	*seg_len = r->map.seg_len;
	*raw = false;
	return 0;
}
