/*
 * ops_console.c - ncGetConsoleOutput: base64 of the serial console's tail.
 *
 * The console goes to INSTANCE_PATH/instances/<id>/console.log (appended
 * across reboots; a container's pty is copied there by console_pty.c);
 * only the last NC_CONSOLE_TAIL bytes are returned, so a chatty guest
 * cannot make the answer grow without bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "karriH.h"
#include "core/error.h"
#include "nc.h"
#include "soap/soap_error.h"
#include "soap/soap_server.h"

static int
read_tail(const char *path, unsigned char *buf, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	off_t off;
	ssize_t n;

	*len = 0;
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;	/* nothing printed yet */
		kr_error_errno("InternalError", "cannot read the console");
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		kr_error_errno("InternalError", "cannot read the console");
		close(fd);
		return -1;
	}
	off = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
	n = pread(fd, buf, max, off);
	close(fd);
	if (n < 0) {
		kr_error_errno("InternalError", "cannot read the console");
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

int
__nc__ncGetConsoleOutput(struct soap *soap, struct _nc__ncGetConsoleOutput *req,
    struct _nc__ncGetConsoleOutputResponse *resp)
{
	static unsigned char tail[NC_CONSOLE_TAIL];
	static pthread_mutex_t tail_lock = PTHREAD_MUTEX_INITIALIZER;
	struct nc_instance *in;
	char path[NC_PATH_MAX];
	size_t len;
	char *out;
	int rc;

	KR_SOAP_ECHO(resp, req);
	kr_error_clear();
	nc_table_lock();
	in = req->instanceId ? nc_table_find(req->instanceId) : NULL;
	if (!in || !in->dir[0] || nc_path(path, sizeof(path), "%s/console.log", in->dir) < 0) {
		kr_error("InvalidInstanceID.NotFound", "no console for instance %s here",
		    req->instanceId ? req->instanceId : "");
		nc_table_unlock();
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	nc_table_unlock();
	pthread_mutex_lock(&tail_lock);
	rc = read_tail(path, tail, sizeof(tail), &len);
	out = rc == 0 ? soap_malloc(soap, 4 * ((len + 2) / 3) + 1) : NULL;
	if (out)
		EVP_EncodeBlock((unsigned char *)out, tail, (int)len);
	pthread_mutex_unlock(&tail_lock);
	if (!out) {
		if (rc == 0)
			kr_error("InternalError", "out of memory");
		return kr_soap_error_reply(soap, &resp->_return, &resp->statusMessage);
	}
	resp->consoleOutput = out;
	resp->_return = true_;
	return SOAP_OK;
}
