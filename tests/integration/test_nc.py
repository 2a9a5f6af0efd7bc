"""karri-nc end to end: a real NC in each simulated node's namespace, driving
the node's own libvirtd + QEMU (TCG) over SOAP, with images served by a
plain HTTP server on the front end.

One scenario, in order (the tests share the module's instances so guests
boot once and in parallel):

  node1 NC (NC_DISK_ATTACH=auto, one spare loop device in NC_PHY_DEVICES,
            MAX_MEM/MAX_CORES set)
    i-...a1  standard class            -> virtio / tap (qcow2 overlay)
    i-...a2  io class, spare free      -> virtio / phy (the spare device)
    i-...a3  image without virtio      -> ide / tap, e1000 (generic kernel)
  node2 NC (NC_DISK_ATTACH=phy, USE_VIRTIO_ROOT=N)
    i-...b1                            -> scsi / phy (loop over a pre-allocated file)

a1 and a2 start at the same moment from one uncached image: one download.
Each guest's own report (its console, read through ncGetConsoleOutput)
must show the disk bus and NIC model the NC reported.  Then: hot-plug a
file volume and an NBD volume (qemu-nbd on a unix socket), reboot,
SIGKILL the NC and see it adopt what runs, a launch that fails, terminate
and find nothing left behind, and LXC through the same API (a container
from a root filesystem image, on node2's libvirtd).
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from harness import container
from harness.guestvm import make_disk
from harness.nc import (ImageServer, call, console, describe, node_leftovers, ok,
                        run_instance, start_nc, to_dict, wait_console, wait_state)

A1, A2, A3, B1 = "i-0000a001", "i-0000a002", "i-0000a003", "i-0000b001"
A4 = "i-0000a004"      # made half-way "by hand" while the NC is down
B2 = "i-0000b002"      # powers itself off: the NC notices and cleans up
FAILED = "i-0000f001"
PARAMS = "karri.hold=forever karri.hotplug"


@pytest.fixture(scope="module")
def world(sim, guest, guest_generic, tmp_path_factory):
    base = tmp_path_factory.mktemp("nc")
    www = base / "www"
    www.mkdir()
    for name, src in (("vmlinuz", guest.vmlinuz), ("initrd", guest.initrd), ("disk.img", guest.disk),
                      ("g-vmlinuz", guest_generic.vmlinuz), ("g-initrd", guest_generic.initrd)):
        shutil.copyfile(src, str(www / name))
    # 1 s before each answer: the second launch asks while the first downloads
    srv = ImageServer(sim.front, str(www), str(base / "imgserver.log"), delay=1.0,
                      port=18000 + os.getpid() % 1000)
    # A spare device for node1's phy pool: a loop device over a file.
    spare_file = str(base / "spare.img")
    with open(spare_file, "wb") as f:
        f.truncate(64 << 20)
    spare = subprocess.run(["losetup", "--find", "--show", spare_file], capture_output=True,
                           text=True, check=True).stdout.strip()
    w = {"sim": sim, "base": str(base), "srv": srv, "spare": spare, "ncs": [],
         "cloud": {"image_id": "emi-0000c10d", "image_url": srv.url("disk.img"),
                   "kernel_id": "eki-0000c10d", "kernel_url": srv.url("vmlinuz"),
                   "ramdisk_id": "eri-0000c10d", "ramdisk_url": srv.url("initrd")},
         "generic": {"image_id": "emi-0000c10d", "image_url": srv.url("disk.img"),
                     "kernel_id": "eki-00009e4e", "kernel_url": srv.url("g-vmlinuz"),
                     "ramdisk_id": "eri-00009e4e", "ramdisk_url": srv.url("g-initrd")}}
    n1, n2 = sim.nodes[0], sim.nodes[1]
    w["home1"], w["home2"] = str(base / "nc1"), str(base / "nc2")
    w["cfg1"] = {"NC_PHY_DEVICES": spare, "MAX_MEM": "3072", "MAX_CORES": "8",
                 "NC_VOLUME_PATHS": "/dev " + str(base)}
    w["nc1"] = start_nc(n1, w["home1"], w["cfg1"])
    # node2's cache holds less than one instance's images: LRU eviction.
    w["nc2"] = start_nc(n2, w["home2"], {"NC_DISK_ATTACH": "phy", "USE_VIRTIO_ROOT": "N",
                                         "NC_CACHE_SIZE": "24"})
    try:
        yield w
    finally:
        for key, node, home in (("nc1", n1, w["home1"]), ("nc2", n2, w["home2"])):
            nc = w[key]
            try:
                for iid in describe(nc):
                    call(nc, "ncTerminateInstance", {"instanceId": iid})
            except Exception:
                pass
            nc.stop()
            print(nc.log()[-3000:])
        srv.stop()
        # QEMU may still hold the spare for a moment after its domain ended
        for _ in range(50):
            subprocess.run(["losetup", "-d", spare], capture_output=True)
            back = "/sys/block/%s/loop/backing_file" % os.path.basename(spare)
            if not os.path.exists(back) or spare_file not in open(back).read():
                break
            time.sleep(0.2)


def test_launches_in_parallel_and_downloads_each_image_once(world):
    nc1, nc2, srv = world["nc1"], world["nc2"], world["srv"]
    r1 = ok(run_instance(nc1, A1, world["cloud"], params=PARAMS))
    r2 = ok(run_instance(nc1, A2, world["cloud"], io_class="io", params=PARAMS))
    rb = ok(run_instance(nc2, B1, world["cloud"], params=PARAMS, disk=1))
    r3 = ok(run_instance(nc1, A3, world["generic"], params=PARAMS, imageHasVirtio="false"))
    # karri.hold=0: power off at once (no karri.* word at all would be the
    # guest's cloud mode, which holds forever)
    ok(run_instance(nc2, B2, world["cloud"], params="karri.hold=0"))
    # ncRunInstance answers at once, with the choice already made.
    for r in (r1, r2, r3, rb):
        assert r["instance"]["stateName"] == "Pending"
    assert r1["instance"]["diskAttachment"].startswith("bus=virtio backing=tap store=qcow2")
    assert r2["instance"]["diskAttachment"].startswith("bus=virtio backing=phy store=device")
    assert r3["instance"]["diskAttachment"].startswith("bus=ide backing=tap")
    assert r3["instance"]["netAttachment"] == "model=e1000"
    assert rb["instance"]["diskAttachment"].startswith("bus=scsi backing=phy store=loop")
    for nc, iid in ((nc1, A1), (nc1, A2), (nc1, A3), (nc2, B1)):
        d = wait_state(nc, iid, timeout=90)
        assert d["stateDetail"] == "RUNNING"
    # The overlay as bench/guestio measured best (nc/disk.c OVERLAY_OPTS).
    info = json.loads(subprocess.run(
        ["qemu-img", "info", "-U", "--output=json",
         os.path.join(world["home1"], "instances", "instances", A1, "root.qcow2")],
        capture_output=True, text=True, check=True).stdout)
    assert info["cluster-size"] == 128 << 10
    assert info["format-specific"]["data"]["extended-l2"] is True
    # Two instances of one image on node1 at once: node1 fetched each file
    # once (node2 has a cache of its own, too small to keep everything).
    n1ip = world["sim"].nodes[0].priv_ip
    for name in ("disk.img", "vmlinuz", "initrd", "g-vmlinuz", "g-initrd"):
        assert srv.gets(name, n1ip) == 1, open(srv.log).read()
    log = nc1.log()
    assert "image cache: waiting for the download of emi-0000c10d" in log
    assert "io class, spare device free: phy" in log and "image lacks virtio: ide" in log
    # node2: image (16 MiB) then kernel (14 MiB) pass NC_CACHE_SIZE=24
    assert "image cache: evicting emi-0000c10d" in nc2.log()
    cache2 = os.path.join(world["home2"], "instances", "cache")
    assert sum(os.path.getsize(os.path.join(cache2, f)) for f in os.listdir(cache2)) <= 24 << 20


# What the guest must see for each instance: root disk name, bus, NIC driver.
EXPECT = {A1: ("vda", "virtio", "virtio_net"), A2: ("vda", "virtio", "virtio_net"),
          A3: ("sda", "ide", "e1000"), B1: ("sda", "scsi", "virtio_net")}


@pytest.mark.parametrize("iid", [A1, A2, A3, B1])
def test_guest_sees_what_the_nc_reported(world, guest, iid):
    nc = world["nc2"] if iid == B1 else world["nc1"]
    rep = wait_console(nc, iid, lambda r: r.done, timeout=120)
    assert rep.done, rep.tail()
    d = describe(nc, iid)[iid]
    bus = d["diskAttachment"].split()[0].split("=")[1]
    model = d["netAttachment"].split("=")[1]
    disk, want_bus, want_nic = EXPECT[iid]
    assert bus == want_bus
    # the root disk is the one with the image's first sector (SCSI disks
    # may be named in either order)
    root = [x for x in rep.all("disk") if x["label"] == guest.disk_label]
    assert len(root) == 1, rep.tail()
    assert root[0]["bus"] == bus and root[0]["name"][:2] == disk[:2], rep.tail()
    nic = rep.nic("eth0")
    assert nic is not None and nic["driver"] == want_nic, rep.tail()
    assert ("model=virtio" if want_nic == "virtio_net" else "model=e1000") == d["netAttachment"]
    assert nic["mac"] == "d0:0d:00:00:" + iid[6:8] + ":" + iid[8:10]
    if iid == B1:   # 1 GiB type disk: 16 MiB image, 512 MiB swap, the rest ephemeral
        extra = [x for x in rep.all("disk") if x["label"] == "none"]
        assert sorted(int(x["size"]) for x in extra) == [(1024 - 16 - 512) << 20, 512 << 20]
        assert all(x["bus"] == "scsi" for x in extra)


def test_describe_resource_honours_the_limits(world):
    d = ok(call(world["nc1"], "ncDescribeResource"))
    assert d["memorySizeMax"] == "3072" and d["numberOfCoresMax"] == "8"
    assert int(d["memorySizeAvailable"]) == 3072 - 3 * 256
    assert d["numberOfCoresAvailable"] == "5"
    assert d["hypervisor"] == "qemu"
    assert d["phyDevicesFree"] == "0"    # A2 holds the spare
    big = to_dict(run_instance(world["nc1"], "i-0000a0ff", world["cloud"], memory=4096))
    assert big["return"] == "false" and "InsufficientInstanceCapacity" in big["statusMessage"]
    net = ok(call(world["nc1"], "ncStartNetwork", {"vlan": -1, "remoteHosts": ["10.81.0.1"]}))
    assert net["networkStatus"] == "SUCCESS"
    # (MANAGED VLANs on nodes: test_managed_nodes.py)
    vlan = to_dict(call(world["nc1"], "ncStartNetwork", {"vlan": 5000}))
    assert vlan["return"] == "false" and vlan["statusMessage"].startswith("InvalidParameterValue:")
    down = to_dict(call(world["nc1"], "ncPowerDown"))
    assert down["return"] == "false" and down["statusMessage"].startswith("Unsupported:")


def test_hotplug_file_block_and_nbd_volumes(world):
    nc = world["nc1"]
    vol_file = make_disk(os.path.join(world["base"], "vol-file.img"), "vol-file")
    vol_nbd = make_disk(os.path.join(world["base"], "vol-nbd.img"), "vol-nbd")
    vol_blk = make_disk(os.path.join(world["base"], "vol-blk.img"), "vol-blk")
    blk = subprocess.run(["losetup", "--find", "--show", vol_blk], capture_output=True, text=True,
                         check=True).stdout.strip()
    sock = os.path.join(world["base"], "nbd.sock")
    nbd = subprocess.Popen(["qemu-nbd", "--persistent", "--socket", sock, "--format", "raw",
                            vol_nbd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(50):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        a = ok(call(nc, "ncAttachVolume", {"instanceId": A1, "volumeId": "vol-0000f11e",
                                           "remoteDev": vol_file, "localDev": "sdf"}))
        assert a["attachment"] == "file"
        a = ok(call(nc, "ncAttachVolume", {"instanceId": A1, "volumeId": "vol-00000bd0",
                                           "remoteDev": "nbd+unix:///?socket=" + sock,
                                           "localDev": "sdg"}))
        assert a["attachment"] == "nbd"
        a = ok(call(nc, "ncAttachVolume", {"instanceId": A1, "volumeId": "vol-0000b10c",
                                           "remoteDev": blk, "localDev": "sdh"}))
        assert a["attachment"] == "phy"
        evil = os.path.join(world["base"], "evil.img")
        os.symlink("/etc/shadow", evil)     # inside an allowed directory, pointing out
        for bad in ("/etc/shadow", evil):
            r = to_dict(call(nc, "ncAttachVolume", {"instanceId": A1, "volumeId": "vol-0000bad1",
                                                    "remoteDev": bad}))
            assert r["return"] == "false" and "NC_VOLUME_PATHS" in r["statusMessage"], r
        rep = wait_console(nc, A1, lambda r: len(r.all("hotplug")) >= 3, timeout=60)
        labels = {h["label"]: h for h in rep.all("hotplug")}
        assert set(labels) == {"vol-file", "vol-nbd", "vol-blk"}, rep.tail()
        assert all(h["bus"] == "virtio" for h in labels.values())
        vols = describe(nc, A1)[A1]["volumes"]
        assert {v["volumeId"] for v in vols} == {"vol-0000f11e", "vol-00000bd0", "vol-0000b10c"}
        for vid in ("vol-00000bd0", "vol-0000b10c"):
            ok(call(nc, "ncDetachVolume", {"instanceId": A1, "volumeId": vid}))
        rep = wait_console(nc, A1, lambda r: len(r.all("unplug")) >= 2, timeout=30)
        gone = {u["name"] for u in rep.all("unplug")}
        # (virtio disks are named by the guest in probe order, not by target)
        assert gone == {labels["vol-nbd"]["name"], labels["vol-blk"]["name"]}, rep.tail()
        # the file volume stays attached: terminate detaches it first
    finally:
        nbd.terminate()
        nbd.wait(10)
        subprocess.run(["losetup", "-d", blk])


def test_reboot(world):
    nc = world["nc1"]
    before = console(nc, A2).count("KARRI-GUEST-UP")
    ok(call(nc, "ncRebootInstance", {"instanceId": A2}))
    rep = wait_console(nc, A2, lambda r: r.text.count("KARRI-GUEST-UP") > before, timeout=90)
    assert rep.text.count("KARRI-GUEST-UP") > before, rep.tail()
    assert describe(nc, A2)[A2]["stateName"] == "Extant"


def test_sigkilled_nc_adopts_running_instances(world):
    import libvirt
    nc, node = world["nc1"], world["sim"].nodes[0]
    before = describe(nc)
    nc.stop(signal.SIGKILL)
    ipath = os.path.join(world["home1"], "instances")
    # A cached image that no longer matches its digest: dropped at start.
    with open(os.path.join(ipath, "cache", "emi-0000bad0"), "w") as f:
        f.write("not what was downloaded")
    with open(os.path.join(ipath, "cache", "emi-0000bad0.sha256"), "w") as f:
        f.write("%s 23\n" % ("ab" * 32))
    # A launch cut short: its metadata says STAGING, nothing else exists.
    with open(os.path.join(ipath, "instances", A1, "meta")) as f:
        meta = [line for line in f if not line.startswith("volume=")]
    meta = "".join(meta).replace(A1, A4).replace("a001", "a004").replace("a0:01", "a0:04")
    meta = meta.replace("\nstate=2\n", "\nstate=0\n")
    os.makedirs(os.path.join(ipath, "instances", A4))
    with open(os.path.join(ipath, "instances", A4, "meta"), "w") as f:
        f.write(meta)
    conn = libvirt.open(node.libvirt_uri)
    try:
        running = {d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
    finally:
        conn.close()
    assert {A1, A2, A3} <= running      # killing the NC killed nothing
    world["nc1"] = nc = start_nc(node, world["home1"], world["cfg1"], port=nc.port)
    after = describe(nc)
    for iid in (A1, A2, A3):
        assert after[iid]["stateName"] == "Extant"
        assert after[iid]["diskAttachment"] == before[iid]["diskAttachment"]
    assert "adopted running domain" in nc.log()
    assert "emi-0000bad0 does not verify, removed" in nc.log()
    assert not os.path.exists(os.path.join(ipath, "cache", "emi-0000bad0"))
    # the half-made launch is finished
    assert "launch was cut short by a restart: finishing it" in nc.log()
    d = wait_state(nc, A4, timeout=60)
    assert d["diskAttachment"] == before[A1]["diskAttachment"]
    rep = wait_console(nc, A4, lambda r: r.done, timeout=90)
    assert rep.disk("vda")["bus"] == "virtio", rep.tail()
    assert ok(call(nc, "ncDescribeResource"))["phyDevicesFree"] == "0"
    assert "KARRI" in console(nc, A1)


def test_failed_launch_reports_why_and_leaves_nothing(world):
    nc = world["nc1"]
    bad = dict(world["cloud"], image_id="emi-0000dead", image_url=world["srv"].url("missing.img"))
    ok(run_instance(nc, FAILED, bad))
    d = wait_state(nc, FAILED, states=("Teardown",), timeout=30)
    assert "launch failed" in d["stateReason"] and "404" in d["stateReason"], d
    assert not node_leftovers(world["sim"].nodes[0], os.path.join(world["home1"], "instances"),
                              [FAILED])
    ok(call(nc, "ncTerminateInstance", {"instanceId": FAILED}))
    assert FAILED not in describe(nc)
    # an image that is not what the request's digest says
    wrong = dict(world["cloud"], image_id="emi-0000d16e")
    ok(run_instance(nc, "i-0000f002", wrong, imageDigest="00" * 32))
    d = wait_state(nc, "i-0000f002", states=("Teardown",), timeout=30)
    assert "sha256" in d["stateReason"] and "expected " + "00" * 32 in d["stateReason"], d
    ok(call(nc, "ncTerminateInstance", {"instanceId": "i-0000f002"}))
    # and garbage in a request is refused before anything happens
    r = to_dict(run_instance(nc, "i-0000f003", dict(world["cloud"], image_url="file:///etc/passwd")))
    assert r["return"] == "false" and "InvalidParameterValue" in r["statusMessage"]
    r = to_dict(run_instance(nc, "i-0000f004", world["cloud"], params="a'b"))
    assert r["return"] == "false"


def test_terminate_during_staging(world):
    """Terminated while its image still downloads (the server waits 1 s):
    the launch stops there and cleans up."""
    nc = world["nc1"]
    slow = dict(world["cloud"], image_id="emi-0000510e")
    ok(run_instance(nc, "i-0000f005", slow))
    r = ok(call(nc, "ncTerminateInstance", {"instanceId": "i-0000f005"}))
    assert r["previousState"] == "Pending"
    d = wait_state(nc, "i-0000f005", states=("Teardown",), timeout=30)
    assert d["stateReason"] == "terminated"
    assert not node_leftovers(world["sim"].nodes[0], os.path.join(world["home1"], "instances"),
                              ["i-0000f005"])
    ok(call(nc, "ncTerminateInstance", {"instanceId": "i-0000f005"}))
    assert "i-0000f005" not in describe(nc)


def test_guest_that_powers_off_is_cleaned_up(world):
    nc, node = world["nc2"], world["sim"].nodes[1]
    d = wait_state(nc, B2, states=("Teardown",), timeout=90)
    assert "the domain stopped" in d["stateReason"], d
    # its loop device, files and tap are gone before anyone terminates it
    assert node_leftovers(node, os.path.join(world["home2"], "instances"), [B2]) == []
    ok(call(nc, "ncTerminateInstance", {"instanceId": B2}))
    assert B2 not in describe(nc)


def test_terminate_leaves_nothing_behind(world):
    for key, ids in (("nc1", [A1, A2, A3, A4]), ("nc2", [B1])):
        nc = world[key]
        node = world["sim"].nodes[0 if key == "nc1" else 1]
        ipath = os.path.join(world["home1" if key == "nc1" else "home2"], "instances")
        for iid in ids:
            r = ok(call(nc, "ncTerminateInstance", {"instanceId": iid}))
            assert r["shutdownState"] == "Teardown"
        for iid in ids:
            assert describe(nc, iid)[iid]["stateName"] == "Teardown"
        assert node_leftovers(node, ipath, ids) == []
    assert ok(call(world["nc1"], "ncDescribeResource"))["phyDevicesFree"] == "1"
    assert "vol-0000f11e detached" in world["nc1"].log()


def test_lxc_through_the_same_api(world, tmp_path):
    """HYPERVISOR=lxc on node2: the instance is a libvirt LXC container
    whose '/' is the image, with its console (a pty) read through
    ncGetConsoleOutput like a VM's, and terminate leaves nothing: no
    domain, container process, loop device, veth, cgroup or file."""
    node = world["sim"].nodes[1]
    if node.lxc_unable():
        pytest.skip(node.lxc_unable())
    # its image: a root filesystem (busybox, an init printing a marker)
    container.make_image(os.path.join(world["base"], "www", "rootfs.img"), str(tmp_path))
    iid = "i-0000c001"
    home = str(tmp_path / "lxc")
    ipath = os.path.join(home, "instances")
    nc = start_nc(node, home, {"HYPERVISOR": "lxc", "NC_LIBVIRT_URI": node.lxc_uri})
    try:
        assert ok(call(nc, "ncDescribeResource"))["hypervisor"] == "lxc"
        images = {"image_id": "emi-0000c0c0", "image_url": world["srv"].url("rootfs.img")}
        r = ok(run_instance(nc, iid, images))
        assert r["instance"]["diskAttachment"].startswith("bus=none backing=fs store=fsimage")
        assert r["instance"]["netAttachment"] == "model=veth"
        d = wait_state(nc, iid, timeout=60)
        assert d["stateName"] == "Extant" and d["stateDetail"] == "RUNNING"
        mac = "d0:0d:00:00:c0:01"
        rep = wait_console(nc, iid, lambda r: "KARRI-LXC-UP" in r.text, timeout=30)
        assert "KARRI-LXC-UP mac=" + mac in rep.text, rep.text
        import libvirt
        conn = libvirt.open(node.lxc_uri)
        try:
            dom = conn.lookupByName(iid)
            assert dom.isActive() and "type='lxc'" in dom.XMLDesc(0)
            pid = dom.ID()      # the container's init, as the node sees it
        finally:
            conn.close()

        def scopes():   # the container's cgroups, inside its node's subtree
            return [p for c in node.cgroups()
                    for p in glob.glob(os.path.join(c["host"], "machine", "*" + iid + "*"))]
        assert scopes(), "the container has no cgroup under its node's subtree"

        # A SIGKILLed NC adopts the container and its console again: what
        # the container printed meanwhile waited in its pty.
        ticks = rep.text.count("KARRI-LXC-TICK")
        nc.stop(signal.SIGKILL)
        time.sleep(1.5)
        nc = start_nc(node, home, {"HYPERVISOR": "lxc", "NC_LIBVIRT_URI": node.lxc_uri},
                      port=nc.port)
        assert describe(nc, iid)[iid]["stateName"] == "Extant"
        assert "%s: adopted running domain" % iid in nc.log()
        rep = wait_console(nc, iid, lambda r: r.text.count("KARRI-LXC-TICK") > ticks + 2,
                           timeout=30)
        assert rep.text.count("KARRI-LXC-TICK") > ticks + 2, rep.text

        r = ok(call(nc, "ncTerminateInstance", {"instanceId": iid}))
        assert r["shutdownState"] == "Teardown"
        assert describe(nc, iid)[iid]["stateName"] == "Teardown"
        conn = libvirt.open(node.lxc_uri)
        try:
            assert iid not in {x.name() for x in conn.listAllDomains()}
        finally:
            conn.close()
        assert not os.path.exists("/proc/%d" % pid)
        assert scopes() == []
        # (the root image was mounted inside the container only, over a
        # loop device: no loop over the instance's files, no mount either)
        assert node_leftovers(node, ipath, [iid]) == []
        ok(call(nc, "ncTerminateInstance", {"instanceId": iid}))
        assert iid not in describe(nc)
    finally:
        try:
            call(nc, "ncTerminateInstance", {"instanceId": iid})
        finally:
            nc.stop()
            print(nc.log()[-3000:])


def test_kvm_that_cannot_run_guests_falls_back_to_qemu(world, tmp_path):
    """This machine advertises KVM (a nested PVM hypervisor) whose guests die
    on cmpxchg16b: HYPERVISOR=kvm must not create domains of type 'kvm'."""
    node = world["sim"].nodes[1]
    nc = start_nc(node, str(tmp_path / "kvm"), {"HYPERVISOR": "kvm"})
    try:
        hv = ok(call(nc, "ncDescribeResource"))["hypervisor"]
        log = nc.log()
        if hv == "kvm":
            assert "hypervisor kvm (domain type 'kvm')" in log
            pytest.skip("KVM on this host passes the probe: it can run guests")
        assert hv == "qemu"
        assert "HYPERVISOR=kvm cannot run guests here" in log and "using qemu" in log
    finally:
        nc.stop()


def test_nc_serves_without_libvirt_and_says_so(tmp_path):
    """libvirtd down at start: the NC still answers (the CC sees a disabled
    node, not a dead one), refuses launches with the reason, and retries."""
    from harness.daemons import Daemon, soap_call, element_dict
    sock = str(tmp_path / "no-libvirt-sock")
    d = Daemon("karri-nc", str(tmp_path), {"NC_LIBVIRT_URI": "qemu+unix:///system?socket=" + sock,
                                           "INSTANCE_PATH": str(tmp_path / "instances")}).start()
    try:
        status, el = soap_call(d.url, "nc", "ncDescribeResource")
        r = element_dict(el)
        assert status == 200 and r["nodeStatus"] == "disabled", r
        assert "no-libvirt-sock" in r["statusMessage"]
        status, el = soap_call(d.url, "nc", "ncRunInstance", {"instanceId": "i-00000001"})
        r = element_dict(el)
        assert r["return"] == "false" and r["statusMessage"].startswith("Unavailable:"), r
        assert "libvirt is not reachable" in d.log()
    finally:
        d.stop()
