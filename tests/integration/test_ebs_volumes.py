"""karri-ebs's control contract: volumes, limits, exports, snapshots, restarts.

Volumes are pre-allocated files (never sparse); limits refuse with
VolumeLimitExceeded / InsufficientCapacity as return=false and statusMessage
"Code: message"; AoE addresses come from the database and survive a
SIGKILL; snapshots are consistent while the volume is exported and written.
The tests that move data use a real segment (see test_ebs_aoe.py); the rest
run on loopback.  Needs root for the segment tests.
"""

import os
import shutil
import signal
import subprocess
import time

import pytest

from harness.aoe import Ebs, Segment, aoe_tool, parse_kv, reap
from harness.daemons import Daemon

GIB = 1 << 30


def vfile(d, vol):
    return os.path.join(d.home, "var/lib/karri/volumes", f"{vol}.img")


def sfile(d, snap):
    return os.path.join(d.home, "var/lib/karri/volumes/snapshots", f"{snap}.snap")


def code(r):
    assert r["return"] == "false", r
    return r["statusMessage"].split(":")[0]


@pytest.fixture(autouse=True)
def _free_space(tmp_path):
    """Volumes are pre-allocated: do not leave gigabytes in pytest's tmp."""
    yield
    shutil.rmtree(tmp_path / "home" / "var/lib/karri/volumes", ignore_errors=True)


@pytest.fixture
def ebs_lo(tmp_path):
    """karri-ebs on loopback without a storage interface."""
    d = Daemon("karri-ebs", str(tmp_path / "home"), {"EBS_MAX_VOLUME_SIZE": 2,
                                                    "EBS_MAX_TOTAL_SIZE": 3})
    with d:
        yield d, Ebs(d.url)


def test_volumes_are_preallocated_described_and_deleted(ebs_lo):
    d, ebs = ebs_lo
    r = ebs.create_volume("vol-0000b001", 1)
    assert r["return"] == "true"
    v = r["volume"]
    assert v["volumeId"] == "vol-0000b001" and v["size"] == "1" and v["status"] == "available"
    assert v["shelf"] == "-1"
    st = os.stat(vfile(d, "vol-0000b001"))
    assert st.st_size == GIB
    assert st.st_blocks * 512 >= GIB, "volume files must not be sparse"
    # A retried CreateVolume is a success; the same id with another size is not.
    assert ebs.create_volume("vol-0000b001", 1)["return"] == "true"
    assert code(ebs.create_volume("vol-0000b001", 2)) == "InvalidVolume.Duplicate"
    assert ebs.create_volume("vol-0000b002", 1)["return"] == "true"
    vols = ebs.describe_volumes()["volumes"]
    assert sorted(v["volumeId"] for v in vols) == ["vol-0000b001", "vol-0000b002"]
    one = ebs.describe_volumes("vol-0000b002")["volumes"]
    assert one["volumeId"] == "vol-0000b002"
    assert code(ebs.describe_volumes("vol-0000dead")) == "InvalidVolume.NotFound"
    assert ebs.delete_volume("vol-0000b001")["return"] == "true"
    assert not os.path.exists(vfile(d, "vol-0000b001"))
    assert code(ebs.delete_volume("vol-0000b001")) == "InvalidVolume.NotFound"


def test_limits_and_bad_requests_are_refused_with_clear_codes(ebs_lo):
    d, ebs = ebs_lo
    r = ebs.create_volume("vol-0000b010", 3)
    assert code(r) == "VolumeLimitExceeded" and "EBS_MAX_VOLUME_SIZE" in r["statusMessage"]
    assert ebs.create_volume("vol-0000b011", 2)["return"] == "true"
    r = ebs.create_volume("vol-0000b012", 2)
    assert code(r) == "InsufficientCapacity" and "EBS_MAX_TOTAL_SIZE" in r["statusMessage"]
    assert not os.path.exists(vfile(d, "vol-0000b012"))
    assert ebs.create_volume("vol-0000b012", 1)["return"] == "true"
    assert code(ebs.create_volume("vol-0000b013", 0)) == "InvalidParameterValue"
    assert code(ebs.create_volume("VOL-1234", 1)) == "InvalidParameterValue"
    assert code(ebs.create_volume("vol-../../x", 1)) == "InvalidParameterValue"
    assert code(ebs.create_volume("vol-0000b014", 1, snapshot="snap-0000dead")) == \
        "InvalidSnapshot.NotFound"
    # Without a storage interface nothing can be exported, and it says why.
    r = ebs.export_volume("vol-0000b011", ["02:00:00:00:00:01"])
    assert code(r) == "InvalidConfiguration" and "EBS_STORAGE_INTERFACE" in r["statusMessage"]


