/*
 * backend_call.c - worker threads for the CLC's calls to other daemons,
 * and the way their results come back to the event loop (clc_backend.h).
 *
 * Workers are made on demand, up to CLC_BACKEND_WORKERS_MAX, and wait for
 * the next job when idle: a call to a stopped CC holds one thread for its
 * timeout, never the loop, and the per-backend bound keeps one stopped
 * backend from taking every thread.  A finished job goes on the done list
 * and, when the list was empty, one byte down a socketpair wakes the loop,
 * which runs every done job's callback in order.  The bookkeeping of slots
 * (calls in flight per backend) is the loop's alone, so it needs no lock;
 * the queues between the loop and the workers share one mutex.
 *
 * At shutdown nothing waits for a worker stuck in a call: the process
 * exits and the kernel closes its sockets.  The socketpair is therefore
 * never closed, so a late worker cannot write into a reused descriptor.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>
#include <libxml/parser.h>

#include "clc_backend.h"
#include "core/error.h"
#include "http/http_client.h"
#include "core/log.h"

#define MAX_BACKENDS 64
#define MAX_SLOTS 2

struct clc_slot {
	char key[CLC_BACKEND_KEY_MAX];
	int inflight;
};

struct job {
	clc_work_fn work;
	clc_done_fn done;
	void *arg;
	struct clc_slot *slots[MAX_SLOTS];
	int nslots;
	int rc;
	struct kr_err err;		/* the worker's, when rc < 0 */
	struct job *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct job *todo, **todo_tail;
	struct job *done, **done_tail;
	int workers, idle;
	int wake[2];			/* [0] read by the loop, [1] written by workers */
	struct event *ev;
	int max_calls;
	struct clc_slot backends[MAX_BACKENDS];	/* the loop's only */
} B = { .lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER,
	.wake = { -1, -1 } };

void
clc_backend_key(char *out, const char *kind, const char *name)
{
	snprintf(out, CLC_BACKEND_KEY_MAX, "%s%s%s", kind, name ? ":" : "", name ? name : "");
}

static struct clc_slot *
slot_of(const char *key, bool make)
{
	struct clc_slot *free_slot = NULL;

	for (int i = 0; i < MAX_BACKENDS; i++) {
		if (strcmp(B.backends[i].key, key) == 0)
			return &B.backends[i];
		if (!free_slot && B.backends[i].inflight == 0)
			free_slot = &B.backends[i];
	}
	if (make && free_slot)
		snprintf(free_slot->key, sizeof(free_slot->key), "%s", key);
	return make ? free_slot : NULL;
}

int
clc_backend_inflight(const char *backend)
{
	struct clc_slot *s = slot_of(backend, false);

	return s ? s->inflight : 0;
}

int
clc_backend_reserve(const char *backend, struct clc_slot **out)
{
	struct clc_slot *s = slot_of(backend, true);

	*out = NULL;
	if (s == NULL || s->inflight >= B.max_calls) {
		kr_error("RequestLimitExceeded", "%d calls to %s are in flight already: "
		    "try again later", s ? s->inflight : B.max_calls, backend);
		return -1;
	}
	s->inflight++;
	*out = s;
	return 0;
}

void
clc_backend_unreserve(struct clc_slot *slot)
{
	if (slot && slot->inflight > 0)
		slot->inflight--;
}

static void *
worker(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&B.lock);
	for (;;) {
		struct job *j;
		bool wake;

		while (B.todo == NULL) {
			B.idle++;
			pthread_cond_wait(&B.more, &B.lock);
			B.idle--;
		}
		j = B.todo;
		if ((B.todo = j->next) == NULL)
			B.todo_tail = &B.todo;
		pthread_mutex_unlock(&B.lock);

		kr_error_clear();
		if ((j->rc = j->work(j->arg)) < 0) {
			kr_error_save(&j->err);
			if (!j->err.code[0])
				snprintf(j->err.code, sizeof(j->err.code), "InternalError");
		}
		kr_error_clear();

		pthread_mutex_lock(&B.lock);
		j->next = NULL;
		wake = B.done == NULL;
		*B.done_tail = j;
		B.done_tail = &j->next;
		if (wake)
			/* Short and never blocking: at worst the loop is woken twice. */
			while (write(B.wake[1], "", 1) < 0 && errno == EINTR)
				;
	}
	return NULL;
}

/* Under B.lock: one more worker when none is idle for the job just queued. */
static void
grow(void)
{
	pthread_attr_t a;
	pthread_t t;

	if (B.idle > 0 || B.workers >= CLC_BACKEND_WORKERS_MAX)
		return;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, worker, NULL) == 0)
		B.workers++;
	else if (B.workers == 0)
		kr_log_errorx("cannot start a worker thread: backend calls wait");
	pthread_attr_destroy(&a);
}

static void
on_done(evutil_socket_t fd, short events, void *unused)
{
	char buf[64];
	struct job *list, *j;

	(void)events;
	(void)unused;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&B.lock);
	list = B.done;
	B.done = NULL;
	B.done_tail = &B.done;
	pthread_mutex_unlock(&B.lock);
	while ((j = list) != NULL) {
		list = j->next;
		kr_error_clear();
		if (j->rc < 0)
			kr_error_restore(&j->err);
		j->done(j->rc, j->arg);
		for (int i = 0; i < j->nslots; i++)
			clc_backend_unreserve(j->slots[i]);
		free(j);
		kr_error_clear();
	}
}

int
clc_backend_init(struct event_base *base, int max_calls)
{
	/* Workers parse XML and call libcurl: both set up once, before any thread. */
	xmlInitParser();
	if (kr_http_init() < 0)
		return -1;
	B.todo_tail = &B.todo;
	B.done_tail = &B.done;
	B.max_calls = max_calls > 0 ? max_calls : 32;
	if (evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, B.wake) < 0 ||
	    evutil_make_socket_nonblocking(B.wake[0]) < 0 ||
	    evutil_make_socket_closeonexec(B.wake[0]) < 0 ||
	    evutil_make_socket_closeonexec(B.wake[1]) < 0 ||
	    (B.ev = event_new(base, B.wake[0], EV_READ | EV_PERSIST, on_done, NULL)) == NULL ||
	    event_add(B.ev, NULL) < 0) {
		kr_error_errno("InternalError", "cannot set up the backend call queue");
		return -1;
	}
	return 0;
}

void
clc_backend_start(struct clc_slot *const *slots, int nslots, clc_work_fn work,
    clc_done_fn done, void *arg)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		/* No job, no worker: answer at once, as the worker would have. */
		kr_error("InternalError", "out of memory");
		done(-1, arg);
		for (int i = 0; i < nslots; i++)
			clc_backend_unreserve(slots[i]);
		return;
	}
	j->work = work;
	j->done = done;
	j->arg = arg;
	for (int i = 0; i < nslots && i < MAX_SLOTS; i++)
		j->slots[j->nslots++] = slots[i];
	pthread_mutex_lock(&B.lock);
	*B.todo_tail = j;
	B.todo_tail = &j->next;
	grow();
	pthread_cond_signal(&B.more);
	pthread_mutex_unlock(&B.lock);
}

int
clc_backend_run(const char *backend, clc_work_fn work, clc_done_fn done, void *arg)
{
	struct clc_slot *s;

	if (clc_backend_reserve(backend, &s) < 0)
		return -1;
	clc_backend_start(&s, 1, work, done, arg);
	return 0;
}
