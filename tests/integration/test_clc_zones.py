"""Availability zones, each with its own EBS, as the CLC and `karri` see them.

A real karri-clc, a real Walrus (ImageStore) and two real karri-ebs, one per
zone; the clusters are StubCCs (harness/ec2_ccstub.py) that also answer the
CC's AttachVolume the way karri-cc does (the node's storage MAC, then the
path the NC took).  What is checked is what an admin and a user see: which
EBS directory a volume's file lands in, the EC2 errors (boto3 and awscli),
`karri describe-services` / `status`, DescribeAvailabilityZones verbose.
The two-cluster cloud with real CCs, NCs and guests is test_two_clusters.py.
"""

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.aoe import Ebs
from harness.clc import AwsError, ClcCloud
from harness.daemons import Daemon, free_port
from harness.ec2_ccstub import StubCC
from harness.images import ImageStore
from harness.wait import wait_for

NODE_MAC = "02:00:5e:00:00:01"


class ZoneCC(StubCC):
    """A StubCC whose node answers AttachVolume/DetachVolume (nbd path), and
    that closes each connection after its answer, so that stop() leaves no
    kept-alive connection answering for it: stopped is gone, as a killed CC."""

    def __init__(self, port):
        super().__init__(port)
        self.server.RequestHandlerClass.protocol_version = "HTTP/1.0"

    def handle(self, op, req):
        if op == "AttachVolume":
            return self._resp(op, "<cc:attachment>nbd</cc:attachment>"
                              f"<cc:nodeMac>{NODE_MAC}</cc:nodeMac>")
        if op == "DetachVolume":
            return self._resp(op)
        return super().handle(op, req)


def vfile(ebs, vol):
    return os.path.join(ebs.home, "var/lib/karri/volumes", f"{vol}.img")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    base = tmp_path_factory.mktemp("zones")
    c = ClcCloud(base / "clc", {"SOAP_TIMEOUT": 5})   # a stopped EBS answers nothing
    c.user("alice")
    c.ccs = {"zone1": ZoneCC(free_port()).start(), "zone2": ZoneCC(free_port()).start()}
    c.ccs["zone1"].capacity, c.ccs["zone2"].capacity = 2, 4
    for zone, cc in c.ccs.items():
        c.karri("register-cluster", zone, f"127.0.0.1:{cc.port}")
    c.ebs = {z: Daemon("karri-ebs", str(base / f"ebs-{z}"), {"EBS_STORAGE_INTERFACE": "lo"})
             for z in ("zone1", "zone2")}
    try:
        with c, ImageStore(c, base / "walrus") as store, c.ebs["zone1"], c.ebs["zone2"]:
            for n, zone in ((1, "zone1"), (2, "zone2")):
                c.karri("register-ebs", f"ebs{n}", f"127.0.0.1:{c.ebs[zone].port}",
                        "--zone", zone)
            alice = c.users["alice"]
            c.image = store.register(alice, "alice-z", "img")
            wait_for(lambda: [(z["ZoneName"], z["State"]) for z in
                              alice.ec2.describe_availability_zones()["AvailabilityZones"]] ==
                     [("zone1", "available"), ("zone2", "available")], 30, "both zones up")
            yield c
    finally:
        for cc in c.ccs.values():
            cc.stop()


def new_volume(cloud, zone, **kw):
    ec2 = cloud.users["alice"].ec2
    vol = ec2.create_volume(AvailabilityZone=zone, **kw)["VolumeId"]
    wait_for(lambda: ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] ==
             "available", 120, f"{vol} available")
    return vol


def delete_volume(cloud, vol):
    ec2 = cloud.users["alice"].ec2
    ec2.delete_volume(VolumeId=vol)
    wait_for(lambda: vol not in [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]],
             60, f"{vol} gone")


def run_in(cloud, zone=None):
    ec2 = cloud.users["alice"].ec2
    kw = {"Placement": {"AvailabilityZone": zone}} if zone else {}
    inst = ec2.run_instances(ImageId=cloud.image, MinCount=1, MaxCount=1,
                             InstanceType="m1.small", **kw)["Instances"][0]
    wait_for(lambda: ec2.describe_instances(InstanceIds=[inst["InstanceId"]])["Reservations"]
             [0]["Instances"][0]["State"]["Name"] == "running", 30, "running")
    return inst


def terminate(cloud, iid):
    ec2 = cloud.users["alice"].ec2
    ec2.terminate_instances(InstanceIds=[iid])
    wait_for(lambda: ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]
             ["Instances"][0]["State"]["Name"] == "terminated", 30, f"{iid} terminated")


def ebs_status(cloud):
    """`karri status`'s EBS rows, by their zone= word."""
    out = cloud.karri("status", check=False).stdout
    return {line.split()[3]: line.split() for line in out.splitlines()
            if line.startswith("ebs ")}


