"""Helpers for the node controller tests: an image server in the front-end
namespace, ncRunInstance & co. over SOAP, and what is left on a node.

    srv = ImageServer(sim.front, dir, log)      # python http.server, counts GETs
    nc = start_nc(node, home, extra_config)     # karri-nc in the node's namespace
    run_instance(nc, "i-12345678", images, ...)
"""

import glob
import os
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from harness.daemons import NS, SOAP_ENV, Daemon

KR = "urn:karri:types:2026-11"
HERE = os.path.dirname(os.path.abspath(__file__))


class ImageServer:
    """python3 http.server on the front end, serving `directory`."""

    def __init__(self, front, directory, log, port=8790, delay=0.0):
        self.front = front
        self.dir = directory
        self.log = log
        self.port = port
        self.proc = front.spawn(["/usr/bin/python3", os.path.join(HERE, "nc_imgserver.py"),
                                 directory, front.priv_ip, str(port), str(delay)], log=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = front.run(["/usr/bin/python3", "-c",
                           "import socket; socket.create_connection(('%s', %d), 1)" %
                           (front.priv_ip, port)])
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("image server did not start: " + open(log).read())

    def url(self, name):
        return "http://%s:%d/%s" % (self.front.priv_ip, self.port, name)

    def gets(self, name, client=None):
        """How many GETs of /name the server answered (to client, an IP)."""
        with open(self.log) as f:
            return sum(1 for line in f if line.split()[:2] == ["GET", "/" + name] and
                       (client is None or line.split()[3:4] == [client]))

    def stop(self):
        self.proc.stop()


def start_nc(node, home, config=None, port=None):
    cfg = {"NC_LIBVIRT_URI": node.libvirt_uri, "VNET_BRIDGE": node.bridge,
           "INSTANCE_PATH": os.path.join(home, "instances"), "LOGLEVEL": "DEBUG"}
    cfg.update(config or {})
    d = Daemon("karri-nc", home, cfg, netns=node.netns, host=node.priv_ip, port=port)
    d.start(wait=False)
    # Daemon.wait_ready() gives up on the first refused connection inside a
    # namespace; poll here until the NC answers.
    deadline = time.monotonic() + 30
    while True:
        if d.proc.poll() is not None:
            raise RuntimeError("karri-nc exited with %s: %s" % (d.proc.returncode, d.stderr()))
        try:
            call(d, "ncDescribeResource", timeout=5)
            return d
        except (RuntimeError, ET.ParseError, subprocess.TimeoutExpired):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def _fields(fields):
    """{name: value} -> XML; a value may be a dict (a nested kr: struct) or a
    list (repeated element); None is left out."""
    out = []
    for k, v in fields.items():
        if v is None:
            continue
        if isinstance(v, dict):
            inner = "".join("<kr:%s>%s</kr:%s>" % (ik, escape(str(iv)), ik)
                            for ik, iv in v.items() if iv is not None)
            out.append("<nc:%s>%s</nc:%s>" % (k, inner, k))
        elif isinstance(v, (list, tuple)):
            out.extend("<nc:%s>%s</nc:%s>" % (k, escape(str(x)), k) for x in v)
        else:
            out.append("<nc:%s>%s</nc:%s>" % (k, escape(str(v)), k))
    return "".join(out)


def call(nc, element, fields=None, timeout=60):
    """One NC operation; returns the response element as a dict tree
    (repeated children become lists under their name + 's' not assumed:
    use el directly for those)."""
    f = {"correlationId": str(uuid.uuid4()), "userId": "test"}
    f.update(fields or {})
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV="%s" '
            'xmlns:nc="%s" xmlns:kr="%s"><SOAP-ENV:Body><nc:%s>%s</nc:%s></SOAP-ENV:Body>'
            '</SOAP-ENV:Envelope>' % (SOAP_ENV, NS["nc"], KR, element, _fields(f), element))
    # The NC listens inside the node's namespace: reach it from there.
    out = subprocess.run(["ip", "netns", "exec", nc.netns, "/usr/bin/python3", "-c",
                          _CLIENT, nc.url, element, str(timeout)], input=body.encode(),
                         capture_output=True, timeout=timeout + 10)
    if out.returncode != 0:
        raise RuntimeError("SOAP call %s failed: %s" % (element, out.stderr.decode()))
    root = ET.fromstring(out.stdout)
    return root.find("{%s}Body" % SOAP_ENV)[0]


