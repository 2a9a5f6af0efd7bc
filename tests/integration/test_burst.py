"""Bursting: a private Karri cloud sends instances to a "public" EC2-compatible
cloud registered with `karri register-cloud` as one more availability zone.

Two small clouds (harness/smallcloud.py: CLC + real karri-cc + karri-ncsim +
Walrus) on one machine; the second, on its own ports, plays the public cloud
and its user bob's credentials are what the private cloud bursts with.
Alice only ever talks to the private endpoint (awscli and boto3); bob's
client looks at the public cloud directly to check what really happened
there.  The private cloud has one single-core node, so one m1.small fills it.
"""

import json
import os
import signal
import time

import pytest

from harness.clc import wait_for
from harness.daemons import free_port
from harness.lossy_proxy import LossyProxy
from harness.smallcloud import SmallCloud

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="binds 127.1.0.x (fine as root)")

TAG = "karri:burst"


class Env:
    pass


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("burst")
    with SmallCloud(tmp / "public", first_ip="127.1.0.41", cores=4) as pub, \
            SmallCloud(tmp / "private", first_ip="127.1.0.51", cores=1) as priv:
        e = Env()
        e.pub, e.priv, e.tmp = pub, priv, tmp
        e.bob = pub.user("bob")
        e.alice = priv.user("alice")
        e.ami = pub.image(e.bob, "pubimg")
        e.emi = priv.image(e.alice, "img")
        e.endpoint = pub.cloud.endpoint
        e.seen = []         # every answer shown to anyone, searched for the secret at the end
        p = priv.karri("register-cloud", "public", "--endpoint", e.endpoint,
                       "--region", "karri", "--access-key", e.bob.access,
                       "--secret-key", e.bob.secret, "--policy", "overflow",
                       "--image", f"{e.emi}={e.ami}", "--type", "m1.small=c1.medium",
                       "--timeout", "3")
        e.seen += [p.stdout, p.stderr]
        assert "answers and accepts the credentials" in p.stdout, p.stdout
        priv.wait_zone(e.alice)
        priv.wait_zone(e.alice, "public")
        yield e


def states(ec2, ids):
    r = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for x in r for i in x["Instances"]}


def remote_instances(e):
    """bob's view of the public cloud: {id: instance}."""
    r = e.bob.ec2.describe_instances()["Reservations"]
    return {i["InstanceId"]: i for x in r for i in x["Instances"]}


def ours(i):
    return any(t["Key"] == TAG for t in i.get("Tags", []))


def test_remote_cloud_is_a_zone(env):
    zones = {z["ZoneName"]: z for z in env.alice.ec2.describe_availability_zones()
             ["AvailabilityZones"]}
    env.seen.append(json.dumps(zones))
    assert zones["zone1"]["State"] == "available"
    assert zones["public"]["State"] == "available"
    assert "remote cloud" in zones["public"]["Messages"][0]["Message"]
    out = env.priv.karri("describe-clouds").stdout
    env.seen.append(out)
    assert f"endpoint={env.endpoint}" in out and "policy=overflow" in out
    assert f"image {env.emi} -> {env.ami}" in out and "type  m1.small -> c1.medium" in out
    st = env.priv.karri("status", check=False)
    env.seen += [st.stdout, st.stderr]
    line = [ln for ln in st.stdout.splitlines() if ln.startswith("cloud ")]
    assert len(line) == 1 and " UP " in line[0] and "zone=public" in line[0], st.stdout


