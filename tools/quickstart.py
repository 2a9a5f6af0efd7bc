#!/usr/bin/python3
"""The cloud of ./quickstart: simulated hosts (tools/karri_sim.py), Karri's
daemons on them, the endpoints forwarded to this machine's loopback, the
admin's eucarc, and then what a user does first (tools/qs_image.py): the
test guest bundled, uploaded and registered, and one demo instance running
it, whose console marker is shown.  Called by ./quickstart after it has
installed and built.

Everything lives under /var/lib/karri/quickstart: the sim's state, each
host's KARRI_HOME (front/, node1/, ...), the forwarders' pids, the eucarc
and quickstart.json (the cloud's net index, what was registered).

The cloud is never lost by the quickstart itself:
  * each host's daemons run under tools/karri_supervise.py (one per host,
    in its namespace), which restarts a daemon that dies, with backoff and a
    line in <host>/supervise.log, and counts restarts in <host>/supervise.json;
  * `up` on a cloud that exists repairs it: it rebuilds hosts that are gone
    (after a reboot, or `stop`), restarts a dead libvirtd or supervisor
    (which adopts daemons still running), registers and adds nothing twice,
    and keeps every database, key, image, volume and instance (the NCs boot
    instances whose domains are gone from their disks, nc/monitor.c);
  * only `reset` (or `stop --purge`) deletes it, after saying what it deletes;
  * `status` shows the endpoints, the eucarc, each daemon with its restarts,
    then `karri status`;
  * `up` installs KARRI_QS_WRAPPER (default /usr/local/sbin/karri,
    tools/karri-qs.in): `karri ...` from this machine's shell runs on the front end.

Tests bring up clouds of their own beside a user's quickstart with
KARRI_QS_DIR (state), KARRI_QS_PREFIX (namespace prefix), KARRI_QS_NET (the
sim's net_index, which keeps host links apart) and KARRI_QS_FORWARD=no (no
127.0.0.1 forwarders: the eucarc then names the front end's host-link
address, which this machine reaches directly); they point KARRI_QS_WRAPPER
at a file of their own.  KARRI_QS_DEMO=image
publishes the test image but launches no demo instance (a test that wants
every node's full capacity), KARRI_QS_DEMO=no does neither.

The daemons talk to each other over mutual TLS with certificates from the
cloud CA (common/tls.h), as an admin's cloud does: the services and nodes
are registered first (`karri register-*` issues the certificates and
installs the front end's), each node's pair is copied to the node's
KARRI_HOME, and only then do the daemons start.
"""

import glob
import json
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
RECORD = os.path.join(QS, "quickstart.json")
SIM_DIR = os.path.join(QS, "sim")
SUPERVISE = os.path.join(TOP, "tools", "karri_supervise.py")
# The admin CLI for this machine (see tools/karri-qs.in); tests install theirs elsewhere.
# A cloud in another KARRI_QS_DIR (a test's) installs one only where KARRI_QS_WRAPPER says.
WRAPPER = os.environ.get("KARRI_QS_WRAPPER") or (
    "/usr/local/sbin/karri" if QS == "/var/lib/karri/quickstart" else None)
WRAPPER_TEMPLATE = os.path.join(TOP, "tools", "karri-qs.in")
WRAPPER_MARK = "# karri-qs: written by ./quickstart"


def say(msg):
    print(msg, flush=True)


def write_config(home, values):
    os.makedirs(os.path.join(home, "etc/karri"), exist_ok=True)
    path = os.path.join(home, "etc/karri/karri.conf")
    # whole or not at all: a daemon the supervisor restarts reads it any time
    with open(path + ".tmp", "w") as f:
        f.write("# written by ./quickstart\n")
        for k, v in values.items():
            f.write(f'{k}="{v}"\n')
    os.replace(path + ".tmp", path)
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


def supervised(sim, host):
    """What host's supervisor runs: [{"name", "argv", "env", "out"}]."""
    home = os.path.join(QS, host.name)
    conf = os.path.join(home, "etc/karri/karri.conf")
    if host is sim.front:
        daemons = [(name, os.path.join(BUILD, d, name)) for name, d in FRONT_DAEMONS]
    else:
        daemons = [("karri-nc", os.path.join(BUILD, "nc", "karri-nc"))]
    return [{"name": name, "argv": [exe, "-f", conf], "env": {"KARRI_HOME": home},
             "out": os.path.join(home, f"{name}.out")} for name, exe in daemons]


