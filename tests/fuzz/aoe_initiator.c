/*
 * aoe_initiator.c - fuzz what Karri's userspace AoE initiator makes of the
 * frames a target sends back (common/aoe/aoe_initiator.c: Query Config answers
 * in discovery; common/aoe/aoe_window.c: ATA answers, received in place into
 * the predicted frames' buffers, reassembled when the guess was wrong,
 * matched to slots by tag).  The initiator runs whole, as karri-aoe runs
 * it -- kr_aoe_ini_open() (discovery, IDENTIFY), then kr_aoe_ini_read,
 * _write and _flush -- on a real AF_PACKET socket, on the loopback device
 * of a network namespace of the harness's own (so it needs root, as the
 * AoE tests do).  A responder thread in the harness plays the target: it
 * answers every request correctly (a 1 MiB memory disk), and also sends,
 * before or after that answer, the frames the input describes -- raw, or
 * with the header made to look like the answer (addresses, tag,
 * shelf.slot, response flag) so that the bytes after it are what gets
 * parsed.  So no run waits for a timeout, and whatever the fuzzer's frames
 * did to the initiator's state is then met by a correct answer.
 *
 * Opening an AF_PACKET socket costs an RCU grace period (~15 ms), so most
 * runs use one initiator opened at start (its window and frame size set
 * from the input); a run with the top three bits of byte 1 set opens its
 * own, so that discovery and IDENTIFY meet the input's frames too.
 *
 * Input: a header of 2 + 4 * 3 bytes (window and slot, sectors-per-frame
 * cap and the bits above, four operations: kind, start, sectors; see
 * run_op), then frames, each
 *
 *	<control> <length, 2 bytes big-endian> <bytes>
 *
 * control bit 0: give the frame the answer's Ethernet and AoE header;
 * bit 1: also its ATA header (status DRDY); bit 2: send it after the
 * correct answer (a late or duplicate answer) instead of before; bits 4-5:
 * send it 1 + that many times.  The frames are used up one per request.
 */
#include <net/if.h>
#include <linux/if_packet.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>

#include "aoe/aoe.h"
#include "aoe/aoe_initiator.h"
#include "aoe/aoe_window.h"	/* the socket's fd (closer()), window and spf (run_shared()) */
#include "core/error.h"
#include "fuzz.h"

#define DISK_SECTORS 2048
#define VOLUME_ID "vol-fuzz0001"
#define MAX_FRAME 65536		/* what lo carries */
#define SHARED_SHELF 60000	/* the shared initiator's; fresh ones count below it */

static const uint8_t target_mac[6] = { 0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc };
static struct kr_aoe_ini *shared;
static uint8_t disk[DISK_SECTORS * KR_AOE_SECTOR];
static int rsock = -1;

/* What the responder answers from, set per input (under mu). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned cur_shelf = 0xffff;	/* only this run's requests are answered */
static const uint8_t *script;
static size_t script_len, script_off;

static void
answer_from(unsigned shelf, const uint8_t *data, size_t size)
{
	pthread_mutex_lock(&mu);
	cur_shelf = shelf;
	script = data;
	script_len = size;
	script_off = 0;
	pthread_mutex_unlock(&mu);
}

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The correct answer to request f (n bytes) into out; its length, 0: none. */
static size_t
correct_answer(const uint8_t *f, size_t n, uint8_t *out)
{
	uint8_t cmd = f[19], acmd;
	uint64_t lba = 0;
	size_t len = KR_AOE_ATA_LEN, bytes;

	memcpy(out, f, n < KR_AOE_ATA_LEN ? n : KR_AOE_ATA_LEN);
	memcpy(out, f + 6, 6);			/* to the initiator */
	memcpy(out + 6, target_mac, 6);
	out[14] = (uint8_t)(KR_AOE_VERSION << 4 | KR_AOE_FLAG_RESPONSE);
	out[15] = 0;
	if (cmd == KR_AOE_CMD_CONFIG) {
		uint8_t *p = out + KR_AOE_HDR_LEN;

		put16(p, 16);			/* buffer count */
		put16(p + 2, 0x4001);		/* firmware */
		p[4] = 17;			/* sectors per frame */
		p[5] = (uint8_t)(KR_AOE_VERSION << 4);
		put16(p + 6, sizeof(VOLUME_ID) - 1);
		memcpy(p + 8, VOLUME_ID, sizeof(VOLUME_ID) - 1);
		return KR_AOE_CFG_LEN + sizeof(VOLUME_ID) - 1;
	}
	if (cmd != KR_AOE_CMD_ATA || n < KR_AOE_ATA_LEN)
		return 0;
	acmd = f[27];
	for (int i = 0; i < 6; i++)
		lba |= (uint64_t)f[28 + i] << (8 * i);
	bytes = (size_t)f[26] * KR_AOE_SECTOR;
	if (bytes > MAX_FRAME - KR_AOE_ATA_LEN)
		return 0;	/* more than any frame: the initiator never asks it */
	out[27] = KR_ATA_STATUS_DRDY;
	out[25] = 0;
	if (acmd == KR_ATA_IDENTIFY) {
		uint8_t *id = out + KR_AOE_ATA_LEN;

		memset(id, 0, KR_AOE_SECTOR);
		id[200] = DISK_SECTORS & 0xff;	/* words 100-103: LBA48 capacity */
		id[201] = DISK_SECTORS >> 8;
		len += KR_AOE_SECTOR;
	} else if (acmd == KR_ATA_READ_EXT || acmd == KR_ATA_READ) {
		if (lba < DISK_SECTORS && f[26] <= DISK_SECTORS - lba)
			memcpy(out + KR_AOE_ATA_LEN, disk + lba * KR_AOE_SECTOR, bytes);
		else
			memset(out + KR_AOE_ATA_LEN, 0, bytes);
		len += bytes;
	} else if ((acmd == KR_ATA_WRITE_EXT || acmd == KR_ATA_WRITE) &&
	    lba < DISK_SECTORS && f[26] <= DISK_SECTORS - lba && n >= KR_AOE_ATA_LEN + bytes) {
		memcpy(disk + lba * KR_AOE_SECTOR, f + KR_AOE_ATA_LEN, bytes);
	}
	return len < 60 ? 60 : len;
}

