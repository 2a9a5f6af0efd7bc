/*
 * karri_aoe.c - karri-aoe: the userspace AoE initiator as a command.
 *
 *   karri-aoe discover -i IF -t SHELF.SLOT          what the target says about itself
 *   karri-aoe read  -i IF -t S.L -o OFF -l LEN [-f OUT]   bytes to OUT (default stdout)
 *   karri-aoe write -i IF -t S.L -o OFF [-f IN] [--flush]  bytes from IN (default stdin)
 *   karri-aoe bench -i IF -t S.L --mode read|write -l LEN [--flush]  sequential MB/s
 *   karri-aoe nbd   -i IF -t S.L --socket PATH [--once] [--user NAME]
 *                                                   NBD export for QEMU
 *
 * Common: -w WINDOW (frames outstanding, default 64, capped by the target),
 * -T MS (give up on a frame after MS, default 30000), -s SECTORS (cap the
 * sectors per frame).  Offsets and lengths need no alignment.  Every
 * command ends with a "retransmits=N" line on stderr, which tests read.
 * Needs CAP_NET_RAW (root) for the raw socket.  `nbd`, which runs for as
 * long as a volume is attached and parses whatever arrives on the storage
 * network, gives up root once both sockets are open: it goes on as --user
 * (default nobody) with no capabilities (common/daemon/privdrop.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "aoe/aoe_initiator.h"
#include "core/error.h"
#include "aoe/nbd.h"
#include "daemon/privdrop.h"

#define CHUNK_MAX (64u << 20)

struct args {
	const char *cmd;
	struct kr_aoe_ini_opts o;
	uint64_t offset;
	uint64_t length;
	bool have_length;
	const char *file;
	const char *socket_path;
	const char *user;
	const char *mode;
	size_t chunk;
	bool flush;
	bool once;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: karri-aoe discover|read|write|bench|nbd -i IF -t SHELF.SLOT [options]\n"
	    "  -o OFFSET  -l LENGTH  -f FILE  -w WINDOW  -T TIMEOUT_MS  -s SECTORS\n"
	    "  --flush (write)  --mode read|write --chunk BYTES (bench)\n"
	    "  --socket PATH --once --user NAME (nbd; root is given up for NAME, default nobody)\n");
	exit(2);
}

static uint64_t
number(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
		fprintf(stderr, "karri-aoe: %s: not a number: %s\n", what, s);
		exit(2);
	}
	return v;
}

static void
parse(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "target", required_argument, NULL, 't' },
		{ "offset", required_argument, NULL, 'o' },
		{ "length", required_argument, NULL, 'l' },
		{ "file", required_argument, NULL, 'f' },
		{ "window", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "sectors", required_argument, NULL, 's' },
		{ "flush", no_argument, NULL, 'F' },
		{ "mode", required_argument, NULL, 'm' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 'S' },
		{ "once", no_argument, NULL, '1' },
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned shelf, slot;
	char extra;
	int c;

	if (argc < 2)
		usage();
	a->cmd = argv[1];
	a->chunk = 16u << 20;
	a->user = "nobody";
	optind = 2;
	while ((c = getopt_long(argc, argv, "i:t:o:l:f:w:T:s:", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': a->o.ifname = optarg; break;
		case 't':
			if (sscanf(optarg, "%u.%u%c", &shelf, &slot, &extra) != 2) {
				fprintf(stderr, "karri-aoe: target must be SHELF.SLOT\n");
				exit(2);
			}
			a->o.shelf = shelf;
			a->o.slot = slot;
			break;
		case 'o': a->offset = number(optarg, "offset"); break;
		case 'l': a->length = number(optarg, "length"); a->have_length = true; break;
		case 'f': a->file = optarg; break;
		case 'w': a->o.window = (unsigned)number(optarg, "window"); break;
		case 'T': a->o.timeout_ms = (int)number(optarg, "timeout"); break;
		case 's': a->o.sectors_per_frame = (unsigned)number(optarg, "sectors"); break;
		case 'F': a->flush = true; break;
		case 'm': a->mode = optarg; break;
		case 'c': a->chunk = (size_t)number(optarg, "chunk"); break;
		case 'S': a->socket_path = optarg; break;
		case '1': a->once = true; break;
		case 'u': a->user = optarg; break;
		default: usage();
		}
	}
	if (a->o.ifname == NULL || a->chunk == 0 || a->chunk > CHUNK_MAX)
		usage();
}

static void
report(struct kr_aoe_ini *ini)
{
	struct kr_aoe_ini_stats st;

	kr_aoe_ini_get_stats(ini, &st);
	fprintf(stderr, "frames=%" PRIu64 " retransmits=%" PRIu64 " srtt_us=%u rto_us=%u\n",
	    st.frames, st.retransmits, st.srtt_us, st.rto_us);
}

/* Say what failed; main() closes the initiator, whatever the outcome. */
static int
die(struct kr_aoe_ini *ini, const char *what)
{
	fprintf(stderr, "karri-aoe: %s: %s: %s\n", what, kr_error_code(), kr_error_message());
	if (ini != NULL)
		report(ini);
	return 1;
}

