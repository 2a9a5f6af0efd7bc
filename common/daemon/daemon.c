/*
 * daemon.c - common start-up and shut-down of the Karri daemons.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autoconf.h"
#include "core/config.h"
#include "daemon/daemon.h"
#include "core/error.h"
#include "core/log.h"
#include "daemon/privdrop.h"
#include "tls/tls.h"

static volatile sig_atomic_t stop_requested;
static const struct kr_daemon *current_daemon;

const struct kr_daemon *
kr_daemon_current(void)
{
	return current_daemon;
}

static void
on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

bool
kr_daemon_stopping(void)
{
	return stop_requested != 0;
}

void
kr_daemon_request_stop(void)
{
	stop_requested = 1;
}

int
kr_mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp)) {
		kr_error("InternalError", "bad directory path '%s'", path);
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
			kr_error_errno("InternalError", "cannot create directory %s", tmp);
			return -1;
		}
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
		kr_error_errno("InternalError", "cannot create directory %s", tmp);
		return -1;
	}
	return 0;
}

int
kr_daemon_path(const struct kr_daemon *d, const char *rel, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s", d->home, rel);

	if (n < 0 || (size_t)n >= outlen) {
		kr_error("InternalError", "path %s/%s is too long", d->home, rel);
		return -1;
	}
	return 0;
}

/*
 * Print to stderr and, once it is open, the log; then exit 1.  _exit, not
 * exit: a daemon may have threads running by now, and atexit handlers
 * (OpenSSL's, sqlite's) tearing down under them crash the process.
 */
_Noreturn void
kr_daemon_fatal(const struct kr_daemon *d, const char *what)
{
	fprintf(stderr, "%s: %s\n", d->name, what);
	/* Once: the line above, and the log only when it is a file. */
	if (!kr_log_is_stderr())
		kr_log_errorx("%s", what);
	if (d->pid_path[0])
		unlink(d->pid_path);
	fflush(NULL);
	_exit(1);
}

static void
usage(const struct kr_daemon *d, FILE *out)
{
	fprintf(out,
	    "usage: %s [-n] [-f CONFIG] [-p PORT] [-l LEVEL] [-L LOGFILE]\n"
	    "%s\n\n"
	    "  -f, --config FILE    configuration (default $KARRI_HOME/etc/karri/karri.conf)\n"
	    "  -n, --check          check the configuration and exit\n"
	    "  -p, --port PORT      listen on PORT instead of %s\n"
	    "  -l, --log-level L    DEBUG, INFO, WARN or ERROR (overrides LOGLEVEL)\n"
	    "  -L, --log-file FILE  log there (\"-\": standard error; overrides LOG_FILE)\n"
	    "  -V, --version        print the version and exit\n"
	    "  -h, --help           this text\n",
	    d->name, d->summary, d->port_key);
}

/* Record in the config what the command line overrides, validated like the file. */
static void
apply_override(struct kr_daemon *d, const char *key, const char *value)
{
	char what[1200];

	if (kr_config_set(d->cfg, key, value) == 0)
		return;
	snprintf(what, sizeof(what), "command line: %s", kr_error_message());
	kr_daemon_fatal(d, what);
}

static void
open_log(struct kr_daemon *d, const char *log_file_override)
{
	enum kr_log_level level = KR_LOG_INFO;
	const char *file = log_file_override ? log_file_override : kr_config_get(d->cfg, "LOG_FILE");
	char path[PATH_MAX], dir[PATH_MAX], what[1200];

	if (file == NULL || *file == '\0') {
		char rel[128];

		snprintf(rel, sizeof(rel), "var/log/karri/%s.log", d->name);
		if (kr_daemon_path(d, rel, path, sizeof(path)) < 0)
			kr_daemon_fatal(d, kr_error_message());
		file = path;
	}
	if (strcmp(file, "-") != 0) {
		char *slash;

		snprintf(dir, sizeof(dir), "%s", file);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (kr_mkdir_p(dir) < 0)
				kr_daemon_fatal(d, kr_error_message());
		}
	}
	kr_log_level_parse(kr_config_get(d->cfg, "LOGLEVEL"), &level);
	if (kr_log_open(d->name, file, level, kr_config_int(d->cfg, "LOG_MAX_BYTES"),
	    (int)kr_config_int(d->cfg, "LOG_KEEP")) < 0) {
		snprintf(what, sizeof(what), "cannot open the log: %s", kr_error_message());
		kr_daemon_fatal(d, what);
	}
}

