/*
 * aoe.h - the ATA-over-Ethernet wire format (AoE revision 11, ethertype 0x88A2).
 *
 * Shared by the EBS target (ebs/aoe_target.c) and the userspace initiator
 * (aoe_initiator.c).  Only byte layout lives here: building headers and
 * parsing them with every field checked against the frame length actually
 * received.  Nothing here does I/O, so all of it is unit-tested
 * (aoe-test.c).
 *
 * A frame is
 *
 *	Ethernet  dst[6] src[6] type[2]=0x88A2                     14 bytes
 *	AoE       ver|flags[1] error[1] major[2] minor[1] cmd[1] tag[4]  10
 *	then per command:
 *	ATA (0)   aflags[1] feature/err[1] count[1] cmd/status[1]
 *	          lba0..lba5[6] (little-endian) reserved[2]  data...  12
 *	Config(1) bufcnt[2] firmware[2] scnt[1] aoever|ccmd[1]
 *	          cslen[2] config string[cslen <= 1024]             8+
 *	MacMask(2) reserved[1] mcmd[1] merror[1] dircount[1]
 *	          directives: reserved[1] dcmd[1] mac[6] each       4+8n
 *
 * Multi-byte header fields are big-endian; the ATA LBA is little-endian, as
 * in the ATA task file.
 */
#ifndef KARRI_AOE_H
#define KARRI_AOE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KR_AOE_ETHERTYPE	0x88A2
#define KR_AOE_VERSION		1
#define KR_AOE_ETH_LEN		14
#define KR_AOE_HDR_LEN		(KR_AOE_ETH_LEN + 10)	/* Ethernet + AoE common header */
#define KR_AOE_ATA_LEN		(KR_AOE_HDR_LEN + 12)	/* ... + ATA header: data starts here */
#define KR_AOE_CFG_LEN		(KR_AOE_HDR_LEN + 8)	/* ... + config header: string starts here */
#define KR_AOE_MASK_LEN		(KR_AOE_HDR_LEN + 4)
#define KR_AOE_SECTOR		512
#define KR_AOE_CFG_STR_MAX	1024
#define KR_AOE_MASK_DIR_MAX	255
#define KR_AOE_MAJOR_ANY	0xffff	/* broadcast shelf */
#define KR_AOE_MINOR_ANY	0xff	/* broadcast slot */
#define KR_AOE_FRAME_MAX	9216	/* largest jumbo frame we build or accept */

/* Flags (low nibble of the first AoE byte). */
#define KR_AOE_FLAG_RESPONSE	0x08
#define KR_AOE_FLAG_ERROR	0x04

enum kr_aoe_cmd {
	KR_AOE_CMD_ATA = 0,
	KR_AOE_CMD_CONFIG = 1,
	KR_AOE_CMD_MASK = 2,
	KR_AOE_CMD_RESERVE = 3,
};

/* The AoE error field when KR_AOE_FLAG_ERROR is set. */
enum kr_aoe_err {
	KR_AOE_ERR_BADCMD = 1,		/* unrecognized command code */
	KR_AOE_ERR_BADARG = 2,		/* bad argument parameter */
	KR_AOE_ERR_DEVUNAVAIL = 3,	/* device unavailable */
	KR_AOE_ERR_CFG_SET = 4,		/* config string present */
	KR_AOE_ERR_BADVER = 5,		/* unsupported version */
	KR_AOE_ERR_RESERVED = 6,	/* target is reserved */
};

/* ATA aflags. */
#define KR_AOE_AFLAG_EXT	0x40	/* LBA48 */
#define KR_AOE_AFLAG_DEV	0x10
#define KR_AOE_AFLAG_ASYNC	0x02
#define KR_AOE_AFLAG_WRITE	0x01

/* The ATA commands the target implements. */
#define KR_ATA_READ		0x20
#define KR_ATA_READ_EXT		0x24
#define KR_ATA_WRITE		0x30
#define KR_ATA_WRITE_EXT	0x34
#define KR_ATA_FLUSH		0xE7
#define KR_ATA_FLUSH_EXT	0xEA
#define KR_ATA_IDENTIFY		0xEC
#define KR_ATA_CHECK_POWER	0xE5

#define KR_ATA_STATUS_ERR	0x01
#define KR_ATA_STATUS_DRDY	0x40
#define KR_ATA_ERR_ABRT		0x04

/* Query Config sub-commands (ccmd). */
enum kr_aoe_ccmd {
	KR_AOE_CCMD_READ = 0,
	KR_AOE_CCMD_TEST = 1,		/* answer only if the string matches exactly */
	KR_AOE_CCMD_TEST_PREFIX = 2,	/* answer only if it is a prefix */
	KR_AOE_CCMD_SET = 3,		/* set if empty */
	KR_AOE_CCMD_FORCE_SET = 4,
};

