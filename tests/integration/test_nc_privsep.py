"""karri-nc split the OpenBSD way (NC_PRIVSEP=Y; docs/decisions.md, "karri-nc
split the OpenBSD way"), on a real NC this test starts in a simulated node,
with the node's own libvirtd + QEMU (TCG) behind it.

As /proc/PID/status shows them: the parent (the process the harness started)
is root with only CAP_DAC_OVERRIDE, CAP_NET_ADMIN, CAP_KILL and what the
karri-aoe it starts needs to open its raw socket and drop (CAP_NET_RAW,
CAP_SETUID, CAP_SETGID, CAP_SETPCAP), also as its bounding set; its one
child, the NC that listens, is karri with no capability.  An instance
launched over SOAP runs (the parent created its domain from the child's
request), its files are karri's but for the console file root made; a run
request naming a port of the node's bridge as the bridge is refused and
logged, and both processes go on; terminating leaves nothing on the node.
When the child dies, the parent goes too.  (The NC suites, test_nc*.py and
test_ebs_nc.py, run the split NC too: NC_PRIVSEP=Y is the default.)
"""

import os
import shutil
import signal
import subprocess

import pytest

from harness import daemon_user, procfs
from harness.nc import (ImageServer, call, describe, node_leftovers, ok, run_instance,
                        start_nc, wait_state)
from harness.wait import wait_for

pytestmark = pytest.mark.root

RUN = "i-0000d001"
BAD_BRIDGE = "i-0000d002"
# DAC_OVERRIDE, KILL, SETGID, SETUID, SETPCAP, NET_ADMIN, NET_RAW
PARENT_CAPS = (1 << 1) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 12) | (1 << 13)






@pytest.fixture(scope="module")
def world(sim, guest, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the NC splits itself only when root starts it")
    pw = daemon_user.ensure_user()
    base = tmp_path_factory.mktemp("ncpriv")
    www = base / "www"
    www.mkdir()
    for name, src in (("vmlinuz", guest.vmlinuz), ("initrd", guest.initrd),
                      ("disk.img", guest.disk)):
        shutil.copyfile(src, str(www / name))
    srv = ImageServer(sim.front, str(www), str(base / "imgserver.log"),
                      port=20000 + os.getpid() % 1000)
    node = sim.nodes[0]
    home = str(base / "nc")
    os.makedirs(home)
    daemon_user.reach(home)
    nc = start_nc(node, home, {"NC_PRIVSEP": "Y", "NC_RAW_CLONES": "0"})
    w = {"node": node, "nc": nc, "home": home, "pw": pw,
         "images": {"image_id": "emi-0000d00d", "image_url": srv.url("disk.img"),
                    "kernel_id": "eki-0000d00d", "kernel_url": srv.url("vmlinuz"),
                    "ramdisk_id": "eri-0000d00d", "ramdisk_url": srv.url("initrd")}}
    try:
        yield w
    finally:
        if nc.proc.poll() is None:
            for iid in (RUN, BAD_BRIDGE):
                try:
                    call(nc, "ncTerminateInstance", {"instanceId": iid})
                except Exception:
                    pass
            nc.stop()
        print(nc.log()[-4000:])
        srv.stop()


def test_parent_root_with_its_capabilities_child_karri_with_none(world):
    parent = world["nc"].proc.pid
    kids = procfs.children(parent)
    assert len(kids) == 1, kids
    p, c = procfs.status(parent), procfs.status(kids[0])
    assert p["Uid"] == [0] * 4, p
    for cap in ("CapEff", "CapPrm", "CapBnd"):
        assert p[cap] == PARENT_CAPS, "parent %s=%#x" % (cap, p[cap])
    assert p["CapInh"] == 0 and p["CapAmb"] == 0, p
    assert p["NoNewPrivs"] == "1", p
    pw = world["pw"]
    assert c["Uid"] == [pw.pw_uid] * 4, c
    assert c["Gid"] == [pw.pw_gid] * 4, c
    for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
        assert c[cap] == 0, "child %s=%#x" % (cap, c[cap])
    assert c["NoNewPrivs"] == "1", c
    # the child listens; the parent has no socket but the pair
    log = world["nc"].log()
    assert "privsep: parent %d serving child %d" % (parent, kids[0]) in log
    assert "privsep: child %d as karri" % kids[0] in log


def test_instance_runs_through_the_parent(world):
    nc, home, pw = world["nc"], world["home"], world["pw"]
    r = ok(run_instance(nc, RUN, world["images"]))
    assert r["instance"]["diskAttachment"].startswith("bus=virtio backing=tap store=qcow2 ")
    wait_state(nc, RUN, timeout=180)
    d = os.path.join(home, "instances", "instances", RUN)
    assert os.stat(os.path.join(d, "root.qcow2")).st_uid == pw.pw_uid
    assert os.stat(os.path.join(d, "console.log")).st_uid == 0   # made by the parent, fresh
    import libvirt
    conn = libvirt.open(world["node"].libvirt_uri)
    try:
        assert conn.lookupByName(RUN).isActive() == 1
    finally:
        conn.close()


def bridge_port(node):
    """A NIC of the node that is a port of its bridge."""
    out = subprocess.run(["ip", "-n", node.netns, "-o", "link", "show", "master", node.bridge],
                         capture_output=True, text=True, check=True).stdout
    return out.split(":")[1].strip().split("@")[0]


def test_bridge_off_the_list_refused_and_logged(world):
    nc, node = world["nc"], world["node"]
    # the node's own NIC (a port of its bridge): a guest must never sit on it
    ok(run_instance(nc, BAD_BRIDGE, world["images"],
                    netParams={"vlan": -1, "networkIndex": 0, "bridge": bridge_port(node)}))
    d = wait_state(nc, BAD_BRIDGE, states=("Teardown",), timeout=180)
    assert "bridge neither VNET_BRIDGE nor krbr<vlan>" in d.get("stateReason", ""), d
    assert "DOMAIN_CREATE refused: bridge neither VNET_BRIDGE nor krbr<vlan> (instance " \
        "\"%s\")" % BAD_BRIDGE in nc.log()
    # both still there, and serving
    assert nc.proc.poll() is None and len(procfs.children(nc.proc.pid)) == 1
    assert RUN in describe(nc)


def test_terminate_leaves_nothing(world):
    nc = world["nc"]
    ok(call(nc, "ncTerminateInstance", {"instanceId": RUN}))
    wait_state(nc, RUN, states=("Teardown",), timeout=120)
    ipath = os.path.join(world["home"], "instances")
    wait_for(lambda: not node_leftovers(world["node"], ipath, [RUN, BAD_BRIDGE]), 60,
             "nothing of %s left on the node" % RUN,
             detail=lambda: node_leftovers(world["node"], ipath, [RUN, BAD_BRIDGE]))


def test_parent_goes_with_its_child(world):
    nc = world["nc"]
    child = procfs.children(nc.proc.pid)[0]
    os.kill(child, signal.SIGKILL)
    assert nc.proc.wait(timeout=30) == 1
    assert "privsep: child %d ended (signal 9)" % child in nc.log()
