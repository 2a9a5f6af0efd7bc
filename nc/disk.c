/*
 * disk.c - instance disks from the cached base.
 *
 * The launch path never copies an image for tap instances: a qcow2 overlay
 * whose backing file is the instance's hard link to the cached base is made
 * in O(1) by qemu-img (argv through kr_command, never a shell).  Raw disks
 * (tap for the io class, phy through a loop device) are pre-allocated with
 * posix_fallocate -- a sparse file allocates on first write, in the guest's
 * I/O path, which is the slowness the seed study measured -- and then the
 * image is copied in with plain reads and writes, so nothing punches holes.
 * A spare device is zeroed when its instance ends: the next tenant must not
 * read the last one's data.
 *
 * Where INSTANCE_PATH's file system shares extents (XFS with reflink,
 * btrfs), a raw root is a reflink clone of the base (FICLONE, O(1)) with
 * its tail beyond the image allocated: raw speed without the copy.  Its
 * first write over an image block still copies that block (once), but no
 * qcow2 lookup ever happens and the rest of the disk is allocated.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/command.h"
#include "core/error.h"
#include "core/log.h"
#include "nc.h"

#define COPY_CHUNK (1 << 20)

/*
 * Overlay settings, measured (bench/guestio, backend layer, first writes
 * onto a new overlay, cache=none): qemu-img's default 64 KiB clusters copy
 * the rest of a cluster from the base on a small first write -- 12.6 MB/s
 * at 4 KiB depth 1 against 17.9 for a pre-allocated raw file; 128 KiB
 * clusters with extended L2 entries (32 subclusters of 4 KiB) copy
 * nothing: 23.9 MB/s, and 1 MiB writes 228 vs 215 MB/s (raw 274).  Still
 * O(1) to make.  2 MiB clusters were worse (162 MB/s).  QEMU >= 5.2.
 */
#define OVERLAY_OPTS "extended_l2=on,cluster_size=128k"

const char *
nc_disk_format(const char *path)
{
	unsigned char magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		kr_error_errno("InternalError", "cannot open %s", path);
		return NULL;
	}
	n = pread(fd, magic, sizeof(magic), 0);
	close(fd);
	if (n == 4 && memcmp(magic, "QFI\xfb", 4) == 0)
		return "qcow2";
	return "raw";
}

static uint64_t
be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

long long
nc_disk_virtual_size(const char *path, const char *format)
{
	struct stat st;

	if (strcmp(format, "qcow2") == 0) {
		unsigned char h[32];
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? pread(fd, h, sizeof(h), 0) : -1;

		if (fd >= 0)
			close(fd);
		if (n != (ssize_t)sizeof(h)) {
			kr_error("InvalidParameterValue", "%s: short qcow2 header", path);
			return -1;
		}
		return (long long)be64(h + 24);	/* the header's size field */
	}
	if (stat(path, &st) < 0) {
		kr_error_errno("InternalError", "stat %s", path);
		return -1;
	}
	return st.st_size;
}

int
nc_disk_overlay(const char *base, const char *base_format, const char *dest, long long size)
{
	char sz[32];
	const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-o", OVERLAY_OPTS,
		"-F", base_format, "-b", base, dest, size > 0 ? sz : NULL, NULL };

	snprintf(sz, sizeof(sz), "%lld", size);
	return kr_command_run(argv, NULL, NULL);
}

int
nc_disk_prealloc(const char *path, long long size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int err;

	if (fd < 0) {
		kr_error_errno("InternalError", "cannot create %s", path);
		return -1;
	}
	err = posix_fallocate(fd, 0, size);
	if (err == 0 && fsync(fd) < 0)
		err = errno;
	close(fd);
	if (err) {
		errno = err;
		kr_error_errno(err == ENOSPC ? "InsufficientInstanceCapacity" : "InternalError",
		    "cannot allocate %lld bytes for %s", size, path);
		unlink(path);
		return -1;
	}
	return 0;
}

