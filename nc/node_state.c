/*
 * node_state.c - the node's shared context (nc_node) and what every file of
 * the NC uses with it: the libvirt connection, libvirt's error as a
 * kr_error, bounded paths, safe text, the staging slots.  The bottom of the
 * NC's files: it calls none of them (node.c fills nc_node at start).
 *
 * One libvirt connection serves every thread (libvirt connections are
 * thread-safe); when libvirtd restarts the connection dies, and the next
 * caller reopens it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "core/error.h"
#include "core/log.h"
#include "nc.h"

struct nc_node nc_node;

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static virConnectPtr conn;

static pthread_mutex_t staging_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t staging_cond = PTHREAD_COND_INITIALIZER;
static int staging_busy;

void
nc_virt_error(const char *what)
{
	virErrorPtr e = virGetLastError();

	kr_error("InternalError", "%s: %s", what, e && e->message ? e->message : "libvirt error");
}

int
nc_path(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		kr_error("InternalError", "path too long");
		return -1;
	}
	return 0;
}

bool
nc_safe_text(const char *s, size_t maxlen)
{
	size_t n = 0;

	if (!s)
		return true;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];

		if (c < ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '\\' || c == '`')
			return false;
	}
	return n < maxlen;
}

/*
 * The read-only connection of the privsep child.  A URI naming the socket
 * (qemu+unix:///system?socket=DIR/libvirt-sock, the simulated nodes) names
 * the read-write one; libvirtd's read-only socket is beside it, by
 * libvirt's own naming, DIR/libvirt-sock-ro.
 */
static virConnectPtr
open_read_only(const char *uri)
{
	static const char rw[] = "/libvirt-sock";
	char ro[NC_PATH_MAX];
	const char *sock = strstr(uri, "socket="), *end;
	size_t n;

	if (!sock)
		return virConnectOpenReadOnly(uri);
	end = sock + strcspn(sock, "&");
	n = (size_t)(end - uri);
	if (n < sizeof(rw) - 1 || strncmp(end - (sizeof(rw) - 1), rw, sizeof(rw) - 1) != 0 ||
	    (size_t)snprintf(ro, sizeof(ro), "%.*s-ro%s", (int)n, uri, end) >= sizeof(ro))
		return virConnectOpenReadOnly(uri);
	return virConnectOpenReadOnly(ro);
}

virConnectPtr
nc_conn(void)
{
	virConnectPtr c;

	pthread_mutex_lock(&conn_lock);
	if (conn && virConnectIsAlive(conn) != 1) {
		kr_log_warnx("libvirt connection to %s lost, reconnecting", nc_node.uri);
		virConnectClose(conn);
		conn = NULL;
	}
	if (!conn) {
		conn = nc_node.read_only ? open_read_only(nc_node.uri) : virConnectOpen(nc_node.uri);
		if (!conn)
			nc_virt_error(nc_node.uri);
	}
	c = conn;
	if (c)
		virConnectRef(c);
	pthread_mutex_unlock(&conn_lock);
	return c;
}

void
nc_staging_enter(void)
{
	pthread_mutex_lock(&staging_lock);
	while (staging_busy >= nc_node.max_staging)
		pthread_cond_wait(&staging_cond, &staging_lock);
	staging_busy++;
	pthread_mutex_unlock(&staging_lock);
}

void
nc_staging_leave(void)
{
	pthread_mutex_lock(&staging_lock);
	staging_busy--;
	pthread_cond_signal(&staging_cond);
	pthread_mutex_unlock(&staging_lock);
}

bool
nc_node_ready(void)
{
	if (__atomic_load_n(&nc_node.ready, __ATOMIC_ACQUIRE))
		return true;
	kr_error("Unavailable", "the hypervisor is not reachable: %s", nc_node.unready_why);
	return false;
}
