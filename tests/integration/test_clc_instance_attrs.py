"""Instance attributes (Describe/Modify/ResetInstanceAttribute) with EC2's rules
on what needs a stopped instance, termination protection refusing
TerminateInstances, DescribeInstanceStatus and DescribeAccountAttributes; with
awscli, boto3, boto2 (Attribute + Value, as older euca2ools send it) and
hand-signed Query requests in euca2ools 3.4's form (SigV4, Version=2015-10-01).
The CC is the stub (harness/ec2_ccstub.py).
"""

import base64
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from harness.clc import ClcCloud, register_stub_cluster, wait_for
from harness.images import ImageStore


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = ClcCloud(tmp_path_factory.mktemp("clcattr"))
    alice = c.user("alice")
    c.user("bob")
    cc = register_stub_cluster(c, "zone1")
    with c, ImageStore(c, tmp_path_factory.mktemp("clcattr-walrus")) as store:
        c.cc = cc
        c.image = store.register(alice, "alice-attr", "img")
        wait_for(lambda: alice.ec2.describe_availability_zones()["AvailabilityZones"][0]
                 ["State"] == "available")
        yield c
    cc.stop()


def run_one(cloud, **kw):
    ec2 = cloud.users["alice"].ec2
    iid = ec2.run_instances(ImageId=cloud.image, MinCount=1, MaxCount=1, **kw)[
        "Instances"][0]["InstanceId"]
    wait_for(lambda: ec2.describe_instances(InstanceIds=[iid])["Reservations"][0][
        "Instances"][0]["State"]["Name"] == "running")
    return iid


def query(cloud, user, params, version="2015-10-01"):
    """A Query request as euca2ools 3.4 sends it (SigV4 POST form): (status, XML root)."""
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    body = urllib.parse.urlencode({"Version": version, **params})
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=cloud.endpoint, data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    creds = botocore.credentials.Credentials(user.access, user.secret)
    botocore.auth.SigV4Auth(creds, "ec2", "undefined-1").add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=body.encode(), method="POST",
                               headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, ET.fromstring(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, ET.fromstring(e.read())


def strip_ns(root):
    for e in root.iter():
        e.tag = e.tag.split("}", 1)[-1]
    return root


@pytest.fixture(scope="module")
def inst(cloud):
    ec2 = cloud.users["alice"].ec2
    ec2.create_security_group(GroupName="attrg", Description="g")
    iid = run_one(cloud, UserData="hello attrs", SecurityGroups=["attrg"])
    yield iid
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[iid])