def test_karri_shows_and_keeps_one_ebs_per_zone(cloud):
    listing = cloud.karri("describe-services").stdout.splitlines()
    ebs = sorted(line.split() for line in listing if line.startswith("ebs "))
    assert [(e[1], e[-1]) for e in ebs] == [("ebs1", "zone=zone1"), ("ebs2", "zone=zone2")]
    p = cloud.karri("register-ebs", "ebs3", "127.0.0.1:1", "--zone", "zone1", check=False)
    assert p.returncode == 1 and "zone zone1 already has EBS ebs1" in p.stderr, p.stderr
    p = cloud.karri("register-ebs", "ebs3", "127.0.0.1:1", check=False)
    assert p.returncode == 1 and "--zone" in p.stderr, p.stderr
    assert "ebs3" not in cloud.karri("describe-services").stdout
    rows = ebs_status(cloud)
    assert rows["zone=zone1"][2:] == ["UP", "zone=zone1", "name=ebs1", "volumes=0"], rows
    assert rows["zone=zone2"][2:] == ["UP", "zone=zone2", "name=ebs2", "volumes=0"], rows


def test_a_volume_lands_on_the_ebs_of_its_zone(cloud):
    ec2 = cloud.users["alice"].ec2
    v1, v2 = new_volume(cloud, "zone1", Size=1), new_volume(cloud, "zone2", Size=1)
    assert os.path.exists(vfile(cloud.ebs["zone1"], v1))
    assert not os.path.exists(vfile(cloud.ebs["zone2"], v1))
    assert os.path.exists(vfile(cloud.ebs["zone2"], v2))
    assert not os.path.exists(vfile(cloud.ebs["zone1"], v2))
    zones = {v["VolumeId"]: v["AvailabilityZone"] for v in ec2.describe_volumes()["Volumes"]}
    assert zones == {v1: "zone1", v2: "zone2"}
    in2 = ec2.describe_volumes(Filters=[{"Name": "availability-zone", "Values": ["zone2"]}])
    assert [v["VolumeId"] for v in in2["Volumes"]] == [v2]
    # An EBS holding a volume stays registered; once it is gone, it may go.
    p = cloud.karri("deregister-ebs", "ebs2", check=False)
    assert p.returncode == 1 and "holds 1 volume" in p.stderr, p.stderr
    assert "ebs2" in cloud.karri("describe-services").stdout
    delete_volume(cloud, v1)
    delete_volume(cloud, v2)
    assert not os.path.exists(vfile(cloud.ebs["zone2"], v2))
    cloud.karri("deregister-ebs", "ebs2")
    assert "ebs2" not in cloud.karri("describe-services").stdout
    cloud.karri("register-ebs", "ebs2", f"127.0.0.1:{cloud.ebs['zone2'].port}", "--zone",
                "zone2")


def test_unknown_zone_and_zone_without_ebs(cloud):
    alice = cloud.users["alice"]
    with pytest.raises(AwsError) as e:
        alice.aws("create-volume", "--size", "1", "--availability-zone", "zone9")
    assert e.value.code == "InvalidParameterValue"
    assert "Invalid availability zone: [zone9]" in e.value.message
    cc = ZoneCC(free_port()).start()
    try:
        cloud.karri("register-cluster", "zone3", f"127.0.0.1:{cc.port}")
        wait_for(lambda: "zone3" in [z["ZoneName"] for z in alice.ec2.
                                     describe_availability_zones()["AvailabilityZones"]])
        with pytest.raises(AwsError) as e:
            alice.aws("create-volume", "--size", "1", "--availability-zone", "zone3")
        assert e.value.code == "Unsupported"
        assert "no block storage service in zone zone3" in e.value.message
        assert alice.ec2.describe_volumes()["Volumes"] == []    # nothing half-made
    finally:
        cloud.karri("deregister-cluster", "zone3")
        cc.stop()


def test_launch_goes_to_the_zone_asked_else_the_one_with_most_room(cloud):
    # zone2's CC reports 4 free m1.small, zone1's 2.
    first = run_in(cloud)
    assert first["Placement"]["AvailabilityZone"] == "zone2"
    there = run_in(cloud, "zone1")
    assert there["Placement"]["AvailabilityZone"] == "zone1"
    assert there["InstanceId"] in cloud.ccs["zone1"].instances
    assert first["InstanceId"] in cloud.ccs["zone2"].instances
    terminate(cloud, first["InstanceId"])
    terminate(cloud, there["InstanceId"])


