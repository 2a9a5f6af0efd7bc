"""Kept-alive connections and TLS session reuse from the CLC to a backend
(common/soap/soap_pool.c, common/soap/soap_server.c).

On the mutual-TLS cloud of test_tls.py, volumes are made and deleted a few
times through boto3: every CreateVolume, DeleteVolume and the CLC's polls
of them are SOAP calls to karri-ebs.  EBS logs one line per connection it
served ("SOAP connection from ... closed: N request(s), TLS full|resumed").
The calls ride on a few kept-alive connections; after the CLC dropped them
for being idle, the new connections resume the TLS session instead of a full
RSA handshake.
"""

import re
import subprocess

import pytest

from harness.clc import wait_for
from test_tls import tls_cloud  # noqa: F401  (the fixture)

CLOSED = re.compile(r"SOAP connection from \S+ closed: (\d+) request\(s\)(?:, TLS (\w+))?")
CYCLES = 5
SERVER_IDLE_S = 20      # common/soap/soap_server.c: EBS closes a connection idle this long


def established(port):
    """TCP connections to this EBS's own port that are still open."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def cycle(ec2):
    """CreateVolume, the polls until available, DeleteVolume, the polls until gone."""
    vol = ec2.create_volume(Size=1, AvailabilityZone="zone1")["VolumeId"]
    wait_for(lambda: ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] ==
             "available", timeout=60)
    ec2.delete_volume(VolumeId=vol)
    wait_for(lambda: not any(v["VolumeId"] == vol for v in ec2.describe_volumes()["Volumes"]),
             timeout=60)


def connections(log):
    """[(requests, tls kind)] of every connection EBS logged as closed."""
    return [(int(m.group(1)), m.group(2) or "") for m in CLOSED.finditer(log)]


@pytest.mark.usefixtures("tls_cloud")
def test_backend_calls_reuse_connections_and_tls_sessions(tls_cloud):  # noqa: F811
    cloud, ebs = tls_cloud["cloud"], tls_cloud["ebs"]
    ec2 = cloud.user("alice").ec2
    before = len(ebs.log())
    for _ in range(CYCLES):
        cycle(ec2)
    # Once EBS has closed every idle connection (its server-side limit), the
    # next calls must open new ones, which resume the TLS session instead of
    # a full handshake.
    wait_for(lambda: not established(ebs.port), timeout=SERVER_IDLE_S + 30)
    cycle(ec2)
    # Stopping EBS closes every connection it still holds: each is logged then.
    ebs.stop()
    conns = connections(ebs.log()[before:])
    requests = sum(n for n, _ in conns)
    full = sum(1 for _, kind in conns if kind == "full")
    resumed = sum(1 for _, kind in conns if kind == "resumed")
    print(f"keepalive: calls={requests} connections={len(conns)} tls_full={full} "
          f"tls_resumed={resumed}")
    assert requests >= 2 * (CYCLES + 1), conns    # a create and a delete per cycle at least
    assert len(conns) * 3 <= requests, conns       # most calls ride a kept-alive connection
    assert full + resumed == len(conns), conns     # every one of them over TLS
    # Full handshakes only for the connections opened before any session was
    # known (a poll holds two at once); the ones after the idle drop resumed.
    assert resumed >= 1 and full <= len(conns) - resumed, conns
