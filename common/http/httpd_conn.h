/*
 * httpd_conn.h - the inside of httpd: a connection and its request, shared
 * by httpd.c (connections and their state machine), httpd_read.c (the
 * request's header section and body framing) and httpd_write.c (answers).
 * Not for users of the server: they see httpd.h.
 */
#ifndef KARRI_HTTPD_CONN_H
#define KARRI_HTTPD_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "core/buf.h"
#include "http/httpd.h"

/*
 * File answers go out by sendfile(2), one queued segment per call.  A few
 * segments stay queued so the output never runs dry between calls: an
 * empty output takes the write event out of epoll and puts it back, two
 * epoll_ctl calls per segment.  (Asking the kernel to read ahead with
 * POSIX_FADV_WILLNEED was tried for files not in the page cache and did
 * not beat its own readahead; bench/walrus measures that case.)
 */
#define FILE_CHUNK (1u << 20)		/* bytes per queued segment */
#define FILE_QUEUE (4u << 20)		/* bytes of file kept queued */
#define FILE_LOW_WATER (FILE_QUEUE - FILE_CHUNK)	/* top up below this */
#define CHUNK_LINE_MAX 1024

enum conn_state { ST_HEADERS, ST_HANDLER, ST_BODY, ST_WAIT, ST_RESPONDING, ST_LINGER };
enum chunk_state { CH_SIZE, CH_DATA, CH_CRLF, CH_TRAILER, CH_DONE };

struct kr_httpd {
	struct event_base *base;
	struct evconnlistener *listener;
	struct kr_httpd_opts opts;
	kr_httpd_handler_fn handler;
	void *arg;
	struct kr_httpd_conn *conns;	/* every open connection */
	size_t n_conns;
	bool paused;			/* listener off: at max_conns */
};

struct kr_httpd_conn {
	struct kr_httpd *srv;
	struct kr_httpd_conn *prev, *next;
	struct bufferevent *bev;
	enum conn_state state;
	struct kr_httpd_req req;
	char peer[64];			/* "address:port", for every request's log lines */
	char *head;			/* the header section, parsed in place */
	struct kr_httpd_header *headers;
	bool keep_alive;

	/* body */
	int64_t body_left;		/* Content-Length left, or of the current chunk */
	enum chunk_state chunk;
	bool body_done;
	kr_httpd_body_fn on_data;
	kr_httpd_end_fn on_end;
	void *body_ctx;
	struct kr_buf all;		/* kr_httpd_read_body_all */
	kr_httpd_all_fn on_all;
	size_t lingered;

	/* answer */
	struct kr_buf out_headers;
	bool responded;
	int file_fd;
	off_t file_off, file_left;
	off_t file_ready;		/* bytes of the file that exist (a growing file) */
	bool file_stalled;		/* everything ready was queued: wait for more */
	kr_httpd_done_fn on_done;
	void *done_ctx;
};

/* httpd.c */
void httpd_fail_request(struct kr_httpd_conn *c, int status, const char *why);

/* httpd_read.c */
int httpd_read_headers(struct kr_httpd_conn *c);
int httpd_read_body(struct kr_httpd_conn *c);

/* httpd_write.c */
int httpd_queue_file(struct kr_httpd_conn *c);

#endif
