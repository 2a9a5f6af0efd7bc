#!/usr/bin/python3
"""The cloud of ./quickstart: simulated hosts (tools/karri_sim.py), Karri's
daemons on them, the endpoints forwarded to this machine's loopback, the
admin's eucarc, and then what a user does first (tools/qs_image.py): the
test guest bundled, uploaded and registered, and one demo instance running
it, whose console marker is shown.  Called by ./quickstart after it has
installed and built.

Everything lives under /var/lib/karri/quickstart: the sim's state, each
host's KARRI_HOME (front/, node1/, ...), the forwarders' pids and the eucarc.

Tests bring up clouds of their own beside a user's quickstart with
KARRI_QS_DIR (state), KARRI_QS_PREFIX (namespace prefix), KARRI_QS_NET (the
sim's net_index, which keeps host links apart) and KARRI_QS_FORWARD=no (no
127.0.0.1 forwarders: the eucarc then names the front end's host-link
address, which this machine reaches directly).  KARRI_QS_DEMO=image
publishes the test image but launches no demo instance (a test that wants
every node's full capacity), KARRI_QS_DEMO=no does neither.

The daemons talk to each other over mutual TLS with certificates from the
cloud CA (common/tls.h), as an admin's cloud does: the services and nodes
are registered first (`karri register-*` issues the certificates and
installs the front end's), each node's pair is copied to the node's
KARRI_HOME, and only then do the daemons start.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import karri_sim  # noqa: E402
import qs_image  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KARRI_BUILD", os.path.join(TOP, "build", "gcc"))
QS = os.environ.get("KARRI_QS_DIR", "/var/lib/karri/quickstart")
PREFIX = os.environ.get("KARRI_QS_PREFIX", "kq")
NET_INDEX = int(os.environ.get("KARRI_QS_NET", "0"))
FORWARD = os.environ.get("KARRI_QS_FORWARD", "yes") != "no"
DEMO = os.environ.get("KARRI_QS_DEMO", "yes")          # yes | image | no
NODES = 2
PORTS = {"CLC_PORT": 8773, "WALRUS_PORT": 8779, "CC_PORT": 8774, "NC_PORT": 8775, "EBS_PORT": 8776}
FRONT_DAEMONS = [("karri-clc", "clc"), ("karri-walrus", "walrus"), ("karri-ebs", "ebs"), ("karri-cc", "cc")]
FORWARDED = [8773, 8779]          # what users on this machine reach at 127.0.0.1
ZONE = "zone1"                    # the one cluster, and so availability zone
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
    """One karri.conf for every host, as an admin would write it (eucalyptus.conf names)."""
    return {**PORTS,
            "NODES": " ".join(n.priv_ip for n in sim.nodes),
            "HYPERVISOR": "qemu",
            "SCHEDPOLICY": "ROUNDROBIN",
            # Instances get 10.100.x.y by DHCP from the CC; elastic IPs come from the
            # private network's top, so the front end reaches them directly.
            "VNET_MODE": "MANAGED-NOVLAN",
            "VNET_SUBNET": "10.100.0.0", "VNET_NETMASK": "255.255.0.0", "VNET_ADDRSPERNET": 32,
            "VNET_PRIVINTERFACE": "eth0", "VNET_PUBINTERFACE": "eth0", "VNET_BRIDGE": "br0",
            "VNET_PUBLICIPS": f"{sim.priv_net[200]}-{sim.priv_net[209]}",
            "VNET_CLOUDIP": sim.front.priv_ip, "VNET_DHCPUSER": "dnsmasq",
            "EBS_STORAGE_INTERFACE": "eth1"}
            # No KARRI_INSECURE_HTTP: daemon-to-daemon SOAP is mutual TLS.


def write_configs(sim):
    """karri.conf on the front end and on each node."""
    cfg = cloud_config(sim)
    write_config(os.path.join(QS, "front"), cfg)
    for n in sim.nodes:
        home = os.path.join(QS, n.name)
        write_config(home, {**cfg, "KARRI_BIND_ADDRESS": n.priv_ip,
                            "NC_LIBVIRT_URI": n.libvirt_uri,
                            "INSTANCE_PATH": os.path.join(home, "instances")})


def start_front(sim):
    front_home = os.path.join(QS, "front")
    conf = os.path.join(front_home, "etc/karri/karri.conf")
    for name, d in FRONT_DAEMONS:
        sim.front.spawn([os.path.join(BUILD, d, name), "-f", conf], env={"KARRI_HOME": front_home},
                        log=os.path.join(front_home, f"{name}.out"))


def start_nodes(sim):
    for n in sim.nodes:
        home = os.path.join(QS, n.name)
        n.spawn([os.path.join(BUILD, "nc", "karri-nc"), "-f",
                 os.path.join(home, "etc/karri/karri.conf")], env={"KARRI_HOME": home},
                log=os.path.join(home, "karri-nc.out"))


def start_daemons(sim):
    write_configs(sim)
    start_front(sim)
    start_nodes(sim)


def install_node_keys(sim):
    """What an admin copies to each node after `karri register-nodes`: the
    node's certificate and key (as node-cert.pem / node-pk.pem) and the
    cloud CA's certificate, into the node's keys directory."""
    keys = os.path.join(QS, "front", "var/lib/karri/keys")
    for n in sim.nodes:
        dest = os.path.join(QS, n.name, "var/lib/karri/keys")
        os.makedirs(dest, exist_ok=True)
        for src, dst, mode in ((f"node-{n.priv_ip}-cert.pem", "node-cert.pem", 0o644),
                               (f"node-{n.priv_ip}-pk.pem", "node-pk.pem", 0o600),
                               ("ca-cert.pem", "ca-cert.pem", 0o644)):
            shutil.copyfile(os.path.join(keys, src), os.path.join(dest, dst))
            os.chmod(os.path.join(dest, dst), mode)


def karri(sim, *args, host=None):
    """The admin CLI on the front end (it works on the front end's databases)."""
    conf = os.path.join(QS, "front", "etc/karri/karri.conf")
    return sim.front.run([os.path.join(BUILD, "tools", "karri"), "-f", conf,
                          "-H", host or sim.front.priv_ip, *args], timeout=60,
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                              "KARRI_HOME": os.path.join(QS, "front")})


