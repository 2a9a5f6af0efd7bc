"""Life cycle of the simulated hosts in a test session.

Each pytest process gets its own prefix, "kt<pid>", so test runs, parallel
workers and a running ./quickstart (prefix "kq") never touch each other.  A sim
is torn down by the fixture's finally, and -- should that not run (SIGTERM,
SIGHUP, an exit from elsewhere) -- by an atexit hook and a signal handler.
What a killed (SIGKILL) session leaves is removed by the next session:
reap_stale() downs every "kt<pid>" sim whose pid is no longer running.
"""

import atexit
import json
import os
import re
import signal
import subprocess
import sys
import types

import karri.sim

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

BUILD_GUEST = os.path.join(REPO, "tests", "guest", "build-guest")
STALE_RE = re.compile(r"^kt(\d+)[a-z]?$")

_live = []                 # sims this process has up, for the safety net


def session_prefix(suffix=""):
    return "kt%d%s" % (os.getpid(), suffix)


def _down_all():
    while _live:
        sim = _live.pop()
        try:
            sim.down(quiet=True)
        except Exception as e:          # best effort at exit: report, go on
            print("karri-sim: teardown of %s failed: %s" % (sim.prefix, e), file=sys.stderr)


def _on_signal(signum, _frame):
    _down_all()
    # Die of the same signal, so whoever sent it sees the usual status.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


_installed = False


def _install_safety_net():
    global _installed
    if _installed:
        return
    atexit.register(_down_all)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)
    _installed = True


def reap_stale():
    """Down the sims of test sessions that died without cleaning up."""
    prefixes = set()
    for ns in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        prefixes.add(ns.rsplit("-", 1)[0])
    if os.path.isdir(karri.sim.STATE_BASE):
        prefixes.update(os.listdir(karri.sim.STATE_BASE))
    for p in sorted(prefixes):
        m = STALE_RE.match(p)
        # A zombie counts as dead: a SIGKILLed session may not be reaped yet.
        if m and int(m.group(1)) != os.getpid() and not karri.sim._alive(int(m.group(1))):
            print("karri-sim: removing stale test sim %s" % p, file=sys.stderr)
            karri.sim.Sim(p).down(quiet=True)


def start(prefix, nodes=2, **kw):
    """Up a sim that is torn down at exit whatever happens."""
    _install_safety_net()
    sim = karri.sim.Sim(prefix, nodes=nodes, **kw)
    _live.append(sim)
    sim.up()
    return sim


def stop(sim):
    try:
        sim.down(quiet=True)
    finally:
        forget(sim)


def forget(sim):
    """Take a sim off the safety net (its owner downs it some other way)."""
    if sim in _live:
        _live.remove(sim)


def free_net_index(first=200):
    """A network index whose host-link /30 (10.83.I.0/30) is not in use in
    the root namespace: sims with --host-link must not share one."""
    used = subprocess.run(["ip", "-4", "-o", "addr", "show"], stdout=subprocess.PIPE,
                          text=True).stdout
    for i in range(first, 256):
        if " 10.83.%d." % i not in used:
            return i
    raise RuntimeError("no free 10.83.I.0/30 for a host link")


def netns_ids(prefix):
    """{namespace name: "net:[inode]"} of a sim's namespaces, taken while it
    is up, so that leftovers() can find processes still inside them after
    the names are gone."""
    ids = {}
    for n in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if n.startswith(prefix + "-"):
            ids[n] = "net:[%d]" % os.stat(os.path.join("/run/netns", n)).st_ino
    return ids


def leftovers(prefix, state_dir=None, ids=None):
    """What a sim of this prefix left behind, as readable strings: its
    namespaces, processes (inside one of its namespaces `ids`, from
    netns_ids(), or with its state dir on their command line),
    root-namespace links, state dir.  [] when it is all gone."""
    state_dir = state_dir or os.path.join(karri.sim.STATE_BASE, prefix)
    ids = set((ids or {}).values())
    left = []
    left += ["netns " + n for n in netns_ids(prefix)]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            net = os.readlink("/proc/%s/ns/net" % pid)
        except OSError:                 # gone, or a zombie
            continue
        if net in ids or state_dir + "/" in cmd:
            left.append("process %s %s" % (pid, cmd))
    links = subprocess.run(["ip", "-o", "link", "show"], stdout=subprocess.PIPE, text=True).stdout
    left += ["link " + line.split(":")[1].strip() for line in links.splitlines()
             if ": %s-" % prefix in line]
    if os.path.exists(state_dir):
        left.append("state dir " + state_dir)
    return left


def build_guest(flavor="cloud", timeout=900):
    """Build (or find cached) the test guest; returns its paths and facts
    (.vmlinuz .initrd .disk .kernel_release .modules .disk_label .nic_models)."""
    p = subprocess.run(["/usr/bin/python3", BUILD_GUEST, "--flavor", flavor], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("build-guest failed:\n" + p.stderr)
    info = json.loads(p.stdout)
    return types.SimpleNamespace(**{k: info[k] for k in (
        "vmlinuz", "initrd", "disk", "kernel_release", "modules", "disk_label", "nic_models")})
