/*
 * instance.c - the NC's instances: a fixed table in memory, and one small
 * metadata file per instance directory (INSTANCE_PATH/instances/<id>/meta).
 *
 * libvirt is the truth about what runs; the metadata file holds what
 * libvirt does not know (the request, the attachment choice, the devices
 * the NC made) so that a restarted NC can adopt running domains and clean
 * up after half-made ones.  The file is "key=value" lines written to a
 * temporary file and renamed, so a crash leaves the old or the new one.
 * Values never hold newlines (requests are validated before they get here).
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "nc.h"

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nc_instance *table[NC_MAX_INSTANCES];

static const char *const state_names[] = { "Pending", "Pending", "Extant", "Teardown", "Teardown" };
static const char *const state_details[] = { "STAGING", "BOOTING", "RUNNING", "SHUTDOWN", "TEARDOWN" };

const char *nc_state_name(enum nc_state s) { return state_names[s]; }
const char *nc_state_detail(enum nc_state s) { return state_details[s]; }

void nc_table_lock(void) { pthread_mutex_lock(&table_lock); }
void nc_table_unlock(void) { pthread_mutex_unlock(&table_lock); }

struct nc_instance *
nc_table_find(const char *id)
{
	for (int i = 0; i < NC_MAX_INSTANCES; i++)
		if (table[i] && strcmp(table[i]->id, id) == 0)
			return table[i];
	return NULL;
}

struct nc_instance *
nc_table_add(const struct nc_instance *in)
{
	if (nc_table_find(in->id)) {
		kr_error("InvalidInstanceID.Duplicate", "instance %s exists on this node", in->id);
		return NULL;
	}
	for (int i = 0; i < NC_MAX_INSTANCES; i++) {
		if (!table[i]) {
			table[i] = malloc(sizeof(*in));
			if (!table[i]) {
				kr_error("InternalError", "out of memory");
				return NULL;
			}
			*table[i] = *in;
			return table[i];
		}
	}
	kr_error("InsufficientInstanceCapacity", "this node holds %d instances already",
	    NC_MAX_INSTANCES);
	return NULL;
}

void
nc_table_remove(struct nc_instance *in)
{
	for (int i = 0; i < NC_MAX_INSTANCES; i++) {
		if (table[i] == in) {
			free(in);
			table[i] = NULL;
			return;
		}
	}
}

int nc_table_count(void) { return NC_MAX_INSTANCES; }
struct nc_instance *nc_table_at(int i) { return table[i]; }

void
nc_instance_set_state(struct nc_instance *in, enum nc_state st, const char *reason)
{
	if (reason) {
		/* one line: libvirt's messages may hold newlines, the metadata
		 * file may not */
		snprintf(in->reason, sizeof(in->reason), "%s", reason);
		for (char *p = in->reason; *p; p++)
			if ((unsigned char)*p < ' ')
				*p = ' ';
	}
	if (in->state != st || reason)
		kr_log_info("%s: %s -> %s%s%s", in->id, state_details[in->state],
		    state_details[st], reason ? ": " : "", reason ? reason : "");
	in->state = st;
	if (in->dir[0])
		nc_instance_save(in);
}

/*
 * keyName and userData, kept so that ncDescribeInstances gives back what the
 * run request said (a CC that lost its state rebuilds it from its nodes).
 * They go into the metadata file, so: the key one line of printable ASCII
 * (a trailing newline dropped), the user data base64 with any line breaks
 * taken out.
 */
int
nc_instance_set_user_fields(struct nc_instance *in, const char *key, const char *data)
{
	size_t n = key ? strlen(key) : 0, k = 0;

	while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r' || key[n - 1] == ' '))
		n--;
	if (n >= sizeof(in->key_name)) {
		kr_error("InvalidParameterValue", "keyName is longer than %zu bytes",
		    sizeof(in->key_name) - 1);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (key[i] < ' ' || key[i] > '~') {
			kr_error("InvalidParameterValue", "keyName holds a control character");
			return -1;
		}
	memcpy(in->key_name, key ? key : "", n);
	in->key_name[n] = '\0';
	for (const char *p = data ? data : ""; *p; p++) {
		if (strchr(" \t\r\n", *p))
			continue;
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", *p)) {
			kr_error("InvalidParameterValue", "userData is not base64");
			return -1;
		}
		if (k + 1 >= sizeof(in->user_data)) {
			kr_error("InvalidParameterValue", "userData is longer than %zu bytes of base64",
			    sizeof(in->user_data) - 1);
			return -1;
		}
		in->user_data[k++] = *p;
	}
	in->user_data[k] = '\0';
	return 0;
}

/* --- the metadata file ---------------------------------------------------- */

enum ftype { F_STR, F_INT, F_LONG };

struct field {
	const char *key;
	enum ftype type;
	size_t off;
	size_t size;
};

#define S(k, m) { k, F_STR, offsetof(struct nc_instance, m), sizeof(((struct nc_instance *)0)->m) }
#define N(k, m) { k, F_INT, offsetof(struct nc_instance, m), 0 }

