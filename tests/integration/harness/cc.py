"""Talk to a karri-cc and run the NC stand-in (karri-ncsim) for the CC tests.

    ncs = NcSim(nodes=3).start()            # 127.1.0.1..3 on loopback, one process
    ncs = NcSim(netns="kt1-node1").start()  # one node, inside a node namespace
    cc = CcClient(url)
    cc.run(["i-00000001"], cores=1, memory=256, disk=5)
    cc.describe_instances()                 # [{'instanceId':..., 'serviceTag':...}, ...]

The SOAP bodies are written by hand here (not by gSOAP), which also checks
that the CC accepts what another client would send.
"""

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from harness.daemons import BUILD, SOAP_ENV
from harness.wait import free_port, wait_for

CC_NS = "urn:karri:cc:2026-11"
KR_NS = "urn:karri:types:2026-11"
NCSIM = os.path.join(BUILD, "tests", "ncsim", "karri-ncsim")


def _x(tag, value, ns="cc"):
    return "<%s:%s>%s</%s:%s>" % (ns, tag, escape(str(value)), ns, tag)


def _vm(cores, memory, disk, name="m1.small", tag="instanceType"):
    return ("<cc:%s>" % tag + _x("name", name, "kr") + _x("memory", memory, "kr") +
            _x("cores", cores, "kr") + _x("disk", disk, "kr") + "</cc:%s>" % tag)


def _local(tag):
    return tag.split("}")[-1]


def to_dict(el):
    """An element as a dict of its children: text for leaves, dicts for
    structures; the contract's arrays (LEAF_LISTS, and STRUCT_LISTS when the
    item is a structure) always become lists."""
    out = {}
    for c in el:
        k = _local(c.tag)
        v = to_dict(c) if len(c) else c.text
        listy = k in LEAF_LISTS or (k in STRUCT_LISTS and len(c))
        if listy:
            out.setdefault(k, []).append(v)
        else:
            out[k] = v
    return out


LEAF_LISTS = {"groupNames", "isTerminated", "activeAddrs", "heardNodes"}
STRUCT_LISTS = {"instances", "nodes", "resources", "addresses", "activeNetworks", "volumes"}


_POST = """
import sys, urllib.request, urllib.error
url, op, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
req = urllib.request.Request(url, data=sys.stdin.buffer.read(), method="POST", headers={
    "Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"urn:karri:cc#%s"' % op})
try:
    data = urllib.request.urlopen(req, timeout=timeout).read()
except urllib.error.HTTPError as e:
    data = e.read()
sys.stdout.buffer.write(data)
"""


class SoapFault(Exception):
    pass


