"""karri.sim: Karri's simulated hosts -- a front end and N nodes on one machine.

The one implementation of the simulated cloud used by the pytest fixtures and
by ./quickstart.  Hosts are Linux network namespaces joined by bridges in a
"switch" namespace; each node runs its own libvirtd.  Python 3 stdlib only
(python3-libvirt is used when present, to destroy domains and warm up libvirt,
never required).  Every external command is an argv list, never a shell.

Topology for prefix P (default "kq") and network index I (default 0):

    namespace   interface          address            on
    P-sw        br-priv, br-stor   -                  the two switches (bridges)
    P-front     eth0               10.81.I.1/24       private network
                eth1               10.82.I.1/24       storage network
                host0 (optional)   10.83.I.2/30       veth to the root namespace
    P-nodeK     eth0 -> br0        10.81.I.(10+K)/24  private (address on br0)
                eth1               10.82.I.(10+K)/24  storage network
    (root)      P-host (optional)  10.83.I.1/30       only with --host-link

With --clusters N (N > 1; default 1, the layout above) the sim is N
clusters, each with its own pair of bridges (br-priv, br-stor for cluster 1,
br-privC, br-storC for cluster C) and its own networks: cluster C's private
net is 10.(78+3C).I.0/24 and its storage net 10.(79+3C).I.0/24 (cluster 1:
10.81/10.82 as above, cluster 2: 10.84/10.85, ...), and a head host of its
own where the cluster's CC and EBS run:

    P-front     eth(C-1)           .1 on cluster C's private net (one leg
                                   each, no storage leg); routes between them
                host0 (optional)   10.83.I.2/30       as above
    P-headC     eth0               .2 on cluster C's private net
                eth1               .2 on cluster C's storage net
    P-nodeK     br0 / eth1         .(10+K) on its cluster's nets; nodes are
                                   numbered across clusters (--nodes is per
                                   cluster: node1..nodeN in cluster 1, ...)

Heads and nodes of cluster C route everything else via the front end's leg
on their network (default route), and the front end forwards: so the CLC
and Walrus reach every head and node, and every node reaches Walrus.  AoE
stays on a cluster's storage bridge, as AoE does not cross a router.

MTU 9000 on every bridge and veth (AoE jumbo frames; the host link keeps
1500).  Guests join a node's br0 (libvirt <interface type='bridge'>), so
they sit on the private network with the front end.  Addresses from
10.81.I.100 up are free for guests.  Nothing else is created in the root
namespace; different prefixes may share I (namespaces are separate) except
with --host-link, where each running sim needs its own I.

Each node runs libvirtd inside its network namespace *and* a private mount
namespace (made by ip netns exec + unshare) where libvirt's directories are
bind-mounted from the state dir (S = /var/lib/karri-sim/P by default):

    /etc/libvirt        S/nodeK/etc    qemu.conf, libvirtd.conf (written here)
    /run/libvirt        S/nodeK/run    the socket: S/nodeK/run/libvirt-sock
    /var/lib/libvirt    S/nodeK/lib
    /var/cache/libvirt  S/nodeK/cache  (qemu/capabilities shared, see below)
    /var/log/libvirt    S/nodeK/log    libvirtd.log, qemu/<domain>.log
    /etc/passwd, group  S/nodeK/nss/   + the libvirt-qemu user and group

    /sys/fs/cgroup/<h>  the host's cgroup v1 hierarchies, mounted again in
                        a cgroup namespace rooted at the node's subtree
                        <h>/<caller's cgroup>/karri-P-nodeK

    URI: qemu+unix:///system?socket=S/nodeK/run/libvirt-sock
         lxc+unix:///system?socket=S/nodeK/run/libvirt-sock (containers)

Why each fix (see DESIGN.md section 7):
  * ip netns exec remounts /sys, which hides the host's cgroups; libvirt's
    LXC driver cannot start a container without them ("no cgroup backend
    available").  So each node's libvirtd runs in a subtree of its own,
    karri-P-nodeK below the cgroup of whoever ran up() (limits on the caller
    still hold), in a cgroup namespace rooted there, with the host's cgroup
    v1 hierarchies mounted again under /sys/fs/cgroup: to libvirt, its
    subtree is the whole tree, so its "/machine" partition, its containers
    and their cleanup stay inside the node.  The hybrid cgroup2 mount
    ("unified") stays hidden: it confuses libvirt 9.0.
    qemu.conf's cgroup_controllers = [] keeps QEMU out of cgroups, as before
    (no device ACL in the way of loop/NBD disks).  down() kills whatever
    still runs in a node's subtree and removes it (see _node_cgroups).
  * libvirt 9.0 resolves the built-in user "libvirt-qemu" before it reads
    qemu.conf and this machine has no such user: the node's mount namespace
    gets its own /etc/passwd and /etc/group with it.  qemu.conf then says
    user = group = "root" (else each domain create re-probes QEMU, ~70 s).
  * stdio_handler = "file": QEMU writes its own logs, no virtlogd needed.
  * namespaces = [] and dynamic_ownership = 0: no per-domain /dev namespace,
    no chown of disk files -- fewer moving parts, test files stay root's.
  * QEMU's capabilities (probed once, ~4 s) are cached in
    /var/cache/karri/sim-qemu-caps, shared by every node and every run;
    libvirtd is pinned to one CPU so that cache stays valid (see
    _start_libvirtd).
  * the mount namespace is a slave of the root one, so namespaces deleted
    outside (another sim's down) are not kept alive by our copy of /run/netns.
The empty directories /etc/libvirt, /run/libvirt, /var/{lib,cache,log}/libvirt
are created on the host if missing (the libvirt packages normally own them):
they are only mount points.  Paths *inside* those directories differ between
a node's libvirtd and everything else, so give libvirt disk/console paths
elsewhere (e.g. under the state dir or /tmp).

CLI:  python3 -m karri.sim up [--prefix P] [--nodes N] [--clusters C] [--net-index I] [--host-link]
      python3 -m karri.sim down|status [--prefix P] [--json]
      python3 -m karri.sim exec [--prefix P] HOST -- ARGV...
      (python/ on PYTHONPATH: see python/karri/__init__.py)
Python:
      sim = Sim("kt123", nodes=2); sim.up()
      sim.front.priv_ip, sim.nodes[0].libvirt_uri, sim.nodes[0].run([...])
      sim = Sim("kt124", nodes=1, clusters=2)   # sim.clusters[1].head, .nodes
      p = sim.front.spawn([...], log="/tmp/x.log"); p.stop()
      sim.down()
"""