def test_explicit_placement_describe_console_reboot_terminate(env):
    a = env.alice
    a.aws("create-key-pair", "--key-name", "k1")
    a.aws("create-security-group", "--group-name", "web", "--description", "web")
    a.aws("authorize-security-group-ingress", "--group-name", "web", "--protocol", "tcp",
          "--port", "22", "--cidr", "0.0.0.0/0")
    out = a.aws("run-instances", "--image-id", env.emi, "--instance-type", "m1.small",
                "--key-name", "k1", "--security-groups", "web",
                "--placement", "AvailabilityZone=public")
    env.seen.append(json.dumps(out))
    inst = out["Instances"][0]
    iid = inst["InstanceId"]
    assert inst["Placement"]["AvailabilityZone"] == "public"
    assert inst["ImageId"] == env.emi and inst["KeyName"] == "k1"

    # What really happened in the public cloud: one instance of the mapped image and
    # type, tagged, under a different id, with the key and group made there on demand.
    there = [i for i in remote_instances(env).values() if ours(i) and
             i["State"]["Name"] != "terminated"]
    assert len(there) == 1
    rid = there[0]["InstanceId"]
    assert rid != iid and there[0]["ImageId"] == env.ami
    assert there[0]["InstanceType"] == "c1.medium"
    assert there[0]["KeyName"].startswith(f"karri-{a.account}-k1-")
    groups = env.bob.ec2.describe_security_groups(
        GroupNames=[f"karri-{a.account}-web"])["SecurityGroups"]
    assert [p["FromPort"] for p in groups[0]["IpPermissions"]] == [22]

    wait_for(lambda: states(a.ec2, [iid])[iid] == "running", timeout=30)
    r = a.aws("describe-instances", "--filters", "Name=availability-zone,Values=public")
    env.seen.append(json.dumps(r))
    assert [i["InstanceId"] for x in r["Reservations"] for i in x["Instances"]] == [iid]
    # Its owner sees where it runs in place of a node's attachment choice; the public
    # cloud (a Karri too) took this cloud's mark at launch although karri: is reserved.
    mine = r["Reservations"][0]["Instances"][0]
    assert {t["Key"]: t["Value"] for t in mine["Tags"]} == {"karri:disk": "remote",
                                                            "karri:net": "remote"}

    console = a.ec2.get_console_output(InstanceId=iid)
    env.seen.append(json.dumps(console, default=str))
    assert console["InstanceId"] == iid
    assert "ncsim node" in console["Output"]     # botocore decodes the base64
    a.ec2.reboot_instances(InstanceIds=[iid])

    t = a.aws("terminate-instances", "--instance-ids", iid)
    assert t["TerminatingInstances"][0]["CurrentState"]["Name"] in ("shutting-down",
                                                                    "terminated")
    wait_for(lambda: remote_instances(env)[rid]["State"]["Name"] == "terminated", timeout=30)
    wait_for(lambda: states(a.ec2, [iid])[iid] == "terminated", timeout=30)


def test_overflow_when_the_private_cloud_is_full(env):
    ec2 = env.alice.ec2
    first = ec2.run_instances(ImageId=env.emi, MinCount=1, MaxCount=1,
                              InstanceType="m1.small")["Instances"][0]
    assert first["Placement"]["AvailabilityZone"] == "zone1"
    # At once: the CLC's capacity figures are a poll old, so its CC is asked first and
    # refuses, and the launch moves on to the overflow cloud within the same call.
    second = ec2.run_instances(ImageId=env.emi, MinCount=1, MaxCount=1,
                               InstanceType="m1.small")["Instances"][0]
    assert second["Placement"]["AvailabilityZone"] == "public"
    ids = [first["InstanceId"], second["InstanceId"]]
    wait_for(lambda: set(states(ec2, ids).values()) == {"running"}, timeout=30)
    st = env.priv.karri("status", check=False).stdout
    assert "instances=1" in [ln for ln in st.splitlines() if ln.startswith("cloud ")][0], st
    ec2.terminate_instances(InstanceIds=ids)
    wait_for(lambda: set(states(ec2, ids).values()) == {"terminated"}, timeout=30)


def test_instance_terminated_behind_our_back_is_reconciled(env):
    ec2 = env.alice.ec2
    iid = ec2.run_instances(ImageId=env.emi, MinCount=1, MaxCount=1,
                            Placement={"AvailabilityZone": "public"})["Instances"][0]["InstanceId"]
    rid = [k for k, i in remote_instances(env).items()
           if ours(i) and i["State"]["Name"] in ("pending", "running")]
    assert len(rid) == 1
    env.bob.ec2.terminate_instances(InstanceIds=rid)
    wait_for(lambda: states(ec2, [iid])[iid] == "terminated", timeout=30)
    i = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert "outside Karri" in i["StateReason"]["Message"]