def test_describe_each_attribute(cloud, inst):
    ec2 = cloud.users["alice"].ec2

    def attr(name):
        return ec2.describe_instance_attribute(InstanceId=inst, Attribute=name)
    assert attr("instanceType")["InstanceType"]["Value"] == "m1.small"
    assert base64.b64decode(attr("userData")["UserData"]["Value"]) == b"hello attrs"
    assert attr("disableApiTermination")["DisableApiTermination"]["Value"] is False
    assert attr("instanceInitiatedShutdownBehavior")[
        "InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    assert attr("rootDeviceName")["RootDeviceName"]["Value"].startswith("/dev/")
    assert attr("blockDeviceMapping")["BlockDeviceMappings"] == []
    assert attr("sourceDestCheck")["SourceDestCheck"]["Value"] is True
    groups = attr("groupSet")["Groups"]
    assert [g["GroupName"] for g in groups] == ["attrg"]
    assert attr("productCodes")["ProductCodes"] == []
    assert attr("ebsOptimized")["EbsOptimized"]["Value"] is False
    assert attr("enaSupport")["EnaSupport"]["Value"] is False
    assert attr("disableApiStop")["DisableApiStop"]["Value"] is False
    assert attr("kernel")["InstanceId"] == inst
    # awscli's spelling, and the errors.
    out = cloud.users["alice"].aws("describe-instance-attribute", "--instance-id", inst,
                                   "--attribute", "instanceType")
    assert out["InstanceType"]["Value"] == "m1.small"
    alice = cloud.users["alice"]
    assert alice.code_of(ec2.describe_instance_attribute, InstanceId="i-00000bad",
                         Attribute="kernel") == "InvalidInstanceID.NotFound"
    bob = cloud.users["bob"]
    assert bob.code_of(bob.ec2.describe_instance_attribute, InstanceId=inst,
                       Attribute="kernel") == "InvalidInstanceID.NotFound"
    st, root = query(cloud, alice, {"Action": "DescribeInstanceAttribute",
                                    "InstanceId": inst, "Attribute": "nope"})
    assert st == 400 and root.find(".//Code").text == "InvalidParameterValue"


def test_modify_needs_stopped_or_is_refused_as_ec2_does(cloud, inst):
    alice = cloud.users["alice"]
    ec2 = alice.ec2
    for kw in ({"InstanceType": {"Value": "c1.medium"}}, {"Kernel": {"Value": "eki-1"}},
               {"Ramdisk": {"Value": "eri-1"}}, {"UserData": {"Value": b"x"}},
               {"EbsOptimized": {"Value": True}}, {"EnaSupport": {"Value": True}},
               {"SriovNetSupport": {"Value": "simple"}}):
        assert alice.code_of(ec2.modify_instance_attribute, InstanceId=inst, **kw) == \
            "IncorrectInstanceState", kw
    assert alice.code_of(ec2.modify_instance_attribute, InstanceId=inst,
                         InstanceInitiatedShutdownBehavior={"Value": "stop"}) == \
        "UnsupportedOperation"
    ec2.modify_instance_attribute(InstanceId=inst,
                                  InstanceInitiatedShutdownBehavior={"Value": "terminate"})
    # Two attributes at once, a read-only one.
    assert alice.code_of(ec2.modify_instance_attribute, InstanceId=inst,
                         SourceDestCheck={"Value": False},
                         DisableApiTermination={"Value": True}) == \
        "InvalidParameterCombination"
    st, root = query(cloud, alice, {"Action": "ModifyInstanceAttribute", "InstanceId": inst,
                                    "Attribute": "rootDeviceName", "Value": "/dev/sdz"})
    assert st == 400 and root.find(".//Code").text == "InvalidParameterValue"
    # Groups: the same set is fine, another set is not (EC2-Classic rule).
    gid = ec2.describe_instance_attribute(InstanceId=inst, Attribute="groupSet")[
        "Groups"][0]["GroupId"]
    ec2.modify_instance_attribute(InstanceId=inst, Groups=[gid])
    other = ec2.create_security_group(GroupName="attrg2", Description="g2")["GroupId"]
    assert alice.code_of(ec2.modify_instance_attribute, InstanceId=inst,
                         Groups=[other]) == "InvalidParameterCombination"
    assert alice.code_of(ec2.modify_instance_attribute, InstanceId=inst,
                         BlockDeviceMappings=[{"DeviceName": "/dev/sdx",
                                               "Ebs": {"DeleteOnTermination": False}}]) == \
        "InvalidInstanceAttributeValue"


def test_source_dest_check_modify_and_reset(cloud, inst):
    alice = cloud.users["alice"]
    ec2 = alice.ec2
    ec2.modify_instance_attribute(InstanceId=inst, SourceDestCheck={"Value": False})
    assert ec2.describe_instance_attribute(InstanceId=inst, Attribute="sourceDestCheck")[
        "SourceDestCheck"]["Value"] is False
    ec2.reset_instance_attribute(InstanceId=inst, Attribute="sourceDestCheck")
    assert ec2.describe_instance_attribute(InstanceId=inst, Attribute="sourceDestCheck")[
        "SourceDestCheck"]["Value"] is True
    assert alice.code_of(ec2.reset_instance_attribute, InstanceId=inst,
                         Attribute="kernel") == "IncorrectInstanceState"
    assert alice.code_of(ec2.reset_instance_attribute, InstanceId=inst,
                         Attribute="instanceType") == "InvalidParameterValue"


def test_termination_protection(cloud, inst):
    alice = cloud.users["alice"]
    ec2 = alice.ec2
    # boto2 as euca2ools 3.1 sends it: Attribute=disableApiTermination&Value=true (SigV2).
    assert alice.boto2().modify_instance_attribute(inst, "disableApiTermination", True)
    assert ec2.describe_instance_attribute(InstanceId=inst, Attribute="disableApiTermination")[
        "DisableApiTermination"]["Value"] is True
    other = run_one(cloud)
    before = len(cloud.cc.ops("TerminateInstances"))
    assert alice.code_of(ec2.terminate_instances, InstanceIds=[other, inst]) == \
        "OperationNotPermitted"
    # Nothing was terminated, the unprotected one included (EC2 refuses the whole call).
    assert len(cloud.cc.ops("TerminateInstances")) == before
    state = ec2.describe_instances(InstanceIds=[other])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"
    # euca2ools 3.4's form turns it off again.
    st, _ = query(cloud, alice, {"Action": "ModifyInstanceAttribute", "InstanceId": inst,
                                 "DisableApiTermination.Value": "false"})
    assert st == 200
    ec2.terminate_instances(InstanceIds=[other])
    ec2.modify_instance_attribute(InstanceId=inst, DisableApiTermination={"Value": True})


def test_describe_instance_status(cloud, inst):
    alice = cloud.users["alice"]
    ec2 = alice.ec2
    got = ec2.describe_instance_status(InstanceIds=[inst])["InstanceStatuses"]
    assert len(got) == 1
    s = got[0]
    assert s["InstanceState"]["Name"] == "running" and s["AvailabilityZone"] == "zone1"
    assert s["SystemStatus"]["Status"] == "ok" and s["InstanceStatus"]["Status"] == "ok"
    assert s["InstanceStatus"]["Details"][0] == {"Name": "reachability", "Status": "passed"}
    out = alice.aws("describe-instance-status", "--filters",
                    "Name=instance-status.status,Values=ok")
    assert inst in [x["InstanceId"] for x in out["InstanceStatuses"]]
    # A terminated instance shows only with IncludeAllInstances.
    gone = run_one(cloud)
    ec2.terminate_instances(InstanceIds=[gone])
    assert gone not in [x["InstanceId"] for x in
                        ec2.describe_instance_status()["InstanceStatuses"]]
    every = ec2.describe_instance_status(IncludeAllInstances=True)["InstanceStatuses"]
    mine = [x for x in every if x["InstanceId"] == gone][0]
    assert mine["InstanceStatus"]["Status"] == "not-applicable"
    # Pages.
    pages = list(ec2.get_paginator("describe_instance_status").paginate(
        IncludeAllInstances=True, PaginationConfig={"PageSize": 5}))
    ids = [x["InstanceId"] for p in pages for x in p["InstanceStatuses"]]
    assert sorted(ids) == sorted(x["InstanceId"] for x in every) and len(set(ids)) == len(ids)
    assert alice.code_of(ec2.describe_instance_status, InstanceIds=["i-00000bad"]) == \
        "InvalidInstanceID.NotFound"


def test_describe_account_attributes(cloud):
    alice = cloud.users["alice"]
    got = alice.aws("describe-account-attributes")["AccountAttributes"]
    attrs = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
             for a in got}
    assert attrs["supported-platforms"] == ["EC2"] and attrs["default-vpc"] == ["none"]
    assert int(attrs["max-instances"][0]) > 0
    assert attrs["max-elastic-ips"] == ["3"]        # VNET_PUBLICIPS of ClcCloud
    one = alice.ec2.describe_account_attributes(AttributeNames=["default-vpc"])
    assert [a["AttributeName"] for a in one["AccountAttributes"]] == ["default-vpc"]
    st, root = query(cloud, alice, {"Action": "DescribeAccountAttributes",
                                    "AttributeName.1": "supported-platforms"})
    assert st == 200
    root = strip_ns(root)
    assert root.find(".//attributeValue").text == "EC2"