int
nc_disk_copy(const char *src, const char *dst)
{
	char *buf = malloc(COPY_CHUNK);
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = open(dst, O_WRONLY | O_CLOEXEC);
	off_t off = 0;
	int rc = -1;

	if (!buf || in < 0 || out < 0) {
		kr_error_errno("InternalError", "cannot copy %s to %s", src, dst);
		goto cleanup;
	}
	for (;;) {
		ssize_t n = pread(in, buf, COPY_CHUNK, off), w = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kr_error_errno("InternalError", "reading %s", src);
			goto cleanup;
		}
		if (n == 0)
			break;
		while (w < n) {
			ssize_t k = pwrite(out, buf + w, (size_t)(n - w), off + w);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				kr_error_errno("InternalError", "writing %s", dst);
				goto cleanup;
			}
			w += k;
		}
		off += n;
	}
	if (fsync(out) < 0) {
		kr_error_errno("InternalError", "fsync %s", dst);
		goto cleanup;
	}
	rc = 0;
cleanup:
	free(buf);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

int
nc_disk_wipe_device(const char *dev)
{
	uint64_t range[2] = { 0, 0 };
	int fd = open(dev, O_WRONLY | O_CLOEXEC);
	int rc = -1;

	if (fd < 0) {
		kr_error_errno("InternalError", "cannot open %s", dev);
		return -1;
	}
	if (ioctl(fd, BLKGETSIZE64, &range[1]) < 0) {
		kr_error_errno("InternalError", "BLKGETSIZE64 %s", dev);
	} else if (ioctl(fd, BLKZEROOUT, range) < 0) {
		kr_error_errno("InternalError", "BLKZEROOUT %s", dev);
	} else {
		rc = 0;
	}
	close(fd);
	return rc;
}

bool
nc_disk_direct_ok(const char *dir)
{
	char path[NC_PATH_MAX];
	int fd;

	if (nc_path(path, sizeof(path), "%s/.direct-probe.%ld", dir, (long)getpid()) < 0)
		return false;
	fd = open(path, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	unlink(path);
	return fd >= 0;
}

/* Make two files in dir and FICLONE one from the other. */
bool
nc_disk_reflink_ok(const char *dir)
{
	char a[NC_PATH_MAX], b[NC_PATH_MAX], blk[4096];
	int fa = -1, fb = -1;
	bool ok = false;

	if (nc_path(a, sizeof(a), "%s/.reflink-probe-a.%ld", dir, (long)getpid()) < 0 ||
	    nc_path(b, sizeof(b), "%s/.reflink-probe-b.%ld", dir, (long)getpid()) < 0)
		return false;
	memset(blk, 0x5a, sizeof(blk));
	fa = open(a, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fb = open(b, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fa >= 0 && fb >= 0 && pwrite(fa, blk, sizeof(blk), 0) == (ssize_t)sizeof(blk) &&
	    fsync(fa) == 0)
		ok = ioctl(fb, FICLONE, fa) == 0;
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	unlink(a);
	unlink(b);
	return ok;
}

int
nc_disk_reflink(const char *src, const char *dst, long long size)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	struct stat st;
	int err = 0, rc = -1;

	if (in < 0 || out < 0 || fstat(in, &st) < 0) {
		kr_error_errno("InternalError", "cannot reflink %s to %s", src, dst);
		goto cleanup;
	}
	if (ioctl(out, FICLONE, in) < 0) {
		kr_error_errno("InternalError", "FICLONE %s to %s", src, dst);
		goto cleanup;
	}
	/* the tail past the image: allocated now, not on the guest's first write */
	if (size > st.st_size)
		err = posix_fallocate(out, st.st_size, size - st.st_size);
	if (err == 0 && fsync(out) < 0)
		err = errno;
	if (err) {
		errno = err;
		kr_error_errno(err == ENOSPC ? "InsufficientInstanceCapacity" : "InternalError",
		    "cannot allocate %lld bytes for %s", size, dst);
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (rc < 0 && out >= 0)
		unlink(dst);
	return rc;
}
