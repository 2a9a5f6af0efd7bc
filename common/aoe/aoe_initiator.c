/*
 * aoe_initiator.c - the userspace AoE initiator (see aoe_initiator.h): the
 * AF_PACKET socket, finding the target (Query Config) and negotiating the
 * window and frame size, and the public read/write/flush calls, which cut
 * unaligned ranges to whole sectors.  Every ATA command runs through the
 * windowed request engine in aoe_window.c.
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aoe/aoe.h"
#include "aoe/aoe_initiator.h"
#include "aoe/aoe_window.h"
#include "core/error.h"

int
kr_aoe_if_info(const char *ifname, uint8_t mac[6], int *mtu, int *ifindex)
{
	struct ifreq ifr;
	int fd, rc = -1;

	if (ifname == NULL || strlen(ifname) >= IFNAMSIZ) {
		kr_error("InvalidParameterValue", "bad interface name");
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		kr_error_errno("InternalError", "socket");
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, ifname);
	if (mac != NULL) {
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
			kr_error_errno("InvalidParameterValue", "interface %s", ifname);
			goto cleanup;
		}
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	}
	if (mtu != NULL) {
		if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
			kr_error_errno("InvalidParameterValue", "interface %s: MTU", ifname);
			goto cleanup;
		}
		*mtu = ifr.ifr_mtu;
	}
	if (ifindex != NULL) {
		if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
			kr_error_errno("InvalidParameterValue", "interface %s: index", ifname);
			goto cleanup;
		}
		*ifindex = ifr.ifr_ifindex;
	}
	rc = 0;
cleanup:
	close(fd);
	return rc;
}

static int
open_socket(struct kr_aoe_ini *ini)
{
	struct sockaddr_ll sll;
	int one = 1, bufsz = 8 << 20;

	ini->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(KR_AOE_ETHERTYPE));
	if (ini->fd < 0) {
		kr_error_errno("InternalError", "AF_PACKET socket (needs root or CAP_NET_RAW)");
		return -1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(KR_AOE_ETHERTYPE);
	sll.sll_ifindex = ini->ifindex;
	if (bind(ini->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		kr_error_errno("InternalError", "bind AF_PACKET");
		return -1;
	}
	/* A full window of jumbo answers must fit the receive queue. */
	if (setsockopt(ini->fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		(void)setsockopt(ini->fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	if (setsockopt(ini->fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		(void)setsockopt(ini->fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
#ifdef PACKET_IGNORE_OUTGOING
	(void)setsockopt(ini->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
#else
	(void)one;
#endif
	return 0;
}

/* Broadcast Query Config for shelf.slot until the target answers. */
static int
discover(struct kr_aoe_ini *ini)
{
	uint8_t f[KR_AOE_FRAME_MAX], r[KR_AOE_FRAME_MAX];
	struct kr_aoe_hdr h = { .major = (uint16_t)ini->shelf, .minor = (uint8_t)ini->slot,
	    .cmd = KR_AOE_CMD_CONFIG, .tag = 0x4b410000u };
	struct kr_aoe_cfg c = { .aoever = KR_AOE_VERSION, .ccmd = KR_AOE_CCMD_READ };
	uint64_t start = kr_aoe_now_us(), give_up = (uint64_t)ini->timeout_ms * 1000u;
	size_t n;

	memset(h.dst, 0xff, 6);
	memcpy(h.src, ini->mac, 6);
	memset(f, 0, 60);
	kr_aoe_put_hdr(f, &h);
	n = kr_aoe_put_cfg(f, &c);
	while (kr_aoe_now_us() - start < give_up) {
		struct pollfd pfd = { .fd = ini->fd, .events = POLLIN };
		uint64_t until = kr_aoe_now_us() + 250000;

		if (send(ini->fd, f, n < 60 ? 60 : n, 0) < 0 && errno != ENOBUFS) {
			kr_error_errno("InternalError", "AoE send");
			return -1;
		}
		while (kr_aoe_now_us() < until) {
			struct kr_aoe_hdr rh;
			struct kr_aoe_cfg rc;
			ssize_t len;

			if (poll(&pfd, 1, (int)((until - kr_aoe_now_us()) / 1000) + 1) <= 0)
				continue;
			len = recv(ini->fd, r, sizeof(r), MSG_DONTWAIT);
			if (len <= 0 || kr_aoe_parse_hdr(r, (size_t)len, &rh) < 0 ||
			    !(rh.flags & KR_AOE_FLAG_RESPONSE) || rh.cmd != KR_AOE_CMD_CONFIG ||
			    (rh.flags & KR_AOE_FLAG_ERROR) || rh.major != ini->shelf ||
			    rh.minor != ini->slot || memcmp(rh.dst, ini->mac, 6) != 0 ||
			    kr_aoe_parse_cfg(r, (size_t)len, &rc) < 0)
				continue;
			memcpy(ini->target, rh.src, 6);
			ini->st.bufcnt = rc.bufcnt;
			ini->st.firmware = rc.firmware;
			memcpy(ini->st.config, rc.cstr, rc.cslen);
			ini->st.config[rc.cslen] = '\0';
			if (rc.bufcnt > 0 && rc.bufcnt < ini->window)
				ini->window = rc.bufcnt;
			/* scnt 0 is what old targets send; r11 reads it as "no limit
			 * given", so our MTU decides alone. */
			if (rc.scnt > 0 && rc.scnt < ini->spf)
				ini->spf = rc.scnt;
			return 0;
		}
	}
	kr_error("VolumeNotFound", "no AoE target answers for e%u.%u on %s within %d ms",
	    ini->shelf, ini->slot, ini->ifname, ini->timeout_ms);
	return -1;
}

struct kr_aoe_ini *
kr_aoe_ini_open(const struct kr_aoe_ini_opts *o)
{
	struct kr_aoe_ini *ini;
	uint8_t id[512];
	int mtu;
	unsigned i;

	if (o->shelf >= KR_AOE_MAJOR_ANY || o->slot >= KR_AOE_MINOR_ANY) {
		kr_error("InvalidParameterValue", "AoE address e%u.%u is out of range", o->shelf, o->slot);
		return NULL;
	}
	ini = calloc(1, sizeof(*ini));
	if (ini == NULL) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	ini->fd = -1;
	snprintf(ini->ifname, sizeof(ini->ifname), "%s", o->ifname ? o->ifname : "");
	ini->shelf = o->shelf;
	ini->slot = o->slot;
	ini->window = o->window == 0 ? 64 : o->window > WINDOW_MAX ? WINDOW_MAX : o->window;
	ini->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	ini->rto = RTO_INIT_US;
	for (i = 0; i < WINDOW_MAX; i++)
		if ((ini->tx[i] = calloc(1, KR_AOE_FRAME_MAX)) == NULL)
			goto oom;
	for (i = 0; i < BATCH; i++)
		if ((ini->rx[i] = malloc(2 * KR_AOE_FRAME_MAX)) == NULL)
			goto oom;
	if (kr_aoe_if_info(o->ifname, ini->mac, &mtu, &ini->ifindex) < 0 || open_socket(ini) < 0)
		goto fail;
	ini->spf = kr_aoe_sectors_per_frame(mtu);
	if (o->sectors_per_frame > 0 && o->sectors_per_frame < ini->spf)
		ini->spf = o->sectors_per_frame;
	if (ini->spf == 0) {
		kr_error("InvalidParameterValue", "MTU %d of %s is too small for AoE", mtu, o->ifname);
		goto fail;
	}
	if (discover(ini) < 0 || kr_aoe_window_run(ini, KR_ATA_IDENTIFY, 0, 1, id) < 0)
		goto fail;
	for (i = 0; i < 4; i++)
		ini->sectors |= (uint64_t)(id[200 + 2 * i] | id[201 + 2 * i] << 8) << (16 * i);
	return ini;
oom:
	kr_error("InternalError", "out of memory");
fail:
	kr_aoe_ini_close(ini);
	return NULL;
}

void
kr_aoe_ini_close(struct kr_aoe_ini *ini)
{
	unsigned i;

	if (ini == NULL)
		return;
	if (ini->fd >= 0)
		close(ini->fd);
	for (i = 0; i < WINDOW_MAX; i++)
		free(ini->tx[i]);
	for (i = 0; i < BATCH; i++)
		free(ini->rx[i]);
	free(ini);
}

uint64_t
kr_aoe_ini_size(const struct kr_aoe_ini *ini)
{
	return ini->sectors * KR_AOE_SECTOR;
}

static int
check_range(const struct kr_aoe_ini *ini, size_t len, uint64_t off)
{
	uint64_t size = kr_aoe_ini_size(ini);

	if (off > size || len > size - off) {
		kr_error("InvalidParameterValue", "%zu bytes at %llu: beyond the end of the volume "
		    "(%llu bytes)", len, (unsigned long long)off, (unsigned long long)size);
		return -1;
	}
	return 0;
}

/* Sector-aligned span covering [off, off+len). */
static void
span(uint64_t off, size_t len, uint64_t *first, uint64_t *count)
{
	*first = off / KR_AOE_SECTOR;
	*count = (off + len + KR_AOE_SECTOR - 1) / KR_AOE_SECTOR - *first;
}

int
kr_aoe_ini_read(struct kr_aoe_ini *ini, void *buf, size_t len, uint64_t off)
{
	uint64_t first, count;
	uint8_t *tmp;
	int rc;

	if (check_range(ini, len, off) < 0)
		return -1;
	if (len == 0)
		return 0;
	span(off, len, &first, &count);
	if (off % KR_AOE_SECTOR == 0 && len % KR_AOE_SECTOR == 0)
		return kr_aoe_window_run(ini, KR_ATA_READ_EXT, first, count, buf);
	/* Unaligned: read whole sectors aside, copy the middle out. */
	tmp = malloc(count * KR_AOE_SECTOR);
	if (tmp == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	rc = kr_aoe_window_run(ini, KR_ATA_READ_EXT, first, count, tmp);
	if (rc == 0)
		memcpy(buf, tmp + (off - first * KR_AOE_SECTOR), len);
	free(tmp);
	return rc;
}

int
kr_aoe_ini_write(struct kr_aoe_ini *ini, const void *buf, size_t len, uint64_t off)
{
	uint64_t first, count;
	uint8_t *tmp;
	int rc = -1;

	if (check_range(ini, len, off) < 0)
		return -1;
	if (len == 0)
		return 0;
	span(off, len, &first, &count);
	if (off % KR_AOE_SECTOR == 0 && len % KR_AOE_SECTOR == 0)
		return kr_aoe_window_run(ini, KR_ATA_WRITE_EXT, first, count, (void *)(uintptr_t)buf);
	/* Unaligned ends: read the partial first and last sectors, merge, write. */
	tmp = malloc(count * KR_AOE_SECTOR);
	if (tmp == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	if (kr_aoe_window_run(ini, KR_ATA_READ_EXT, first, 1, tmp) < 0)
		goto cleanup;
	if (count > 1 && kr_aoe_window_run(ini, KR_ATA_READ_EXT, first + count - 1, 1,
	    tmp + (count - 1) * KR_AOE_SECTOR) < 0)
		goto cleanup;
	memcpy(tmp + (off - first * KR_AOE_SECTOR), buf, len);
	rc = kr_aoe_window_run(ini, KR_ATA_WRITE_EXT, first, count, tmp);
cleanup:
	free(tmp);
	return rc;
}

int
kr_aoe_ini_flush(struct kr_aoe_ini *ini)
{
	uint8_t dummy[KR_AOE_SECTOR];

	return kr_aoe_window_run(ini, KR_ATA_FLUSH_EXT, 0, 1, dummy);
}

void
kr_aoe_ini_get_stats(const struct kr_aoe_ini *ini, struct kr_aoe_ini_stats *st)
{
	*st = ini->st;
	st->srtt_us = (unsigned)ini->srtt;
	st->rto_us = ini->rto;
	st->window = ini->window;
	st->sectors_per_frame = ini->spf;
	st->sectors = ini->sectors;
	kr_aoe_mac_format(ini->target, st->target_mac);
}
