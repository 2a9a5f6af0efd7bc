/*
 * aoe.c - AoE r11 headers: build and parse (see aoe.h for the layout).
 *
 * Parsers never trust a length field: every section is checked against the
 * number of bytes received before it is read, and variable parts (config
 * string, mask directives) are checked against what remains.
 */
#include <stdio.h>
#include <string.h>

#include "aoe/aoe.h"
#include "core/uri.h"

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int
kr_aoe_parse_hdr(const uint8_t *f, size_t len, struct kr_aoe_hdr *h)
{
	if (f == NULL || len < KR_AOE_HDR_LEN)
		return -1;
	if (get16(f + 12) != KR_AOE_ETHERTYPE)
		return -1;
	memcpy(h->dst, f, 6);
	memcpy(h->src, f + 6, 6);
	h->version = f[14] >> 4;
	h->flags = f[14] & 0x0f;
	h->error = f[15];
	h->major = get16(f + 16);
	h->minor = f[18];
	h->cmd = f[19];
	h->tag = (uint32_t)f[20] << 24 | (uint32_t)f[21] << 16 | (uint32_t)f[22] << 8 | f[23];
	if (h->version != KR_AOE_VERSION)
		return -1;
	return 0;
}

int
kr_aoe_parse_ata(const uint8_t *f, size_t len, struct kr_aoe_ata *a)
{
	const uint8_t *p = f + KR_AOE_HDR_LEN;
	int i;

	if (len < KR_AOE_ATA_LEN)
		return -1;
	a->aflags = p[0];
	a->feature = p[1];
	a->count = p[2];
	a->cmdstat = p[3];
	a->lba = 0;
	for (i = 5; i >= 0; i--)
		a->lba = a->lba << 8 | p[4 + i];
	if (!(a->aflags & KR_AOE_AFLAG_EXT))
		a->lba &= 0x0fffffff;	/* LBA28: the top nibble of lba3 is the device register */
	a->data = f + KR_AOE_ATA_LEN;
	a->data_len = len - KR_AOE_ATA_LEN;
	return 0;
}

int
kr_aoe_parse_cfg(const uint8_t *f, size_t len, struct kr_aoe_cfg *c)
{
	const uint8_t *p = f + KR_AOE_HDR_LEN;

	if (len < KR_AOE_CFG_LEN)
		return -1;
	c->bufcnt = get16(p);
	c->firmware = get16(p + 2);
	c->scnt = p[4];
	c->aoever = p[5] >> 4;
	c->ccmd = p[5] & 0x0f;
	c->cslen = get16(p + 6);
	if (c->cslen > KR_AOE_CFG_STR_MAX || c->cslen > len - KR_AOE_CFG_LEN)
		return -1;
	c->cstr = f + KR_AOE_CFG_LEN;
	return 0;
}

int
kr_aoe_parse_mask(const uint8_t *f, size_t len, struct kr_aoe_mask *m)
{
	const uint8_t *p = f + KR_AOE_HDR_LEN;

	if (len < KR_AOE_MASK_LEN)
		return -1;
	m->mcmd = p[1];
	m->merror = p[2];
	m->dircount = p[3];
	if ((size_t)m->dircount * 8 > len - KR_AOE_MASK_LEN)
		return -1;
	m->dirs = f + KR_AOE_MASK_LEN;
	return 0;
}

void
kr_aoe_mask_dir_get(const struct kr_aoe_mask *m, unsigned i, struct kr_aoe_mask_dir *d)
{
	const uint8_t *p = m->dirs + (size_t)i * 8;

	d->dcmd = p[1];
	memcpy(d->mac, p + 2, 6);
}

size_t
kr_aoe_put_hdr(uint8_t *f, const struct kr_aoe_hdr *h)
{
	memcpy(f, h->dst, 6);
	memcpy(f + 6, h->src, 6);
	put16(f + 12, KR_AOE_ETHERTYPE);
	f[14] = (uint8_t)(KR_AOE_VERSION << 4 | (h->flags & 0x0f));
	f[15] = h->error;
	put16(f + 16, h->major);
	f[18] = h->minor;
	f[19] = h->cmd;
	f[20] = (uint8_t)(h->tag >> 24);
	f[21] = (uint8_t)(h->tag >> 16);
	f[22] = (uint8_t)(h->tag >> 8);
	f[23] = (uint8_t)h->tag;
	return KR_AOE_HDR_LEN;
}

size_t
kr_aoe_put_ata(uint8_t *f, const struct kr_aoe_ata *a)
{
	uint8_t *p = f + KR_AOE_HDR_LEN;
	int i;

	p[0] = a->aflags;
	p[1] = a->feature;
	p[2] = a->count;
	p[3] = a->cmdstat;
	for (i = 0; i < 6; i++)
		p[4 + i] = (uint8_t)(a->lba >> (8 * i));
	if (!(a->aflags & KR_AOE_AFLAG_EXT))
		p[7] = (uint8_t)((p[7] & 0x0f) | 0xe0);	/* LBA mode, as ATA wants for LBA28 */
	p[10] = p[11] = 0;
	return KR_AOE_ATA_LEN;
}

