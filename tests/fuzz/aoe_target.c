/*
 * aoe_target.c - fuzz what karri-ebs's AoE target answers (ebs/aoe_answer.c):
 * the input is a run of frames (2-byte big-endian length, then the frame)
 * served in order by ebs_aoe_serve(), as the rx thread and the workers do,
 * against one export (e1.0, 1 MiB file) that allows one initiator MAC.
 * Frames are stateful: Query Config and the MAC mask list change what the
 * next frame may do.  Answers go to a datagram socket and are checked to
 * fit a frame.
 */
#include <stdalign.h>

#include "aoe_target.h"
#include "fuzz.h"

#define SECTORS 2048

static struct ebs_target *t;
static struct ebs_export ex;
static int peer = -1;
static struct ebs_req req;
static const uint8_t ini_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t tgt_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[600];
	int sv[2];

	(void)argc, (void)argv;
	fz_quiet();
	if (!(t = calloc(1, sizeof(*t))) ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	snprintf(t->ifname, sizeof(t->ifname), "lo");
	memcpy(t->mac, tgt_mac, 6);
	atomic_store(&t->mtu, 9000);
	atomic_store(&t->spf, kr_aoe_sectors_per_frame(9000));
	t->fd = sv[0];
	peer = sv[1];
	fcntl(peer, F_SETFL, O_NONBLOCK);
	pthread_rwlock_init(&t->table_lock, NULL);
	snprintf(path, sizeof(path), "%s/volume", fz_tmpdir());
	snprintf(ex.volume_id, sizeof(ex.volume_id), "vol-fuzz0001");
	ex.shelf = 1;
	ex.slot = 0;
	ex.sectors = SECTORS;
	ex.fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (ex.fd < 0 || ftruncate(ex.fd, SECTORS * 512) < 0)
		abort();
	pthread_rwlock_init(&ex.io, NULL);
	t->exports[0] = &ex;
	req.base = aligned_alloc(AOE_ALIGN, (AOE_BUF_SIZE + AOE_ALIGN - 1) / AOE_ALIGN * AOE_ALIGN);
	req.frame = req.base + AOE_ALIGN - KR_AOE_ATA_LEN;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[2 * KR_AOE_FRAME_MAX];

	/* Every run starts from the same mask list. */
	memcpy(ex.macs[0], ini_mac, 6);
	ex.nmacs = 1;
	pthread_rwlock_rdlock(&t->table_lock);
	while (size >= 2) {
		size_t len = (size_t)data[0] << 8 | data[1], n;

		data += 2, size -= 2;
		if (len > size)
			len = size;
		if (len > KR_AOE_FRAME_MAX)	/* what recvmmsg into the buffer keeps */
			len = KR_AOE_FRAME_MAX;
		memcpy(req.frame, data, len);
		req.len = len;
		data += len, size -= len;
		n = ebs_aoe_serve(t, &req, AOE_WAIT_ANY);
		if (n == AOE_DEFER)
			abort();	/* a worker may wait for anything */
		if (n > 0) {
			if (n > KR_AOE_FRAME_MAX)
				abort();
			req.len = n;
			ebs_aoe_pad(&req);
			ebs_aoe_send_frame(t, req.frame, req.len);
		}
		while (recv(peer, out, sizeof(out), 0) > 0)
			;
	}
	pthread_rwlock_unlock(&t->table_lock);
	return 0;
}