def supervisor_files(host):
    home = os.path.join(QS, host.name)
    return {"spec": os.path.join(home, "supervise.spec.json"),
            "state": os.path.join(home, "supervise.json"),
            "log": os.path.join(home, "supervise.log")}


def supervisor_state(host):
    """The host's supervise.json, or {} if there is none."""
    try:
        with open(supervisor_files(host)["state"]) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def supervisor_alive(host):
    st = supervisor_state(host)
    pid = st.get("supervisor")
    return bool(pid) and karri_sim._starttime(pid) == st.get("supervisor_start")


def ensure_supervisor(sim, host):
    """Start the host's supervisor unless it runs; True if it was started.
    A new supervisor adopts daemons an old one left running (see
    tools/karri_supervise.py) and starts the others."""
    if supervisor_alive(host):
        return False
    files = supervisor_files(host)
    with open(files["spec"], "w") as f:
        json.dump({"host": host.name, "state": files["state"], "log": files["log"],
                   "children": supervised(sim, host)}, f, indent=1)
    p = host.spawn(["/usr/bin/python3", SUPERVISE, files["spec"]],
                   log=os.path.join(QS, host.name, "supervise.out"))
    deadline = time.monotonic() + 10
    while not supervisor_alive(host):
        if not p.alive() or time.monotonic() > deadline:
            say(f"quickstart: the supervisor of {host.name} did not start; see "
                f"{files['log']} and {os.path.join(QS, host.name, 'supervise.out')}")
            sys.exit(1)
        time.sleep(0.1)
    return True


def stop_supervisors(sim):
    """SIGTERM each host's supervisor (it stops its daemons), nodes first,
    and wait for them: the NCs must be gone before the sim destroys guests,
    or a monitor would take a destroyed guest for one that powered off."""
    sups = []
    for h in sim.nodes + [sim.front]:
        st = supervisor_state(h)
        if supervisor_alive(h):
            sups.append((st["supervisor"], st["supervisor_start"]))
    karri_sim._terminate(sups, timeout=40)


def start_daemons(sim, hosts):
    """The supervisors of these hosts; the names of the hosts whose supervisor was started."""
    return [h.name for h in hosts if ensure_supervisor(sim, h)]


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
            if os.path.exists(os.path.join(dest, dst)):
                continue          # installed by an earlier run
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


def record():
    """QS/quickstart.json: what this cloud is (its net index) and what was
    registered, so a rerun registers nothing twice."""
    try:
        with open(RECORD) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def record_set(**kw):
    r = {**record(), **kw}
    with open(RECORD + ".tmp", "w") as f:
        json.dump(r, f, indent=1)
    os.replace(RECORD + ".tmp", RECORD)


def registered(what):
    return what in record().get("registered", [])


def mark_registered(what):
    record_set(registered=sorted(set(record().get("registered", [])) | {what}))


def register_services(sim):
    """Walrus, EBS and the zone's CC: each gets its certificate from the cloud
    CA (made now), installed on the front end where they run.  Each only once:
    a cloud that has them keeps them."""
    front = sim.front.priv_ip
    for what, args in (("walrus", ["register-walrus", "walrus", f"{front}:{PORTS['WALRUS_PORT']}"]),
                       ("ebs", ["register-ebs", "ebs", f"{front}:{PORTS['EBS_PORT']}"]),
                       ("cluster", ["register-cluster", ZONE, f"{front}:{PORTS['CC_PORT']}"])):
        if not registered(what):
            must(karri(sim, *args), args[0])
            mark_registered(what)


def register_nodes(sim):
    """The zone's nodes (their certificates too), told to the running CC."""
    if registered("nodes"):
        return
    nodes = karri(sim, "register-nodes", ZONE, *(n.priv_ip for n in sim.nodes))
    if nodes.returncode != 0:
        # Recorded by the CLC; the CC knows the nodes from NODES in its config anyway.
        say("  note: " + (nodes.stderr.strip().splitlines() or ["register-nodes failed"])[-1])
    for n in sim.nodes:
        if not os.path.exists(os.path.join(QS, "front", "var/lib/karri/keys",
                                           f"node-{n.priv_ip}-cert.pem")):
            must(nodes, "register-nodes")
    mark_registered("nodes")


