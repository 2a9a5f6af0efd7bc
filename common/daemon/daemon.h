/*
 * daemon.h - what every Karri daemon does before and after its real work.
 *
 * kr_daemon_start() parses the common command line, finds and loads
 * karri.conf (refusing bad values with the key and file:line named), opens
 * the daemon's log, writes its pid file and installs the signal handlers.
 * A daemon then serves until kr_daemon_stopping() turns true (SIGTERM or
 * SIGINT) and calls kr_daemon_finish().
 *
 * Paths: KARRI_HOME (environment, default "/") is the root under which the
 * config (etc/karri/karri.conf), state (var/lib/karri), logs (var/log/karri)
 * and pid files (var/run/karri) live, as EUCALYPTUS was for Eucalyptus.
 */
#ifndef KARRI_DAEMON_H
#define KARRI_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/config.h"

/*
 * What a daemon that runs as EUCA_USER (user_paths below) writes or reads
 * that root may have made: `key` is a config key naming a path, or a path
 * relative to KARRI_HOME ("var/lib/karri/keys/clc-pk.pem").
 */
enum kr_daemon_own {
	KR_OWN_FILE,	/* a file it reads or writes: handed over if it exists */
	KR_OWN_DB,	/* a sqlite file: with its -wal, -shm and its directory */
	KR_OWN_DIR,	/* a directory it creates files in: made, then handed over */
};

struct kr_daemon_path {
	const char *key;
	enum kr_daemon_own kind;
};

struct kr_daemon {
	/* Set by the daemon before kr_daemon_start(). */
	const char *name;		/* "karri-nc" */
	const char *port_key;		/* config key of its port: "NC_PORT" */
	const char *summary;		/* one line for --help */
	bool internal;			/* serves daemon-to-daemon SOAP (CC, NC, EBS) */
	/*
	 * Non-NULL (ended by a { NULL } entry): the daemon never runs as root.
	 * Started as root, kr_daemon_start() creates var/log/karri,
	 * var/run/karri and var/lib/karri under KARRI_HOME, hands them and
	 * these paths (only what root owns, and only under KARRI_HOME, or under
	 * those three directories when KARRI_HOME is /) to EUCA_USER, and
	 * becomes that user for good (common/daemon/privdrop.h) before it opens its
	 * log; it refuses to go on as root.  Started as that user (systemd
	 * User=karri), it just checks it is not root.
	 */
	const struct kr_daemon_path *user_paths;

	/* Filled by kr_daemon_start(). */
	struct kr_config *cfg;
	char home[512];			/* KARRI_HOME without a trailing slash ("" for /) */
	char config_path[1024];
	char pid_path[1024];
	const char *bind_address;
	int port;
	time_t started;
	long pid;			/* the daemon's, as its pid file says (a privsep child's parent) */
};

/*
 * Returns 0 to go on serving; exits the process itself for --help,
 * --version and -n (check the config and exit 0, or exit 1 naming the bad key).
 * On a fatal start-up problem it prints the reason to stderr and the log and
 * exits 1, so callers need no error path.
 */
int kr_daemon_start(struct kr_daemon *d, int argc, char **argv);

/*
 * What kr_daemon_start() does for a daemon with user_paths, for one that
 * must open something as root first (karri-ebs: its AF_PACKET socket):
 * call it after that and before starting any thread (the bounding set and
 * no_new_privs are per thread).  Exits the process when it cannot.
 */
void kr_daemon_become_user(struct kr_daemon *d, const struct kr_daemon_path *paths);

/* Print why the daemon cannot run to stderr and the log, and exit 1. */
_Noreturn void kr_daemon_fatal(const struct kr_daemon *d, const char *what);

/* The daemon of this process (set by kr_daemon_start), for code such as
 * DescribeService that answers about it. */
const struct kr_daemon *kr_daemon_current(void);

/* True once SIGTERM or SIGINT arrived. */
bool kr_daemon_stopping(void);

/* Ask the daemon to stop, as a signal would (for tests and fatal workers). */
void kr_daemon_request_stop(void);

/* Join KARRI_HOME and a relative path ("var/lib/karri/clc.db") into out. */
int kr_daemon_path(const struct kr_daemon *d, const char *rel, char *out, size_t outlen);

/* Create a directory and its parents (mode 0755); 0 when it exists. */
int kr_mkdir_p(const char *path);

/* Remove the pid file, log the uptime, close the log, free the config. */
void kr_daemon_finish(struct kr_daemon *d);

#endif
