"""The cloud of ./quickstart: simulated hosts (karri.sim), Karri's
daemons on them, the endpoints forwarded to this machine's loopback, the
admin's eucarc, and then what a user does first (karri.qs_image): the
test guest bundled, uploaded and registered, and one demo instance running
it, whose console marker is shown.  Called by ./quickstart after it has
installed and built.

Everything lives under /var/lib/karri/quickstart: the sim's state, each
host's KARRI_HOME (front/, node1/, ...), the forwarders' pids, the eucarc
and quickstart.json (the cloud's net index, what was registered).

The cloud is never lost by the quickstart itself:
  * each host's daemons run under karri.supervise (one per host,
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

KARRI_QS_CLUSTERS=N (default 1) makes a cloud of N clusters, zone1..zoneN:
the front end then runs the CLC and Walrus only, and each cluster has a
head host of its own with its CC and EBS, its own private and storage
networks (karri.sim) and KARRI_QS_NODES nodes (default 2 for one
cluster, 1 per cluster for more).  With one cluster the CC and EBS run on
the front end, as always.  A cloud keeps the layout it was made with: a
rerun with another KARRI_QS_CLUSTERS is refused (reset first).

The daemons talk to each other over mutual TLS with certificates from the
cloud CA (common/tls/tls.h), as an admin's cloud does: the services and nodes
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

from karri import TOP, python_argv, qs_image
from karri import sim as karri_sim    # `sim` below is always a karri_sim.Sim

BUILD = os.environ.get("KARRI_BUILD", os.path.join(TOP, "build", "gcc"))
QS = os.environ.get("KARRI_QS_DIR", "/var/lib/karri/quickstart")
PREFIX = os.environ.get("KARRI_QS_PREFIX", "kq")
NET_INDEX = int(os.environ.get("KARRI_QS_NET", "0"))
FORWARD = os.environ.get("KARRI_QS_FORWARD", "yes") != "no"
DEMO = os.environ.get("KARRI_QS_DEMO", "yes")          # yes | image | no
CLUSTERS = 1                      # the cloud's layout: see cloud_layout()
NODES = 2                         # per cluster
PORTS = {"CLC_PORT": 8773, "WALRUS_PORT": 8779, "CC_PORT": 8774, "NC_PORT": 8775, "EBS_PORT": 8776}
CLOUD_DAEMONS = [("karri-clc", "clc"), ("karri-walrus", "walrus")]
CLUSTER_DAEMONS = [("karri-ebs", "ebs"), ("karri-cc", "cc")]   # on the front end or a head
FORWARDED = [8773, 8779]          # what users on this machine reach at 127.0.0.1
ZONE = "zone1"                    # the first cluster's availability zone (the one, usually)
FORWARDER_PIDS = os.path.join(QS, "forwarders.pids")
RECORD = os.path.join(QS, "quickstart.json")
SIM_DIR = os.path.join(QS, "sim")
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


def zone(cluster):
    return f"zone{cluster.index}"


def vnet_subnet(cluster):
    """The instances' network of a cluster: 10.100/16, 10.101/16, ... (the
    front end routes each via its head, see route_vnets)."""
    return f"10.{99 + cluster.index}.0.0"


def public_ips(cluster):
    """Elastic IPs: the top of the cluster's private network, which the front end is on."""
    return f"{cluster.priv_net[200]}-{cluster.priv_net[209]}"


def cloud_config(sim, cluster):
    """One karri.conf for every host of a cluster, as an admin would write it
    (eucalyptus.conf names)."""
    return {**PORTS,
            "NODES": " ".join(n.priv_ip for n in cluster.nodes),
            "HYPERVISOR": "qemu",
            "SCHEDPOLICY": "ROUNDROBIN",
            # Instances get 10.100.x.y by DHCP from the CC; elastic IPs come from the
            # private network's top, so the front end reaches them directly.
            "VNET_MODE": "MANAGED-NOVLAN",
            "VNET_SUBNET": vnet_subnet(cluster), "VNET_NETMASK": "255.255.0.0",
            "VNET_ADDRSPERNET": 32,
            "VNET_PRIVINTERFACE": "eth0", "VNET_PUBINTERFACE": "eth0", "VNET_BRIDGE": "br0",
            "VNET_PUBLICIPS": public_ips(cluster),
            "VNET_CLOUDIP": sim.front.ip_on(cluster), "VNET_DHCPUSER": "dnsmasq",
            "EBS_STORAGE_INTERFACE": "eth1"}
            # No KARRI_INSECURE_HTTP: daemon-to-daemon SOAP is mutual TLS.


