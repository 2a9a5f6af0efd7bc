"""Least privilege, as /proc/PID/status shows it for the daemons these tests
start themselves: karri-clc and karri-walrus parse the network as the
unprivileged user karri with no capability at all (docs/decisions.md,
"Least privilege"), whether root starts them (the tests, the quickstart: the
daemon hands itself its state and gives root up) or systemd starts them as
karri (User=karri); they refuse to run as root.  What they keep, their
databases, logs and private keys (0600), belongs to karri.  karri-ebs opens
its AoE socket as root and then runs the same way, serving AoE all the same."""

import os
import pwd
import shutil
import socket
import ssl
import stat

import pytest

from harness import daemon_user, procfs
from harness.aoe import Ebs, Segment, reap
from harness.clc import ClcCloud
from harness.daemons import Daemon, free_port, run_daemon_once
from harness.walrus import WalrusEnv

pytestmark = pytest.mark.root

NO_CAPS = 0




def assert_unprivileged(pid, pw):
    st = procfs.status(pid)
    assert st["Uid"] == [pw.pw_uid] * 4, st
    assert st["Gid"] == [pw.pw_gid] * 4, st
    assert st["Groups"] in ([], [str(pw.pw_gid)]), st
    for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
        assert st[cap] == NO_CAPS, f"{cap}={st[cap]:#x}"
    assert st["NoNewPrivs"] == "1", st


def owner(path):
    st = os.stat(path)
    return pwd.getpwuid(st.st_uid).pw_name, stat.S_IMODE(st.st_mode)


@pytest.fixture
def karri():
    if os.geteuid() != 0:
        pytest.skip("the daemons give up root only when root starts them")
    return daemon_user.ensure_user()


def test_clc_and_walrus_started_by_root_run_as_karri(karri, tmp_path):
    with ClcCloud(tmp_path / "clc") as cloud, WalrusEnv(tmp_path / "walrus") as wl:
        assert_unprivileged(cloud.clc.proc.pid, karri)
        assert_unprivileged(wl.daemon.proc.pid, karri)
        # They still do their work, with what root's `karri` added meanwhile.
        alice = cloud.user("alice")
        assert alice.ec2.describe_regions()["Regions"][0]["RegionName"] == "karri"
        creds = wl.add_user("alice")
        wl.aws(creds, "s3", "mb", "s3://privs")
        src = tmp_path / "obj"
        src.write_bytes(b"hello from karri\n")
        wl.aws(creds, "s3", "cp", str(src), "s3://privs/obj")
        assert wl.aws(creds, "s3", "ls", "s3://privs").stdout.split()[-1] == "obj"
        for home, files in ((cloud.home, ("var/lib/karri/clc.db", "var/lib/karri/users.db",
                                          "var/log/karri/karri-clc.log")),
                            (wl.home, ("var/lib/karri/walrus.db", "var/lib/karri/walrus",
                                       "var/log/karri/karri-walrus.log"))):
            for rel in files:
                assert owner(os.path.join(home, rel))[0] == "karri", rel


