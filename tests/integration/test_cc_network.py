"""The CC's virtual network, for real, in simulated hosts: dnsmasq, iptables,
VLANs and bridges in the namespaces of a karri.sim Sim (no libvirt).

Instances are launched through the CC onto karri-ncsim nodes (the NC
stand-in, fast), and each is then stood in for by a "guest" namespace
plugged into the node's bridge with the instance's MAC (harness/ccnet.py)
that takes its address from the CC by DHCP (busybox udhcpc).  The same
scenario runs in MANAGED-NOVLAN (one LAN, isolation by routing through the
CC's firewall) and MANAGED (a VLAN and a bridge per group, made on the nodes
through ncStartNetwork by the ncsim with common/vnet/vnet_bridge.c, the code the
NC uses).  Real guests on real NCs: test_real_guest_through_real_nc here
(MANAGED-NOVLAN) and test_managed_nodes.py (MANAGED).
"""

import os
import re
import shutil
import signal

import pytest

from harness import simlife
from harness.cc import CcClient, NcSim
from harness.ccnet import (CLIENT, METADATA, PY, RealCluster, SimGuest, cc_home, netns_run,
                           netns_spawn, run_guest, start_in_front, udp_ask, wait_guest_report,
                           wait_listening)
from harness.daemons import Daemon, free_port

pytestmark = pytest.mark.root

PUBLIC = ["10.81.0.200", "10.81.0.201"]


def both_up(cc, d):
    """Both nodes UP.  Generous: a node first seen DOWN is re-polled with
    backoff, and the whole suite loads this 2-core machine; say why if not."""
    try:
        cc.wait_nodes(lambda n: len(n) == 2 and all(v["state"] == "UP" for v in n.values()),
                      timeout=60)
    except TimeoutError as e:
        raise AssertionError("%s\nCC log:\n%s" % (e, d.log()[-4000:]))


@pytest.fixture(scope="module")
def netsim():
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces")
    simlife.reap_stale()
    s = simlife.start(simlife.session_prefix("c"), nodes=2, libvirt=False)
    try:
        yield s
    finally:
        simlife.stop(s)


def front_has(sim, *argv):
    return netns_run(sim.front.netns, list(argv)).stdout


def leftovers_on_front(sim):
    left = []
    for table in ("filter", "nat"):
        left += [l for l in front_has(sim, "iptables", "-w", "-t", table, "-S").splitlines()
                 if "KARRI" in l]
    left += [l for l in front_has(sim, "ip", "-o", "link").splitlines() if " krbr" in l or " krv" in l]
    left += [l for l in front_has(sim, "ip", "-o", "addr").splitlines()
             if any(p + "/32" in l for p in PUBLIC) or " 10.100." in l]
    pids = front_has(sim, "ip", "netns", "pids", sim.front.netns).split()
    for p in pids:
        try:
            with open("/proc/%s/comm" % p) as f:
                if f.read().strip() == "dnsmasq":
                    left.append("dnsmasq pid %s" % p)
        except OSError:
            pass
    return left


def dnsmasq_pids(sim):
    out = []
    for p in front_has(sim, "ip", "netns", "pids", sim.front.netns).split():
        try:
            with open("/proc/%s/comm" % p) as f:
                if f.read().strip() == "dnsmasq":
                    out.append(int(p))
        except OSError:
            pass
    return sorted(out)


def front_connect(sim, host, port):
    p = netns_run(sim.front.netns, [PY, "-c", CLIENT, host, str(port), "1.5"])
    return p.stdout.strip() if p.returncode == 0 else None


def ncsim_calls(log):
    """The calls that changed a karri-ncsim node, in order (its log lines)."""
    with open(log, errors="replace") as f:
        return [m.group(1) for m in (re.search(r"ncsim: node \d+: (.*)", l) for l in f) if m]


