"""EBS volumes in real guests: karri-ebs on the front end, karri-nc on the nodes.

The three ways a volume reaches a guest (DESIGN.md section 2), with real
frames on the simulated storage network:

  - node side, userspace initiator: karri-ebs serves AoE on the front end's
    storage NIC (eth1), the NC is given remoteDev aoe:eS.L, finds no
    /dev/etherd (the host has no aoe module), starts karri-aoe on its own
    eth1 and hot-plugs the NBD socket.  The guest writes a pattern and reads
    it back; after detach the host finds the pattern byte for byte in the
    volume file, and a guest on the other node reads the same pattern.  On
    the way, the NC restarts a karri-aoe that died and, restarted itself,
    adopts the one that runs.
  - guest-side AoE (NC_GUEST_AOE=io): an io-class instance gets a second
    virtio NIC on the node's storage NIC (macvtap, MTU 9000), EBS exports
    the volume to that NIC's MAC only, ncAttachVolume records the path as
    "guest" and the guest's own aoe.ko finds the volume, writes a pattern
    and reads it back; after detach the host finds it in the volume file,
    and the node's own initiator (another MAC) gets no answer.

The node side has no kernel AoE here, so the "phy" path (/dev/etherd/eS.L)
is not run; its parsing is covered by nc/domain_xml-test.
"""

import glob
import os
import shutil
import signal
import subprocess

import pytest

from harness.nsebs import NsEbs
from harness.wait import wait_for
from harness.daemons import BUILD, Daemon
from harness.nc import (ImageServer, call, describe, node_leftovers, ok, run_instance, start_nc,
                        wait_console, wait_state)

A1 = "i-0000e0a1"      # node1: writes the pattern through karri-aoe
B1 = "i-0000e0b1"      # node2: reads it after the move
G1 = "i-0000e0c1"      # node1: guest-side AoE
VOL, GVOL = "vol-0000e001", "vol-0000e002"
HEX, GHEX, MIB = "c0ffee01", "a0e0a0e0", 4
G1_STORAGE_MAC = "d2:0d:00:00:e0:c1"   # the NC's: d2:0d + the id's hex
AOE = os.path.join(BUILD, "ebs", "karri-aoe")


