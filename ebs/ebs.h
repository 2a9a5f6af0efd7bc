/*
 * ebs.h - karri-ebs internals: one header, prototypes grouped by file.
 *
 * The control plane (SOAP operations in ops_volume.c, ops_export.c and
 * ops_snapshot.c, calling volume.c, export.c, snapshot.c through ops.h) is
 * serialized by one mutex: it runs a few calls a minute and owns the
 * sqlite connection.  The data plane (aoe_target.c) never touches the
 * database: it serves a table of exports that the control plane fills.
 *
 * The daemon's state is one struct ebs, made by main.c and passed down:
 * the operations find it in soap->user (ebs_from_soap), the transfer
 * workers in their pool (jobs.c).  No file keeps it in a global.
 */
#ifndef KARRI_EBS_H
#define KARRI_EBS_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "core/id.h"
#include "core/sizes.h"

#define EBS_MACS_MAX 16		/* initiators allowed per export */
#define EBS_SHELF_MAX 4096	/* shelves handed out: 0..EBS_SHELF_MAX-1 */
#define EBS_SLOTS 16		/* slots per shelf, as a physical AoE shelf has */
#define EBS_GIB (1024ull * 1024 * 1024)
#define EBS_URL_MAX 4096	/* a presigned Walrus URL */
/* Bytes per snapshot object: the contract's EBS_SNAPSHOT_SEGMENT_GIB (karriH.h). */
#define EBS_SEGMENT_BYTES ((uint64_t)EBS_SNAPSHOT_SEGMENT_GIB * EBS_GIB)
#define EBS_SEGMENTS_MAX 1024	/* snapshot objects per snapshot (4 TiB) */

struct ebs_target;
struct ebs_jobs;

/* The daemon: one per process (main.c), shared by the SOAP workers and the jobs. */
struct ebs {
	pthread_mutex_t lock;		/* the control plane and its db */
	struct kr_config *cfg;
	sqlite3 *db;
	char volumes_dir[KR_DIR_MAX];
	char snapshots_dir[KR_DIR_MAX];
	long max_volume_gib;
	long max_total_gib;		/* 0: the file system's free space is the limit */
	bool direct_io;
	struct ebs_target *target;	/* NULL without EBS_STORAGE_INTERFACE */
	struct ebs_jobs *jobs;		/* the transfer workers (jobs.c) */
};

/* db.c: the database and where things live, the bottom file */
int ebs_db_open(const char *path, sqlite3 **db);
/* One statement without rows, ?1 and ?2 (if it has them) bound to p1 and p2
 * (NULL: SQL NULL): 0, or -1 + kr_error. */
int ebs_db_exec(sqlite3 *db, const char *sql, const char *p1, const char *p2);
int ebs_volume_path(const struct ebs *e, const char *volume_id, char *out, size_t outlen);
int ebs_volume_lookup(sqlite3 *db, const char *volume_id, long *size_gib, char *status,
    size_t statuslen);
int ebs_snapshot_path(const struct ebs *e, const char *snapshot_id, char *out, size_t outlen);

/* file.c */
bool ebs_all_zero(const char *p, size_t n);
int ebs_file_copy_sparse(int src, int dst, uint64_t len);	/* holes for zeros */
int ebs_file_create(const char *path, uint64_t bytes, const char *from, uint64_t from_bytes);
int64_t ebs_file_free_bytes(const char *dir);


/* transfer.c: snapshot objects to and from Walrus (presigned URLs, libcurl). */
struct ebs_xfer_progress {
	void (*fn)(struct ebs_xfer_progress *p, uint64_t done);	/* may be NULL */
	atomic_bool *cancel;		/* set by another thread: stop soon */
	/* Both set: a body of body_len bytes stands for span bytes of volume (a
	 * sparse object), and done is reported in those. */
	uint64_t body_len, span;
};
/* The next bytes of an upload's body: 1..want, or -1 + kr_error. */
typedef ssize_t (*ebs_xfer_fill_fn)(void *arg, void *buf, size_t want);
/* The next bytes of a download's body: 0, or -1 + kr_error (the request stops). */
typedef int (*ebs_xfer_sink_fn)(void *arg, const void *data, size_t len);
int ebs_xfer_init(void);
bool ebs_xfer_url_ok(const char *url);		/* http(s), printable, bounded */
/* PUT a body of len bytes from fill; 0 or -1 + kr_error (the reason). */
int ebs_xfer_put(const char *url, uint64_t len, ebs_xfer_fill_fn fill, void *arg,
    struct ebs_xfer_progress *p);
/* GET, a 2xx answer's body to sink; 0 or -1 + kr_error. */
int ebs_xfer_get(const char *url, ebs_xfer_sink_fn sink, void *arg, struct ebs_xfer_progress *p);
/* A request without data (PUT bucket, DELETE); an owned bucket or a gone object is fine. */
int ebs_xfer_simple(const char *method, const char *url, struct ebs_xfer_progress *p);

/* jobs.c: the background transfers; the database is their queue. */
int ebs_jobs_start(struct ebs *e);	/* e->jobs; 0 or -1 + kr_error */
void ebs_jobs_stop(struct ebs *e);	/* joins and frees e->jobs; NULL-safe */
void ebs_jobs_kick(struct ebs *e);	/* new work in the database; caller holds the lock */
/*
 * Stop the job working on id, if any, and wait until it let go; caller
 * holds the lock and has made the row unclaimable first (or it is claimed
 * again at once).
 */
void ebs_jobs_cancel(struct ebs *e, const char *id);
int ebs_urls_check(int n, char **urls, uint64_t bytes);	/* the contract's URL list */
char *ebs_urls_join(int n, char **urls);		/* malloc'd, newline-separated */

/* export.c */
int ebs_export_restore(struct ebs *e);	/* at start: re-export what the db says is exported */


/* aoe_target.c: the AoE data plane. */
struct ebs_target *ebs_target_start(const char *ifname, int workers);
/* The same in two halves: the socket (needs CAP_NET_RAW), then the threads. */
struct ebs_target *ebs_target_open(const char *ifname);
int ebs_target_run(struct ebs_target *t, int workers);	/* -1: ebs_target_stop(t) */
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

/* soap_util.c: the SOAP edge (answers: common/soap/soap_error.h). */
struct soap;

/* The daemon an operation runs in: soap->user, set by main.c. */
struct ebs *ebs_from_soap(const struct soap *soap);

/*
 * The body of an EBS operation: run `call` (0, or -1 with kr_error set)
 * under e's lock and answer the contract's way -- return, and on a
 * refusal statusMessage "Code: message".  Refusals are not SOAP faults.
 */
#define EBS_ANSWER_LOCKED(e, soap, req, resp, call) do { \
	int ebs_rc_; \
	KR_SOAP_ECHO(resp, req); \
	pthread_mutex_lock(&(e)->lock); \
	ebs_rc_ = (call); \
	pthread_mutex_unlock(&(e)->lock); \
	(resp)->_return = true_; \
	if (ebs_rc_ < 0) \
		kr_soap_error_reply(soap, &(resp)->_return, &(resp)->statusMessage); \
} while (0)
bool ebs_soap_string_ok(const char *s);

#endif
