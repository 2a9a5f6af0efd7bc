/*
 * nbd.c - fuzz the NBD server karri-aoe runs for QEMU (common/aoe/nbd.c): the
 * bytes are what a client sends on the socket, handshake and requests,
 * served by kr_nbd_serve() against a 1 MiB memory disk.  The backend aborts
 * if the server ever asks it for bytes outside the export (every request's
 * range must be checked before it reaches the initiator).
 */
#include <pthread.h>

#include "fuzz.h"
#include "aoe/nbd.h"

#define DISK (1u << 20)

static uint8_t disk[DISK];

static int
mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	(void)ctx;
	if (off > DISK || len > DISK - off)
		abort();
	memcpy(buf, disk + off, len);
	return 0;
}

static int
mem_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	(void)ctx;
	if (off > DISK || len > DISK - off)
		abort();
	memcpy(disk + off, buf, len);
	return 0;
}

static int
mem_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

struct peer {
	int fd;
	const uint8_t *data;
	size_t size;
};

/* The client's side: send everything, then read the answers to the end. */
static void *
client(void *arg)
{
	struct peer *p = arg;
	size_t off = 0;
	char buf[65536];

	while (off < p->size) {
		ssize_t n = send(p->fd, p->data + off, p->size - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(p->fd, SHUT_WR);
	while (recv(p->fd, buf, sizeof(buf), 0) > 0)
		;
	return NULL;
}

FZ_INIT_QUIET

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct kr_nbd_backend b = { .name = "vol-12345678", .size = DISK, .ctx = NULL,
	    .read = mem_read, .write = mem_write, .flush = mem_flush };
	struct peer p = { .data = data, .size = size };
	pthread_t th;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	p.fd = sv[1];
	pthread_create(&th, NULL, client, &p);
	(void)kr_nbd_serve(sv[0], &b);
	close(sv[0]);
	pthread_join(th, NULL);
	close(sv[1]);
	return 0;
}
