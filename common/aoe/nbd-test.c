/*
 * nbd-test.c - unit tests for nbd.c: the handshake and transmission
 * phases against a client written here byte by byte, over a socketpair,
 * with an in-memory backend.  (Interoperability with a real client,
 * qemu-io, is tested in tests/integration/test_ebs_aoe.py.)
 */
#include "core/check_run.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aoe/nbd.h"

#define SIZE (1u << 20)

static uint8_t disk[SIZE];
static int flushes, reads, writes;

static int
mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	(void)ctx;
	reads++;
	memcpy(buf, disk + off, len);
	return 0;
}

static int
mem_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	(void)ctx;
	writes++;
	if (off == 4096)
		return -1;	/* a failing sector, to see EIO */
	memcpy(disk + off, buf, len);
	return 0;
}

static int
mem_flush(void *ctx)
{
	(void)ctx;
	flushes++;
	return 0;
}

static const struct kr_nbd_backend backend = {
	.name = "e1.2", .size = SIZE, .read = mem_read, .write = mem_write, .flush = mem_flush,
};

struct server {
	int fd;
	int rc;
	pthread_t th;
};

static void *
serve(void *arg)
{
	struct server *s = arg;

	s->rc = kr_nbd_serve(s->fd, &backend);
	close(s->fd);
	return NULL;
}

static int
start(struct server *s)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s->fd = sv[0];
	pthread_create(&s->th, NULL, serve, s);
	return sv[1];
}

static void
rd(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);

		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
option(int fd, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[16];

	memcpy(h, "IHAVEOPT", 8);
	put32(h + 8, opt);
	put32(h + 12, len);
	ck_assert_int_eq(write(fd, h, 16), 16);
	if (len > 0)
		ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
}

/* Read one option reply; returns its type, data into buf (up to 64 bytes). */
static uint32_t
reply(int fd, uint8_t *buf, uint32_t *len)
{
	static const uint8_t magic[8] = { 0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9 };
	uint8_t h[20];

	rd(fd, h, 20);
	ck_assert_mem_eq(h, magic, 8);
	*len = get32(h + 16);
	ck_assert_uint_le(*len, 64);
	if (*len > 0)
		rd(fd, buf, *len);
	return get32(h + 12);
}

/* Greeting, client flags, NBD_OPT_GO for `name`; returns after the ACK. */
static void
handshake(int fd, const char *name)
{
	uint8_t g[18], d[64], flags[4] = { 0, 0, 0, 3 };
	uint32_t len, type;
	size_t n = strlen(name);

	rd(fd, g, 18);
	ck_assert_mem_eq(g, "NBDMAGICIHAVEOPT", 16);
	ck_assert_uint_eq(g[17] & 1, 1);		/* fixed newstyle */
	ck_assert_int_eq(write(fd, flags, 4), 4);
	option(fd, 8, NULL, 0);				/* STRUCTURED_REPLY: refused */
	ck_assert_uint_eq(reply(fd, d, &len), 0x80000001u);
	put32(d, (uint32_t)n);
	memcpy(d + 4, name, n);
	d[4 + n] = d[5 + n] = 0;
	option(fd, 7, d, (uint32_t)(n + 6));		/* GO */
	type = reply(fd, d, &len);
	ck_assert_uint_eq(type, 3);			/* INFO */
	ck_assert_uint_eq(len, 12);
	ck_assert_uint_eq(d[1], 0);			/* NBD_INFO_EXPORT */
	ck_assert_uint_eq(get32(d + 6), SIZE);		/* low half of the size */
	ck_assert_uint_eq(reply(fd, d, &len), 3);	/* INFO block size */
	ck_assert_uint_eq(reply(fd, d, &len), 1);	/* ACK */
}

static uint32_t
request(int fd, uint16_t type, uint16_t flags, uint64_t off, uint32_t len, const void *data,
    void *out)
{
	uint8_t h[28], r[16];

	put32(h, 0x25609513u);
	h[4] = (uint8_t)(flags >> 8);
	h[5] = (uint8_t)flags;
	h[6] = (uint8_t)(type >> 8);
	h[7] = (uint8_t)type;
	memcpy(h + 8, "cookie!!", 8);
	put64(h + 16, off);
	put32(h + 24, len);
	ck_assert_int_eq(write(fd, h, 28), 28);
	if (data != NULL)
		ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	rd(fd, r, 16);
	ck_assert_uint_eq(get32(r), 0x67446698u);
	ck_assert_mem_eq(r + 8, "cookie!!", 8);
	if (get32(r + 4) == 0 && out != NULL)
		rd(fd, out, len);
	return get32(r + 4);
}