/* MAC mask list commands and directives. */
enum kr_aoe_mcmd { KR_AOE_MCMD_READ = 0, KR_AOE_MCMD_EDIT = 1 };
enum kr_aoe_dcmd { KR_AOE_DCMD_NONE = 0, KR_AOE_DCMD_ADD = 1, KR_AOE_DCMD_DEL = 2 };
enum kr_aoe_merr { KR_AOE_MERR_UNSPEC = 1, KR_AOE_MERR_BADDIR = 2, KR_AOE_MERR_FULL = 3 };

/* The common header, host byte order. */
struct kr_aoe_hdr {
	uint8_t dst[6];
	uint8_t src[6];
	uint8_t version;
	uint8_t flags;
	uint8_t error;
	uint16_t major;
	uint8_t minor;
	uint8_t cmd;
	uint32_t tag;
};

struct kr_aoe_ata {
	uint8_t aflags;
	uint8_t feature;	/* error register in a response */
	uint8_t count;		/* sectors */
	uint8_t cmdstat;	/* command in a request, status in a response */
	uint64_t lba;		/* 48 bits; masked to 28 for non-EXT commands */
	const uint8_t *data;	/* points into the frame */
	size_t data_len;	/* bytes after the ATA header, as received */
};

struct kr_aoe_cfg {
	uint16_t bufcnt;
	uint16_t firmware;
	uint8_t scnt;		/* most sectors per ATA command */
	uint8_t aoever;
	uint8_t ccmd;
	uint16_t cslen;
	const uint8_t *cstr;	/* points into the frame, not NUL-terminated */
};

struct kr_aoe_mask_dir {
	uint8_t dcmd;
	uint8_t mac[6];
};

struct kr_aoe_mask {
	uint8_t mcmd;
	uint8_t merror;
	uint8_t dircount;
	const uint8_t *dirs;	/* dircount * 8 bytes in the frame */
};

/*
 * Parse the Ethernet + AoE header.  0, or -1 when the frame is too short,
 * not AoE, or of another AoE version: the caller drops it silently (the
 * protocol has no way to answer a frame it cannot read).
 */
int kr_aoe_parse_hdr(const uint8_t *frame, size_t len, struct kr_aoe_hdr *h);

/* The argument sections; each 0 or -1 when the frame is too short for it. */
int kr_aoe_parse_ata(const uint8_t *frame, size_t len, struct kr_aoe_ata *a);
int kr_aoe_parse_cfg(const uint8_t *frame, size_t len, struct kr_aoe_cfg *c);
int kr_aoe_parse_mask(const uint8_t *frame, size_t len, struct kr_aoe_mask *m);
void kr_aoe_mask_dir_get(const struct kr_aoe_mask *m, unsigned i, struct kr_aoe_mask_dir *d);

/*
 * Writers: each fills its section of frame[] (which must hold it: callers
 * size frames to KR_AOE_FRAME_MAX) and returns the bytes written up to the
 * end of that section.
 */
size_t kr_aoe_put_hdr(uint8_t *frame, const struct kr_aoe_hdr *h);
size_t kr_aoe_put_ata(uint8_t *frame, const struct kr_aoe_ata *a);	/* data not copied */
size_t kr_aoe_put_cfg(uint8_t *frame, const struct kr_aoe_cfg *c);	/* copies cstr */
size_t kr_aoe_put_mask(uint8_t *frame, const struct kr_aoe_mask *m);	/* header only */
size_t kr_aoe_put_mask_dir(uint8_t *frame, unsigned i, const struct kr_aoe_mask_dir *d);

/* Turn a parsed request header into its response header (swap MACs, set R). */
void kr_aoe_hdr_reply(struct kr_aoe_hdr *h, const uint8_t self_mac[6]);

/*
 * Sectors that fit one frame at this MTU: (mtu - AoE and ATA headers) / 512,
 * at most 255 (one byte) -- 17 at 9000, 2 at 1500.  0 when not even one fits.
 */
unsigned kr_aoe_sectors_per_frame(int mtu);

/* Whether the ATA command is LBA48 (the EXT variants). */
bool kr_aoe_ata_is_ext(uint8_t cmd);

/* The 512-byte IDENTIFY DEVICE answer for a disk of `sectors` sectors. */
void kr_aoe_identify(uint8_t out[512], uint64_t sectors, const char *serial, const char *model);

/* "aa:bb:cc:dd:ee:ff" -> mac; 0 or -1. */
int kr_aoe_mac_parse(const char *s, uint8_t mac[6]);
void kr_aoe_mac_format(const uint8_t mac[6], char out[18]);

#endif
