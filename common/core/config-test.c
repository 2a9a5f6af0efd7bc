/*
 * config-test.c - unit tests for config.c, config_value.c and the key table.
 *
 * Warnings go through the logger; each test that checks one points the
 * logger at a file of its own (Check forks per test) and reads it back.
 */
#include "core/check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"

static char dir[64];
static char logpath[300];

static const char *
data_dir(void)
{
	const char *d = getenv("KARRI_TEST_DATA");

	return d && *d ? d : "testdata";
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "%s", "/tmp/karri-config-test.XXXXXX");	/* fresh also under CK_FORK=no */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(logpath, sizeof(logpath), "%s/test.log", dir);
	ck_assert_int_eq(kr_log_open("config-test", logpath, KR_LOG_DEBUG, 0, 0), 0);
	unsetenv("KARRI_HOME");
}

static void
teardown(void)
{
	char p[400];

	kr_log_close();
	unlink(logpath);
	for (int i = 0; i < 10; i++) {
		snprintf(p, sizeof(p), "%s/%d.conf", dir, i);
		unlink(p);
	}
	rmdir(dir);
}

static char *
logged(void)
{
	static char text[1 << 16];
	FILE *f = fopen(logpath, "r");
	size_t n = 0;

	if (f) {
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
	}
	text[n] = '\0';
	return text;
}