def test_describe_instance_types_both_shapes(cloud):
    alice = cloud.users["alice"]
    # euca-describe-instance-types --show-capacity (euca2ools 3.4, Version 2015-10-01).
    st, root = query(cloud, alice, {"Action": "DescribeInstanceTypes",
                                    "Availability": "true"})
    assert st == 200
    items = strip_ns(root).findall("./instanceTypeDetails/item")
    small = {e.tag: e for e in items[0]}
    assert [i.find("name").text for i in items][:2] == ["m1.small", "c1.medium"]
    assert (small["cpu"].text, small["memory"].text, small["disk"].text) == ("1", "128", "2")
    zones = small["availability"].findall("item")
    assert [z.find("zoneName").text for z in zones] == ["zone1"]
    assert int(zones[0].find("max").text) >= int(zones[0].find("available").text) >= 0
    assert int(zones[0].find("max").text) > 0
    # Without capacity, and for named types only.
    st, root = query(cloud, alice, {"Action": "DescribeInstanceTypes",
                                    "Availability": "false", "InstanceType.1": "m1.large"})
    items = strip_ns(root).findall("./instanceTypeDetails/item")
    assert [i.find("name").text for i in items] == ["m1.large"]
    assert items[0].find("availability") is None
    # An old Version alone is Eucalyptus' shape too (euca2ools without options).
    st, root = query(cloud, alice, {"Action": "DescribeInstanceTypes"})
    assert strip_ns(root).find("./instanceTypeDetails") is not None
    # awscli and boto3 (Version 2016-11-15) keep EC2's shape.
    got = alice.aws("describe-instance-types", "--instance-types", "m1.small")["InstanceTypes"]
    assert got[0]["VCpuInfo"]["DefaultVCpus"] == 1 and got[0]["MemoryInfo"]["SizeInMiB"] == 128
    every = alice.ec2.describe_instance_types(MaxResults=5)["InstanceTypes"]
    assert len(every) == 5
    assert alice.code_of(alice.ec2.describe_instance_types, InstanceTypes=["t9.huge"]) == \
        "InvalidInstanceType"
    st, root = query(cloud, alice, {"Action": "DescribeInstanceTypes", "Availability": "true",
                                    "MaxResults": "5"}, version="2016-11-15")
    assert st == 400