import argparse
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

from karri import python_argv

STATE_BASE = "/var/lib/karri-sim"
CAPS_CACHE = "/var/cache/karri/sim-qemu-caps"
MTU = 9000
LIBVIRTD = "/usr/sbin/libvirtd"
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,9}$")   # "<P>-host" must fit IFNAMSIZ
MAX_CLUSTERS = 4        # cluster 4's nets are 10.90/10.91: below the guests' 10.100/16

# libvirt's directories, bind-mounted per node: (name under S/nodeK, path).
LIBVIRT_DIRS = [("etc", "/etc/libvirt"), ("run", "/run/libvirt"),
                ("lib", "/var/lib/libvirt"), ("cache", "/var/cache/libvirt"),
                ("log", "/var/log/libvirt")]

QEMU_CONF = """\
# Written by karri.sim (python/karri/sim.py) for a simulated node.  See its docstring.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
stdio_handler = "file"
cgroup_controllers = [ ]
"""

LXC_CONF = """\
# Written by karri.sim (python/karri/sim.py) for a simulated node.  See its docstring.
security_driver = "none"
"""

LIBVIRTD_CONF = """\
# Written by karri.sim (python/karri/sim.py) for a simulated node.
unix_sock_group = "root"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:stderr"
"""


def log(msg):
    print("karri-sim: " + msg, file=sys.stderr, flush=True)


def _cmd(argv, check=True, timeout=60):
    """Run a command in the root namespace; output captured, text."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr.strip()))
    return p


# --- processes ---------------------------------------------------------------
# A started process is recorded as S/<host>/pids/<pid> holding its start time
# (field 22 of /proc/<pid>/stat): after a crash and a reboot the pid may
# belong to someone else, and we must never signal that process.

def _starttime(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):        # zombie: already dead, just not reaped
        return None
    return fields[19]


def _alive(pid, start=None):
    st = _starttime(pid)
    return st is not None and (start is None or st == start)


def _terminate(pids, timeout=10.0):
    """SIGTERM each (pid, starttime), wait up to timeout, then SIGKILL."""
    pids = [(p, s) for p, s in pids if _alive(p, s)]
    for p, _ in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p, s) for p, s in pids):
        time.sleep(0.1)
    for p, s in pids:
        if _alive(p, s):
            log("pid %d ignored SIGTERM, killing" % p)
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p, s) for p, s in pids):
        time.sleep(0.05)


class Proc:
    """A background process started in a namespace (see Host.spawn)."""

    def __init__(self, popen, record, argv):
        self.popen = popen
        self.pid = popen.pid
        self.argv = argv
        self._record = record

    def alive(self):
        return self.popen.poll() is None

    def wait(self, timeout=None):
        return self.popen.wait(timeout)

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after timeout; returns the exit status."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        return self._done()

    def kill(self):
        if self.popen.poll() is None:
            self.popen.kill()
        return self._done()

    def _done(self):
        rc = self.popen.wait(10)
        try:
            os.unlink(self._record)
        except FileNotFoundError:
            pass
        return rc

    def __repr__(self):
        return "<Proc %d %s>" % (self.pid, " ".join(self.argv[:3]))


# --- hosts -------------------------------------------------------------------

class Host:
    """One simulated host: a network namespace plus a state directory."""

    bridge = None          # the bridge carrying priv_ip (nodes: "br0")
    priv_dev = "eth0"      # the interface holding priv_ip
    stor_dev = "eth1"      # ... and stor_ip
    cluster = None         # the Cluster it belongs to (a front end of many: None)

    def __init__(self, sim, name, priv_ip, stor_ip):
        self.sim = sim
        self.name = name                         # "front", "node1", ...
        self.netns = "%s-%s" % (sim.prefix, name)
        self.priv_ip = priv_ip                   # "10.81.0.1"
        self.stor_ip = stor_ip
        self.state = os.path.join(sim.state_dir, name)
        self.piddir = os.path.join(self.state, "pids")

    def run(self, argv, **kw):
        """Run argv inside the namespace; returns CompletedProcess.  Defaults:
        output captured as text, timeout 120 s, no check (pass check=True)."""
        if "capture_output" not in kw and "stdout" not in kw:
            kw.setdefault("stdout", subprocess.PIPE)
            kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 120)
        return subprocess.run(["ip", "netns", "exec", self.netns] + list(argv), **kw)

    def ip(self, *args):
        """`ip ARGS` in this namespace; raises on failure; returns stdout."""
        return _cmd(["ip", "-n", self.netns] + list(args)).stdout

    def spawn(self, argv, env=None, log=None, cwd=None):
        """Start argv in the background inside the namespace.  Its output goes
        to the file `log` (appended) or nowhere.  The pid is recorded so that
        down() kills it even if the caller forgets or crashes."""
        os.makedirs(self.piddir, exist_ok=True)
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            # ip netns exec execs argv itself, so popen.pid is argv's pid.  A
            # new session keeps a Ctrl-C in the caller's terminal away from it.
            p = subprocess.Popen(["ip", "netns", "exec", self.netns] + list(argv),
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 env=env, cwd=cwd, start_new_session=True)
        finally:
            if log:
                out.close()
        record = os.path.join(self.piddir, str(p.pid))
        start = _starttime(p.pid)
        if start:           # else it is already gone: nothing to kill later
            with open(record, "w") as f:
                f.write("%s\n%s\n" % (start, " ".join(argv)))
        proc = Proc(p, record, list(argv))
        self.sim._procs.append(proc)
        return proc

    def recorded_pids(self):
        out = []
        try:
            names = os.listdir(self.piddir)
        except FileNotFoundError:
            return out
        for n in names:
            try:
                with open(os.path.join(self.piddir, n)) as f:
                    start = f.readline().strip()
                if start:       # without a start time the pid proves nothing
                    out.append((int(n), start))
            except (OSError, ValueError):
                pass
        return out

    def exists(self):
        return os.path.exists("/run/netns/" + self.netns)

    def cables(self):
        """[(device here, bridge in the switch namespace, port name suffix)];
        the position in the list is the device's index in host_mac."""
        c = self.cluster
        return [("eth0", c.priv_br, "p"), ("eth1", c.stor_br, "s")]

    def addresses(self):
        """[(device, address/prefix)] to configure (and bring up)."""
        c = self.cluster
        return [(self.priv_dev, "%s/%d" % (self.priv_ip, c.priv_net.prefixlen)),
                (self.stor_dev, "%s/%d" % (self.stor_ip, c.stor_net.prefixlen))]

    def info(self):
        d = {"name": self.name, "netns": self.netns, "priv_ip": self.priv_ip,
             "stor_ip": self.stor_ip, "priv_dev": self.priv_dev, "bridge": self.bridge}
        return d

    def __repr__(self):
        return "<%s %s %s>" % (type(self).__name__, self.netns, self.priv_ip)


