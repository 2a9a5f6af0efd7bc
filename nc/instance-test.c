/*
 * instance-test.c - the metadata file keeps what the run request said,
 * keyName and userData included (a 21 KiB line), and refuses what it could
 * not keep on one line.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/check_run.h"
#include "core/error.h"
#include "nc.h"

static struct nc_instance in, back;

START_TEST(user_fields_round_trip)
{
	char dir[] = "/tmp/karri-instance-test-XXXXXX";
	char *data = malloc(2 * 21848);
	size_t k = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* base64 as a client may wrap it: lines of 76, CRLF */
	for (int i = 0; i < 21848; i++) {
		data[k++] = "QUJDRA=="[i % 4];
		if (i % 76 == 75) {
			data[k++] = '\r';
			data[k++] = '\n';
		}
	}
	data[k] = '\0';
	memset(&in, 0, sizeof(in));
	snprintf(in.id, sizeof(in.id), "i-0000a101");
	snprintf(in.dir, sizeof(in.dir), "%s", dir);
	in.vlan = 10;
	ck_assert_int_eq(nc_instance_set_user_fields(&in, "ssh-rsa AAAAB3== me@there\n", data), 0);
	ck_assert_str_eq(in.key_name, "ssh-rsa AAAAB3== me@there");
	ck_assert_uint_eq(strlen(in.user_data), 21848);
	ck_assert_int_eq(nc_instance_save(&in), 0);
	ck_assert_int_eq(nc_instance_load(dir, &back), 0);
	ck_assert_str_eq(back.key_name, in.key_name);
	ck_assert_str_eq(back.user_data, in.user_data);
	ck_assert_int_eq(back.vlan, 10);
	ck_assert_int_eq(nc_instance_set_user_fields(&in, NULL, NULL), 0);
	ck_assert_str_eq(in.key_name, "");
	ck_assert_str_eq(in.user_data, "");
	free(data);
	{
		char path[600];

		snprintf(path, sizeof(path), "%s/meta", dir);
		unlink(path);
		rmdir(dir);
	}
}
END_TEST

START_TEST(user_fields_refused)
{
	static char big[NC_USER_DATA_MAX + 8];

	memset(&in, 0, sizeof(in));
	ck_assert_int_eq(nc_instance_set_user_fields(&in, "a\nkey=injected", NULL), -1);
	ck_assert_str_eq(kr_error_code(), "InvalidParameterValue");
	ck_assert_int_eq(nc_instance_set_user_fields(&in, NULL, "not base64!"), -1);
	memset(big, 'A', sizeof(big) - 1);
	ck_assert_int_eq(nc_instance_set_user_fields(&in, NULL, big), -1);
	big[NC_USER_DATA_MAX - 1] = '\0';
	ck_assert_int_eq(nc_instance_set_user_fields(&in, NULL, big), 0);
}
END_TEST

int
main(void)
{
	TCase *tc;
	Suite *s = kr_check_suite("instance", &tc);

	tcase_add_test(tc, user_fields_round_trip);
	tcase_add_test(tc, user_fields_refused);
	return kr_check_run(s);
}
