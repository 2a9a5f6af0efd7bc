"""The end-to-end scenario of issue #8, on the whole real cloud of
karri.quickstart (its own namespaces, state dir and sim net index beside
anything else), driven only as a user drives it: /usr/bin/aws with the
admin's eucarc, and once boto2 forced to SigV2.

The guest (tests/guest/init, cloud mode) gets its address by DHCP, reads its
key and user data from the metadata service, and acts on the user data's
karri.* words, reporting on its console: "karri.hotplug
karri.volume=auto:HEX:MIB" makes it write a pattern on a fresh hot-plugged
volume and verify it on one that already carries it.

The steps are tests in order on one cloud (module fixture); each prints its
wall time and the module ends with one summary line.  A step whose
predecessor failed is skipped.
"""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from harness import simlife
from harness.cloud import Cloud, CloudError

pytestmark = pytest.mark.root

ZONE = "zone1"
# the sim's host link 10.83.I.0/30: one no other cloud on this machine uses (./quickstart: 0)
NET_INDEX = simlife.free_net_index(first=9)
HEX = "c0ffee42"
MIB = 8
USER_DATA = "karri.hotplug karri.volume=auto:%s:%d" % (HEX, MIB)
TIMES = []


@pytest.fixture(scope="module")
def cloud():
    # Not under pytest's tmp dirs: they are 0700, and the CC's dnsmasq, running
    # as VNET_DHCPUSER, reads its hosts file under the front end's KARRI_HOME.
    qs = tempfile.mkdtemp(prefix="karri-e2e-")
    os.chmod(qs, 0o755)
    c = Cloud(qs, prefix="ke%d" % (os.getpid() % 100000), net=NET_INDEX)
    t0 = time.monotonic()
    try:
        c.up()
    except BaseException:
        c.quickstart("stop")
        shutil.rmtree(qs, ignore_errors=True)
        raise
    TIMES.append(("cloud-up", time.monotonic() - t0))
    c.state = {"failed": False}
    yield c
    if c.state["failed"] and os.environ.get("KARRI_E2E_KEEP"):
        print("\nKARRI_E2E_KEEP: the cloud stays up for a look: KARRI_QS_DIR=%s "
              "KARRI_QS_PREFIX=%s KARRI_QS_NET=%d" % (qs, c.prefix, NET_INDEX))
        return
    t0 = time.monotonic()
    try:
        c.stop()
        shutil.rmtree(qs, ignore_errors=True)
    finally:
        TIMES.append(("cloud-stop", time.monotonic() - t0))
        print("\ne2e-scenario-summary " + " ".join("%s=%.1fs" % t for t in TIMES) +
              " total=%.1fs" % sum(t for _, t in TIMES), flush=True)


@pytest.fixture
def timed(request):
    t0 = time.monotonic()
    yield
    took = time.monotonic() - t0
    name = request.node.name.replace("test_", "")
    TIMES.append((name, took))
    print("\n  step %s: %.1f s" % (name, took), flush=True)


@pytest.fixture
def step(cloud, request, timed):
    """Skip when an earlier step failed; note when this one fails."""
    if cloud.state["failed"]:
        pytest.skip("an earlier step failed")
    failed = request.session.testsfailed
    yield cloud.state
    # the call's report is logged before teardown: a failure counts already
    if request.session.testsfailed != failed:
        cloud.state["failed"] = True


def karri_lines(text, kind):
    """KARRI <kind> k=v ... lines of a console, as dicts (a kernel message may precede)."""
    out = []
    for raw in text.splitlines():
        i = raw.find("KARRI " + kind + " ")
        if i >= 0:
            out.append(dict(w.split("=", 1) for w in raw[i:].split()[2:] if "=" in w))
    return out


# --- the image ----------------------------------------------------------------

