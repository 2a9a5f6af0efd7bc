"""Instances through a cluster controller: RunInstances, DescribeInstances,
termination, idempotency, the CC down or refusing, SIGKILL of the CLC in the
middle of RunInstances, addresses, console output, zones and the metadata
service.  The CC is harness/ec2_ccstub.StubCC (speaking wsdl/karri-cc.h)
until karri-cc implements the instance calls; the whole life cycle with a
real CC, NC and guest is left to the end-to-end tests.
"""

import base64
import signal
import threading
import time
import urllib.request

import pytest

from harness.clc import ClcCloud, register_stub_cluster, wait_for
from harness.daemons import free_port
from harness.images import ImageStore


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = ClcCloud(tmp_path_factory.mktemp("clci"))
    c.user("alice")
    c.user("bob")
    c.user("root", admin=True)
    cc = register_stub_cluster(c, "zone1")
    with c, ImageStore(c, tmp_path_factory.mktemp("clci-walrus")) as store:
        c.cc, c.store = cc, store
        a = c.users["alice"]
        c.image = store.register(a, "alice-b", "img")
        wait_for(lambda: a.ec2.describe_availability_zones()["AvailabilityZones"][0]["State"]
                 == "available")
        yield c
    cc.stop()


def states(ec2, ids):
    got = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in got for i in r["Instances"]}


def test_zones_verbose_shows_capacity(cloud):
    alice = cloud.users["alice"]
    zones = alice.aws("describe-availability-zones", "--zone-names", "verbose")
    names = [z["ZoneName"] for z in zones["AvailabilityZones"]]
    assert names[:3] == ["zone1", "|- vm types", "|- m1.small"]
    assert zones["AvailabilityZones"][2]["State"].startswith("0004 / 0004    1    128     2")


def test_run_describe_terminate(cloud):
    alice, bob, root = (cloud.users[n] for n in ("alice", "bob", "root"))
    ec2 = alice.ec2
    ec2.create_key_pair(KeyName="k1")
    ec2.create_security_group(GroupName="web", Description="web")
    ec2.authorize_security_group_ingress(GroupName="web", IpProtocol="tcp", FromPort=443,
                                         ToPort=443, CidrIp="0.0.0.0/0")
    user_data = base64.b64encode(b"#!/bin/sh\necho hello\n").decode()
    res = alice.aws("run-instances", "--image-id", cloud.image, "--count", "2",
                    "--instance-type", "c1.medium", "--key-name", "k1",
                    "--security-groups", "web", "--user-data", "#!/bin/sh\necho hello\n",
                    "--tag-specifications", "ResourceType=instance,Tags=[{Key=role,Value=db}]")
    ids = [i["InstanceId"] for i in res["Instances"]]
    assert len(ids) == 2 and res["ReservationId"].startswith("r-")
    assert [g["GroupName"] for g in res["Groups"]] == ["web"]
    assert {i["InstanceType"] for i in res["Instances"]} == {"c1.medium"}
    run = cloud.cc.ops("RunInstances")[-1]
    cc = "{urn:karri:cc:2026-11}"
    assert run.find(cc + "userData").text == user_data
    assert run.find(cc + "keyName").text.startswith("ssh-rsa ")
    assert sorted(e.text for e in run.findall(cc + "instanceIds")) == sorted(ids)
    # The CC reports them running with private addresses.
    wait_for(lambda: set(states(ec2, ids).values()) == {"running"})
    r = ec2.describe_instances(Filters=[{"Name": "tag:role", "Values": ["db"]}])["Reservations"]
    assert len(r) == 1 and sorted(i["InstanceId"] for i in r[0]["Instances"]) == sorted(ids)
    inst = r[0]["Instances"][0]
    assert inst["PrivateIpAddress"].startswith("10.77.0.") and inst["KeyName"] == "k1"
    assert inst["Placement"]["AvailabilityZone"] == "zone1"
    # boto2 over SigV2 sees the same reservation, and the group filter works.
    rs = alice.boto2().get_all_reservations(filters={"group-name": "web"})
    assert [x.id for x in rs] == [res["ReservationId"]]
    # bob sees nothing of it and cannot touch it; the admin with "verbose" sees it.
    assert bob.ec2.describe_instances()["Reservations"] == []
    assert bob.code_of(bob.ec2.terminate_instances, InstanceIds=ids[:1]) == \
        "InvalidInstanceID.NotFound"
    seen = root.ec2.describe_instances(InstanceIds=["verbose"])["Reservations"]
    assert res["ReservationId"] in [x["ReservationId"] for x in seen]
    # Console output, start/stop of instance-store, group in use.
    out = ec2.get_console_output(InstanceId=ids[0])["Output"]
    assert "KARRI-GUEST-OK" in out
    assert alice.code_of(ec2.stop_instances, InstanceIds=ids[:1]) == "UnsupportedOperation"
    assert alice.code_of(ec2.start_instances, InstanceIds=ids[:1]) == "UnsupportedOperation"
    assert alice.code_of(ec2.delete_security_group, GroupName="web") == "InvalidGroup.InUse"
    # The rules reached the CC (ConfigureNetwork on the next poll).
    cc = "{urn:karri:cc:2026-11}"
    pushed = wait_for(lambda: [r for c in cloud.cc.ops("ConfigureNetwork")
                               for r in c.findall(cc + "rules")
                               if r.find(cc + "portRangeMin").text == "443"])
    assert pushed[0].find(cc + "destName").text == "web"
    assert pushed[0].find(cc + "sourceNets").text == "0.0.0.0/0"
    # karri status: the cluster with its capacity, and each instance's attachments.
    status = cloud.karri("status", check=False).stdout
    assert "zone=zone1" in status and "c1.medium" in status
    assert any(ids[0] in line and "virtio/tap" in line for line in status.splitlines())
    # Terminate: shutting-down now, terminated once the CC stops reporting it.
    t = alice.aws("terminate-instances", "--instance-ids", *ids)
    assert {x["CurrentState"]["Name"] for x in t["TerminatingInstances"]} == {"shutting-down"}
    assert cloud.cc.ops("TerminateInstances")
    wait_for(lambda: set(states(ec2, ids).values()) == {"terminated"}, timeout=20)
    ec2.delete_security_group(GroupName="web")


