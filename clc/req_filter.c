/*
 * req_filter.c - Describe* filters: Filter.N.Name with Filter.N.Value.M.
 *
 * As on EC2: an item matches when every filter matches, and a filter
 * matches when any of its values matches any value of the field; values
 * may use * (any run) and ? (any one character).  Each action names the
 * filters it supports; any other is InvalidParameterValue, never ignored.
 * Tag filters (tag:KEY, tag-key, tag-value) work for every resource, on
 * its stored tags and the derived karri: ones alike (action_tag.c).
 * Filtering happens after the SQL query, in C: a cloud of this size keeps
 * that cheap, and one matcher serves every action.
 */
#include <stdio.h>
#include <string.h>

#include "clc.h"
#include "core/db.h"
#include "core/error.h"

bool
clc_wildcard_match(const char *p, const char *s)
{
	const char *star = NULL, *resume = NULL;

	while (*s) {
		if (*p == '\\' && (p[1] == '*' || p[1] == '?' || p[1] == '\\') && p[1] == *s) {
			p += 2;
			s++;
		} else if (*p == '?' || (*p && *p != '*' && *p != '\\' && *p == *s)) {
			p++;
			s++;
		} else if (*p == '*') {
			star = p++;
			resume = s;
		} else if (star) {
			p = star + 1;
			s = ++resume;
		} else
			return false;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

bool
clc_in_list(const char *s, const char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool
is_tag_filter(const char *name)
{
	return strncmp(name, "tag:", 4) == 0 || strcmp(name, "tag-key") == 0 ||
	    strcmp(name, "tag-value") == 0;
}

int
clc_filters_parse(const struct clc_req *r, const char *const *allowed, struct clc_filters *out)
{
	char key[64];

	out->n = 0;
	for (int i = 1; i <= CLC_MAX_FILTERS + 1; i++) {
		struct clc_filter *f = &out->f[out->n];
		const char *name;
		bool ok = false;

		snprintf(key, sizeof(key), "Filter.%d.Name", i);
		if ((name = kr_form_get(r->params, key)) == NULL)
			continue;
		if (out->n == CLC_MAX_FILTERS) {
			kr_error("InvalidParameterValue", "at most %d filters", CLC_MAX_FILTERS);
			return -1;
		}
		for (size_t j = 0; allowed && allowed[j] && !ok; j++)
			ok = strcmp(name, allowed[j]) == 0;
		if (!ok && !(is_tag_filter(name) && strlen(name) <= 4 + CLC_MAX_NAME)) {
			kr_error("InvalidParameterValue", "The filter '%.64s' is invalid", name);
			return -1;
		}
		f->name = name;
		snprintf(key, sizeof(key), "Filter.%d.Value", i);
		if (clc_param_list_checked(r, key, NULL, f->values, CLC_MAX_FILTER_VALUES,
		    &f->n) < 0)
			return -1;
		out->n++;
	}
	return 0;
}

static bool
any_value_matches(const struct clc_filter *f, const char *v)
{
	for (size_t i = 0; i < f->n; i++)
		if (clc_wildcard_match(f->values[i], v))
			return true;
	return false;
}

/* tag:KEY compares the value of tag KEY; tag-key any key; tag-value any value. */
static bool
tag_filter_matches(const struct clc_req *r, const struct clc_filter *f, const char *rid)
{
	static sqlite3_stmt *st;	/* one controller per process: cache the statement */
	bool tag_key = strcmp(f->name, "tag-key") == 0;
	bool tag_value = strcmp(f->name, "tag-value") == 0;
	bool hit = false;

	if (st == NULL && kr_db_prepare(r->db, CLC_TAGS_OF_SQL, &st) < 0)
		return false;
	sqlite3_bind_text(st, 1, rid, -1, SQLITE_TRANSIENT);
	while (!hit && sqlite3_step(st) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *v = (const char *)sqlite3_column_text(st, 1);

		if (tag_key)
			hit = any_value_matches(f, k);
		else if (tag_value)
			hit = any_value_matches(f, v ? v : "");
		else if (strcmp(k, f->name + 4) == 0)
			hit = any_value_matches(f, v ? v : "");
	}
	sqlite3_reset(st);
	return hit;
}

bool
clc_filters_match(const struct clc_req *r, const struct clc_filters *fs, const char *rid,
    clc_field_fn field, void *item)
{
	for (size_t i = 0; i < fs->n; i++) {
		const struct clc_filter *f = &fs->f[i];
		bool hit = false;

		if (is_tag_filter(f->name)) {
			if (!rid || !tag_filter_matches(r, f, rid))
				return false;
			continue;
		}
		for (size_t idx = 0; !hit; idx++) {
			const char *v = field(item, f->name, idx);

			if (v == NULL)
				break;
			hit = any_value_matches(f, v);
		}
		if (!hit)
			return false;
	}
	return true;
}

/* The field of a filter that is a column of the current row (map ends with NULL). */
const char *
clc_filter_column(sqlite3_stmt *st, const struct clc_filter_col *map, const char *name,
    size_t idx)
{
	if (idx)
		return NULL;
	for (; map->name; map++)
		if (strcmp(name, map->name) == 0)
			return (const char *)sqlite3_column_text(st, map->col);
	return NULL;
}
