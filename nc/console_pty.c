/*
 * console_pty.c - copy a container's console into its console.log.
 *
 * libvirt's LXC driver gives a container a pty console only (no file
 * console as QEMU has), and a pty nobody reads fills up: a chatty
 * container then blocks on its next write to /dev/console.  So while a
 * container runs, one thread per instance holds the console open through
 * virDomainOpenConsole on a connection of its own and appends what comes
 * to INSTANCE_PATH/instances/<id>/console.log -- the file
 * ncGetConsoleOutput reads for every hypervisor.  Output printed before the
 * thread attaches waits in the pty and is not lost.
 *
 * The thread ends when the console ends (the container stopped); a
 * container that reboots (on_reboot restart) gets a new console, which the
 * thread opens again.  Teardown calls nc_console_unfollow() after
 * destroying the domain and before removing the instance directory: the
 * file descriptor is opened by nc_console_follow() itself, so no thread
 * can create console.log again in a directory being removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "nc.h"

#define REOPEN_TRIES 50			/* x 100 ms: a rebooting container's new console */
#define JOIN_WAIT_S 10

struct follower {
	bool used;
	bool stop;			/* teardown asked: do not reopen */
	bool done;			/* the thread is about to return */
	bool orphan;			/* detached: the thread frees the slot */
	pthread_t thread;
	int fd;
	char id[NC_ID_MAX];
};

static struct follower followers[NC_MAX_INSTANCES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static bool
stopping(struct follower *f)
{
	bool s;

	pthread_mutex_lock(&lock);
	s = f->stop;
	pthread_mutex_unlock(&lock);
	return s;
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copy one console session; false if none could be opened. */
static bool
pump(struct follower *f, virConnectPtr c, virDomainPtr dom)
{
	virStreamPtr st = virStreamNew(c, 0);
	char buf[4096];
	int n = -1;

	if (!st)
		return false;
	if (virDomainOpenConsole(dom, NULL, st, 0) < 0) {
		kr_log_debug("%s: console not open (yet): %s", f->id, virGetLastErrorMessage());
		virStreamFree(st);
		return false;
	}
	kr_log_debug("%s: copying the container's console", f->id);
	while ((n = virStreamRecv(st, buf, sizeof(buf))) > 0) {
		if (write_all(f->fd, buf, (size_t)n) < 0) {
			kr_log_warn("%s: writing console.log", f->id);
			break;
		}
	}
	if (n == 0)
		virStreamFinish(st);
	else
		virStreamAbort(st);
	virStreamFree(st);
	return true;
}

static void *
follow_thread(void *arg)
{
	struct follower *f = arg;
	virConnectPtr c = virConnectOpen(nc_node.uri);
	int idle = 0;

	if (!c)
		kr_log_warnx("%s: no console copy: %s", f->id, virGetLastErrorMessage());
	while (c && !stopping(f) && idle < REOPEN_TRIES) {
		virDomainPtr dom = virDomainLookupByName(c, f->id);
		bool active = dom && virDomainIsActive(dom) == 1;

		/* a reboot ends one console and starts the next: keep trying
		 * a while after the last session before giving up */
		if (active && pump(f, c, dom))
			idle = 0;
		else
			idle++;
		if (dom)
			virDomainFree(dom);
		nap_ms(100);
	}
	if (c)
		virConnectClose(c);
	kr_log_debug("%s: console copy ended", f->id);
	pthread_mutex_lock(&lock);
	if (f->orphan) {
		close(f->fd);
		f->used = false;
	} else {
		f->done = true;
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int
nc_console_follow(const char *id)
{
	char path[NC_PATH_MAX];
	struct follower *f = NULL;
	int err;

	if (nc_path(path, sizeof(path), "%s/%s/console.log", nc_node.instances_dir, id) < 0)
		return -1;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < NC_MAX_INSTANCES; i++) {
		if (followers[i].used && strcmp(followers[i].id, id) == 0) {
			pthread_mutex_unlock(&lock);
			return 0;	/* already followed */
		}
		if (!followers[i].used && !f)
			f = &followers[i];
	}
	if (!f) {
		pthread_mutex_unlock(&lock);
		kr_error("InternalError", "too many console copies");
		return -1;
	}
	/* under NC_PRIVSEP the parent copies into the child's directory: never
	 * through a link; readable by the child, which answers with it */
	f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (f->fd < 0) {
		pthread_mutex_unlock(&lock);
		kr_error_errno("InternalError", "cannot open %s", path);
		return -1;
	}
	snprintf(f->id, sizeof(f->id), "%s", id);
	f->stop = f->done = f->orphan = false;
	f->used = true;
	err = pthread_create(&f->thread, NULL, follow_thread, f);
	if (err) {
		close(f->fd);
		f->used = false;
		pthread_mutex_unlock(&lock);
		errno = err;
		kr_error_errno("InternalError", "cannot start a thread");
		return -1;
	}
	pthread_mutex_unlock(&lock);
	return 0;
}

void
nc_console_unfollow(const char *id)
{
	struct follower *f = NULL;
	struct timespec until;

	pthread_mutex_lock(&lock);
	for (int i = 0; i < NC_MAX_INSTANCES && !f; i++)
		if (followers[i].used && strcmp(followers[i].id, id) == 0)
			f = &followers[i];
	if (f)
		f->stop = true;
	pthread_mutex_unlock(&lock);
	if (!f)
		return;
	/* the domain is destroyed by now, so its console has ended */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += JOIN_WAIT_S;
	if (pthread_timedjoin_np(f->thread, NULL, &until) == 0) {
		pthread_mutex_lock(&lock);
		close(f->fd);
		f->used = false;
		pthread_mutex_unlock(&lock);
		return;
	}
	/* still in libvirt: let it finish on its own; it only holds a
	 * descriptor of a file the teardown unlinks */
	kr_log_warnx("%s: the console copy did not end, detached", id);
	pthread_mutex_lock(&lock);
	f->orphan = true;
	pthread_detach(f->thread);
	if (f->done) {		/* it ended meanwhile and will not look again */
		close(f->fd);
		f->used = false;
	}
	pthread_mutex_unlock(&lock);
}
