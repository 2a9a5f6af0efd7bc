"""karri-cc with the NC stand-in (karri-ncsim): node registry, polling,
scheduling, failures and restarts.

The simulated nodes are karri-ncsim processes on loopback addresses
(127.1.0.x), so these tests need no namespaces and take seconds; the real
network is exercised in test_cc_network.py.  Each test starts its own CC
with its own KARRI_HOME.
"""

import concurrent.futures
import os
import signal
import tempfile
import time
import urllib.request

import pytest

from harness.cc import CcClient, NcSim
from harness.daemons import Daemon, free_port
from harness.wait import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="binds 127.1.0.x (fine as root)")


def cc_config(nodes=(), **config):
    cfg = {"VNET_MODE": "SYSTEM", "NODES": " ".join(nodes), "NC_POLLING_FREQUENCY": 1,
           "SCHEDPOLICY": "ROUNDROBIN"}
    cfg.update(config)
    return cfg


def start_cc(home, nodes=(), port=None, **config):
    d = Daemon("karri-cc", home, cc_config(nodes, **config), port=port).start()
    return d, CcClient(d.url)


@pytest.fixture
def home():
    with tempfile.TemporaryDirectory(prefix="karri-cc-") as h:
        yield h


def all_up(n):
    return lambda nodes: len(nodes) == n and all(v["state"] == "UP" for v in nodes.values())


def ids(n, base=0x100):
    return ["i-%08x" % (base + i) for i in range(n)]


def placement(cc):
    """instance id -> node URL, from DescribeInstances."""
    return {i["instanceId"]: i["serviceTag"] for i in cc.describe_instances()}