def karri_status(sim):
    return karri(sim, "status")


def must(out, what):
    if out.returncode != 0:
        say(f"quickstart: {what} failed:\n{out.stdout}{out.stderr}")
        sys.exit(1)
    return out


def register_services(sim):
    """Walrus, EBS and the zone's CC: each gets its certificate from the cloud
    CA (made now), installed on the front end where they run."""
    front = sim.front.priv_ip
    must(karri(sim, "register-walrus", "walrus", f"{front}:{PORTS['WALRUS_PORT']}"), "register-walrus")
    must(karri(sim, "register-ebs", "ebs", f"{front}:{PORTS['EBS_PORT']}"), "register-ebs")
    must(karri(sim, "register-cluster", ZONE, f"{front}:{PORTS['CC_PORT']}"), "register-cluster")


def register_nodes(sim):
    """The zone's nodes (their certificates too), told to the running CC."""
    nodes = karri(sim, "register-nodes", ZONE, *(n.priv_ip for n in sim.nodes))
    if nodes.returncode != 0:
        # Recorded by the CLC; the CC knows the nodes from NODES in its config anyway.
        say("  note: " + (nodes.stderr.strip().splitlines() or ["register-nodes failed"])[-1])
    for n in sim.nodes:
        if not os.path.exists(os.path.join(QS, "front", "var/lib/karri/keys",
                                           f"node-{n.priv_ip}-cert.pem")):
            must(nodes, "register-nodes")


def register_cloud(sim):
    """What an admin does after installing: services, the zone and its nodes, a user."""
    register_services(sim)
    register_nodes(sim)
    add_admin(sim)


def add_admin(sim):
    must(karri(sim, "user", "add", "admin", "--admin"), "adding the admin user")
    # The eucarc names 127.0.0.1: the forwarders carry it to the front end.
    must(karri(sim, "credentials", "admin", QS, host=api_host(sim)), "writing the credentials")
    # `karri credentials` makes its directory 0700, but QS also holds the
    # front end's KARRI_HOME, where the CC's dnsmasq (running as
    # VNET_DHCPUSER) must read its hosts file: no instance would get an
    # address.  The secrets themselves (eucarc, admin-pk.pem) are 0600.
    os.chmod(QS, 0o755)


def api_host(sim):
    """Where this machine reaches the API: the forwarders, or the host link."""
    return "127.0.0.1" if FORWARD else sim.front.host_ip


def wait_cc_up(sim, timeout=30):
    """The CC answers (so register-nodes reaches it)."""
    deadline = time.monotonic() + timeout
    url = f"https://{sim.front.priv_ip}:{PORTS['CC_PORT']}/"
    while karri(sim, "describe-service", url).returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.3)


