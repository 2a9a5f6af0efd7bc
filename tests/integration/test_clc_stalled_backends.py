"""The CLC keeps answering while a backend is stopped (issue 15).

A private SmallCloud (CLC + real karri-cc + karri-ncsim + Walrus) with a
real karri-ebs, bursting to a second SmallCloud as the remote cloud
"public".  In turn the CC, EBS, Walrus and the remote cloud's CLC are
SIGSTOPped; calls that need the stopped one (RunInstances, CreateVolume,
RegisterImage, a burst RunInstances) wait on it, while other clients'
DescribeInstances, DescribeKeyPairs and metadata requests are each answered
in under a second.  The waiting calls end with an EC2 error after
SOAP_TIMEOUT (3 s here) and leave nothing behind; one more call than
CLC_MAX_BACKEND_CALLS is refused at once with RequestLimitExceeded; after
SIGCONT everything works again.
"""

import os
import signal
import sqlite3
import threading
import time
import urllib.request

import botocore.config
import botocore.exceptions
import pytest

from harness.clc import wait_for
from harness.daemons import Daemon
from harness.smallcloud import SmallCloud

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="binds 127.1.0.x (fine as root)")

TIMEOUT = 3         # the private CLC's SOAP_TIMEOUT
MAX_CALLS = 2       # its CLC_MAX_BACKEND_CALLS


class Env:
    pass


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stalled")
    cfg = {"SOAP_TIMEOUT": TIMEOUT, "CLC_MAX_BACKEND_CALLS": MAX_CALLS}
    with SmallCloud(tmp / "public", first_ip="127.1.0.61", cores=4) as pub, \
            SmallCloud(tmp / "private", first_ip="127.1.0.71", cores=4,
                       clc_config=cfg) as priv, \
            Daemon("karri-ebs", str(tmp / "ebs"), {"EBS_STORAGE_INTERFACE": "lo"}) as ebs:
        e = Env()
        e.pub, e.priv, e.ebs, e.tmp = pub, priv, ebs, tmp
        e.bob = pub.user("bob")
        e.alice = priv.user("alice")
        e.carol = priv.user("carol")            # the other client, never waiting
        e.ami = pub.image(e.bob, "pubimg")
        e.emi = priv.image(e.alice, "img")
        priv.karri("register-ebs", "ebs1", f"127.0.0.1:{ebs.port}")
        priv.karri("register-cloud", "public", "--endpoint", pub.cloud.endpoint,
                   "--region", "karri", "--access-key", e.bob.access,
                   "--secret-key", e.bob.secret, "--policy", "explicit",
                   "--image", f"{e.emi}={e.ami}", "--timeout", str(TIMEOUT))
        priv.wait_zone(e.alice)
        priv.wait_zone(e.alice, "public")
        e.carol.ec2.create_key_pair(KeyName="carols")
        # A running instance of carol's, whose metadata is asked for meanwhile.
        cimg = priv.store.register(e.carol, "carol-images", "cimg")
        iid = e.carol.ec2.run_instances(ImageId=cimg, MinCount=1,
                                        MaxCount=1)["Instances"][0]["InstanceId"]
        wait_for(lambda: inst(e.carol, iid)["State"]["Name"] == "running", timeout=30)
        # SYSTEM mode: the LAN's DHCP would give it an address; the metadata service
        # finds the caller by that address, so record one as if the CC had seen it.
        e.carol_iid, e.carol_ip = iid, "10.77.0.5"
        db = sqlite3.connect(os.path.join(priv.cloud.home, "var/lib/karri/clc.db"), timeout=10)
        with db:
            db.execute("UPDATE instances SET private_ip = ? WHERE id = ?", (e.carol_ip, iid))
        db.close()
        yield e


def inst(user, iid):
    return user.ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]


def slow_client(user):
    """boto3 that waits as long as the CLC needs and never retries."""
    import boto3
    return boto3.client("ec2", endpoint_url=user.cloud.endpoint, region_name="karri",
                        aws_access_key_id=user.access, aws_secret_access_key=user.secret,
                        config=botocore.config.Config(retries={"total_max_attempts": 1},
                                                      read_timeout=120))


def count(e, sql):
    db = sqlite3.connect(os.path.join(e.priv.cloud.home, "var/lib/karri/clc.db"))
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


class Waiting:
    """n calls of fn in threads: each one's (error code or None, seconds)."""

    def __init__(self, fn, n):
        self.results = [None] * n
        self.threads = [threading.Thread(target=self._run, args=(fn, i)) for i in range(n)]
        for t in self.threads:
            t.start()

    def _run(self, fn, i):
        t0 = time.monotonic()
        try:
            fn()
            code = None
        except botocore.exceptions.ClientError as ex:
            code = ex.response["Error"]["Code"]
        self.results[i] = (code, time.monotonic() - t0)

    def join(self):
        for t in self.threads:
            t.join(120)
        return self.results


def others_served(e, seconds=2.0):
    """Carol's cheap calls and her instance's metadata, each under a second, meanwhile."""
    url = f"http://127.0.0.1:{e.priv.cloud.port}/latest/meta-data/instance-id"
    worst = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for call in (lambda: e.carol.ec2.describe_instances(),
                     lambda: e.carol.ec2.describe_key_pairs(),
                     lambda: urllib.request.urlopen(urllib.request.Request(
                         url, headers={"X-Forwarded-For": e.carol_ip}), timeout=5).read()):
            t0 = time.monotonic()
            got = call()
            took = time.monotonic() - t0
            worst = max(worst, took)
            assert took < 1.0, f"{took:.2f} s while a backend is stopped"
            if isinstance(got, bytes):
                assert got.decode() == e.carol_iid
    return worst