def test_pages_end_at_reservations(cloud):
    ec2 = cloud.users["bob"].ec2
    bob_img = cloud.store.register(cloud.users["bob"], "bob-b", "i", Name="bi")
    ids = []
    for n in range(4):
        ids += [i["InstanceId"] for i in
                ec2.run_instances(ImageId=bob_img, MinCount=2, MaxCount=2)["Instances"]]
    pages = list(ec2.get_paginator("describe_instances").paginate(
        PaginationConfig={"PageSize": 5}))
    sizes = [sum(len(r["Instances"]) for r in p["Reservations"]) for p in pages]
    # Reservations of 2 and pages of 5: a page closes at the reservation that fills it.
    assert sizes == [6, 2]
    ec2.terminate_instances(InstanceIds=ids)


def test_client_token_is_idempotent(cloud):
    ec2 = cloud.users["alice"].ec2
    a = ec2.run_instances(ImageId=cloud.image, MinCount=1, MaxCount=1, ClientToken="tok-1")
    n = len(cloud.cc.ops("RunInstances"))
    b = ec2.run_instances(ImageId=cloud.image, MinCount=1, MaxCount=1, ClientToken="tok-1")
    assert a["ReservationId"] == b["ReservationId"]
    assert len(cloud.cc.ops("RunInstances")) == n      # no second launch
    ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in a["Instances"]])


def count_reservations(cloud):
    import sqlite3
    db = sqlite3.connect(f"{cloud.home}/var/lib/karri/clc.db")
    try:
        return (db.execute("SELECT count(*) FROM reservations").fetchone()[0],
                db.execute("SELECT count(*) FROM instances").fetchone()[0])
    finally:
        db.close()


def test_cc_refusing_leaves_nothing(cloud):
    ec2 = cloud.users["alice"].ec2
    before = count_reservations(cloud)
    cloud.cc.fail_run = "InsufficientInstanceCapacity: no node has room"
    try:
        code = cloud.users["alice"].code_of(ec2.run_instances, ImageId=cloud.image,
                                            MinCount=1, MaxCount=1)
    finally:
        cloud.cc.fail_run = None
    assert code == "InsufficientInstanceCapacity"
    assert count_reservations(cloud) == before