def pattern(hexstr, mib):
    """The bytes tests/guest/init writes for karri.volume=pattern:HEX:MIB."""
    line = ("KARRIVOL " + hexstr).ljust(31).encode() + b"\n"
    return line * (mib * (1 << 20) // len(line))


def mac_of(host, dev):
    out = subprocess.run(["ip", "-n", host.netns, "-o", "link", "show", dev], capture_output=True,
                         text=True, check=True).stdout
    return out.split("link/ether")[1].split()[0]


def helpers(instance_path):
    """pid -> argv of the karri-aoe processes serving sockets under instance_path."""
    found = {}
    for d in glob.glob("/proc/[0-9]*"):
        try:
            argv = open(d + "/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        if args and args[0].endswith("karri-aoe") and any(a.startswith(instance_path)
                                                           for a in args):
            found[int(d[6:])] = args
    return found


def _answers(d):
    if d.proc.poll() is not None:
        raise RuntimeError("%s exited: %s" % (d.name, d.stderr()))
    try:
        d.describe(timeout=2)
        return True
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def world(sim, guest, tmp_path_factory):
    base = tmp_path_factory.mktemp("ebsnc")
    www = base / "www"
    www.mkdir()
    for name, src in (("vmlinuz", guest.vmlinuz), ("initrd", guest.initrd),
                      ("disk.img", guest.disk)):
        shutil.copyfile(src, str(www / name))
    front, n1, n2 = sim.front, sim.nodes[0], sim.nodes[1]
    w = {"base": str(base), "procs": []}
    srv = ImageServer(front, str(www), str(base / "imgserver.log"),
                      port=19000 + os.getpid() % 1000)
    w["srv"] = srv
    w["images"] = {"image_id": "emi-0000e0e0", "image_url": srv.url("disk.img"),
                   "kernel_id": "eki-0000e0e0", "kernel_url": srv.url("vmlinuz"),
                   "ramdisk_id": "eri-0000e0e0", "ramdisk_url": srv.url("initrd")}
    ebs = Daemon("karri-ebs", str(base / "ebs"), {"EBS_STORAGE_INTERFACE": "eth1",
                                                  "EBS_MAX_VOLUME_SIZE": 1},
                 netns=front.netns, host=front.priv_ip)
    try:
        for d in (ebs,):
            d.start(wait=False)
            w["procs"].append(d)
            # Daemon.wait_ready() gives up on the first refused connection
            # inside a namespace: poll here
            wait_for(lambda: _answers(d), 20, d.name)
        w["ebs"] = ebs
        cfg = {"NC_AOE_INITIATOR": AOE, "NC_STORAGE_INTERFACE": "eth1", "NC_GUEST_AOE": "io"}
        for key, node in (("nc1", n1), ("nc2", n2)):
            home = str(base / key)
            w[key] = start_nc(node, home, cfg)
            w[key + "_home"] = home
            w[key + "_cfg"] = cfg
        yield w
    finally:
        # the test may have replaced an NC it restarted: clean up through the current one
        ncs = [w[k] for k in ("nc1", "nc2") if k in w]
        for nc in ncs:
            try:
                for iid in describe(nc):
                    call(nc, "ncTerminateInstance", {"instanceId": iid})
            except Exception:
                pass
        for nc in ncs:
            nc.stop()
        # whatever a failed test left: guests and helpers, so later tests start clean
        for node in (n1, n2):
            sim.destroy_domains(node)
        for key in ("nc1_home", "nc2_home"):
            for pid in helpers(os.path.join(w.get(key, "/nonexistent"), "instances")):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for d in w["procs"]:
            d.stop()
        srv.stop()
        shutil.rmtree(str(base / "ebs" / "var/lib/karri/volumes"), ignore_errors=True)


def test_volume_through_userspace_aoe_moves_between_nodes(world, sim):
    n1, n2 = sim.nodes[0], sim.nodes[1]
    nc1, nc2 = world["nc1"], world["nc2"]
    ebs = NsEbs(world["ebs"])
    inst1 = os.path.join(world["nc1_home"], "instances")
    inst2 = os.path.join(world["nc2_home"], "instances")

    assert ebs.create_volume(VOL, 1)["return"] == "true"
    e = ebs.export_volume(VOL, [mac_of(n1, "eth1")])
    assert e["return"] == "true", e
    remote = "aoe:e%s.%s" % (e["shelf"], e["slot"])

    params = "karri.hold=forever karri.hotplug karri.volume=pattern:%s:%d" % (HEX, MIB)
    ok(run_instance(nc1, A1, world["images"], params=params))
    ok(run_instance(nc2, B1, world["images"], params="karri.hold=forever karri.hotplug "
                    "karri.volume=verify:%s:%d" % (HEX, MIB)))
    for nc, iid in ((nc1, A1), (nc2, B1)):
        wait_state(nc, iid, timeout=120)

    # -- node side: the NC starts karri-aoe and hot-plugs its NBD socket
    wait_console(nc1, A1, lambda r: r.up, timeout=60)
    r = ok(call(nc1, "ncAttachVolume", {"instanceId": A1, "volumeId": VOL, "remoteDev": remote,
                                        "localDev": "vdc"}))
    assert r["attachment"] == "nbd"
    v = describe(nc1, A1)[A1]["volumes"]
    assert v["volumeId"] == VOL and v["attachment"] == "nbd" and v["remoteDev"] == remote
    h = helpers(inst1)
    assert len(h) == 1, h
    (pid, argv), = h.items()
    sock = os.path.join(inst1, "instances", A1, VOL + ".nbd")
    assert argv[1:] == ["nbd", "-i", "eth1", "-t", remote[5:], "--socket", sock], argv
    rep = wait_console(nc1, A1, lambda r: r.all("volume"), timeout=120)
    vl = rep.all("volume")
    assert vl and vl[0]["wrote"] == "1" and vl[0]["read_ok"] == "1", rep.text[-3000:]

    # A helper that dies while attached is started again on the same socket.
    os.kill(pid, signal.SIGKILL)
    h = wait_for(lambda: {p: a for p, a in helpers(inst1).items() if p != pid}, 20,
                 "a new karri-aoe")
    pid2 = list(h)[0]
    # It binds the socket once it has found the target: wait for that, bounded.
    wait_for(lambda: os.path.exists(sock), 20, "the new karri-aoe's socket")
    # ... and the NC records it just after: killing the NC before that would
    # leave pid2 unknown to the next NC (a window the test must not race).
    meta = os.path.join(inst1, "instances", A1, "meta")
    wait_for(lambda: "volume_helper=%s %d " % (VOL, pid2) in open(meta).read(), 20,
             "the NC to record karri-aoe pid %d" % pid2)
    # A restarted NC adopts the helper that runs: not its child any more.
    nc1.proc.send_signal(signal.SIGKILL)
    nc1.proc.wait(10)
    nc1 = world["nc1"] = start_nc(n1, world["nc1_home"], world["nc1_cfg"])
    assert describe(nc1, A1)[A1]["volumes"]["attachment"] == "nbd"
    assert list(helpers(inst1)) == [pid2]

    # Detach: unplug, stop karri-aoe, remove the socket.
    ok(call(nc1, "ncDetachVolume", {"instanceId": A1, "volumeId": VOL}))
    assert helpers(inst1) == {} and not os.path.exists(sock)
    assert "volumes" not in describe(nc1, A1)[A1]

    # The host sees the guest's bytes in the volume file.
    vfile = os.path.join(world["ebs"].home, "var/lib/karri/volumes", VOL + ".img")
    want = pattern(HEX, MIB)
    with open(vfile, "rb") as f:
        got = f.read(len(want))
    assert got == want, "pattern differs from byte %d" % next(
        i for i in range(len(want)) if got[i:i + 1] != want[i:i + 1])

    # The volume moves to node2 (issue 8): re-exported to its MAC only.
    assert ebs.export_volume(VOL, [mac_of(n2, "eth1")])["return"] == "true"
    wait_console(nc2, B1, lambda r: r.up, timeout=60)
    r = ok(call(nc2, "ncAttachVolume", {"instanceId": B1, "volumeId": VOL, "remoteDev": remote}))
    assert r["attachment"] == "nbd"
    rep = wait_console(nc2, B1, lambda r: r.all("volume"), timeout=120)
    vl = rep.all("volume")
    assert vl and vl[0]["mode"] == "verify" and vl[0]["read_ok"] == "1", rep.text[-3000:]
    assert len(helpers(inst2)) == 1
    # Terminate detaches first: nothing left behind.
    ok(call(nc2, "ncTerminateInstance", {"instanceId": B1}))
    ok(call(nc1, "ncTerminateInstance", {"instanceId": A1}))
    for nc, iid in ((nc2, B1), (nc1, A1)):
        wait_state(nc, iid, states=("Teardown",), timeout=60)
    assert helpers(inst1) == {} and helpers(inst2) == {}
    assert glob.glob(os.path.join(world["base"], "nc*", "instances", "instances", "*",
                                  "*.nbd")) == []
    wait_for(lambda: not node_leftovers(n1, inst1, [A1]) and
             not node_leftovers(n2, inst2, [B1]), 30, "the nodes to be clean")


def test_volume_by_guest_side_aoe(world, sim):
    """An io-class instance on an NC_GUEST_AOE=io node: its own storage NIC,
    its own aoe driver, nothing of the volume on the host."""
    n1, nc1 = sim.nodes[0], world["nc1"]
    ebs = NsEbs(world["ebs"])
    inst1 = os.path.join(world["nc1_home"], "instances")
    params = ("karri.hold=forever karri.hotplug karri.aoe=auto karri.bootpattern=vda "
              "karri.volume=pattern:%s:%d" % (GHEX, MIB))
    r = ok(run_instance(nc1, G1, world["images"], io_class="io", params=params))
    # the choice is reported: the NIC's MAC is what EBS must allow
    assert r["instance"]["netAttachment"] == "model=virtio storage=" + G1_STORAGE_MAC
    assert r["instance"]["diskAttachment"] == "bus=virtio backing=tap store=raw cache=none io=native"
    wait_state(nc1, G1, timeout=120)
    rep = wait_console(nc1, G1, lambda r: r.all("aoe"), timeout=90)
    # virtio-raw: the root disk, a pre-allocated raw file, written and read back
    root = [v for v in rep.all("volume") if v["name"] == "vda"]
    assert root and root[0]["wrote"] == "1" and root[0]["read_ok"] == "1", rep.text[-3000:]
    assert rep.disk("vda")["bus"] == "virtio"
    nic = [n for n in rep.all("nic") if n["mac"] == G1_STORAGE_MAC]
    assert nic and nic[0]["driver"] == "virtio_net", rep.text[-3000:]
    a = rep.all("aoe")[0]
    assert a["interfaces"] == nic[0]["name"] and a["mtu"] == "9000", rep.text[-3000:]

    assert ebs.create_volume(GVOL, 1)["return"] == "true"
    e = ebs.export_volume(GVOL, [G1_STORAGE_MAC])
    assert e["return"] == "true", e
    target = "%s.%s" % (e["shelf"], e["slot"])
    r = ok(call(nc1, "ncAttachVolume", {"instanceId": G1, "volumeId": GVOL,
                                        "remoteDev": "aoe:e" + target, "localDev": "vdc"}))
    assert r["attachment"] == "guest"
    v = describe(nc1, G1)[G1]["volumes"]
    assert v["volumeId"] == GVOL and v["attachment"] == "guest"
    assert helpers(inst1) == {}     # nothing on the host: no karri-aoe, no disk
    name = "etherd!e" + target
    rep = wait_console(nc1, G1, lambda r: [v for v in r.all("volume") if v["name"] == name],
                       timeout=120)
    hp = [d for d in rep.all("hotplug") if d["name"] == name]
    assert hp and hp[0]["bus"] == "aoe" and hp[0]["size"] == str(1 << 30), rep.text[-3000:]
    vl = [v for v in rep.all("volume") if v["name"] == name]
    assert vl[0]["wrote"] == "1" and vl[0]["read_ok"] == "1", rep.text[-3000:]

    # Another MAC gets nothing: the node's own initiator asks the same target
    # on the same network and is not answered.
    q = subprocess.run(["ip", "netns", "exec", n1.netns, AOE, "discover", "-i", "eth1",
                        "-t", target, "-T", "2000"], capture_output=True, text=True, timeout=60)
    assert q.returncode != 0, q.stdout

    # Detach: the NC forgets it, EBS withdraws the export; the bytes are on
    # the EBS host.
    ok(call(nc1, "ncDetachVolume", {"instanceId": G1, "volumeId": GVOL}))
    assert "volumes" not in describe(nc1, G1)[G1]
    assert ebs.unexport_volume(GVOL)["return"] == "true"
    vfile = os.path.join(world["ebs"].home, "var/lib/karri/volumes", GVOL + ".img")
    want = pattern(GHEX, MIB)
    with open(vfile, "rb") as f:
        assert f.read(len(want)) == want
    ok(call(nc1, "ncTerminateInstance", {"instanceId": G1}))
    wait_state(nc1, G1, states=("Teardown",), timeout=60)
    wait_for(lambda: not node_leftovers(n1, inst1, [G1]), 30, "the node to be clean")
