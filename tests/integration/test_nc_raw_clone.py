"""karri-nc: a standard instance's root as a raw clone made ahead of the
launch (nc/raw_clone.c), on a real NC + libvirtd + QEMU (TCG) in a
simulated node.

The test machine's file system (ext4) has no reflink, so the NC keeps
NC_RAW_CLONES (default 1) pre-allocated raw copies of each cached machine
image, made by a background thread.  One scenario, in order:

  S1  standard, image not cached yet   -> qcow2 overlay (no clone ready)
      ... "raw clone of emi-... ready" in the NC's log (an event, no sleep)
  S2  standard, same image             -> raw clone renamed in (store=raw)
      both guests boot and see their root disk by its label
  S3  standard, another image that pushes the first out of the cache
      -> the first image's clones are deleted with it
  restart the NC with a half-made clone planted -> removed at start, the
      complete clone kept, nothing left half-made

The reflink path (XFS on a loop device) is test_nc_reflink.py.
"""

import os
import shutil
import time

import pytest

from harness.nc import (ImageServer, call, describe, node_leftovers, ok, run_instance,
                        start_nc, wait_console, wait_state)

S1, S2, S3 = "i-0000c101", "i-0000c102", "i-0000c103"
IMG1, IMG2 = "emi-0000c10d", "emi-0000c10e"
MIB = 1 << 20


def wait_log(nc, text, count=1, timeout=120):
    """Until the NC's log holds `text` `count` times (the NC says when a
    clone is ready: the test waits for that, never a fixed time)."""
    deadline = time.monotonic() + timeout
    while nc.log().count(text) < count:
        if nc.proc.poll() is not None:
            raise AssertionError("karri-nc exited: " + nc.log()[-2000:])
        if time.monotonic() > deadline:
            raise TimeoutError("no %r (x%d) in the NC's log:\n%s" % (text, count, nc.log()[-3000:]))
        time.sleep(0.2)


def clone_files(home):
    d = os.path.join(home, "instances", "cache", "clones")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


