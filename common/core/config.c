/*
 * config.c - reading karri.conf: files, lines, keys, and the lookups the
 * daemons use (see config.h for the syntax and rules).  What a value may
 * look like is config_value.c's business.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/config_value.h"
#include "core/error.h"
#include "core/log.h"

#define LINE_MAX_LEN 8192	/* bounded: a karri.conf line is short */

struct kr_cfg_val {
	char *value;		/* canonical; NULL: unset, use the default */
	char *source;		/* "path:line", "environment", "set"; NULL: default */
	char *def;		/* the default with $KARRI_HOME expanded */
};

struct kr_config {
	const struct kr_cfg_key *keys;
	size_t n;
	struct kr_cfg_val *vals;
};

static long
key_index(const struct kr_config *cfg, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < cfg->n; i++)
		if (strncmp(cfg->keys[i].name, name, len) == 0 && cfg->keys[i].name[len] == '\0')
			return (long)i;
	return -1;
}

/* KARRI_HOME as it stands now: the key, else the environment, else "/". */
static const char *
current_home(const struct kr_config *cfg)
{
	long i = key_index(cfg, "KARRI_HOME", strlen("KARRI_HOME"));
	const char *env = getenv("KARRI_HOME");

	if (i >= 0 && cfg->vals[i].value)
		return cfg->vals[i].value;
	if (env && *env)
		return env;
	if (i >= 0 && cfg->keys[i].def)
		return cfg->keys[i].def;
	return "/";
}

/* Store a checked value for key i; takes ownership of nothing. */
static int
store(struct kr_config *cfg, size_t i, const char *raw, const char *source)
{
	char reason[256], *canon = NULL, *src = NULL;

	if (kr_cfg_value_check(&cfg->keys[i], raw, &canon, reason, sizeof(reason)) < 0) {
		kr_error("InvalidConfiguration", "%s: %s", cfg->keys[i].name, reason);
		return -1;
	}
	if (source && !(src = strdup(source))) {
		free(canon);
		kr_error("InternalError", "out of memory");
		return -1;
	}
	free(cfg->vals[i].value);
	free(cfg->vals[i].source);
	cfg->vals[i].value = canon;
	cfg->vals[i].source = src;
	return 0;
}

/* Expand $KARRI_HOME in every default, against the final KARRI_HOME. */
static int
expand_defaults(struct kr_config *cfg)
{
	const char *reason = NULL;
	struct kr_cfg_where w = { "default", 0, NULL };
	size_t i;

	for (i = 0; i < cfg->n; i++) {
		struct kr_buf b = KR_BUF_INIT;

		free(cfg->vals[i].def);
		cfg->vals[i].def = NULL;
		if (!cfg->keys[i].def)
			continue;
		w.key = cfg->keys[i].name;
		/* Table defaults are written unquoted-safe; lex them in double quotes. */
		kr_buf_add_char(&b, '"');
		kr_buf_add(&b, cfg->keys[i].def);
		kr_buf_add_char(&b, '"');
		if (!kr_buf_failed(&b)) {
			struct kr_buf out = KR_BUF_INIT;

			if (kr_cfg_value_lex(current_home(cfg), &w, kr_buf_str(&b), &out, &reason) == 0)
				cfg->vals[i].def = kr_buf_detach(&out, NULL);
			kr_buf_free(&out);
		}
		kr_buf_free(&b);
		if (!cfg->vals[i].def) {
			kr_error("InternalError", "default of %s: %s", cfg->keys[i].name,
			    reason ? reason : "out of memory");
			return -1;
		}
	}
	return 0;
}