def wait_all_up(sim, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        out = karri_status(sim)
        if out.returncode == 0 or time.monotonic() > deadline:
            return out
        time.sleep(0.5)


def eucarc_env():
    env = {"PATH": "/usr/bin:/bin", "HOME": QS}
    with open(os.path.join(QS, "eucarc")) as f:
        for line in f:
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export "):].strip().split("=", 1)
                env[k] = v.strip("'\"")
    return env


def zone_available(text):
    """`aws ec2 describe-availability-zones --output text` says ZONE is available."""
    return any(l.split("\t")[2:4] == ["available", ZONE] for l in text.splitlines()
               if l.startswith("AVAILABILITYZONES\t"))


def wait_zone_available(timeout=60):
    """The CLC picks registrations up on its next poll: wait until a user's
    client (awscli with the admin's eucarc, through 127.0.0.1) sees the zone."""
    env = eucarc_env()
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["/usr/bin/aws", "--endpoint-url", env["EC2_URL"], "ec2",
                              "describe-availability-zones", "--output", "text"],
                             capture_output=True, text=True, env=env, timeout=60)
        if zone_available(out.stdout) or time.monotonic() > deadline:
            return out
        time.sleep(1)


def start_forwarders(sim):
    """socat on 127.0.0.1 -> the front end over the host link, one per port."""
    stop_forwarders()
    if not FORWARD:
        return
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


def fresh_state():
    """A fresh start begins from nothing: no old databases, keys or instances."""
    for name in ["front"] + [f"node{k}" for k in range(1, NODES + 1)]:
        shutil.rmtree(os.path.join(QS, name), ignore_errors=True)
    for name in ("eucarc", "cloud-cert.pem", "admin-cert.pem", "admin-pk.pem"):
        try:
            os.unlink(os.path.join(QS, name))
        except FileNotFoundError:
            pass


def demo():
    """The test image (registered once) and one demo instance (launched once)."""
    if DEMO == "no":
        return
    rc = qs_image.Eucarc(QS)
    t0 = time.monotonic()
    try:
        guest = qs_image.guest_files()
        ids = qs_image.publish_test_image(rc, guest, os.path.join(BUILD, "tools", "karri-bundle"),
                                          log=say)
        say(f"  test image {ids['emi']} (kernel {ids['eki']}, ramdisk {ids['eri']})"
            + ("; demo instance ..." if DEMO != "image" else ""))
        if DEMO == "image":
            return
        iid, new = qs_image.ensure_demo_instance(rc, ids["emi"])
        inst = qs_image.wait_running(rc, iid)
        line = qs_image.wait_console_marker(rc, iid)
    except (qs_image.AwsFailed, RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        say(f"quickstart: the demo instance did not come up: {e}\n  logs are under {QS}")
        sys.exit(1)
    say(f"  demo instance {iid} {'launched' if new else 'already'} running on "
        f"{inst.get('PrivateIpAddress') or '?'} ({time.monotonic() - t0:.0f} s); its console says:")
    say(f"    {line}")


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
        fresh_state()
        sim = karri_sim.Sim(PREFIX, nodes=NODES, state_dir=os.path.join(QS, "sim"),
                            net_index=NET_INDEX, host_link=True)
        say(f"  hosts: front end + {NODES} nodes in network namespaces, libvirtd per node ...")
        sim.up()
        say(f"  hosts up in {time.monotonic() - t0:.0f} s; registering the services, the zone"
            " and its nodes (certificates from the cloud CA) ...")
        write_configs(sim)
        register_services(sim)
        start_front(sim)
        wait_cc_up(sim)
        register_nodes(sim)
        install_node_keys(sim)
        say("  starting the daemons (mutual TLS between them); adding the admin user ...")
        start_nodes(sim)
        start_forwarders(sim)
        out = wait_all_up(sim)
        if out.returncode != 0:
            print(out.stdout, end="")
            say("quickstart: some services did not come up; logs are under " + QS)
            sys.exit(1)
        add_admin(sim)
        zones = wait_zone_available()
        if not zone_available(zones.stdout):
            say(f"quickstart: zone {ZONE} did not become available:\n{zones.stdout}{zones.stderr}")
            sys.exit(1)
    demo()
    out = wait_all_up(sim)
    print(out.stdout, end="")
    if out.returncode != 0:
        say("quickstart: some services are not answering; logs are under " + QS)
        sys.exit(1)
    eucarc = os.path.join(QS, "eucarc")
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
