"""Fixtures for Karri's integration tests.

    sim    (session) the simulated hosts: a front end and two nodes, each node
           with its own libvirtd (tools/karri_sim.py); prefix "kt<pid>"
    guest  (session) the test guest (tests/guest/build-guest): .vmlinuz,
           .initrd, .disk (a raw image to copy, never to boot directly)
    guest_generic (session) the same on Debian's generic kernel, which has
           the e1000 driver the cloud kernel lacks (boots in ~8 s, not ~5 s)

Tests marked `root` (and everything using `sim`) skip with a reason when not
run as root.  Helpers live in harness/: simlife (sim life cycle and safety
net), guestvm (boot the test guest, parse its console).
"""

import os

import pytest

from harness import simlife


def pytest_configure(config):
    config.addinivalue_line("markers", "root: needs root (network namespaces, libvirtd, QEMU)")


def _why_not_runnable():
    if os.geteuid() != 0:
        return "needs root: network namespaces, per-node libvirtd and QEMU"
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return "needs python3-libvirt (apt-get install python3-libvirt)"
    return None


def pytest_collection_modifyitems(config, items):
    why = _why_not_runnable()
    if not why:
        return
    for item in items:
        if "root" in item.keywords or "sim" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session")
def sim():
    why = _why_not_runnable()
    if why:
        pytest.skip(why)
    simlife.reap_stale()
    s = simlife.start(simlife.session_prefix(), nodes=2)
    ids = simlife.netns_ids(s.prefix)
    try:
        yield s
    finally:
        simlife.stop(s)
    # Reported as an error of the last test: a leak here breaks later runs.
    left = simlife.leftovers(s.prefix, s.state_dir, ids)
    assert not left, "sim %s left behind: %s" % (s.prefix, left)


@pytest.fixture(scope="session")
def guest():
    return simlife.build_guest()


@pytest.fixture(scope="session")
def guest_generic():
    return simlife.build_guest(flavor="generic")
