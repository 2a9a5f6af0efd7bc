"""karri-nc on an INSTANCE_PATH with reflink (XFS on a loop device): a
standard instance's root is a reflink clone of the cached base, raw and
made in O(1), its tail allocated; no raw clones are made in the background.

The XFS is mounted twice at one path: on the host (the NC starts from
there) and inside the node's libvirtd mount namespace (private: the host's
later mounts do not reach it), so QEMU opens the same file.
Skipped where there is no mkfs.xfs (xfsprogs) or no XFS in the kernel.
"""

import os
import shutil
import subprocess
import time

import pytest

from harness.daemons import BUILD
from harness.nc import (ImageServer, call, describe, ok, run_instance, start_nc, wait_console,
                        wait_state)

R1 = "i-0000e701"
IMG = "emi-0000e70d"


def _xfs_unavailable():
    if not shutil.which("mkfs.xfs"):
        return "no mkfs.xfs (xfsprogs)"
    with open("/proc/filesystems") as f:
        if not any(line.split()[-1:] == ["xfs"] for line in f):
            return "the kernel has no XFS"
    return None


def sh(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, check=True, **kw).stdout


@pytest.fixture(scope="module")
def world(sim, guest, tmp_path_factory):
    why = _xfs_unavailable()
    if why:
        pytest.skip(why)
    base = tmp_path_factory.mktemp("ncreflink")
    www = base / "www"
    www.mkdir()
    for name, src in (("vmlinuz", guest.vmlinuz), ("initrd", guest.initrd), ("disk.img", guest.disk)):
        shutil.copyfile(src, str(www / name))
    srv = ImageServer(sim.front, str(www), str(base / "imgserver.log"),
                      port=19500 + os.getpid() % 400)
    node = sim.nodes[1]
    fsfile, mnt = str(base / "xfs.img"), str(base / "xfs")
    os.mkdir(mnt)
    with open(fsfile, "wb") as f:
        f.truncate(1 << 30)
    sh(["mkfs.xfs", "-q", "-m", "reflink=1", fsfile])
    dev = sh(["losetup", "--find", "--show", fsfile]).strip()
    with open(os.path.join(node.state, "run", "libvirtd.pid")) as f:
        lvpid = f.read().strip()
    mounted = []
    w = {"srv": srv, "node": node, "mnt": mnt, "home": str(base / "nc"), "nc": None,
         "images": {"image_id": IMG, "image_url": srv.url("disk.img"),
                    "kernel_id": "eki-0000e70d", "kernel_url": srv.url("vmlinuz"),
                    "ramdisk_id": "eri-0000e70d", "ramdisk_url": srv.url("initrd")}}
    try:
        sh(["mount", "-t", "xfs", dev, mnt])
        mounted.append([])
        sh(["nsenter", "-t", lvpid, "-m", "mount", "-t", "xfs", dev, mnt])
        mounted.append(["nsenter", "-t", lvpid, "-m"])
        w["nc"] = start_nc(node, w["home"], {"INSTANCE_PATH": mnt})
        yield w
    finally:
        nc = w["nc"]
        if nc is not None and nc.proc.poll() is None:
            try:
                for iid in describe(nc):
                    call(nc, "ncTerminateInstance", {"instanceId": iid})
                    wait_state(nc, iid, states=("Teardown",), timeout=60)
            except Exception:
                pass
            nc.stop()
            print(nc.log()[-3000:])
        srv.stop()
        for prefix in reversed(mounted):
            for _ in range(50):     # QEMU may hold a file for a moment after its end
                if subprocess.run(prefix + ["umount", mnt], capture_output=True).returncode == 0:
                    break
                time.sleep(0.2)
        subprocess.run(["losetup", "-d", dev], capture_output=True)


def test_standard_root_is_a_reflink(world, guest):
    nc = world["nc"]
    log = nc.log()
    assert "reflink yes" in log and "raw clones: up to" not in log
    r = ok(run_instance(nc, R1, world["images"]))
    # decided at once, before the image is even cached: reflink needs no clone
    assert r["instance"]["diskAttachment"] == "bus=virtio backing=tap store=raw cache=none io=native"
    assert "standard class: reflink clone of the cached base: O(1), raw speed" in nc.log()
    assert wait_state(nc, R1, timeout=90)["stateDetail"] == "RUNNING"
    assert "%s: root is a reflink clone of the cached base" % R1 in nc.log()
    root = os.path.join(world["mnt"], "instances", R1, "root.raw")
    st = os.stat(root)
    assert st.st_size == os.path.getsize(guest.disk)
    assert st.st_blocks * 512 >= st.st_size, "the root is sparse"
    # its extents are the cached image's (FIEMAP: "shared")
    assert "shared" in sh(["filefrag", "-v", root])
    clones = os.path.join(world["mnt"], "cache", "clones")
    assert not os.path.isdir(clones) or os.listdir(clones) == []
    rep = wait_console(nc, R1, lambda x: x.done, timeout=120)
    assert rep.up and rep.done, rep.tail()
    roots = [x for x in rep.all("disk") if x["label"] == guest.disk_label]
    assert len(roots) == 1 and roots[0]["name"] == "vda", rep.tail()


def test_unit_tests_on_xfs(world):
    """nc/raw_clone-test on the XFS: the probe says yes, and a reflink of a
    3 MiB + 5 byte image gets its tail allocated to 4 MiB."""
    exe = os.path.join(BUILD, "nc", "raw_clone-test")
    if not os.path.exists(exe):
        pytest.skip("no %s (make -C nc check builds it)" % exe)
    r = subprocess.run([exe], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, KARRI_TEST_DIR=world["mnt"], CK_FORK="yes"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "reflink in %s/karri-raw-clone-" % world["mnt"] in r.stderr
    assert ": yes" in r.stderr, r.stderr