def stopped(proc):
    """The daemon hangs: its whole process group stopped (karri-cc is two
    processes, and the harness starts each daemon in a session of its own)."""
    class Ctx:
        def __enter__(self):
            os.killpg(proc.pid, signal.SIGSTOP)

        def __exit__(self, *exc):
            os.killpg(proc.pid, signal.SIGCONT)
    return Ctx()


def test_stopped_cc(env):
    e = env
    ec2 = slow_client(e.alice)
    before = count(e, "SELECT count(*) FROM instances")
    with stopped(e.priv.cc.proc):
        w = Waiting(lambda: ec2.run_instances(ImageId=e.emi, MinCount=1, MaxCount=1,
                                              Placement={"AvailabilityZone": "zone1"}),
                    MAX_CALLS)
        # Both are waiting on the CC: one more is refused at once.
        wait_for(lambda: count(e, "SELECT count(*) FROM instances") == before + MAX_CALLS,
                 timeout=5, step=0.05)
        t0 = time.monotonic()
        code = e.alice.code_of(e.alice.ec2.run_instances, ImageId=e.emi, MinCount=1,
                               MaxCount=1, Placement={"AvailabilityZone": "zone1"})
        assert code == "RequestLimitExceeded" and time.monotonic() - t0 < 1.0
        others_served(e)
        results = w.join()
    assert [r[0] for r in results] == ["Unavailable"] * MAX_CALLS, results
    assert all(TIMEOUT - 0.5 < r[1] < TIMEOUT + 5 for r in results), results
    # Nothing half-made: the pending rows are gone again.
    assert count(e, "SELECT count(*) FROM instances") == before
    # After SIGCONT the CC runs what it had queued: orphans, which the poll terminates;
    # and new launches work.
    iid = e.alice.ec2.run_instances(ImageId=e.emi, MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"]
    wait_for(lambda: inst(e.alice, iid)["State"]["Name"] == "running", timeout=30)
    e.alice.ec2.terminate_instances(InstanceIds=[iid])


def test_stopped_cc_console_and_reboot(env):
    """GetConsoleOutput and RebootInstances wait on the CC too, never on the loop."""
    e = env
    ec2 = slow_client(e.alice)

    def launch():
        """None while the node is still full of the instances an earlier test
        terminated (their termination reaches the node in the background)."""
        try:
            return e.alice.ec2.run_instances(ImageId=e.emi, MinCount=1, MaxCount=1,
                                             Placement={"AvailabilityZone": "zone1"})[
                "Instances"][0]["InstanceId"]
        except botocore.exceptions.ClientError as ex:
            if ex.response["Error"]["Code"] != "InsufficientInstanceCapacity":
                raise
            return None
    iid = wait_for(launch, timeout=60)
    wait_for(lambda: inst(e.alice, iid)["State"]["Name"] == "running", timeout=30)
    with stopped(e.priv.cc.proc):
        console = Waiting(lambda: ec2.get_console_output(InstanceId=iid), 1)
        reboot = Waiting(lambda: ec2.reboot_instances(InstanceIds=[iid]), 1)
        others_served(e)
        results = console.join() + reboot.join()
    assert [r[0] for r in results] == ["Unavailable"] * 2, results
    assert all(TIMEOUT - 0.5 < r[1] < TIMEOUT + 5 for r in results), results
    # After SIGCONT both are answered.
    assert "ncsim node" in e.alice.ec2.get_console_output(InstanceId=iid)["Output"]
    e.alice.ec2.reboot_instances(InstanceIds=[iid])
    e.alice.ec2.terminate_instances(InstanceIds=[iid])


def test_stopped_ebs(env):
    e = env
    ec2 = slow_client(e.alice)
    with stopped(e.ebs.proc):
        w = Waiting(lambda: ec2.create_volume(Size=1, AvailabilityZone="zone1"), MAX_CALLS)
        others_served(e)
        results = w.join()
    assert [r[0] for r in results] == ["Unavailable"] * MAX_CALLS, results
    assert count(e, "SELECT count(*) FROM volumes") == 0
    vol = e.alice.ec2.create_volume(Size=1, AvailabilityZone="zone1")["VolumeId"]
    wait_for(lambda: e.alice.ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] ==
             "available", timeout=60)
    e.alice.ec2.delete_volume(VolumeId=vol)


def test_stopped_walrus(env):
    e = env
    ec2 = slow_client(e.alice)
    loc = e.priv.store.publish(e.alice, "alice-late", "late")
    images = count(e, "SELECT count(*) FROM images")
    with stopped(e.priv.store.wl.daemon.proc):
        w = Waiting(lambda: ec2.register_image(ImageLocation=loc, Name="late"), 1)
        others_served(e)
        results = w.join()
    assert results[0][0] == "Unavailable", results
    assert count(e, "SELECT count(*) FROM images") == images
    e.alice.ec2.register_image(ImageLocation=loc, Name="late")


def test_stopped_remote_cloud(env):
    e = env
    ec2 = slow_client(e.alice)
    before = count(e, "SELECT count(*) FROM instances")
    with stopped(e.pub.cloud.clc.proc):
        w = Waiting(lambda: ec2.run_instances(ImageId=e.emi, MinCount=1, MaxCount=1,
                                              Placement={"AvailabilityZone": "public"}), 1)
        others_served(e, seconds=TIMEOUT + 1)   # the remote's poll stalls too meanwhile
        results = w.join()
    assert results[0][0] == "Unavailable", results
    assert count(e, "SELECT count(*) FROM instances") == before
    # The cloud answers again (its zone comes back once the poll retries).
    e.priv.wait_zone(e.alice, "public", timeout=60)
