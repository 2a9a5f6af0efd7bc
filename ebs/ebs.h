/*
 * ebs.h - karri-ebs internals: one header, prototypes grouped by file.
 *
 * The control plane (SOAP operations in volume.c, export.c, snapshot.c) is
 * serialized by one mutex: it runs a few calls a minute and owns the
 * sqlite connection.  The data plane (aoe_target.c) never touches the
 * database: it serves a table of exports that the control plane fills.
 */
#ifndef KARRI_EBS_H
#define KARRI_EBS_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "id.h"

#define EBS_MACS_MAX 16		/* initiators allowed per export */
#define EBS_SHELF_MAX 4096	/* shelves handed out: 0..EBS_SHELF_MAX-1 */
#define EBS_SLOTS 16		/* slots per shelf, as a physical AoE shelf has */
#define EBS_GIB (1024ull * 1024 * 1024)

struct ebs_target;

struct ebs {
	pthread_mutex_t lock;		/* the control plane */
	struct kr_config *cfg;
	sqlite3 *db;
	char volumes_dir[1024];
	char snapshots_dir[1024];
	long max_volume_gib;
	long max_total_gib;		/* 0: the file system's free space is the limit */
	bool direct_io;
	struct ebs_target *target;	/* NULL without EBS_STORAGE_INTERFACE */
};

extern struct ebs ebs_state;

/* db.c */
int ebs_db_open(const char *path, sqlite3 **db);

/* file.c */
int ebs_file_copy(int src, int dst, uint64_t len);
int ebs_file_create(const char *path, uint64_t bytes, const char *from, uint64_t from_bytes);
int64_t ebs_file_free_bytes(const char *dir);

/* volume.c */
int ebs_volume_path(const char *volume_id, char *out, size_t outlen);
int ebs_volume_lookup(const char *volume_id, long *size_gib, char *status, size_t statuslen);

/* export.c */
int ebs_export_restore(void);		/* at start: re-export what the db says is exported */

/* snapshot.c */
int ebs_snapshot_path(const char *snapshot_id, char *out, size_t outlen);

/* aoe_target.c: the AoE data plane. */
struct ebs_target *ebs_target_start(const char *ifname, int workers);
void ebs_target_stop(struct ebs_target *t);	/* NULL-safe */
void ebs_target_mac(const struct ebs_target *t, char out[18]);
int ebs_target_mtu(struct ebs_target *t);
/* Serve path as shelf.slot to these initiators; -1 + kr_error. */
int ebs_target_add(struct ebs_target *t, const char *volume_id, const char *path,
    unsigned shelf, unsigned slot, const uint8_t (*macs)[6], unsigned nmacs, bool direct);
int ebs_target_remove(struct ebs_target *t, const char *volume_id);
/*
 * Pause the writes of an exported volume (in-flight writes finish first) and
 * resume them: a snapshot copies the file in between.  quiesce returns 1
 * when the volume is exported and now paused, 0 when it is not exported.
 */
int ebs_target_quiesce(struct ebs_target *t, const char *volume_id);
void ebs_target_resume(struct ebs_target *t, const char *volume_id);

/* soap_util.c: answers at the SOAP edge. */
struct soap;
char *ebs_status_message(struct soap *soap);	/* "Code: message" of the last kr_error */

/*
 * The body of an EBS operation: run `call` (0, or -1 with kr_error set)
 * under the EBS lock and answer the contract's way -- return, and on a
 * refusal statusMessage "Code: message".  Refusals are not SOAP faults.
 */
#define EBS_ANSWER_LOCKED(soap, req, resp, call) do { \
	int ebs_rc_; \
	KR_SOAP_ECHO(resp, req); \
	pthread_mutex_lock(&ebs_state.lock); \
	ebs_rc_ = (call); \
	pthread_mutex_unlock(&ebs_state.lock); \
	(resp)->_return = ebs_rc_ == 0 ? true_ : false_; \
	if (ebs_rc_ < 0) \
		(resp)->statusMessage = ebs_status_message(soap); \
} while (0)
bool ebs_soap_string_ok(const char *s);

#endif
