"""Instances for the CC network tests, simulated and real.

SimGuest: a network namespace per "guest", plugged into a node's bridge by a
veth pair with the instance's MAC, configured by DHCP (busybox udhcpc) from
the CC's dnsmasq, with small Python TCP/UDP/HTTP servers and clients inside:
fast, for the CC's own logic (with karri-ncsim as the nodes).

RealCluster, run_guest, wait_guest_report: the real thing, a karri-cc and a
karri-nc per node of the session's sim booting the test guest
(tests/guest/init), whose console reports say what it got and reached.
"""

import base64
import os
import shutil
import subprocess
import tempfile
import time

from harness.cc import CcClient
from harness.daemons import Daemon, free_port
from harness.guestvm import Report
from harness.nc import ImageServer, start_nc

UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc calls this with the lease in its environment (test harness only).
case "$1" in
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route replace default via "$router"
    echo "lease $ip/$mask router $router" ;;
esac
exit 0
"""

SERVER = """
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
def serve(c):
    try:
        c.sendall((sys.argv[2] + "\\n").encode())
    finally:
        c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

CLIENT = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), float(sys.argv[3]))
    c.settimeout(float(sys.argv[3])); print(c.recv(100).decode().strip())
except OSError as e:
    print("FAIL %s" % e); sys.exit(1)
"""

# UDP: answers every datagram with argv[2]; and a client that asks from a
# fixed source port, so that successive asks are one tracked flow.
UDP_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    _, peer = s.recvfrom(100); s.sendto(sys.argv[2].encode(), peer)
"""

UDP_ASK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[3]))); s.settimeout(float(sys.argv[4]))
try:
    s.sendto(b"?", (sys.argv[1], int(sys.argv[2]))); print(s.recv(100).decode())
except OSError as e:
    print("FAIL %s" % e); sys.exit(1)
"""

# Answers every GET with the caller's address: stands in for the CLC's metadata service.
METADATA = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("instance at %s asked %s" % (self.client_address[0], self.path)).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"""

HTTP_GET = """
import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read().decode())
except OSError as e:
    print("FAIL %s" % e); sys.exit(1)
"""

PY = "/usr/bin/python3"


def netns_run(ns, argv, timeout=30, check=False):
    return subprocess.run(["ip", "netns", "exec", ns] + list(argv), capture_output=True,
                          text=True, timeout=timeout, check=check)


def netns_spawn(ns, argv):
    return subprocess.Popen(["ip", "netns", "exec", ns] + list(argv), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            start_new_session=True)


