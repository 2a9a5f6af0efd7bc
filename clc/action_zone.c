/*
 * action_zone.c - DescribeRegions, DescribeAvailabilityZones (and
 * DescribeInstanceTypes is in action_instance_type.c).
 *
 * The cloud is one region (CLC_REGION) whose endpoint is this CLC; its
 * zones are the registered clusters.  A zone is "available" when its CC
 * answered the last poll, else "unavailable" with the reason as a message.
 * ZoneName.1=verbose (euca-describe-availability-zones verbose) adds
 * Eucalyptus' capacity lines: "|- vm types" and one line per type,
 * "free / max  cpu  ram  disk", from the CC's DescribeResources.
 * Remote clouds registered for bursting are zones too, available when
 * their last poll answered; their message says they are remote.
 */
#include <stdio.h>
#include <string.h>

#include "clc_burst.h"
#include "clc_cc.h"
#include "clc_actions.h"
#include "core/db.h"
#include "core/error.h"

static void
region_item(struct clc_req *r)
{
	kr_buf_add(r->out, "<item>");
	clc_xml_elem(r->out, "regionName", CLC_REGION);
	kr_buf_addf(r->out, "<regionEndpoint>");
	kr_buf_add_xml(r->out, r->host ? r->host : "localhost");
	kr_buf_add(r->out, "</regionEndpoint><optInStatus>opt-in-not-required</optInStatus>"
	    "</item>");
}

int
clc_describe_regions(struct clc_req *r)
{
	static const char *const known[] = { "RegionName", "Filter", "AllRegions", NULL };
	static const char *const filters[] = { "region-name", "endpoint", NULL };
	const char *names[CLC_MAX_IDS];
	struct clc_filters fs;
	size_t n;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_param_list_checked(r, "RegionName", NULL, names, CLC_MAX_IDS, &n) < 0 ||
	    clc_filters_parse(r, filters, &fs) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], CLC_REGION) != 0) {
			kr_error("InvalidParameterValue", "Invalid region: %.64s", names[i]);
			return -1;
		}
	kr_buf_add(r->out, "<regionInfo>");
	for (size_t i = 0; i < fs.n; i++)
		for (size_t j = 0; j < fs.f[i].n; j++)
			if (clc_wildcard_match(fs.f[i].values[j], strcmp(fs.f[i].name,
			    "region-name") == 0 ? CLC_REGION : r->host ? r->host : ""))
				goto show;
	if (fs.n)
		goto done;
show:
	region_item(r);
done:
	kr_buf_add(r->out, "</regionInfo>");
	return 0;
}

static void
zone_item(struct clc_req *r, const char *name, const char *state, const char *message)
{
	kr_buf_add(r->out, "<item>");
	clc_xml_elem(r->out, "zoneName", name);
	clc_xml_elem(r->out, "zoneState", state);
	clc_xml_elem(r->out, "regionName", CLC_REGION);
	if (message) {
		kr_buf_add(r->out, "<messageSet><item>");
		clc_xml_elem(r->out, "message", message);
		kr_buf_add(r->out, "</item></messageSet>");
	} else
		kr_buf_add(r->out, "<messageSet/>");
	kr_buf_add(r->out, "</item>");
}

static void
capacity_items(struct clc_req *r, const struct clc_cluster *c)
{
	char name[64], line[128];

	zone_item(r, "|- vm types", "free / max   cpu   ram  disk", NULL);
	for (int i = 0; i < c->ntypes; i++) {
		const struct clc_type_cap *t = &c->types[i];

		snprintf(name, sizeof(name), "|- %s", t->name);
		snprintf(line, sizeof(line), "%04d / %04d %4d %6d %5d", t->available, t->max,
		    t->cores, t->memory, t->disk);
		zone_item(r, name, line, NULL);
	}
}

static const char *
zone_field(void *item, const char *name, size_t idx)
{
	struct clc_cluster *c = item;

	if (idx)
		return NULL;
	if (strcmp(name, "zone-name") == 0)
		return c->name;
	if (strcmp(name, "state") == 0)
		return c->up ? "available" : "unavailable";
	if (strcmp(name, "region-name") == 0)
		return CLC_REGION;
	return NULL;
}

static bool
remote_named(const struct clc_burst_state *s, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			return true;
	return false;
}

/* A remote cloud's zone, shaped as a cluster for the filters. */
static void
remote_item(struct clc_req *r, const struct clc_burst_state *s, const char **names,
    size_t n, const struct clc_filters *fs)
{
	struct clc_cluster c = { .up = s->up, .checked = s->checked };
	char message[400];

	_Static_assert(sizeof(c.name) == sizeof(s->name), "zone names");
	memcpy(c.name, s->name, sizeof(c.name));
	if ((n && !clc_in_list(c.name, names, n)) ||
	    !clc_filters_match(r, fs, NULL, zone_field, &c))
		return;
	snprintf(message, sizeof(message), "remote cloud%s%s", s->checked && !s->up ? ": " : "",
	    s->checked && !s->up ? s->why : s->checked ? "" : " (not polled yet)");
	zone_item(r, c.name, c.up ? "available" : "unavailable", message);
}

int
clc_describe_zones(struct clc_req *r)
{
	static const char *const known[] = { "ZoneName", "ZoneId", "Filter",
		"AllAvailabilityZones", NULL };
	static const char *const filters[] = { "zone-name", "state", "region-name", NULL };
	const char *names[CLC_MAX_IDS];
	struct clc_burst_state remote[CLC_MAX_CLUSTERS];
	struct clc_filters fs;
	bool verbose = false;
	size_t n, nremote;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_param_list_checked(r, "ZoneName", NULL, names, CLC_MAX_IDS, &n) < 0 ||
	    clc_filters_parse(r, filters, &fs) < 0)
		return -1;
	if (n == 1 && strcmp(names[0], "verbose") == 0) {
		verbose = true;
		n = 0;
	}
	if (r->clc->nclusters == 0 && clc_clusters_load(r->clc) < 0)
		return -1;
	nremote = clc_burst_states(r->db, remote, CLC_MAX_CLUSTERS);
	for (size_t i = 0; i < n; i++)
		if (!remote_named(remote, nremote, names[i]) &&
		    clc_cluster_find(r->clc, names[i]) == NULL)
			return -1;
	kr_buf_add(r->out, "<availabilityZoneInfo>");
	for (size_t i = 0; i < r->clc->nclusters; i++) {
		struct clc_cluster *c = &r->clc->clusters[i];

		if ((n && !clc_in_list(c->name, names, n)) ||
		    !clc_filters_match(r, &fs, NULL, zone_field, c))
			continue;
		zone_item(r, c->name, c->up ? "available" : "unavailable", c->up ? NULL :
		    c->checked ? c->why : "the cluster controller has not been polled yet");
		if (verbose && c->up)
			capacity_items(r, c);
	}
	for (size_t i = 0; i < nremote; i++)
		remote_item(r, &remote[i], names, n, &fs);
	kr_buf_add(r->out, "</availabilityZoneInfo>");
	return 0;
}