@pytest.mark.root
def test_addresses_come_from_the_database_and_survive_sigkill(tmp_path):
    reap("kv")
    home = str(tmp_path / "home")
    with Segment(f"kv{os.getpid() % 1000:03d}a", 9000, ("n",)) as seg:
        d = Daemon("karri-ebs", home, {"EBS_STORAGE_INTERFACE": seg.bridge})
        with d:
            ebs = Ebs(d.url)
            mac = seg.mac("n")
            addrs = {}
            for i in range(3):
                vol = f"vol-0000c00{i}"
                assert ebs.create_volume(vol, 1)["return"] == "true"
                r = ebs.export_volume(vol, [mac])
                assert r["return"] == "true", r
                addrs[vol] = (r["shelf"], r["slot"])
            assert sorted(addrs.values()) == [("0", "0"), ("0", "1"), ("0", "2")]
            # Bad MACs, an exported volume's deletion: refused.
            assert code(ebs.export_volume("vol-0000c000", ["ff:ff:ff:ff:ff:ff"])) == \
                "InvalidParameterValue"
            assert code(ebs.export_volume("vol-0000c000", ["nonsense"])) == "InvalidParameterValue"
            assert code(ebs.export_volume("vol-0000c000", [])) == "InvalidParameterValue"
            assert code(ebs.delete_volume("vol-0000c000")) == "VolumeInUse"
            # A freed address is reused; re-exporting keeps the address.
            assert ebs.unexport_volume("vol-0000c001")["return"] == "true"
            assert ebs.create_volume("vol-0000c003", 1)["return"] == "true"
            r = ebs.export_volume("vol-0000c003", [mac])
            assert (r["shelf"], r["slot"]) == ("0", "1")
            r = ebs.export_volume("vol-0000c000", [mac, "02:00:00:00:00:09"])
            assert (r["shelf"], r["slot"]) == ("0", "0")
            v = ebs.describe_volumes("vol-0000c000")["volumes"]
            assert v["status"] == "in-use" and sorted(v["allowedMacs"]) == \
                sorted([mac, "02:00:00:00:00:09"])

            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait()
            d.start()
            vols = {v["volumeId"]: v for v in ebs.describe_volumes()["volumes"]}
            assert (vols["vol-0000c003"]["shelf"], vols["vol-0000c003"]["slot"]) == ("0", "1")
            assert vols["vol-0000c001"]["shelf"] == "-1"
            for vol, target in (("vol-0000c000", "0.0"), ("vol-0000c002", "0.2"),
                                ("vol-0000c003", "0.1")):
                out = parse_kv(seg.aoe("n", "discover", target).stdout)
                assert out["config"] == vol
            assert "re-exported 3 volume" in d.log()