struct kr_config *
kr_config_defaults(const struct kr_cfg_key *keys)
{
	struct kr_config *cfg;
	const char *env = getenv("KARRI_HOME");
	long home;

	if (!keys)
		keys = kr_config_keys;
	if (!(cfg = calloc(1, sizeof(*cfg))))
		goto nomem;
	cfg->keys = keys;
	while (keys[cfg->n].name)
		cfg->n++;
	if (!(cfg->vals = calloc(cfg->n + 1, sizeof(*cfg->vals))))
		goto nomem;
	home = key_index(cfg, "KARRI_HOME", strlen("KARRI_HOME"));
	if (home >= 0 && env && *env && store(cfg, (size_t)home, env, "environment") < 0) {
		kr_error("InvalidConfiguration", "environment variable KARRI_HOME=\"%s\": %s",
		    env, "must be an absolute path");
		goto fail;
	}
	if (expand_defaults(cfg) < 0)
		goto fail;
	return cfg;
nomem:
	kr_error("InternalError", "out of memory");
fail:
	kr_config_free(cfg);
	return NULL;
}

/* One line of the file; 0 or -1 with kr_error() set. */
static int
parse_line(struct kr_config *cfg, struct kr_cfg_where *w, char *line)
{
	char key[128], src[512];
	const char *reason = NULL;
	struct kr_buf val = KR_BUF_INIT;
	char *p = line, *name;
	size_t len;
	long i;
	int rc = -1;

	p += strspn(p, " \t");
	if (*p == '\0' || *p == '#')
		return 0;
	if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t'))
		p += 6 + strspn(p + 6, " \t");
	name = p;
	if (*p == '_' || isalpha((unsigned char)*p))
		while (*p == '_' || isalnum((unsigned char)*p))
			p++;
	len = (size_t)(p - name);
	snprintf(key, sizeof(key), "%.*s", (int)len, name);
	w->key = key;
	if (len > 0 && *p != '=' && p[strspn(p, " \t")] == '=') {
		kr_error("InvalidConfiguration", "%s:%d: %s: no spaces around '=' (shell syntax)",
		    w->path, w->line, key);
		return -1;
	}
	if (len == 0 || *p != '=') {
		kr_error("InvalidConfiguration", "%s:%d: expected KEY=VALUE", w->path, w->line);
		return -1;
	}
	if (kr_cfg_value_lex(current_home(cfg), w, p + 1, &val, &reason) < 0) {
		kr_error("InvalidConfiguration", "%s:%d: %s: %s", w->path, w->line, key, reason);
		goto out;
	}
	if (kr_buf_failed(&val)) {
		kr_error("InternalError", "out of memory");
		goto out;
	}
	if ((i = key_index(cfg, name, len)) < 0) {
		kr_log_warnx("%s:%d: unknown key %s (ignored)", w->path, w->line, key);
		rc = 0;
		goto out;
	}
	snprintf(src, sizeof(src), "%s:%d", w->path, w->line);
	if (store(cfg, (size_t)i, kr_buf_str(&val), src) < 0) {
		/* Prefix the location to store()'s "<KEY>: <reason>". */
		char msg[KR_ERROR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", kr_error_message());
		kr_error("InvalidConfiguration", "%s:%d: %s", w->path, w->line, msg);
		goto out;
	}
	rc = 0;
out:
	kr_buf_free(&val);
	return rc;
}

struct kr_config *
kr_config_load(const char *path, const struct kr_cfg_key *keys)
{
	struct kr_config *cfg;
	struct kr_cfg_where w = { path, 0, NULL };
	char line[LINE_MAX_LEN];
	size_t len;
	FILE *f;

	if (!(f = fopen(path, "re"))) {
		kr_error_errno("InvalidConfiguration", "cannot read %s", path);
		return NULL;
	}
	if (!(cfg = kr_config_defaults(keys)))
		goto fail;
	while (fgets(line, sizeof(line), f)) {
		w.line++;
		len = strlen(line);
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(f)) {
			kr_error("InvalidConfiguration", "%s:%d: line too long (over %d bytes)",
			    path, w.line, LINE_MAX_LEN - 2);
			goto fail;
		}
		if (len > 0 && line[len - 1] == '\r')	/* edited on Windows */
			line[--len] = '\0';
		if (parse_line(cfg, &w, line) < 0)
			goto fail;
	}
	if (ferror(f)) {
		kr_error_errno("InvalidConfiguration", "cannot read %s", path);
		goto fail;
	}
	if (expand_defaults(cfg) < 0)
		goto fail;
	fclose(f);
	return cfg;
fail:
	fclose(f);
	kr_config_free(cfg);
	return NULL;
}

