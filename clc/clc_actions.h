/*
 * clc_actions.h - the EC2 actions, one prototype each, grouped by the file
 * that implements them (the table is in actions.c).
 */
#ifndef KARRI_CLC_ACTIONS_H
#define KARRI_CLC_ACTIONS_H

#include <stddef.h>

struct clc_req;

extern const char *const clc_ec2_names[];	/* actions_ec2_names.c */
extern const size_t clc_ec2_names_n;
int clc_actions_check(void);			/* actions.c */
size_t clc_actions_count(void);

/* action_keypair.c */
int clc_create_key_pair(struct clc_req *r);
int clc_import_key_pair(struct clc_req *r);
int clc_describe_key_pairs(struct clc_req *r);
int clc_delete_key_pair(struct clc_req *r);

/* action_group.c */
int clc_create_security_group(struct clc_req *r);
int clc_delete_security_group(struct clc_req *r);
/* action_group_describe.c */
int clc_describe_security_groups(struct clc_req *r);
/* action_rule.c */
int clc_authorize_ingress(struct clc_req *r);
int clc_revoke_ingress(struct clc_req *r);

/* action_tag.c */
int clc_create_tags(struct clc_req *r);
int clc_delete_tags(struct clc_req *r);
int clc_describe_tags(struct clc_req *r);

/* action_zone.c */
int clc_describe_regions(struct clc_req *r);
int clc_describe_zones(struct clc_req *r);

/* action_instance_type.c */
int clc_describe_instance_types(struct clc_req *r);

/* action_image.c */
int clc_describe_images(struct clc_req *r);
int clc_register_image(struct clc_req *r);
int clc_deregister_image(struct clc_req *r);
/* action_image_attr.c */
int clc_describe_image_attribute(struct clc_req *r);
int clc_modify_image_attribute(struct clc_req *r);
int clc_reset_image_attribute(struct clc_req *r);

/* action_address.c */
int clc_allocate_address(struct clc_req *r);
int clc_release_address(struct clc_req *r);
int clc_describe_addresses(struct clc_req *r);
int clc_associate_address(struct clc_req *r);
int clc_disassociate_address(struct clc_req *r);

/* action_volume.c */
int clc_create_volume(struct clc_req *r);
int clc_delete_volume(struct clc_req *r);
int clc_describe_volumes(struct clc_req *r);
/* action_attach.c */
int clc_attach_volume(struct clc_req *r);
int clc_detach_volume(struct clc_req *r);
/* action_snapshot.c */
int clc_create_snapshot(struct clc_req *r);
int clc_delete_snapshot(struct clc_req *r);
int clc_describe_snapshots(struct clc_req *r);

/* action_run.c */
int clc_run_instances(struct clc_req *r);
/* action_instance.c */
int clc_terminate_instances(struct clc_req *r);
int clc_reboot_instances(struct clc_req *r);
int clc_start_instances(struct clc_req *r);
int clc_stop_instances(struct clc_req *r);
int clc_get_console_output(struct clc_req *r);
/* action_describe_instances.c */
int clc_describe_instances(struct clc_req *r);
/* action_instance_attr.c */
int clc_describe_instance_attribute(struct clc_req *r);
int clc_modify_instance_attribute(struct clc_req *r);
int clc_reset_instance_attribute(struct clc_req *r);
int clc_instances_check_protection(struct clc_req *r, const char **ids, size_t n);
/* action_instance_status.c */
int clc_describe_instance_status(struct clc_req *r);
int clc_describe_account_attributes(struct clc_req *r);

#endif
