/*
 * aoe-test.c - unit tests for aoe.c: the AoE r11 wire format.
 */
#include "core/check_run.h"
#include <stdlib.h>
#include <string.h>

#include "aoe/aoe.h"

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };

static size_t
ata_frame(uint8_t *f, uint8_t aflags, uint8_t cmd, uint8_t count, uint64_t lba)
{
	struct kr_aoe_hdr h = { .major = 3, .minor = 7, .cmd = KR_AOE_CMD_ATA, .tag = 0xdeadbeef };
	struct kr_aoe_ata a = { .aflags = aflags, .count = count, .cmdstat = cmd, .lba = lba };

	memcpy(h.dst, mac_b, 6);
	memcpy(h.src, mac_a, 6);
	kr_aoe_put_hdr(f, &h);
	return kr_aoe_put_ata(f, &a);
}

START_TEST(header_round_trip)
{
	uint8_t f[KR_AOE_FRAME_MAX];
	struct kr_aoe_hdr h;
	size_t n = ata_frame(f, KR_AOE_AFLAG_EXT, KR_ATA_READ_EXT, 17, 0);

	ck_assert_uint_eq(n, 36);
	ck_assert_uint_eq(f[12], 0x88);
	ck_assert_uint_eq(f[13], 0xa2);
	ck_assert_uint_eq(f[14], 0x10);		/* version 1, no flags */
	ck_assert_int_eq(kr_aoe_parse_hdr(f, n, &h), 0);
	ck_assert_uint_eq(h.major, 3);
	ck_assert_uint_eq(h.minor, 7);
	ck_assert_uint_eq(h.tag, 0xdeadbeef);
	ck_assert_uint_eq(h.cmd, KR_AOE_CMD_ATA);
	ck_assert_mem_eq(h.src, mac_a, 6);
	kr_aoe_hdr_reply(&h, mac_b);
	ck_assert_mem_eq(h.dst, mac_a, 6);
	ck_assert_mem_eq(h.src, mac_b, 6);
	ck_assert_uint_eq(h.flags, KR_AOE_FLAG_RESPONSE);
}
END_TEST

START_TEST(truncated_and_foreign_frames_are_refused)
{
	uint8_t f[KR_AOE_FRAME_MAX];
	struct kr_aoe_hdr h;
	struct kr_aoe_ata a;
	size_t n = ata_frame(f, 0, KR_ATA_READ, 1, 0), i;

	for (i = 0; i < KR_AOE_HDR_LEN; i++)
		ck_assert_int_eq(kr_aoe_parse_hdr(f, i, &h), -1);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(kr_aoe_parse_ata(f, i, &a), -1);
	ck_assert_int_eq(kr_aoe_parse_hdr(NULL, n, &h), -1);
	f[13] = 0x00;				/* not AoE */
	ck_assert_int_eq(kr_aoe_parse_hdr(f, n, &h), -1);
	f[13] = 0xa2;
	f[14] = 0x20;				/* version 2 */
	ck_assert_int_eq(kr_aoe_parse_hdr(f, n, &h), -1);
}
END_TEST

START_TEST(lba28_and_lba48)
{
	uint8_t f[KR_AOE_FRAME_MAX];
	struct kr_aoe_ata a;
	size_t n;

	n = ata_frame(f, KR_AOE_AFLAG_EXT, KR_ATA_WRITE_EXT, 2, 0x123456789abcULL);
	ck_assert_uint_eq(f[24 + 4], 0xbc);	/* little-endian LBA */
	ck_assert_uint_eq(f[24 + 9], 0x12);
	ck_assert_int_eq(kr_aoe_parse_ata(f, n + 1024, &a), 0);
	ck_assert_uint_eq(a.lba, 0x123456789abcULL);
	ck_assert_uint_eq(a.data_len, 1024);
	ck_assert_ptr_eq(a.data, f + 36);
	ck_assert(kr_aoe_ata_is_ext(a.cmdstat));

	/* LBA28: the device nibble (0xe0 set by the writer) is not address. */
	n = ata_frame(f, 0, KR_ATA_READ, 1, 0x0abcdef1);
	ck_assert_uint_eq(f[24 + 7], 0xea);
	ck_assert_int_eq(kr_aoe_parse_ata(f, n, &a), 0);
	ck_assert_uint_eq(a.lba, 0x0abcdef1);
	ck_assert_uint_eq(a.data_len, 0);
	ck_assert(!kr_aoe_ata_is_ext(a.cmdstat));
	f[24 + 8] = 0xff;			/* lba4/5 ignored without EXT */
	ck_assert_int_eq(kr_aoe_parse_ata(f, n, &a), 0);
	ck_assert_uint_eq(a.lba, 0x0abcdef1);
}
END_TEST

