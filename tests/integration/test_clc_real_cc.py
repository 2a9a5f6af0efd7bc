"""The CLC with the real karri-cc (and karri-ncsim, its simulated nodes on
127.1.0.x): `karri register-cluster` / `register-nodes`, then instances run,
are described running and are terminated through the CC.  The owner sees
how the node attached each instance's disk and NIC (tags karri:disk and
karri:net, read-only) and how each attached volume reached its guest
(karri:path), through awscli and EC2 SOAP.  No guest boots; the whole life
cycle with real NCs and QEMU is the end-to-end tests' job."""

import os

import pytest

from harness import ec2soap
from harness.aoe import Ebs
from harness.cc import NcSim
from harness.clc import AwsError, ClcCloud, wait_for
from harness.daemons import Daemon
from harness.images import ImageStore

# What karri-ncsim reports for every instance (cc/ncsim.c), as the NC's policy words.
NCSIM_DISK = "bus=virtio backing=tap cache=none io=native"
NCSIM_NET = "model=virtio"

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
        owner_sees_the_attachment_choice(tmp_path, cloud, alice, ids)
        attach_volume_through_the_cc(tmp_path, cloud, alice, ids[0])
        ec2.terminate_instances(InstanceIds=ids)
        wait_for(lambda: set(states().values()) == {"terminated"})


def tags(item):
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}


def instance_ids(answer):
    return sorted(i["InstanceId"] for r in answer["Reservations"] for i in r["Instances"])


def owner_sees_the_attachment_choice(tmp_path, cloud, alice, ids):
    """karri:disk / karri:net as tags: described, filtered, listed, never writable."""
    def described():
        got = alice.aws("describe-instances", "--instance-ids", *ids)["Reservations"]
        return {i["InstanceId"]: tags(i) for r in got for i in r["Instances"]}
    want = {"karri:disk": NCSIM_DISK, "karri:net": NCSIM_NET}
    assert described() == {i: want for i in ids}
    # They filter like any tag.
    assert instance_ids(alice.aws("describe-instances", "--filters",
                                  "Name=tag:karri:disk,Values=bus=virtio *")) == sorted(ids)
    assert instance_ids(alice.aws("describe-instances", "--filters",
                                  "Name=tag-key,Values=karri:net")) == sorted(ids)
    assert instance_ids(alice.aws("describe-instances", "--filters",
                                  "Name=tag:karri:disk,Values=bus=ide*")) == []
    # Read-only: neither made, changed nor deleted by the owner; stored tags live beside.
    for args in (("create-tags", "--resources", ids[0], "--tags", "Key=karri:disk,Value=x"),
                 ("create-tags", "--resources", ids[0], "--tags", "Key=karri:mine,Value=x"),
                 ("delete-tags", "--resources", ids[0], "--tags", "Key=karri:disk")):
        with pytest.raises(AwsError) as e:
            alice.aws(*args)
        assert e.value.code == "InvalidParameterValue" and "'karri:'" in e.value.message
    alice.aws("create-tags", "--resources", *ids, "--tags", "Key=role,Value=db")
    assert described() == {i: {**want, "role": "db"} for i in ids}
    alice.aws("delete-tags", "--resources", ids[1])          # every tag the owner made
    assert described() == {ids[0]: {**want, "role": "db"}, ids[1]: want}
    # DescribeTags lists them (resource type and all), and pages through both kinds.
    listed = alice.aws("describe-tags", "--filters", "Name=resource-id,Values=" + ids[0])
    assert sorted((t["Key"], t["Value"], t["ResourceType"]) for t in listed["Tags"]) == \
        [("karri:disk", NCSIM_DISK, "instance"), ("karri:net", NCSIM_NET, "instance"),
         ("role", "db", "instance")]
    # 2 stored and 4 derived tags: the second page starts among the derived ones.
    alice.aws("create-tags", "--resources", ids[1], "--tags", "Key=team,Value=core")
    pages = list(alice.ec2.get_paginator("describe_tags").paginate(
        PaginationConfig={"PageSize": 5}))
    every = [(t["ResourceId"], t["Key"]) for p in pages for t in p["Tags"]]
    assert [len(p["Tags"]) for p in pages] == [5, 1] and len(set(every)) == 6, pages
    soap_describe_shows_them(tmp_path, cloud, alice, ids[0], {**want, "role": "db"})


def soap_describe_shows_them(tmp_path, cloud, alice, iid, want):
    """EC2 SOAP's DescribeInstances (signed by xmlsec1) carries the same tagSet."""
    d = tmp_path / "creds"
    cloud.karri("credentials", "alice", str(d))
    n = "{%s}" % ec2soap.ns("2014-10-01")
    body = ec2soap.signed(f'<DescribeInstances xmlns="{ec2soap.ns("2014-10-01")}">'
                          f'<instancesSet><item><instanceId>{iid}</instanceId></item>'
                          '</instancesSet></DescribeInstances>',
                          (d / "alice-cert.pem").read_text(), str(d / "alice-pk.pem"))
    status, root = ec2soap.post(f"http://127.0.0.1:{cloud.port}/services/Eucalyptus", body)
    assert status == 200, ec2soap.fault(root)
    items = ec2soap.response(root).findall(
        f"{n}reservationSet/{n}item/{n}instancesSet/{n}item/{n}tagSet/{n}item")
    assert {i.findtext(n + "key"): i.findtext(n + "value") for i in items} == want