START_TEST(go_read_write_flush_disconnect)
{
	struct server s;
	int fd = start(&s);
	uint8_t buf[1000], back[1000];

	memset(disk, 0, sizeof(disk));
	flushes = 0;
	handshake(fd, "e1.2");
	memset(buf, 0x5a, sizeof(buf));
	ck_assert_uint_eq(request(fd, 1, 0, 777, sizeof(buf), buf, NULL), 0);
	ck_assert_uint_eq(request(fd, 0, 0, 777, sizeof(back), NULL, back), 0);
	ck_assert_mem_eq(back, buf, sizeof(buf));
	ck_assert_uint_eq(request(fd, 1, 1, 0, 10, buf, NULL), 0);	/* FUA */
	ck_assert_int_eq(flushes, 1);
	ck_assert_uint_eq(request(fd, 3, 0, 0, 0, NULL, NULL), 0);	/* FLUSH */
	ck_assert_int_eq(flushes, 2);
	ck_assert_uint_eq(request(fd, 4, 0, 0, 4096, NULL, NULL), 0);	/* TRIM: a hint */
	ck_assert_uint_eq(request(fd, 6, 0, 700, 100, NULL, NULL), 0);	/* WRITE_ZEROES */
	ck_assert_uint_eq(disk[777], 0);
	ck_assert_uint_eq(disk[800], 0x5a);
	/* Errors: beyond the end, a failing backend, an unknown command. */
	ck_assert_uint_eq(request(fd, 0, 0, SIZE - 10, 11, NULL, NULL), 22);
	ck_assert_uint_eq(request(fd, 1, 0, SIZE, 1, buf, NULL), 22);
	ck_assert_uint_eq(request(fd, 1, 0, 4096, 10, buf, NULL), 5);
	ck_assert_uint_eq(request(fd, 99, 0, 0, 0, NULL, NULL), 22);
	ck_assert_uint_eq(request(fd, 0, 0, 0, 1, NULL, back), 0);	/* still in step */
	{
		uint8_t h[28] = { 0 };

		put32(h, 0x25609513u);
		h[7] = 2;					/* DISC */
		ck_assert_int_eq(write(fd, h, 28), 28);
	}
	pthread_join(s.th, NULL);
	ck_assert_int_eq(s.rc, 0);
	close(fd);
}
END_TEST

/* Append one request (header, then payload if any) to a byte stream. */
static size_t
queue(uint8_t *at, uint16_t type, const char *cookie, uint64_t off, uint32_t len,
    const void *data)
{
	memset(at, 0, 28);
	put32(at, 0x25609513u);
	at[7] = (uint8_t)type;
	memcpy(at + 8, cookie, 8);
	put64(at + 16, off);
	put32(at + 24, len);
	if (data != NULL)
		memcpy(at + 28, data, len);
	return 28 + (data != NULL ? len : 0);
}

/* One simple reply: its error, cookie checked, data (if any) into out. */
static uint32_t
answer(int fd, const char *cookie, void *out, size_t len)
{
	uint8_t r[16];

	rd(fd, r, 16);
	ck_assert_uint_eq(get32(r), 0x67446698u);
	ck_assert_mem_eq(r + 8, cookie, 8);
	if (get32(r + 4) == 0 && out != NULL)
		rd(fd, out, len);
	return get32(r + 4);
}

/*
 * Requests already queued that continue each other are served with one
 * backend call and still answered one by one, in order; one that does not
 * continue them (or another command) is served on its own.
 */