def test_addresses_follow_instances(cloud):
    alice = cloud.users["alice"]
    ec2 = alice.ec2
    iid = ec2.run_instances(ImageId=cloud.image, MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"]
    wait_for(lambda: states(ec2, [iid])[iid] == "running")
    ip = ec2.allocate_address()["PublicIp"]
    alice.boto2().associate_address(instance_id=iid, public_ip=ip)
    assert cloud.cc.ops("AssignAddress")
    got = ec2.describe_addresses(PublicIps=[ip])["Addresses"][0]
    assert got["InstanceId"] == iid
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert inst["PublicIpAddress"] == ip
    ec2.disassociate_address(PublicIp=ip)
    assert "InstanceId" not in ec2.describe_addresses(PublicIps=[ip])["Addresses"][0]
    ec2.release_address(PublicIp=ip)
    ec2.terminate_instances(InstanceIds=[iid])


def test_metadata_for_the_calling_instance_only(cloud):
    alice = cloud.users["alice"]
    ec2 = alice.ec2
    ec2.create_key_pair(KeyName="mdkey")
    r = ec2.run_instances(ImageId=cloud.image, MinCount=1, MaxCount=1, KeyName="mdkey",
                          UserData="hello metadata")
    iid = r["Instances"][0]["InstanceId"]
    wait_for(lambda: states(ec2, [iid])[iid] == "running")
    ip = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0][
        "PrivateIpAddress"]

    def get(path, xff=ip):
        req = urllib.request.Request(f"http://127.0.0.1:{cloud.port}{path}",
                                     headers={"X-Forwarded-For": xff} if xff else {})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""

    # The stub CC is registered at 127.0.0.1, so this peer may name the instance.
    assert get("/latest/meta-data/instance-id") == (200, iid)
    assert get("/2009-04-04/meta-data/ami-id") == (200, cloud.image)
    assert get("/latest/meta-data/local-ipv4") == (200, ip)
    assert get("/latest/meta-data/placement/availability-zone") == (200, "zone1")
    assert get("/latest/meta-data/public-keys/") == (200, "0=mdkey")
    status, key = get("/latest/meta-data/public-keys/0/openssh-key")
    assert status == 200 and key.startswith("ssh-rsa ")
    assert get("/latest/user-data") == (200, "hello metadata")
    assert "instance-id" in get("/latest/meta-data/")[1].split("\n")
    assert get("/latest/meta-data/instance-id", xff="10.77.0.250")[0] == 404
    assert get("/latest/meta-data/instance-id", xff=None)[0] == 404
    ec2.terminate_instances(InstanceIds=[iid])


def test_cc_down_run_fails_cleanly(tmp_path):
    with ClcCloud(tmp_path / "clc") as c, ImageStore(c, tmp_path / "walrus") as store:
        alice = c.user("alice")
        c.karri("register-cluster", "deadzone", f"127.0.0.1:{free_port()}")
        img = store.register(alice, "alice-b", "i")
        zone = wait_for(lambda: [z for z in alice.ec2.describe_availability_zones()
                                 ["AvailabilityZones"] if z.get("Messages") and
                                 "not reachable" in z["Messages"][0]["Message"]])
        assert zone[0]["State"] == "unavailable"
        with pytest.raises(Exception) as e:
            alice.aws("run-instances", "--image-id", img)
        assert "InsufficientInstanceCapacity" in str(e.value)
        assert "not reachable" in str(e.value)
        assert count_reservations(c) == (0, 0)


def test_sigkill_during_run_instances_leaves_it_complete_or_absent(tmp_path):
    c = ClcCloud(tmp_path)
    alice = c.user("alice")
    cc = register_stub_cluster(c, "zone1")
    store = ImageStore(c, tmp_path / "walrus")
    try:
        c.start()
        store.start()
        img = store.register(alice, "alice-b", "i")
        cc.delay_run = 3
        err = []

        def run():
            try:
                alice.ec2.run_instances(ImageId=img, MinCount=3, MaxCount=3)
            except Exception as e:      # the connection dies with the CLC
                err.append(e)
        t = threading.Thread(target=run)
        t.start()
        wait_for(lambda: cc.ops("RunInstances"), timeout=10, step=0.05)
        c.clc.proc.send_signal(signal.SIGKILL)
        c.clc.proc.wait()
        t.join()
        assert err      # the client saw the connection die, not a success
        c.clc.start()
        res, inst = count_reservations(c)
        assert (res, inst) in ((0, 0), (1, 3))
        # The CC did launch them: the CLC's poll terminates what it never recorded.
        launched = [e.text for e in cc.ops("RunInstances")[0].findall(
            "{urn:karri:cc:2026-11}instanceIds")]
        wait_for(lambda: all(cc.instances.get(i, {}).get("state") == "gone"
                             for i in launched), timeout=20)
        assert alice.ec2.describe_instances()["Reservations"] == []
    finally:
        store.__exit__(None, None, None)
        c.__exit__(None, None, None)
        cc.stop()


def test_volumes_need_ebs_and_say_so(cloud):
    alice = cloud.users["alice"]
    ec2 = alice.ec2
    assert alice.code_of(ec2.create_volume, Size=1, AvailabilityZone="zone1") == "Unsupported"
    cloud.karri("register-ebs", "ebs1", f"127.0.0.1:{free_port()}")
    try:
        assert alice.code_of(ec2.create_volume, Size=1, AvailabilityZone="zone1") == \
            "Unavailable"
        assert ec2.describe_volumes()["Volumes"] == []      # nothing half-made
    finally:
        cloud.karri("deregister-ebs", "ebs1")