class CcClient:
    def __init__(self, url, netns=None):
        self.url = url
        self.netns = netns

    def call(self, op, body="", timeout=30):
        env = ('<?xml version="1.0" encoding="UTF-8"?>'
               '<SOAP-ENV:Envelope xmlns:SOAP-ENV="%s" xmlns:cc="%s" xmlns:kr="%s">'
               "<SOAP-ENV:Body><cc:%s>%s%s%s</cc:%s></SOAP-ENV:Body></SOAP-ENV:Envelope>"
               % (SOAP_ENV, CC_NS, KR_NS, op, _x("correlationId", uuid.uuid4()),
                  _x("userId", "test"), body, op)).encode()
        if self.netns:
            # The CC listens inside a namespace: post from in there.
            p = subprocess.run(["ip", "netns", "exec", self.netns, "/usr/bin/python3", "-c",
                                _POST, self.url, op, str(timeout)], input=env,
                               capture_output=True, timeout=timeout + 10)
            if p.returncode != 0:
                raise OSError("SOAP %s in %s: %s" % (op, self.netns, p.stderr.decode()[-500:]))
            data = p.stdout
        else:
            req = urllib.request.Request(self.url, data=env, method="POST", headers={
                "Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"urn:karri:cc#%s"' % op})
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    data = r.read()
            except urllib.error.HTTPError as e:
                data = e.read()
        el = ET.fromstring(data).find("{%s}Body" % SOAP_ENV)[0]
        if _local(el.tag) == "Fault":
            raise SoapFault(ET.tostring(el, encoding="unicode"))
        return to_dict(el)

    # --- operations ---------------------------------------------------------

    def run(self, ids, cores=1, memory=256, disk=5, group="default", vlan=-1, user=None,
            reservation="r-00000001", timeout=30, image="emi-00000001", **fields):
        """RunInstances; `fields` are more request elements (imageURL=..., kernelParams=...)."""
        body = (_x("imageId", image) + "".join(_x(k, v) for k, v in fields.items()) +
                _x("reservationId", reservation) +
                "".join(_x("instanceIds", i) for i in ids) + _x("netNames", group) +
                _x("vlan", vlan) + _x("minCount", len(ids)) + _x("maxCount", len(ids)) +
                _vm(cores, memory, disk) + (_x("ownerId", user) if user else ""))
        return self.call("RunInstances", body, timeout)

    def describe_instances(self, ids=(), timeout=30):
        r = self.call("DescribeInstances", "".join(_x("instanceIds", i) for i in ids), timeout)
        return r.get("instances", [])

    def describe_resources(self, types=((1, 256, 5),), timeout=30):
        body = "".join(_vm(c, m, d, "t%d" % i, "instanceTypes") for i, (c, m, d) in enumerate(types))
        return self.call("DescribeResources", body, timeout)

    def terminate(self, ids):
        return self.call("TerminateInstances", "".join(_x("instanceIds", i) for i in ids))

    def register_nodes(self, nodes):
        return self.call("RegisterNodes", "".join(_x("nodes", n) for n in nodes))

    def deregister_nodes(self, nodes):
        return self.call("DeregisterNodes", "".join(_x("nodes", n) for n in nodes))

    def start_network(self, vlan, name, user="test"):
        return self.call("StartNetwork", _x("vlan", vlan) + _x("netName", name))

    def stop_network(self, vlan, name):
        return self.call("StopNetwork", _x("vlan", vlan) + _x("netName", name))

    def configure_network(self, group, protocol, port_min, port_max, source_net=None,
                          source_group=None, close=False):
        rule = (_x("type", "firewall-close" if close else "firewall-open") + _x("destName", group) +
                _x("protocol", protocol) + _x("portRangeMin", port_min) + _x("portRangeMax", port_max) +
                (_x("sourceNets", source_net) if source_net else "") +
                (_x("sourceNames", source_group) if source_group else ""))
        return self.call("ConfigureNetwork", "<cc:rules>%s</cc:rules>" % rule)

    def assign_address(self, public, private):
        return self.call("AssignAddress", _x("source", public) + _x("dest", private))

    def unassign_address(self, public, private=""):
        return self.call("UnassignAddress", _x("source", public) + _x("dest", private))

    def describe_public_addresses(self):
        return self.call("DescribePublicAddresses").get("addresses", [])

    def describe_networks(self):
        return self.call("DescribeNetworks")

    def console(self, iid):
        return self.call("GetConsoleOutput", _x("instanceId", iid))

    # --- waiting ------------------------------------------------------------

    def nodes(self):
        return {n["serviceTag"]: n for n in self.describe_resources().get("nodes", [])}

    def poll_cycles(self):
        """How many full polling cycles the CC has done since it started."""
        return int(self.describe_resources(types=()).get("pollCycles") or 0)

    def wait_polls(self, more=2, timeout=30):
        """Wait for `more` more complete polling cycles.  With two, the last
        began after this call: what the CC reports then is news from after
        whatever the test did before calling (instead of sleeping a period)."""
        target = self.poll_cycles() + more
        wait_for(lambda: self.poll_cycles() >= target, timeout,
                 "%d more polling cycles of the CC (to %d)" % (more, target), step=0.05,
                 detail=lambda: "cycles done: %d" % self.poll_cycles())

    def wait_nodes(self, pred, timeout=20, what="nodes"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.nodes()
            if pred(last):
                return last
            time.sleep(0.1)
        raise TimeoutError("%s: %s" % (what, last))


def wait_port(host, port, timeout=10, netns=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if netns:
            r = subprocess.run(["ip", "netns", "exec", netns, "/usr/bin/python3", "-c",
                                "import socket; socket.create_connection((%r, %d), 1)" % (host, port)],
                               capture_output=True)
            if r.returncode == 0:
                return
        else:
            try:
                socket.create_connection((host, port), 1).close()
                return
            except OSError:
                pass
        time.sleep(0.05)
    raise TimeoutError("nothing listens on %s:%d" % (host, port))


class NcSim:
    """karri-ncsim: `nodes` simulated NCs on first_ip.. (loopback), or one in a namespace."""

    def __init__(self, port=None, nodes=1, first_ip="127.1.0.1", netns=None, cores=4,
                 memory=4096, disk=100, latency_ms=0, per_node=0, privif=None, workers=4,
                 log=None, guest_aoe=None):
        self.port = port or free_port()
        self.nodes, self.first_ip, self.netns = nodes, first_ip, netns
        self.args = ["--port", str(self.port), "--nodes", str(nodes), "--first-ip", first_ip,
                     "--cores", str(cores), "--memory", str(memory), "--disk", str(disk),
                     "--latency-ms", str(latency_ms), "--instances-per-node", str(per_node),
                     "--workers", str(workers)]
        if privif:
            self.args += ["--privif", privif]
        if guest_aoe:       # "io" or "always": as an NC with NC_GUEST_AOE
            self.args += ["--guest-aoe", guest_aoe]
        self.log = log
        self.proc = None

    def addresses(self):
        a = [int(x) for x in self.first_ip.split(".")]
        base = (a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]
        return ["%d.%d.%d.%d" % ((b >> 24) & 255, (b >> 16) & 255, (b >> 8) & 255, b & 255)
                for b in range(base, base + self.nodes)]

    def node_names(self):
        return ["%s:%d" % (a, self.port) for a in self.addresses()]

    def start(self):
        argv = [NCSIM] + self.args
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns] + argv
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        wait_port("127.0.0.1", self.port, netns=self.netns)
        return self

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.stop()


