"""./quickstart's cloud (tools/quickstart.py, after ./quickstart has
installed and built): every service answers, the API is reachable from this
machine's loopback, a second run changes nothing, stop leaves nothing."""

import os
import subprocess

import pytest

from harness.daemons import BUILD, SRC

QS = "/var/lib/karri/quickstart"
PY = "/usr/bin/python3"


def quickstart(*args, timeout=180):
    return subprocess.run([PY, os.path.join(SRC, "tools", "quickstart.py"), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "KARRI_BUILD": BUILD})


def kq_namespaces():
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [l.split()[0] for l in netns.splitlines() if l.startswith("kq-")]


def alive(pid):
    """True while pid runs (a zombie waiting for PID 1 to reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def no_running_quickstart():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if kq_namespaces():
        pytest.skip("a quickstart cloud is running on this machine; not touching it")
    yield
    quickstart("stop")


def test_quickstart_up_use_again_and_stop(no_running_quickstart):
    up = quickstart("up")
    assert up.returncode == 0, up.stdout + up.stderr
    rows = [l for l in up.stdout.splitlines() if l.startswith("karri-")]
    assert sorted(r.split()[0] for r in rows) == sorted(
        ["karri-clc", "karri-walrus", "karri-ebs", "karri-cc", "karri-nc", "karri-nc"])
    assert all("ENABLED" in r for r in rows)
    assert "source /var/lib/karri/quickstart/eucarc" in up.stdout

    # The eucarc holds the admin's own keys and points the user's tools at the
    # host's loopback: the CLC in kq-front answers, the zone and its nodes are up.
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    with open(os.path.join(QS, "eucarc")) as f:
        for line in f:
            if line.startswith("export ") and "${" not in line:
                k, v = line[len("export "):].strip().split("=", 1)
                env[k] = v.strip("'\"")
    assert env["EC2_URL"] == "http://127.0.0.1:8773/services/Eucalyptus"
    assert env["AWS_ACCESS_KEY_ID"].startswith("AKI")
    aws = subprocess.run(["/usr/bin/aws", "--endpoint-url", env["EC2_URL"], "ec2",
                          "describe-availability-zones", "--zone-names", "verbose", "--output", "text"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert aws.returncode == 0, aws.stderr
    assert "AVAILABILITYZONES\tkarri\tavailable\tzone1" in aws.stdout.splitlines()
    assert "m1.small" in aws.stdout          # verbose: capacity per instance type
    s3 = subprocess.run(["/usr/bin/aws", "--endpoint-url", "http://127.0.0.1:8779", "s3", "mb",
                         "s3://quickstart-test"], capture_output=True, text=True, env=env, timeout=60)
    assert s3.returncode == 0, s3.stderr

    again = quickstart("up")
    assert again.returncode == 0 and "already running" in again.stdout
    pids = sorted(l.split("pid=")[1].split()[0] for l in again.stdout.splitlines() if "pid=" in l)
    assert pids == sorted(l.split("pid=")[1].split()[0] for l in rows), "second run restarted daemons"

    stop = quickstart("stop")
    assert stop.returncode == 0
    assert kq_namespaces() == []
    assert [p for p in pids if alive(int(p))] == [], "daemons left running"
    socats = subprocess.run(["pgrep", "-f", "socat TCP-LISTEN:87"], capture_output=True, text=True)
    assert socats.stdout == "", "forwarders left running"
    status = quickstart("status")
    assert status.returncode == 1 and "not running" in status.stdout