def test_image(cloud, step):
    """The test guest's image, as quickstart bundled, uploaded and registered it."""
    images = cloud.ec2("describe-images")["Images"]
    machine = [i for i in images if i["ImageType"] == "machine" and i.get("KernelId")
               and i.get("RamdiskId") and i["State"] == "available"]
    assert machine, "quickstart registered no test image: %s\n%s" % (images, cloud.up_output)
    step["image"] = machine[0]["ImageId"]


# --- 1. zones, key, group -------------------------------------------------------

def test_1_zones_key_group(cloud, step, tmp_path_factory):
    zones = cloud.ec2("describe-availability-zones", "--zone-names", "verbose")
    names = [z["ZoneName"] for z in zones["AvailabilityZones"]]
    assert ZONE in names and any("m1.small" in n for n in names), names
    step["capacity"] = [n for n in names if "m1.small" in n][0]

    kdir = tmp_path_factory.mktemp("e2e-key")
    key = os.path.join(str(kdir), "id_rsa")
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C",
                    "e2e@karri", "-f", key], check=True, timeout=60)
    with open(key + ".pub") as f:
        step["pubkey"] = f.read().strip()
    got = cloud.ec2("import-key-pair", "--key-name", "e2e", "--public-key-material",
                    "fileb://" + key + ".pub")
    assert got["KeyName"] == "e2e"

    step["cidr"] = str(cloud.sim.priv_net)          # the front end's network
    gid = cloud.ec2("create-security-group", "--group-name", "e2e", "--description",
                    "e2e scenario")["GroupId"]
    step["group"] = gid
    cloud.ec2("authorize-security-group-ingress", "--group-name", "e2e", "--protocol", "tcp",
              "--port", "22", "--cidr", step["cidr"])
    cloud.ec2("authorize-security-group-ingress", "--group-name", "e2e", "--protocol", "icmp",
              "--port", "-1", "--cidr", step["cidr"])
    g = cloud.ec2("describe-security-groups", "--group-names", "e2e")["SecurityGroups"][0]
    perms = {(p["IpProtocol"], p.get("FromPort")) for p in g["IpPermissions"]}
    assert ("tcp", 22) in perms and "icmp" in {p for p, _ in perms}, g


# --- 2. two instances ----------------------------------------------------------------

def test_2_run_two_instances(cloud, step):
    res = cloud.ec2("run-instances", "--image-id", step["image"], "--count", "2",
                    "--instance-type", "m1.small", "--key-name", "e2e", "--security-groups",
                    "e2e", "--user-data", USER_DATA)
    ids = [i["InstanceId"] for i in res["Instances"]]
    assert len(ids) == 2
    step["ids"] = ids
    now = cloud.wait_instances(ids, "running", timeout=120)
    step["a"], step["b"] = ids
    step["private"] = {i: now[i]["PrivateIpAddress"] for i in ids}

    # different nodes (ROUNDROBIN): the admin's status names each instance's node
    status = cloud.karri("status").stdout
    nodes = {}
    for line in status.splitlines():
        w = line.split()
        if w and w[0] in ids:
            nodes[w[0]] = w[-1]
    assert len(set(nodes.values())) == 2, status
    step["nodes"] = nodes

    md5 = hashlib.md5(step["pubkey"].split()[1].encode()).hexdigest()
    for i in ids:
        text = cloud.wait_console(i, lambda t: "KARRI userdata" in t, "metadata report",
                                  timeout=120)
        dhcp = karri_lines(text, "dhcp")
        assert dhcp and dhcp[0]["ip"] == step["private"][i], (dhcp, step["private"][i])
        md = karri_lines(text, "metadata")[0]
        assert md["ok"] == "1" and md["instance-id"] == i, md
        key = karri_lines(text, "pubkey")[0]
        assert key["type"] == "ssh-rsa", key        # (the comment: EC2 puts the key's name)
        assert key["md5"] == md5, "the guest got another key than the one imported"
        assert "karri.volume=auto:%s:%d" % (HEX, MIB) in text


# --- 3. a volume from A to B, over AoE jumbo frames ---------------------------------

