#!/usr/bin/python3
"""Write docs/ec2-actions.md: every EC2 action euca2ools 3.4 and awscli's `ec2`
commands call for what Karri does (instances, images, key pairs, groups,
addresses, volumes, snapshots, tags, zones; and the VPC, import, Windows and
sharing actions around them), each supported or answering UnsupportedOperation,
and why.

Which actions are built is read from clc/actions.c (the table query.c
dispatches on); the notes and the reasons come from the lists below.  The
action names are checked against botocore's EC2 model.  clc/clc-test.c reads
the generated table back and fails when it and actions.c disagree, so run
this after adding a row to actions.c:

    /usr/bin/python3 tools/ec2_actions_doc.py
"""

import json
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "/usr/lib/python3/dist-packages/botocore/data/ec2/2016-11-15/service-2.json"

# Built actions: what to know about them (empty: works as on EC2).
NOTES = {
    "DescribeInstanceTypes": "Eucalyptus' shape (Availability, Verbose: instanceTypeDetails "
                             "with per-zone capacity) before Version 2016-11-15, EC2's after",
    "DescribeInstanceAttribute": "instance-store rules: instanceInitiatedShutdownBehavior "
                                 "is always terminate",
    "ModifyInstanceAttribute": "instanceType, kernel, ramdisk, userData, ebsOptimized, "
                               "enaSupport, sriovNetSupport need a stopped instance, which "
                               "an instance-store instance never is: IncorrectInstanceState; "
                               "groupSet cannot change (EC2-Classic)",
    "ResetInstanceAttribute": "sourceDestCheck; kernel and ramdisk need a stopped instance",
    "StartInstances": "answers UnsupportedOperation: instance-store instances cannot be "
                      "started or stopped (EC2's answer for them)",
    "StopInstances": "as StartInstances",
    "TerminateInstances": "refused with OperationNotPermitted while disableApiTermination "
                          "is set",
    "DescribeInstanceStatus": "ok/passed while the node reports the instance running",
    "DescribeAccountAttributes": "supported-platforms EC2, default-vpc none",
    "DescribeSnapshots": "RestorableBy lists nothing: no snapshot is shared",
    "RegisterImage": "bundles only (ImageLocation); VirtualizationType paravirtual needs "
                     "KernelId",
    "DescribeAvailabilityZones": "ZoneName.1=verbose shows capacity, as Eucalyptus did",
    "DescribeInstances": "InstanceId.1=verbose shows every account's to the admin",
}