/* Write `text` to a fresh file in the temp dir; returns its path. */
static const char *
conf(const char *text)
{
	static char path[400];
	static int seq;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d.conf", dir, seq++);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(defaults)
{
	struct kr_config *cfg = kr_config_defaults(NULL);
	char **items = (char **)1;

	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(kr_config_int(cfg, "CC_PORT"), 8774);
	ck_assert_int_eq(kr_config_int(cfg, "NC_PORT"), 8775);
	ck_assert_int_eq(kr_config_int(cfg, "CLC_PORT"), 8773);
	ck_assert_str_eq(kr_config_get(cfg, "SCHEDPOLICY"), "ROUNDROBIN");
	ck_assert_str_eq(kr_config_get(cfg, "HYPERVISOR"), "qemu");
	ck_assert_str_eq(kr_config_get(cfg, "VNET_MODE"), "SYSTEM");
	ck_assert_str_eq(kr_config_get(cfg, "INSTANCE_PATH"), "/var/lib/karri/instances");
	ck_assert_str_eq(kr_config_get(cfg, "CLC_DB"), "/var/lib/karri/clc.db");
	ck_assert(kr_config_bool(cfg, "USE_VIRTIO_ROOT"));
	ck_assert(!kr_config_bool(cfg, "KARRI_INSECURE_HTTP"));
	ck_assert_int_eq(kr_config_int(cfg, "LOG_MAX_BYTES"), 100L << 20);
	ck_assert_ptr_null(kr_config_get(cfg, "LOG_FILE"));
	ck_assert_uint_eq(kr_config_list(cfg, "NODES", &items), 0);
	ck_assert_ptr_null(items);
	ck_assert_str_eq(kr_config_source(cfg, "CC_PORT"), "default");
	kr_config_free(cfg);
	kr_config_free(NULL);
}
END_TEST

/* The table itself: unique names, help for every key, defaults that pass their own checks. */
START_TEST(key_table_is_consistent)
{
	struct kr_config *cfg = kr_config_defaults(NULL);
	const struct kr_cfg_key *k, *j;
	int n = 0;

	ck_assert_ptr_nonnull(cfg);
	for (k = kr_config_keys; k->name; k++, n++) {
		ck_assert_msg(k->help && *k->help, "%s has no help", k->name);
		ck_assert_msg(k->type != KR_CFG_ENUM || k->choices, "%s has no choices", k->name);
		for (j = k + 1; j->name; j++)
			ck_assert_msg(strcmp(k->name, j->name) != 0, "%s twice", k->name);
		if (k->def)
			ck_assert_msg(kr_config_set(cfg, k->name, kr_config_get(cfg, k->name)) == 0,
			    "default of %s refused: %s", k->name, kr_error_message());
	}
	ck_assert_int_ge(n, 60);
	kr_config_free(cfg);
}
END_TEST

START_TEST(eucalyptus_conf_carries_over)
{
	char path[400], where[450], **nodes;
	struct kr_config *cfg;
	size_t n;

	snprintf(path, sizeof(path), "%s/eucalyptus.conf", data_dir());
	cfg = kr_config_load(path, NULL);
	ck_assert_msg(cfg != NULL, "%s", kr_error_message());
	ck_assert_str_eq(kr_config_get(cfg, "EUCA_USER"), "eucalyptus");
	ck_assert_str_eq(kr_config_get(cfg, "LOGLEVEL"), "DEBUG");	/* EXTREME */
	ck_assert_str_eq(kr_config_get(cfg, "SCHEDPOLICY"), "GREEDY");	/* stored canonical */
	ck_assert_str_eq(kr_config_get(cfg, "VNET_MODE"), "MANAGED-NOVLAN");
	ck_assert_str_eq(kr_config_get(cfg, "HYPERVISOR"), "kvm");
	ck_assert(kr_config_bool(cfg, "USE_VIRTIO_DISK"));
	ck_assert(!kr_config_bool(cfg, "USE_VIRTIO_ROOT"));
	ck_assert(!kr_config_bool(cfg, "USE_VIRTIO_NET"));
	ck_assert_int_eq(kr_config_int(cfg, "NC_CACHE_SIZE"), 20480);	/* last one wins */
	snprintf(where, sizeof(where), "%s:39", path);
	ck_assert_str_eq(kr_config_source(cfg, "NC_CACHE_SIZE"), where);
	ck_assert_str_eq(kr_config_get(cfg, "CLOUD_OPTS") ? "set" : "unset", "unset");
	n = kr_config_list(cfg, "NODES", &nodes);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(nodes[0], "10.0.0.2");
	ck_assert_str_eq(nodes[1], "10.0.0.3");
	ck_assert_str_eq(nodes[2], "node3.example.com");
	kr_config_list_free(nodes, n);
	/* NC_WORKERS is not a Karri key: warned with file:line, not fatal. */
	snprintf(where, sizeof(where), "%s:26: unknown key NC_WORKERS (ignored)", path);
	ck_assert_ptr_nonnull(strstr(logged(), where));
	kr_config_free(cfg);
}
END_TEST

START_TEST(bad_value_names_key_and_line)
{
	char path[400], want[500];

	snprintf(path, sizeof(path), "%s/bad-port.conf", data_dir());
	ck_assert_ptr_null(kr_config_load(path, NULL));
	ck_assert_str_eq(kr_error_code(), "InvalidConfiguration");
	snprintf(want, sizeof(want), "%s:3: CC_PORT: 99999 is out of range 1..65535", path);
	ck_assert_str_eq(kr_error_message(), want);
}
END_TEST

static const struct {
	const char *line;
	const char *reason;
} bad_lines[] = {
	{ "CC_PORT = 8774", "CC_PORT: no spaces around '=' (shell syntax)" },
	{ "NODES=10.0.0.2 10.0.0.3", "NODES: unquoted space in the value" },
	{ "VNET_MODE=\"MANAGED", "VNET_MODE: unterminated double quote" },
	{ "EUCA_USER='karri", "EUCA_USER: unterminated single quote" },
	{ "just some words", "expected KEY=VALUE" },
	{ "EUCA_USER=$(id -un)", "EUCA_USER: command substitution $(...) is not supported" },
	{ "EUCA_USER=\"`id -un`\"", "EUCA_USER: command substitution `...` is not supported" },
	{ "EUCA_USER=a;reboot", "EUCA_USER: shell operator in the value" },
	{ "SCHEDPOLICY=FASTEST", "SCHEDPOLICY: \"FASTEST\" is not one of GREEDY|ROUNDROBIN|POWERSAVE" },
	{ "VNET_ADDRSPERNET=48", "VNET_ADDRSPERNET: 48 is not a power of two" },
	{ "NC_MAX_CONCURRENT_STAGING=65", "NC_MAX_CONCURRENT_STAGING: 65 is out of range 1..64" },
	{ "NC_CACHE_SIZE=10G", "NC_CACHE_SIZE: \"10G\" is not a whole number" },
	{ "USE_VIRTIO_NET=maybe", "USE_VIRTIO_NET: \"maybe\" is not Y or N" },
	{ "INSTANCE_PATH=var/lib/karri", "INSTANCE_PATH: \"var/lib/karri\" is not an absolute path" },
	{ "VNET_MACPREFIX=d1:0d", "VNET_MACPREFIX: \"d1:0d\" would make multicast MACs" },
	{ "VNET_MACPREFIX=d0:0", "VNET_MACPREFIX: \"d0:0\" is not two hex octets" },
	{ "VNET_SUBNET=10.0.0", "VNET_SUBNET: \"10.0.0\" is not an IPv4 address" },
	{ "NC_PHY_DEVICES=\"/dev/sdb sdc\"", "NC_PHY_DEVICES: \"sdc\" is not an absolute path" },
	{ "EUCA_USER=\"${KARRI_HOME\"", "EUCA_USER: unterminated ${" },
};

START_TEST(bad_lines_are_refused)
{
	char text[300], want[600];
	const char *path;

	snprintf(text, sizeof(text), "# comment\nNC_PORT=8775\n%s\n", bad_lines[_i].line);
	path = conf(text);
	ck_assert_ptr_null(kr_config_load(path, NULL));
	ck_assert_str_eq(kr_error_code(), "InvalidConfiguration");
	snprintf(want, sizeof(want), "%s:3: %s", path, bad_lines[_i].reason);
	ck_assert_msg(strncmp(kr_error_message(), want, strlen(want)) == 0,
	    "got \"%s\", want \"%s...\"", kr_error_message(), want);
}
END_TEST

START_TEST(unreadable_file_is_named)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/no-such.conf", dir);
	ck_assert_ptr_null(kr_config_load(path, NULL));
	ck_assert_str_eq(kr_error_code(), "InvalidConfiguration");
	ck_assert_ptr_nonnull(strstr(kr_error_message(), path));
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "No such file"));
	ck_assert_ptr_null(kr_config_load(dir, NULL));	/* a directory */
	ck_assert_ptr_nonnull(strstr(kr_error_message(), dir));
}
END_TEST

