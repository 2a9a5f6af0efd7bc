"""A real Ethernet segment for AoE tests and benchmarks, and an EBS client.

Segment(prefix, mtu) makes a bridge in the current (root) namespace -- the
EBS storage NIC -- and one network namespace per node, each joined to the
bridge by a veth pair, all at `mtu`.  Everything it makes carries the
prefix and is removed by down() (also on failure, via `with`); reap(prefix)
removes leftovers of a crashed run.

    with Segment("kae123", 9000, nodes=("n", "x")) as seg:
        seg.run("n", ["karri-aoe", "discover", "-i", seg.nic("n"), "-t", "0.0"])

Ebs(url) calls the EBS SOAP contract with raw SOAP (repeated elements for
lists), returning dicts.
"""

import os
import subprocess
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as xml_escape

from .daemons import BUILD, NS, SOAP_ENV


def sh(*argv, check=True):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=check)


def aoe_tool():
    path = os.path.join(BUILD, "ebs", "karri-aoe")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is not built")
    return path


class Segment:
    def __init__(self, prefix, mtu=9000, nodes=("n",)):
        assert len(prefix) <= 8, "interface names must stay under 16 characters"
        self.prefix = prefix
        self.mtu = mtu
        self.nodes = list(nodes)
        self.bridge = f"{prefix}br"

    def ns(self, node):
        return f"{self.prefix}{node}"

    def nic(self, node):
        """The node's NIC name inside its namespace."""
        return f"{self.prefix}{node}g"

    def up(self):
        try:
            sh("ip", "link", "add", self.bridge, "type", "bridge")
            # A fixed MAC: a bridge otherwise takes its lowest port's, and would
            # change under a target that read it at start.
            sh("ip", "link", "set", self.bridge, "address", "02:aa:00:00:00:01")
            sh("ip", "link", "set", self.bridge, "mtu", self.mtu, "up")
            for node in self.nodes:
                ns, host, guest = self.ns(node), f"{self.prefix}{node}h", self.nic(node)
                sh("ip", "netns", "add", ns)
                sh("ip", "link", "add", host, "mtu", self.mtu, "type", "veth", "peer", "name",
                   guest, "mtu", self.mtu)
                sh("ip", "link", "set", guest, "netns", ns)
                sh("ip", "link", "set", host, "master", self.bridge, "up")
                sh("ip", "-n", ns, "link", "set", "lo", "up")
                sh("ip", "-n", ns, "link", "set", guest, "up")
        except Exception:
            self.down()
            raise
        return self

    def set_mtu(self, mtu):
        self.mtu = mtu
        for node in self.nodes:
            sh("ip", "-n", self.ns(node), "link", "set", self.nic(node), "mtu", mtu)
            sh("ip", "link", "set", f"{self.prefix}{node}h", "mtu", mtu)
        sh("ip", "link", "set", self.bridge, "mtu", mtu)

    def mac(self, node):
        out = sh("ip", "-n", self.ns(node), "-o", "link", "show", self.nic(node)).stdout
        return out.split("link/ether ")[1].split()[0]

    def argv(self, node, argv):
        return ["ip", "netns", "exec", self.ns(node)] + [str(a) for a in argv]

    def run(self, node, argv, check=True, timeout=120, **kw):
        return subprocess.run(self.argv(node, argv), capture_output=True, check=check,
                              timeout=timeout, **kw)

    def aoe(self, node, cmd, target, *args, check=True, timeout=120, **kw):
        """Run karri-aoe CMD in a node namespace against shelf.slot `target`."""
        return self.run(node, [aoe_tool(), cmd, "-i", self.nic(node), "-t", target, *args],
                        check=check, timeout=timeout, **kw)

    def down(self):
        for node in self.nodes:
            sh("ip", "netns", "del", self.ns(node), check=False)
            sh("ip", "link", "del", f"{self.prefix}{node}h", check=False)
        sh("ip", "link", "del", self.bridge, check=False)

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()


