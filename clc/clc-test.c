/*
 * clc-test.c - unit tests of the CLC's pure parts: the action table (and
 * docs/ec2-actions.md made from it), EC2
 * wildcards, HTTP statuses of error codes, key fingerprints and base64;
 * and the derived karri: tags a <tagSet> shows, on a real clc.db.
 * The API itself is tested with real clients in tests/integration/test_clc*.py.
 */
#include "core/check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clc.h"
#include "clc_actions.h"
#include "clc_instance.h"
#include "clc_keys.h"
#include "clc_volume.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"

START_TEST(action_table_sorted_and_real)
{
	ck_assert_int_eq(clc_actions_check(), 0);
	ck_assert_ptr_nonnull(clc_action_find("DescribeInstances"));
	ck_assert_ptr_nonnull(clc_action_find("DescribeInstances")->fn);
	/* Known to EC2, not built: found without a function (UnsupportedOperation). */
	ck_assert_ptr_nonnull(clc_action_find("CreateVpc"));
	ck_assert_ptr_null(clc_action_find("CreateVpc")->fn);
	ck_assert_ptr_null(clc_action_find("DescribeUnicorns"));
}
END_TEST

/*
 * docs/ec2-actions.md (tools/ec2_actions_doc.py) and the table agree: each
 * "yes" row is built, each "no" row is an EC2 name answered
 * UnsupportedOperation (or, in the Eucalyptus-only part, no EC2 name at
 * all), and there are as many "yes" rows as built actions.
 */
START_TEST(actions_doc_matches_table)
{
	const char *data = getenv("KARRI_TEST_DATA");
	char path[1024], line[1024], name[128], yes[8];
	size_t built = 0;
	bool euca_only = false;
	FILE *f;

	ck_assert_ptr_nonnull(data);
	snprintf(path, sizeof(path), "%s/../../docs/ec2-actions.md", data);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f)) {
		const struct clc_action *a;

		euca_only |= strncmp(line, "Eucalyptus-only", 15) == 0;
		if (sscanf(line, "| %127[A-Za-z] | %7[a-z] |", name, yes) != 2 ||
		    strcmp(name, "Action") == 0)
			continue;
		a = clc_action_find(name);
		if (euca_only) {
			ck_assert_msg(a == NULL, "%s is an EC2 name", name);
			continue;
		}
		ck_assert_msg(a != NULL, "%s is no EC2 action", name);
		ck_assert_msg((strcmp(yes, "yes") == 0) == (a->fn != NULL),
		    "%s: docs say %s", name, yes);
		built += a->fn != NULL;
	}
	fclose(f);
	ck_assert_uint_eq(built, clc_actions_count());
}
END_TEST

START_TEST(wildcards)
{
	ck_assert(clc_wildcard_match("*", ""));
	ck_assert(clc_wildcard_match("web*", "web-1"));
	ck_assert(clc_wildcard_match("w?b", "web"));
	ck_assert(clc_wildcard_match("*-1", "web-1"));
	ck_assert(!clc_wildcard_match("web", "web-1"));
	ck_assert(clc_wildcard_match("a\\*b", "a*b"));
	ck_assert(!clc_wildcard_match("a\\*b", "axb"));
}
END_TEST

START_TEST(statuses)
{
	ck_assert_int_eq(clc_http_status("AuthFailure"), 401);
	ck_assert_int_eq(clc_http_status("RequestExpired"), 400);
	ck_assert_int_eq(clc_http_status("InternalError"), 500);
	ck_assert_int_eq(clc_http_status("InvalidAction"), 400);
	ck_assert_int_eq(clc_http_status("Unavailable"), 503);
}
END_TEST

START_TEST(key_create_and_import)
{
	static struct clc_key a, b;
	char b64[2048];

	ck_assert_int_eq(clc_key_create("k", &a), 0);
	ck_assert_int_eq(strlen(a.fingerprint), 59);	/* SHA-1: 20 bytes */
	ck_assert_ptr_nonnull(strstr(a.private_pem, "BEGIN RSA PRIVATE KEY"));
	ck_assert_int_eq(strncmp(a.public_line, "ssh-rsa AAAA", 12), 0);
	/* Import the OpenSSH line, raw and base64-encoded: same MD5 fingerprint. */
	ck_assert_int_eq(clc_key_import(a.public_line, "k", &b), 0);
	ck_assert_int_eq(strlen(b.fingerprint), 47);	/* MD5: 16 bytes */
	ck_assert_str_eq(b.public_line, a.public_line);
	clc_base64_encode((const unsigned char *)a.public_line, strlen(a.public_line), b64);
	{
		static struct clc_key c;

		ck_assert_int_eq(clc_key_import(b64, "k", &c), 0);
		ck_assert_str_eq(c.fingerprint, b.fingerprint);
	}
	ck_assert_int_eq(clc_key_import("ssh-rsa bm90IGEga2V5", "k", &b), -1);
}
END_TEST