@pytest.fixture(scope="module")
def world(sim, guest, tmp_path_factory):
    base = tmp_path_factory.mktemp("ncclone")
    www = base / "www"
    www.mkdir()
    for name, src in (("vmlinuz", guest.vmlinuz), ("initrd", guest.initrd),
                      ("disk.img", guest.disk), ("disk2.img", guest.disk)):
        shutil.copyfile(src, str(www / name))
    srv = ImageServer(sim.front, str(www), str(base / "imgserver.log"),
                      port=19000 + os.getpid() % 1000)
    size = {n: os.path.getsize(str(www / n)) for n in ("vmlinuz", "initrd", "disk.img")}
    # room for one machine image and the kernel, not two images: the
    # second evicts the first (LRU)
    cache_mib = (size["disk.img"] * 3 // 2 + size["vmlinuz"] + size["initrd"]) // MIB + 1
    node = sim.nodes[0]
    w = {"sim": sim, "node": node, "srv": srv, "home": str(base / "nc"),
         "cfg": {"NC_CACHE_SIZE": str(cache_mib), "MAX_MEM": "2048", "MAX_CORES": "8"},
         "img1": {"image_id": IMG1, "image_url": srv.url("disk.img"),
                  "kernel_id": "eki-0000c10d", "kernel_url": srv.url("vmlinuz"),
                  "ramdisk_id": "eri-0000c10d", "ramdisk_url": srv.url("initrd")}}
    w["img2"] = dict(w["img1"], image_id=IMG2, image_url=srv.url("disk2.img"))
    w["nc"] = start_nc(node, w["home"], w["cfg"])
    try:
        yield w
    finally:
        nc = w["nc"]
        if nc.proc.poll() is None:
            try:
                for iid in describe(nc):
                    call(nc, "ncTerminateInstance", {"instanceId": iid})
            except Exception:
                pass
            nc.stop()
            print(nc.log()[-3000:])
        srv.stop()


def test_first_launch_overlay_second_takes_the_clone(world, guest):
    nc = world["nc"]
    log = nc.log()
    assert "reflink no" in log and "raw clones: up to 1 per cached image" in log
    r1 = ok(run_instance(nc, S1, world["img1"]))
    # the image is not cached yet: no clone can be ready
    assert r1["instance"]["diskAttachment"].startswith("bus=virtio backing=tap store=qcow2 ")
    wait_log(nc, "raw clone of %s ready" % IMG1)
    assert "standard class: qcow2 overlay on the cached base (no reflink here, no raw clone " \
        "ready)" in nc.log()
    r2 = ok(run_instance(nc, S2, world["img1"]))
    assert r2["instance"]["diskAttachment"] == \
        "bus=virtio backing=tap store=raw cache=none io=native"
    assert "standard class: a raw clone made ahead of the launch" in nc.log()
    for iid in (S1, S2):
        assert wait_state(nc, iid, timeout=90)["stateDetail"] == "RUNNING"
    wait_log(nc, "%s: root is a raw clone made ahead of the launch" % S2)
    inst = os.path.join(world["home"], "instances", "instances")
    root = os.path.join(inst, S2, "root.raw")
    st = os.stat(root)
    assert st.st_size == os.path.getsize(guest.disk)     # 16 MiB: a whole MiB already
    assert st.st_blocks * 512 >= st.st_size, "the clone is sparse"
    assert not os.path.exists(os.path.join(inst, S2, "root.qcow2"))
    assert os.path.exists(os.path.join(inst, S1, "root.qcow2"))
    # the taken clone is replaced in the background
    wait_log(nc, "raw clone of %s ready" % IMG1, count=2)
    files = clone_files(world["home"])
    assert len(files) == 1 and files[0].startswith(IMG1 + ".") and files[0].endswith(".raw")
    # both guests boot and see their root by its label
    for iid in (S1, S2):
        rep = wait_console(nc, iid, lambda r: r.done, timeout=120)
        assert rep.up and rep.done, rep.tail()
        roots = [x for x in rep.all("disk") if x["label"] == guest.disk_label]
        assert len(roots) == 1 and roots[0]["name"] == "vda", rep.tail()
    assert describe(nc, S2)[S2]["diskAttachment"].startswith("bus=virtio backing=tap store=raw")


def test_evicted_image_takes_its_clones(world):
    nc = world["nc"]
    ok(run_instance(nc, S3, world["img2"]))
    wait_log(nc, "image cache: evicting %s" % IMG1)
    wait_log(nc, "raw clones: %s left the cache" % IMG1)
    wait_log(nc, "raw clone of %s ready" % IMG2)
    assert wait_state(nc, S3, timeout=90)["stateDetail"] == "RUNNING"
    files = clone_files(world["home"])
    assert not [f for f in files if f.startswith(IMG1) or f.startswith("." + IMG1)], files
    assert [f for f in files if f.startswith(IMG2 + ".") and f.endswith(".raw")], files
    # S2's root was a clone: it is the instance's now, untouched by the eviction
    assert os.path.exists(os.path.join(world["home"], "instances", "instances", S2, "root.raw"))


def test_restart_leaves_nothing_half_made(world):
    nc, home = world["nc"], world["home"]
    clones = os.path.join(home, "instances", "cache", "clones")
    nc.stop()
    # what a crash in the middle of a copy leaves
    half = os.path.join(clones, ".%s.999.tmp" % IMG2)
    with open(half, "wb") as f:
        f.truncate(3 * MIB)
    kept = [f for f in os.listdir(clones) if f.endswith(".raw")]
    nc = world["nc"] = start_nc(world["node"], home, world["cfg"])
    wait_log(nc, "raw clones: removed leftover .%s.999.tmp" % IMG2)
    wait_log(nc, "raw clone of %s ready (kept from before" % IMG2)
    assert not os.path.exists(half)
    assert [f for f in os.listdir(clones) if f.endswith(".raw")] == kept
    assert not [f for f in os.listdir(clones) if f.startswith(".")]
    # the instances are adopted, then go without a trace
    for iid in (S1, S2, S3):
        wait_state(nc, iid, timeout=60)
        ok(call(nc, "ncTerminateInstance", {"instanceId": iid}))
    for iid in (S1, S2, S3):
        wait_state(nc, iid, states=("Teardown",), timeout=60)
    inst = os.path.join(home, "instances")
    deadline = time.monotonic() + 30
    while node_leftovers(world["node"], inst, [S1, S2, S3]) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert node_leftovers(world["node"], inst, [S1, S2, S3]) == []
    assert not [f for f in os.listdir(clones) if f.startswith(".")]
