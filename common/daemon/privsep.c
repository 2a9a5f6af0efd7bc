/*
 * privsep.c - the message protocol between a privileged parent and its
 * unprivileged child (see privsep.h).
 *
 * SOCK_SEQPACKET keeps message boundaries, so size checks need no
 * reassembly: recv() with MSG_TRUNC returns the size that was sent, and a
 * message bigger than the largest allowed is seen as such, never read in
 * pieces.  The parent's buffer is allocated once; it never grows.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "daemon/privsep.h"

#define MSG_MAX (sizeof(struct kr_privsep_hdr) + KR_PRIVSEP_MAX)

int
kr_privsep_pair(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
		kr_error_errno("InternalError", "cannot make the privsep socketpair");
		return -1;
	}
	return 0;
}

/* One whole message out: header and payload in one datagram. */
static int
send_msg(int fd, uint32_t type, const void *payload, size_t len)
{
	struct kr_privsep_hdr h = { .type = type, .len = (uint32_t)len };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t n;

	if (len > KR_PRIVSEP_MAX) {
		kr_error("InternalError", "privsep message of %zu bytes (at most %u)", len,
		    KR_PRIVSEP_MAX);
		return -1;
	}
	do
		n = sendmsg(fd, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)(sizeof(h) + len)) {
		kr_error_errno("InternalError", "privsep channel: cannot send");
		return -1;
	}
	return 0;
}

/*
 * One whole message in: 1 with the header in *h and h->len payload bytes
 * in buf[sizeof(*h)...], 0 on end of file, -1 (kr_error set) when it was
 * not a well-formed message: too short, too long, or not the size its
 * header says.
 */
static int
recv_msg(int fd, unsigned char *buf, size_t bufsz, struct kr_privsep_hdr *h)
{
	ssize_t n;

	do
		n = recv(fd, buf, bufsz, MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n < 0) {
		kr_error_errno("InternalError", "privsep channel: cannot receive");
		return -1;
	}
	if ((size_t)n > bufsz) {
		kr_error("InternalError", "privsep message of %zd bytes (at most %zu)", n, bufsz);
		return -1;
	}
	if ((size_t)n < sizeof(*h)) {
		kr_error("InternalError", "privsep message of %zd bytes: no header", n);
		return -1;
	}
	memcpy(h, buf, sizeof(*h));
	if ((size_t)h->len != (size_t)n - sizeof(*h)) {
		kr_error("InternalError", "privsep message says %u bytes and has %zu", h->len,
		    (size_t)n - sizeof(*h));
		return -1;
	}
	return 1;
}

static const struct kr_privsep_op *
find_op(const struct kr_privsep_op *ops, uint32_t type)
{
	for (; ops->name != NULL; ops++)
		if (ops->type == type)
			return ops;
	return NULL;
}

/* Run one well-formed request; -1 (kr_error set) when it is off the contract. */
static int
serve_one(int fd, const struct kr_privsep_op *ops, void *arg, const struct kr_privsep_hdr *h,
    const unsigned char *req, unsigned char *reply)
{
	const struct kr_privsep_op *op = find_op(ops, h->type);
	size_t reply_len = KR_PRIVSEP_MAX;
	char err[KR_ERROR_CODE_MAX + KR_ERROR_MSG_MAX];
	int n;

	if (op == NULL) {
		kr_error("InternalError", "privsep: unknown request type %u", h->type);
		return -1;
	}
	if (h->len < op->min_len || h->len > op->max_len) {
		kr_error("InternalError", "privsep: %s request of %u bytes (%zu to %zu allowed)",
		    op->name, h->len, op->min_len, op->max_len);
		return -1;
	}
	if (op->check != NULL && !op->check(req, h->len)) {
		kr_error("InternalError", "privsep: %s request refused by its check", op->name);
		return -1;
	}
	kr_error_clear();
	if (op->run(req, h->len, reply, &reply_len, arg) == 0)
		return send_msg(fd, KR_PRIVSEP_OK, reply, reply_len);
	/* A refusal of a valid request: the child gets the code and message. */
	kr_log_warnx("privsep: %s failed: %s: %s", op->name, kr_error_code(), kr_error_message());
	n = snprintf(err, sizeof(err), "%s", kr_error_code()[0] ? kr_error_code() : "InternalError");
	n += 1 + snprintf(err + n + 1, sizeof(err) - (size_t)n - 1, "%s", kr_error_message());
	return send_msg(fd, KR_PRIVSEP_ERROR, err, (size_t)n);
}

int
kr_privsep_serve(int fd, const struct kr_privsep_op *ops, void *arg)
{
	unsigned char *in = malloc(MSG_MAX), *reply = malloc(KR_PRIVSEP_MAX);
	struct kr_privsep_hdr h;
	int rc;

	if (in == NULL || reply == NULL) {
		free(in);
		free(reply);
		kr_error("InternalError", "out of memory");
		return -1;
	}
	while ((rc = recv_msg(fd, in, MSG_MAX, &h)) == 1)
		if (serve_one(fd, ops, arg, &h, in + sizeof(h), reply) < 0) {
			rc = -1;
			break;
		}
	if (rc < 0)
		kr_log_errorx("privsep: the child broke the contract, stopping: %s",
		    kr_error_message());
	free(in);
	free(reply);
	return rc;
}

void
kr_privsep_client_init(struct kr_privsep_client *c, int fd)
{
	c->fd = fd;
	pthread_mutex_init(&c->lock, NULL);
}

/* The parent's answer in buf (len bytes after the header) into reply or kr_error. */
static int
take_reply(const struct kr_privsep_hdr *h, const unsigned char *payload, void *reply,
    size_t reply_max, size_t *reply_len)
{
	const char *code = (const char *)payload, *msg;

	if (h->type == KR_PRIVSEP_OK) {
		if (h->len > reply_max) {
			kr_error("InternalError", "privsep answer of %u bytes (room for %zu)", h->len,
			    reply_max);
			return -1;
		}
		if (h->len)
			memcpy(reply, payload, h->len);
		if (reply_len)
			*reply_len = h->len;
		return 0;
	}
	/* "code\0message": both bounded by the datagram, which recv_msg() sized. */
	msg = memchr(code, '\0', h->len);
	if (h->type != KR_PRIVSEP_ERROR || msg == NULL) {
		kr_error("InternalError", "privsep: malformed answer");
		return -1;
	}
	msg++;
	kr_error(code[0] ? code : "InternalError", "%.*s", (int)(h->len - (size_t)(msg - code)),
	    msg);
	return -1;
}

int
kr_privsep_call(struct kr_privsep_client *c, uint32_t type, const void *req, size_t len,
    void *reply, size_t reply_max, size_t *reply_len)
{
	unsigned char *in = malloc(MSG_MAX);
	struct kr_privsep_hdr h;
	int rc;

	if (in == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	pthread_mutex_lock(&c->lock);
	rc = send_msg(c->fd, type, req, len);
	if (rc == 0) {
		rc = recv_msg(c->fd, in, MSG_MAX, &h);
		if (rc == 0)
			kr_error("InternalError", "privsep: the privileged parent is gone");
		rc = rc == 1 ? take_reply(&h, in + sizeof(h), reply, reply_max, reply_len) : -1;
	}
	pthread_mutex_unlock(&c->lock);
	free(in);
	return rc;
}
