"""The CLC with the real karri-cc (and karri-ncsim, its simulated nodes on
127.1.0.x): `karri register-cluster` / `register-nodes`, then instances run,
are described running and are terminated through the CC.  No guest boots;
the whole life cycle with real NCs and QEMU is the end-to-end tests' job."""

import os

import pytest

from harness.cc import NcSim
from harness.clc import ClcCloud, wait_for
from harness.daemons import Daemon
from harness.images import ImageStore

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="binds 127.1.0.x (fine as root)")


def test_instances_through_the_real_cc(tmp_path):
    os.makedirs(tmp_path / "cc")
    with NcSim(nodes=2) as ncs, \
            Daemon("karri-cc", str(tmp_path / "cc"), {"VNET_MODE": "SYSTEM",
                                                      "NC_POLLING_FREQUENCY": 1,
                                                      "SCHEDPOLICY": "ROUNDROBIN"}) as cc, \
            ClcCloud(tmp_path / "front") as cloud, \
            ImageStore(cloud, tmp_path / "walrus") as store:
        alice = cloud.user("alice")
        cloud.karri("register-cluster", "zone1", f"127.0.0.1:{cc.port}")
        p = cloud.karri("register-nodes", "zone1", *ncs.node_names(), check=False)
        assert p.returncode == 0, p.stderr
        ec2 = alice.ec2
        wait_for(lambda: ec2.describe_availability_zones()["AvailabilityZones"][0]["State"]
                 == "available")
        img = store.register(alice, "alice-b", "i")
        res = ec2.run_instances(ImageId=img, MinCount=2, MaxCount=2, InstanceType="m1.small")
        ids = [i["InstanceId"] for i in res["Instances"]]

        def states():
            r = ec2.describe_instances(InstanceIds=ids)["Reservations"]
            return {i["InstanceId"]: i["State"]["Name"] for x in r for i in x["Instances"]}
        wait_for(lambda: set(states().values()) == {"running"}, timeout=30)
        attach_volume_through_the_cc(tmp_path, cloud, ec2, ids[0])
        ec2.terminate_instances(InstanceIds=ids)
        wait_for(lambda: set(states().values()) == {"terminated"})


def attach_volume_through_the_cc(tmp_path, cloud, ec2, iid):
    """CLC -> CC (ncsim's storage MAC) -> a real karri-ebs export -> CC -> ncsim attach."""
    with Daemon("karri-ebs", str(tmp_path / "ebs"), {"EBS_STORAGE_INTERFACE": "lo"}) as ebs:
        cloud.karri("register-ebs", "ebs1", f"127.0.0.1:{ebs.port}")
        vol = ec2.create_volume(Size=1, AvailabilityZone="zone1")["VolumeId"]
        wait_for(lambda: ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] ==
                 "available", timeout=60)
        ec2.attach_volume(VolumeId=vol, InstanceId=iid, Device="/dev/vdb")
        v = ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]
        assert v["State"] == "in-use" and v["Attachments"][0]["InstanceId"] == iid, v
        ec2.detach_volume(VolumeId=vol)
        wait_for(lambda: ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] ==
                 "available", timeout=60)
        ec2.delete_volume(VolumeId=vol)
