/*
 * ec2_soap_map.c - an EC2 SOAP request body as Query API parameters.
 *
 * EC2's WSDL nests what the Query API numbers: <instancesSet><item>
 * <instanceId>i-1</instanceId></item>...</instancesSet> is InstanceId.1,
 * <ipPermissions><item>...<ipRanges><item><cidrIp> is
 * IpPermissions.1.IpRanges.1.CidrIp.  A leaf directly under the action
 * element is its Query parameter with the first letter raised (keyName ->
 * KeyName); anything deeper must be in the action's table, where each '#'
 * of the Query name is the position (from 1) of the matching <item> on the
 * path.  A path no table knows is UnknownParameter, never dropped, and the
 * action's own checks then see exactly what a Query client would have sent.
 * Only the actions listed here are served over SOAP.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "clc.h"
#include "ec2_soap.h"
#include "core/error.h"

#define MAX_DEPTH 8		/* deepest EC2 path: ipPermissions/item/groups/item/x */
#define MAX_PATH 200
#define MAX_PARAMS 1000		/* as kr_form_default_limits */
#define MAX_VALUE (1u << 20)

struct soap_path {
	const char *path;	/* element names below the action, '/'-separated */
	const char *param;	/* Query name, '#' per item; NULL: accepted and ignored */
};

struct soap_action {
	const char *name;
	const struct soap_path *paths;	/* NULL-terminated; NULL: leaves only */
};

#define FILTERS \
	{ "filterSet/item/name", "Filter.#.Name" }, \
	{ "filterSet/item/valueSet/item/value", "Filter.#.Value.#" }

#define BLOCK_DEVICES \
	{ "blockDeviceMapping/item/deviceName", "BlockDeviceMapping.#.DeviceName" }, \
	{ "blockDeviceMapping/item/virtualName", "BlockDeviceMapping.#.VirtualName" }, \
	{ "blockDeviceMapping/item/noDevice", "BlockDeviceMapping.#.NoDevice" }, \
	{ "blockDeviceMapping/item/ebs/snapshotId", "BlockDeviceMapping.#.Ebs.SnapshotId" }, \
	{ "blockDeviceMapping/item/ebs/volumeSize", "BlockDeviceMapping.#.Ebs.VolumeSize" }, \
	{ "blockDeviceMapping/item/ebs/deleteOnTermination", \
	    "BlockDeviceMapping.#.Ebs.DeleteOnTermination" }

#define INSTANCE_IDS { "instancesSet/item/instanceId", "InstanceId.#" }

#define TAG_SPECS \
	{ "tagSpecificationSet/item/resourceType", "TagSpecification.#.ResourceType" }, \
	{ "tagSpecificationSet/item/tag/item/key", "TagSpecification.#.Tag.#.Key" }, \
	{ "tagSpecificationSet/item/tag/item/value", "TagSpecification.#.Tag.#.Value" }

#define PERMISSIONS \
	/* The caller's own account id, required by the 2009 WSDL; the signature says who. */ \
	{ "userId", NULL }, \
	{ "ipPermissions/item/ipProtocol", "IpPermissions.#.IpProtocol" }, \
	{ "ipPermissions/item/fromPort", "IpPermissions.#.FromPort" }, \
	{ "ipPermissions/item/toPort", "IpPermissions.#.ToPort" }, \
	{ "ipPermissions/item/groups/item/userId", "IpPermissions.#.Groups.#.UserId" }, \
	{ "ipPermissions/item/groups/item/groupName", "IpPermissions.#.Groups.#.GroupName" }, \
	{ "ipPermissions/item/groups/item/groupId", "IpPermissions.#.Groups.#.GroupId" }, \
	{ "ipPermissions/item/ipRanges/item/cidrIp", "IpPermissions.#.IpRanges.#.CidrIp" }

static const struct soap_path addresses[] = {
	{ "publicIpsSet/item/publicIp", "PublicIp.#" },
	{ "allocationIdsSet/item/allocationId", "AllocationId.#" }, FILTERS, { NULL, NULL } };
static const struct soap_path images[] = {
	{ "executableBySet/item/user", "ExecutableBy.#" },
	{ "imagesSet/item/imageId", "ImageId.#" },
	{ "ownersSet/item/owner", "Owner.#" }, FILTERS, { NULL, NULL } };