def nc_call(url, op, body):
    """One NC contract call straight to an ncsim node (bypassing the CC)."""
    env = ('<?xml version="1.0"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/'
           'soap/envelope/" xmlns:nc="urn:karri:nc:2026-11" xmlns:kr="urn:karri:types:2026-11">'
           "<SOAP-ENV:Body><nc:%s>%s</nc:%s></SOAP-ENV:Body></SOAP-ENV:Envelope>" % (op, body, op))
    req = urllib.request.Request(url, data=env.encode(), method="POST",
                                 headers={"Content-Type": "text/xml"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read().decode()


@pytest.mark.parametrize("policy", ["GREEDY", "ROUNDROBIN", "POWERSAVE"])
def test_placement_under_each_policy(home, policy):
    with NcSim(nodes=3, cores=4) as ns:
        d, cc = start_cc(home, ns.node_names(), SCHEDPOLICY=policy)
        with d:
            cc.wait_nodes(all_up(3))
            urls = sorted(cc.nodes())
            assert cc.run(ids(2, 0x100))["return"] == "true"
            assert cc.run(ids(3, 0x200))["return"] == "true"
            got = placement(cc)
            per_node = [sum(1 for u in got.values() if u == url) for url in urls]
            if policy == "GREEDY":
                assert per_node == [4, 1, 0]        # fill a node before the next
            elif policy == "ROUNDROBIN":
                assert per_node == [2, 2, 1]        # one each, in turn
            else:
                assert sorted(per_node, reverse=True) == [4, 1, 0]  # packed


def test_powersave_powers_idle_nodes_down_and_sees_them_back(home):
    with NcSim(nodes=3, cores=4) as ns:
        d, cc = start_cc(home, ns.node_names(), SCHEDPOLICY="POWERSAVE",
                         POWER_IDLETHRESH=1, POWER_WAKETHRESH=60)
        with d:
            cc.wait_nodes(all_up(3))
            assert cc.run(ids(2))["return"] == "true"
            busy = set(placement(cc).values())
            assert len(busy) == 1
            # Idle nodes go down one per period; one node always stays up.
            nodes = cc.wait_nodes(lambda n: sum(v["state"] == "POWEREDOFF" for v in n.values()) == 2,
                                  timeout=20, what="two idle nodes powered off")
            assert {u for u, v in nodes.items() if v["state"] == "UP"} == busy
            # Capacity of powered-off nodes is not offered; 2 more fit on the busy node only.
            assert cc.run(ids(2, 0x300))["return"] == "true"
            r = cc.run(ids(1, 0x400))
            assert r["return"] == "false" and r["statusMessage"].startswith("InsufficientInstanceCapacity")
            # Woken by hand (wake-on-LAN cannot cross a namespace): the CC sees them back.
            ns.signal(signal.SIGUSR1)
            cc.wait_nodes(all_up(3), what="woken nodes back UP")
            assert "woken" in d.log()
            # POWER_WAKETHRESH: a woken node stays up a while.  Three cycles:
            # the idle check that follows the second one's start has run.
            cc.wait_polls(3)
            assert all(v["state"] == "UP" for v in cc.nodes().values())


def test_capacity_exhaustion_fails_whole(home):
    with NcSim(nodes=2, cores=2) as ns:
        d, cc = start_cc(home, ns.node_names())
        with d:
            cc.wait_nodes(all_up(2))
            r = cc.run(ids(5))                      # 4 fit, 5 asked: none may start
            assert r["return"] == "false"
            assert r["statusMessage"].startswith("InsufficientInstanceCapacity")
            assert cc.describe_instances() == []
            cc.wait_polls()                         # the NCs run nothing either
            assert cc.describe_instances() == []
            assert all(v["coresAvailable"] == "2" for v in cc.nodes().values())
            res = cc.describe_resources([(1, 256, 5), (2, 1024, 10), (4, 256, 5)])["resources"]
            assert [(r["maxInstances"], r["availableInstances"]) for r in res] == [
                ("4", "4"), ("2", "2"), ("0", "0")]
            assert cc.run(ids(4))["return"] == "true"
            res = cc.describe_resources([(1, 256, 5)])["resources"]
            assert (res[0]["maxInstances"], res[0]["availableInstances"]) == ("4", "0")
            # memory and disk count as well as cores
            r = cc.run(ids(1, 0x500))
            assert r["return"] == "false"


def test_launch_failing_on_a_node_rolls_back(home):
    """The CC's view is stale (long poll period): the NC refuses the second
    instance; the first, already started, is terminated again."""
    with NcSim(nodes=1, cores=2) as ns:
        d, cc = start_cc(home, ns.node_names(), NC_POLLING_FREQUENCY=3600)
        with d:
            cc.wait_nodes(all_up(1))
            url = "http://%s/" % ns.node_names()[0]
            out = nc_call(url, "ncRunInstance", "<nc:instanceId>i-0000beef</nc:instanceId>"
                          "<nc:instanceType><kr:memory>64</kr:memory><kr:cores>1</kr:cores>"
                          "<kr:disk>1</kr:disk></nc:instanceType>")
            assert "<nc:return>true</nc:return>" in out
            r = cc.run(ids(2))
            assert r["return"] == "false" and "node is full" in r["statusMessage"]
            assert cc.describe_instances() == []
            listing = nc_call(url, "ncDescribeInstances", "")
            assert "i-0000beef" in listing and ids(2)[0] not in listing


def test_concurrent_runs_never_overcommit(home):
    with NcSim(nodes=3, cores=4, workers=8) as ns:
        d, cc = start_cc(home, ns.node_names(), SCHEDPOLICY="GREEDY")
        with d:
            cc.wait_nodes(all_up(3))
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                results = list(pool.map(lambda i: cc.run(["i-%08x" % (0x1000 + i)],
                                                         reservation="r-%08x" % i), range(30)))
            ok = [r for r in results if r["return"] == "true"]
            assert len(ok) == 12
            assert all(r["statusMessage"].startswith("InsufficientInstanceCapacity")
                       for r in results if r["return"] != "true")
            cc.wait_polls()                 # the nodes' own numbers, not reservations
            nodes = cc.nodes()
            assert all(v["coresAvailable"] == "0" for v in nodes.values())
            assert sorted(int(v["instances"]) for v in nodes.values()) == [4, 4, 4]


def test_node_killed_goes_down_and_comes_back(home):
    a, b = NcSim(cores=4).start(), NcSim(cores=4).start()
    try:
        names = ["127.0.0.1:%d" % a.port, "127.0.0.1:%d" % b.port]
        d, cc = start_cc(home, names)
        with d:
            cc.wait_nodes(all_up(2))
            assert cc.run(ids(2))["return"] == "true"
            cc.wait_polls()
            on_b = [i for i, u in placement(cc).items() if u.endswith(":%d/" % b.port)]
            assert len(on_b) == 1
            b.stop()
            cc.wait_nodes(lambda n: n["http://%s/" % names[1]]["state"] == "DOWN", what="B down")
            inst = {i["instanceId"]: i for i in cc.describe_instances()}
            assert inst[on_b[0]]["nodeState"] == "DOWN"
            assert "is DOWN" in inst[on_b[0]]["stateReason"]
            assert all(v["nodeState"] == "UP" for k, v in inst.items() if k != on_b[0])
            # no placement on a down node
            assert cc.run(ids(3, 0x700))["return"] == "true"
            assert set(placement(cc)[i] for i in ids(3, 0x700)) == {"http://%s/" % names[0]}
            b = NcSim(port=b.port, cores=4).start()
            cc.wait_nodes(all_up(2), what="B back")
            assert "is UP (back)" in d.log()
    finally:
        a.stop()
        b.stop()


def test_describe_answers_while_a_node_hangs(home):
    with NcSim(nodes=1, cores=4) as hung, NcSim(nodes=1, cores=4, first_ip="127.1.1.1") as fine:
        names = hung.node_names() + fine.node_names()
        d, cc = start_cc(home, names, NC_POLLING_FREQUENCY=3)
        with d:
            cc.wait_nodes(all_up(2))
            assert cc.run(ids(4))["return"] == "true"
            hung.signal(signal.SIGSTOP)
            try:
                # Until the poll of the hung node times out (it is DOWN then),
                # every answer comes from the cache.
                worst = 0

                def answered_until_down():
                    nonlocal worst
                    t0 = time.monotonic()
                    assert len(cc.describe_instances(timeout=2)) == 4
                    nodes = cc.nodes()
                    worst = max(worst, time.monotonic() - t0)
                    return nodes if nodes["http://%s/" % names[0]]["state"] == "DOWN" else None
                nodes = wait_for(answered_until_down, 30, "hung node DOWN")
                print("worst DescribeInstances+DescribeResources while hung: %.0f ms" % (worst * 1000))
                assert nodes["http://%s/" % names[1]]["state"] == "UP"
            finally:
                hung.signal(signal.SIGCONT)
            cc.wait_nodes(all_up(2), what="hung node back")


def test_register_deregister_and_restart_after_sigkill(home):
    with NcSim(nodes=3, cores=4) as ns:
        configured, registered = ns.node_names()[:1], ns.node_names()[1:]
        d, cc = start_cc(home, configured)
        with d:
            cc.wait_nodes(all_up(1))
            bad = cc.register_nodes(["ok.example", "bad/name"])
            assert bad["return"] == "false" and "bad node name" in bad["statusMessage"]
            assert len(cc.nodes()) == 1                     # all or nothing
            assert cc.register_nodes(registered)["return"] == "true"
            cc.wait_nodes(all_up(3))
            assert cc.run(ids(6))["return"] == "true"
            before = placement(cc)
            d.stop(signal.SIGKILL)
        d2, cc = start_cc(home, configured, port=d.port)
        with d2:
            cc.wait_nodes(all_up(3), what="registered nodes remembered")
            assert placement(cc) == before
            assert cc.deregister_nodes(registered[-1:])["return"] == "true"
            assert len(cc.nodes()) == 2
            d2.stop()
        d3, cc = start_cc(home, configured, port=d.port)
        with d3:
            assert len(cc.nodes()) == 2


def test_bad_requests_are_refused(home):
    with NcSim(nodes=1) as ns:
        d, cc = start_cc(home, ns.node_names())
        with d:
            cc.wait_nodes(all_up(1))
            for bad_ids in (["i-XYZ"], ["i-00000001", "i-00000001"], []):
                r = cc.run(bad_ids)
                assert r["return"] == "false" and "InvalidParameterValue" in r["statusMessage"]
            r = cc.call("GetConsoleOutput", "<cc:instanceId>i-0badf00d</cc:instanceId>")
            assert r["return"] == "false" and "NotFound" in r["statusMessage"]
            assert cc.run(ids(1))["return"] == "true"
            r = cc.run(ids(1))
            assert r["return"] == "false" and "exists already" in r["statusMessage"]
            assert cc.console(ids(1)[0])["return"] == "true"
            assert cc.terminate(ids(1) + ["i-0badf00d"])["isTerminated"] == ["true", "false"]


def test_volumes_reboot_console_are_forwarded_to_the_node(home):
    with NcSim(nodes=2) as ns:
        d, cc = start_cc(home, ns.node_names())
        with d:
            cc.wait_nodes(all_up(2))
            assert cc.run(ids(2))["return"] == "true"
            iid = ids(2)[1]
            # without a remoteDev: only "which storage MAC must EBS allow?" (ncsim's fake one)
            r = cc.call("AttachVolume", "<cc:instanceId>%s</cc:instanceId><cc:volumeId>vol-0000abcd"
                        "</cc:volumeId>" % iid)
            k = ns.node_names().index(placement(cc)[iid][len("http://"):-1])
            assert r["return"] == "true" and r["nodeMac"] == "02:00:00:00:00:%02x" % k
            r = cc.call("AttachVolume", "<cc:instanceId>%s</cc:instanceId><cc:volumeId>vol-0000abcd"
                        "</cc:volumeId><cc:remoteDev>aoe:eth1:e1.1</cc:remoteDev><cc:localDev>vdb"
                        "</cc:localDev>" % iid)
            assert r["return"] == "true" and r["attachment"] == "nbd"
            cc.wait_polls()                 # the node reports the volume
            inst = {i["instanceId"]: i for i in cc.describe_instances([iid])}
            assert list(inst) == [iid]
            assert inst[iid]["volumes"][0]["volumeId"] == "vol-0000abcd"
            assert inst[iid]["volumes"][0]["localDev"] == "vdb"
            r = cc.call("DetachVolume", "<cc:instanceId>%s</cc:instanceId><cc:volumeId>vol-0000abcd"
                        "</cc:volumeId>" % iid)
            assert r["return"] == "true"
            r = cc.call("DetachVolume", "<cc:instanceId>%s</cc:instanceId><cc:volumeId>vol-0000abcd"
                        "</cc:volumeId>" % iid)
            assert r["return"] == "false" and "NotFound" in r["statusMessage"]
            assert cc.call("RebootInstances", "<cc:instanceIds>%s</cc:instanceIds>" % iid)["return"] == "true"
            import base64
            text = base64.b64decode(cc.console(iid)["consoleOutput"]).decode()
            node = placement(cc)[iid]
            assert text.startswith("ncsim node %d console of %s" % (ns.node_names().index(
                node[len("http://"):-1]), iid))


def test_real_nc_nodes_polled_down_and_back(sim, tmp_path):
    """The same registry and polling against the real karri-nc (nc/), one per
    node namespace of the session's sim with its libvirtd: the CC sees each
    NC's real capacity, a killed NC goes DOWN, a restarted one comes back.
    (Launching on real NCs needs images and is the end-to-end tests' job.)"""
    from harness.nc import start_nc
    from harness.ccnet import start_in_front

    nc_port = free_port()
    ncs = [start_nc(n, str(tmp_path / n.name), port=nc_port) for n in sim.nodes]
    d = Daemon("karri-cc", str(tmp_path / "cc"), cc_config([n.priv_ip for n in sim.nodes],
               NC_PORT=nc_port), netns=sim.front.netns, host=sim.front.priv_ip)
    try:
        start_in_front(d, sim.front)
        cc = CcClient(d.url, netns=sim.front.netns)
        nodes = cc.wait_nodes(all_up(2), timeout=30)
        assert all(int(v["coresMax"]) > 0 and int(v["memoryMax"]) > 0 for v in nodes.values())
        ncs[1].stop(signal.SIGKILL)
        url = "http://%s:%d/" % (sim.nodes[1].priv_ip, nc_port)
        cc.wait_nodes(lambda n: n[url]["state"] == "DOWN", what="killed NC down")
        ncs[1] = start_nc(sim.nodes[1], str(tmp_path / "node2b"), port=nc_port)
        cc.wait_nodes(all_up(2), timeout=30, what="restarted NC back")
    finally:
        if d.proc and d.proc.poll() is None:
            d.stop(signal.SIGKILL)
        for n in ncs:
            if n.proc and n.proc.poll() is None:
                n.stop(signal.SIGKILL)