START_TEST(karri_home_expansion)
{
	struct kr_config *cfg;
	const char *path;
	char want[500];

	setenv("KARRI_HOME", "/opt/karri/", 1);
	path = conf("INSTANCE_PATH=\"$KARRI_HOME/instances\"\n"
	    "EBS_VOLUMES_DIR=${EUCALYPTUS}/volumes\n"
	    "EUCA_USER='$KARRI_HOME'\n"
	    "VNET_DHCPUSER=\"$USER\"\n"
	    "KARRI_HOME=/srv/k\n"
	    "WALRUS_STORAGE_DIR=$KARRI_HOME/walrus\n"
	    "VNET_DHCPDAEMON=\"$KARRI_HOME\"\n");
	cfg = kr_config_load(path, NULL);
	ck_assert_msg(cfg != NULL, "%s", kr_error_message());
	ck_assert_str_eq(kr_config_get(cfg, "INSTANCE_PATH"), "/opt/karri/instances");
	ck_assert_str_eq(kr_config_get(cfg, "EBS_VOLUMES_DIR"), "/opt/karri/volumes");
	ck_assert_str_eq(kr_config_get(cfg, "EUCA_USER"), "$KARRI_HOME");	/* single quotes */
	ck_assert_str_eq(kr_config_get(cfg, "VNET_DHCPUSER"), "$USER");
	snprintf(want, sizeof(want), "%s:4: VNET_DHCPUSER: $USER is not expanded", path);
	ck_assert_ptr_nonnull(strstr(logged(), want));
	/* After the file set KARRI_HOME, later lines and all defaults follow it. */
	ck_assert_str_eq(kr_config_get(cfg, "WALRUS_STORAGE_DIR"), "/srv/k/walrus");
	ck_assert_str_eq(kr_config_get(cfg, "VNET_DHCPDAEMON"), "/srv/k");
	ck_assert_str_eq(kr_config_get(cfg, "CLC_DB"), "/srv/k/var/lib/karri/clc.db");
	kr_config_free(cfg);

	cfg = kr_config_defaults(NULL);
	ck_assert_str_eq(kr_config_get(cfg, "CLC_DB"), "/opt/karri/var/lib/karri/clc.db");
	ck_assert_str_eq(kr_config_source(cfg, "KARRI_HOME"), "environment");
	kr_config_free(cfg);

	setenv("KARRI_HOME", "relative", 1);
	ck_assert_ptr_null(kr_config_defaults(NULL));
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "KARRI_HOME"));
}
END_TEST