def test_remote_failures_are_clear_and_leave_nothing(env):
    ec2, a = env.alice.ec2, env.alice
    before = set(remote_instances(env))

    def burst_rows():
        r = ec2.describe_instances(Filters=[{"Name": "availability-zone",
                                             "Values": ["public"]}])["Reservations"]
        return {i["InstanceId"] for x in r for i in x["Instances"]}
    rows = burst_rows()

    # The public cloud stops answering mid-call: the launch fails within the timeout.
    env.pub.clc.proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        p = a.aws("run-instances", "--image-id", env.emi, "--placement",
                  "AvailabilityZone=public", check=False)
        took = time.monotonic() - t0
    finally:
        env.pub.clc.proc.send_signal(signal.SIGCONT)
    env.seen += [p.stdout, p.stderr]
    assert p.returncode != 0 and "(Unavailable)" in p.stderr, p.stderr
    assert "did not answer" in p.stderr and took < 20
    assert burst_rows() == rows
    # Whatever the public cloud made of the lost call, it does not stay running.
    def settled():
        new = {k: i for k, i in remote_instances(env).items() if k not in before}
        return all(i["State"]["Name"] in ("shutting-down", "terminated") for i in new.values())
    # No waiting first: the public CLC takes its connections in order on one
    # loop, and a launch writes its rows before it calls its CC, so whatever
    # the lost call made is listed by any DescribeInstances sent after SIGCONT
    # (as settled() sends).  In the run that checked, the lost call never reached the
    # public CLC's action at all (it logged no RunInstances): its client was gone.
    wait_for(settled, 30, "what the lost launch made to be terminated")

    # Unreachable and refused credentials: clear errors, no rows.
    dead = f"http://127.0.0.1:{free_port()}/services/Eucalyptus"
    for name, img in (("gone", [f"--image={env.emi}={env.ami}"]), ("nomap", [])):
        env.priv.karri("register-cloud", name, "--endpoint", dead, "--region", "karri",
                       "--access-key", "AKIDGONE", "--secret-key", "x" * 40, *img)
    env.priv.karri("register-cloud", "badkey", "--endpoint", env.endpoint, "--region", "karri",
                   "--access-key", env.bob.access, "--secret-key", "y" * 40,
                   "--image", f"{env.emi}={env.ami}")
    for zone, words in (("gone", "not reachable"), ("badkey", "refused this cloud's")):
        p = a.aws("run-instances", "--image-id", env.emi, "--placement",
                  f"AvailabilityZone={zone}", check=False)
        env.seen += [p.stdout, p.stderr]
        assert "(Unavailable)" in p.stderr and words in p.stderr, p.stderr
        r = ec2.describe_instances(Filters=[{"Name": "availability-zone",
                                             "Values": [zone]}])["Reservations"]
        assert r == []
    # An image with no counterpart there is the user's error, named.
    assert a.code_of(ec2.run_instances, ImageId=env.emi, MinCount=1, MaxCount=1,
                     Placement={"AvailabilityZone": "nomap"}) == "InvalidAMIID.NotFound"
    for name in ("gone", "nomap", "badkey"):
        env.priv.karri("deregister-cloud", name)


def test_lost_launch_answer_leaves_nothing_running(env):
    """The public cloud launches but its answer never arrives (it died after acting,
    or the network broke): the user gets a clear error, no row, and the next poll
    terminates the instance that was made there (it carries this cloud's tag)."""
    ec2, a = env.alice.ec2, env.alice
    before = set(remote_instances(env))
    with LossyProxy(env.endpoint, hold_s=5) as px:
        env.priv.karri("register-cloud", "flaky", "--endpoint", px.url, "--region", "karri",
                       "--access-key", env.bob.access, "--secret-key", env.bob.secret,
                       "--image", f"{env.emi}={env.ami}", "--timeout", "3")
        px.lose = {"RunInstances"}
        p = a.aws("run-instances", "--image-id", env.emi, "--placement",
                  "AvailabilityZone=flaky", check=False)
        env.seen += [p.stdout, p.stderr]
        assert "(Unavailable)" in p.stderr and "did not answer RunInstances" in p.stderr, \
            p.stderr
        assert px.lost == ["RunInstances"]
        assert ec2.describe_instances(Filters=[{"Name": "availability-zone",
                                                "Values": ["flaky"]}])["Reservations"] == []
        made = wait_for(lambda: {k: i for k, i in remote_instances(env).items()
                                 if k not in before}, timeout=10)
        assert len(made) == 1 and ours(list(made.values())[0])
        wait_for(lambda: all(remote_instances(env)[k]["State"]["Name"] in
                             ("shutting-down", "terminated") for k in made), timeout=30)
    assert "launched by this cloud but never recorded" in env.priv.clc.log()
    env.priv.karri("deregister-cloud", "flaky")


def test_secret_key_is_in_no_log_and_no_answer(env):
    secret = env.bob.secret
    found = []
    for side in (env.priv, env.pub):
        for root, _, files in os.walk(side.home):
            for f in files:
                if ".db" in f:      # the CLC's database is where the secret lives
                    continue
                path = os.path.join(root, f)
                with open(path, "rb") as fh:
                    if secret.encode() in fh.read():
                        found.append(path)
    assert found == []
    assert not [s for s in env.seen if secret in s]
    logs = env.priv.clc.log()
    assert "cloud public: launched" in logs
