#!/usr/bin/python3
"""The cloud of ./quickstart: simulated hosts (tools/karri_sim.py), Karri's
daemons on them, the endpoints forwarded to this machine's loopback, and the
admin's eucarc.  Called by ./quickstart after it has installed and built.

Everything lives under /var/lib/karri/quickstart: the sim's state, each
host's KARRI_HOME (front/, node1/, ...), the forwarders' pids and the eucarc.
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import karri_sim  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KARRI_BUILD", os.path.join(TOP, "build", "gcc"))
QS = "/var/lib/karri/quickstart"
PREFIX = "kq"
NODES = 2
PORTS = {"CLC_PORT": 8773, "WALRUS_PORT": 8779, "CC_PORT": 8774, "NC_PORT": 8775, "EBS_PORT": 8776}
FRONT_DAEMONS = [("karri-clc", "clc"), ("karri-walrus", "walrus"), ("karri-ebs", "ebs"), ("karri-cc", "cc")]
FORWARDED = [8773, 8779]          # what users on this machine reach at 127.0.0.1
FORWARDER_PIDS = os.path.join(QS, "forwarders.pids")


def say(msg):
    print(msg, flush=True)


def write_config(home, values):
    os.makedirs(os.path.join(home, "etc/karri"), exist_ok=True)
    path = os.path.join(home, "etc/karri/karri.conf")
    with open(path, "w") as f:
        f.write("# written by ./quickstart\n")
        for k, v in values.items():
            f.write(f'{k}="{v}"\n')
    return path


def cloud_config(sim):
    return {**PORTS,
            "NODES": " ".join(n.priv_ip for n in sim.nodes),
            "HYPERVISOR": "qemu",
            "SCHEDPOLICY": "ROUNDROBIN",
            "VNET_MODE": "MANAGED-NOVLAN",
            # No certificates yet (they come with `karri register-*`): plain HTTP inside.
            "KARRI_INSECURE_HTTP": "Y"}


def start_daemons(sim):
    cfg = cloud_config(sim)
    front_home = os.path.join(QS, "front")
    conf = write_config(front_home, cfg)
    for name, d in FRONT_DAEMONS:
        sim.front.spawn([os.path.join(BUILD, d, name), "-f", conf], env={"KARRI_HOME": front_home},
                        log=os.path.join(front_home, f"{name}.out"))
    for n in sim.nodes:
        home = os.path.join(QS, n.name)
        conf = write_config(home, {**cfg, "KARRI_BIND_ADDRESS": n.priv_ip,
                                   "INSTANCE_PATH": os.path.join(home, "instances")})
        n.spawn([os.path.join(BUILD, "nc", "karri-nc"), "-f", conf], env={"KARRI_HOME": home},
                log=os.path.join(home, "karri-nc.out"))


def karri_status(sim):
    conf = os.path.join(QS, "front", "etc/karri/karri.conf")
    return sim.front.run([os.path.join(BUILD, "tools", "karri"), "-f", conf, "-H", sim.front.priv_ip,
                          "status"], timeout=60)


def wait_all_up(sim, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        out = karri_status(sim)
        if out.returncode == 0 or time.monotonic() > deadline:
            return out
        time.sleep(0.5)


def start_forwarders(sim):
    """socat on 127.0.0.1 -> the front end over the host link, one per port."""
    stop_forwarders()
    pids = []
    for port in FORWARDED:
        p = subprocess.Popen(["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                              f"TCP:{sim.front.host_ip}:{port}"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(QS, f"forward-{port}.log"), "ab"),
                             start_new_session=True)
        pids.append(p.pid)
    with open(FORWARDER_PIDS, "w") as f:
        f.write("".join(f"{pid}\n" for pid in pids))


def stop_forwarders():
    try:
        with open(FORWARDER_PIDS) as f:
            pids = [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if not f.read().startswith(b"socat"):
                    continue          # the pid was reused by something else
            os.kill(pid, signal.SIGTERM)
        except (FileNotFoundError, ProcessLookupError):
            pass
    os.unlink(FORWARDER_PIDS)


def write_eucarc():
    path = os.path.join(QS, "eucarc")
    with open(path, "w") as f:
        f.write(f"""# Karri quickstart credentials: source this file.
#   aws --endpoint-url "$EC2_URL" ec2 describe-instances
# (awscli 2.9 reads no endpoint from the environment.)
export EC2_URL=http://127.0.0.1:{PORTS['CLC_PORT']}/services/Eucalyptus
export S3_URL=http://127.0.0.1:{PORTS['WALRUS_PORT']}/services/Walrus
export AWS_DEFAULT_REGION=karri
# Users and their access keys (karri user add, karri credentials) arrive with
# the cloud controller; this version has none to write here yet.
""")
    return path


def up():
    os.makedirs(QS, exist_ok=True)
    sim = karri_sim.Sim.load(PREFIX, state_dir=os.path.join(QS, "sim"))
    if sim.is_up() and karri_status(sim).returncode == 0:
        say("quickstart: already running")
    else:
        if sim.is_up():
            say("quickstart: partly running; starting again")
            down(quiet=True)
        t0 = time.monotonic()
        sim = karri_sim.Sim(PREFIX, nodes=NODES, state_dir=os.path.join(QS, "sim"), host_link=True)
        say(f"  hosts: front end + {NODES} nodes in network namespaces, libvirtd per node ...")
        sim.up()
        say(f"  hosts up in {time.monotonic() - t0:.0f} s; starting the daemons ...")
        start_daemons(sim)
        start_forwarders(sim)
    out = wait_all_up(sim)
    print(out.stdout, end="")
    if out.returncode != 0:
        say("quickstart: some services did not come up; logs are under " + QS)
        sys.exit(1)
    eucarc = write_eucarc()
    say(f"""
Karri is up: front end {sim.front.netns} ({sim.front.priv_ip}), nodes {', '.join(n.netns for n in sim.nodes)}.
  source {eucarc}
  aws --endpoint-url "$EC2_URL" ec2 describe-instances
  ./quickstart stop""")


def down(quiet=False):
    stop_forwarders()
    sim = karri_sim.Sim.load(PREFIX, state_dir=os.path.join(QS, "sim"))
    sim.down(quiet=quiet)         # kills every process it spawned, removes namespaces
    if not quiet:
        say("quickstart: stopped; nothing of it is left running")


def status():
    sim = karri_sim.Sim.load(PREFIX, state_dir=os.path.join(QS, "sim"))
    if not sim.is_up():
        say("quickstart: not running")
        sys.exit(1)
    out = karri_status(sim)
    print(out.stdout, end="")
    sys.exit(out.returncode)


if __name__ == "__main__":
    {"up": up, "stop": down, "status": status}[sys.argv[1] if len(sys.argv) > 1 else "up"]()