class Capture:
    """tshark on the storage switch's ports (in the sim's switch namespace):
    one line per AoE frame: interface, length."""

    def __init__(self, cloud, path):
        ports = ["%s-s" % h.name for h in cloud.sim.hosts]
        argv = ["ip", "netns", "exec", cloud.sim.switch_ns, "tshark", "-n", "-l", "-Q"]
        for p in ports:
            argv += ["-i", p]
        argv += ["-f", "ether proto 0x88a2", "-T", "fields", "-e", "frame.interface_name",
                 "-e", "frame.len"]
        self.path = path
        self.out = open(path, "w")
        self.p = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        time.sleep(2)        # tshark needs a moment before it captures

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.out.close()
        frames = []
        with open(self.path) as f:
            for line in f:
                w = line.split()
                if len(w) == 2 and w[1].isdigit():
                    frames.append((w[0], int(w[1])))
        return frames


def volume_report(cloud, iid, n, what):
    """Wait until the instance's console has n "KARRI volume" lines; the n-th."""
    text = cloud.wait_console(iid, lambda t: len(karri_lines(t, "volume")) >= n, what,
                              timeout=180)
    return karri_lines(text, "volume")[n - 1]


def attach(cloud, vol, iid, dev="/dev/sdf"):
    cloud.ec2("attach-volume", "--volume-id", vol, "--instance-id", iid, "--device", dev)
    return cloud.wait_volume(vol, "in-use", timeout=60)


def detach(cloud, vol, iid, nunplug):
    cloud.ec2("detach-volume", "--volume-id", vol)
    cloud.wait_volume(vol, "available", timeout=60)
    cloud.wait_console(iid, lambda t: len(karri_lines(t, "unplug")) >= nunplug,
                       "unplug report", timeout=60)


def test_3_volume_moves_from_a_to_b(cloud, step, tmp_path_factory):
    vol = cloud.ec2("create-volume", "--size", "1", "--availability-zone", ZONE)["VolumeId"]
    step["volumes"] = [vol]
    cloud.wait_volume(vol, "available")
    cap = Capture(cloud, os.path.join(str(tmp_path_factory.mktemp("e2e-cap")), "aoe.txt"))
    try:
        attach(cloud, vol, step["a"])
        rep = volume_report(cloud, step["a"], 1, "volume report from A")
        assert (rep["mode"], rep["wrote"], rep["read_ok"], rep["mib"]) == \
            ("pattern", "1", "1", str(MIB)), rep
        detach(cloud, vol, step["a"], 1)

        attach(cloud, vol, step["b"])
        rep = volume_report(cloud, step["b"], 1, "volume report from B")
        assert (rep["mode"], rep["read_ok"]) == ("verify", "1"), \
            "B did not read A's pattern: %s" % rep
        detach(cloud, vol, step["b"], 1)
    finally:
        frames = cap.stop()
    # The data went EBS <-> node over the storage network in jumbo frames:
    # frames far above 1500 bytes on the front end's port and on both nodes'.
    big = {}
    for port, length in frames:
        big[port] = max(big.get(port, 0), length)
    print("\n  AoE frames: %d, largest per switch port: %s" % (len(frames), big))
    nodes_ports = ["%s-s" % n.name for n in cloud.sim.nodes]
    assert big.get("front-s", 0) > 8000, big
    assert all(big.get(p, 0) > 8000 for p in nodes_ports), big


# --- 4. snapshot, a volume from it ----------------------------------------------------

