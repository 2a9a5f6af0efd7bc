/*
 * action_instance_type.c - DescribeInstanceTypes, in both of its shapes.
 *
 * Eucalyptus had this action first (euca-describe-instance-types, euca2ools
 * 3.x, API versions before 2016-11-15): parameters InstanceType.N,
 * Availability and Verbose; the answer <instanceTypeDetails> with each
 * type's name, cpu, memory (MiB) and disk (GiB) and, with
 * Availability=true, <availability> per zone (zoneName, max, available:
 * the CC's last DescribeResources).  EC2 added its own in 2019, under
 * Version 2016-11-15 (awscli, boto3): <instanceTypeSet> with vCpuInfo,
 * memoryInfo and the rest, filters and pages.  The shape is picked by the
 * request: Availability or Verbose, or a Version before 2016-11-15, is
 * Eucalyptus'; anything else is EC2's.
 */
#include <stdio.h>
#include <string.h>

#include "clc.h"
#include "clc_actions.h"
#include "clc_cc.h"
#include "core/db.h"
#include "core/error.h"

/* Every name asked for is a type: else InvalidInstanceType naming it. */
static int
check_names(const char **names, size_t n, const struct clc_type_cap *caps, int nt)
{
	for (size_t i = 0; i < n; i++) {
		int k = 0;

		while (k < nt && strcmp(caps[k].name, names[i]) != 0)
			k++;
		if (k == nt) {
			kr_error("InvalidInstanceType", "The following supplied instance types do not "
			    "exist: [%.64s]", names[i]);
			return -1;
		}
	}
	return 0;
}

/* <availability>: the type's capacity in each cluster, as its CC last said. */
static void
availability_xml(struct clc_req *r, const char *type)
{
	kr_buf_add(r->out, "<availability>");
	for (size_t i = 0; i < r->clc->nclusters; i++) {
		const struct clc_cluster *c = &r->clc->clusters[i];
		int available = 0, max = 0;

		for (int k = 0; c->up && k < c->ntypes; k++)
			if (strcmp(c->types[k].name, type) == 0) {
				available = c->types[k].available;
				max = c->types[k].max;
			}
		kr_buf_add(r->out, "<item>");
		clc_xml_elem(r->out, "zoneName", c->name);
		clc_xml_elem_int(r->out, "max", max);
		clc_xml_elem_int(r->out, "available", available);
		kr_buf_add(r->out, "</item>");
	}
	kr_buf_add(r->out, "</availability>");
}

static int
eucalyptus_shape(struct clc_req *r, const char **names, size_t n,
    const struct clc_type_cap *caps, int nt)
{
	bool avail, verbose;

	if (clc_param_bool(r, "Availability", false, &avail) < 0 ||
	    clc_param_bool(r, "Verbose", false, &verbose) < 0)
		return -1;
	if (avail && r->clc->nclusters == 0 && clc_clusters_load(r->clc) < 0)
		return -1;
	kr_buf_add(r->out, "<instanceTypeDetails>");
	for (int i = 0; i < nt; i++) {
		if (n && !clc_in_list(caps[i].name, names, n))
			continue;
		kr_buf_add(r->out, "<item>");
		clc_xml_elem(r->out, "name", caps[i].name);
		clc_xml_elem_int(r->out, "cpu", caps[i].cores);
		clc_xml_elem_int(r->out, "disk", caps[i].disk);
		clc_xml_elem_int(r->out, "memory", caps[i].memory);
		if (avail)
			availability_xml(r, caps[i].name);
		kr_buf_add(r->out, "</item>");
	}
	kr_buf_add(r->out, "</instanceTypeDetails>");
	return 0;
}

static const char *
type_field(void *item, const char *name, size_t idx)
{
	return idx == 0 && strcmp(name, "instance-type") == 0 ? item : NULL;
}

static void
ec2_item(struct clc_req *r, const struct clc_type_cap *t)
{
	kr_buf_add(r->out, "<item>");
	clc_xml_elem(r->out, "instanceType", t->name);
	kr_buf_addf(r->out, "<currentGeneration>false</currentGeneration>"
	    "<supportedRootDeviceTypes><item>instance-store</item>"
	    "</supportedRootDeviceTypes><hypervisor>xen</hypervisor>"
	    "<vCpuInfo><defaultVCpus>%d</defaultVCpus></vCpuInfo>"
	    "<memoryInfo><sizeInMiB>%d</sizeInMiB></memoryInfo>"
	    "<instanceStorageSupported>true</instanceStorageSupported>"
	    "<instanceStorageInfo><totalSizeInGB>%d</totalSizeInGB></instanceStorageInfo>"
	    "<processorInfo><supportedArchitectures><item>x86_64</item><item>i386</item>"
	    "</supportedArchitectures></processorInfo>", t->cores, t->memory, t->disk);
	kr_buf_add(r->out, "</item>");
}

static int
ec2_shape(struct clc_req *r, const char **names, size_t n, const struct clc_type_cap *caps,
    int nt)
{
	static const char *const filters[] = { "instance-type", NULL };
	struct clc_filters fs;
	struct clc_pager pg;
	const char *last = NULL;
	int i;

	if (clc_filters_parse(r, filters, &fs) < 0 || clc_pager_init(r, 5, 100, &pg) < 0)
		return -1;
	/* NextToken: the last type of the previous page; types go in size order. */
	for (i = 0; pg.after && i < nt && strcmp(caps[i].name, pg.after) != 0; i++)
		;
	i = pg.after ? i + 1 : 0;
	kr_buf_add(r->out, "<instanceTypeSet>");
	for (; i < nt; i++) {
		if ((n && !clc_in_list(caps[i].name, names, n)) ||
		    !clc_filters_match(r, &fs, NULL, type_field, (void *)caps[i].name))
			continue;
		if (!clc_pager_take(&pg))
			break;
		ec2_item(r, &caps[i]);
		last = caps[i].name;
	}
	kr_buf_add(r->out, "</instanceTypeSet>");
	if (i < nt)
		clc_pager_finish(r, &pg, last);
	return 0;
}

int
clc_describe_instance_types(struct clc_req *r)
{
	static const char *const known[] = { "InstanceType", "Filter", "MaxResults",
		"NextToken", "Availability", "Verbose", NULL };
	struct kr__virtualMachineType vm[CLC_MAX_TYPES];
	struct clc_type_cap caps[CLC_MAX_TYPES];
	const char *names[CLC_MAX_IDS];
	bool euca;
	size_t n;
	int nt;

	if (clc_param_check_known(r, known) < 0 ||
	    clc_param_list_checked(r, "InstanceType", NULL, names, CLC_MAX_IDS, &n) < 0 ||
	    (nt = clc_types_load(r->db, vm, CLC_MAX_TYPES, caps)) < 0 ||
	    check_names(names, n, caps, nt) < 0)
		return -1;
	euca = clc_param(r, "Availability") || clc_param(r, "Verbose") ||
	    strcmp(r->version, "2016-11-15") < 0;
	if (euca && (clc_param(r, "Filter.1.Name") || clc_param(r, "MaxResults"))) {
		kr_error("InvalidParameterCombination", "Filter and MaxResults are EC2's "
		    "DescribeInstanceTypes (Version 2016-11-15); Availability and Verbose "
		    "Eucalyptus' (earlier versions)");
		return -1;
	}
	return euca ? eucalyptus_shape(r, names, n, caps, nt) : ec2_shape(r, names, n, caps, nt);
}