START_TEST(root_home_joins_cleanly)
{
	struct kr_config *cfg;
	char *p;

	cfg = kr_config_load(conf("INSTANCE_PATH=$KARRI_HOME\nCLC_DB=$KARRI_HOME/db\n"), NULL);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(kr_config_get(cfg, "INSTANCE_PATH"), "/");
	ck_assert_str_eq(kr_config_get(cfg, "CLC_DB"), "/db");
	p = kr_config_home_path(cfg, "var/log/karri/karri-nc.log");
	ck_assert_str_eq(p, "/var/log/karri/karri-nc.log");
	free(p);
	ck_assert_int_eq(kr_config_set(cfg, "KARRI_HOME", "/home/k/"), 0);
	p = kr_config_home_path(cfg, "/var/log/karri/karri-nc.log");
	ck_assert_str_eq(p, "/home/k/var/log/karri/karri-nc.log");
	free(p);
	ck_assert_str_eq(kr_config_get(cfg, "EBS_VOLUMES_DIR"), "/home/k/var/lib/karri/volumes");
	kr_config_free(cfg);
}
END_TEST

START_TEST(set_validates_and_names_key)
{
	struct kr_config *cfg = kr_config_defaults(NULL);

	ck_assert_int_eq(kr_config_set(cfg, "NC_PORT", "9000"), 0);
	ck_assert_int_eq(kr_config_int(cfg, "NC_PORT"), 9000);
	ck_assert_str_eq(kr_config_source(cfg, "NC_PORT"), "set");
	ck_assert_int_eq(kr_config_set(cfg, "NC_PORT", "0"), -1);
	ck_assert_str_eq(kr_error_message(), "NC_PORT: 0 is out of range 1..65535");
	ck_assert_int_eq(kr_config_int(cfg, "NC_PORT"), 9000);	/* unchanged */
	ck_assert_int_eq(kr_config_set(cfg, "NO_SUCH_KEY", "1"), -1);
	ck_assert_ptr_nonnull(strstr(kr_error_message(), "NO_SUCH_KEY"));
	ck_assert_int_eq(kr_config_set(cfg, "EUCA_USER", "bad\nname"), -1);
	ck_assert_int_eq(kr_config_set(cfg, "LOGLEVEL", "trace"), 0);
	ck_assert_str_eq(kr_config_get(cfg, "LOGLEVEL"), "DEBUG");
	ck_assert_int_eq(kr_config_set(cfg, "USE_VIRTIO_NET", "No"), 0);
	ck_assert(!kr_config_bool(cfg, "USE_VIRTIO_NET"));
	ck_assert_int_eq(kr_config_set(cfg, "NC_CACHE_SIZE", ""), 0);	/* empty = default */
	ck_assert_int_eq(kr_config_int(cfg, "NC_CACHE_SIZE"), 10240);
	kr_config_free(cfg);
}
END_TEST

START_TEST(programming_errors_are_logged)
{
	struct kr_config *cfg = kr_config_defaults(NULL);

	ck_assert_ptr_null(kr_config_get(cfg, "CC_PROT"));
	ck_assert_ptr_nonnull(strstr(logged(), "CC_PROT is not a known key"));
	ck_assert_int_eq(kr_config_int(cfg, "HYPERVISOR"), 0);
	ck_assert_ptr_nonnull(strstr(logged(), "HYPERVISOR is not a number key"));
	kr_config_free(cfg);
}
END_TEST

