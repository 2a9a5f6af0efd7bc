/*
 * privsep.h - privilege separation the OpenBSD way: a small parent that
 * keeps root and does a short, fixed list of operations when its
 * unprivileged child asks, over a socketpair.
 *
 * The child does all the network parsing (SOAP, HTTP, TLS) as EUCA_USER;
 * a bug there gets the child's rights plus the right to ask for what is on
 * the parent's list, with arguments the parent checks itself.  The channel
 * is a SOCK_SEQPACKET pair, so a message arrives whole or not at all: a
 * header { type, len } and exactly len bytes of payload, at most
 * KR_PRIVSEP_MAX.  The parent refuses, logs and stops serving on anything
 * off the contract -- a type not on its list, a size outside the
 * operation's bounds, a header whose len is not what arrived, a payload the
 * operation's validator rejects -- since a child that sends such a thing is
 * no longer the program we wrote.  Failures of a valid request (iptables
 * said no) are answers, carried back as kr_error code and message, so the
 * one error convention holds across the two processes.
 */
#ifndef KARRI_PRIVSEP_H
#define KARRI_PRIVSEP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KR_PRIVSEP_MAX (128u * 1024)	/* payload bytes, either way */

struct kr_privsep_hdr {
	uint32_t type;	/* request: an operation of the table; reply: KR_PRIVSEP_OK/_ERROR */
	uint32_t len;	/* payload bytes that follow */
};

enum { KR_PRIVSEP_OK = 0, KR_PRIVSEP_ERROR = 1 };

/*
 * One operation the parent performs.  `check` (may be NULL) sees the
 * payload first and returns false for one that is off the contract (fatal,
 * as above); `run` does the work, may write up to *reply_len bytes of
 * answer to reply (it sets *reply_len to what it wrote) and returns 0, or
 * -1 with kr_error set, which becomes the child's kr_error.
 */
struct kr_privsep_op {
	uint32_t type;
	const char *name;		/* in the parent's log */
	size_t min_len, max_len;	/* payload bounds (max_len <= KR_PRIVSEP_MAX) */
	bool (*check)(const void *req, size_t len);
	int (*run)(const void *req, size_t len, void *reply, size_t *reply_len, void *arg);
};

/* A SOCK_SEQPACKET pair, close-on-exec: fds[0] for the parent, fds[1] the child. */
int kr_privsep_pair(int fds[2]);

/*
 * The parent's loop: serve requests on fd with the operations of ops
 * (ended by an entry whose name is NULL) until the child closes its end
 * (0) or breaks the contract (-1, logged with what it sent, kr_error set).
 * Either way the caller stops the child and exits; it does not go on.
 */
int kr_privsep_serve(int fd, const struct kr_privsep_op *ops, void *arg);

/* The child's end; calls from several threads take turns. */
struct kr_privsep_client {
	int fd;
	pthread_mutex_t lock;
};

void kr_privsep_client_init(struct kr_privsep_client *c, int fd);

/*
 * Ask for one operation and wait for the answer: 0 with up to reply_max
 * bytes in reply (*reply_len set), or -1 with kr_error set -- the parent's
 * own code and message when it refused or failed, "InternalError" when the
 * channel is gone.
 */
int kr_privsep_call(struct kr_privsep_client *c, uint32_t type, const void *req, size_t len,
    void *reply, size_t reply_max, size_t *reply_len);

#endif
