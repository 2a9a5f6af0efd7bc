"""karri-cc split the OpenBSD way (docs/decisions.md, "karri-cc split the
OpenBSD way"): started as root, it is a root parent with only a few network
capabilities and an unprivileged child (karri, no capability) that parses
everything from the network.  Seen here from the outside, in a simulated
front end (a network namespace of a karri.sim Sim, no libvirt):

  * /proc/PID/status of both processes;
  * the child's requests reach the host through the parent (a network's
    gateway address, Karri's iptables chains) and a clean stop removes them;
  * a SOAP request for an address outside VNET_PUBLICIPS is refused by the
    child, and the same request written straight onto the real pair -- as a
    child taken over by an attacker would -- is refused and logged by the
    parent, which then stops both processes;
  * parent and child die together, whichever is stopped or killed.

To write onto the pair the test takes a copy of the child's end of it with
pidfd_getfd(2) (root may), so the daemon carries no test hook at all."""

import ctypes
import os
import pwd
import shutil
import signal
import socket
import struct

import pytest

from harness import procfs, simlife
from harness.cc import CcClient
from harness.ccnet import cc_home, netns_run, start_in_front
from harness.daemons import Daemon
from harness.wait import wait_for

pytestmark = pytest.mark.root

PUBLIC = ["10.82.0.200", "10.82.0.201"]
OUTSIDE = "203.0.113.99"

# The parent's capabilities (cc/priv_fork.c), as bits of CapEff/CapPrm/CapBnd.
CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW = 5, 6, 7, 10, 12, 13
PARENT_CAPS = sum(1 << c for c in (CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_NET_BIND_SERVICE,
                                   CAP_NET_ADMIN, CAP_NET_RAW))
CC_PRIV_ADDRESS_ASSIGN = 6            # cc/priv.h


@pytest.fixture(scope="module")
def netsim():
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, and a parent that keeps root")
    simlife.reap_stale()
    s = simlife.start(simlife.session_prefix("p"), nodes=1, libvirt=False)
    try:
        yield s
    finally:
        simlife.stop(s)


