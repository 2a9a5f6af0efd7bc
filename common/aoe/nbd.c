/*
 * nbd.c - the NBD server (see nbd.h).
 *
 * Plain blocking I/O on one connection: QEMU keeps a single connection per
 * disk, and the backend (the AoE initiator) already overlaps frames inside
 * each request, so threads here would buy nothing but locking.  What one
 * connection does lose is the overlap *between* requests: QEMU queues 16
 * sequential 1 MiB requests, and served one by one the AoE window drains at
 * every boundary.  So reads or writes that are already waiting on the
 * socket and continue where the previous one ended are merged into one
 * backend call of up to MERGE_MAX bytes, and answered one by one, in order
 * (bench/guestio's ebs-nbd case).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/error.h"
#include "aoe/nbd.h"

#define NBDMAGIC		0x4e42444d41474943ULL
#define IHAVEOPT		0x49484156454f5054ULL
#define OPT_REPLY_MAGIC		0x3e889045565a9ULL
#define REQUEST_MAGIC		0x25609513u
#define SIMPLE_REPLY_MAGIC	0x67446698u

#define FLAG_FIXED_NEWSTYLE	0x1
#define FLAG_NO_ZEROES		0x2

#define OPT_EXPORT_NAME	1
#define OPT_ABORT	2
#define OPT_LIST	3
#define OPT_INFO	6
#define OPT_GO		7

#define REP_ACK		1
#define REP_SERVER	2
#define REP_INFO	3
#define REP_ERR_UNSUP	0x80000001u
#define REP_ERR_INVALID	0x80000003u
#define REP_ERR_UNKNOWN	0x80000006u

#define INFO_EXPORT	0
#define INFO_BLOCK_SIZE	3

#define TF_HAS_FLAGS	0x0001
#define TF_READ_ONLY	0x0002
#define TF_SEND_FLUSH	0x0004
#define TF_SEND_FUA	0x0008
#define TF_SEND_TRIM	0x0020
#define TF_SEND_WZEROES	0x0040

#define CMD_READ	0
#define CMD_WRITE	1
#define CMD_DISC	2
#define CMD_FLUSH	3
#define CMD_TRIM	4
#define CMD_WRITE_ZEROES 6
#define CMDF_FUA	0x1

#define OPT_DATA_MAX	4096	/* option payloads are names and info requests */
#define MERGE_MAX	(8u << 20)	/* bytes of contiguous requests served as one */
#define MERGE_REQS	64		/* requests in one merged call */