START_TEST(queued_contiguous_requests_are_merged)
{
	static uint8_t stream[8 * (28 + 1000)];
	struct server s;
	int fd = start(&s);
	uint8_t data[4][1000], back[4][1000], other[1000];
	size_t n = 0;

	memset(disk, 0, sizeof(disk));
	reads = writes = flushes = 0;
	handshake(fd, "e1.2");
	for (int i = 0; i < 4; i++)
		memset(data[i], 'a' + i, sizeof(data[i]));
	memset(other, 'z', sizeof(other));
	n += queue(stream + n, 1, "write--0", 10000, 1000, data[0]);
	n += queue(stream + n, 1, "write--1", 11000, 1000, data[1]);
	n += queue(stream + n, 1, "write--2", 12000, 1000, data[2]);
	n += queue(stream + n, 1, "write--3", 13000, 1000, data[3]);
	n += queue(stream + n, 1, "write--x", 50000, 1000, other);	/* not next */
	n += queue(stream + n, 3, "flush--1", 0, 0, NULL);
	ck_assert_int_eq(write(fd, stream, n), (ssize_t)n);
	ck_assert_uint_eq(answer(fd, "write--0", NULL, 0), 0);
	ck_assert_uint_eq(answer(fd, "write--1", NULL, 0), 0);
	ck_assert_uint_eq(answer(fd, "write--2", NULL, 0), 0);
	ck_assert_uint_eq(answer(fd, "write--3", NULL, 0), 0);
	ck_assert_uint_eq(answer(fd, "write--x", NULL, 0), 0);
	ck_assert_uint_eq(answer(fd, "flush--1", NULL, 0), 0);
	ck_assert_int_eq(writes, 2);
	ck_assert_int_eq(flushes, 1);
	ck_assert_mem_eq(disk + 50000, other, sizeof(other));
	n = 0;
	for (int i = 0; i < 4; i++) {
		char cookie[9];

		snprintf(cookie, sizeof(cookie), "read---%d", i);
		n += queue(stream + n, 0, cookie, 10000 + 1000 * (uint64_t)i, 1000, NULL);
	}
	ck_assert_int_eq(write(fd, stream, n), (ssize_t)n);
	for (int i = 0; i < 4; i++) {
		char cookie[9];

		snprintf(cookie, sizeof(cookie), "read---%d", i);
		ck_assert_uint_eq(answer(fd, cookie, back[i], sizeof(back[i])), 0);
		ck_assert_mem_eq(back[i], data[i], sizeof(data[i]));
	}
	ck_assert_int_eq(reads, 1);
	/* A failing merged write fails every request in it, each answered. */
	n = 0;
	n += queue(stream + n, 1, "fail---0", 4096, 1000, data[0]);
	n += queue(stream + n, 1, "fail---1", 5096, 1000, data[1]);
	ck_assert_int_eq(write(fd, stream, n), (ssize_t)n);
	ck_assert_uint_ne(answer(fd, "fail---0", NULL, 0), 0);
	ck_assert_uint_ne(answer(fd, "fail---1", NULL, 0), 0);
	close(fd);
	pthread_join(s.th, NULL);
}
END_TEST

START_TEST(unknown_export_and_oversized_write_are_refused)
{
	struct server s;
	int fd = start(&s);
	uint8_t g[18], d[64], flags[4] = { 0, 0, 0, 3 }, h[28] = { 0 };
	uint32_t len;

	rd(fd, g, 18);
	ck_assert_int_eq(write(fd, flags, 4), 4);
	put32(d, 3);
	memcpy(d + 4, "xyz", 3);
	d[7] = d[8] = 0;
	option(fd, 7, d, 9);
	ck_assert_uint_eq(reply(fd, d, &len), 0x80000006u);		/* unknown export */
	put32(d, 100);							/* name longer than the option */
	option(fd, 7, d, 9);
	ck_assert_uint_eq(reply(fd, d, &len), 0x80000003u);		/* invalid */
	put32(d, 0);
	d[4] = d[5] = 0;
	option(fd, 7, d, 6);						/* "" is the default export */
	ck_assert_uint_eq(reply(fd, d, &len), 3);
	ck_assert_uint_eq(reply(fd, d, &len), 3);
	ck_assert_uint_eq(reply(fd, d, &len), 1);
	/* A write bigger than any buffer: the server cannot stay in step and closes. */
	put32(h, 0x25609513u);
	h[7] = 1;
	put32(h + 24, KR_NBD_MAX_REQUEST + 1);
	ck_assert_int_eq(write(fd, h, 28), 28);
	pthread_join(s.th, NULL);
	ck_assert_int_eq(s.rc, -1);
	ck_assert_int_eq(read(fd, d, 1), 0);
	close(fd);
}
END_TEST

START_TEST(client_without_fixed_newstyle_is_refused)
{
	struct server s;
	int fd = start(&s);
	uint8_t g[18], flags[4] = { 0, 0, 0, 0 };

	rd(fd, g, 18);
	ck_assert_int_eq(write(fd, flags, 4), 4);
	pthread_join(s.th, NULL);
	ck_assert_int_eq(s.rc, -1);
	close(fd);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("nbd", &tc);

	tcase_add_test(tc, go_read_write_flush_disconnect);
	tcase_add_test(tc, queued_contiguous_requests_are_merged);
	tcase_add_test(tc, unknown_export_and_oversized_write_are_refused);
	tcase_add_test(tc, client_without_fixed_newstyle_is_refused);
	return kr_check_run(s);
}