START_TEST(base64)
{
	unsigned char out[16];

	ck_assert_int_eq(clc_base64_decode("aGk=", out, sizeof(out)), 2);
	ck_assert_int_eq(memcmp(out, "hi", 2), 0);
	ck_assert_int_eq(clc_base64_decode("aGk", out, sizeof(out)), -1);
	ck_assert_int_eq(clc_base64_decode("a$k=", out, sizeof(out)), -1);
}
END_TEST

START_TEST(attach_paths)
{
	ck_assert_str_eq(clc_attach_path("phy"), "kernel");
	ck_assert_str_eq(clc_attach_path("nbd"), "nbd");
	ck_assert_str_eq(clc_attach_path("guest"), "guest");
	ck_assert_str_eq(clc_attach_path("guest-aoe"), "guest");
	ck_assert_str_eq(clc_attach_path("file"), "file");
	ck_assert_str_eq(clc_attach_path("iscsi"), "iscsi");	/* newer node: as it says */
	ck_assert_str_eq(clc_attach_path(NULL), "");
}
END_TEST

static const char derived_rows[] =
	"INSERT INTO reservations VALUES ('r-1', '111', NULL, 0);"
	"INSERT INTO instances (id, reservation_id, owner, image_id, type, launch_index, zone,"
	" launched, state_changed, disk_attachment, net_attachment) VALUES"
	" ('i-1', 'r-1', '111', 'emi-1', 'm1.small', 0, 'z', 0, 0,"
	"  'bus=virtio backing=tap store=raw cache=none io=native', 'model=virtio'),"
	" ('i-2', 'r-1', '111', 'emi-1', 'm1.small', 1, 'z', 0, 0, NULL, '');"
	"INSERT INTO tags VALUES ('i-1', '111', 'role', 'db'), ('i-1', '111', 'a', '<&>');"
	"INSERT INTO volumes (id, owner, size, zone, status, created, instance_id, attach_path)"
	" VALUES ('vol-1', '111', 1, 'z', 'in-use', 0, 'i-1', 'nbd'),"
	" ('vol-2', '111', 1, 'z', 'available', 0, NULL, 'stale');";

static const char *
tag_set(struct clc_req *r, const char *id)
{
	kr_buf_reset(r->out);
	clc_tags_xml(r, id);
	return kr_buf_str(r->out);
}

/* Derived tags sort among the stored ones; none without a value or an attachment. */
START_TEST(derived_tags)
{
	char dir[] = "/tmp/karri-clc-test.XXXXXX", path[64];
	struct kr_buf out = KR_BUF_INIT;
	struct clc_req r = { .out = &out };

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/clc.db", dir);
	kr_log_set_level(KR_LOG_WARN);
	ck_assert_msg(clc_db_open(path, &r.db) == 0, "%s", kr_error_message());
	ck_assert_int_eq(sqlite3_exec(r.db, derived_rows, NULL, NULL, NULL), SQLITE_OK);
	ck_assert_str_eq(tag_set(&r, "i-1"), "<tagSet>"
	    "<item><key>a</key><value>&lt;&amp;&gt;</value></item>"
	    "<item><key>karri:disk</key><value>bus=virtio backing=tap store=raw cache=none "
	    "io=native</value></item>"
	    "<item><key>karri:net</key><value>model=virtio</value></item>"
	    "<item><key>role</key><value>db</value></item></tagSet>");
	ck_assert_str_eq(tag_set(&r, "i-2"), "");
	ck_assert_str_eq(tag_set(&r, "vol-1"),
	    "<tagSet><item><key>karri:path</key><value>nbd</value></item></tagSet>");
	ck_assert_str_eq(tag_set(&r, "vol-2"), "");	/* detached: no path, whatever is left */
	kr_buf_free(&out);
	/* clc_tags_xml keeps its statement prepared for the daemon's life: not here. */
	for (sqlite3_stmt *st; (st = sqlite3_next_stmt(r.db, NULL)) != NULL;)
		sqlite3_finalize(st);
	kr_db_close(r.db);
	for (size_t i = 0; i < 3; i++) {
		char p[96];

		snprintf(p, sizeof(p), "%s%s", path, (const char *[]){ "", "-wal", "-shm" }[i]);
		unlink(p);
	}
	rmdir(dir);
}
END_TEST