/* Close what a command opened, leaving stdin and stdout alone. */
static void
close_file(const struct args *a, int fd)
{
	if (a->file && fd >= 0)
		close(fd);
}

static int
cmd_discover(struct kr_aoe_ini *ini)
{
	struct kr_aoe_ini_stats st;

	kr_aoe_ini_get_stats(ini, &st);
	printf("target_mac=%s\nsectors=%" PRIu64 "\nbytes=%" PRIu64 "\nbufcnt=%u\nfirmware=0x%04x\n"
	    "window=%u\nsectors_per_frame=%u\nconfig=%s\n", st.target_mac, st.sectors,
	    kr_aoe_ini_size(ini), st.bufcnt, st.firmware, st.window, st.sectors_per_frame,
	    st.config);
	return 0;
}

static int
cmd_read(struct kr_aoe_ini *ini, const struct args *a)
{
	int fd = a->file ? open(a->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : 1;
	uint64_t done = 0;
	char *buf = malloc(a->chunk);
	int rc = 2;

	if (fd < 0 || buf == NULL || !a->have_length) {
		fprintf(stderr, "karri-aoe: read needs -l and a writable -f\n");
		goto cleanup;
	}
	while (done < a->length) {
		size_t n = a->length - done > a->chunk ? a->chunk : (size_t)(a->length - done);

		if (kr_aoe_ini_read(ini, buf, n, a->offset + done) < 0) {
			rc = die(ini, "read");
			goto cleanup;
		}
		if (write(fd, buf, n) != (ssize_t)n) {
			perror("karri-aoe: write output");
			rc = 1;
			goto cleanup;
		}
		done += n;
	}
	rc = 0;
cleanup:
	free(buf);
	close_file(a, fd);
	return rc;
}

static int
cmd_write(struct kr_aoe_ini *ini, const struct args *a)
{
	int fd = a->file ? open(a->file, O_RDONLY | O_CLOEXEC) : 0;
	uint64_t done = 0;
	char *buf = malloc(a->chunk);
	ssize_t n = 0;
	int rc = 2;

	if (fd < 0 || buf == NULL) {
		fprintf(stderr, "karri-aoe: cannot read the input\n");
		goto cleanup;
	}
	for (;;) {
		size_t got = 0;

		/* Fill a whole chunk (a pipe gives less per read). */
		while (got < a->chunk && (n = read(fd, buf + got, a->chunk - got)) > 0)
			got += (size_t)n;
		if (n < 0 && errno != EINTR) {
			/* Not the end of the input: say so rather than report a short
			 * write as done. */
			perror("karri-aoe: read input");
			rc = 1;
			goto cleanup;
		}
		if (got > 0 && kr_aoe_ini_write(ini, buf, got, a->offset + done) < 0) {
			rc = die(ini, "write");
			goto cleanup;
		}
		done += got;
		if (n == 0)	/* end of the input */
			break;
	}
	if (a->flush && kr_aoe_ini_flush(ini) < 0) {
		rc = die(ini, "flush");
		goto cleanup;
	}
	printf("written=%" PRIu64 "\n", done);
	rc = 0;
cleanup:
	free(buf);
	close_file(a, fd);
	return rc;
}

static int
cmd_bench(struct kr_aoe_ini *ini, const struct args *a)
{
	bool writing = a->mode && strcmp(a->mode, "write") == 0;
	uint64_t len = a->have_length ? a->length : kr_aoe_ini_size(ini), done = 0;
	char *buf = malloc(a->chunk);
	struct timespec t0, t1;
	struct kr_aoe_ini_stats st;
	double secs;
	int rc = 1;

	if (buf == NULL)
		return 2;
	memset(buf, 0x5a, a->chunk);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < len) {
		size_t n = len - done > a->chunk ? a->chunk : (size_t)(len - done);
		int r = writing ? kr_aoe_ini_write(ini, buf, n, done) :
		    kr_aoe_ini_read(ini, buf, n, done);

		if (r < 0) {
			rc = die(ini, "bench");
			goto cleanup;
		}
		done += n;
	}
	/* --flush makes the figure include durability; off by default because
	 * vblade does not implement FLUSH CACHE and must be measured the same way. */
	if (writing && a->flush && kr_aoe_ini_flush(ini) < 0) {
		rc = die(ini, "flush");
		goto cleanup;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	kr_aoe_ini_get_stats(ini, &st);
	printf("MBps=%.1f retrans=%" PRIu64 " window=%u sectors_per_frame=%u bytes=%" PRIu64 "\n",
	    (double)done / 1e6 / secs, st.retransmits, st.window, st.sectors_per_frame, done);
	rc = 0;
cleanup:
	free(buf);
	return rc;
}

/* NBD backend over the initiator. */
static int
nbd_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return kr_aoe_ini_read(ctx, buf, len, off);
}