class Front(Host):
    host_ip = None         # front end's address on the host link, if any
    legs = ()              # of many clusters: [(cluster, address)], eth0, eth1, ...

    def ip_on(self, cluster):
        """The front end's address on that cluster's private network."""
        for c, ip in self.legs:
            if c is cluster:
                return ip
        return self.priv_ip

    def cables(self):
        if not self.legs:
            return Host.cables(self)
        return [("eth%d" % i, c.priv_br, "p" if i == 0 else "p%d" % (i + 1))
                for i, (c, _) in enumerate(self.legs)]

    def addresses(self):
        if not self.legs:
            return Host.addresses(self)
        return [("eth%d" % i, "%s/%d" % (ip, c.priv_net.prefixlen))
                for i, (c, ip) in enumerate(self.legs)]

    def info(self):
        d = Host.info(self)
        if self.legs:
            d["legs"] = [{"dev": "eth%d" % i, "ip": ip, "private_net": str(c.priv_net)}
                         for i, (c, ip) in enumerate(self.legs)]
        return d


class Head(Host):
    """The host of one cluster's CC and EBS, in a sim of many clusters."""

    def info(self):
        d = Host.info(self)
        d["cluster"] = self.cluster.index
        return d


class Node(Host):
    bridge = "br0"
    priv_dev = "br0"
    libvirtd = None        # Proc of the node's libvirtd (in the process that ran up())

    @property
    def libvirt_sock(self):
        return os.path.join(self.state, "run", "libvirt-sock")

    @property
    def libvirt_uri(self):
        return "qemu+unix:///system?socket=" + self.libvirt_sock

    @property
    def lxc_uri(self):
        """The same libvirtd's LXC driver (containers)."""
        return "lxc+unix:///system?socket=" + self.libvirt_sock

    def cgroups(self):
        """The node's cgroup subtree, one entry per hierarchy: {"mount",
        "opts", "rel", "host"} (see _node_cgroups_make); [] if none."""
        return _node_cgroups(self.state)

    def lxc_unable(self):
        """Why libvirt's LXC driver cannot run containers here; None if it can."""
        try:
            with open(os.path.join(self.state, "cgroups.unusable")) as f:
                return "cgroups could not be mounted in the node: " + f.read().strip()
        except FileNotFoundError:
            pass
        have = {o for c in _node_cgroups(self.state) for o in c["opts"].split(",")}
        missing = [c for c in LXC_CGROUPS if c not in have]
        if missing:
            return ("the host has no cgroup v1 hierarchy for %s (libvirt's LXC driver needs "
                    "%s; the sim gives nodes cgroup v1 only)" % (", ".join(missing),
                                                                 ", ".join(LXC_CGROUPS)))
        return None

    def info(self):
        d = Host.info(self)
        d["libvirt_uri"] = self.libvirt_uri
        d["lxc_uri"] = self.lxc_uri
        d["cluster"] = self.cluster.index
        return d


class Cluster:
    """One cluster of the sim (an availability zone of the cloud on it): its
    private and storage networks, each a bridge in the switch namespace;
    `head` is where its CC and EBS run (the front end when the sim has one
    cluster), `nodes` its nodes."""

    def __init__(self, index, net_index):
        self.index = index
        off = 3 * (index - 1)          # 10.83 is the host link: cluster 2 from 10.84
        self.priv_net = ipaddress.ip_network("10.%d.%d.0/24" % (81 + off, net_index))
        self.stor_net = ipaddress.ip_network("10.%d.%d.0/24" % (82 + off, net_index))
        suffix = "" if index == 1 else str(index)
        self.priv_br = "br-priv" + suffix
        self.stor_br = "br-stor" + suffix
        self.head = None
        self.nodes = []

    def info(self):
        return {"index": self.index, "private_net": str(self.priv_net),
                "storage_net": str(self.stor_net), "head": self.head.name,
                "nodes": [n.name for n in self.nodes]}

    def __repr__(self):
        return "<Cluster %d %s>" % (self.index, self.priv_net)


