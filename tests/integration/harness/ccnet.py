"""Simulated instances for the CC network tests: a network namespace per
"guest", plugged into a node's bridge by a veth pair with the instance's
MAC, configured by DHCP (busybox udhcpc) from the CC's dnsmasq, with small
Python TCP/HTTP servers and clients inside.  They stand in for test guests
until the real NC boots real ones (test_cc_network.py says which ran).
"""

import os
import subprocess
import tempfile
import time

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
    """One simulated instance on `node` (a karri_sim Node), joined to `bridge`."""

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


def wait_listening(ns, host, port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if netns_run(ns, [PY, "-c", "import socket; socket.create_connection((%r, %d), 1)"
                          % (host, port)]).returncode == 0:
            return
        time.sleep(0.1)
    raise TimeoutError("nothing listens on %s:%d in %s" % (host, port, ns))