def write_configs(sim):
    """karri.conf on the front end, each head and each node."""
    if sim.heads:
        # The CLC and Walrus only; the CLC's elastic IP pool is every cluster's.
        write_config(os.path.join(QS, "front"), {
            **PORTS, "VNET_PUBLICIPS": " ".join(public_ips(c) for c in sim.clusters)})
    else:
        write_config(os.path.join(QS, "front"), cloud_config(sim, sim.clusters[0]))
    for h in sim.heads:
        write_config(os.path.join(QS, h.name), cloud_config(sim, h.cluster))
    for n in sim.nodes:
        home = os.path.join(QS, n.name)
        write_config(home, {**cloud_config(sim, n.cluster), "KARRI_BIND_ADDRESS": n.priv_ip,
                            "NC_LIBVIRT_URI": n.libvirt_uri,
                            "INSTANCE_PATH": os.path.join(home, "instances")})


def supervised(sim, host):
    """What host's supervisor runs: [{"name", "argv", "env", "out"}]."""
    home = os.path.join(QS, host.name)
    conf = os.path.join(home, "etc/karri/karri.conf")
    if host in sim.nodes:
        kinds = [("karri-nc", "nc")]
    else:       # the front end: the cloud's daemons; it or a head: a cluster's
        kinds = (CLOUD_DAEMONS if host is sim.front else []) + \
            (CLUSTER_DAEMONS if host.cluster else [])
    daemons = [(name, os.path.join(BUILD, d, name)) for name, d in kinds]
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
    karri.supervise) and starts the others."""
    if supervisor_alive(host):
        return False
    files = supervisor_files(host)
    with open(files["spec"], "w") as f:
        json.dump({"host": host.name, "state": files["state"], "log": files["log"],
                   "children": supervised(sim, host)}, f, indent=1)
    p = host.spawn(python_argv("supervise", files["spec"]),
                   log=os.path.join(QS, host.name, "supervise.out"))
    deadline = time.monotonic() + 10
    while not supervisor_alive(host):
        if not p.alive() or time.monotonic() > deadline:
            say(f"quickstart: the supervisor of {host.name} did not start; see "
                f"{files['log']} and {os.path.join(QS, host.name, 'supervise.out')}")
            sys.exit(1)
        time.sleep(0.1)
    return True


def stop_supervisors(sim, hosts):
    """SIGTERM these hosts' supervisors (each stops its daemons) and wait for them."""
    sups = []
    for h in hosts:
        st = supervisor_state(h)
        if supervisor_alive(h):
            sups.append((st["supervisor"], st["supervisor_start"]))
    karri_sim._terminate(sups, timeout=40)


