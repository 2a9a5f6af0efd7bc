"""The EBS contract called from inside a network namespace.

A karri-ebs started in a simulated host's namespace (Daemon(..., netns=...))
listens on that host's address, which the root namespace cannot reach.
NsEbs is harness.aoe.Ebs with its SOAP calls made by a small Python client
run with `ip netns exec` (argv, the request on stdin; never a shell).

    ebs = NsEbs(daemon)            # daemon.netns, daemon.url
    ebs.create_volume("vol-00000001", 1)
"""

import subprocess
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from .aoe import Ebs, _todict
from .daemons import NS, SOAP_ENV

_CLIENT = r"""
import sys, urllib.request
url, element, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
req = urllib.request.Request(url, data=sys.stdin.buffer.read(), method="POST",
    headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"urn:karri:ebs#%s"' % element})
with urllib.request.urlopen(req, timeout=timeout) as r:
    sys.stdout.buffer.write(r.read())
"""


class NsEbs(Ebs):
    def __init__(self, daemon):
        super().__init__(daemon.url)
        self.netns = daemon.netns

    def call(self, element, fields, timeout=60):
        body = "".join(f"<ebs:{k}>{escape(str(v))}</ebs:{k}>" for k, v in
                       [("correlationId", uuid.uuid4()), ("userId", "test")] + list(fields))
        data = (f'<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope '
                f'xmlns:SOAP-ENV="{SOAP_ENV}" xmlns:ebs="{NS["ebs"]}"><SOAP-ENV:Body>'
                f"<ebs:{element}>{body}</ebs:{element}></SOAP-ENV:Body></SOAP-ENV:Envelope>")
        out = subprocess.run(["ip", "netns", "exec", self.netns, "/usr/bin/python3", "-c", _CLIENT,
                              self.url, element, str(timeout)], input=data.encode(),
                             capture_output=True, timeout=timeout + 10, check=True)
        return _todict(ET.fromstring(out.stdout).find(f"{{{SOAP_ENV}}}Body")[0])
