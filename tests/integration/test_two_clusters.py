"""Two clusters on separate storage networks (issue 20), on the real cloud of
karri.quickstart with KARRI_QS_CLUSTERS=2: the front end runs the CLC and
Walrus; zone1 and zone2 each have a head host (its CC and its EBS) and one
node, on a private and a storage network of their own (karri.sim).
AoE does not cross a router, so a zone's volumes can only be served by the
EBS on that zone's storage network.  Driven as a user drives it:
/usr/bin/aws with the admin's eucarc.

The test guest (tests/guest/init) reads its user data from the metadata
service: "karri.hotplug karri.volume=auto:HEX:MIB" makes it write a pattern
on a fresh hot-plugged volume and verify it on one that carries it already,
reporting a "KARRI volume ... mode=pattern|verify ... read_ok=1" line.

The steps are tests in order on one cloud (module fixture); a step whose
predecessor failed is skipped.  Waits are bounded polls on a state or a
console line.
"""

import json
import os
import re
import shutil
import signal
import tempfile

import pytest

from harness import simlife
from harness.cloud import Cloud
from harness.wait import wait_for

pytestmark = pytest.mark.root

ZONES = ("zone1", "zone2")
NET_INDEX = simlife.free_net_index(first=12)    # its host link 10.83.I.0/30
HEX = "2c1a55e5"
MIB = 4
USER_DATA = "karri.hotplug karri.volume=auto:%s:%d" % (HEX, MIB)


@pytest.fixture(scope="module")
def cloud():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    # Not under pytest's tmp dirs: they are 0700, and each CC's dnsmasq, running
    # as VNET_DHCPUSER, reads its hosts file under its host's KARRI_HOME.
    qs = tempfile.mkdtemp(prefix="karri-2c-")
    os.chmod(qs, 0o755)
    c = Cloud(qs, prefix="kz%d" % (os.getpid() % 100000), net=NET_INDEX, clusters=2, nodes=1)
    c.state = {"failed": False, "stopped_cc": None}
    try:
        try:
            c.up()
        except BaseException:
            c.state["failed"] = True        # its logs are kept, below
            raise
        yield c
    finally:
        cont(c)
        if not c.state.get("down"):
            c.quickstart("stop")
        if not c.state["failed"]:
            shutil.rmtree(qs, ignore_errors=True)
        else:
            print("\ntest_two_clusters: logs kept in %s" % qs)


@pytest.fixture
def step(cloud, request):
    """Skip when an earlier step failed; note when this one fails."""
    if cloud.state["failed"]:
        pytest.skip("an earlier step failed")
    failed = request.session.testsfailed
    yield cloud.state
    if request.session.testsfailed != failed:
        cloud.state["failed"] = True