static const struct soap_path instances[] = { INSTANCE_IDS, FILTERS, { NULL, NULL } };
static const struct soap_path instance_ids[] = { INSTANCE_IDS, { NULL, NULL } };
static const struct soap_path keys[] = {
	{ "keySet/item/keyName", "KeyName.#" }, FILTERS, { NULL, NULL } };
static const struct soap_path key_new[] = { TAG_SPECS, { NULL, NULL } };
static const struct soap_path groups[] = {
	{ "securityGroupSet/item/groupName", "GroupName.#" },
	{ "securityGroupIdSet/item/groupId", "GroupId.#" }, FILTERS, { NULL, NULL } };
static const struct soap_path permissions[] = { PERMISSIONS, { NULL, NULL } };
static const struct soap_path regions[] = {
	{ "regionSet/item/regionName", "RegionName.#" }, FILTERS, { NULL, NULL } };
static const struct soap_path register_image[] = { BLOCK_DEVICES, { NULL, NULL } };
static const struct soap_path run[] = {
	/*
	 * The 2009-2010 WSDLs name groups in groupSet/item/groupId; later ones
	 * put ids there and names in groupName.  "@group" sorts it by value.
	 */
	{ "groupSet/item/groupId", "@group" },
	{ "groupSet/item/groupName", "SecurityGroup.#" },
	{ "userData/data", "UserData" },
	{ "placement/availabilityZone", "Placement.AvailabilityZone" },
	{ "placement/groupName", "Placement.GroupName" },
	{ "placement/tenancy", "Placement.Tenancy" },
	{ "monitoring/enabled", "Monitoring.Enabled" },
	BLOCK_DEVICES, TAG_SPECS, { NULL, NULL } };
static const struct soap_path snapshots[] = {
	{ "snapshotSet/item/snapshotId", "SnapshotId.#" },
	{ "ownersSet/item/owner", "Owner.#" },
	{ "restorableBySet/item/user", "RestorableBy.#" }, FILTERS, { NULL, NULL } };
static const struct soap_path tags[] = {
	{ "resourcesSet/item/resourceId", "ResourceId.#" },
	{ "tagSet/item/key", "Tag.#.Key" },
	{ "tagSet/item/value", "Tag.#.Value" }, { NULL, NULL } };
static const struct soap_path only_filters[] = { FILTERS, { NULL, NULL } };
static const struct soap_path volumes[] = {
	{ "volumeSet/item/volumeId", "VolumeId.#" }, FILTERS, { NULL, NULL } };
static const struct soap_path zones[] = {
	{ "availabilityZoneSet/item/zoneName", "ZoneName.#" }, FILTERS, { NULL, NULL } };

/* Sorted by name for bsearch; a unit test checks the order. */
static const struct soap_action soap_actions[] = {
	{ "AllocateAddress", NULL },
	{ "AssociateAddress", NULL },
	{ "AttachVolume", NULL },
	{ "AuthorizeSecurityGroupIngress", permissions },
	{ "CreateKeyPair", key_new },
	{ "CreateSecurityGroup", key_new },
	{ "CreateSnapshot", key_new },
	{ "CreateTags", tags },
	{ "CreateVolume", key_new },
	{ "DeleteKeyPair", NULL },
	{ "DeleteSecurityGroup", NULL },
	{ "DeleteSnapshot", NULL },
	{ "DeleteTags", tags },
	{ "DeleteVolume", NULL },
	{ "DeregisterImage", NULL },
	{ "DescribeAddresses", addresses },
	{ "DescribeAvailabilityZones", zones },
	{ "DescribeImages", images },
	{ "DescribeInstances", instances },
	{ "DescribeKeyPairs", keys },
	{ "DescribeRegions", regions },
	{ "DescribeSecurityGroups", groups },
	{ "DescribeSnapshots", snapshots },
	{ "DescribeTags", only_filters },
	{ "DescribeVolumes", volumes },
	{ "DetachVolume", NULL },
	{ "DisassociateAddress", NULL },
	{ "GetConsoleOutput", NULL },
	{ "ImportKeyPair", key_new },
	{ "RebootInstances", instance_ids },
	{ "RegisterImage", register_image },
	{ "ReleaseAddress", NULL },
	{ "RevokeSecurityGroupIngress", permissions },
	{ "RunInstances", run },
	{ "StartInstances", instance_ids },
	{ "StopInstances", instance_ids },
	{ "TerminateInstances", instance_ids },
};

