"""One error path across the hops: the EC2 code and message decided where a
failure is detected reach the EC2 client unchanged (common/soap/soap_error.c).

- A node (karri-ncsim) refuses a launch the CC thought would fit:
  InsufficientInstanceCapacity with the node's own message, through the CC
  and the CLC, seen by boto3; nothing is left half-made.
- The CC's scheduler refuses a launch that fits no node: its code and
  message, seen by awscli.
- karri-ebs refuses a volume over EBS_MAX_VOLUME_SIZE: VolumeLimitExceeded
  with the message EBS logged, seen by boto3 and awscli.
"""

import os
import urllib.request

import botocore.exceptions
import pytest

from harness.cc import NcSim
from harness.clc import AwsError, ClcCloud, wait_for
from harness.daemons import Daemon
from harness.images import ImageStore

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="binds 127.1.0.x (fine as root)")

NC_NS = "urn:karri:nc:2026-11"
KR_NS = "urn:karri:types:2026-11"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def boto_error(fn, **kw):
    """(code, message) of a boto3 call that must fail."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def fill_node_behind_the_ccs_back(node, iid):
    """An ncRunInstance straight to a simulated node: the CC learns of it only
    at its next poll (an hour away here), so it still counts the node free."""
    body = (f'<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}"'
            f' xmlns:nc="{NC_NS}" xmlns:kr="{KR_NS}"><SOAP-ENV:Body><nc:ncRunInstance>'
            f"<nc:correlationId>fill</nc:correlationId><nc:userId>test</nc:userId>"
            f"<nc:imageId>emi-00000001</nc:imageId><nc:instanceId>{iid}</nc:instanceId>"
            f"<nc:reservationId>r-00000001</nc:reservationId><nc:instanceType>"
            f"<kr:name>m1.small</kr:name><kr:memory>128</kr:memory><kr:cores>1</kr:cores>"
            f"<kr:disk>2</kr:disk></nc:instanceType></nc:ncRunInstance></SOAP-ENV:Body>"
            f"</SOAP-ENV:Envelope>")
    req = urllib.request.Request(f"http://{node}/", data=body.encode(), method="POST", headers={
        "Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"urn:karri:nc#ncRunInstance"'})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert b"<nc:return>true</nc:return>" in r.read()


def test_codes_decided_at_the_node_the_cc_and_ebs_reach_the_client(tmp_path):
    os.makedirs(tmp_path / "cc")
    # One node with one core: one m1.small fills it.
    with NcSim(nodes=1, cores=1) as ncs, \
            Daemon("karri-cc", str(tmp_path / "cc"), {"VNET_MODE": "SYSTEM",
                                                      "NC_POLLING_FREQUENCY": 3600}) as cc, \
            ClcCloud(tmp_path / "front") as cloud, \
            ImageStore(cloud, tmp_path / "walrus") as store, \
            Daemon("karri-ebs", str(tmp_path / "ebs"), {"EBS_STORAGE_INTERFACE": "lo",
                                                        "EBS_MAX_VOLUME_SIZE": 1}) as ebs:
        alice = cloud.user("alice")
        cloud.karri("register-cluster", "zone1", f"127.0.0.1:{cc.port}")
        assert cloud.karri("register-nodes", "zone1", *ncs.node_names(),
                           check=False).returncode == 0
        cloud.karri("register-ebs", "ebs1", f"127.0.0.1:{ebs.port}")
        ec2 = alice.ec2

        # The CC has polled its node once (it is available with room for one).
        wait_for(lambda: ec2.describe_availability_zones()["AvailabilityZones"][0]["State"]
                 == "available")
        img = store.register(alice, "alice-e", "i")

        # 1. The node decides: the CC still counts the core free, the node has none.
        fill_node_behind_the_ccs_back(ncs.node_names()[0], "i-0e0e0e01")
        code, message = boto_error(ec2.run_instances, ImageId=img, MinCount=1, MaxCount=1,
                                   InstanceType="m1.small")
        assert (code, message) == ("InsufficientInstanceCapacity", "the node is full")
        assert "refused: InsufficientInstanceCapacity: the node is full" in cc.log()
        # Nothing half-made: the launch's rows are gone or terminated.
        left = [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"]
                for i in r["Instances"]]
        assert set(left) <= {"terminated"}, left

        # 2. The CC's scheduler decides (two need two cores; the node has one).
        with pytest.raises(AwsError) as e:
            alice.aws("run-instances", "--image-id", img, "--count", "2",
                      "--instance-type", "m1.small")
        assert e.value.code == "InsufficientInstanceCapacity"
        assert "not enough capacity for 2 instance(s) of 1 core(s)" in e.value.message

        # 3. EBS decides, seen by boto3 and by awscli with EBS's own words.
        said = "a volume of 2 GiB is larger than EBS_MAX_VOLUME_SIZE (1 GiB)"
        code, message = boto_error(ec2.create_volume, Size=2, AvailabilityZone="zone1")
        assert (code, message) == ("VolumeLimitExceeded", said)
        assert f"refused: VolumeLimitExceeded: {said}" in ebs.log()
        with pytest.raises(AwsError) as e:
            alice.aws("create-volume", "--size", "2", "--availability-zone", "zone1")
        assert e.value.code == "VolumeLimitExceeded" and said in e.value.message
        # The refused volume was not recorded.
        assert ec2.describe_volumes()["Volumes"] == []