@pytest.mark.parametrize("mode", ["MANAGED-NOVLAN", "MANAGED"])
def test_groups_dhcp_firewall_elastic_ip_metadata(netsim, mode, tmp_path):
    sim = netsim
    nc_port, clc_port = free_port(), free_port()
    managed = mode == "MANAGED"
    home = cc_home()
    cfg = {"VNET_MODE": mode, "VNET_SUBNET": "10.100.0.0", "VNET_NETMASK": "255.255.0.0",
           "VNET_ADDRSPERNET": 32, "VNET_PRIVINTERFACE": "eth0", "VNET_PUBINTERFACE": "eth0",
           "VNET_PUBLICIPS": "%s-%s" % (PUBLIC[0], PUBLIC[1]), "VNET_CLOUDIP": sim.front.priv_ip,
           "CLC_PORT": clc_port, "VNET_DHCPUSER": "dnsmasq", "VNET_BRIDGE": "br0",
           "NODES": " ".join(n.priv_ip for n in sim.nodes), "NC_PORT": nc_port,
           "NC_POLLING_FREQUENCY": 1, "SCHEDPOLICY": "ROUNDROBIN"}
    # A node's address is on br0 (eth0 is its port): VLANs (or VXLAN) go there.
    ncs = [NcSim(netns=n.netns, port=nc_port, cores=8, privif="br0" if managed else None,
                 log=str(tmp_path / ("ncsim-%s.log" % n.name))).start() for n in sim.nodes]
    guests, procs = [], []
    d = Daemon("karri-cc", home, cfg, netns=sim.front.netns, host=sim.front.priv_ip)
    try:
        start_in_front(d, sim.front)
        cc = CcClient(d.url, netns=sim.front.netns)
        both_up(cc, d)
        r = cc.start_network(10, "web")
        assert r["return"] == "true", r
        assert cc.start_network(11, "db")["return"] == "true"
        nets = cc.describe_networks()
        assert nets["mode"] == mode and {n["vlan"] for n in nets["activeNetworks"]} == {"10", "11"}

        # A and B in "web" (node1, node2), C in "db" (node1): ROUNDROBIN places them so.
        # Each launch is one SOAP round trip to its node: ncRunInstance, which makes
        # the group's VLAN itself (no ncStartNetwork first).  karri-ncsim logs every
        # call that changes a node.
        logs = [str(tmp_path / ("ncsim-%s.log" % n.name)) for n in sim.nodes]
        insts = {}
        for name, iid, group, vlan in (("A", "i-0000a001", "web", 10), ("B", "i-0000b001", "web", 10),
                                       ("C", "i-0000c001", "db", 11)):
            before = [ncsim_calls(f) for f in logs]
            r = cc.run([iid], group=group, vlan=vlan, reservation="r-0000000" + name.lower())
            assert r["return"] == "true", r
            insts[name] = r["instances"][0]
            new = [ncsim_calls(f)[len(b):] for f, b in zip(logs, before)]
            assert sorted(sum(new, [])) == ["ncRunInstance " + iid], new
        node_of = {"http://%s:%d/" % (n.priv_ip, nc_port): n for n in sim.nodes}
        assert node_of[insts["A"]["serviceTag"]] is sim.nodes[0]
        assert node_of[insts["B"]["serviceTag"]] is sim.nodes[1]
        assert node_of[insts["C"]["serviceTag"]] is sim.nodes[0]
        assert insts["A"]["netParams"]["privateIp"] == "10.100.1.66"   # network 10, index 2
        assert insts["C"]["netParams"]["privateIp"] == "10.100.1.98"   # network 11
        assert insts["A"]["netParams"]["privateMacAddress"] == "d0:0d:00:00:a0:01"
        if managed:
            assert insts["A"]["netParams"]["vlan"] == "10"
            assert insts["A"]["netParams"]["bridge"] == "krbr10"
            assert "krbr10" in front_has(sim, "ip", "-o", "link")
            assert "krv10" in netns_run(sim.nodes[1].netns, ["ip", "-o", "link"]).stdout

        # DHCP: each guest gets exactly the address the CC gave its instance.
        g = {}
        for name in "ABC":
            net = insts[name]["netParams"]
            node = node_of[insts[name]["serviceTag"]]
            g[name] = SimGuest(node, "%s-g%s" % (sim.prefix, name.lower()),
                               net["privateMacAddress"], net.get("bridge") or "br0").plug()
            guests.append(g[name])
            ip, took = g[name].dhcp()
            print("%s: DHCP lease %s in %.2f s" % (name, ip, took))
            assert ip == net["privateIp"]
        assert g["A"].ping("10.100.1.65"), "guest cannot reach its gateway"
        pids = dnsmasq_pids(sim)
        assert len(pids) == (2 if managed else 1)

        for name in "ABC":
            g[name].serve(8000, name)
            g[name].serve_udp(9000, name)
        g["A"].serve(8001, "A8001")
        for name in "ABC":
            wait_listening(g[name].ns, "127.0.0.1", 8000)
        # Same group talks; another group is denied until a rule lets it in, port by port.
        assert g["B"].connect(g["A"].ip, 8000) == "A"
        assert g["C"].connect(g["A"].ip, 8000) is None
        assert g["A"].connect(g["C"].ip, 8000) is None
        r = cc.configure_network("web", "tcp", 8000, 8000, source_group="db")
        assert r["return"] == "true", r
        assert g["C"].connect(g["A"].ip, 8000) == "A"
        assert g["C"].connect(g["A"].ip, 8001) is None
        assert g["A"].connect(g["C"].ip, 8000) is None     # not the other way round
        bad = cc.configure_network("web", "tcp", 9, 1, source_net="0.0.0.0/0")
        assert bad["return"] == "false" and "InvalidParameterValue" in bad["statusMessage"]

        # Metadata: 169.254.169.254:80 reaches the CLC's port, which sees the guest's own address.
        procs.append(netns_spawn(sim.front.netns, [PY, "-c", METADATA, sim.front.priv_ip, str(clc_port)]))
        wait_listening(sim.front.netns, sim.front.priv_ip, clc_port)
        answer = g["A"].get("http://169.254.169.254/latest/meta-data/instance-id")
        assert answer == "instance at %s asked /latest/meta-data/instance-id" % g["A"].ip
        assert g["C"].get("http://169.254.169.254/latest/user-data").startswith(
            "instance at %s " % g["C"].ip)

        # Elastic IP: from the front end it reaches A, then (moved in one batch) C,
        # new connections and a flow that was going on alike (conntrack flushed).
        assert cc.assign_address(PUBLIC[0], g["A"].ip)["return"] == "true"
        assert front_connect(sim, PUBLIC[0], 8000) == "A"
        assert udp_ask(sim.front.netns, PUBLIC[0], 9000, 40000) == "A"
        assert cc.assign_address(PUBLIC[0], g["C"].ip)["return"] == "true"
        assert front_connect(sim, PUBLIC[0], 8000) == "C"
        assert udp_ask(sim.front.netns, PUBLIC[0], 9000, 40000) == "C"
        addrs = {a["publicIp"]: a for a in cc.describe_public_addresses()}
        assert addrs[PUBLIC[0]].get("instanceId") == "i-0000c001"
        assert addrs[PUBLIC[1]].get("privateIp") is None
        bad = cc.assign_address("192.0.2.1", g["A"].ip)
        assert bad["return"] == "false" and "InvalidAddress" in bad["statusMessage"]
        inst = {i["instanceId"]: i for i in cc.describe_instances()}
        assert inst["i-0000c001"]["netParams"]["publicIp"] == PUBLIC[0]

        # SIGKILL: every rule stays; the restarted CC adopts dnsmasq and carries on.
        d.stop(signal.SIGKILL)
        assert g["C"].connect(g["A"].ip, 8000) == "A"
        assert g["C"].connect(g["A"].ip, 8001) is None
        assert front_connect(sim, PUBLIC[0], 8000) == "C"
        d = Daemon("karri-cc", home, cfg, netns=sim.front.netns, host=sim.front.priv_ip, port=d.port)
        start_in_front(d, sim.front)
        cc = CcClient(d.url, netns=sim.front.netns)
        assert dnsmasq_pids(sim) == pids
        assert "adopted" in d.log()
        both_up(cc, d)
        assert {i["instanceId"] for i in cc.describe_instances()} == {"i-0000a001", "i-0000b001",
                                                                     "i-0000c001"}
        r = cc.run(["i-0000d001"], group="web", vlan=10, reservation="r-0000000d")
        assert r["return"] == "true" and r["instances"][0]["netParams"]["privateIp"] == "10.100.1.68"
        net = r["instances"][0]["netParams"]
        g["D"] = SimGuest(node_of[r["instances"][0]["serviceTag"]], "%s-gd" % sim.prefix,
                          net["privateMacAddress"], net.get("bridge") or "br0").plug()
        guests.append(g["D"])
        assert g["D"].dhcp()[0] == "10.100.1.68"          # a SIGHUP, not a restart
        assert dnsmasq_pids(sim) == pids
        assert g["D"].connect(g["A"].ip, 8000) == "A"
        assert g["C"].connect(g["A"].ip, 8000) == "A"
        assert front_connect(sim, PUBLIC[0], 8000) == "C"
        assert cc.unassign_address(PUBLIC[0])["return"] == "true"
        assert front_connect(sim, PUBLIC[0], 8000) is None

        # StopNetwork refuses while instances use it; then a clean stop removes everything.
        r = cc.stop_network(11, "db")
        assert r["return"] == "false" and "still uses" in r["statusMessage"]
        assert cc.terminate(["i-0000c001"])["isTerminated"] == ["true"]
        assert cc.stop_network(11, "db")["return"] == "true"
        assert len(dnsmasq_pids(sim)) == (1 if managed else 1)
        assert d.stop() == 0
        assert leftovers_on_front(sim) == []
    finally:
        d.stop(signal.SIGKILL) if d.proc and d.proc.poll() is None else None
        shutil.copy(d.log_path, str(tmp_path / "karri-cc.log")) if os.path.exists(d.log_path) else None
        for p in procs:
            p.kill()
            p.wait()
        for guest in guests:
            guest.remove()
        for n in ncs:
            n.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_static_mode_serves_the_mac_map(netsim):
    """STATIC: instances take MAC/IP pairs from VNET_MACMAP, served by dnsmasq."""
    sim = netsim
    nc_port = free_port()
    home = cc_home()
    macmap = "d0:0d:aa:00:00:01=10.81.0.150 d0:0d:aa:00:00:02=10.81.0.151"
    cfg = {"VNET_MODE": "STATIC", "VNET_SUBNET": "10.81.0.0", "VNET_NETMASK": "255.255.255.0",
           "VNET_ROUTER": sim.front.priv_ip, "VNET_MACMAP": macmap, "VNET_PRIVINTERFACE": "eth0",
           "VNET_BRIDGE": "br0", "NODES": sim.nodes[0].priv_ip, "NC_PORT": nc_port,
           "NC_POLLING_FREQUENCY": 1}
    ns = NcSim(netns=sim.nodes[0].netns, port=nc_port).start()
    d = Daemon("karri-cc", home, cfg, netns=sim.front.netns, host=sim.front.priv_ip)
    guest = None
    try:
        start_in_front(d, sim.front)
        cc = CcClient(d.url, netns=sim.front.netns)
        cc.wait_nodes(lambda n: len(n) == 1 and all(v["state"] == "UP" for v in n.values()))
        r = cc.run(["i-00005001", "i-00005002"])
        assert r["return"] == "true", r
        nets = [i["netParams"] for i in r["instances"]]
        assert [(n["privateMacAddress"], n["privateIp"]) for n in nets] == [
            ("d0:0d:aa:00:00:01", "10.81.0.150"), ("d0:0d:aa:00:00:02", "10.81.0.151")]
        assert nets[0]["bridge"] == "br0"
        r = cc.run(["i-00005003"])
        assert r["return"] == "false" and "InsufficientAddressCapacity" in r["statusMessage"]
        guest = SimGuest(sim.nodes[0], "%s-gs" % sim.prefix, nets[1]["privateMacAddress"], "br0").plug()
        assert guest.dhcp()[0] == "10.81.0.151"
        assert guest.ping(sim.front.priv_ip)
        # Security groups and elastic IPs are MANAGED features.
        r = cc.configure_network("default", "tcp", 22, 22, source_net="0.0.0.0/0")
        assert r["return"] == "false"
        assert d.stop() == 0
        assert dnsmasq_pids(sim) == []
    finally:
        if d.proc and d.proc.poll() is None:
            d.stop(signal.SIGKILL)
        if guest:
            guest.remove()
        ns.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_real_guest_through_real_nc(sim, guest, tmp_path):
    """A real test guest, launched through the CC on the real karri-nc (nc/)
    of the session's sim, takes its address from the CC's dnsmasq
    (karri.ip=dhcp) in MANAGED-NOVLAN; the front end reaches it directly and
    by an elastic IP; its console comes back through the CC."""
    cfg = {"VNET_MODE": "MANAGED-NOVLAN", "VNET_SUBNET": "10.100.0.0",
           "VNET_NETMASK": "255.255.0.0", "VNET_ADDRSPERNET": 32, "VNET_PRIVINTERFACE": "eth0",
           "VNET_PUBINTERFACE": "eth0", "VNET_PUBLICIPS": PUBLIC[0], "VNET_BRIDGE": "br0"}
    with RealCluster(sim, guest, str(tmp_path), cfg) as c:
        cc = c.cc
        assert cc.start_network(10, "web")["return"] == "true"
        iid = "i-0000e001"
        r = run_guest(cc, c.srv, iid, "karri.ip=dhcp karri.hold=forever", group="web", vlan=10)
        assert r["return"] == "true", r
        ip = r["instances"][0]["netParams"]["privateIp"]
        rep = wait_guest_report(cc, iid, lambda rep: rep.all("net"))
        assert rep and rep.all("net"), "guest reported no network: %s" % (rep.text[-2000:] if rep else None)
        net = rep.all("net")[0]
        print("guest network report:", net, rep.all("dhcp"))
        assert net.get("mode") == "dhcp" and net.get("ok") == "1", net
        assert net.get("ip", "").split("/")[0] == ip
        inst = {i["instanceId"]: i for i in cc.describe_instances()}
        assert inst[iid]["stateName"] == "Extant"
        assert netns_run(sim.front.netns, ["ping", "-c", "1", "-W", "5", ip]).returncode == 0
        assert cc.assign_address(PUBLIC[0], ip)["return"] == "true"
        assert netns_run(sim.front.netns, ["ping", "-c", "1", "-W", "5", PUBLIC[0]]).returncode == 0
        assert cc.terminate([iid])["isTerminated"] == ["true"]