static int
nbd_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	return kr_aoe_ini_write(ctx, buf, len, off);
}

static int
nbd_flush(void *ctx)
{
	return kr_aoe_ini_flush(ctx);
}

static int
cmd_nbd(struct kr_aoe_ini *ini, const struct args *a)
{
	char name[32];
	struct kr_nbd_backend b = { .name = name, .size = kr_aoe_ini_size(ini), .ctx = ini,
	    .read = nbd_read, .write = nbd_write, .flush = nbd_flush };
	int lfd;

	snprintf(name, sizeof(name), "e%u.%u", a->o.shelf, a->o.slot);
	if (a->socket_path == NULL) {
		fprintf(stderr, "karri-aoe: nbd needs --socket PATH\n");
		return 2;
	}
	lfd = kr_nbd_listen_unix(a->socket_path);
	if (lfd < 0)
		return die(ini, "nbd");
	/* The socket file stays root's: the NC removes it on detach. */
	if (kr_privdrop(a->user) < 0) {
		close(lfd);
		unlink(a->socket_path);
		return die(ini, "nbd");
	}
	printf("serving %s (%" PRIu64 " bytes) on %s\n", name, b.size, a->socket_path);
	fflush(stdout);
	/* One client at a time: QEMU holds one connection per disk. */
	for (;;) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR)
				continue;
			perror("karri-aoe: accept");
			break;
		}
		if (kr_nbd_serve(cfd, &b) < 0)
			fprintf(stderr, "karri-aoe: nbd client: %s\n", kr_error_message());
		close(cfd);
		report(ini);
		if (a->once)
			break;
	}
	close(lfd);
	unlink(a->socket_path);
	return 0;
}

int
main(int argc, char **argv)
{
	struct args a = { 0 };
	struct kr_aoe_ini *ini;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	parse(argc, argv, &a);
	if (strcmp(a.cmd, "discover") && strcmp(a.cmd, "read") && strcmp(a.cmd, "write") &&
	    strcmp(a.cmd, "bench") && strcmp(a.cmd, "nbd"))
		usage();
	ini = kr_aoe_ini_open(&a.o);
	if (ini == NULL)
		return die(NULL, "discover");
	if (strcmp(a.cmd, "discover") == 0)
		rc = cmd_discover(ini);
	else if (strcmp(a.cmd, "read") == 0)
		rc = cmd_read(ini, &a);
	else if (strcmp(a.cmd, "write") == 0)
		rc = cmd_write(ini, &a);
	else if (strcmp(a.cmd, "bench") == 0)
		rc = cmd_bench(ini, &a);
	else
		rc = cmd_nbd(ini, &a);
	if (rc == 0)
		report(ini);
	kr_aoe_ini_close(ini);
	return rc;
}