def test_4_snapshot_and_volume_from_it(cloud, step):
    vol = step["volumes"][0]
    snap = cloud.ec2("create-snapshot", "--volume-id", vol, "--description", "e2e")["SnapshotId"]
    step["snapshot"] = snap
    deadline = time.monotonic() + 180
    while True:
        s = cloud.ec2("describe-snapshots", "--snapshot-ids", snap)["Snapshots"][0]
        if s["State"] == "completed":
            break
        assert s["State"] != "error", s
        assert time.monotonic() < deadline, s
        time.sleep(1)
    vol2 = cloud.ec2("create-volume", "--snapshot-id", snap, "--availability-zone",
                     ZONE)["VolumeId"]
    step["volumes"].append(vol2)
    cloud.wait_volume(vol2, "available", timeout=180)
    attach(cloud, vol2, step["a"], dev="/dev/sdg")
    rep = volume_report(cloud, step["a"], 2, "volume report from A (snapshot copy)")
    assert (rep["mode"], rep["read_ok"]) == ("verify", "1"), \
        "the volume made from the snapshot lacks the pattern: %s" % rep
    detach(cloud, vol2, step["a"], 2)


# --- 5. an elastic IP on A, then on B --------------------------------------------------

def ping_reaches(cloud, public, private, timeout=30):
    """Ping the public address from the front end; the echo must have been
    answered by the instance: conntrack shows the reply coming from its
    private address (the public one is local to the front end too)."""
    front = cloud.sim.front
    deadline = time.monotonic() + timeout
    while True:
        p = front.run(["ping", "-c", "1", "-W", "2", public], timeout=10)
        ct = front.run(["conntrack", "-L", "-p", "icmp", "-d", public], timeout=10)
        if p.returncode == 0 and re.search(r"src=%s dst=" % re.escape(private), ct.stdout):
            return
        if time.monotonic() > deadline:
            raise CloudError("%s (-> %s) not reached from the front end: ping rc=%d\n%s" %
                             (public, private, p.returncode, ct.stdout + ct.stderr))
        time.sleep(1)


def test_5_elastic_ip_moves(cloud, step):
    public = cloud.ec2("allocate-address")["PublicIp"]
    step["address"] = public
    cloud.ec2("associate-address", "--instance-id", step["a"], "--public-ip", public)
    inst = cloud.instances([step["a"]])[step["a"]]
    assert inst.get("PublicIpAddress") == public, inst
    ping_reaches(cloud, public, step["private"][step["a"]])
    cloud.sim.front.run(["conntrack", "-D", "-p", "icmp", "-d", public], timeout=10)

    cloud.ec2("associate-address", "--instance-id", step["b"], "--public-ip", public)
    now = cloud.instances(step["ids"])
    assert now[step["b"]].get("PublicIpAddress") == public, now[step["b"]]
    assert now[step["a"]].get("PublicIpAddress") != public, now[step["a"]]
    ping_reaches(cloud, public, step["private"][step["b"]])


# --- 6. everything away --------------------------------------------------------------