def reap(prefix_start):
    """Remove namespaces and links left by crashed runs whose prefix starts so."""
    for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(prefix_start):
            sh("ip", "netns", "del", name, check=False)
    for line in sh("ip", "-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(prefix_start):
            sh("ip", "link", "del", name, check=False)


def parse_kv(text):
    if isinstance(text, bytes):
        text = text.decode()
    return dict(line.split("=", 1) for line in text.split() if "=" in line)


class Ebs:
    """The EBS contract over raw SOAP."""

    def __init__(self, url):
        self.url = url

    def call(self, element, fields, timeout=120):
        ns = NS["ebs"]
        body = "".join(f"<ebs:{k}>{xml_escape(str(v))}</ebs:{k}>" for k, v in
                       [("correlationId", uuid.uuid4()), ("userId", "test")] + list(fields))
        data = (f'<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope '
                f'xmlns:SOAP-ENV="{SOAP_ENV}" xmlns:ebs="{ns}"><SOAP-ENV:Body>'
                f"<ebs:{element}>{body}</ebs:{element}></SOAP-ENV:Body></SOAP-ENV:Envelope>")
        req = urllib.request.Request(self.url, data=data.encode(), method="POST", headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"urn:karri:ebs#{element}"'})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            el = ET.fromstring(r.read()).find(f"{{{SOAP_ENV}}}Body")[0]
        return _todict(el)

    def create_volume(self, vol, size, snapshot=None, urls=()):
        """urls: presigned GETs of the snapshot's objects in Walrus."""
        f = [("volumeId", vol), ("size", size)]
        if snapshot:
            f.append(("snapshotId", snapshot))
        return self.call("CreateVolume", f + [("snapshotUrls", u) for u in urls])

    def delete_volume(self, vol):
        return self.call("DeleteVolume", [("volumeId", vol)])

    def describe_volumes(self, *vols):
        return self.call("DescribeVolumes", [("volumeIds", v) for v in vols])

    def export_volume(self, vol, macs):
        return self.call("ExportVolume", [("volumeId", vol)] + [("allowedMacs", m) for m in macs])

    def unexport_volume(self, vol):
        return self.call("UnexportVolume", [("volumeId", vol)])

    def create_snapshot(self, vol, snap, urls=(), bucket_url=None):
        """urls: presigned PUTs of the snapshot's objects; bucket_url: a PUT making the bucket."""
        f = [("volumeId", vol), ("snapshotId", snap)]
        if bucket_url:
            f.append(("bucketUrl", bucket_url))
        return self.call("CreateSnapshot", f + [("snapshotUrls", u) for u in urls])

    def delete_snapshot(self, snap, urls=()):
        return self.call("DeleteSnapshot", [("snapshotId", snap)] +
                         [("snapshotUrls", u) for u in urls])

    def describe_snapshots(self, *snaps):
        return self.call("DescribeSnapshots", [("snapshotIds", s) for s in snaps])


def _todict(el):
    """Children as {name: text or dict}; repeated names become lists."""
    out = {}
    for child in el:
        name = child.tag.split("}")[-1]
        value = _todict(child) if len(child) else child.text
        if name in out:
            if not isinstance(out[name], list):
                out[name] = [out[name]]
            out[name].append(value)
        else:
            out[name] = value
    return out


class Link(Segment):
    """One node joined by a bare veth pair (no bridge): the host end is the
    storage NIC.  The leanest path, used by bench/aoe."""

    def __init__(self, prefix, mtu=9000, node="n"):
        super().__init__(prefix, mtu, (node,))
        self.bridge = f"{prefix}{node}h"    # the target's interface

    def up(self):
        node = self.nodes[0]
        try:
            sh("ip", "netns", "add", self.ns(node))
            sh("ip", "link", "add", self.bridge, "mtu", self.mtu, "type", "veth", "peer", "name",
               self.nic(node), "mtu", self.mtu)
            sh("ip", "link", "set", self.nic(node), "netns", self.ns(node))
            sh("ip", "link", "set", self.bridge, "up")
            sh("ip", "-n", self.ns(node), "link", "set", "lo", "up")
            sh("ip", "-n", self.ns(node), "link", "set", self.nic(node), "up")
        except Exception:
            self.down()
            raise
        return self

    def set_mtu(self, mtu):
        self.mtu = mtu
        sh("ip", "-n", self.ns(self.nodes[0]), "link", "set", self.nic(self.nodes[0]), "mtu", mtu)
        sh("ip", "link", "set", self.bridge, "mtu", mtu)

    def down(self):
        sh("ip", "netns", "del", self.ns(self.nodes[0]), check=False)
        sh("ip", "link", "del", self.bridge, check=False)