/* The script's next frame into out, headed like `answer` if its control says so; 0: none left. */
static size_t
next_frame(const uint8_t *answer, uint8_t *out, uint8_t *ctl)
{
	size_t len, hdr = 0;

	if (script == NULL || script_len - script_off < 3)
		return 0;
	*ctl = script[script_off];
	len = (size_t)script[script_off + 1] << 8 | script[script_off + 2];
	script_off += 3;
	if (len > script_len - script_off)
		len = script_len - script_off;
	if (*ctl & 1)
		hdr = *ctl & 2 ? KR_AOE_ATA_LEN : KR_AOE_HDR_LEN;
	memcpy(out, answer, hdr);
	if (len > MAX_FRAME - hdr)
		len = MAX_FRAME - hdr;
	memcpy(out + hdr, script + script_off, len);
	script_off += len;
	return hdr + len;
}

static void *
responder(void *arg)
{
	static uint8_t f[MAX_FRAME], answer[MAX_FRAME], extra[MAX_FRAME];

	(void)arg;
	for (;;) {
		ssize_t n = recv(rsock, f, sizeof(f), 0);
		size_t alen, elen = 0;
		uint8_t ctl = 0;

		if (n < KR_AOE_HDR_LEN || f[12] != 0x88 || f[13] != 0xa2 ||
		    (f[14] & KR_AOE_FLAG_RESPONSE))
			continue;	/* our own answers come back on lo too */
		pthread_mutex_lock(&mu);
		if ((unsigned)(f[16] << 8 | f[17]) != cur_shelf) {
			pthread_mutex_unlock(&mu);
			continue;	/* a request of an earlier run */
		}
		alen = correct_answer(f, (size_t)n, answer);
		if (alen)
			elen = next_frame(answer, extra, &ctl);
		pthread_mutex_unlock(&mu);
		for (unsigned k = 0; elen && !(ctl & 4) && k <= (ctl >> 4 & 3u); k++)
			(void)send(rsock, extra, elen, 0);
		if (alen)
			(void)send(rsock, answer, alen, 0);
		for (unsigned k = 0; elen && (ctl & 4) && k <= (ctl >> 4 & 3u); k++)
			(void)send(rsock, extra, elen, 0);
	}
	return NULL;
}

/*
 * Closing an AF_PACKET socket waits for an RCU grace period (synchronize_net:
 * ~15 ms here), which would cap the harness at ~60 runs a second.  So the
 * initiator's socket is taken out before kr_aoe_ini_close() and closed by
 * one of CLOSERS threads, whose waits overlap.
 */
#define CLOSERS 16
#define CLOSE_QUEUE 64
static pthread_mutex_t close_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t close_cv = PTHREAD_COND_INITIALIZER;
static int close_fds[CLOSE_QUEUE];
static unsigned close_head, close_tail;

static void *
closer(void *arg)
{
	(void)arg;
	for (;;) {
		int fd;

		pthread_mutex_lock(&close_mu);
		while (close_head == close_tail)
			pthread_cond_wait(&close_cv, &close_mu);
		fd = close_fds[close_head++ % CLOSE_QUEUE];
		pthread_cond_broadcast(&close_cv);
		pthread_mutex_unlock(&close_mu);
		close(fd);
	}
	return NULL;
}