def attach_volume_through_the_cc(tmp_path, cloud, alice, iid):
    """CLC -> CC (ncsim's storage MAC) -> a real karri-ebs export -> CC -> ncsim attach;
    the volume carries the path ncsim took (nbd) as karri:path while attached."""
    ec2 = alice.ec2
    with Daemon("karri-ebs", str(tmp_path / "ebs"), {"EBS_STORAGE_INTERFACE": "lo"}) as ebs:
        cloud.karri("register-ebs", "ebs1", f"127.0.0.1:{ebs.port}")
        vol = ec2.create_volume(Size=1, AvailabilityZone="zone1")["VolumeId"]
        wait_for(lambda: ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] ==
                 "available", timeout=60)
        ec2.attach_volume(VolumeId=vol, InstanceId=iid, Device="/dev/vdb")
        v = alice.aws("describe-volumes", "--volume-ids", vol)["Volumes"][0]
        assert v["State"] == "in-use" and v["Attachments"][0]["InstanceId"] == iid, v
        assert tags(v) == {"karri:path": "nbd"}
        by_path = alice.aws("describe-volumes", "--filters", "Name=tag:karri:path,Values=nbd")
        assert [x["VolumeId"] for x in by_path["Volumes"]] == [vol]
        listed = alice.aws("describe-tags", "--filters", "Name=resource-type,Values=volume")
        assert [(t["ResourceId"], t["Key"], t["Value"]) for t in listed["Tags"]] == \
            [(vol, "karri:path", "nbd")]
        with pytest.raises(AwsError) as e:
            alice.aws("delete-tags", "--resources", vol, "--tags", "Key=karri:path")
        assert e.value.code == "InvalidParameterValue"
        status = cloud.karri("status", check=False).stdout
        assert any(line.split() == [vol, alice.account, iid, "/dev/vdb", "nbd"]
                   for line in status.splitlines()), status
        detached = ec2.detach_volume(VolumeId=vol)
        assert detached["Device"] == "/dev/vdb" and detached["State"] == "detaching", detached
        wait_for(lambda: ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] ==
                 "available", timeout=60)
        assert tags(alice.aws("describe-volumes", "--volume-ids", vol)["Volumes"][0]) == {}
        assert alice.aws("describe-tags", "--filters",
                         "Name=resource-id,Values=" + vol)["Tags"] == []
        assert vol not in cloud.karri("status", check=False).stdout
        ec2.delete_volume(VolumeId=vol)


def test_guest_side_aoe_volume_is_exported_to_the_instance_nic(tmp_path):
    """An io-class instance on a node with NC_GUEST_AOE=io (ncsim --guest-aoe io)
    has its own storage NIC (karri:net storage=MAC); AttachVolume exports the
    volume to that MAC alone, not the node's, and the volume shows karri:path=guest."""
    os.makedirs(tmp_path / "cc")
    with NcSim(nodes=1, guest_aoe="io") as ncs, \
            Daemon("karri-cc", str(tmp_path / "cc"), {"VNET_MODE": "SYSTEM",
                                                      "NC_POLLING_FREQUENCY": 1}) as cc, \
            ClcCloud(tmp_path / "front") as cloud, \
            ImageStore(cloud, tmp_path / "walrus") as store, \
            Daemon("karri-ebs", str(tmp_path / "ebs"), {"EBS_STORAGE_INTERFACE": "lo"}) as ebs:
        alice = cloud.user("alice")
        cloud.karri("register-cluster", "zone1", f"127.0.0.1:{cc.port}")
        assert cloud.karri("register-nodes", "zone1", *ncs.node_names(),
                           check=False).returncode == 0
        cloud.karri("register-ebs", "ebs1", f"127.0.0.1:{ebs.port}")
        ec2 = alice.ec2
        wait_for(lambda: ec2.describe_availability_zones()["AvailabilityZones"][0]["State"]
                 == "available")
        img = store.register(alice, "alice-g", "i")
        small, large = (ec2.run_instances(ImageId=img, MinCount=1, MaxCount=1,
                                          InstanceType=t)["Instances"][0]["InstanceId"]
                        for t in ("m1.small", "m1.large"))

        def nets():
            r = ec2.describe_instances(InstanceIds=[small, large])["Reservations"]
            return {i["InstanceId"]: (i["State"]["Name"], tags(i).get("karri:net"))
                    for x in r for i in x["Instances"]}
        mac = "d2:0d:" + ":".join(large[2 + k:4 + k] for k in range(0, 8, 2))
        want = {small: ("running", NCSIM_NET), large: ("running", "model=virtio storage=" + mac)}
        try:
            wait_for(lambda: nets() == want, timeout=30)
        except TimeoutError:
            assert nets() == want
        vol = ec2.create_volume(Size=1, AvailabilityZone="zone1")["VolumeId"]
        wait_for(lambda: ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] ==
                 "available", timeout=60)
        ec2.attach_volume(VolumeId=vol, InstanceId=large, Device="/dev/vdb")
        v = alice.aws("describe-volumes", "--volume-ids", vol)["Volumes"][0]
        assert v["State"] == "in-use" and tags(v) == {"karri:path": "guest"}, v
        exported = Ebs(ebs.url).describe_volumes(vol)["volumes"]
        assert exported["allowedMacs"] == mac, exported
        ec2.detach_volume(VolumeId=vol)
        wait_for(lambda: ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] ==
                 "available", timeout=60)
        assert "allowedMacs" not in Ebs(ebs.url).describe_volumes(vol)["volumes"]
        ec2.delete_volume(VolumeId=vol)
        ec2.terminate_instances(InstanceIds=[small, large])
