"""The CC honours MinCount/MaxCount as EC2 does (issue 15).

A SmallCloud (CLC + real karri-cc + two karri-ncsim nodes of one core each,
so two m1.small fit): asking for 3 with MinCount 3 is refused with
InsufficientInstanceCapacity and leaves nothing; MinCount 1, MaxCount 3
starts the 2 that fit (the CLC's partial-start branch: the third row goes);
with the cloud full, MinCount 1 is refused.
"""

import os

import pytest

from harness.clc import wait_for
from harness.smallcloud import SmallCloud

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="binds 127.1.0.x (fine as root)")


def all_instances(user):
    r = user.ec2.describe_instances()["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for x in r for i in x["Instances"]}


def test_min_max_count(tmp_path):
    with SmallCloud(tmp_path, first_ip="127.1.0.101", nodes=2, cores=1) as sc:
        alice = sc.user("alice")
        emi = sc.image(alice, "img")
        sc.wait_zone(alice)
        ec2 = alice.ec2

        assert alice.code_of(ec2.run_instances, ImageId=emi, MinCount=3, MaxCount=3,
                             InstanceType="m1.small") == "InsufficientInstanceCapacity"
        assert all_instances(alice) == {}

        res = ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=3, InstanceType="m1.small")
        ids = sorted(i["InstanceId"] for i in res["Instances"])
        assert len(ids) == 2
        assert sorted(i["AmiLaunchIndex"] for i in res["Instances"]) == [0, 1]
        wait_for(lambda: all_instances(alice) == {i: "running" for i in ids}, timeout=30)
        # The CC placed the two that fit, one per node.
        assert "RunInstances %s: 2 instance(s)" % res["ReservationId"] in sc.cc.log()

        assert alice.code_of(ec2.run_instances, ImageId=emi, MinCount=1, MaxCount=1,
                             InstanceType="m1.small") == "InsufficientInstanceCapacity"
        assert set(all_instances(alice)) == set(ids)
        ec2.terminate_instances(InstanceIds=ids)
        wait_for(lambda: set(all_instances(alice).values()) == {"terminated"}, timeout=30)