START_TEST(crlf_and_odd_spacing)
{
	char path[400], **items;
	struct kr_config *cfg;
	size_t n;

	snprintf(path, sizeof(path), "%s/crlf.conf", data_dir());
	cfg = kr_config_load(path, NULL);
	ck_assert_msg(cfg != NULL, "%s", kr_error_message());
	n = kr_config_list(cfg, "NODES", &items);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(items[1], "b");
	kr_config_list_free(items, n);
	kr_config_free(cfg);

	cfg = kr_config_load(conf("EUCA_USER=kar\"ri\"'x'\\ y\nVNET_DNS=\"\"\nNC_CACHE_SIZE=5 # c\n"
	    "LOG_FILE=\"$\"\n"), NULL);
	ck_assert_msg(cfg != NULL, "%s", kr_error_message());
	ck_assert_str_eq(kr_config_get(cfg, "EUCA_USER"), "karrix y");	/* shell concatenation */
	ck_assert_ptr_null(kr_config_get(cfg, "VNET_DNS"));
	ck_assert_int_eq(kr_config_int(cfg, "NC_CACHE_SIZE"), 5);
	ck_assert_str_eq(kr_config_get(cfg, "LOG_FILE"), "$");
	kr_config_free(cfg);
}
END_TEST

/* etc/karri/karri.conf loads, and documents every key of the table. */
START_TEST(shipped_config_documents_every_key)
{
	char path[400], pat[128], *text;
	const struct kr_cfg_key *k;
	struct kr_config *cfg;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/../../etc/karri/karri.conf", data_dir());
	cfg = kr_config_load(path, NULL);
	ck_assert_msg(cfg != NULL, "%s", kr_error_message());
	kr_config_free(cfg);
	ck_assert_ptr_null(strstr(logged(), "unknown key"));
	f = fopen(path, "r");
	text = calloc(1, 1 << 16);
	n = fread(text, 1, (1 << 16) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (k = kr_config_keys; k->name; k++) {
		snprintf(pat, sizeof(pat), "\n#%s=\"%s\"", k->name, k->def ? k->def : "");
		ck_assert_msg(strstr(text, pat) != NULL, "karri.conf lacks %s", pat + 1);
	}
	/* Uncommented, the documented lines are valid and change nothing. */
	{
		struct kr_config *def = kr_config_defaults(NULL);
		char *p, *line, *save, *uncommented = calloc(1, 1 << 16);

		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (line[0] == '#' && line[1] >= 'A' && line[1] <= 'Z' && strchr(line, '=')) {
				strcat(uncommented, line + 1);
				strcat(uncommented, "\n");
			}
		}
		cfg = kr_config_load(conf(uncommented), NULL);
		ck_assert_msg(cfg != NULL, "%s", kr_error_message());
		for (k = kr_config_keys; k->name; k++) {
			p = (char *)kr_config_get(cfg, k->name);
			ck_assert_str_eq(p ? p : "(unset)", kr_config_get(def, k->name) ?
			    kr_config_get(def, k->name) : "(unset)");
		}
		kr_config_free(cfg);
		kr_config_free(def);
		free(uncommented);
	}
	free(text);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("config", &tc);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, key_table_is_consistent);
	tcase_add_test(tc, eucalyptus_conf_carries_over);
	tcase_add_test(tc, bad_value_names_key_and_line);
	tcase_add_loop_test(tc, bad_lines_are_refused, 0, sizeof(bad_lines) / sizeof(bad_lines[0]));
	tcase_add_test(tc, unreadable_file_is_named);
	tcase_add_test(tc, karri_home_expansion);
	tcase_add_test(tc, root_home_joins_cleanly);
	tcase_add_test(tc, set_validates_and_names_key);
	tcase_add_test(tc, programming_errors_are_logged);
	tcase_add_test(tc, crlf_and_odd_spacing);
	tcase_add_test(tc, shipped_config_documents_every_key);
	return kr_check_run(s);
}
