/*
 * snapshot.c - fuzz the EBS snapshot object reader (ebs/snapshot_format.c):
 * an object downloaded from Walrus is fed, in pieces as the transfer
 * delivers it, to snapfmt_reader_feed() into a pre-allocated segment, as
 * ebs/jobs.c restores a volume.  The first byte picks the piece size.
 * Nothing may be written outside the segment: the file is one byte longer
 * than the segment and that byte must stay as it was.
 */
#include <sys/stat.h>

#include "fuzz.h"
#include "snapshot_format.h"

#define ROOM (1u << 20)

static int fd = -1;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[600];

	(void)argc, (void)argv;
	fz_quiet();
	snprintf(path, sizeof(path), "%s/segment", fz_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapfmt_reader r;
	size_t piece, off = 0;
	uint64_t seg_len;
	bool raw;
	unsigned char guard = 0;
	int rc = 0;

	if (size < 1)
		return 0;
	piece = (size_t)data[0] * 61 + 1;
	data++, size--;
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, ROOM + 1) < 0 ||
	    pwrite(fd, "G", 1, ROOM) != 1)
		abort();
	snapfmt_reader_init(&r, fd, 0, ROOM);
	while (rc == 0 && off < size) {
		size_t k = size - off < piece ? size - off : piece;

		rc = snapfmt_reader_feed(&r, data + off, k);
		off += k;
	}
	if (rc == 0 && snapfmt_reader_end(&r, &seg_len, &raw) == 0 && seg_len > ROOM)
		abort();	/* said it restored more than the segment holds */
	snapfmt_reader_free(&r);
	if (pread(fd, &guard, 1, ROOM) != 1 || guard != 'G')
		abort();	/* wrote past the segment */
	return 0;
}