VPC = "Karri's networks are EC2-Classic-like (security groups, elastic IPs): no VPC"
# Actions the clients call that Karri answers with UnsupportedOperation, and why.
NOT = {
    "AssignPrivateIpAddresses": VPC + " network interfaces",
    "AssociateDhcpOptions": VPC,
    "AssociateRouteTable": VPC,
    "AttachInternetGateway": VPC,
    "AttachNetworkInterface": VPC + " network interfaces",
    "AttachVpnGateway": VPC,
    "AuthorizeSecurityGroupEgress": "groups filter ingress only, as EC2-Classic groups did",
    "BundleInstance": "Windows instance bundling: Karri runs no Windows instances",
    "CancelBundleTask": "as BundleInstance",
    "CancelConversionTask": "no VM import",
    "ConfirmProductInstance": "no product codes",
    "CopyImage": "one region: register the bundle again instead",
    "CopySnapshot": "one region",
    "CreateCustomerGateway": VPC,
    "CreateDhcpOptions": VPC + "; the CC's DHCP hands out VNET_DNS",
    "CreateImage": "instance-store instances: bundle the image (euca-bundle-vol) and "
                   "RegisterImage it",
    "CreateInternetGateway": VPC,
    "CreateNatGateway": VPC,
    "CreateNetworkAcl": VPC,
    "CreateNetworkAclEntry": VPC,
    "CreateNetworkInterface": VPC + " network interfaces",
    "CreateRoute": VPC,
    "CreateRouteTable": VPC,
    "CreateSubnet": VPC,
    "CreateVpc": VPC,
    "CreateVpcPeeringConnection": VPC,
    "CreateVpnConnection": VPC,
    "CreateVpnGateway": VPC,
    "DeleteCustomerGateway": VPC,
    "DeleteDhcpOptions": VPC,
    "DeleteInternetGateway": VPC,
    "DeleteNatGateway": VPC,
    "DeleteNetworkAcl": VPC,
    "DeleteNetworkAclEntry": VPC,
    "DeleteNetworkInterface": VPC,
    "DeleteRoute": VPC,
    "DeleteRouteTable": VPC,
    "DeleteSubnet": VPC,
    "DeleteVpc": VPC,
    "DeleteVpcPeeringConnection": VPC,
    "DeleteVpnConnection": VPC,
    "DeleteVpnGateway": VPC,
    "DescribeBundleTasks": "as BundleInstance",
    "DescribeConversionTasks": "no VM import",
    "DescribeCustomerGateways": VPC,
    "DescribeDhcpOptions": VPC,
    "DescribeInternetGateways": VPC,
    "DescribeNatGateways": VPC,
    "DescribeNetworkAcls": VPC,
    "DescribeNetworkInterfaceAttribute": VPC,
    "DescribeNetworkInterfaces": VPC + " network interfaces",
    "DescribeRouteTables": VPC,
    "DescribeSnapshotAttribute": "snapshots are not shared (createVolumePermission)",
    "DescribeSubnets": VPC,
    "DescribeVpcAttribute": VPC,
    "DescribeVpcPeeringConnections": VPC,
    "DescribeVpcs": VPC,
    "DescribeVpnConnections": VPC,
    "DescribeVpnGateways": VPC,
    "DetachInternetGateway": VPC,
    "DetachNetworkInterface": VPC,
    "DetachVpnGateway": VPC,
    "DisassociateRouteTable": VPC,
    "GetPasswordData": "no Windows instances",
    "ImportInstance": "no VM import: bundle and register the image",
    "ImportVolume": "no VM import: create a volume and write it from an instance",
    "ModifyNetworkInterfaceAttribute": VPC,
    "ModifySnapshotAttribute": "snapshots are not shared",
    "ModifySubnetAttribute": VPC,
    "ModifyVpcAttribute": VPC,
    "MonitorInstances": "no CloudWatch: monitoring is always disabled",
    "ReplaceNetworkAclAssociation": VPC,
    "ReplaceNetworkAclEntry": VPC,
    "ReplaceRoute": VPC,
    "ReplaceRouteTableAssociation": VPC,
    "ResetNetworkInterfaceAttribute": VPC,
    "ResetSnapshotAttribute": "snapshots are not shared",
    "RevokeSecurityGroupEgress": "as AuthorizeSecurityGroupEgress",
    "UnassignPrivateIpAddresses": VPC,
    "UnmonitorInstances": "as MonitorInstances",
    "DescribeSpotInstanceRequests": "no spot market",
    "RequestSpotInstances": "no spot market",
    "CancelSpotInstanceRequests": "no spot market",
    "DescribeSpotPriceHistory": "no spot market",
    "DescribeReservedInstances": "no reserved instances",
    "DescribeReservedInstancesOfferings": "no reserved instances",
    "DescribePlacementGroups": "no placement groups: a cluster is a zone",
    "CreatePlacementGroup": "no placement groups: a cluster is a zone",
    "DeletePlacementGroup": "no placement groups: a cluster is a zone",
    "DescribeIamInstanceProfileAssociations": "no IAM",
    "AssociateIamInstanceProfile": "no IAM",
    "DescribeVolumeStatus": "volumes have no status checks",
    "DescribeVolumeAttribute": "no autoEnableIO or productCodes on volumes",
    "ModifyVolume": "volumes keep their size: create a bigger one from a snapshot",
    "ModifyInstanceMetadataOptions": "the admin sets IMDSv2 for the cloud "
                                     "(CLC_METADATA_TOKENS), not per instance",
    "GetConsoleScreenshot": "serial console only (GetConsoleOutput)",
}

# euca2ools commands Karri does not serve because EC2 has no such action.
EUCA_ONLY = {
    "ModifyInstanceTypeAttribute": "Eucalyptus' euca-modify-instance-type: instance types "
                                   "are changed with `karri` on the front end; answered "
                                   "InvalidAction, as for any name EC2 does not know",
}


def built_actions():
    with open(os.path.join(TOP, "clc/actions.c")) as f:
        return re.findall(r'^\t\{ "([A-Za-z]+)", clc_[a-z_]+ \},$', f.read(), re.M)


def main():
    built = built_actions()
    known = set(json.load(open(MODEL))["operations"]) if os.path.exists(MODEL) else None
    rows = [(a, "yes", NOTES.get(a, "")) for a in built]
    rows += [(a, "no", why) for a, why in NOT.items() if a not in built]
    bad = [a for a, _, _ in rows if known is not None and a not in known]
    if bad:
        sys.exit("not EC2 actions in botocore's model: " + ", ".join(bad))
    out = ["# EC2 actions and Karri", "",
           "Generated by `tools/ec2_actions_doc.py` from `clc/actions.c` (what is built) and",
           "its lists (why not); `clc/clc-test.c` checks this table against `actions.c`.",
           "Every action euca2ools 3.4 and awscli's `ec2` commands call for instances,",
           "images, key pairs, security groups, addresses, volumes, snapshots, tags and zones,",
           "and the VPC, import, Windows and sharing actions around them.  `no` actions answer",
           "`UnsupportedOperation` (HTTP 400); so does any other action in botocore's EC2",
           "model; a name EC2 does not know is `InvalidAction`.", "",
           "| Action | Supported | Notes / why not |", "|---|---|---|"]
    for a, yes, why in sorted(rows):
        out.append(f"| {a} | {yes} | {why} |")
    out += ["", "Eucalyptus-only actions euca2ools 3.4 sends:", "",
            "| Action | Supported | Notes / why not |", "|---|---|---|"]
    for a, why in sorted(EUCA_ONLY.items()):
        out.append(f"| {a} | no | {why} |")
    with open(os.path.join(TOP, "docs/ec2-actions.md"), "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