def test_keys_the_clc_reads_are_karris_and_0600(karri, tmp_path):
    """`karri` (root) makes the CA, the CLC's HTTPS pair and the cloud pair; the
    CLC (karri) serves HTTPS with them; the CA's own key stays root's."""
    with ClcCloud(tmp_path) as cloud:
        cloud.user("alice")
        cloud.karri("credentials", "alice", str(tmp_path / "creds"))
        keys = os.path.join(cloud.home, "var/lib/karri/keys")
        # Made while the CLC runs: its TLS client picks the pair up without a restart.
        assert owner(os.path.join(keys, "clc-pk.pem")) == ("karri", 0o600)
        cloud.clc.stop()
        cloud.clc.start()
        assert_unprivileged(cloud.clc.proc.pid, karri)
        assert owner(os.path.join(keys, "clc-pk.pem")) == ("karri", 0o600)
        assert owner(os.path.join(keys, "cloud-pk.pem")) == ("karri", 0o600)
        assert owner(os.path.join(cloud.home, "var/lib/karri/ca/ca-pk.pem")) == ("root", 0o600)
        ctx = ssl.create_default_context(cafile=os.path.join(keys, "ca-cert.pem"))
        with socket.create_connection(("127.0.0.1", cloud.https_port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                assert t.version()


@pytest.mark.parametrize("daemon", ["karri-clc", "karri-walrus"])
def test_refuses_root_and_unknown_users(karri, tmp_path, daemon):
    code, err = run_daemon_once(daemon, str(tmp_path / "a"), {"EUCA_USER": "root"})
    assert code == 1 and "'root' is root" in err, err
    code, err = run_daemon_once(daemon, str(tmp_path / "b"), {"EUCA_USER": "no-such-karri"})
    assert code == 1 and "no user 'no-such-karri'" in err, err


class StartedAsKarri(Daemon):
    """Started the way systemd's unit starts it: already karri, no capabilities."""

    def command(self):
        return ["setpriv", "--reuid=karri", "--regid=karri", "--clear-groups",
                "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs"] + super().command()


@pytest.mark.parametrize("daemon", ["karri-clc", "karri-walrus"])
def test_started_as_karri_like_systemd(karri, tmp_path, daemon):
    home = str(tmp_path)
    daemon_user.reach(home)
    for rel in ("var/lib/karri", "var/log/karri", "var/run/karri"):   # as `make install` does
        os.makedirs(os.path.join(home, rel))
        os.chown(os.path.join(home, rel), karri.pw_uid, karri.pw_gid)
    cfg = {"CLC_HTTPS_PORT": free_port()} if daemon == "karri-clc" else {}
    with StartedAsKarri(daemon, home, cfg) as d:
        assert_unprivileged(d.proc.pid, karri)
        assert d.describe()["serviceName"] == daemon


def test_ebs_serves_aoe_as_karri_with_no_capabilities(karri, tmp_path):
    """karri-ebs opens its AF_PACKET socket as root, then runs as karri with no
    capability: volumes are made, exported and read over AoE all the same."""
    prefix = f"kp{os.getpid() % 1000:03d}"
    reap(prefix)
    home = str(tmp_path / "ebs")
    try:
        with Segment(prefix, 1500, ("n",)) as seg, \
                Daemon("karri-ebs", home, {"EBS_STORAGE_INTERFACE": seg.bridge}) as d:
            assert_unprivileged(d.proc.pid, karri)
            ebs = Ebs(d.url)
            assert ebs.create_volume("vol-0000beef", 1)["return"] == "true"
            r = ebs.export_volume("vol-0000beef", [seg.mac("n")])
            assert r["return"] == "true", r
            out = seg.aoe("n", "discover", f"{r['shelf']}.{r['slot']}").stdout.decode()
            assert f"bytes={1 << 30}" in out.split(), out
            vol = os.path.join(home, "var/lib/karri/volumes/vol-0000beef.img")
            assert owner(vol)[0] == "karri"
            assert owner(os.path.join(home, "var/lib/karri/ebs.db"))[0] == "karri"
    finally:
        shutil.rmtree(os.path.join(home, "var/lib/karri/volumes"), ignore_errors=True)


def test_links_in_the_users_directories_hand_nothing_else_over(karri, tmp_path):
    """The state directory is karri's, so karri may plant links in it: root,
    starting Walrus again, neither hands over nor creates what they point to."""
    target = tmp_path / "roots"          # root's, outside the daemon's home
    target.mkdir()
    home = tmp_path / "home"
    state = home / "var/lib/karri"
    state.mkdir(parents=True)
    (state / "walrus").symlink_to(target)            # WALRUS_STORAGE_DIR itself
    (state / "w").symlink_to(target)                 # a directory on the way to it
    for storage in (state / "walrus", state / "w/objects"):
        code, err = run_daemon_once("karri-walrus", str(home), {"WALRUS_STORAGE_DIR": storage})
        assert code == 1, err                        # it cannot use root's directory
        assert owner(target)[0] == "root"
        assert not (target / "objects").exists()
        assert os.lstat(state / "walrus").st_uid == karri.pw_uid   # the link itself, at most
