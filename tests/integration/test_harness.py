"""Self-test of the test harness: the simulated hosts and the test guest.

If these fail, every other integration test would fail for reasons that have
nothing to do with Karri: run these first.
"""

import ipaddress
import json
import os
import subprocess

import pytest

import karri.sim
from harness import simlife
from harness.guestvm import GuestVM, make_disk
from karri import python_argv

pytestmark = pytest.mark.root



def links(host_or_ns):
    """{ifname: link json} inside a namespace (a Host or a namespace name)."""
    ns = getattr(host_or_ns, "netns", host_or_ns)
    out = subprocess.run(["ip", "-n", ns, "-j", "-d", "link", "show"], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return {link["ifname"]: link for link in json.loads(out)}


def ping(host, ip, size=None):
    """One host pings an address; with size, a full-size frame that must not
    be fragmented (-M do), to prove the 9000-byte MTU end to end."""
    argv = ["ping", "-c", "2", "-i", "0.2", "-W", "2", ip]
    if size:
        argv[1:1] = ["-M", "do", "-s", str(size)]
    return host.run(argv, timeout=30)


# --- topology --------------------------------------------------------------

def test_mtu_9000_on_bridges_and_veths(sim):
    sw = links(sim.switch_ns)
    for br in ("br-priv", "br-stor"):
        assert sw[br]["mtu"] == 9000, br
        assert sw[br]["linkinfo"]["info_kind"] == "bridge"
    for h in sim.hosts:
        for port, br in (("%s-p" % h.name, "br-priv"), ("%s-s" % h.name, "br-stor")):
            assert sw[port]["mtu"] == 9000, port
            assert sw[port]["master"] == br, port
        mine = links(h)
        assert mine["eth0"]["mtu"] == 9000 and mine["eth1"]["mtu"] == 9000, h.name
        assert mine["lo"]["operstate"] == "UNKNOWN" and "UP" in mine["lo"]["flags"]
    for n in sim.nodes:
        mine = links(n)
        assert mine["br0"]["mtu"] == 9000
        assert mine["eth0"]["master"] == "br0", "node's private NIC is a port of br0"


def test_addresses(sim):
    for h in sim.hosts:
        priv = h.run(["ip", "-4", "-o", "addr", "show", "dev", h.priv_dev], check=True).stdout
        assert "inet %s/24 " % h.priv_ip in priv, (h.name, priv)
        stor = h.run(["ip", "-4", "-o", "addr", "show", "dev", "eth1"], check=True).stdout
        assert "inet %s/24 " % h.stor_ip in stor, (h.name, stor)
    ips = [h.priv_ip for h in sim.hosts] + [h.stor_ip for h in sim.hosts]
    assert len(set(ips)) == len(ips)


def test_front_reaches_every_node_on_both_networks(sim):
    for n in sim.nodes:
        for ip in (n.priv_ip, n.stor_ip):
            p = ping(sim.front, ip, size=8972)
            assert p.returncode == 0, "front -> %s %s: %s%s" % (n.name, ip, p.stdout, p.stderr)


def test_nodes_reach_each_other(sim):
    n1, n2 = sim.nodes[0], sim.nodes[1]
    for ip in (n2.priv_ip, n2.stor_ip):
        p = ping(n1, ip, size=8972)
        assert p.returncode == 0, "node1 -> node2 %s: %s%s" % (ip, p.stdout, p.stderr)


def test_nothing_in_root_namespace(sim):
    root = subprocess.run(["ip", "-o", "link", "show"], check=True, stdout=subprocess.PIPE,
                          text=True).stdout
    assert sim.prefix + "-" not in root


def test_each_node_has_its_own_libvirtd(sim):
    import libvirt
    uris = [n.libvirt_uri for n in sim.nodes]
    assert len(set(uris)) == len(uris)
    for n in sim.nodes:
        c = libvirt.open(n.libvirt_uri)
        try:
            assert c.getType() == "QEMU"
            assert c.listAllDomains() == []
        finally:
            c.close()


# --- the test guest through libvirt ------------------------------------------

def test_guest_boots_on_node1_with_virtio_disk_and_nic(sim, guest, tmp_path):
    import libvirt
    node = sim.nodes[0]
    guest_ip = str(sim.priv_net[100])
    mac = "52:54:00:4b:01:01"
    cmdline = "karri.ip=%s/24 karri.ping=%s" % (guest_ip, sim.front.priv_ip)
    with GuestVM(node, guest, tmp_path, "harness-vm1", cmdline=cmdline, mac=mac) as vm:
        # Regression guard for libvirt re-probing QEMU on each create (~70 s,
        # DESIGN section 7); normal is well under a second.
        assert vm.create_seconds < 30, "domain create took %.1f s" % vm.create_seconds
        print("domain create: %.2f s" % vm.create_seconds)

        # The domain exists on node1's libvirtd only.
        c2 = libvirt.open(sim.nodes[1].libvirt_uri)
        try:
            assert [d.name() for d in c2.listAllDomains()] == []
        finally:
            c2.close()

        rep = vm.wait_done(timeout=120)
        assert rep.up, "no KARRI-GUEST-UP within 120 s; console:\n" + rep.tail()
        assert rep.done, "no KARRI-GUEST-DONE within 120 s; console:\n" + rep.tail()

        failed = [m["name"] for m in rep.all("module") if m["ok"] != "1"]
        assert not failed, "modules failed to load: %s" % failed

        vda = rep.disk("vda")
        assert vda, "guest sees no vda; console:\n" + rep.tail()
        assert vda["driver"] == "virtio_blk" and vda["bus"] == "virtio"
        assert vda["label"] == guest.disk_label
        assert int(vda["size"]) == os.path.getsize(guest.disk)

        eth0 = rep.nic("eth0")
        assert eth0, "guest sees no eth0; console:\n" + rep.tail()
        assert eth0["driver"] == "virtio_net"
        assert eth0["mac"] == mac

        net = rep.all("net")
        assert net and net[0]["ip"] == guest_ip + "/24" and net[0]["ok"] == "1"
        p = rep.ping(sim.front.priv_ip)
        assert p and p["ok"] == "1", "guest could not ping the front end; console:\n" + rep.tail()

        # It powers itself off (ACPI) and the transient domain goes away.
        assert vm.wait_gone(timeout=30), "guest did not power off"


def test_guest_reports_buses_e1000_and_dhcp(sim, guest_generic, tmp_path):
    """The guest tells virtio, SCSI and IDE disks and an e1000 NIC apart, and
    takes an address by DHCP (dnsmasq spawned in the front end).  On node2,
    with the generic kernel (the cloud one has no e1000)."""
    node = sim.nodes[1]
    first, last = sim.priv_net[150], sim.priv_net[159]
    dnsmasq = sim.front.spawn([
        # --no-ping: dnsmasq otherwise pings a new address for 3 s before offering it.
        "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--pid-file", "--port=0", "--no-ping",
        "--interface=eth0", "--bind-interfaces", "--dhcp-range=%s,%s,255.255.255.0" % (first, last),
        "--dhcp-leasefile=%s" % (tmp_path / "leases"),
        "--dhcp-option=option:router,%s" % sim.front.priv_ip], log=str(tmp_path / "dnsmasq.log"))
    disks = [{"path": make_disk(tmp_path / (bus + ".img"), "on-" + bus), "dev": dev, "bus": bus}
             for bus, dev in (("virtio", "vda"), ("scsi", "sda"), ("ide", "hda"))]
    mac = "52:54:00:4b:02:01"
    try:
        with GuestVM(node, guest_generic, tmp_path, "harness-vm2", mac=mac, disks=disks,
                     nic_model="e1000",
                     cmdline="karri.ip=dhcp karri.ping=%s" % sim.front.priv_ip) as vm:
            rep = vm.wait_done(timeout=120)
            assert rep.done, "no KARRI-GUEST-DONE within 120 s; console:\n" + rep.tail()
    finally:
        dnsmasq.stop()
        for d in disks:
            os.unlink(d["path"])
    by_label = {d["label"]: d for d in rep.all("disk")}
    assert by_label["on-virtio"]["driver"] == "virtio_blk" and by_label["on-virtio"]["bus"] == "virtio"
    assert by_label["on-scsi"]["bus"] == "scsi" and by_label["on-scsi"]["host"] == "virtio_scsi"
    assert by_label["on-ide"]["bus"] == "ide" and by_label["on-ide"]["host"] == "ata_piix"
    assert rep.nic("eth0")["driver"] == "e1000" and rep.nic("eth0")["mac"] == mac
    lease = rep.all("dhcp")
    assert lease, "no DHCP lease; console:\n" + rep.tail()
    assert first <= ipaddress.ip_address(lease[0]["ip"]) <= last
    assert lease[0]["router"] == sim.front.priv_ip
    assert rep.ping(sim.front.priv_ip)["ok"] == "1"


# --- tear-down -----------------------------------------------------------------

def test_cli_up_status_down_leaves_nothing(sim):
    """A second sim, made and removed by the CLI as ./quickstart does: up in one
    process (which exits, like a crash would), down from another.  With the
    host link and a process spawned in the front end."""
    prefix = simlife.session_prefix("d")
    state = os.path.join("/var/lib/karri-sim", prefix)
    env = dict(os.environ, KARRI_SIM_PREFIX=prefix)
    ids = {}
    index = simlife.free_net_index()
    front_ip = "10.83.%d.2" % index
    try:
        up = subprocess.run(python_argv("sim", "up", "--nodes", "1", "--net-index", str(index),
                                        "--host-link"),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=120)
        assert up.returncode == 0, up.stderr
        desc = json.loads(up.stdout)
        assert desc["up"]
        assert set(desc["namespaces"]) == {prefix + "-sw", prefix + "-front", prefix + "-node1"}
        assert desc["host_link"]["front_ip"] == front_ip

        # The host link works; a spawned process is recorded for down.
        p = subprocess.run(["ping", "-c", "1", "-W", "2", front_ip], stdout=subprocess.PIPE)
        assert p.returncode == 0
        other = karri.sim.Sim.load(prefix)
        other.front.spawn(["sleep", "1000"])

        st = subprocess.run(python_argv("sim", "status"), env=env, stdout=subprocess.PIPE, text=True)
        assert "sim %s: up" % prefix in st.stdout and "libvirt up" in st.stdout
        ids = simlife.netns_ids(prefix)
        running = [x for x in simlife.leftovers(prefix, state, ids) if x.startswith("process")]
        assert any("libvirtd" in x for x in running) and any("sleep 1000" in x for x in running)
    finally:
        down = subprocess.run(python_argv("sim", "down"), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert simlife.leftovers(prefix, state, ids) == []
    # Idempotent: a second down finds nothing and succeeds.
    again = subprocess.run(python_argv("sim", "down"), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    st = subprocess.run(python_argv("sim", "status"), env=env, stdout=subprocess.PIPE, text=True)
    assert "sim %s: down" % prefix in st.stdout


def test_down_after_crash_kills_guests_and_daemons(sim, guest, tmp_path):
    """A sim whose owner vanished with a guest running: a fresh Sim object of
    the same prefix (knowing nothing but the name) removes it all."""
    import libvirt
    prefix = simlife.session_prefix("c")
    state = os.path.join("/var/lib/karri-sim", prefix)
    first = simlife.start(prefix, nodes=1, net_index=252)
    ids = simlife.netns_ids(prefix)
    vm = None
    try:
        # It need not finish booting: a running QEMU is what down must stop.
        vm = GuestVM(first.nodes[0], guest, tmp_path, "crash-vm", cmdline="karri.hold=forever")
        vm.start()
        with open(os.path.join(state, "node1", "run", "qemu", "crash-vm.pid")) as f:
            qemu_pid = int(f.read())
        assert vm.active()
        vm.conn.close()
        vm.conn, vm.dom = None, None
    finally:
        # "Crash": that object is dropped; a new one that knows nothing but
        # the prefix cleans up.
        simlife.forget(first)
        simlife.stop(karri.sim.Sim(prefix))
        if vm:
            vm.close()                  # removes the disk copy
    assert _gone(qemu_pid), "qemu %d survived down" % qemu_pid
    assert simlife.leftovers(prefix, state, ids) == []
    with pytest.raises(libvirt.libvirtError):
        libvirt.open(first.nodes[0].libvirt_uri)


def test_containers_live_in_their_nodes_cgroups_and_down_removes_them(tmp_path):
    """libvirt's LXC driver needs cgroups, which ip netns exec hides: each
    node's libvirtd runs in a cgroup subtree of its own, its containers
    under it.  A sim whose libvirtd died with a container running is still
    removed whole by down: the container and every cgroup directory."""
    import libvirt
    from harness import container
    prefix = simlife.session_prefix("g")
    state = os.path.join("/var/lib/karri-sim", prefix)
    first = simlife.start(prefix, nodes=1, net_index=251)
    ids = simlife.netns_ids(prefix)
    node = first.nodes[0]
    cgs = node.cgroups()
    pid = None
    try:
        if node.lxc_unable():
            pytest.skip(node.lxc_unable())
        for c in cgs:
            assert c["host"].endswith("/karri-%s-node1" % prefix), c
            with open(os.path.join(c["host"], "cgroup.procs")) as f:
                assert str(node.libvirtd.pid) in f.read().split(), c
        root = container.make_rootfs(str(tmp_path / "root"))
        conn = libvirt.open(node.lxc_uri)
        try:
            pid = conn.createXML(container.domain_xml("crash-ct", root), 0).ID()
        finally:
            conn.close()
        mine = [c for c in cgs if c["mount"] in ("memory", "devices", "cpuacct")]
        for c in mine:
            with open(os.path.join(c["host"], "machine", "lxc-%d-crash-ct.libvirt-lxc",
                                   "cgroup.procs") % pid) as f:
                assert str(pid) in f.read().split(), c
        node.libvirtd.kill()            # libvirtd gone, the container runs on
        assert not _gone(pid)
    finally:
        simlife.forget(first)
        simlife.stop(karri.sim.Sim(prefix))
    assert pid is None or _gone(pid), "container init %d survived down" % pid
    assert [c["host"] for c in cgs if os.path.exists(c["host"])] == []
    assert simlife.leftovers(prefix, state, ids) == []


def _gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


# --- many clusters ------------------------------------------------------------------

def test_two_clusters_each_on_its_own_networks():
    """clusters=2 (network only): a head per cluster, each cluster on its own
    private and storage bridges; the front end, on both private networks,
    routes between them; storage networks are not routed (AoE stays on its
    segment); down leaves nothing."""
    prefix = simlife.session_prefix("c")
    sim = simlife.start(prefix, nodes=1, clusters=2, net_index=simlife.free_net_index(),
                        libvirt=False)
    ids = simlife.netns_ids(prefix)
    try:
        c1, c2 = sim.clusters
        assert [h.name for h in sim.hosts] == ["front", "head1", "head2", "node1", "node2"]
        assert (c1.head.priv_ip, c2.head.priv_ip) == (str(c1.priv_net[2]), str(c2.priv_net[2]))
        assert (c1.nodes, c2.nodes) == ([sim.nodes[0]], [sim.nodes[1]])
        assert c1.stor_net != c2.stor_net and sim.front.stor_ip is None
        assert [ip for _, ip in sim.front.legs] == [str(c1.priv_net[1]), str(c2.priv_net[1])]
        # jumbo frames on a cluster's storage network, node to its head
        assert ping(c2.nodes[0], c2.head.stor_ip, size=8972).returncode == 0
        # routed through the front end: node2 to node1, head2 to Walrus's address
        assert ping(c2.nodes[0], c1.nodes[0].priv_ip).returncode == 0
        assert ping(c2.head, sim.front.priv_ip).returncode == 0
        # the front end has no way to a storage network
        for c in (c1, c2):
            r = sim.front.run(["ip", "route", "get", c.head.stor_ip])
            assert r.returncode != 0, r.stdout
    finally:
        simlife.stop(sim)
    assert simlife.leftovers(prefix, sim.state_dir, ids) == []