def add_admin(sim):
    """The admin user and its credentials, once: a cloud that has its eucarc
    keeps it (and so the admin's keys)."""
    if os.path.exists(os.path.join(QS, "eucarc")):
        return
    users = karri(sim, "user", "list")
    if not any(l.split()[:1] == ["admin"] for l in users.stdout.splitlines()):
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


def wait_nodes_up(sim, timeout=60):
    """Every NC answers (it adopts its instances before it listens)."""
    deadline = time.monotonic() + timeout
    for n in sim.nodes:
        url = f"https://{n.priv_ip}:{PORTS['NC_PORT']}/"
        while karri(sim, "describe-service", url).returncode != 0 and \
                time.monotonic() < deadline:
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


def forwarders_alive():
    """The recorded socat forwarders, all running?"""
    try:
        with open(FORWARDER_PIDS) as f:
            pids = [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return False
    return len(pids) == len(FORWARDED) and all(_is_socat(p) for p in pids)


def _is_socat(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().startswith(b"socat") and karri_sim._alive(pid)
    except OSError:
        return False


def start_forwarders(sim):
    """socat on 127.0.0.1 -> the front end over the host link, one per port.
    They hold no state: any missing one means all are started again."""
    if FORWARD and forwarders_alive():
        return False
    stop_forwarders()
    if not FORWARD:
        return False
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
    return True


def stop_forwarders():
    try:
        with open(FORWARDER_PIDS) as f:
            pids = [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return
    for pid in pids:
        if _is_socat(pid):        # else gone, or the pid was reused by something else
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    os.unlink(FORWARDER_PIDS)


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


def load_sim():
    return karri_sim.Sim.load(PREFIX, state_dir=SIM_DIR)


def cloud_exists():
    """A cloud was made here before (its state is kept whatever runs)."""
    return os.path.exists(RECORD) or os.path.isdir(os.path.join(QS, "front"))


def hosts_up():
    """The simulated hosts: (sim, what had to be done: None, "libvirtd" or "rebuilt")."""
    sim = load_sim()
    if sim.is_up():
        return sim, None
    if sim.recorded() and sim.all_exist():
        # only a node's libvirtd died: its guests run on (QEMU is not its child)
        for n in sim.restart_libvirtds():
            say(f"  {n}: libvirtd was not running; started it again")
        if sim.is_up():
            return sim, "libvirtd"
    net = record().get("net_index", NET_INDEX)
    sim = karri_sim.Sim(PREFIX, nodes=NODES, state_dir=SIM_DIR, net_index=net, host_link=True)
    sim.up()     # first removes what is left of old hosts: processes, namespaces, links
    return sim, "rebuilt"


def up():
    os.makedirs(QS, exist_ok=True)
    existing = cloud_exists()
    t0 = time.monotonic()
    if not existing:
        say(f"  hosts: front end + {NODES} nodes in network namespaces, libvirtd per node ...")
    elif not load_sim().is_up():
        say(f"  the cloud in {QS} is kept; its hosts are not all there (a reboot, a stop): "
            "building them again ...")
    sim, hosts = hosts_up()
    record_set(net_index=sim.net_index, prefix=PREFIX, nodes=NODES)
    if hosts == "rebuilt":
        say(f"  hosts up in {time.monotonic() - t0:.0f} s")
    if not existing:
        say("  registering the services, the zone and its nodes"
            " (certificates from the cloud CA) ...")
    write_configs(sim)
    started = []
    if registered("nodes"):
        # A cloud that exists: the nodes first, each answering (so having
        # adopted or booted again its instances) before the CC starts.  A
        # CC that started alone would tell the CLC it has no instances,
        # and the CLC would take them for lost.
        started += start_daemons(sim, sim.nodes)
        wait_nodes_up(sim)
    register_services(sim)
    started = start_daemons(sim, [sim.front]) + started
    wait_cc_up(sim)
    register_nodes(sim)
    install_node_keys(sim)
    if not existing:
        say("  starting the daemons, each host's under a supervisor (mutual TLS between them);"
            " adding the admin user ...")
    started += start_daemons(sim, sim.nodes)
    forwarders = start_forwarders(sim)
    out = wait_all_up(sim, timeout=90)
    if out.returncode != 0:
        print(out.stdout, end="")
        say("quickstart: some services did not come up; logs are under " + QS)
        sys.exit(1)
    had_eucarc = os.path.exists(os.path.join(QS, "eucarc"))
    add_admin(sim)
    zones = wait_zone_available()
    if not zone_available(zones.stdout):
        say(f"quickstart: zone {ZONE} did not become available:\n{zones.stdout}{zones.stderr}")
        sys.exit(1)
    install_wrapper(sim)
    if existing and not hosts and not started and had_eucarc:
        say("quickstart: already running" + ("" if not forwarders else
                                              " (the 127.0.0.1 forwarders started again)"))
    elif existing:
        say("quickstart: repaired the cloud in " + QS + ": " + ", ".join(
            (["hosts rebuilt"] if hosts == "rebuilt" else []) +
            [f"supervisor of {h} started" for h in started]) +
            "; every database, key, image, volume and instance kept")
    demo()
    out = wait_all_up(sim)
    print(out.stdout, end="")
    if out.returncode != 0:
        say("quickstart: some services are not answering; logs are under " + QS)
        sys.exit(1)
    eucarc = os.path.join(QS, "eucarc")
    k = wrapper_name()
    say(f"""
Karri is up: front end {sim.front.netns} ({sim.front.priv_ip}), nodes {', '.join(n.netns for n in sim.nodes)}.
  source {eucarc}
  aws --endpoint-url "$EC2_URL" ec2 describe-instances
  {k} user add bob; {k} credentials bob ./bob    (the admin CLI, run on the front end)
  ./quickstart status | stop | reset""")


def wrapper_name():
    """What to type: `karri` when the wrapper is what the shell finds by that name."""
    if not WRAPPER:
        return (f"ip netns exec {PREFIX}-front env KARRI_HOME={QS}/front "
                f"{BUILD}/tools/karri -f {QS}/front/etc/karri/karri.conf")
    found = shutil.which("karri", path=os.environ.get("PATH", "") + ":/usr/local/sbin")
    return "karri" if found and os.path.realpath(found) == os.path.realpath(WRAPPER) else WRAPPER


def wrapper_ours():
    """WRAPPER exists and is this quickstart's (its mark and this QS in it)."""
    try:
        with open(WRAPPER or "", errors="replace") as f:
            text = f.read()
    except OSError:
        return False
    return WRAPPER_MARK in text and f"\nQS={QS}\n" in text


def install_wrapper(sim):
    """WRAPPER: `karri` for this machine's admin, run on the front end
    (tools/karri-qs.in).  Never over a file that is not a quickstart's."""
    if not WRAPPER:
        return
    if os.path.exists(WRAPPER):
        with open(WRAPPER, errors="replace") as f:
            if WRAPPER_MARK not in f.read():
                say(f"  note: {WRAPPER} is not the quickstart's; left as it is")
                return
    with open(WRAPPER_TEMPLATE) as f:
        text = f.read()
    subst = {"NETNS": sim.front.netns, "KARRI_HOME": os.path.join(QS, "front"),
             "KARRI": os.path.join(BUILD, "tools", "karri"),
             "CONF": os.path.join(QS, "front", "etc/karri/karri.conf"),
             "ADMIN_HOST": sim.front.priv_ip, "API_HOST": api_host(sim), "QS": QS}
    for key, v in subst.items():
        text = text.replace(f"@{key}@", v)
    os.makedirs(os.path.dirname(WRAPPER), exist_ok=True)
    with open(WRAPPER + ".tmp", "w") as f:
        f.write(text)
    os.chmod(WRAPPER + ".tmp", 0o755)
    os.replace(WRAPPER + ".tmp", WRAPPER)


def down(quiet=False):
    stop_forwarders()
    sim = load_sim()
    stop_supervisors(sim)         # the daemons stop first (see there)
    sim.down(quiet=quiet)         # guests, every process left, namespaces, links
    if not quiet:
        say("quickstart: stopped; nothing of it is left running.\n"
            f"  The cloud is kept in {QS}: ./quickstart brings the same cloud back"
            " (its instances boot again); ./quickstart reset deletes it.")


def _size(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_blocks * 512
            except OSError:
                pass
    return total


def reset(args):
    """Delete the whole quickstart cloud, after saying what that is."""
    if not os.path.isdir(QS):
        say(f"quickstart: nothing to reset ({QS} does not exist)")
        return
    instances = sorted(os.path.basename(p) for p in
                       glob.glob(os.path.join(QS, "node*", "instances", "**", "i-*"),
                                 recursive=True) if os.path.isdir(p))
    mib = 2 ** 20
    say(f"quickstart reset stops the cloud and deletes {QS} ({_size(QS) / mib:.0f} MiB):")
    say(f"  {os.path.join(QS, 'front')}: the cloud's databases -- users and their keys, key"
        " pairs, images, volumes and snapshots (their data too), buckets and objects -- and"
        f" the cloud CA ({_size(os.path.join(QS, 'front')) / mib:.0f} MiB)")
    say(f"  {len(instances)} instance(s) and their disks on the nodes"
        + (f": {' '.join(instances)}" if instances else ""))
    say(f"  {os.path.join(QS, 'eucarc')} and the admin's keys beside it")
    if wrapper_ours():
        say(f"  {WRAPPER} (the admin CLI it installed)")
    if "--yes" not in args and "-y" not in args:
        if not sys.stdin.isatty():
            say("quickstart: nothing deleted; `./quickstart reset --yes` deletes it")
            sys.exit(1)
        if input("Delete all of it? Type yes: ").strip() != "yes":
            say("quickstart: nothing deleted")
            sys.exit(1)
    down(quiet=True)
    if wrapper_ours():
        os.unlink(WRAPPER)
    shutil.rmtree(QS)
    say(f"quickstart: deleted {QS}; the next ./quickstart makes a new cloud")


def status():
    sim = load_sim()
    rc = 0
    if not sim.is_up():
        say("quickstart: not running" + (f"; the cloud is kept in {QS} (./quickstart brings it"
                                          " back)" if cloud_exists() else ""))
        sys.exit(1)
    eucarc = os.path.join(QS, "eucarc")
    env = eucarc_env() if os.path.exists(eucarc) else {}
    say(f"hosts:        front end {sim.front.netns} ({sim.front.priv_ip}), nodes "
        + ", ".join(f"{n.netns} ({n.priv_ip})" for n in sim.nodes))
    say(f"EC2 endpoint: {env.get('EC2_URL', '?')}")
    say(f"S3 endpoint:  {env.get('S3_URL', '?')}")
    say(f"eucarc:       {eucarc if env else '(none yet)'}")
    say(f"admin CLI:    {WRAPPER} (karri on the front end)" if wrapper_ours() else
        "admin CLI:    (not installed)")
    if FORWARD:
        say("forwarders:   " + ("127.0.0.1:" + ", 127.0.0.1:".join(map(str, FORWARDED))
                               if forwarders_alive() else "NOT RUNNING (./quickstart starts them)"))
    say("")
    say(f"{'DAEMON':13} {'HOST':6} {'PID':>7}  {'STATE':10} {'RESTARTS':>8}  LAST EXIT")
    for h in sim.hosts:
        st = supervisor_state(h)
        sup = supervisor_alive(h)
        rc |= not sup
        for c in supervised(sim, h):
            ch = st.get("children", {}).get(c["name"], {})
            pid = ch.get("pid")
            alive = bool(pid) and karri_sim._starttime(pid) == ch.get("start")
            rc |= not alive
            state = "up" if alive else "restarting" if sup else "DOWN"
            say(f"{c['name']:13} {h.name:6} {pid or '-':>7}  {state:10} {ch.get('restarts', 0):>8}"
                f"  {ch.get('last_exit') or '-'}")
        if not sup:
            say(f"  (the supervisor of {h.name} is not running: ./quickstart starts it)")
    say("")
    out = karri_status(sim)
    print(out.stdout, end="")
    sys.exit(int(rc) or out.returncode)


USAGE = "usage: quickstart.py up | status | stop [--purge [--yes]] | reset [--yes]"

if __name__ == "__main__":
    cmd, rest = (sys.argv[1] if len(sys.argv) > 1 else "up"), sys.argv[2:]
    if cmd == "up":
        up()
    elif cmd == "status":
        status()
    elif cmd == "stop" and "--purge" in rest:
        reset(rest)
    elif cmd == "stop":
        down()
    elif cmd == "reset":
        reset(rest)
    else:
        print(USAGE, file=sys.stderr)
        sys.exit(2)