class SimGuest:
    """One simulated instance on `node` (a karri.sim Node), joined to `bridge`."""

    def __init__(self, node, name, mac, bridge):
        self.node, self.mac, self.bridge = node, mac, bridge
        self.ns = name                      # e.g. "kc123-g1" (removed by remove())
        self.port = "v" + name.split("-")[-1]   # its veth end on the node
        self.ip = None
        self.procs = []

    def plug(self):
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", self.node.netns, "link", "add", self.port, "type", "veth",
                        "peer", "name", "eth0", "netns", self.ns], check=True)
        # The node's end gets a high MAC (fe:...), as libvirt gives its taps: a
        # bridge takes the lowest MAC of its ports, and a random lower one would
        # change the node's own MAC while the guest is plugged (and back after),
        # leaving stale ARP entries on the front end.
        subprocess.run(["ip", "-n", self.node.netns, "link", "set", self.port, "address",
                        "fe" + self.mac[2:]], check=True)
        subprocess.run(["ip", "-n", self.node.netns, "link", "set", self.port, "master",
                        self.bridge, "up"], check=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "eth0", "address", self.mac, "up"],
                       check=True)
        return self

    def dhcp(self, timeout=20):
        """Ask for an address; returns (ip, seconds it took)."""
        fd, script = tempfile.mkstemp(prefix="udhcpc-", suffix=".sh")
        os.write(fd, UDHCPC_SCRIPT.encode())
        os.close(fd)
        os.chmod(script, 0o755)
        t0 = time.monotonic()
        try:
            p = netns_run(self.ns, ["busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n",
                                    "-t", str(timeout), "-T", "1", "-s", script], timeout=timeout + 10)
        finally:
            os.unlink(script)
        took = time.monotonic() - t0
        for line in p.stdout.splitlines():
            if line.startswith("lease "):
                self.ip = line.split()[1].split("/")[0]
        if not self.ip:
            raise RuntimeError("%s: no DHCP lease: %s %s" % (self.ns, p.stdout, p.stderr))
        return self.ip, took

    def serve(self, port, text):
        self.procs.append(netns_spawn(self.ns, [PY, "-c", SERVER, str(port), text]))

    def serve_udp(self, port, text):
        self.procs.append(netns_spawn(self.ns, [PY, "-c", UDP_SERVER, str(port), text]))

    def connect(self, host, port, timeout=1.5):
        """What a server at host:port says, or None when it cannot be reached."""
        p = netns_run(self.ns, [PY, "-c", CLIENT, host, str(port), str(timeout)])
        return p.stdout.strip() if p.returncode == 0 else None

    def get(self, url, timeout=3):
        p = netns_run(self.ns, [PY, "-c", HTTP_GET, url, str(timeout)])
        return p.stdout.strip() if p.returncode == 0 else None

    def ping(self, host):
        return netns_run(self.ns, ["busybox", "ping", "-c", "1", "-W", "2", host]).returncode == 0

    def remove(self):
        for p in self.procs:
            p.kill()
            p.wait()
        subprocess.run(["ip", "-n", self.node.netns, "link", "del", self.port],
                       capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


def udp_ask(ns, host, port, sport, timeout=1.5):
    """What a UDP server at host:port answers a datagram from source port
    sport (always the same flow for one sport), or None."""
    p = netns_run(ns, [PY, "-c", UDP_ASK, host, str(port), str(sport), str(timeout)])
    return p.stdout.strip() if p.returncode == 0 else None


def wait_listening(ns, host, port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if netns_run(ns, [PY, "-c", "import socket; socket.create_connection((%r, %d), 1)"
                          % (host, port)]).returncode == 0:
            return
        time.sleep(0.1)
    raise TimeoutError("nothing listens on %s:%d in %s" % (host, port, ns))


# --- real guests through the CC and real NCs ------------------------------------

def cc_home():
    """A home for a karri-cc: dnsmasq re-reads its hosts file as VNET_DHCPUSER
    after dropping root, so it must be traversable (pytest's tmp_path is not)."""
    home = tempfile.mkdtemp(prefix="karri-ccnet-")
    os.chmod(home, 0o755)
    return home


def start_in_front(d, front):
    """Start the CC (a harness.daemons.Daemon) in the front end's namespace and
    wait until it answers (Daemon.wait_ready alone gives up at once when the
    port is not open yet)."""
    d.start(wait=False)
    wait_listening(front.netns, front.priv_ip, d.port, timeout=20)
    d.wait_ready()
    return d


def guest_image_server(front, guest, workdir, port):
    """The test guest's kernel, initrd and disk, served over HTTP from the
    front end (harness.nc.ImageServer) for RunInstances' image URLs."""
    www = os.path.join(workdir, "www")
    os.makedirs(www, exist_ok=True)
    for name, src in (("vmlinuz", guest.vmlinuz), ("initrd", guest.initrd), ("disk.img", guest.disk)):
        shutil.copyfile(src, os.path.join(www, name))
    return ImageServer(front, www, os.path.join(workdir, "imgserver.log"), port=port)


class RealCluster:
    """A cluster of the session's sim for real guests: the test guest's image
    server and a karri-cc on the front end, a real karri-nc on every node.

        with RealCluster(sim, guest, str(tmp_path), {"VNET_MODE": ...}) as c:
            run_guest(c.cc, c.srv, "i-0000e001", "karri.ip=dhcp", ...)
            c.node_of[instance["serviceTag"]]       # the sim node it runs on
    """

    def __init__(self, sim, guest, workdir, cc_config, nc_config=None):
        self.sim, self.guest, self.workdir = sim, guest, workdir
        self.nc_port = free_port()
        self.cc_config = {"NODES": " ".join(n.priv_ip for n in sim.nodes),
                          "NC_PORT": self.nc_port, "NC_POLLING_FREQUENCY": 1,
                          "VNET_CLOUDIP": sim.front.priv_ip}
        self.cc_config.update(cc_config)
        self.nc_config = nc_config or (lambda node: {})
        self.node_of = {"http://%s:%d/" % (n.priv_ip, self.nc_port): n for n in sim.nodes}
        self.srv, self.ncs, self.d, self.cc, self.home = None, [], None, None, cc_home()

    def __enter__(self):
        try:
            self.srv = guest_image_server(self.sim.front, self.guest, self.workdir, free_port())
            for n in self.sim.nodes:
                self.ncs.append(start_nc(n, os.path.join(self.workdir, n.name),
                                         self.nc_config(n), port=self.nc_port))
            self.d = start_in_front(Daemon("karri-cc", self.home, self.cc_config,
                                           netns=self.sim.front.netns,
                                           host=self.sim.front.priv_ip), self.sim.front)
            self.cc = CcClient(self.d.url, netns=self.sim.front.netns)
            self.cc.wait_nodes(lambda n: len(n) == len(self.sim.nodes) and
                               all(v["state"] == "UP" for v in n.values()), timeout=60)
        except BaseException:
            self.__exit__()
            raise
        return self

    def nc_of(self, node):
        """The karri-nc Daemon of a sim node."""
        return self.ncs[self.sim.nodes.index(node)]

    def __exit__(self, *exc):
        if self.d and self.d.proc and self.d.proc.poll() is None:
            self.d.stop()
        for n in self.ncs:
            n.stop()
        if self.srv:
            self.srv.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def run_guest(cc, srv, iid, params, group="default", vlan=-1, reservation=None, timeout=120,
              **fields):
    """RunInstances of one test guest with karri.* kernel words `params`
    (and more request elements in `fields`, e.g. keyName=...)."""
    return cc.run([iid], group=group, vlan=vlan, reservation=reservation or "r-" + iid[2:],
                  imageURL=srv.url("disk.img"), kernelId="eki-0000c10d",
                  kernelURL=srv.url("vmlinuz"), ramdiskId="eri-0000c10d",
                  ramdiskURL=srv.url("initrd"), kernelParams=params, timeout=timeout, **fields)


def wait_guest_report(cc, iid, predicate, timeout=180):
    """Poll the guest's console through the CC until predicate(Report) holds;
    returns the last Report (None if no console came back)."""
    deadline = time.monotonic() + timeout
    rep = None
    while time.monotonic() < deadline:
        out = cc.console(iid)
        if out["return"] == "true" and out.get("consoleOutput"):
            rep = Report(base64.b64decode(out["consoleOutput"]).decode(errors="replace"))
            if predicate(rep):
                break
        time.sleep(1)
    return rep