def test_attach_only_within_the_zone(cloud):
    alice = cloud.users["alice"]
    ec2 = alice.ec2
    i1, i2 = run_in(cloud, "zone1")["InstanceId"], run_in(cloud, "zone2")["InstanceId"]
    vol = new_volume(cloud, "zone1", Size=1)
    with pytest.raises(AwsError) as e:
        alice.aws("attach-volume", "--volume-id", vol, "--instance-id", i2, "--device",
                  "/dev/vdb")
    assert e.value.code == "InvalidVolume.ZoneMismatch"
    assert (f"The volume '{vol}' is not in the same availability zone as instance '{i2}'"
            in e.value.message), e.value.message
    assert alice.code_of(ec2.attach_volume, VolumeId=vol, InstanceId=i2,
                         Device="/dev/vdb") == "InvalidVolume.ZoneMismatch"
    assert ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] == "available"
    assert cloud.ccs["zone2"].ops("AttachVolume") == []
    # Same zone: exported by zone1's EBS to the node's storage MAC.
    ec2.attach_volume(VolumeId=vol, InstanceId=i1, Device="/dev/vdb")
    v = ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]
    assert v["State"] == "in-use" and v["Attachments"][0]["InstanceId"] == i1, v
    assert Ebs(cloud.ebs["zone1"].url).describe_volumes(vol)["volumes"]["allowedMacs"] == \
        NODE_MAC
    ec2.detach_volume(VolumeId=vol)
    wait_for(lambda: ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] ==
             "available", 30, "detached")
    delete_volume(cloud, vol)
    terminate(cloud, i1)
    terminate(cloud, i2)


def test_zones_verbose_lists_every_cluster_with_its_capacity(cloud):
    zones = cloud.users["alice"].aws("describe-availability-zones", "--zone-names",
                                     "verbose")["AvailabilityZones"]
    names = [z["ZoneName"] for z in zones]
    for zone, free in (("zone1", 2), ("zone2", 4)):
        at = names.index(zone)
        assert zones[at]["State"] == "available"
        assert names[at + 1:at + 3] == ["|- vm types", "|- m1.small"], names
        assert zones[at + 1]["State"] == "free / max   cpu   ram  disk"
        assert zones[at + 2]["State"].startswith(f"{free:04d} / {free:04d}"), zones[at + 2]


def test_a_snapshot_from_zone1_restores_in_zone2(cloud):
    ec2 = cloud.users["alice"].ec2
    vol = new_volume(cloud, "zone1", Size=1)
    data = os.urandom(1 << 20)
    with open(vfile(cloud.ebs["zone1"], vol), "r+b") as f:
        f.write(data)
    snap = ec2.create_snapshot(VolumeId=vol)["SnapshotId"]
    s = wait_for(lambda: (lambda s: s if s["State"] != "pending" else None)(
        ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]), 180, "the snapshot")
    assert s["State"] == "completed", s
    vol2 = new_volume(cloud, "zone2", SnapshotId=snap)
    assert ec2.describe_volumes(VolumeIds=[vol2])["Volumes"][0]["AvailabilityZone"] == "zone2"
    assert not os.path.exists(vfile(cloud.ebs["zone1"], vol2))
    with open(vfile(cloud.ebs["zone2"], vol2), "rb") as f:
        assert f.read(len(data)) == data
    ec2.delete_snapshot(SnapshotId=snap)
    delete_volume(cloud, vol2)
    delete_volume(cloud, vol)


def test_one_zone_s_ebs_stopped_does_not_stop_the_other(cloud):
    """zone2's EBS hangs (SIGSTOP): a call to it times out as Unavailable while
    zone1's volumes are made, polled to available and deleted meanwhile."""
    alice = cloud.users["alice"]
    ebs2 = cloud.ebs["zone2"]
    ebs2.proc.send_signal(signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(1) as pool:
            hung = pool.submit(alice.code_of, alice.boto3().create_volume, Size=1,
                               AvailabilityZone="zone2")
            vol = new_volume(cloud, "zone1", Size=1)
            assert os.path.exists(vfile(cloud.ebs["zone1"], vol))
            rows = ebs_status(cloud)
            assert rows["zone=zone2"][2] == "DOWN" and rows["zone=zone1"][2:] == \
                ["UP", "zone=zone1", "name=ebs1", "volumes=1"], rows
            delete_volume(cloud, vol)
            assert hung.result(timeout=60) == "Unavailable"
    finally:
        ebs2.proc.send_signal(signal.SIGCONT)
    assert [v["VolumeId"] for v in alice.ec2.describe_volumes()["Volumes"]] == []
    delete_volume(cloud, new_volume(cloud, "zone2", Size=1))     # zone2's EBS is back


def test_a_cluster_down_leaves_its_zone_unavailable_and_the_other_launching(cloud):
    ec2 = cloud.users["alice"].ec2
    cc2 = cloud.ccs["zone2"]
    cc2.stop()

    def states():
        return {z["ZoneName"]: z["State"] for z in
                ec2.describe_availability_zones()["AvailabilityZones"]}
    wait_for(lambda: states() == {"zone1": "available", "zone2": "unavailable"}, 60,
             "zone2 unavailable")
    inst = run_in(cloud)        # no zone asked: the one that is up
    assert inst["Placement"]["AvailabilityZone"] == "zone1"
    terminate(cloud, inst["InstanceId"])
    cloud.ccs["zone2"] = ZoneCC(cc2.port).start()
    wait_for(lambda: states() == {"zone1": "available", "zone2": "available"}, 60,
             "zone2 back")
