/*
 * actions.c - the table of EC2 actions Karri implements.
 *
 * One line per action, pointing into the action_<family>.c that builds it.
 * Any other name EC2 knows (actions_ec2_names.c) is found too, with no function:
 * api_query.c answers it UnsupportedOperation; a name EC2 does not know is
 * InvalidAction.  Sorted by name for bsearch; a unit test checks the order.
 */
#include <stdlib.h>
#include <string.h>

#include "clc.h"
#include "clc_actions.h"

static const struct clc_action built[] = {
	{ "AllocateAddress", clc_allocate_address },
	{ "AssociateAddress", clc_associate_address },
	{ "AttachVolume", clc_attach_volume },
	{ "AuthorizeSecurityGroupIngress", clc_authorize_ingress },
	{ "CreateKeyPair", clc_create_key_pair },
	{ "CreateSecurityGroup", clc_create_security_group },
	{ "CreateSnapshot", clc_create_snapshot },
	{ "CreateTags", clc_create_tags },
	{ "CreateVolume", clc_create_volume },
	{ "DeleteKeyPair", clc_delete_key_pair },
	{ "DeleteSecurityGroup", clc_delete_security_group },
	{ "DeleteSnapshot", clc_delete_snapshot },
	{ "DeleteTags", clc_delete_tags },
	{ "DeleteVolume", clc_delete_volume },
	{ "DeregisterImage", clc_deregister_image },
	{ "DescribeAccountAttributes", clc_describe_account_attributes },
	{ "DescribeAddresses", clc_describe_addresses },
	{ "DescribeAvailabilityZones", clc_describe_zones },
	{ "DescribeImageAttribute", clc_describe_image_attribute },
	{ "DescribeImages", clc_describe_images },
	{ "DescribeInstanceAttribute", clc_describe_instance_attribute },
	{ "DescribeInstanceStatus", clc_describe_instance_status },
	{ "DescribeInstanceTypes", clc_describe_instance_types },
	{ "DescribeInstances", clc_describe_instances },
	{ "DescribeKeyPairs", clc_describe_key_pairs },
	{ "DescribeRegions", clc_describe_regions },
	{ "DescribeSecurityGroups", clc_describe_security_groups },
	{ "DescribeSnapshots", clc_describe_snapshots },
	{ "DescribeTags", clc_describe_tags },
	{ "DescribeVolumes", clc_describe_volumes },
	{ "DetachVolume", clc_detach_volume },
	{ "DisassociateAddress", clc_disassociate_address },
	{ "GetConsoleOutput", clc_get_console_output },
	{ "ImportKeyPair", clc_import_key_pair },
	{ "ModifyImageAttribute", clc_modify_image_attribute },
	{ "ModifyInstanceAttribute", clc_modify_instance_attribute },
	{ "RebootInstances", clc_reboot_instances },
	{ "RegisterImage", clc_register_image },
	{ "ReleaseAddress", clc_release_address },
	{ "ResetImageAttribute", clc_reset_image_attribute },
	{ "ResetInstanceAttribute", clc_reset_instance_attribute },
	{ "RevokeSecurityGroupIngress", clc_revoke_ingress },
	{ "RunInstances", clc_run_instances },
	{ "StartInstances", clc_start_instances },
	{ "StopInstances", clc_stop_instances },
	{ "TerminateInstances", clc_terminate_instances },
};

#define NBUILT (sizeof(built) / sizeof(built[0]))

static int
by_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct clc_action *)elem)->name);
}

static int
by_string(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

const struct clc_action *
clc_action_find(const char *name)
{
	static struct clc_action unbuilt;
	const struct clc_action *a = bsearch(name, built, NBUILT, sizeof(built[0]), by_name);
	const char *const *known;

	if (a)
		return a;
	known = bsearch(name, clc_ec2_names, clc_ec2_names_n, sizeof(clc_ec2_names[0]),
	    by_string);
	if (known == NULL)
		return NULL;
	unbuilt.name = *known;
	unbuilt.fn = NULL;
	return &unbuilt;
}

/* How many actions are built (the unit test matches docs/ec2-actions.md with it). */
size_t
clc_actions_count(void)
{
	return NBUILT;
}

/* For the unit test: both tables sorted, every built action a real EC2 name. */
int
clc_actions_check(void)
{
	for (size_t i = 1; i < NBUILT; i++)
		if (strcmp(built[i - 1].name, built[i].name) >= 0)
			return -1;
	for (size_t i = 1; i < clc_ec2_names_n; i++)
		if (strcmp(clc_ec2_names[i - 1], clc_ec2_names[i]) >= 0)
			return -1;
	for (size_t i = 0; i < NBUILT; i++)
		if (!bsearch(built[i].name, clc_ec2_names, clc_ec2_names_n,
		    sizeof(clc_ec2_names[0]), by_string))
			return -1;
	return 0;
}