void
kr_config_free(struct kr_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; cfg->vals && i < cfg->n; i++) {
		free(cfg->vals[i].value);
		free(cfg->vals[i].source);
		free(cfg->vals[i].def);
	}
	free(cfg->vals);
	free(cfg);
}

int
kr_config_set(struct kr_config *cfg, const char *key, const char *value)
{
	long i = key_index(cfg, key, strlen(key));

	if (i < 0) {
		kr_error("InvalidConfiguration", "%s: unknown key", key);
		return -1;
	}
	if (store(cfg, (size_t)i, value ? value : "", "set") < 0)
		return -1;
	return strcmp(key, "KARRI_HOME") == 0 ? expand_defaults(cfg) : 0;
}

/* The index of a key the program asks for; a miss is a bug in the caller. */
static long
wanted(const struct kr_config *cfg, const char *key)
{
	long i = cfg && key ? key_index(cfg, key, strlen(key)) : -1;

	if (i < 0)
		kr_log_errorx("config: %s is not a known key (programming error)", key ? key : "(null)");
	return i;
}

const char *
kr_config_get(const struct kr_config *cfg, const char *key)
{
	long i = wanted(cfg, key);

	if (i < 0)
		return NULL;
	return cfg->vals[i].value ? cfg->vals[i].value : cfg->vals[i].def;
}

long
kr_config_int(const struct kr_config *cfg, const char *key)
{
	long i = wanted(cfg, key);
	const char *v;

	if (i < 0)
		return 0;
	if (cfg->keys[i].type != KR_CFG_INT && cfg->keys[i].type != KR_CFG_PORT) {
		kr_log_errorx("config: %s is not a number key (programming error)", key);
		return 0;
	}
	v = kr_config_get(cfg, key);
	return v ? strtol(v, NULL, 10) : 0;
}

bool
kr_config_bool(const struct kr_config *cfg, const char *key)
{
	long i = wanted(cfg, key);
	const char *v;

	if (i < 0)
		return false;
	if (cfg->keys[i].type != KR_CFG_BOOL) {
		kr_log_errorx("config: %s is not a Y/N key (programming error)", key);
		return false;
	}
	v = kr_config_get(cfg, key);
	return v && v[0] == 'Y';
}

size_t
kr_config_list(const struct kr_config *cfg, const char *key, char ***items)
{
	const char *v = kr_config_get(cfg, key), *p;
	size_t n = 0, len;
	char **list;

	*items = NULL;
	if (!v)
		return 0;
	if (!(list = calloc(strlen(v) / 2 + 1, sizeof(*list))))
		goto nomem;
	for (p = v + strspn(v, " \t\n"); *p; p += len, p += strspn(p, " \t\n")) {
		len = strcspn(p, " \t\n");
		if (!(list[n] = strndup(p, len))) {
			kr_config_list_free(list, n);
			goto nomem;
		}
		n++;
	}
	if (n == 0)
		free(list);
	else
		*items = list;
	return n;
nomem:
	kr_error("InternalError", "out of memory");
	return 0;
}

void
kr_config_list_free(char **items, size_t n)
{
	size_t i;

	if (!items)
		return;
	for (i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

const char *
kr_config_source(const struct kr_config *cfg, const char *key)
{
	long i = wanted(cfg, key);

	if (i < 0 || !cfg->vals[i].source)
		return "default";
	return cfg->vals[i].source;
}

char *
kr_config_home_path(const struct kr_config *cfg, const char *rel)
{
	const char *home = cfg ? current_home(cfg) : "/";
	size_t hl = strlen(home);
	char *p;

	while (hl > 0 && home[hl - 1] == '/')
		hl--;
	while (*rel == '/')
		rel++;
	if (asprintf(&p, "%.*s/%s", (int)hl, home, rel) < 0) {
		kr_error("InternalError", "out of memory");
		return NULL;
	}
	return p;
}
