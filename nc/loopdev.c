/*
 * loopdev.c - loop devices for the phy attachment, through ioctl.
 *
 * LOOP_CTL_GET_FREE finds a free device and LOOP_CONFIGURE binds the file
 * in one call (direct I/O on, so the page cache does not hold a second
 * copy of what the guest already caches).  No autoclear: QEMU opens the
 * device only after the NC closed it, and autoclear would detach it at that
 * moment; teardown detaches explicitly instead.  Another process may grab
 * the same free device between the two calls: EBUSY means try again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "nc.h"

#define LOOP_TRIES 16

bool
nc_loop_available(void)
{
	int fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int
nc_loop_attach(const char *file, char *dev, size_t len)
{
	int ctl = -1, ffd = -1, rc = -1;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	ffd = open(file, O_RDWR | O_CLOEXEC);
	if (ctl < 0 || ffd < 0) {
		kr_error_errno("InternalError", "cannot open /dev/loop-control or %s", file);
		goto cleanup;
	}
	for (int i = 0; i < LOOP_TRIES && rc < 0; i++) {
		struct loop_config lc;
		int n = ioctl(ctl, LOOP_CTL_GET_FREE), lfd;

		if (n < 0) {
			kr_error_errno("InsufficientInstanceCapacity", "no free loop device");
			goto cleanup;
		}
		snprintf(dev, len, "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			kr_error_errno("InternalError", "cannot open %s", dev);
			goto cleanup;
		}
		memset(&lc, 0, sizeof(lc));
		lc.fd = (unsigned)ffd;
		lc.info.lo_flags = LO_FLAGS_DIRECT_IO;
		snprintf((char *)lc.info.lo_file_name, sizeof(lc.info.lo_file_name), "%s", file);
		if (ioctl(lfd, LOOP_CONFIGURE, &lc) == 0) {
			rc = 0;
		} else if (errno == EINVAL) {
			/* the file's filesystem refuses direct I/O: buffered then */
			lc.info.lo_flags = 0;
			if (ioctl(lfd, LOOP_CONFIGURE, &lc) == 0)
				rc = 0;
		}
		if (rc < 0 && errno != EBUSY) {
			kr_error_errno("InternalError", "LOOP_CONFIGURE %s on %s", file, dev);
			close(lfd);
			goto cleanup;
		}
		close(lfd);
	}
	if (rc < 0)
		kr_error("InsufficientInstanceCapacity", "no loop device after %d tries", LOOP_TRIES);
cleanup:
	if (ctl >= 0)
		close(ctl);
	if (ffd >= 0)
		close(ffd);
	return rc;
}

int
nc_loop_detach(const char *dev)
{
	int fd = open(dev, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		kr_error_errno("InternalError", "cannot open %s", dev);
		return -1;
	}
	/* QEMU may still be closing it right after a destroy: retry a while. */
	for (int i = 0; i < 50; i++) {
		if (ioctl(fd, LOOP_CLR_FD, 0) == 0 || errno == ENXIO) {
			close(fd);
			return 0;
		}
		if (errno != EBUSY)
			break;
		usleep(100 * 1000);
	}
	kr_error_errno("InternalError", "LOOP_CLR_FD %s", dev);
	close(fd);
	return -1;
}

int
nc_loop_find(const char *file, char *dev, size_t len)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	int rc = 1;

	if (!d) {
		kr_error_errno("InternalError", "cannot list /sys/block");
		return -1;
	}
	while (rc == 1 && (de = readdir(d))) {
		char p[NC_PATH_MAX], back[NC_PATH_MAX];
		FILE *f;

		if (strncmp(de->d_name, "loop", 4) != 0 ||
		    nc_path(p, sizeof(p), "/sys/block/%s/loop/backing_file", de->d_name) < 0 ||
		    !(f = fopen(p, "re")))
			continue;
		if (fgets(back, sizeof(back), f)) {
			back[strcspn(back, "\n")] = '\0';
			if (strcmp(back, file) == 0) {
				snprintf(dev, len, "/dev/%s", de->d_name);
				rc = 0;
			}
		}
		fclose(f);
	}
	closedir(d);
	return rc;
}