static const struct field fields[] = {
	S("id", id), S("reservation", reservation), S("user", user),
	S("image_id", image_id), S("kernel_id", kernel_id), S("ramdisk_id", ramdisk_id),
	S("image_url", image_url), S("kernel_url", kernel_url), S("ramdisk_url", ramdisk_url),
	S("image_digest", image_digest), S("kernel_digest", kernel_digest),
	S("ramdisk_digest", ramdisk_digest), S("kernel_params", kernel_params),
	S("launch_index", launch_index), S("platform", platform),
	N("image_has_virtio", image_has_virtio),
	S("key_name", key_name), S("user_data", user_data),
	S("type_name", type_name), N("memory_mib", memory_mib), N("cores", cores),
	N("disk_gib", disk_gib), S("io_class", io_class),
	S("mac", mac), S("ip", ip), S("public_ip", public_ip), S("bridge", bridge),
	N("vlan", vlan), N("network_index", network_index),
	N("state", state), S("reason", reason), N("failed", failed),
	S("disk_attachment", disk_attachment), S("net_attachment", net_attachment),
	N("attach_decided", attach_decided),
	S("root_dev", root_dev), S("tap", tap),
	{ "launch_time", F_LONG, offsetof(struct nc_instance, launch_time), 0 },
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

int
nc_instance_save(const struct nc_instance *in)
{
	char path[NC_PATH_MAX], tmp[NC_PATH_MAX];
	FILE *f;

	if (nc_path(path, sizeof(path), "%s/meta", in->dir) < 0 ||
	    nc_path(tmp, sizeof(tmp), "%s/meta.tmp", in->dir) < 0)
		return -1;
	f = fopen(tmp, "we");
	if (!f) {
		kr_log_warn("%s: cannot write %s", in->id, tmp);
		return -1;
	}
	for (size_t i = 0; i < NFIELDS; i++) {
		const char *p = (const char *)in + fields[i].off;

		switch (fields[i].type) {
		case F_STR:
			fprintf(f, "%s=%s\n", fields[i].key, p);
			break;
		case F_INT:
			fprintf(f, "%s=%d\n", fields[i].key, *(const int *)(const void *)p);
			break;
		case F_LONG:
			fprintf(f, "%s=%ld\n", fields[i].key, (long)*(const time_t *)(const void *)p);
			break;
		}
	}
	for (int v = 0; v < in->nvolumes; v++) {
		const struct nc_volume *vol = &in->volumes[v];

		fprintf(f, "volume=%s %s %s %s %s\n", vol->id, vol->target, vol->attachment,
		    vol->local[0] ? vol->local : "-", vol->remote);
		/* a line of its own: metadata of older NCs still loads */
		if (vol->helper > 0)
			fprintf(f, "volume_helper=%s %ld %llu\n", vol->id, (long)vol->helper,
			    vol->helper_start);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		kr_log_warn("%s: cannot write %s", in->id, tmp);
		fclose(f);
		unlink(tmp);
		return -1;
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		kr_log_warn("%s: cannot rename %s", in->id, tmp);
		return -1;
	}
	return 0;
}

static void
load_volume(struct nc_instance *in, const char *v)
{
	struct nc_volume *vol;
	char local[16];
	int n = 0;

	if (in->nvolumes >= NC_MAX_VOLUMES)
		return;
	vol = &in->volumes[in->nvolumes];
	memset(vol, 0, sizeof(*vol));
	if (sscanf(v, "%39s %15s %15s %15s %n", vol->id, vol->target, vol->attachment, local,
	    &n) != 4 || n == 0)
		return;
	snprintf(vol->local, sizeof(vol->local), "%s", strcmp(local, "-") ? local : "");
	snprintf(vol->remote, sizeof(vol->remote), "%s", v + n);
	in->nvolumes++;
}

/* "VOL PID START": the karri-aoe serving a volume loaded before. */
static void
load_helper(struct nc_instance *in, const char *v)
{
	char id[NC_ID_MAX];
	long pid;
	unsigned long long start;

	if (sscanf(v, "%39s %ld %llu", id, &pid, &start) != 3 || pid <= 0 || pid > INT_MAX)
		return;
	for (int i = 0; i < in->nvolumes; i++) {
		if (strcmp(in->volumes[i].id, id) == 0) {
			in->volumes[i].helper = (pid_t)pid;
			in->volumes[i].helper_start = start;
		}
	}
}

int
nc_instance_load(const char *dir, struct nc_instance *out)
{
	char path[NC_PATH_MAX], *line = NULL;
	size_t cap = 0;
	FILE *f;

	memset(out, 0, sizeof(*out));
	if (nc_path(path, sizeof(path), "%s/meta", dir) < 0)
		return -1;
	if (!(f = fopen(path, "re"))) {
		kr_error_errno("InternalError", "cannot read %s", path);
		return -1;
	}
	/* whole lines, however long (user_data is up to 22 KiB) */
	while (getline(&line, &cap, f) > 0) {
		char *eq = strchr(line, '=');

		line[strcspn(line, "\n")] = '\0';
		if (!eq)
			continue;
		*eq = '\0';
		if (strcmp(line, "volume") == 0) {
			load_volume(out, eq + 1);
			continue;
		}
		if (strcmp(line, "volume_helper") == 0) {
			load_helper(out, eq + 1);
			continue;
		}
		for (size_t i = 0; i < NFIELDS; i++) {
			char *p = (char *)out + fields[i].off;

			if (strcmp(fields[i].key, line) != 0)
				continue;
			if (fields[i].type == F_STR)
				snprintf(p, fields[i].size, "%s", eq + 1);
			else if (fields[i].type == F_INT)
				*(int *)(void *)p = atoi(eq + 1);
			else
				*(time_t *)(void *)p = (time_t)atol(eq + 1);
		}
	}
	free(line);
	fclose(f);
	snprintf(out->dir, sizeof(out->dir), "%s", dir);
	if (!out->id[0]) {
		kr_error("InternalError", "%s has no instance id", path);
		return -1;
	}
	if (out->state > NC_ST_TEARDOWN)
		out->state = NC_ST_TEARDOWN;
	return 0;
}