static int
read_full(int fd, void *buf, size_t len, bool eof_ok)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n == 0) {
			if (eof_ok && got == 0)
				return 1;
			kr_error("InvalidRequest", "NBD client closed mid-message");
			return -1;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			kr_error_errno("InternalError", "NBD read");
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

static int
write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			kr_error_errno("InternalError", "NBD write");
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
be32(uint8_t *p, uint32_t v)
{
	be16(p, (uint16_t)(v >> 16));
	be16(p + 2, (uint16_t)v);
}

static void
be64(uint8_t *p, uint64_t v)
{
	be32(p, (uint32_t)(v >> 32));
	be32(p + 4, (uint32_t)v);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static int
opt_reply(int fd, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
	uint8_t h[20];

	be64(h, OPT_REPLY_MAGIC);
	be32(h + 8, opt);
	be32(h + 12, type);
	be32(h + 16, len);
	if (write_full(fd, h, sizeof(h)) < 0)
		return -1;
	return len > 0 ? write_full(fd, data, len) : 0;
}

static uint16_t
tflags(const struct kr_nbd_backend *b)
{
	uint16_t f = TF_HAS_FLAGS | TF_SEND_FLUSH | TF_SEND_FUA | TF_SEND_TRIM | TF_SEND_WZEROES;

	return b->read_only ? (uint16_t)(f | TF_READ_ONLY) : f;
}

static bool
name_ok(const struct kr_nbd_backend *b, const uint8_t *name, size_t len)
{
	return len == 0 || (strlen(b->name) == len && memcmp(b->name, name, len) == 0);
}

/* NBD_OPT_INFO / NBD_OPT_GO: 1 when transmission starts, 0 to go on, -1 on error. */
static int
opt_info_go(int fd, const struct kr_nbd_backend *b, uint32_t opt, const uint8_t *d, uint32_t len)
{
	uint8_t info[18];
	uint32_t nlen;

	if (len < 6 || (nlen = get32(d)) > len - 6 ||
	    (uint64_t)nlen + 6 + 2 * (uint64_t)(d[4 + nlen] << 8 | d[5 + nlen]) != len)
		return opt_reply(fd, opt, REP_ERR_INVALID, NULL, 0);
	if (!name_ok(b, d + 4, nlen))
		return opt_reply(fd, opt, REP_ERR_UNKNOWN, NULL, 0);
	be16(info, INFO_EXPORT);
	be64(info + 2, b->size);
	be16(info + 10, tflags(b));
	if (opt_reply(fd, opt, REP_INFO, info, 12) < 0)
		return -1;
	/* Block sizes: any byte offset works (the initiator merges partial
	 * sectors), but 4 KiB is what performs. */
	be16(info, INFO_BLOCK_SIZE);
	be32(info + 2, 1);
	be32(info + 6, 4096);
	be32(info + 10, KR_NBD_MAX_REQUEST);
	if (opt_reply(fd, opt, REP_INFO, info, 14) < 0 || opt_reply(fd, opt, REP_ACK, NULL, 0) < 0)
		return -1;
	return opt == OPT_GO ? 1 : 0;
}

/* Option haggling; 1: transmission, 0: client aborted, -1: error. */
static int
handshake(int fd, const struct kr_nbd_backend *b)
{
	uint8_t h[18], d[OPT_DATA_MAX];
	uint32_t cflags, opt, len;
	int r;

	be64(h, NBDMAGIC);
	be64(h + 8, IHAVEOPT);
	be16(h + 16, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
	if (write_full(fd, h, 18) < 0 || read_full(fd, h, 4, false) < 0)
		return -1;
	cflags = get32(h);
	if (!(cflags & FLAG_FIXED_NEWSTYLE)) {
		kr_error("InvalidRequest", "NBD client does not speak fixed newstyle");
		return -1;
	}
	for (;;) {
		if (read_full(fd, h, 16, false) < 0)
			return -1;
		if (get64(h) != IHAVEOPT) {
			kr_error("InvalidRequest", "NBD option without IHAVEOPT");
			return -1;
		}
		opt = get32(h + 8);
		len = get32(h + 12);
		if (len > OPT_DATA_MAX) {
			kr_error("InvalidRequest", "NBD option of %u bytes", len);
			return -1;
		}
		if (len > 0 && read_full(fd, d, len, false) < 0)
			return -1;
		switch (opt) {
		case OPT_EXPORT_NAME: {
			uint8_t reply[10 + 124];

			if (!name_ok(b, d, len)) {
				kr_error("InvalidRequest", "NBD client asked for an unknown export");
				return -1;	/* EXPORT_NAME has no error reply: close */
			}
			be64(reply, b->size);
			be16(reply + 8, tflags(b));
			memset(reply + 10, 0, 124);
			return write_full(fd, reply, (cflags & FLAG_NO_ZEROES) ? 10 : 134) < 0 ? -1 : 1;
		}
		case OPT_ABORT:
			(void)opt_reply(fd, opt, REP_ACK, NULL, 0);
			return 0;
		case OPT_LIST: {
			uint8_t s[4 + 256];
			size_t n = strlen(b->name) > 256 ? 256 : strlen(b->name);

			if (len != 0) {
				r = opt_reply(fd, opt, REP_ERR_INVALID, NULL, 0);
				break;
			}
			be32(s, (uint32_t)n);
			memcpy(s + 4, b->name, n);
			r = opt_reply(fd, opt, REP_SERVER, s, (uint32_t)(4 + n));
			if (r == 0)
				r = opt_reply(fd, opt, REP_ACK, NULL, 0);
			break;
		}
		case OPT_INFO:
		case OPT_GO:
			r = opt_info_go(fd, b, opt, d, len);
			if (r == 1)
				return 1;
			break;
		default:
			r = opt_reply(fd, opt, REP_ERR_UNSUP, NULL, 0);
			break;
		}
		if (r < 0)
			return -1;
	}
}

static int
simple_reply(int fd, uint32_t err, const uint8_t *handle, const void *data, size_t len)
{
	uint8_t h[16];

	be32(h, SIMPLE_REPLY_MAGIC);
	be32(h + 4, err);
	memcpy(h + 8, handle, 8);
	if (write_full(fd, h, sizeof(h)) < 0)
		return -1;
	return len > 0 ? write_full(fd, data, len) : 0;
}

static uint32_t
do_write(const struct kr_nbd_backend *b, const uint8_t *buf, uint32_t len, uint64_t off,
    uint16_t flags)
{
	if (b->write(b->ctx, buf, len, off) < 0)
		return EIO;
	if ((flags & CMDF_FUA) && b->flush(b->ctx) < 0)
		return EIO;
	return 0;
}

/* One request header, decoded. */
struct req {
	uint8_t h[28];
	uint16_t flags, type;
	uint64_t off;
	uint32_t len;
};

static void
decode(struct req *r)
{
	r->flags = (uint16_t)(r->h[4] << 8 | r->h[5]);
	r->type = (uint16_t)(r->h[6] << 8 | r->h[7]);
	r->off = get64(r->h + 16);
	r->len = get32(r->h + 24);
}

/* A whole request header is waiting on the socket (never blocks). */
static bool
header_waiting(int fd)
{
	uint8_t h[28];

	return recv(fd, h, sizeof(h), MSG_PEEK | MSG_DONTWAIT) == (ssize_t)sizeof(h);
}

/* The EINVAL/EPERM a request gets before the backend sees it; 0 if fine. */
static uint32_t
check(const struct kr_nbd_backend *b, const struct req *r)
{
	if ((r->type == CMD_READ || r->type == CMD_WRITE || r->type == CMD_TRIM ||
	    r->type == CMD_WRITE_ZEROES) && (r->off > b->size || r->len > b->size - r->off))
		return EINVAL;
	if (r->type == CMD_READ && r->len > KR_NBD_MAX_REQUEST)
		return EINVAL;
	if (b->read_only && (r->type == CMD_WRITE || r->type == CMD_TRIM ||
	    r->type == CMD_WRITE_ZEROES))
		return EPERM;
	return 0;
}

/*
 * After the read or write `first` (its payload, for a write, at buf): take
 * the requests already waiting that continue it -- same command, the next
 * bytes, valid -- into batch[] (payloads appended at buf), as long as the
 * total stays within MERGE_MAX.  The first one that does not fit is left
 * in *next for the main loop.  Returns the number of requests in batch,
 * first included, or -1 on a socket error.
 */
static int
gather(int fd, const struct kr_nbd_backend *b, struct req *batch, uint8_t *buf,
    struct req *next, bool *have_next)
{
	uint64_t total = batch[0].len;
	int n = 1;

	while (n < MERGE_REQS && total < MERGE_MAX && header_waiting(fd)) {
		struct req *r = &batch[n];

		if (read_full(fd, r->h, sizeof(r->h), false) < 0)
			return -1;
		decode(r);
		if (get32(r->h) != REQUEST_MAGIC || r->type != batch[0].type || r->len == 0 ||
		    r->off != batch[0].off + total || total + r->len > MERGE_MAX ||
		    check(b, r) != 0) {
			*next = *r;
			*have_next = true;
			break;
		}
		if (r->type == CMD_WRITE && read_full(fd, buf + total, r->len, false) < 0)
			return -1;
		total += r->len;
		n++;
	}
	return n;
}

/* Serve a batch of contiguous reads or writes with one backend call. */
static int
serve_batch(int fd, const struct kr_nbd_backend *b, const struct req *batch, int n,
    uint8_t *buf)
{
	uint64_t total = 0, at = 0;
	uint32_t err = 0;
	bool fua = false;

	for (int i = 0; i < n; i++) {
		total += batch[i].len;
		fua |= (batch[i].flags & CMDF_FUA) != 0;
	}
	if (batch[0].type == CMD_READ)
		err = b->read(b->ctx, buf, total, batch[0].off) < 0 ? EIO : 0;
	else
		err = do_write(b, buf, (uint32_t)total, batch[0].off, fua ? CMDF_FUA : 0);
	for (int i = 0; i < n; i++) {
		bool data = batch[i].type == CMD_READ && err == 0;

		if (simple_reply(fd, err, batch[i].h + 8, buf + at, data ? batch[i].len : 0) < 0)
			return -1;
		at += batch[i].len;
	}
	return 0;
}

/* TRIM, WRITE_ZEROES, FLUSH and unknown commands, one at a time. */
static uint32_t
serve_other(const struct kr_nbd_backend *b, const struct req *r, uint8_t *buf)
{
	uint32_t err = 0;

	if (r->type == CMD_FLUSH)
		return b->flush(b->ctx) < 0 ? EIO : 0;
	if (r->type == CMD_TRIM)
		return 0;	/* a hint; the volume stays pre-allocated */
	if (r->type != CMD_WRITE_ZEROES)
		return EINVAL;
	memset(buf, 0, r->len < KR_NBD_MAX_REQUEST ? r->len : KR_NBD_MAX_REQUEST);
	for (uint64_t done = 0; err == 0 && done < r->len;) {
		uint32_t n = r->len - done > KR_NBD_MAX_REQUEST ? KR_NBD_MAX_REQUEST :
		    (uint32_t)(r->len - done);

		err = do_write(b, buf, n, r->off + done, r->flags);
		done += n;
	}
	return err;
}

static int
transmission(int fd, const struct kr_nbd_backend *b)
{
	struct req *batch = calloc(MERGE_REQS, sizeof(*batch)), next;
	uint8_t *buf = malloc(KR_NBD_MAX_REQUEST);
	bool have_next = false;
	int rc = -1;

	if (buf == NULL || batch == NULL) {
		kr_error("InternalError", "out of memory");
		goto out;
	}
	for (;;) {
		struct req *r = &batch[0];
		uint32_t err;
		int n;

		if (have_next) {
			*r = next;
			have_next = false;
		} else {
			int got = read_full(fd, r->h, sizeof(r->h), true);

			if (got != 0) {
				rc = got > 0 ? 0 : -1;
				break;
			}
			decode(r);
		}
		if (get32(r->h) != REQUEST_MAGIC) {
			kr_error("InvalidRequest", "bad NBD request magic");
			break;
		}
		if (r->type == CMD_DISC) {
			rc = 0;
			break;
		}
		/* The payload must be consumed to stay in step, so an oversized
		 * write ends the connection. */
		if (r->type == CMD_WRITE && r->len > KR_NBD_MAX_REQUEST) {
			kr_error("InvalidRequest", "NBD write of %u bytes", r->len);
			break;
		}
		if (r->type == CMD_WRITE && read_full(fd, buf, r->len, false) < 0)
			break;
		if ((err = check(b, r)) == 0 && (r->type == CMD_READ || r->type == CMD_WRITE)) {
			if ((n = gather(fd, b, batch, buf, &next, &have_next)) < 0 ||
			    serve_batch(fd, b, batch, n, buf) < 0)
				break;
			continue;
		}
		if (err == 0)
			err = serve_other(b, r, buf);
		if (simple_reply(fd, err, r->h + 8, NULL, 0) < 0)
			break;
	}
out:
	free(batch);
	free(buf);
	return rc;
}

int
kr_nbd_serve(int fd, const struct kr_nbd_backend *b)
{
	int r = handshake(fd, b);

	if (r <= 0)
		return r;
	return transmission(fd, b);
}

int
kr_nbd_listen_unix(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	if (path == NULL || strlen(path) >= sizeof(sa.sun_path)) {
		kr_error("InvalidParameterValue", "unix socket path too long");
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		kr_error_errno("InternalError", "socket");
		return -1;
	}
	/* Replace a stale socket left by a killed server, never anything else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			kr_error("InvalidParameterValue", "%s exists and is not a socket", path);
			close(fd);
			return -1;
		}
		(void)unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		kr_error_errno("InternalError", "listen on %s", path);
		close(fd);
		return -1;
	}
	return fd;
}