size_t
kr_aoe_put_cfg(uint8_t *f, const struct kr_aoe_cfg *c)
{
	uint8_t *p = f + KR_AOE_HDR_LEN;
	uint16_t n = c->cslen > KR_AOE_CFG_STR_MAX ? KR_AOE_CFG_STR_MAX : c->cslen;

	put16(p, c->bufcnt);
	put16(p + 2, c->firmware);
	p[4] = c->scnt;
	p[5] = (uint8_t)(c->aoever << 4 | (c->ccmd & 0x0f));
	put16(p + 6, n);
	if (n > 0 && c->cstr != NULL)
		memmove(f + KR_AOE_CFG_LEN, c->cstr, n);
	return KR_AOE_CFG_LEN + n;
}

size_t
kr_aoe_put_mask(uint8_t *f, const struct kr_aoe_mask *m)
{
	uint8_t *p = f + KR_AOE_HDR_LEN;

	p[0] = 0;
	p[1] = m->mcmd;
	p[2] = m->merror;
	p[3] = m->dircount;
	return KR_AOE_MASK_LEN;
}

size_t
kr_aoe_put_mask_dir(uint8_t *f, unsigned i, const struct kr_aoe_mask_dir *d)
{
	uint8_t *p = f + KR_AOE_MASK_LEN + (size_t)i * 8;

	p[0] = 0;
	p[1] = d->dcmd;
	memcpy(p + 2, d->mac, 6);
	return KR_AOE_MASK_LEN + ((size_t)i + 1) * 8;
}

void
kr_aoe_hdr_reply(struct kr_aoe_hdr *h, const uint8_t self_mac[6])
{
	memcpy(h->dst, h->src, 6);
	memcpy(h->src, self_mac, 6);
	h->flags |= KR_AOE_FLAG_RESPONSE;
	h->flags &= (uint8_t)~KR_AOE_FLAG_ERROR;
	h->error = 0;
}

unsigned
kr_aoe_sectors_per_frame(int mtu)
{
	/* The MTU counts the payload after the Ethernet header. */
	long room = (long)mtu - (KR_AOE_ATA_LEN - KR_AOE_ETH_LEN);
	long n;

	if (room < KR_AOE_SECTOR)
		return 0;
	n = room / KR_AOE_SECTOR;
	if (n > (KR_AOE_FRAME_MAX - KR_AOE_ATA_LEN) / KR_AOE_SECTOR)
		n = (KR_AOE_FRAME_MAX - KR_AOE_ATA_LEN) / KR_AOE_SECTOR;
	return (unsigned)n;
}

bool
kr_aoe_ata_is_ext(uint8_t cmd)
{
	return cmd == KR_ATA_READ_EXT || cmd == KR_ATA_WRITE_EXT || cmd == KR_ATA_FLUSH_EXT;
}

/* ATA strings: space-padded, two characters per word, high byte first. */
static void
identify_string(uint8_t *out, size_t len, const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	for (i = 0; i < len; i++) {
		char c = i < n ? s[i] : ' ';
		out[i ^ 1] = (uint8_t)c;
	}
}

static void
put_word(uint8_t *id, int w, uint16_t v)
{
	id[2 * w] = (uint8_t)v;		/* IDENTIFY words are little-endian */
	id[2 * w + 1] = (uint8_t)(v >> 8);
}

void
kr_aoe_identify(uint8_t id[512], uint64_t sectors, const char *serial, const char *model)
{
	uint64_t lba28 = sectors > 0x0fffffff ? 0x0fffffff : sectors;
	int i;

	memset(id, 0, 512);
	put_word(id, 0, 0x0040);		/* fixed device */
	identify_string(id + 20, 20, serial);
	identify_string(id + 46, 8, "karri1");
	identify_string(id + 54, 40, model);
	put_word(id, 47, 0x8000 | 16);		/* READ/WRITE MULTIPLE: up to 16 */
	put_word(id, 49, 0x0300);		/* LBA and DMA */
	put_word(id, 53, 0x0006);		/* words 64-70 and 88 valid */
	put_word(id, 60, (uint16_t)lba28);
	put_word(id, 61, (uint16_t)(lba28 >> 16));
	put_word(id, 80, 0x00f0);		/* ATA/ATAPI 4..7 */
	put_word(id, 82, 0x4000);
	put_word(id, 83, 0x5400);		/* LBA48, FLUSH CACHE EXT */
	put_word(id, 84, 0x4000);
	put_word(id, 85, 0x4000);
	put_word(id, 86, 0x1400);		/* LBA48 and FLUSH CACHE EXT enabled */
	put_word(id, 87, 0x4000);
	for (i = 0; i < 4; i++)
		put_word(id, 100 + i, (uint16_t)(sectors >> (16 * i)));
}

int
kr_aoe_mac_parse(const char *s, uint8_t mac[6])
{
	int i, hi, lo;

	if (s == NULL || strlen(s) != 17)
		return -1;
	for (i = 0; i < 6; i++) {
		hi = kr_uri_hexval(s[3 * i]);
		lo = kr_uri_hexval(s[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -1;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void
kr_aoe_mac_format(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
	    mac[4], mac[5]);
}
