"""Boot Karri's test guest (tests/guest/) through a node's libvirtd, and read
what it reports on its serial console.

The guest prints line-oriented "KARRI ..." reports (format: tests/guest/init);
parse_console() turns a console file into a Report.  GuestVM is a context
manager that creates a transient domain and always destroys it and removes
the disk copies it made, even when the test fails.

    with GuestVM(sim.nodes[0], guest, workdir, name="t1",
                 cmdline="karri.ip=10.81.0.100/24 karri.ping=10.81.0.1") as vm:
        rep = vm.wait_done(timeout=120)
        assert rep.disk("vda")["driver"] == "virtio_blk"
"""

import os
import shutil
import time
from xml.sax.saxutils import quoteattr

try:
    import libvirt
    # libvirt prints every error to stderr besides raising it; we handle them.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
except ImportError:         # conftest skips the tests that need it, with a reason
    libvirt = None

# no_timer_check: as the NC boots instances (nc/launch.c), so slow TCG does not panic the boot
BASE_CMDLINE = "console=ttyS0 no_timer_check quiet panic=-1"


class Report:
    """What a guest said: markers, and its KARRI key=value lines by kind."""

    def __init__(self, text):
        self.text = text
        self.up = False
        self.done = False
        self.lines = {}                # kind -> [dict], e.g. "disk" -> [{name: vda, ...}]
        for raw in text.splitlines():
            # A kernel message may precede our text on the same line.
            i = raw.find("KARRI")
            if i < 0:
                continue
            line = raw[i:].strip()
            if line == "KARRI-GUEST-UP":
                self.up = True
            elif line == "KARRI-GUEST-DONE":
                self.done = True
            elif line.startswith("KARRI "):
                words = line.split()
                if len(words) < 2:
                    continue
                kv = dict(w.split("=", 1) for w in words[2:] if "=" in w)
                self.lines.setdefault(words[1], []).append(kv)

    def all(self, kind):
        return self.lines.get(kind, [])

    def _find(self, kind, key, value):
        for d in self.all(kind):
            if d.get(key) == value:
                return d
        return None

    def disk(self, name):
        return self._find("disk", "name", name)

    def nic(self, name):
        return self._find("nic", "name", name)

    def ping(self, target):
        return self._find("ping", "target", target)

    def tail(self, n=40):
        return "\n".join(self.text.splitlines()[-n:])


def make_disk(path, label, size_mib=16):
    """A raw test disk whose first sector names it ("KARRIDISK label=<label>"),
    so the guest's report says which disk is which."""
    sector = ("KARRIDISK label=%s\n" % label).encode()
    with open(path, "wb") as f:
        f.write(sector + b"\0" * (512 - len(sector)))
        f.truncate(size_mib * 1024 * 1024)
    return str(path)


def parse_console(path):
    try:
        with open(path, errors="replace") as f:
            return Report(f.read())
    except FileNotFoundError:
        return Report("")


def domain_xml(name, kernel, initrd, cmdline, console, disks=(), nics=(), memory_mib=256,
               extra_devices=""):
    """Domain XML for the test guest under QEMU TCG (type='qemu': KVM here
    cannot run stock kernels).  disks: dicts with path, dev (vda, sda, hda),
    bus (virtio|scsi|ide), optional format (raw).  nics: dicts with bridge,
    mac, optional model (virtio).  ACPI so that poweroff ends the domain."""
    q = quoteattr
    devs = []
    if any(d.get("bus") == "scsi" for d in disks):
        devs.append("<controller type='scsi' model='virtio-scsi'/>")
    for d in disks:
        devs.append("<disk type='file' device='disk'><driver name='qemu' type=%s/>"
                    "<source file=%s/><target dev=%s bus=%s/></disk>" % (
                        q(d.get("format", "raw")), q(d["path"]), q(d["dev"]), q(d.get("bus", "virtio"))))
    for n in nics:
        devs.append("<interface type='bridge'><source bridge=%s/><mac address=%s/>"
                    "<model type=%s/></interface>" % (q(n["bridge"]), q(n["mac"]), q(n.get("model", "virtio"))))
    devs.append("<serial type='file'><source path=%s/><target port='0'/></serial>" % q(console))
    devs.append("<console type='file'><source path=%s/><target type='serial' port='0'/></console>" % q(console))
    return """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{mem}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    {devices}
    {extra}
  </devices>
</domain>
""".format(name=_text(name), mem=int(memory_mib), kernel=_text(kernel), initrd=_text(initrd),
           cmdline=_text(cmdline), devices="\n    ".join(devs), extra=extra_devices)


def _text(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class GuestVM:
    """One transient test-guest domain on a simulated node.

    The guest gets a private copy of guest.disk as vda (virtio) unless disks
    are given, and one NIC on the node's br0.  The domain is destroyed and the
    disk copies removed on exit; the console file stays in workdir (pytest's
    tmp_path keeps it for a failed test)."""

    def __init__(self, node, guest, workdir, name, cmdline="", mac="52:54:00:4b:00:01",
                 disks=None, nics=None, nic_model="virtio", memory_mib=256):
        self.node = node
        self.name = name
        self.workdir = str(workdir)
        self.console = os.path.join(self.workdir, name + ".console")
        self.cmdline = (BASE_CMDLINE + " " + cmdline).strip()
        self._copies = []
        if disks is None:
            copy = os.path.join(self.workdir, name + "-vda.img")
            shutil.copyfile(guest.disk, copy)
            self._copies.append(copy)
            disks = [{"path": copy, "dev": "vda", "bus": "virtio"}]
        if nics is None:
            nics = [{"bridge": node.bridge, "mac": mac, "model": nic_model}]
        self.xml = domain_xml(name, guest.vmlinuz, guest.initrd, self.cmdline, self.console,
                              disks, nics, memory_mib)
        self.conn = None
        self.dom = None
        self.create_seconds = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        if os.path.exists(self.console):
            os.unlink(self.console)
        self.conn = libvirt.open(self.node.libvirt_uri)
        t = time.monotonic()
        self.dom = self.conn.createXML(self.xml, 0)
        self.create_seconds = time.monotonic() - t

    def report(self):
        return parse_console(self.console)

    def wait_for(self, predicate, timeout=120, poll=0.25):
        """Poll the console until predicate(Report) is true; return the
        Report either way (callers assert on it, with its tail)."""
        deadline = time.monotonic() + timeout
        while True:
            rep = self.report()
            if predicate(rep) or time.monotonic() >= deadline:
                return rep
            time.sleep(poll)

    def wait_done(self, timeout=120):
        return self.wait_for(lambda r: r.done, timeout)

    def wait_gone(self, timeout=30):
        """Wait for the guest to power itself off; True if it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.active():
                return True
            time.sleep(0.2)
        return False

    def active(self):
        try:
            return bool(self.dom and self.dom.isActive())
        except libvirt.libvirtError:
            return False               # transient domain gone: powered off

    def close(self):
        try:
            if self.active():
                self.dom.destroy()
        except libvirt.libvirtError:
            pass
        if self.conn is not None:
            try:
                self.conn.close()
            except libvirt.libvirtError:
                pass
            self.conn = None
        for p in self._copies:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        self._copies = []