#define NACTIONS (sizeof(soap_actions) / sizeof(soap_actions[0]))

/* One walk over the action element. */
struct walk {
	const struct soap_action *action;
	const xmlChar *ns;		/* the action element's namespace */
	struct kr_form *out;
	size_t cap;
	char path[MAX_PATH];
	int items[MAX_DEPTH];		/* positions of the <item>s on the path */
	int nitems;
};

static int
by_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct soap_action *)elem)->name);
}

static const struct soap_path *
find_path(const struct soap_action *a, const char *path, bool *container)
{
	size_t n = strlen(path);

	*container = false;
	for (const struct soap_path *p = a->paths; p && p->path; p++) {
		if (strcmp(p->path, path) == 0)
			return p;
		if (strncmp(p->path, path, n) == 0 && p->path[n] == '/')
			*container = true;
	}
	return NULL;
}

static int
add_param(struct walk *w, const char *key, const char *value)
{
	struct kr_form_param *p;
	size_t vlen = strlen(value);

	if (w->out->n == MAX_PARAMS || vlen > MAX_VALUE) {
		kr_error("InvalidParameterValue", "too many or too large parameters");
		return -1;
	}
	if (w->out->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;

		p = realloc(w->out->params, cap * sizeof(*p));
		if (p == NULL)
			goto oom;
		w->out->params = p;
		w->cap = cap;
	}
	p = &w->out->params[w->out->n];
	p->key = strdup(key);
	p->value = strdup(value);
	if (p->key == NULL || p->value == NULL) {
		free(p->key);
		free(p->value);
		goto oom;
	}
	p->key_len = strlen(key);
	p->value_len = vlen;
	w->out->n++;
	return 0;
oom:
	kr_error("InternalError", "out of memory");
	return -1;
}

/* The Query name of pattern with each '#' replaced by the item positions in order. */
static int
expand(const struct walk *w, const char *pattern, char *out, size_t len)
{
	size_t o = 0;
	int k = 0, n;

	for (const char *s = pattern; *s; s++) {
		if (*s != '#') {
			if (o + 1 >= len)
				goto bad;
			out[o++] = *s;
			continue;
		}
		if (k == w->nitems)
			goto bad;
		n = snprintf(out + o, len - o, "%d", w->items[k++]);
		if (n < 0 || (size_t)n >= len - o)
			goto bad;
		o += (size_t)n;
	}
	out[o] = '\0';
	return 0;
bad:
	kr_error("InternalError", "the SOAP mapping of %s is broken", pattern);
	return -1;
}

/* A security group of RunInstances' groupSet: sg-<hex> is an id, anything else a name. */
static int
add_group(struct walk *w, const char *value)
{
	bool id = strncmp(value, "sg-", 3) == 0 && value[3] &&
	    strspn(value + 3, "0123456789abcdef") == strlen(value + 3);
	char key[64];

	snprintf(key, sizeof(key), "%s.%d", id ? "SecurityGroupId" : "SecurityGroup",
	    w->items[0]);
	return add_param(w, key, value);
}

static bool
blank(const xmlChar *s)
{
	for (; s && *s; s++)
		if (!isspace(*s))
			return false;
	return true;
}