@pytest.fixture
def cc(netsim):
    home = cc_home()
    cfg = {"VNET_MODE": "MANAGED-NOVLAN", "VNET_SUBNET": "10.102.0.0",
           "VNET_NETMASK": "255.255.0.0", "VNET_ADDRSPERNET": 32,
           "VNET_PRIVINTERFACE": "eth0", "VNET_PUBINTERFACE": "eth0",
           "VNET_PUBLICIPS": "%s-%s" % (PUBLIC[0], PUBLIC[1]), "VNET_DHCPUSER": "dnsmasq",
           "NODES": "", "NC_POLLING_FREQUENCY": 1}
    d = Daemon("karri-cc", home, cfg, netns=netsim.front.netns, host=netsim.front.priv_ip)
    try:
        start_in_front(d, netsim.front)
        yield d
    finally:
        if d.proc and d.proc.poll() is None:
            d.stop()
        # What a killed CC left: its dnsmasq (its pid file is in this home), addresses.
        for pid in netns_run(netsim.front.netns, ["ip", "netns", "pids",
                                                  netsim.front.netns]).stdout.split():
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if home.encode() in f.read():
                        os.kill(int(pid), signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass
        netns_run(netsim.front.netns, ["ip", "addr", "flush", "dev", "eth0", "scope", "global",
                                       "to", "10.102.0.0/16"])
        shutil.rmtree(home, ignore_errors=True)




def child_of(pid):
    """The CC's child: the one process the parent forked (its dnsmasqs aside)."""
    def find():
        for c in procfs.children(pid):
            with open("/proc/%d/comm" % c) as g:
                if g.read().strip() == "karri-cc":
                    return c
        return None
    return wait_for(find, timeout=10, what="karri-cc's child")


def gone(pid):
    try:
        return procfs.state(pid) == "Z"
    except FileNotFoundError:
        return True


def front_addrs(sim):
    return netns_run(sim.front.netns, ["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout


def pair_of(child):
    """A copy of the child's end of the privsep pair (a SOCK_SEQPACKET socket)."""
    seqpacket = set()
    with open("/proc/%d/net/unix" % child) as f:
        next(f)
        for line in f:
            cols = line.split()
            if cols[4] == "0005":
                seqpacket.add(cols[6])
    fd_dir = "/proc/%d/fd" % child
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in seqpacket:
            libc = ctypes.CDLL(None, use_errno=True)
            pidfd = os.pidfd_open(child)
            try:
                mine = libc.syscall(438, pidfd, int(fd), 0)     # pidfd_getfd
            finally:
                os.close(pidfd)
            assert mine >= 0, os.strerror(ctypes.get_errno())
            return socket.socket(fileno=mine)
    raise AssertionError("no SOCK_SEQPACKET socket in karri-cc's child")


def test_parent_keeps_root_with_few_capabilities_the_child_none(cc, netsim):
    karri = pwd.getpwnam("karri")
    parent, child = cc.proc.pid, child_of(cc.proc.pid)
    p, c = procfs.status(parent), procfs.status(child)
    assert p["Uid"] == [0] * 4, p
    for cap in ("CapEff", "CapPrm", "CapBnd"):
        assert p[cap] == PARENT_CAPS, "%s=%#x" % (cap, p[cap])
    assert c["Uid"] == [karri.pw_uid] * 4 and c["Gid"] == [karri.pw_gid] * 4, c
    for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
        assert c[cap] == 0, "%s=%#x" % (cap, c[cap])
    assert c["NoNewPrivs"] == "1"
    # The port is the child's alone.
    ss = netns_run(netsim.front.netns, ["ss", "-Htlnp", "sport", "= :%d" % cc.port]).stdout
    assert "pid=%d," % child in ss and "pid=%d," % parent not in ss, ss

    # What the child asks reaches the host through the parent: StartNetwork puts
    # the group's gateway on eth0 and its chain in iptables.
    client = CcClient(cc.url, netns=netsim.front.netns)
    assert client.start_network(10, "web")["return"] == "true"
    assert "10.102.1.65/27" in front_addrs(netsim)
    assert "KARRI-G10" in netns_run(netsim.front.netns, ["iptables", "-S"]).stdout
    assert client.assign_address(PUBLIC[0], "10.102.1.66")["return"] == "true"
    assert PUBLIC[0] + "/32" in front_addrs(netsim)

    # A clean stop of the pid the supervisors know stops both and removes the network.
    assert cc.stop() == 0
    assert gone(child)
    assert "10.102.1.65" not in front_addrs(netsim) and PUBLIC[0] not in front_addrs(netsim)
    assert "KARRI-G10" not in netns_run(netsim.front.netns, ["iptables", "-S"]).stdout


def test_an_address_outside_the_pool_is_refused_by_child_and_parent(cc, netsim):
    client = CcClient(cc.url, netns=netsim.front.netns)
    child = child_of(cc.proc.pid)

    # Over SOAP: the child refuses, before asking anything.
    r = client.assign_address(OUTSIDE, "10.102.0.66")
    assert r["return"] == "false" and "VNET_PUBLICIPS" in (r.get("statusMessage") or ""), r
    assert OUTSIDE not in front_addrs(netsim)
    assert client.describe_networks()["mode"] == "MANAGED-NOVLAN"   # still serving

    # Straight onto the pair, as a child that runs someone else's code would.
    with pair_of(child) as s:
        s.send(struct.pack("=II", CC_PRIV_ADDRESS_ASSIGN, 4) +
               struct.pack("=I", int.from_bytes(socket.inet_aton(OUTSIDE), "big")))
    assert cc.proc.wait(15) == 1
    assert gone(child)
    log = cc.log()
    assert "refused: ADDRESS: %s is not in VNET_PUBLICIPS" % OUTSIDE in log, log[-2000:]
    assert "the child broke the contract" in log
    assert OUTSIDE not in front_addrs(netsim)


def test_an_unknown_request_stops_both(cc, netsim):
    child = child_of(cc.proc.pid)
    with pair_of(child) as s:
        s.send(struct.pack("=II", 99, 0))
    assert cc.proc.wait(15) == 1
    assert gone(child)
    assert "privsep: unknown request type 99" in cc.log()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_parent_ends_as_its_child_does(cc, netsim, sig):
    client = CcClient(cc.url, netns=netsim.front.netns)
    assert client.start_network(12, "db")["return"] == "true"
    child = child_of(cc.proc.pid)
    os.kill(child, sig)
    code = cc.proc.wait(15)
    if sig == signal.SIGTERM:
        # A clean stop: the child removed the network through the parent first.
        assert code == 0
        assert "10.102.1.129" not in front_addrs(netsim)
    else:
        # Killed: so is the parent, and what was made stays for the next start.
        assert code == -signal.SIGKILL
        assert "10.102.1.129" in front_addrs(netsim)


def test_a_killed_parent_takes_the_child_with_it(cc, netsim):
    child = child_of(cc.proc.pid)
    assert cc.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_for(lambda: gone(child), timeout=10, what="the child's end")




def test_stopping_the_process_group_stops_both_and_continuing_it_continues_both(cc, netsim):
    """SIGSTOP to the CC's process group (the pid the supervisors know, which
    starts its own session) makes the whole CC hang, as a hung CC would (the
    CLC's stalled-backend tests do this)."""
    parent, child = cc.proc.pid, child_of(cc.proc.pid)
    os.killpg(parent, signal.SIGSTOP)
    try:
        wait_for(lambda: procfs.state(child) == "T", timeout=5, step=0.01,
                 what="the child stopped with its parent")
    finally:
        os.killpg(parent, signal.SIGCONT)
    wait_for(lambda: procfs.state(child) != "T", timeout=5, step=0.01,
             what="the child continued with its parent")
    assert CcClient(cc.url, netns=netsim.front.netns).describe_networks()["mode"] == \
        "MANAGED-NOVLAN"
