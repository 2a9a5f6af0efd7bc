/*
 * nbd.h - a small NBD server (fixed newstyle handshake, simple replies).
 *
 * It serves one block backend to one client at a time over a unix socket,
 * which is how QEMU attaches a volume the host has no block device for:
 * <disk type='network'><source protocol='nbd'><host transport='unix'
 * socket='...'/>.  The backend is a small table of operations, so the same
 * server can front the AoE initiator or anything else.
 *
 * Protocol subset: NBD_OPT_EXPORT_NAME, NBD_OPT_GO, NBD_OPT_INFO,
 * NBD_OPT_LIST, NBD_OPT_ABORT (others answered NBD_REP_ERR_UNSUP, including
 * structured replies, so clients fall back to simple replies); commands
 * READ, WRITE (with FUA), FLUSH, TRIM (a hint: acknowledged, nothing to
 * free on a pre-allocated volume), WRITE_ZEROES, DISC.
 */
#ifndef KARRI_NBD_H
#define KARRI_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KR_NBD_MAX_REQUEST (32u << 20)	/* larger requests are refused: every buffer is bounded */

struct kr_nbd_backend {
	const char *name;	/* export name; "" from a client also means this one */
	uint64_t size;		/* bytes */
	bool read_only;
	void *ctx;
	/* 0 or -1 (kr_error set); the server answers EIO on -1. */
	int (*read)(void *ctx, void *buf, size_t len, uint64_t off);
	int (*write)(void *ctx, const void *buf, size_t len, uint64_t off);
	int (*flush)(void *ctx);
};

/* Listen on a unix socket (an old socket at path is replaced; any other file
 * there is an error); fd or -1 + kr_error. */
int kr_nbd_listen_unix(const char *path);

/*
 * Handshake and serve one connected client until it disconnects.  0 when it
 * ended cleanly (NBD_CMD_DISC, NBD_OPT_ABORT, EOF between requests), -1 +
 * kr_error on a protocol or socket error.  Does not close fd.
 */
int kr_nbd_serve(int fd, const struct kr_nbd_backend *b);

#endif
