"""Root filesystems for libvirt LXC containers on the simulated nodes.

The test guest is a VM (kernel + initramfs + a raw disk without a
filesystem), nothing a container can run.  A container gets a tiny root of
its own instead: the same busybox-static the guest's initramfs uses, and an
/sbin/init script.

    make_rootfs(dir, INIT)                # a directory (<filesystem type='mount'>)
    make_image(path, workdir, INIT)       # an ext4 image of it (what the NC runs)
"""

import os
import shutil
import subprocess

# Says it is up, with the MAC of the NIC it was given, and stays up, ticking
# on its console each second (so a test sees output made at any time).
INIT = """#!/bin/sh
export PATH=/bin
echo KARRI-LXC-UP mac=$(cat /sys/class/net/eth0/address 2>/dev/null || echo none)
n=0
while :; do sleep 1; n=$((n + 1)); echo KARRI-LXC-TICK $n; done
"""

APPLETS = ("sh", "echo", "cat", "sleep")


def make_rootfs(root, init=INIT):
    for d in ("bin", "sbin", "dev", "proc", "sys", "tmp", "etc"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
    for applet in APPLETS:
        os.symlink("busybox", os.path.join(root, "bin", applet))
    with open(os.path.join(root, "sbin", "init"), "w") as f:
        f.write(init)
    os.chmod(os.path.join(root, "sbin", "init"), 0o755)
    return root


def make_image(path, workdir, init=INIT, size="8M"):
    """An ext4 image holding make_rootfs(): a container image as the NC
    takes it (HYPERVISOR=lxc mounts it as '/')."""
    root = make_rootfs(os.path.join(workdir, "rootfs"), init)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "karri-lxc", "-d", root, path, size],
                   check=True, capture_output=True, timeout=60)
    return path


def domain_xml(name, root, memory_mib=64):
    """A bare container over a directory (no NIC): for the sim's own tests."""
    from xml.sax.saxutils import escape, quoteattr
    return """<domain type='lxc'>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <os><type>exe</type><init>/sbin/init</init></os>
  <features><privnet/></features>
  <devices>
    <filesystem type='mount'><source dir=%s/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>
""" % (escape(name), int(memory_mib), quoteattr(root))