/* One append or the escaper: either way what a client parses is the text. */
START_TEST(xml_elements)
{
	struct kr_buf b = KR_BUF_INIT;
	char text[300], want[700];

	clc_xml_elem(&b, "a", "i-0123abcd");
	clc_xml_elem(&b, "b", "<&>\"'");
	clc_xml_elem(&b, "c", NULL);
	clc_xml_elem(&b, "d", "caf\xc3\xa9\t\xff");
	clc_xml_elem_int(&b, "e", -42);
	clc_xml_elem_int(&b, "f", 0);
	clc_xml_time(&b, "g", 0);
	ck_assert_str_eq(kr_buf_str(&b), "<a>i-0123abcd</a><b>&lt;&amp;&gt;&quot;&apos;</b>"
	    "<c></c><d>caf\xc3\xa9\t\xef\xbf\xbd</d><e>-42</e><f>0</f>"
	    "<g>1970-01-01T00:00:00.000Z</g>");
	/* around the most one append holds (256 bytes): the same either side */
	for (size_t len = 240; len < sizeof(text); len += 3) {
		memset(text, 'x', len);
		text[len] = '\0';
		kr_buf_reset(&b);
		clc_xml_elem(&b, "tag", text);
		snprintf(want, sizeof(want), "<tag>%s</tag>", text);
		ck_assert_str_eq(kr_buf_str(&b), want);
	}
	memset(text, 't', 200);
	text[200] = '\0';
	kr_buf_reset(&b);
	clc_xml_elem(&b, text, "v");	/* a tag too long for one append */
	snprintf(want, sizeof(want), "<%s>v</%s>", text, text);
	ck_assert_str_eq(kr_buf_str(&b), want);
	kr_buf_free(&b);
}
END_TEST

static const char group_rows[] =
	"INSERT INTO reservations VALUES ('r-1', '111', NULL, 0), ('r-2', '111', NULL, 0),"
	" ('r-" "0123456789012345678901234567890123456789012345678901234567890123', '111', NULL, 0);"
	"INSERT INTO reservation_groups VALUES ('r-1', 'sg-2', 'web'), ('r-1', 'sg-1', 'a&b'),"
	" ('r-0123456789012345678901234567890123456789012345678901234567890123', 'sg-3', 'long');"
	"INSERT INTO instances (id, reservation_id, owner, image_id, type, launch_index, zone,"
	" launched, state_changed) VALUES ('i-1', 'r-1', '111', 'emi-1', 'm1.small', 0, 'z', 0, 0);"
	"INSERT INTO tags VALUES ('i-1', '111', 'k', 'v'), ('vol-1', '111', 'k', 'v');";

/* A reservation's groups, asked once and kept, whatever the length of its id. */
START_TEST(instance_groups)
{
	char dir[] = "/tmp/karri-clc-test.XXXXXX", path[64];
	struct clc_instance_ctx x;
	sqlite3 *db;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/clc.db", dir);
	kr_log_set_level(KR_LOG_WARN);
	ck_assert_msg(clc_db_open(path, &db) == 0, "%s", kr_error_message());
	ck_assert_int_eq(sqlite3_exec(db, group_rows, NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(clc_instance_ctx_init(&x, db, "111"), 0);
	ck_assert_uint_eq(x.ntagged, 1);	/* the instance's tags, not the volume's */
	ck_assert_str_eq(clc_instance_groups(&x, "r-1"), "sg-1 a&b\nsg-2 web");
	ck_assert_str_eq(kr_buf_str(&x.groups_xml), "<groupSet><item><groupId>sg-1</groupId>"
	    "<groupName>a&amp;b</groupName></item><item><groupId>sg-2</groupId>"
	    "<groupName>web</groupName></item></groupSet>");
	ck_assert_str_eq(clc_instance_groups(&x, "r-1"), "sg-1 a&b\nsg-2 web");
	ck_assert_ptr_null(clc_instance_groups(&x, "r-2"));
	ck_assert_str_eq(kr_buf_str(&x.groups_xml), "<groupSet></groupSet>");
	ck_assert_str_eq(clc_instance_groups(&x,
	    "r-0123456789012345678901234567890123456789012345678901234567890123"), "sg-3 long");
	ck_assert_ptr_null(clc_instance_groups(&x,
	    "r-0123456789012345678901234567890123456789012345678901234567890124"));
	ck_assert_str_eq(clc_instance_groups(&x, "r-1"), "sg-1 a&b\nsg-2 web");
	clc_instance_ctx_free(&x);
	kr_db_close(db);
	for (size_t i = 0; i < 3; i++) {
		char p[96];

		snprintf(p, sizeof(p), "%s%s", path, (const char *[]){ "", "-wal", "-shm" }[i]);
		unlink(p);
	}
	rmdir(dir);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("clc", &tc);

	tcase_add_test(tc, action_table_sorted_and_real);
	tcase_add_test(tc, actions_doc_matches_table);
	tcase_add_test(tc, wildcards);
	tcase_add_test(tc, statuses);
	tcase_add_test(tc, key_create_and_import);
	tcase_add_test(tc, base64);
	tcase_add_test(tc, attach_paths);
	tcase_add_test(tc, derived_tags);
	tcase_add_test(tc, xml_elements);
	tcase_add_test(tc, instance_groups);
	return kr_check_run(s);
}