# --- the simulation ------------------------------------------------------------

class Sim:
    def __init__(self, prefix="kq", nodes=2, state_dir=None, net_index=0,
                 host_link=False, libvirt=True, clusters=1):
        """nodes: per cluster; clusters > 1 gives each cluster a head (see the docstring)."""
        if not PREFIX_RE.match(prefix):
            raise ValueError("prefix must match %s: %r" % (PREFIX_RE.pattern, prefix))
        if not 0 <= net_index <= 255 or not 1 <= nodes * clusters <= 200 or \
                not 1 <= clusters <= MAX_CLUSTERS:
            raise ValueError("net_index 0..255, clusters 1..%d, nodes 1..200 in all"
                             % MAX_CLUSTERS)
        self.prefix = prefix
        self.state_dir = os.path.abspath(state_dir or os.path.join(STATE_BASE, prefix))
        self.config_file = os.path.join(self.state_dir, "sim.json")
        self.net_index = net_index
        self.host_link = host_link
        self.libvirt = libvirt
        self.clusters = [Cluster(c, net_index) for c in range(1, clusters + 1)]
        self.priv_net = self.clusters[0].priv_net       # cluster 1's: the front end's
        self.stor_net = self.clusters[0].stor_net
        self.host_net = ipaddress.ip_network("10.83.%d.0/30" % net_index)
        self.switch_ns = prefix + "-sw"
        self.host_if = prefix + "-host"
        self.host_ip = str(self.host_net[1]) if host_link else None
        one = clusters == 1
        self.front = Front(self, "front", self._addr(self.priv_net, 1),
                           self._addr(self.stor_net, 1) if one else None)
        if host_link:
            self.front.host_ip = str(self.host_net[2])
        self.heads = []
        if one:
            self.front.cluster = self.clusters[0]
            self.clusters[0].head = self.front
        else:
            self.front.legs = [(c, self._addr(c.priv_net, 1)) for c in self.clusters]
            for c in self.clusters:
                c.head = Head(self, "head%d" % c.index, self._addr(c.priv_net, 2),
                              self._addr(c.stor_net, 2))
                c.head.cluster = c
                self.heads.append(c.head)
        self.nodes = []
        for c in self.clusters:
            for _ in range(nodes):
                k = len(self.nodes) + 1
                n = Node(self, "node%d" % k, self._addr(c.priv_net, 10 + k),
                         self._addr(c.stor_net, 10 + k))
                n.cluster = c
                c.nodes.append(n)
                self.nodes.append(n)
        self._procs = []

    @classmethod
    def load(cls, prefix="kq", state_dir=None):
        """The sim of this prefix as recorded by its up() (for down/status
        from another process); the defaults if nothing is recorded."""
        sim = cls(prefix, state_dir=state_dir)
        cfg = sim._load_config()
        if cfg:
            sim = cls(prefix, nodes=cfg["nodes"], state_dir=state_dir, net_index=cfg["net_index"],
                      host_link=cfg["host_link"], libvirt=cfg["libvirt"],
                      clusters=cfg.get("clusters", 1))
        return sim

    @staticmethod
    def _addr(net, n):
        return str(net[n])

    @property
    def hosts(self):
        return [self.front] + self.heads + self.nodes

    def host(self, name):
        for h in self.hosts:
            if h.name == name or h.netns == name:
                return h
        raise KeyError(name)

    def _load_config(self):
        try:
            with open(self.config_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    # --- up ------------------------------------------------------------------

    def up(self):
        """Create everything; on any failure, remove what was made and raise."""
        if os.geteuid() != 0:
            raise PermissionError("karri.sim needs root (network namespaces)")
        if Sim.load(self.prefix, self.state_dir).is_up():
            raise RuntimeError("sim %s is already up (run down first)" % self.prefix)
        self.down(quiet=True)          # leftovers of a crashed run
        t0 = time.monotonic()
        try:
            os.makedirs(self.state_dir, exist_ok=True)   # the sim owns it: down removes it
            with open(self.config_file, "w") as f:
                json.dump({"prefix": self.prefix, "nodes": len(self.clusters[0].nodes),
                           "net_index": self.net_index, "host_link": self.host_link,
                           "libvirt": self.libvirt, "clusters": len(self.clusters)}, f)
            self._make_network()
            if self.libvirt:
                for n in self.nodes:
                    n.libvirtd = self._start_libvirtd(n)
                for n in self.nodes:
                    self._wait_libvirtd(n)
                self._warm_libvirt()
        except BaseException:
            log("up failed, cleaning up")
            self.down(quiet=True)
            raise
        log("up in %.1f s: %s" % (time.monotonic() - t0, self.describe_short()))
        return self

    def _make_network(self):
        sw = self.switch_ns
        for ns in [sw] + [h.netns for h in self.hosts]:
            _cmd(["ip", "netns", "add", ns])
            _cmd(["ip", "-n", ns, "link", "set", "lo", "up"])
        for c in self.clusters:
            for br in (c.priv_br, c.stor_br):
                # No STP and no forward delay: ports forward at once, as on a
                # dumb switch; the tests do not wait 15 s for learning.
                _cmd(["ip", "-n", sw, "link", "add", br, "mtu", str(MTU), "type", "bridge",
                      "stp_state", "0", "forward_delay", "0"])
                _cmd(["ip", "-n", sw, "link", "set", br, "up"])
        for k, h in enumerate(self.hosts):
            # Both ends of each cable are made from inside the namespaces;
            # nothing passes through the root namespace.
            for d, (dev, br, suffix) in enumerate(h.cables()):
                port = "%s-%s" % (h.name, suffix)
                _cmd(["ip", "-n", sw, "link", "add", port, "mtu", str(MTU), "type", "veth",
                      "peer", "name", dev, "address", self.host_mac(k, d), "mtu", str(MTU),
                      "netns", h.netns])
                _cmd(["ip", "-n", sw, "link", "set", port, "master", br, "up"])
            if isinstance(h, Node):
                h.ip("link", "add", "br0", "mtu", str(MTU), "type", "bridge",
                     "stp_state", "0", "forward_delay", "0")
                h.ip("link", "set", "eth0", "master", "br0", "up")
            for dev, addr in h.addresses():
                h.ip("addr", "add", addr, "dev", dev)
                h.ip("link", "set", dev, "up")
        if len(self.clusters) > 1:
            self._make_routes()
        if self.host_link:
            # The one exception to "nothing in the root namespace": a cable
            # from the host to the front end, so the host can reach its APIs.
            plen = str(self.host_net.prefixlen)
            _cmd(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "host0",
                  "netns", self.front.netns])
            _cmd(["ip", "addr", "add", self.host_ip + "/" + plen, "dev", self.host_if])
            _cmd(["ip", "link", "set", self.host_if, "up"])
            self.front.ip("addr", "add", self.front.host_ip + "/" + plen, "dev", "host0")
            self.front.ip("link", "set", "host0", "up")

    def _make_routes(self):
        """Many clusters: the front end is the router between the clusters'
        private networks (its legs); heads and nodes send what is not on
        their own networks to it.  Storage networks stay unrouted."""
        self.front.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], check=True)
        for h in self.heads + self.nodes:
            h.ip("route", "add", "default", "via", self.front.ip_on(h.cluster))

    def host_mac(self, k, d):
        """The MAC of host k's (0 front, K nodeK) interface d (0 eth0, 1 eth1):
        fixed, so hosts built again (after a reboot) have the MACs they had.
        A cloud keeps MACs: EBS exports a volume to the node's storage MAC."""
        return "02:4b:%02x:%02x:%02x:%02x" % (self.net_index, k >> 8, k & 0xff, d)

    def recorded(self):
        """This prefix has a recorded sim (sim.json) in its state dir."""
        return self._load_config() is not None

    def all_exist(self):
        """Every namespace of the sim is there (and the host link, if any)."""
        return (os.path.exists("/run/netns/" + self.switch_ns) and
                all(h.exists() for h in self.hosts) and
                (not self.host_link or os.path.exists("/sys/class/net/" + self.host_if)))

    def restart_libvirtds(self):
        """Start again the libvirtd of every node whose libvirtd does not
        answer; the names of those nodes.  Running guests are not touched
        (QEMU is not libvirtd's child; the new libvirtd reconnects to them
        from its state in S/nodeK/run)."""
        done = []
        for n in self.nodes:
            if _can_connect(n.libvirt_sock):
                continue
            for p, s in n.recorded_pids():
                try:
                    with open("/proc/%d/cmdline" % p, "rb") as f:
                        if LIBVIRTD.encode() in f.read():
                            _terminate([(p, s)])     # hung: not answering
                except OSError:
                    pass
            n.libvirtd = self._start_libvirtd(n)
            self._wait_libvirtd(n)
            done.append(n.name)
        return done

    def _start_libvirtd(self, n):
        for sub, _ in LIBVIRT_DIRS:
            os.makedirs(os.path.join(n.state, sub), exist_ok=True)
        # Mount point for the shared capabilities cache, inside cache/.
        os.makedirs(os.path.join(n.state, "cache", "qemu", "capabilities"), exist_ok=True)
        os.makedirs(CAPS_CACHE, exist_ok=True)
        with open(os.path.join(n.state, "etc", "qemu.conf"), "w") as f:
            f.write(QEMU_CONF)
        with open(os.path.join(n.state, "etc", "libvirtd.conf"), "w") as f:
            f.write(LIBVIRTD_CONF)
        with open(os.path.join(n.state, "etc", "lxc.conf"), "w") as f:
            f.write(LXC_CONF)
        _node_cgroups_make(n)
        nss = os.path.join(n.state, "nss")
        os.makedirs(nss, exist_ok=True)
        _write_nss(nss)
        # ip netns exec -> taskset -> unshare -m -> env -> this module's
        # "_enter-node" -> libvirtd, each exec'ing the next: the recorded pid
        # is libvirtd's.
        # taskset: libvirt keys its QEMU capabilities cache on the CPUID of
        # the CPU libvirtd happens to start on (the APIC ID differs per core),
        # so an unpinned libvirtd re-probes QEMU (~4 s) half of the time.
        # Pinned, every node and every run hits the cache.  libvirt gives
        # QEMU all host CPUs back, so guests are not pinned.
        cpu = str(min(os.sched_getaffinity(0)))
        return n.spawn(["taskset", "-c", cpu, "unshare", "--mount", "--propagation", "slave",
                        *python_argv("sim", "_enter-node", n.state, "--",
                                     LIBVIRTD, "--pid-file", "/run/libvirt/libvirtd.pid")],
                       log=os.path.join(n.state, "log", "libvirtd.log"))

    def _wait_libvirtd(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _can_connect(n.libvirt_sock):
                return
            if not n.libvirtd.alive():
                break
            time.sleep(0.1)
        raise RuntimeError("libvirtd of %s did not come up; log %s:\n%s" % (
            n.name, os.path.join(n.state, "log", "libvirtd.log"),
            _tail(os.path.join(n.state, "log", "libvirtd.log"))))

    def _warm_libvirt(self):
        """Make each libvirtd probe QEMU now (the first time ever ~4 s, then
        cached), one after the other so the first fills the shared cache.
        Without python3-libvirt, the first domain create pays instead."""
        try:
            import libvirt
        except ImportError:
            return
        for n in self.nodes:
            c = libvirt.open(n.libvirt_uri)
            try:
                c.getDomainCapabilities(None, "x86_64", None, "qemu")
            finally:
                c.close()

    def is_up(self):
        """True if this prefix has a recorded, running sim."""
        if not self._load_config() or not all(h.exists() for h in self.hosts):
            return False
        if self.libvirt:
            return all(_can_connect(n.libvirt_sock) for n in self.nodes)
        return True

    # --- down ----------------------------------------------------------------

    def down(self, quiet=False):
        """Remove everything of this prefix, also what a crashed run left.
        Idempotent.  Order: guests, recorded processes, whatever else still
        runs in our namespaces, host link, namespaces, state."""
        nodes = self._all_node_names()
        for name in nodes:
            self.destroy_domains(Node(self, name, None, None))
        hosts = [self.front] + [Head(self, name, None, None) for name in self._all_head_names()] \
            + [Node(self, name, None, None) for name in nodes]
        for h in hosts:
            pids = [(p, s) for p, s in h.recorded_pids() if _alive(p, s)]
            if pids and not quiet:
                log("stopping %s: %s" % (h.name, " ".join(str(p) for p, _ in pids)))
            _terminate(pids)
        for p in self._procs:           # reap our own children (no zombies)
            try:
                p.popen.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._procs = []
        for ns in self._our_namespaces():
            _terminate([(p, _starttime(p)) for p in _netns_pids(ns)], timeout=5)
        for h in hosts[1:]:
            if isinstance(h, Node):
                _node_cgroups_remove(h)
        if os.path.exists("/sys/class/net/" + self.host_if):
            _cmd(["ip", "link", "del", self.host_if], check=False)
        for ns in self._our_namespaces():
            # Deleting a namespace destroys its veths (and so their peers).
            _cmd(["ip", "netns", "del", ns], check=False)
        if os.path.isdir(self.state_dir):
            if os.path.exists(self.config_file) or self.state_dir.startswith(STATE_BASE + "/"):
                shutil.rmtree(self.state_dir, ignore_errors=True)
            else:
                log("not removing %s: no sim.json in it" % self.state_dir)

    def _our_namespaces(self):
        """Existing namespaces named like ours: P-sw, P-front, P-head<C>, P-node<K>."""
        pat = re.compile(r"^%s-(sw|front|head\d+|node\d+)$" % re.escape(self.prefix))
        names = [n for n in _netns_list() if pat.match(n)]
        # nodes first, switch last: the order a human would unplug things
        return sorted(names, key=lambda n: (n.endswith("-sw"), n.endswith("-front"), n))

    def _all_node_names(self):
        return self._all_names("node", self.nodes)

    def _all_head_names(self):
        return self._all_names("head", self.heads)

    def _all_names(self, kind, known):
        """Names of the hosts of this kind: ours, and any a crashed run left
        (a namespace, a state directory)."""
        names = {h.name for h in known}
        for ns in self._our_namespaces():
            m = re.match(r"^.*-(%s\d+)$" % kind, ns)
            if m:
                names.add(m.group(1))
        if os.path.isdir(self.state_dir):
            names.update(d for d in os.listdir(self.state_dir) if re.match(r"^%s\d+$" % kind, d))
        return sorted(names, key=lambda s: int(s[len(kind):]))

    def destroy_domains(self, n):
        """Stop the node's guests and containers (tests use it to leave a node
        clean): through libvirt if it answers, else by the pid files libvirt
        keeps (S/nodeK/run/qemu/<domain>.pid; containers: their cgroups,
        see _node_cgroups_remove)."""
        if _can_connect(n.libvirt_sock):
            try:
                import libvirt
                libvirt.registerErrorHandler(lambda *a: None, None)
                for uri in (n.libvirt_uri, n.lxc_uri):
                    c = libvirt.open(uri)
                    try:
                        for d in c.listAllDomains():
                            # asked first: a transient domain is gone once destroyed
                            persistent = d.isPersistent()
                            if d.isActive():
                                d.destroy()
                            if persistent:
                                d.undefine()
                    finally:
                        c.close()
            except ImportError:
                pass
            except Exception as e:      # libvirt.libvirtError; fall through
                log("%s: libvirt cleanup: %s" % (n.name, e))
        qdir = os.path.join(n.state, "run", "qemu")
        pids = []
        for f in (os.listdir(qdir) if os.path.isdir(qdir) else []):
            if f.endswith(".pid"):
                try:
                    with open(os.path.join(qdir, f)) as fh:
                        pid = int(fh.read().strip())
                    with open("/proc/%d/cmdline" % pid, "rb") as fh:
                        if b"qemu" in fh.read():
                            pids.append((pid, _starttime(pid)))
                except (OSError, ValueError):
                    pass
        _terminate(pids)

    # --- status --------------------------------------------------------------

    def describe(self):
        """What exists now, as a dict (status --json)."""
        out = {"prefix": self.prefix, "state_dir": self.state_dir, "up": self.is_up(),
               "net_index": self.net_index, "private_net": str(self.priv_net),
               "storage_net": str(self.stor_net), "namespaces": self._our_namespaces(),
               "clusters": [c.info() for c in self.clusters], "hosts": []}
        if self.host_link:
            out["host_link"] = {"root_if": self.host_if, "root_ip": self.host_ip,
                                "front_if": "host0", "front_ip": self.front.host_ip}
        for h in self.hosts:
            d = h.info()
            d["exists"] = h.exists()
            d["processes"] = [p for p, s in h.recorded_pids() if _alive(p, s)]
            if isinstance(h, Node):
                d["libvirt_up"] = _can_connect(h.libvirt_sock)
            out["hosts"].append(d)
        return out

    def describe_short(self):
        return "front %s, %s" % (self.front.priv_ip, ", ".join(
            "%s %s" % (h.name, h.priv_ip) for h in self.heads + self.nodes))


# --- helpers -------------------------------------------------------------------

def _netns_list():
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def _netns_pids(ns):
    p = _cmd(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def _can_connect(path):
    if not os.path.exists(path):
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def _tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


# --- cgroups of a node -----------------------------------------------------------
# Each node's subtree: one directory per host cgroup v1 hierarchy, listed in
# S/nodeK/cgroups.json as {"mount": name under /sys/fs/cgroup, "opts": mount
# options naming the hierarchy, "rel": the directory from the hierarchy's
# root, "host": its path on the host}, so that down() from any process finds
# them.  A host without cgroup v1 (pure cgroup2) gets none: the NC's LXC
# tests then skip, saying so.

CGROUP_ROOT = "/sys/fs/cgroup"
LXC_CGROUPS = ("cpuacct", "devices", "memory")     # libvirt 9.0 lxc_process.c refuses without


def _cgroup_v1_hierarchies():
    """[(mount point, [controllers or name=X])] of the host's cgroup v1
    hierarchies mounted whole (root "/"), one entry each."""
    with open("/proc/cgroups") as f:
        subsys = {line.split()[0] for line in f if not line.startswith("#")}
    out, seen = [], set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields, post = pre.split(), post.split()
            if len(post) < 3 or post[0] != "cgroup" or fields[3] != "/":
                continue
            ctrls = [o for o in post[2].split(",") if o in subsys or o.startswith("name=")]
            if ctrls and frozenset(ctrls) not in seen:
                seen.add(frozenset(ctrls))
                out.append((fields[4], ctrls))
    return out


def _own_cgroups():
    """{frozenset(controllers): path} from /proc/self/cgroup (v1 lines)."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if ctrls:
                out[frozenset(ctrls.split(","))] = path
    return out


def _cgroups_file(state):
    return os.path.join(state, "cgroups.json")


def _node_cgroups_make(n):
    """Make the node's subtree in every v1 hierarchy (see the docstring).
    Where that fails the node gets no cgroups (QEMU needs none), and says so."""
    own = _own_cgroups()
    made = []
    try:
        for mnt, ctrls in _cgroup_v1_hierarchies():
            rel = "%s/karri-%s" % (own.get(frozenset(ctrls), "/").rstrip("/"), n.netns)
            host = mnt + rel
            os.makedirs(host, exist_ok=True)
            made.append({"mount": os.path.basename(mnt), "rel": rel, "host": host,
                         "opts": ",".join(ctrls if any("=" not in c for c in ctrls)
                                          else ["none"] + ctrls)})
            if "cpuset" in ctrls:
                # a new cpuset is empty: no task may join it until it has CPUs
                for k in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(os.path.dirname(host), k)) as f:
                        v = f.read().strip()
                    with open(os.path.join(host, k), "w") as f:
                        f.write(v)
    except OSError as e:
        log("%s: no cgroups, containers cannot run there: %s" % (n.name, e))
        for c in reversed(made):
            try:
                os.rmdir(c["host"])
            except OSError:
                pass
        made = []
    with open(_cgroups_file(n.state), "w") as f:
        json.dump(made, f)


def _node_cgroups(state):
    try:
        with open(_cgroups_file(state)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def _node_cgroups_remove(n):
    """Kill what still runs in the node's subtree (containers whose libvirtd
    is gone, say) and remove its directories, deepest first."""
    cgs = [c for c in _node_cgroups(n.state) if os.path.isdir(c["host"])]
    for _ in range(3):
        pids = set()
        for c in cgs:
            for d, _, _ in os.walk(c["host"]):
                try:
                    with open(os.path.join(d, "cgroup.procs")) as f:
                        pids.update(int(x) for x in f.read().split())
                except (OSError, ValueError):
                    pass
        if not pids:
            break
        log("%s: stopping what still runs in its cgroups: %s" % (
            n.name, " ".join(map(str, sorted(pids)))))
        # a container's init ignores SIGTERM unless it handles it: short grace
        _terminate([(p, _starttime(p)) for p in pids], timeout=1)
    for c in cgs:
        for d, _, _ in os.walk(c["host"], topdown=False):
            try:
                os.rmdir(d)
            except OSError as e:
                log("%s: cannot remove cgroup %s: %s" % (n.name, d, e))


def _enter_cgroups(state):
    """Inside the node's mount namespace, about to become libvirtd: join the
    node's subtree, make it the root of a cgroup namespace of our own, and
    mount the hierarchies at /sys/fs/cgroup/<name> (the same options name
    the same hierarchy; in the new namespace the mount shows the subtree
    only).  libvirt's "/machine" partition is an absolute path from the
    root it sees: this way it is karri-P-nodeK/machine on the host."""
    cgs = _node_cgroups(state)
    if not cgs:
        return
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755,nosuid,nodev,noexec", "cgroup",
                        CGROUP_ROOT], check=True)
        for ns_root in (False, True):
            if ns_root:
                _unshare_cgroup_ns()
            for c in cgs:
                mnt = os.path.join(CGROUP_ROOT, c["mount"])
                os.makedirs(mnt, exist_ok=True)
                subprocess.run(["mount", "-t", "cgroup", "-o", c["opts"], "cgroup", mnt],
                               check=True)
                if not ns_root:     # the whole tree, for now: join our subtree
                    with open(mnt + c["rel"] + "/cgroup.procs", "w") as f:
                        f.write(str(os.getpid()))
                    subprocess.run(["umount", mnt], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        # libvirtd then runs without cgroups (QEMU needs none); the file
        # says so to whoever asks (the directories stay listed for down)
        log("no cgroups in the node, containers cannot run there: %s" % e)
        subprocess.run(["umount", "-R", CGROUP_ROOT], stderr=subprocess.DEVNULL)
        with open(os.path.join(state, "cgroups.unusable"), "w") as f:
            f.write("%s\n" % e)


def _unshare_cgroup_ns():
    clone_newcgroup = 0x02000000
    if hasattr(os, "unshare"):              # Python 3.12
        os.unshare(clone_newcgroup)
        return
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(clone_newcgroup) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "unshare(CLONE_NEWCGROUP): " + os.strerror(e))


NSS_EXTRA = {
    "passwd": "libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin\n",
    "group": "libvirt-qemu:x:64055:\nkvm:x:64056:\n",
}


def _write_nss(nss):
    """The host's passwd/group plus libvirt's built-in qemu user and group
    (unless the host has them: libvirt-daemon-system creates them)."""
    for name, extra in NSS_EXTRA.items():
        with open("/etc/" + name) as f:
            text = f.read()
        if not text.endswith("\n"):
            text += "\n"
        for line in extra.splitlines(True):
            key = line.split(":")[0] + ":"
            if not any(l.startswith(key) for l in text.splitlines()):
                text += line
        with open(os.path.join(nss, name), "w") as f:
            f.write(text)


def _mountpoints():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def enter_node(state, argv):
    """Runs inside the node's new mount namespace (via unshare): put the
    node's libvirt directories in place, then exec argv (libvirtd)."""
    if "/sys/fs/cgroup/unified" in _mountpoints():
        subprocess.run(["umount", "/sys/fs/cgroup/unified"], check=True)
    _enter_cgroups(state)
    binds = [(os.path.join(state, sub), path) for sub, path in LIBVIRT_DIRS]
    binds += [(os.path.join(state, "nss", "passwd"), "/etc/passwd"),
              (os.path.join(state, "nss", "group"), "/etc/group"),
              (CAPS_CACHE, "/var/cache/libvirt/qemu/capabilities")]
    for src, dst in binds:
        if os.path.isdir(src):
            os.makedirs(dst, exist_ok=True)
        subprocess.run(["mount", "--bind", src, dst], check=True)
    os.execv(argv[0], argv)


# --- CLI -------------------------------------------------------------------------

def main(args=None):
    ap = argparse.ArgumentParser(prog="python3 -m karri.sim", description="Karri's simulated hosts.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--prefix", default=os.environ.get("KARRI_SIM_PREFIX", "kq"))
        p.add_argument("--state-dir")
        return p

    p = common(sub.add_parser("up", help="create the namespaces, network and libvirtds"))
    p.add_argument("--nodes", type=int, default=2, help="per cluster")
    p.add_argument("--clusters", type=int, default=1, help="each with a head of its own if > 1")
    p.add_argument("--net-index", type=int, default=0)
    p.add_argument("--host-link", action="store_true", help="veth root ns <-> front end")
    p.add_argument("--no-libvirt", action="store_true", help="network only")
    common(sub.add_parser("down", help="remove everything of this prefix"))
    p = common(sub.add_parser("status", help="print what exists"))
    p.add_argument("--json", action="store_true")
    p = common(sub.add_parser("exec", help="run a command in a host's namespace"))
    p.add_argument("host", help="front, node1, ...")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p = sub.add_parser("_enter-node")     # internal, see enter_node()
    p.add_argument("state")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    a = ap.parse_args(args)

    if a.cmd == "_enter-node":
        argv = a.argv[1:] if a.argv[:1] == ["--"] else a.argv
        enter_node(a.state, argv)
        return 1
    if a.cmd == "up":
        try:
            sim = Sim(a.prefix, nodes=a.nodes, state_dir=a.state_dir, net_index=a.net_index,
                      host_link=a.host_link, libvirt=not a.no_libvirt, clusters=a.clusters)
            sim.up()
        except (ValueError, RuntimeError, PermissionError) as e:
            log(str(e))
            return 1
        print(json.dumps(sim.describe(), indent=1))
        return 0
    sim = Sim.load(a.prefix, state_dir=a.state_dir)
    if a.cmd == "down":
        sim.down()
        return 0
    if a.cmd == "status":
        d = sim.describe()
        if a.json:
            print(json.dumps(d, indent=1))
            return 0
        print("sim %s: %s (state %s)" % (sim.prefix, "up" if d["up"] else
                                         ("partial" if d["namespaces"] else "down"), sim.state_dir))
        if not d["namespaces"]:
            return 0
        print("  namespaces: " + " ".join(d["namespaces"]))
        for c in d["clusters"]:
            print("  cluster %d: private %s, storage %s (guests from .100), head %s" % (
                c["index"], c["private_net"], c["storage_net"], c["head"]))
        if "host_link" in d:
            hl = d["host_link"]
            print("  host link: %s %s <-> front host0 %s" % (hl["root_if"], hl["root_ip"], hl["front_ip"]))
        for h in d["hosts"]:
            priv = " ".join(l["ip"] for l in h["legs"]) if "legs" in h else h["priv_ip"]
            line = "  %-7s %-14s priv %-12s stor %-12s %s" % (
                h["name"], h["netns"], priv, h["stor_ip"] or "-",
                "ok" if h["exists"] else "MISSING")
            if "libvirt_up" in h:
                line += "  libvirt %s" % ("up" if h["libvirt_up"] else "down")
            if h["processes"]:
                line += "  pids " + " ".join(map(str, h["processes"]))
            print(line)
            if "libvirt_uri" in h and h["libvirt_up"]:
                print("          " + h["libvirt_uri"])
        return 0
    if a.cmd == "exec":
        argv = a.argv[1:] if a.argv[:1] == ["--"] else a.argv
        return sim.host(a.host).run(argv, stdout=None, stderr=None, timeout=None).returncode
    return 2


if __name__ == "__main__":
    sys.exit(main())