def cont(c):
    """The CC a step stopped runs again (it must, to stop with the cloud)."""
    pid = c.state.get("stopped_cc")
    if pid:
        try:
            os.killpg(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        c.state["stopped_cc"] = None


def karri_lines(text, kind):
    """KARRI <kind> k=v ... lines of a console, as dicts (a kernel message may precede)."""
    out = []
    for raw in text.splitlines():
        i = raw.find("KARRI " + kind + " ")
        if i >= 0:
            out.append(dict(w.split("=", 1) for w in raw[i:].split()[2:] if "=" in w))
    return out


def volume_report(c, iid, n, what):
    """The n-th "KARRI volume" line of the instance's console, once there."""
    text = c.wait_console(iid, lambda t: len(karri_lines(t, "volume")) >= n, what, timeout=180)
    return karri_lines(text, "volume")[n - 1]


def zone_states(c):
    zones = c.ec2("describe-availability-zones")["AvailabilityZones"]
    return {z["ZoneName"]: z["State"] for z in zones}


def head_volume_file(c, zone, vol):
    """The volume's file on the EBS of that zone's head (EBS_VOLUMES_DIR)."""
    head = "head%s" % zone[-1]
    return os.path.join(c.qs, head, "var/lib/karri/volumes", vol + ".img")


def supervise(c, host):
    """The host's supervise.json: its supervisor's and daemons' pids."""
    with open(os.path.join(c.qs, host, "supervise.json")) as f:
        return json.load(f)


def alive(pid):
    """pid runs (a zombie waiting to be reaped counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def launch(c, image, zone):
    res = c.ec2("run-instances", "--image-id", image, "--instance-type", "m1.small",
                "--placement", "AvailabilityZone=" + zone, "--user-data", USER_DATA)
    inst = res["Instances"][0]
    assert inst["Placement"]["AvailabilityZone"] == zone, inst
    return inst["InstanceId"]


# --- the two zones ------------------------------------------------------------------

def test_1_two_zones_each_on_its_own_networks(cloud, step):
    c = cloud
    assert [cl.index for cl in c.sim.clusters] == [1, 2]
    h1, h2 = c.sim.clusters[0].head, c.sim.clusters[1].head
    assert h1.name == "head1" and h2.name == "head2"
    # separate private and storage networks; the front end on both private ones only
    assert c.sim.clusters[0].stor_net != c.sim.clusters[1].stor_net
    assert [str(cl.priv_net[1]) for cl in c.sim.clusters] == \
        [ip for _, ip in c.sim.front.legs] and c.sim.front.stor_ip is None
    states = wait_for(lambda: (lambda s: s if all(s.get(z) == "available" for z in ZONES)
                               else None)(zone_states(c)), 60, "both zones available")
    assert sorted(states) == list(ZONES), states
    verbose = c.ec2("describe-availability-zones", "--zone-names", "verbose")
    names = [z["ZoneName"] for z in verbose["AvailabilityZones"]]
    assert all(z in names for z in ZONES), names
    images = c.ec2("describe-images")["Images"]
    machine = [i["ImageId"] for i in images if i["ImageType"] == "machine"
               and i["State"] == "available"]
    assert machine, "quickstart registered no test image: %s\n%s" % (images, c.up_output)
    step["image"] = machine[0]


def test_2_an_instance_and_a_volume_in_each_zone(cloud, step):
    c = cloud
    ids = {z: launch(c, step["image"], z) for z in ZONES}
    vols = {z: c.ec2("create-volume", "--size", "1", "--availability-zone", z)["VolumeId"]
            for z in ZONES}
    step["ids"], step["vols"] = ids, vols
    for z in ZONES:
        v = c.wait_volume(vols[z], "available")
        assert v["AvailabilityZone"] == z, v
        # on the EBS of its zone, never the other's
        assert os.path.exists(head_volume_file(c, z, vols[z])), (z, vols[z])
        other = ZONES[1] if z == ZONES[0] else ZONES[0]
        assert not os.path.exists(head_volume_file(c, other, vols[z])), (z, vols[z])
    now = c.wait_instances(list(ids.values()), "running", timeout=180)
    for z in ZONES:
        assert now[ids[z]]["Placement"]["AvailabilityZone"] == z, now[ids[z]]
    # each guest got its user data from the metadata service through its zone's CC
    for z in ZONES:
        text = c.wait_console(ids[z], lambda t: "KARRI userdata" in t, "user data", timeout=180)
        assert "karri.volume=auto:%s:%d" % (HEX, MIB) in text


def test_3_cross_zone_attach_is_refused(cloud, step):
    c = cloud
    ids, vols = step["ids"], step["vols"]
    out = c.ec2("attach-volume", "--volume-id", vols["zone2"], "--instance-id", ids["zone1"],
                "--device", "/dev/sdf", check=False)
    assert out.returncode != 0, out.stdout
    assert "InvalidVolume.ZoneMismatch" in out.stderr, out.stderr
    v = c.ec2("describe-volumes", "--volume-ids", vols["zone2"])["Volumes"][0]
    assert v["State"] == "available" and not v.get("Attachments"), v


def test_4_each_volume_written_and_read_in_its_zone(cloud, step):
    c = cloud
    ids, vols = step["ids"], step["vols"]
    for z in ZONES:
        c.ec2("attach-volume", "--volume-id", vols[z], "--instance-id", ids[z],
              "--device", "/dev/sdf")
    for z in ZONES:
        v = c.wait_volume(vols[z], "in-use", timeout=120)
        assert v["Attachments"][0]["InstanceId"] == ids[z], v
        rep = volume_report(c, ids[z], 1, "the %s guest writing its volume" % z)
        assert (rep["mode"], rep["wrote"], rep["read_ok"], rep["mib"]) == \
            ("pattern", "1", "1", str(MIB)), (z, rep)


def test_5_snapshot_from_zone1_restored_in_zone2(cloud, step):
    c = cloud
    ids, vols = step["ids"], step["vols"]
    snap = c.ec2("create-snapshot", "--volume-id", vols["zone1"])["SnapshotId"]

    def completed():
        s = c.ec2("describe-snapshots", "--snapshot-ids", snap)["Snapshots"][0]
        assert s["State"] != "error", s
        return s["State"] == "completed"
    wait_for(completed, 180, "the snapshot of the zone1 volume completed", step=1)
    vol = c.ec2("create-volume", "--snapshot-id", snap, "--availability-zone",
                "zone2")["VolumeId"]
    v = c.wait_volume(vol, "available", timeout=180)
    assert v["AvailabilityZone"] == "zone2" and v.get("SnapshotId") == snap, v
    assert os.path.exists(head_volume_file(c, "zone2", vol)), vol
    c.ec2("attach-volume", "--volume-id", vol, "--instance-id", ids["zone2"],
          "--device", "/dev/sdg")
    # the zone2 guest reads, on its zone's storage network, the bytes the
    # zone1 guest wrote: the pattern (HEX, MIB MiB) verified
    rep = volume_report(c, ids["zone2"], 2, "the zone2 guest reading the restored volume")
    assert (rep["mode"], rep["read_ok"], rep["mib"]) == ("verify", "1", str(MIB)), rep


def test_6_status_and_rerun_repair_a_head(cloud, step):
    """./quickstart status lists each head's daemons; head2's supervisor and
    its EBS killed, a rerun starts them again and keeps every volume."""
    c = cloud
    st = c.quickstart("status")
    assert st.returncode == 0, st.stdout + st.stderr
    rows = {(w[0], w[1]): w[3] for w in (l.split() for l in st.stdout.splitlines()
                                         if re.match(r"karri-\S+ +(front|head\d|node\d) ", l))}
    assert rows == {("karri-clc", "front"): "up", ("karri-walrus", "front"): "up",
                    ("karri-ebs", "head1"): "up", ("karri-cc", "head1"): "up",
                    ("karri-ebs", "head2"): "up", ("karri-cc", "head2"): "up",
                    ("karri-nc", "node1"): "up", ("karri-nc", "node2"): "up"}, st.stdout
    before = supervise(c, "head2")
    ebs = before["children"]["karri-ebs"]["pid"]
    for pid in (before["supervisor"], ebs):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(before["supervisor"]) and not alive(ebs), 10,
             "head2's supervisor and EBS gone")
    st = c.quickstart("status")
    assert st.returncode == 1 and "the supervisor of head2 is not running" in st.stdout, st.stdout
    up = c.quickstart("up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "repaired the cloud" in up.stdout and "supervisor of head2 started" in up.stdout, \
        up.stdout
    after = supervise(c, "head2")
    assert after["children"]["karri-cc"]["pid"] == before["children"]["karri-cc"]["pid"]
    assert after["children"]["karri-ebs"]["pid"] not in (None, ebs)
    vols = c.ec2("describe-volumes")["Volumes"]
    assert sorted(v["State"] for v in vols) == ["in-use"] * 3, vols


def test_7_zone2_cc_stopped_zone1_keeps_launching(cloud, step):
    c = cloud
    cc = supervise(c, "head2")["children"]["karri-cc"]["pid"]
    os.killpg(cc, signal.SIGSTOP)       # the CC's parent and child (its own session)
    step["stopped_cc"] = cc
    try:
        # at once: the CLC takes a launch in zone1 while zone2's CC hangs
        iid = launch(c, step["image"], "zone1")
        states = wait_for(lambda: (lambda s: s if s.get("zone2") == "unavailable" else None)(
            zone_states(c)), 90, "zone2 unavailable with its CC stopped")
        assert states["zone1"] == "available", states
        c.wait_instances([iid], "running", timeout=180)
        assert zone_states(c)["zone2"] == "unavailable"
    finally:
        cont(c)


def test_8_nothing_left_behind(cloud, step):
    c = cloud
    c.stop()                     # quickstart stop: no namespace, no recorded process
    c.state["down"] = True
    assert c.leftovers() == []