def ensure_daemon_user():
    """karri-clc, karri-walrus, karri-ebs and karri-cc's child, started as root, become the
    system user karri (docs/decisions.md, "Least privilege"): make it as
    `make install` does, and let it reach the hosts' homes under QS (o+x on
    each directory on the way, never o+r)."""
    if subprocess.run(["getent", "passwd", "karri"], capture_output=True).returncode != 0:
        if subprocess.run(["getent", "group", "karri"], capture_output=True).returncode != 0:
            subprocess.run(["groupadd", "--system", "karri"], check=True)
        subprocess.run(["useradd", "--system", "--gid", "karri", "--home-dir", "/var/lib/karri",
                        "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "--comment", "Karri cloud daemons", "karri"], check=True)
    d = os.path.abspath(QS)
    while d != "/":
        mode = os.stat(d).st_mode
        if not mode & 0o001:
            os.chmod(d, (mode & 0o7777) | 0o001)
        d = os.path.dirname(d)


def start_daemons(sim, hosts):
    """The supervisors of these hosts; the names of the hosts whose supervisor was started."""
    ensure_daemon_user()
    return [h.name for h in hosts if ensure_supervisor(sim, h)]


def install_keys(host, pairs):
    """What an admin copies to a host after `karri register-*`: each
    component's certificate and key as issued on the front end (kind-name),
    under the role's name (<role>-cert.pem / -pk.pem), and the cloud CA's
    certificate, into the host's keys directory.  pairs: [(kind-name, role)]."""
    keys = os.path.join(QS, "front", "var/lib/karri/keys")
    dest = os.path.join(QS, host.name, "var/lib/karri/keys")
    os.makedirs(dest, exist_ok=True)
    files = [("ca-cert.pem", "ca-cert.pem", 0o644)]
    for issued, role in pairs:
        files += [(f"{issued}-cert.pem", f"{role}-cert.pem", 0o644),
                  (f"{issued}-pk.pem", f"{role}-pk.pem", 0o600)]
    for src, dst, mode in files:
        if os.path.exists(os.path.join(dest, dst)):
            continue          # installed by an earlier run
        shutil.copyfile(os.path.join(keys, src), os.path.join(dest, dst))
        os.chmod(os.path.join(dest, dst), mode)


def install_node_keys(sim):
    for n in sim.nodes:
        install_keys(n, [(f"node-{n.priv_ip}", "node")])


def install_head_keys(sim):
    """A head's CC and EBS pairs (the front end's are installed by karri itself)."""
    for h in sim.heads:
        install_keys(h, [(f"cluster-{zone(h.cluster)}", "cluster"),
                         (f"ebs-{ebs_name(h.cluster)}", "ebs")])


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


def ebs_name(cluster):
    return "ebs" if cluster.index == 1 else f"ebs{cluster.index}"


def record_key(what, cluster):
    """What quickstart.json calls a cluster's registration: "ebs", "cluster",
    "nodes" for the first cluster (as clouds of one cluster always did),
    "ebs:zone2" ... for the others."""
    return what if cluster.index == 1 else f"{what}:{zone(cluster)}"


def ebs_zone_args(sim, cluster):
    """`--zone ZONE` for register-ebs, when this karri knows it (issue 20):
    each zone's volumes on its own EBS."""
    usage = karri(sim, "-h")
    knows = any("register-ebs" in l and "--zone" in l
                for l in (usage.stdout + usage.stderr).splitlines())
    return ["--zone", zone(cluster)] if knows else []


def register_services(sim):
    """Walrus, and each cluster's EBS and CC (its zone): each gets its
    certificate from the cloud CA (made now), installed by karri on the front
    end where they run there, else by install_head_keys on the cluster's head.
    Each only once: a cloud that has them keeps them."""
    front = sim.front.priv_ip
    todo = [("walrus", ["register-walrus", "walrus", f"{front}:{PORTS['WALRUS_PORT']}"])]
    for c in sim.clusters:
        head = c.head.priv_ip
        todo += [(record_key("ebs", c), ["register-ebs", ebs_name(c), f"{head}:{PORTS['EBS_PORT']}",
                                         *ebs_zone_args(sim, c)]),
                 (record_key("cluster", c), ["register-cluster", zone(c),
                                             f"{head}:{PORTS['CC_PORT']}"])]
    for what, args in todo:
        if not registered(what):
            must(karri(sim, *args), args[0])
            mark_registered(what)


def nodes_registered(sim):
    return all(registered(record_key("nodes", c)) for c in sim.clusters)


def register_nodes(sim):
    """Each zone's nodes (their certificates too), told to its running CC."""
    for c in sim.clusters:
        if registered(record_key("nodes", c)):
            continue
        nodes = karri(sim, "register-nodes", zone(c), *(n.priv_ip for n in c.nodes))
        if nodes.returncode != 0:
            # Recorded by the CLC; the CC knows the nodes from NODES in its config anyway.
            say("  note: " + (nodes.stderr.strip().splitlines() or ["register-nodes failed"])[-1])
        for n in c.nodes:
            if not os.path.exists(os.path.join(QS, "front", "var/lib/karri/keys",
                                               f"node-{n.priv_ip}-cert.pem")):
                must(nodes, "register-nodes")
        mark_registered(record_key("nodes", c))


def route_vnets(sim):
    """The CLC host routes each cluster's VNET_SUBNET via that cluster's CC
    (cc/firewall.c: the metadata redirect keeps the instance's address as the
    source).  With one cluster the CC is on the front end: nothing to do.
    Routes go with the hosts: made again whenever the hosts are."""
    for c in sim.clusters:
        if c.head is not sim.front:
            sim.front.ip("route", "replace", f"{vnet_subnet(c)}/16", "via", c.head.priv_ip)


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
    """Every CC answers (so register-nodes reaches it)."""
    deadline = time.monotonic() + timeout
    for c in sim.clusters:
        url = f"https://{c.head.priv_ip}:{PORTS['CC_PORT']}/"
        while karri(sim, "describe-service", url).returncode != 0 and \
                time.monotonic() < deadline:
            time.sleep(0.3)


def wait_nodes_up(sim, timeout=60):
    """Every NC answers (it adopts its instances before it listens)."""
    deadline = time.monotonic() + timeout
    for n in sim.nodes:
        url = f"https://{n.priv_ip}:{PORTS['NC_PORT']}/"
        while karri(sim, "describe-service", url).returncode != 0 and \
                time.monotonic() < deadline:
            time.sleep(0.3)


# How `karri describe-service` reaches each daemon (scheme, port key, path).
DAEMON_URLS = {"karri-clc": ("http", "CLC_PORT", "/services/Karri"),
               "karri-walrus": ("http", "WALRUS_PORT", "/services/Karri"),
               "karri-ebs": ("https", "EBS_PORT", "/"), "karri-cc": ("https", "CC_PORT", "/"),
               "karri-nc": ("https", "NC_PORT", "/")}


def all_answer(sim):
    """Every daemon of every host answers.  `karri status` says so for a
    cloud of one cluster; with heads it looks for an EBS and a CC on the
    front end (tools/karri.c), so each daemon is asked where it runs."""
    for h in sim.hosts:
        for d in supervised(sim, h):
            scheme, port, path = DAEMON_URLS[d["name"]]
            url = f"{scheme}://{h.priv_ip}:{PORTS[port]}{path}"
            if karri(sim, "describe-service", url).returncode != 0:
                return False
    return True


def wait_all_up(sim, timeout=30):
    """`karri status` once every service answers (or the time is up); its
    returncode says whether they all do."""
    deadline = time.monotonic() + timeout
    while True:
        out = karri_status(sim)
        if sim.heads:
            out.returncode = 0 if all_answer(sim) else 1
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


def zone_available(text, name=ZONE):
    """`aws ec2 describe-availability-zones --output text` says zone `name` is available."""
    return any(l.split("\t")[2:4] == ["available", name] for l in text.splitlines()
               if l.startswith("AVAILABILITYZONES\t"))


def zones_available(sim, text):
    return all(zone_available(text, zone(c)) for c in sim.clusters)


def wait_zone_available(sim, timeout=60):
    """The CLC picks registrations up on its next poll: wait until a user's
    client (awscli with the admin's eucarc, through 127.0.0.1) sees every zone."""
    env = eucarc_env()
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["/usr/bin/aws", "--endpoint-url", env["EC2_URL"], "ec2",
                              "describe-availability-zones", "--output", "text"],
                             capture_output=True, text=True, env=env, timeout=60)
        if zones_available(sim, out.stdout) or time.monotonic() > deadline:
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
    sim = karri_sim.Sim(PREFIX, nodes=NODES, state_dir=SIM_DIR, net_index=net, host_link=True,
                        clusters=CLUSTERS)
    sim.up()     # first removes what is left of old hosts: processes, namespaces, links
    return sim, "rebuilt"


def cloud_layout():
    """(clusters, nodes per cluster): a cloud that exists keeps what it was
    made with; a new one takes KARRI_QS_CLUSTERS and KARRI_QS_NODES."""
    env_c, env_n = os.environ.get("KARRI_QS_CLUSTERS"), os.environ.get("KARRI_QS_NODES")
    try:
        clusters = int(env_c or 1)
        nodes = int(env_n or (2 if clusters == 1 else 1))
    except ValueError:
        say("quickstart: KARRI_QS_CLUSTERS and KARRI_QS_NODES are numbers")
        sys.exit(2)
    if not 1 <= clusters <= karri_sim.MAX_CLUSTERS or not 1 <= nodes <= 8:
        say(f"quickstart: KARRI_QS_CLUSTERS is 1..{karri_sim.MAX_CLUSTERS}, KARRI_QS_NODES 1..8")
        sys.exit(2)
    rec = record()
    if "net_index" not in rec:
        return clusters, nodes
    had = (rec.get("clusters", 1), rec.get("nodes", 2))
    if (env_c and clusters != had[0]) or (env_n and nodes != had[1]):
        say(f"quickstart: the cloud in {QS} has {had[0]} cluster(s) of {had[1]} node(s);"
            " KARRI_QS_CLUSTERS / KARRI_QS_NODES do not change a cloud"
            " (./quickstart reset deletes it, then a new one can be made)")
        sys.exit(1)
    return had


def up():
    global CLUSTERS, NODES
    os.makedirs(QS, exist_ok=True)
    existing = cloud_exists()
    CLUSTERS, NODES = cloud_layout()
    t0 = time.monotonic()
    if not existing:
        say(f"  hosts: front end + {NODES} nodes in network namespaces, libvirtd per node ..."
            if CLUSTERS == 1 else
            f"  hosts: front end + {CLUSTERS} clusters (a head and {NODES} node(s) each) in"
            " network namespaces, libvirtd per node ...")
    elif not load_sim().is_up():
        say(f"  the cloud in {QS} is kept; its hosts are not all there (a reboot, a stop): "
            "building them again ...")
    sim, hosts = hosts_up()
    record_set(net_index=sim.net_index, prefix=PREFIX, nodes=NODES, clusters=CLUSTERS)
    route_vnets(sim)
    if hosts == "rebuilt":
        say(f"  hosts up in {time.monotonic() - t0:.0f} s")
    if not existing:
        say("  registering the services, the zone and its nodes"
            " (certificates from the cloud CA) ...")
    write_configs(sim)
    started = []
    if nodes_registered(sim):
        # A cloud that exists: the nodes first, each answering (so having
        # adopted or booted again its instances) before the CC starts.  A
        # CC that started alone would tell the CLC it has no instances,
        # and the CLC would take them for lost.
        started += start_daemons(sim, sim.nodes)
        wait_nodes_up(sim)
    register_services(sim)
    install_head_keys(sim)
    started = start_daemons(sim, [sim.front] + sim.heads) + started
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
    zones = wait_zone_available(sim)
    if not zones_available(sim, zones.stdout):
        say(f"quickstart: zone(s) {', '.join(zone(c) for c in sim.clusters)} did not all become"
            f" available:\n{zones.stdout}{zones.stderr}")
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
Karri is up: front end {sim.front.netns} ({sim.front.priv_ip}), {hosts_line(sim)}.
  source {eucarc}
  aws --endpoint-url "$EC2_URL" ec2 describe-instances
  {k} user add bob; {k} credentials bob ./bob    (the admin CLI, run on the front end)
  ./quickstart status | stop | reset""")


def hosts_line(sim):
    """"nodes kq-node1, kq-node2", or with many clusters each zone's head and nodes."""
    if not sim.heads:
        return "nodes " + ", ".join(n.netns for n in sim.nodes)
    return "; ".join(f"{zone(c)}: head {c.head.netns} ({c.head.priv_ip}), nodes "
                     + ", ".join(n.netns for n in c.nodes) for c in sim.clusters)


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
    # The NCs first: a monitor would take a guest destroyed under it for one
    # that powered off.  Then the guests, while the EBSes still serve their
    # volumes: a QEMU flushing to a volume whose target is gone waits out
    # libvirt's 10 s before it is killed.  Then the other daemons.
    stop_supervisors(sim, sim.nodes)
    for n in sim.nodes:
        sim.destroy_domains(n)
    stop_supervisors(sim, sim.heads + [sim.front])
    sim.down(quiet=quiet)         # every process left, namespaces, links
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
    if glob.glob(os.path.join(QS, "head*")):
        say(f"  {os.path.join(QS, 'head*')}: each cluster's volumes (EBS) and network state")
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
    if sim.heads:
        say(f"hosts:        front end {sim.front.netns} ({sim.front.priv_ip}); {hosts_line(sim)}")
    else:
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
    if sim.heads:       # see all_answer
        out.returncode = 0 if all_answer(sim) else 1
    sys.exit(int(rc) or out.returncode)


USAGE = "usage: python3 -m karri.quickstart up | status | stop [--purge [--yes]] | reset [--yes]"

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