@pytest.mark.root
def test_snapshots_are_consistent_while_the_volume_is_written(tmp_path):
    reap("kv")
    home = str(tmp_path / "home")
    with Segment(f"kv{os.getpid() % 1000:03d}b", 9000, ("n",)) as seg:
        d = Daemon("karri-ebs", home, {"EBS_STORAGE_INTERFACE": seg.bridge})
        with d:
            ebs = Ebs(d.url)
            assert ebs.create_volume("vol-0000d001", 1)["return"] == "true"
            r = ebs.export_volume("vol-0000d001", [seg.mac("n")])
            target = f"{r['shelf']}.{r['slot']}"
            a = os.urandom(8 << 20)
            (tmp_path / "a").write_bytes(a)
            seg.aoe("n", "write", target, "-o", 0, "-f", tmp_path / "a")

            # 1. Everything acknowledged before the request is in the snapshot,
            #    nothing written after it is.
            s = ebs.create_snapshot("vol-0000d001", "snap-0000d001")
            assert s["return"] == "true", s
            assert s["snapshot"]["status"] == "completed" and s["snapshot"]["volumeSize"] == "1"
            (tmp_path / "c").write_bytes(b"\xcc" * (1 << 20))
            seg.aoe("n", "write", target, "-o", 0, "-f", tmp_path / "c")
            with open(sfile(d, "snap-0000d001"), "rb") as f:
                assert f.read(8 << 20) == a

            # 2. Taken in the middle of a stream of writes: every frame is
            #    wholly old or wholly new, and the new data is one prefix.
            b = bytes([0xbb]) * (128 << 20)
            (tmp_path / "b").write_bytes(b)
            writer = subprocess.Popen(seg.argv("n", [aoe_tool(), "write", "-i", seg.nic("n"),
                                                     "-t", target, "-s", "1", "-o", 16 << 20,
                                                     "-f", tmp_path / "b"]),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                # Snapshot as soon as the stream has visibly begun.
                deadline = time.monotonic() + 30
                with open(vfile(d, "vol-0000d001"), "rb", buffering=0) as f:
                    while time.monotonic() < deadline:
                        f.seek((16 << 20) + (1 << 20))
                        if f.read(512) == b"\xbb" * 512:
                            break
                        time.sleep(0.005)
                assert writer.poll() is None, "the write ended before the snapshot"
                s = ebs.create_snapshot("vol-0000d001", "snap-0000d002")
                assert s["return"] == "true", s
                _, err = writer.communicate(timeout=120)
            finally:
                if writer.poll() is None:
                    writer.kill()
                    writer.wait()
            assert writer.returncode == 0, err
            with open(sfile(d, "snap-0000d002"), "rb") as f:
                f.seek(16 << 20)
                snap = f.read(128 << 20)
            sectors = [snap[i:i + 512] for i in range(0, len(snap), 512)]
            kinds = ["new" if s == b"\xbb" * 512 else "old" if s == bytes(512) else "torn"
                     for s in sectors]
            assert "torn" not in kinds
            new = kinds.count("new")
            assert 0 < new < len(kinds), "the snapshot should have caught the write mid-way"
            # Writes go out in order with at most 64 in flight: the new part is a
            # prefix, give or take the window.
            assert "old" not in kinds[:max(0, new - 64)]
            assert "new" not in kinds[new + 64:]

            # 3. A volume made from a snapshot holds exactly the snapshot.
            r = ebs.create_volume("vol-0000d002", 0, snapshot="snap-0000d001")
            assert r["return"] == "true", r
            assert r["volume"]["size"] == "1" and r["volume"]["snapshotId"] == "snap-0000d001"
            with open(vfile(d, "vol-0000d002"), "rb") as f:
                assert f.read(8 << 20) == a
            st = os.stat(vfile(d, "vol-0000d002"))
            assert st.st_blocks * 512 >= GIB
            r = ebs.create_volume("vol-0000d003", 2, snapshot="snap-0000d001")
            assert r["return"] == "true" and os.stat(vfile(d, "vol-0000d003")).st_size == 2 * GIB

            snaps = ebs.describe_snapshots()["snapshots"]
            assert sorted(s["snapshotId"] for s in snaps) == ["snap-0000d001", "snap-0000d002"]
            assert code(ebs.create_snapshot("vol-0000d002", "snap-0000d001")) == \
                "InvalidSnapshot.Duplicate"
            assert ebs.delete_snapshot("snap-0000d002")["return"] == "true"
            assert not os.path.exists(sfile(d, "snap-0000d002"))
            assert code(ebs.describe_snapshots("snap-0000d002")) == "InvalidSnapshot.NotFound"