def test_6_clean_up_leaves_nothing(cloud, step):
    st = step
    if st.get("address"):
        cloud.ec2("disassociate-address", "--public-ip", st["address"], check=False)
        cloud.ec2("release-address", "--public-ip", st["address"])
    every = list(cloud.instances())
    live = [i for i, d in cloud.instances().items() if d["State"]["Name"] != "terminated"]
    if live:
        cloud.ec2("terminate-instances", "--instance-ids", *live)
        cloud.wait_instances(live, "terminated", timeout=120)
    if st.get("snapshot"):
        cloud.ec2("delete-snapshot", "--snapshot-id", st["snapshot"])
    for v in st.get("volumes", []):
        cloud.ec2("delete-volume", "--volume-id", v)
    cloud.ec2("delete-security-group", "--group-name", "e2e")
    cloud.ec2("delete-key-pair", "--key-name", "e2e")

    assert cloud.ec2("describe-volumes")["Volumes"] == []
    assert cloud.ec2("describe-snapshots", "--owner-ids", "self")["Snapshots"] == []
    assert cloud.ec2("describe-key-pairs")["KeyPairs"] == []
    assert cloud.ec2("describe-addresses")["Addresses"] == [] or all(
        not a.get("InstanceId") for a in cloud.ec2("describe-addresses")["Addresses"])

    # The nodes: full capacity, no domain, tap, loop device, AoE helper.
    deadline = time.monotonic() + 60
    while True:
        status = cloud.karri("status").stdout
        nodes = [l for l in status.splitlines() if l.strip().startswith("node ")]
        full = nodes and all(re.search(r"cores (\d+)/\1 mem (\d+)/\2 MiB .* instances 0", l)
                             for l in nodes)
        listed = [i for i in every if i in status]
        if full and not listed:
            break
        assert time.monotonic() < deadline, "karri status still shows things:\n" + status
        time.sleep(2)
    for n in cloud.sim.nodes:
        virsh = n.run(["virsh", "-c", n.libvirt_uri, "list", "--all", "--name"], timeout=30)
        assert virsh.stdout.strip() == "", "domains left on %s: %s" % (n.name, virsh.stdout)
        links = n.run(["ip", "-o", "link"], timeout=10).stdout
        assert not re.search(r"^\d+: kr", links, re.M), "taps left on %s:\n%s" % (n.name, links)
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert cloud.qs not in loops, "loop devices left:\n" + loops
    # EBS: no volume file, no AoE export, no initiator left on the nodes.
    left = []
    for root, _dirs, files in os.walk(os.path.join(cloud.qs, "front")):
        left += [os.path.join(root, f) for f in files if f.startswith(("vol-", "snap-"))]
    vdir = os.path.join(cloud.qs, "front", "var/lib/karri/volumes")   # EBS_VOLUMES_DIR
    for root, _dirs, files in os.walk(vdir):
        left += [os.path.join(root, f) for f in files]
    assert left == [], left
    # Only this cloud's processes: those in its hosts' namespaces (`ps` would
    # list every process of the machine, another cloud's karri-aoe too).
    for h in cloud.sim.hosts:
        pids = h.run(["ip", "netns", "pids", h.netns], timeout=10).stdout.split()
        left = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    args = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue        # gone meanwhile
            if re.search(r"karri-aoe.* (nbd|export)", args):
                left.append(args)
        assert not left, "AoE helpers left on %s: %s" % (h.name, left)


# --- boto2, SigV2 --------------------------------------------------------------------

def test_7_boto2_sigv2_pass(cloud, timed):
    """The same cloud through boto 2.49 with SigV2 (euca2ools 3.1 style): a
    shorter pass over the same resource kinds."""
    import boto
    from boto import auth
    from boto.ec2.connection import EC2Connection
    from boto.ec2.regioninfo import RegionInfo
    if not boto.config.has_section("Boto"):
        boto.config.add_section("Boto")
    boto.config.set("Boto", "num_retries", "0")
    url = cloud.env["EC2_URL"]
    m = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    conn = EC2Connection(cloud.env["AWS_ACCESS_KEY_ID"], cloud.env["AWS_SECRET_ACCESS_KEY"],
                         region=RegionInfo(name="karri", endpoint=m.group(1)),
                         port=int(m.group(2)), path=m.group(3), is_secure=False)
    conn._auth_handler = auth.QuerySignatureV2AuthHandler(conn.host, boto.config, conn.provider)
    zones = conn.get_all_zones()
    assert [z.name for z in zones] == [ZONE]
    kp = conn.create_key_pair("e2e-boto2")
    assert kp.material.startswith("-----BEGIN")
    g = conn.create_security_group("e2e-boto2", "boto2 pass")
    assert g.authorize("tcp", 22, 22, str(cloud.sim.priv_net))
    v = conn.create_volume(1, ZONE)
    addr = conn.allocate_address()
    try:
        assert [x.id for x in conn.get_all_volumes([v.id])] == [v.id]
        assert addr.public_ip in [a.public_ip for a in conn.get_all_addresses()]
    finally:
        conn.release_address(public_ip=addr.public_ip)
        deadline = time.monotonic() + 60
        while conn.get_all_volumes([v.id])[0].status != "available":
            assert time.monotonic() < deadline
            time.sleep(1)
        conn.delete_volume(v.id)
        conn.delete_security_group("e2e-boto2")
        conn.delete_key_pair("e2e-boto2")
    assert conn.get_all_key_pairs() == []