static int
leaf(struct walk *w, xmlNodePtr n, int depth)
{
	xmlChar *text = xmlNodeGetContent(n);
	const struct soap_path *p;
	char key[MAX_PATH];
	bool container;
	int rc = -1;

	if (text == NULL) {
		kr_error("InternalError", "out of memory");
		return -1;
	}
	p = find_path(w->action, w->path, &container);
	if (p == NULL && depth == 1 && !container) {
		/* keyName -> KeyName */
		snprintf(key, sizeof(key), "%s", w->path);
		key[0] = (char)toupper((unsigned char)key[0]);
		rc = add_param(w, key, (const char *)text);
	} else if (p == NULL && container && blank(text)) {
		rc = 0;		/* an empty set: no values */
	} else if (p == NULL) {
		kr_error("UnknownParameter", "the element %.100s is not recognized by %s", w->path,
		    w->action->name);
	} else if (p->param == NULL) {
		rc = 0;
	} else if (strcmp(p->param, "@group") == 0) {
		rc = add_group(w, (const char *)text);
	} else if (expand(w, p->param, key, sizeof(key)) == 0) {
		rc = add_param(w, key, (const char *)text);
	}
	xmlFree(text);
	return rc;
}

static int walk_children(struct walk *w, xmlNodePtr parent, int depth);

/* Element n at depth (1: a child of the action element) on w->path. */
static int
walk_elem(struct walk *w, xmlNodePtr n, int depth, int item_pos)
{
	size_t len = strlen(w->path);
	const char *name = (const char *)n->name;
	int rc;

	if (depth > MAX_DEPTH || len + strlen(name) + 2 > sizeof(w->path)) {
		kr_error("InvalidParameterValue", "the request nests too deeply");
		return -1;
	}
	if (n->ns && !xmlStrEqual(n->ns->href, w->ns)) {
		kr_error("UnknownParameter", "the element %.64s of %s is in namespace %.100s, not "
		    "the action's", name, w->action->name, (const char *)n->ns->href);
		return -1;
	}
	snprintf(w->path + len, sizeof(w->path) - len, "%s%s", len ? "/" : "", name);
	if (item_pos)
		w->items[w->nitems++] = item_pos;
	rc = clc_soap_first_elem(n) ? walk_children(w, n, depth) : leaf(w, n, depth);
	if (item_pos)
		w->nitems--;
	w->path[len] = '\0';
	return rc;
}

static int
walk_children(struct walk *w, xmlNodePtr parent, int depth)
{
	int items = 0;

	for (xmlNodePtr c = parent->children; c; c = c->next) {
		if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
			if (!blank(c->content)) {
				kr_error("InvalidParameterValue", "text beside elements in %.100s",
				    *w->path ? w->path : w->action->name);
				return -1;
			}
			continue;
		}
		if (c->type != XML_ELEMENT_NODE)
			continue;	/* comments, processing instructions */
		if (walk_elem(w, c, depth + 1, strcmp((const char *)c->name, "item") == 0 ?
		    ++items : 0) < 0)
			return -1;
	}
	return 0;
}

int
clc_soap_params(xmlNodePtr op, struct kr_form *out)
{
	const char *name = (const char *)op->name;
	struct walk w = { .out = out, .ns = op->ns ? op->ns->href : NULL };

	out->params = NULL;
	out->n = 0;
	w.action = bsearch(name, soap_actions, NACTIONS, sizeof(soap_actions[0]), by_name);
	if (w.action == NULL) {
		if (clc_action_find(name) == NULL)
			kr_error("InvalidAction", "the action %.64s is not valid for this web "
			    "service", name);
		else
			kr_error("UnsupportedOperation", "%.64s is not offered over SOAP by Karri; "
			    "the EC2 Query API on the same URL has it", name);
		return -1;
	}
	if (walk_children(&w, op, 0) < 0) {
		kr_form_free(out);
		return -1;
	}
	return 0;
}

int
clc_soap_map_check(void)
{
	for (size_t i = 0; i < NACTIONS; i++) {
		const struct clc_action *a = clc_action_find(soap_actions[i].name);

		if ((i && strcmp(soap_actions[i - 1].name, soap_actions[i].name) >= 0) ||
		    a == NULL || a->fn == NULL)
			return -1;
		for (const struct soap_path *p = soap_actions[i].paths; p && p->path; p++) {
			size_t hashes = 0, items = 0;

			for (const char *s = p->param ? p->param : ""; *s; s++)
				hashes += *s == '#';
			for (const char *s = strstr(p->path, "item"); s; s = strstr(s + 1, "item"))
				items += (s == p->path || s[-1] == '/') && (s[4] == '/' || !s[4]);
			if (p->param && *p->param != '@' && hashes != items)
				return -1;
		}
	}
	return 0;
}
