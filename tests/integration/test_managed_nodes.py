"""VNET_MODE=MANAGED on real nodes: each security group has a layer-2
segment of its own (VLAN, or VXLAN where the kernel has no 802.1Q) on the
CC and on every node that hosts its instances, made on the node by the real
karri-nc on ncStartNetwork and at launch (nc/vnet.c, common/vnet/vnet_bridge.c).

Real test guests in the session's sim (tests/guest/init): each takes its
address from the CC's dnsmasq (karri.ip=dhcp) and reports what it could
ping (karri.ping=...).  Guests boot one after another so that every guest a
later one pings is already up: a failed ping then means "cannot reach", not
"not booted yet".
"""

import subprocess
import time

import pytest

from harness.ccnet import RealCluster, netns_run, run_guest, wait_guest_report

pytestmark = pytest.mark.root

# VNET_SUBNET 10.100.0.0/16 in networks of 32: network 10 is 10.100.1.64/27
# (gateway .65, instances from .66), network 11 is 10.100.1.96/27.
GW = {10: "10.100.1.65", 11: "10.100.1.97"}
KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 karri@test"
USER_DATA = "IyEvYmluL3NoCmVjaG8gaGVsbG8K"       # base64 of "#!/bin/sh\necho hello\n"


def links(node):
    return subprocess.run(["ip", "-n", node.netns, "-o", "link"], capture_output=True,
                          text=True).stdout


def master_of(node, dev):
    words = subprocess.run(["ip", "-n", node.netns, "-o", "link", "show", dev],
                           capture_output=True, text=True).stdout.split()
    return words[words.index("master") + 1] if "master" in words else None


def destroy_domains(sim, ids):
    """Safety net for a failed test: no guest outlives it."""
    import libvirt
    for node in sim.nodes:
        conn = libvirt.open(node.libvirt_uri)
        try:
            for dom in conn.listAllDomains():
                if dom.name() in ids:
                    dom.destroy()
        finally:
            conn.close()


def boot(cc, srv, iid, group, vlan, pings, **fields):
    """Launch a guest that takes DHCP and pings `pings`; wait for its last
    ping report.  Returns (RunInstances' instance, Report)."""
    r = run_guest(cc, srv, iid, "karri.ip=dhcp karri.ping=%s karri.hold=forever" % ",".join(pings),
                  group=group, vlan=vlan, **fields)
    assert r["return"] == "true", r
    rep = wait_guest_report(cc, iid, lambda rep: rep.ping(pings[-1]) is not None, timeout=240)
    assert rep and rep.ping(pings[-1]), "%s did not report its pings: %s" % (
        iid, rep.tail() if rep else None)
    inst = r["instances"][0]
    net = rep.all("net")[0]
    print("%s on %s: %s, pings %s" % (iid, inst["serviceTag"], net, rep.all("ping")))
    # Its own address, by DHCP from the CC, on its group's segment.
    assert net.get("mode") == "dhcp" and net.get("ok") == "1", net
    assert net.get("ip", "").split("/")[0] == inst["netParams"]["privateIp"]
    return inst, rep


def test_groups_are_segments_across_nodes(sim, guest, tmp_path):
    from harness.nc import describe, node_leftovers

    ids = ["i-0000a101", "i-0000a102", "i-0000b101"]
    cfg = {"VNET_MODE": "MANAGED", "VNET_SUBNET": "10.100.0.0", "VNET_NETMASK": "255.255.0.0",
           "VNET_ADDRSPERNET": 32, "VNET_PRIVINTERFACE": "eth0", "VNET_PUBINTERFACE": "eth0",
           "SCHEDPOLICY": "ROUNDROBIN"}
    try:
        # A node's address is on br0 (eth0 is its port): its group segments go there.
        with RealCluster(sim, guest, str(tmp_path), cfg,
                         lambda node: {"VNET_PRIVINTERFACE": node.bridge}) as c:
            cc = c.cc
            assert cc.start_network(10, "web")["return"] == "true"
            assert cc.start_network(11, "db")["return"] == "true"

            # Group web on two nodes (ROUNDROBIN): the second reaches the first.
            a1, rep = boot(cc, c.srv, ids[0], "web", 10, [GW[10]], keyName=KEY, userData=USER_DATA)
            assert rep.ping(GW[10])["ok"] == "1"
            a1_ip = a1["netParams"]["privateIp"]
            n1 = c.node_of[a1["serviceTag"]]
            # The node keeps the request's key and user data and gives them back.
            on_nc = describe(c.nc_of(n1), ids[0])[ids[0]]
            assert (on_nc.get("keyName"), on_nc.get("userData")) == (KEY, USER_DATA)
            a2, rep = boot(cc, c.srv, ids[1], "web", 10, [a1_ip, GW[10]])
            a2_ip = a2["netParams"]["privateIp"]
            n2 = c.node_of[a2["serviceTag"]]
            assert n1 is not n2, "both instances of web on %s" % n1.name
            assert rep.ping(a1_ip)["ok"] == "1", "web on %s cannot reach web on %s" % (
                n2.name, n1.name)

            # Group db beside web's first instance: its own gateway, nobody of web.
            b, rep = boot(cc, c.srv, ids[2], "db", 11, [a1_ip, a2_ip, GW[11]])
            assert c.node_of[b["serviceTag"]] is n1
            assert rep.ping(GW[11])["ok"] == "1"
            assert rep.ping(a1_ip)["ok"] == "0", "db reaches web on the same node"
            assert rep.ping(a2_ip)["ok"] == "0", "db reaches web on another node"

            # What the NCs built: a bridge per group on each node that hosts it,
            # every instance's tap on its group's bridge.
            assert master_of(n1, "kr0000a101") == "krbr10"
            assert master_of(n2, "kr0000a102") == "krbr10"
            assert master_of(n1, "kr0000b101") == "krbr11"
            assert master_of(n1, "krv10") == "krbr10" and master_of(n1, "krv11") == "krbr11"
            assert " krbr11:" not in links(n2)
            # The CC routes to each group from the front end.
            assert netns_run(sim.front.netns, ["ping", "-c", "1", "-W", "5", a2_ip]).returncode == 0

            assert cc.terminate(ids)["isTerminated"] == ["true"] * 3
            deadline = time.monotonic() + 60
            left = None
            while time.monotonic() < deadline:
                left = [x for n in sim.nodes for x in
                        node_leftovers(n, str(tmp_path / n.name / "instances"), ids)]
                if not left:
                    break
                time.sleep(0.5)
            assert not left, left
            # The segment stays on the node for the group's next instance (nc/vnet.c).
            assert " krbr10:" in links(n1) and " krbr10:" in links(n2)
    finally:
        destroy_domains(sim, ids)
        for node in sim.nodes:
            for dev in ("krv10", "krbr10", "krv11", "krbr11"):
                subprocess.run(["ip", "-n", node.netns, "link", "del", dev], capture_output=True)