static void
write_pid_file(struct kr_daemon *d)
{
	char rel[128], dir[PATH_MAX], buf[32];
	int fd, n;

	d->pid = (long)getpid();
	snprintf(rel, sizeof(rel), "var/run/karri/%s.pid", d->name);
	if (kr_daemon_path(d, "var/run/karri", dir, sizeof(dir)) < 0 ||
	    kr_daemon_path(d, rel, d->pid_path, sizeof(d->pid_path)) < 0 ||
	    kr_mkdir_p(dir) < 0)
		kr_daemon_fatal(d, kr_error_message());
	fd = open(d->pid_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		kr_log_warn("cannot write pid file %s", d->pid_path);
		d->pid_path[0] = '\0';
		return;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", d->pid);
	if (write(fd, buf, (size_t)n) != n)
		kr_log_warn("cannot write pid file %s", d->pid_path);
	close(fd);
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: blocking accept()/poll() must return so the loop sees the flag. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/*
 * Daemon-to-daemon SOAP is mutual TLS with the cloud CA's certificates
 * (tls.h); plain HTTP only when the admin says so with the development
 * flag.  A daemon that serves SOAP refuses to start without its files.
 */
static void
check_transport(const struct kr_daemon *d)
{
	const char *role = kr_tls_role(d->name);
	const char *reg = role && strcmp(role, "node") == 0 ? "nodes" : role;
	struct kr_tls_files f;
	char what[4800];

	if (!d->internal || role == NULL || kr_config_bool(d->cfg, "KARRI_INSECURE_HTTP"))
		return;
	kr_tls_files(d->home, role, &f);
	if (kr_tls_files_check(&f) == 0)
		return;
	snprintf(what, sizeof(what),
	    "%s. Internal SOAP traffic is mutual TLS with certificates from the cloud CA: "
	    "`karri register-%s` on the front end issues them (it installs them itself when "
	    "this host is the front end; otherwise copy %s-<name>-cert.pem as %s-cert.pem, "
	    "its -pk.pem as %s-pk.pem, and ca-cert.pem from the front end's %s/ to this "
	    "host's). For development set KARRI_INSECURE_HTTP=\"Y\" in %s to run plain HTTP",
	    kr_error_message(), reg, role, role, role, KR_TLS_KEYS, d->config_path);
	kr_daemon_fatal(d, what);
}

/* This process as a client of other daemons: its certificate, or plain HTTP. */
static void
init_tls_client(const struct kr_daemon *d)
{
	const char *role = kr_tls_role(d->name);
	bool insecure = kr_config_bool(d->cfg, "KARRI_INSECURE_HTTP") || role == NULL;
	struct kr_tls_files f;

	if (role)
		kr_tls_files(d->home, role, &f);
	if (kr_tls_client_init(role ? &f : NULL, insecure) < 0)
		kr_log_warnx("calls to other Karri daemons will fail until this is fixed: %s",
		    kr_error_message());
}

/*
 * Where root may hand things to the daemon's user: inside the daemon's own
 * KARRI_HOME, or, when that is /, inside /var/{lib,log,run}/karri -- never
 * a path the config happens to name elsewhere (/etc/...).
 */
static const char *
give_base(const struct kr_daemon *d, const char *path)
{
	static const char *const dirs[] = { "/var/lib/karri", "/var/log/karri", "/var/run/karri" };
	size_t n;

	if (path[0] != '/' || strstr(path, "/..") != NULL)
		return NULL;
	if (d->home[0] != '\0') {
		n = strlen(d->home);
		return strncmp(path, d->home, n) == 0 && path[n] == '/' ? d->home : NULL;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		n = strlen(dirs[i]);
		if (strncmp(path, dirs[i], n) == 0 && (path[n] == '/' || path[n] == '\0'))
			return dirs[i];
	}
	return NULL;
}

/*
 * The directories the user owns are the user's to fill with symbolic
 * links: what path's existing directories resolve to must still be inside
 * the same base, so that a link planted there cannot make root create or
 * hand over something elsewhere (the last component is never followed).
 */
static bool
stays_inside(const char *base, const char *path)
{
	char dir[PATH_MAX], real_dir[PATH_MAX], real_base[PATH_MAX], *slash;
	size_t n;

	if (realpath(base, real_base) == NULL) {
		if (errno != ENOENT)
			return false;
		snprintf(real_base, sizeof(real_base), "%s", base);	/* made now, by root */
	}
	snprintf(dir, sizeof(dir), "%s", path);
	for (;;) {
		if ((slash = strrchr(dir, '/')) == NULL)
			return false;
		*slash = '\0';
		if (dir[0] == '\0' || realpath(dir, real_dir) != NULL)
			break;
		if (errno != ENOENT)
			return false;
	}
	if (dir[0] == '\0')
		return false;
	n = strlen(real_base);
	return strncmp(real_dir, real_base, n) == 0 && (real_dir[n] == '\0' || real_dir[n] == '/');
}

/* Root may hand path to the user: see give_base() and stays_inside(). */
static bool
may_give(const struct kr_daemon *d, const char *path)
{
	const char *base = give_base(d, path);

	/* The base itself (KARRI_HOME's or /var/lib/karri) is where root put it. */
	return base != NULL && (strcmp(base, path) == 0 || stays_inside(base, path));
}

/* Hand one path to user if it may be given; fatal when that fails. */
static void
give(const struct kr_daemon *d, const char *user, const char *path, bool make_dir)
{
	if (!may_give(d, path)) {
		kr_log_warnx("%s is outside %s's state: it must already be %s's", path, d->name,
		    user);
		return;
	}
	if ((make_dir && kr_mkdir_p(path) < 0) || kr_privdrop_give(user, path) < 0)
		kr_daemon_fatal(d, kr_error_message());
}

/* As root: make and hand over what the daemon writes (daemon.h, user_paths). */
static void
hand_over_state(const struct kr_daemon *d, const char *user)
{
	static const char *const dirs[] = { "var/log/karri", "var/run/karri", "var/lib/karri" };
	char path[PATH_MAX], more[PATH_MAX + 8], *slash;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (kr_daemon_path(d, dirs[i], path, sizeof(path)) < 0)
			kr_daemon_fatal(d, kr_error_message());
		give(d, user, path, true);
	}
	for (const struct kr_daemon_path *p = d->user_paths; p->key != NULL; p++) {
		const char *v = strchr(p->key, '/') ? NULL : kr_config_get(d->cfg, p->key);

		if (v != NULL)
			snprintf(path, sizeof(path), "%s", v);
		else if (kr_daemon_path(d, p->key, path, sizeof(path)) < 0)
			kr_daemon_fatal(d, kr_error_message());
		if (path[0] == '\0')
			continue;	/* a key set to "": nothing there to hand over */
		if (p->kind == KR_OWN_DIR) {
			give(d, user, path, true);
			continue;
		}
		give(d, user, path, false);
		if (p->kind != KR_OWN_DB)
			continue;
		/* sqlite makes -wal and -shm beside the file: the directory too. */
		snprintf(more, sizeof(more), "%s-wal", path);
		give(d, user, more, false);
		snprintf(more, sizeof(more), "%s-shm", path);
		give(d, user, more, false);
		if ((slash = strrchr(path, '/')) != NULL && slash != path) {
			*slash = '\0';
			give(d, user, path, true);
		}
	}
}

/*
 * A daemon that parses the network and needs nothing of root's (CLC,
 * Walrus) gives root up here, before it opens a file: a parser bug then
 * hands out EUCA_USER, not root.  See docs/decisions.md, "least privilege".
 */
void
kr_daemon_become_user(struct kr_daemon *d, const struct kr_daemon_path *paths)
{
	const char *user = kr_config_get(d->cfg, "EUCA_USER");
	char what[1200];

	d->user_paths = paths;
	if (geteuid() == 0) {
		const struct passwd *pw = getpwnam(user);

		/* The user first: nothing changes hands unless the drop can follow. */
		if (pw == NULL || pw->pw_uid == 0) {
			snprintf(what, sizeof(what), pw ? "cannot drop root: EUCA_USER '%.64s' is root" :
			    "cannot drop root: no user '%.64s' (EUCA_USER; `make install` and the "
			    "quickstart create it)", user);
			kr_daemon_fatal(d, what);
		}
		hand_over_state(d, user);
		if (kr_privdrop(user) < 0)
			kr_daemon_fatal(d, kr_error_message());
	}
	if (getuid() == 0 || geteuid() == 0 || getegid() == 0)
		kr_daemon_fatal(d, "refusing to run as root: this daemon parses the network");
}

/* Find KARRI_HOME and the config file the way the help text says. */
static void
locate(struct kr_daemon *d, const char *config_arg)
{
	const char *home = getenv("KARRI_HOME");
	size_t len;

	if (home == NULL || *home == '\0')
		home = "/";
	len = strlen(home);
	while (len > 0 && home[len - 1] == '/')
		len--;
	if (len >= sizeof(d->home))
		kr_daemon_fatal(d, "KARRI_HOME is too long");
	memcpy(d->home, home, len);
	d->home[len] = '\0';
	if (config_arg)
		snprintf(d->config_path, sizeof(d->config_path), "%s", config_arg);
	else
		snprintf(d->config_path, sizeof(d->config_path), "%s/etc/karri/karri.conf", d->home);
}

static void
load_config(struct kr_daemon *d, bool explicit_config)
{
	char what[1200];

	if (!explicit_config && access(d->config_path, F_OK) < 0 && errno == ENOENT) {
		/* No file at the default place: run on defaults, and say so. */
		d->cfg = kr_config_defaults(kr_config_keys);
		if (d->cfg == NULL)
			kr_daemon_fatal(d, kr_error_message());
		fprintf(stderr, "%s: %s not found, using defaults\n", d->name, d->config_path);
		return;
	}
	d->cfg = kr_config_load(d->config_path, kr_config_keys);
	if (d->cfg == NULL) {
		snprintf(what, sizeof(what), "bad configuration: %s", kr_error_message());
		kr_daemon_fatal(d, what);
	}
}

int
kr_daemon_start(struct kr_daemon *d, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "check", no_argument, NULL, 'n' },
		{ "port", required_argument, NULL, 'p' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "log-file", required_argument, NULL, 'L' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_arg = NULL, *port_arg = NULL, *level_arg = NULL, *log_arg = NULL;
	bool check_only = false;
	int c;

	while ((c = getopt_long(argc, argv, "f:np:l:L:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': config_arg = optarg; break;
		case 'n': check_only = true; break;
		case 'p': port_arg = optarg; break;
		case 'l': level_arg = optarg; break;
		case 'L': log_arg = optarg; break;
		case 'V': printf("%s %s\n", d->name, PACKAGE_VERSION); exit(0);
		case 'h': usage(d, stdout); exit(0);
		default: usage(d, stderr); exit(2);
		}
	}
	if (optind < argc) {
		usage(d, stderr);
		exit(2);
	}

	/* Config warnings come before the log file opens: say whose they are. */
	kr_log_open(d->name, NULL, kr_log_get_level(), 0, 0);
	locate(d, config_arg);
	load_config(d, config_arg != NULL);
	if (port_arg)
		apply_override(d, d->port_key, port_arg);
	if (level_arg)
		apply_override(d, "LOGLEVEL", level_arg);
	if (check_only) {
		printf("%s: %s is valid\n", d->name, d->config_path);
		exit(0);
	}

	check_transport(d);
	d->port = (int)kr_config_int(d->cfg, d->port_key);
	d->bind_address = kr_config_get(d->cfg, "KARRI_BIND_ADDRESS");
	if (d->user_paths != NULL)
		kr_daemon_become_user(d, d->user_paths);
	open_log(d, log_arg);
	init_tls_client(d);
	install_signals();
	write_pid_file(d);
	d->started = time(NULL);
	current_daemon = d;
	kr_log_info("%s %s starting (config %s, port %d)", d->name, PACKAGE_VERSION,
	    d->config_path, d->port);
	return 0;
}

void
kr_daemon_finish(struct kr_daemon *d)
{
	kr_log_info("%s stopped after %lds", d->name, (long)(time(NULL) - d->started));
	if (d->pid_path[0])
		unlink(d->pid_path);
	kr_log_close();
	kr_config_free(d->cfg);
	d->cfg = NULL;
}