static void
close_later(int fd)
{
	pthread_mutex_lock(&close_mu);
	while (close_tail - close_head == CLOSE_QUEUE)
		pthread_cond_wait(&close_cv, &close_mu);
	close_fds[close_tail++ % CLOSE_QUEUE] = fd;
	pthread_cond_broadcast(&close_cv);
	pthread_mutex_unlock(&close_mu);
}

/* A network namespace of our own with lo up: nobody else's AoE frames. */
static void
private_loopback(void)
{
	struct ifreq ifr = { 0 };
	int fd;

	if (unshare(CLONE_NEWNET) < 0) {
		perror("aoe_initiator: unshare(CLONE_NEWNET) (run as root)");
		exit(1);
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		abort();
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		abort();
	close(fd);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(KR_AOE_ETHERTYPE) };
	int one = 1;
	pthread_t th;

	(void)argc, (void)argv;
	fz_quiet();
	private_loopback();
	sll.sll_ifindex = (int)if_nametoindex("lo");
	rsock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(KR_AOE_ETHERTYPE));
	if (rsock < 0 || bind(rsock, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
	    setsockopt(rsock, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0) {
		perror("aoe_initiator: AF_PACKET socket on lo");
		exit(1);
	}
	for (size_t i = 0; i < sizeof(disk); i++)
		disk[i] = (uint8_t)(i * 131 + i / 512);
	if (pthread_create(&th, NULL, responder, NULL) != 0)
		abort();
	for (int i = 0; i < CLOSERS; i++)
		if (pthread_create(&th, NULL, closer, NULL) != 0)
			abort();
	answer_from(SHARED_SHELF, NULL, 0);
	shared = kr_aoe_ini_open(&(struct kr_aoe_ini_opts){ .ifname = "lo", .shelf = SHARED_SHELF,
	    .window = 16, .timeout_ms = 1500 });
	if (shared == NULL) {
		fprintf(stderr, "aoe_initiator: %s\n", kr_error_message());
		exit(1);
	}
	return 0;
}

/* One operation: kind (bits 0-1: read, write, flush, read; bit 2: unaligned), start, sectors. */
static void
run_op(struct kr_aoe_ini *ini, const uint8_t *op)
{
	static uint8_t buf[64 * KR_AOE_SECTOR + 1024];
	uint64_t off = (uint64_t)op[1] * 8 * KR_AOE_SECTOR;
	size_t len = (size_t)(op[2] & 63) * KR_AOE_SECTOR;

	if (op[0] & 4) {		/* unaligned ends */
		off += op[2] & 0x7f;
		len += op[0] >> 3;
	}
	switch (op[0] & 3) {
	case 1:
		memset(buf, op[0], len);
		(void)kr_aoe_ini_write(ini, buf, len, off);
		break;
	case 2:
		(void)kr_aoe_ini_flush(ini);
		break;
	default:
		(void)kr_aoe_ini_read(ini, buf, len, off);
		break;
	}
}

/* A new initiator: discovery and IDENTIFY meet the input's frames too. */
static void
run_fresh(const uint8_t *data, size_t size)
{
	static unsigned run;
	struct kr_aoe_ini_opts o = { .ifname = "lo", .timeout_ms = 1500 };
	struct kr_aoe_ini *ini;

	o.shelf = run++ % SHARED_SHELF;
	o.slot = data[0] >> 4;
	o.window = 1 + (data[0] & 15u);
	o.sectors_per_frame = (data[1] & 0x1f) % 18u;
	answer_from(o.shelf, data + 14, size - 14);
	ini = kr_aoe_ini_open(&o);
	if (ini != NULL) {
		struct kr_aoe_ini_stats st;

		kr_aoe_ini_get_stats(ini, &st);
		if (st.window == 0 || st.window > 16 || st.sectors_per_frame == 0 ||
		    st.sectors_per_frame > 17 || strlen(st.config) > KR_AOE_CFG_STR_MAX)
			abort();	/* negotiated something it could not use */
		for (int k = 0; k < 4; k++)
			run_op(ini, data + 2 + 3 * k);
		close_later(ini->fd);
		ini->fd = -1;
	}
	kr_aoe_ini_close(ini);
}

/*
 * The initiator made at start, with this input's window and frame size:
 * what was left in its socket by the last run (late duplicates) is read
 * away first, so each run starts alike.
 */
static void
run_shared(const uint8_t *data, size_t size)
{
	uint8_t junk[KR_AOE_FRAME_MAX];

	while (recv(shared->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	shared->window = 1 + (data[0] & 15u);
	shared->spf = 1 + (data[1] & 0x1f) % 17u;
	answer_from(SHARED_SHELF, data + 14, size - 14);
	for (int k = 0; k < 4; k++)
		run_op(shared, data + 2 + 3 * k);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 14)
		return 0;
	kr_error_clear();
	if ((data[1] & 0xe0) == 0xe0)
		run_fresh(data, size);
	else
		run_shared(data, size);
	answer_from(0xffff, NULL, 0);
	return 0;
}