START_TEST(config_string_bounds)
{
	uint8_t f[KR_AOE_FRAME_MAX];
	struct kr_aoe_hdr h = { .cmd = KR_AOE_CMD_CONFIG };
	struct kr_aoe_cfg c = { .bufcnt = 256, .firmware = 0x4011, .scnt = 17, .aoever = 1,
	    .ccmd = KR_AOE_CCMD_READ, .cslen = 7, .cstr = (const uint8_t *)"vol-abc" };
	struct kr_aoe_cfg p;
	size_t n;

	kr_aoe_put_hdr(f, &h);
	n = kr_aoe_put_cfg(f, &c);
	ck_assert_uint_eq(n, 24 + 8 + 7);
	ck_assert_int_eq(kr_aoe_parse_cfg(f, n, &p), 0);
	ck_assert_uint_eq(p.bufcnt, 256);
	ck_assert_uint_eq(p.firmware, 0x4011);
	ck_assert_uint_eq(p.scnt, 17);
	ck_assert_uint_eq(p.aoever, 1);
	ck_assert_uint_eq(p.cslen, 7);
	ck_assert_mem_eq(p.cstr, "vol-abc", 7);
	/* A length field that claims more than arrived is refused. */
	ck_assert_int_eq(kr_aoe_parse_cfg(f, n - 1, &p), -1);
	f[24 + 6] = 0x04;			/* cslen 1031 > 1024 */
	ck_assert_int_eq(kr_aoe_parse_cfg(f, sizeof(f), &p), -1);
	ck_assert_int_eq(kr_aoe_parse_cfg(f, 24 + 7, &p), -1);
}
END_TEST

START_TEST(mask_list_bounds)
{
	uint8_t f[KR_AOE_FRAME_MAX];
	struct kr_aoe_hdr h = { .cmd = KR_AOE_CMD_MASK };
	struct kr_aoe_mask m = { .mcmd = KR_AOE_MCMD_EDIT, .dircount = 2 };
	struct kr_aoe_mask_dir d = { .dcmd = KR_AOE_DCMD_ADD };
	struct kr_aoe_mask p;
	size_t n;

	kr_aoe_put_hdr(f, &h);
	kr_aoe_put_mask(f, &m);
	memcpy(d.mac, mac_a, 6);
	kr_aoe_put_mask_dir(f, 0, &d);
	d.dcmd = KR_AOE_DCMD_DEL;
	memcpy(d.mac, mac_b, 6);
	n = kr_aoe_put_mask_dir(f, 1, &d);
	ck_assert_uint_eq(n, 24 + 4 + 16);
	ck_assert_int_eq(kr_aoe_parse_mask(f, n, &p), 0);
	ck_assert_uint_eq(p.dircount, 2);
	kr_aoe_mask_dir_get(&p, 1, &d);
	ck_assert_uint_eq(d.dcmd, KR_AOE_DCMD_DEL);
	ck_assert_mem_eq(d.mac, mac_b, 6);
	ck_assert_int_eq(kr_aoe_parse_mask(f, n - 1, &p), -1);
	ck_assert_int_eq(kr_aoe_parse_mask(f, 27, &p), -1);
}
END_TEST

START_TEST(sectors_per_frame_follow_the_mtu)
{
	ck_assert_uint_eq(kr_aoe_sectors_per_frame(9000), 17);
	ck_assert_uint_eq(kr_aoe_sectors_per_frame(1500), 2);
	ck_assert_uint_eq(kr_aoe_sectors_per_frame(1000), 1);
	ck_assert_uint_eq(kr_aoe_sectors_per_frame(500), 0);
	ck_assert_uint_eq(kr_aoe_sectors_per_frame(-1), 0);
	ck_assert_uint_eq(kr_aoe_sectors_per_frame(65536), 17);	/* bounded by our frames */
}
END_TEST

START_TEST(identify_reports_lba48_capacity)
{
	uint8_t id[512];
	uint64_t sectors = 0x123456789ULL;

	kr_aoe_identify(id, sectors, "vol-1234", "Karri EBS");
	ck_assert_uint_eq(id[83 * 2 + 1] & 0x04, 0x04);		/* word 83 bit 10 */
	ck_assert_uint_eq(id[100 * 2], 0x89);
	ck_assert_uint_eq(id[101 * 2 + 1], 0x23);
	ck_assert_uint_eq(id[102 * 2], 0x01);
	ck_assert_uint_eq(id[60 * 2], 0xff);			/* LBA28 saturates */
	ck_assert_uint_eq(id[61 * 2 + 1], 0x0f);
	ck_assert_uint_eq(id[54], 'a');				/* "Karri" byte-swapped */
	ck_assert_uint_eq(id[55], 'K');
}
END_TEST

START_TEST(mac_parse_and_format)
{
	uint8_t m[6];
	char s[18];

	ck_assert_int_eq(kr_aoe_mac_parse("d0:0D:12:34:ab:cd", m), 0);
	kr_aoe_mac_format(m, s);
	ck_assert_str_eq(s, "d0:0d:12:34:ab:cd");
	ck_assert_int_eq(kr_aoe_mac_parse("d0:0d:12:34:ab", m), -1);
	ck_assert_int_eq(kr_aoe_mac_parse("d0:0d:12:34:ab:cdx", m), -1);
	ck_assert_int_eq(kr_aoe_mac_parse("d0-0d-12-34-ab-cd", m), -1);
	ck_assert_int_eq(kr_aoe_mac_parse(" d0:d:12:34:ab:cd", m), -1);
	ck_assert_int_eq(kr_aoe_mac_parse(NULL, m), -1);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("aoe", &tc);

	tcase_add_test(tc, header_round_trip);
	tcase_add_test(tc, truncated_and_foreign_frames_are_refused);
	tcase_add_test(tc, lba28_and_lba48);
	tcase_add_test(tc, config_string_bounds);
	tcase_add_test(tc, mask_list_bounds);
	tcase_add_test(tc, sectors_per_frame_follow_the_mtu);
	tcase_add_test(tc, identify_reports_lba48_capacity);
	tcase_add_test(tc, mac_parse_and_format);
	return kr_check_run(s);
}
