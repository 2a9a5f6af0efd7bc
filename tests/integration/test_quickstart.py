"""./quickstart's cloud (karri.quickstart, after ./quickstart has
installed and built): every service answers, the test image is registered
and a demo instance boots it (its console marker is printed), the API is
reachable from this machine, a second run changes and duplicates nothing,
stop leaves nothing (namespaces, daemons, guests, forwarders).  The daemons
talk to each other over mutual TLS with the certificates registration issued.

The test runs a quickstart cloud of its own (KARRI_QS_DIR/PREFIX/NET), so a
user's quickstart or another test's cloud is left alone; it forwards the
API to 127.0.0.1 as ./quickstart does only when those ports are free."""

import json
import os
import re
import socket
import subprocess

import pytest

from harness import simlife
from harness.daemons import BUILD
from karri import python_argv

PREFIX = "kqt"
NET = simlife.free_net_index(first=6)   # its host link 10.83.I.0/30, unused here


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def namespaces():
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [l.split()[0] for l in netns.splitlines() if l.startswith(PREFIX + "-")]


def alive(pid):
    """True while pid runs (a zombie waiting for PID 1 to reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def guests_of(qs):
    """QEMU processes whose disks live under this quickstart's directory."""
    p = subprocess.run(["pgrep", "-af", "qemu-system"], capture_output=True, text=True)
    return [l for l in p.stdout.splitlines() if qs in l]


@pytest.fixture
def qs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if namespaces():
        pytest.skip(f"a {PREFIX}- cloud is running on this machine; not touching it")
    forward = port_free(8773) and port_free(8779)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "KARRI_BUILD": BUILD,
           "KARRI_QS_DIR": str(tmp_path / "qs"), "KARRI_QS_PREFIX": PREFIX,
           "KARRI_QS_NET": str(NET), "KARRI_QS_FORWARD": "yes" if forward else "no",
           "KARRI_QS_WRAPPER": str(tmp_path / "karri")}     # not this machine's karri

    def run(*args, timeout=600):
        return subprocess.run(python_argv("quickstart", *args),
                              capture_output=True, text=True, timeout=timeout, env=env)
    run.dir, run.forward = env["KARRI_QS_DIR"], forward
    yield run
    run("stop")


def eucarc(qs_dir):
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "AWS_PAGER": ""}
    with open(os.path.join(qs_dir, "eucarc")) as f:
        for line in f:
            if line.startswith("export ") and "${" not in line:
                k, v = line[len("export "):].strip().split("=", 1)
                env[k] = v.strip("'\"")
    return env


def aws(env, *args):
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", env["EC2_URL"], "ec2", *args,
                        "--output", "json"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def live_instances(env):
    out = aws(env, "describe-instances", "--filters",
              "Name=instance-state-name,Values=pending,running")
    return [i["InstanceId"] for r in out["Reservations"] for i in r["Instances"]]


def test_quickstart_up_use_again_and_stop(qs):
    up = qs("up")
    assert up.returncode == 0, up.stdout + up.stderr
    rows = [l for l in up.stdout.splitlines() if l.startswith("karri-")]
    assert sorted(r.split()[0] for r in rows) == sorted(
        ["karri-clc", "karri-walrus", "karri-ebs", "karri-cc", "karri-nc", "karri-nc"])
    assert all("ENABLED" in r for r in rows)
    # The daemons talk mutual TLS (no KARRI_INSECURE_HTTP): CC, EBS and NCs over https.
    assert all(r.split()[1].startswith("https://") for r in rows
               if r.split()[0] in ("karri-cc", "karri-ebs", "karri-nc")), up.stdout
    with open(os.path.join(qs.dir, "front", "etc/karri/karri.conf")) as f:
        assert "KARRI_INSECURE_HTTP" not in f.read()
    assert f"source {qs.dir}/eucarc" in up.stdout
    # The demo instance booted the test image: its console marker is shown.
    m = re.search(r"demo instance (i-[0-9a-f]+) launched running", up.stdout)
    assert m, up.stdout
    demo = m.group(1)
    assert re.search(r"^\s+KARRI-GUEST-UP$", up.stdout, re.M), up.stdout

    # The eucarc holds the admin's own keys and points the user's tools at
    # the API: the zone, the three images and the one instance are there.
    env = eucarc(qs.dir)
    if qs.forward:
        assert env["EC2_URL"] == "http://127.0.0.1:8773/services/Eucalyptus"
    assert env["AWS_ACCESS_KEY_ID"].startswith("AKI")
    z = subprocess.run(["/usr/bin/aws", "--endpoint-url", env["EC2_URL"], "ec2",
                        "describe-availability-zones", "--zone-names", "verbose", "--output",
                        "text"], capture_output=True, text=True, env=env, timeout=60)
    assert z.returncode == 0, z.stderr
    assert "AVAILABILITYZONES\tkarri\tavailable\tzone1" in z.stdout.splitlines()
    assert "m1.small" in z.stdout          # verbose: capacity per instance type
    images = aws(env, "describe-images", "--owners", "self")["Images"]
    assert sorted(i["ImageType"] for i in images) == ["kernel", "machine", "ramdisk"]
    assert live_instances(env) == [demo]
    s3 = subprocess.run(["/usr/bin/aws", "--endpoint-url", env["S3_URL"], "s3", "ls",
                         "s3://quickstart-test-image/", "--recursive"],
                        capture_output=True, text=True, env=env, timeout=60)
    assert s3.returncode == 0 and "disk.img.manifest.xml" in s3.stdout, s3.stderr

    # Again: nothing restarted, re-registered or launched twice.
    again = qs("up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout
    assert f"demo instance {demo} already running" in again.stdout
    pids = sorted(l.split("pid=")[1].split()[0] for l in again.stdout.splitlines() if "pid=" in l)
    assert pids == sorted(l.split("pid=")[1].split()[0] for l in rows), "second run restarted daemons"
    assert sorted(i["ImageId"] for i in aws(env, "describe-images", "--owners", "self")
                  ["Images"]) == sorted(i["ImageId"] for i in images)
    assert live_instances(env) == [demo]
    assert guests_of(qs.dir), "the demo instance's QEMU is not running"

    stop = qs("stop")
    assert stop.returncode == 0
    assert namespaces() == []
    assert [p for p in pids if alive(int(p))] == [], "daemons left running"
    assert guests_of(qs.dir) == [], "guests left running"
    socats = subprocess.run(["pgrep", "-f", "socat TCP-LISTEN:87"], capture_output=True, text=True)
    assert not qs.forward or socats.stdout == "", "forwarders left running"
    status = qs("status")
    assert status.returncode == 1 and "not running" in status.stdout
