"""Fixtures for Karri's integration tests.

    sim    (session) the simulated hosts: a front end and two nodes, each node
           with its own libvirtd (karri.sim); prefix "kt<pid>"
    guest  (session) the test guest (tests/guest/build-guest): .vmlinuz,
           .initrd, .disk (a raw image to copy, never to boot directly)
    guest_generic (session) the same on Debian's generic kernel, which has
           the e1000 driver the cloud kernel lacks (boots in ~8 s, not ~5 s)

Tests marked `root` (and everything using `sim`) skip with a reason when not
run as root.  Helpers live in harness/: simlife (sim life cycle and safety
net), guestvm (boot the test guest, parse its console).
"""

import os
import tempfile

import pytest

from harness import simlife


def _searchable_basetemp(config):
    """As root, keep this session's temporary directories where the user
    `karri` can reach them: karri-clc and karri-walrus run as karri
    (harness/daemon_user.py) with their KARRI_HOME in tmp_path, and pytest's
    own /tmp/pytest-of-root is made 0700 again by every session that starts,
    which would cut off the daemons of a session already running.  Here each
    session has /tmp/karri-pytest-of-root/pytest-N/ (searchable, the last
    three kept, as pytest keeps its own), and its basetemp inside."""
    if os.geteuid() != 0 or config.option.basetemp:
        return
    try:
        from _pytest.pathlib import LOCK_TIMEOUT, make_numbered_dir_with_cleanup
    except ImportError:
        return
    root = os.path.join(tempfile.gettempdir(), "karri-pytest-of-root")
    os.makedirs(root, mode=0o711, exist_ok=True)
    st = os.lstat(root)
    if st.st_uid != 0 or not os.path.isdir(root) or os.path.islink(root):
        raise pytest.UsageError(f"{root} is not root's own directory")
    os.chmod(root, 0o711)
    from pathlib import Path
    numbered = make_numbered_dir_with_cleanup(root=Path(root), prefix="pytest-", keep=3,
                                              lock_timeout=LOCK_TIMEOUT, mode=0o711)
    config.option.basetemp = str(numbered / "t")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "root: needs root (network namespaces, libvirtd, QEMU)")
    _searchable_basetemp(config)


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