_CLIENT = r"""
import sys, urllib.request, urllib.error
url, element, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
req = urllib.request.Request(url, data=sys.stdin.buffer.read(), method="POST",
    headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"urn:karri:nc#%s"' % element})
try:
    with urllib.request.urlopen(req, timeout=timeout) as r:
        data = r.read()
except urllib.error.HTTPError as e:
    data = e.read()
sys.stdout.buffer.write(data)
"""


def local(el):
    return el.tag.split("}")[-1]


def to_dict(el):
    """Children by local name; nested elements become dicts; repeated ones lists."""
    d = {}
    for c in el:
        v = to_dict(c) if len(c) else c.text
        k = local(c)
        if k in d:
            if not isinstance(d[k], list):
                d[k] = [d[k]]
            d[k].append(v)
        else:
            d[k] = v
    return d


def ok(resp):
    d = to_dict(resp)
    assert d.get("return") == "true", "%s failed: %s" % (local(resp), d.get("statusMessage"))
    return d


def run_instance(nc, instance_id, images, memory=256, io_class="standard", disk=0,
                 params="karri.hold=forever", mac=None, **extra):
    fields = {
        "imageId": images["image_id"], "imageURL": images["image_url"],
        "kernelId": images.get("kernel_id"), "kernelURL": images.get("kernel_url"),
        "ramdiskId": images.get("ramdisk_id"), "ramdiskURL": images.get("ramdisk_url"),
        "instanceId": instance_id, "reservationId": "r-" + instance_id[2:],
        "instanceType": {"name": "m1.test", "memory": memory, "cores": 1, "disk": disk,
                         "ioClass": io_class},
        "netParams": {"privateMacAddress": mac, "vlan": -1, "networkIndex": 0},
        "kernelParams": params,
    }
    fields.update(extra)
    return call(nc, "ncRunInstance", fields)


def describe(nc, *ids):
    resp = ok(call(nc, "ncDescribeInstances", {"instanceIds": list(ids)} if ids else None))
    inst = resp.get("instances") or []
    if isinstance(inst, dict):
        inst = [inst]
    return {i["instanceId"]: i for i in inst}


def wait_state(nc, instance_id, states=("Extant",), timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        d = describe(nc, instance_id).get(instance_id)
        if d and d["stateName"] in states:
            return d
        if d and d["stateName"] == "Teardown" and "Teardown" not in states:
            raise AssertionError("%s went to Teardown: %s" % (instance_id, d.get("stateReason")))
        if time.monotonic() > deadline:
            raise TimeoutError("%s not in %s: %s" % (instance_id, states, d))
        time.sleep(0.3)


def console(nc, instance_id):
    import base64
    resp = ok(call(nc, "ncGetConsoleOutput", {"instanceId": instance_id}))
    return base64.b64decode(resp.get("consoleOutput") or "").decode(errors="replace")


def wait_console(nc, instance_id, predicate, timeout=120):
    """Poll the console (through the NC) until predicate(Report); returns it."""
    from harness.guestvm import Report
    deadline = time.monotonic() + timeout
    while True:
        rep = Report(console(nc, instance_id))
        if predicate(rep) or time.monotonic() > deadline:
            return rep
        time.sleep(0.5)


def node_leftovers(node, instance_path, ids):
    """What of these instances is still on the node: domains, taps, loop
    devices over instance files, instance directories."""
    import libvirt
    left = []
    conn = libvirt.open(node.libvirt_uri)
    try:
        names = {d.name() for d in conn.listAllDomains()}
    finally:
        conn.close()
    left += ["domain " + i for i in ids if i in names]
    links = subprocess.run(["ip", "-n", node.netns, "-o", "link"], capture_output=True,
                           text=True).stdout
    left += ["tap kr" + i[2:] for i in ids if (" kr%s:" % i[2:]) in links or
             ("kr%s@" % i[2:]) in links]
    for f in glob.glob("/sys/block/loop*/loop/backing_file"):
        try:
            back = open(f).read().strip()
        except OSError:
            continue
        if back.startswith(instance_path) and any("/%s/" % i in back for i in ids):
            left.append("loop %s over %s" % (f.split("/")[3], back))
    left += ["dir " + p for i in ids for p in glob.glob(os.path.join(instance_path, "instances", i))]
    return left


