"""Snapshots in Walrus: karri-ebs uploads and downloads with presigned URLs.

EBS holds no Walrus keys: like the CLC, the test presigns the requests
(boto3's generate_presigned_url with a Walrus user's keys) and passes the
URLs in the SOAP calls.  A real karri-walrus and a real karri-ebs; the data
is written over AoE from a node namespace while the volume stays exported,
and what lands in Walrus is read back with boto3.  Volumes are 1 GiB
(pre-allocated, as always) but only a few MiB are written, and the objects
are sparse (ebs/snapshot_format.h): a few MiB in Walrus, not a GiB.
"""

import contextlib
import hashlib
import os
import shutil
import signal
import struct

import pytest

from harness.aoe import Ebs, Segment, reap
from harness.daemons import Daemon
from harness.wait import wait_for
from harness.walrus import WalrusEnv

GIB = 1 << 30
MIB = 1 << 20
BUCKET = "karri-snapshots"
EXPIRES = 3600
MAGIC = b"KARRI-SNAPSHOT-1\n"
SMALL = 16 * MIB        # a snapshot of a few MiB written stays under this in Walrus


def vfile(d, vol):
    return os.path.join(d.home, "var/lib/karri/volumes", f"{vol}.img")


def snapdir(d):
    return os.path.join(d.home, "var/lib/karri/volumes/snapshots")


def code(r):
    assert r["return"] == "false", r
    return r["statusMessage"].split(":")[0]


def presign(s3, method, key=None):
    """What the CLC hands EBS: a presigned URL for one request."""
    op = {("PUT", False): "create_bucket", ("PUT", True): "put_object",
          ("GET", True): "get_object", ("DELETE", True): "delete_object"}[(method, bool(key))]
    params = {"Bucket": BUCKET, **({"Key": key} if key else {})}
    return s3.generate_presigned_url(op, Params=params, ExpiresIn=EXPIRES, HttpMethod=method)


def image_digest(size, pieces):
    """sha256 of a `size`-byte image of zeros with `pieces` {offset: bytes} in it."""
    h, pos, zero = hashlib.sha256(), 0, bytes(8 << 20)
    for off, data in sorted(pieces.items()) + [(size, b"")]:
        while pos < off:
            n = min(len(zero), off - pos)
            h.update(zero[:n])
            pos += n
        h.update(data)
        pos += len(data)
    return h.hexdigest()


def sparse_object(body):
    """(segment length, {offset: bytes}) of a sparse snapshot object, checked as EBS does."""
    assert body[:len(MAGIC)] == MAGIC and body[len(MAGIC):24] == bytes(24 - len(MAGIC))
    seg, n, data_len = struct.unpack_from("<QQQ", body, 24)
    hlen = (48 + 16 * n + 4095) // 4096 * 4096
    assert len(body) == hlen + data_len and not any(body[48 + 16 * n:hlen])
    pieces, pos, end = {}, hlen, 0
    for i in range(n):
        off, ln = struct.unpack_from("<QQ", body, 48 + 16 * i)
        assert ln > 0 and off >= end and off + ln <= seg
        pieces[off], pos, end = body[pos:pos + ln], pos + ln, off + ln
    return seg, pieces


def object_digest(body):
    """sha256 of the segment a sparse snapshot object stands for."""
    seg, pieces = sparse_object(body)
    return image_digest(seg, pieces)


def sparse_header(seg, extents, data_len=None):
    """A sparse object's header (for objects made by hand)."""
    h = MAGIC.ljust(24, b"\0") + struct.pack("<QQQ", seg, len(extents),
                                             sum(n for _, n in extents)
                                             if data_len is None else data_len)
    h += b"".join(struct.pack("<QQ", o, n) for o, n in extents)
    return h.ljust((len(h) + 4095) // 4096 * 4096, b"\0")


def file_digest(f):
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(8 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def snapshot_settled(ebs, snap):
    s = ebs.describe_snapshots(snap)["snapshots"]
    return s if s["status"] != "pending" else None


def volume_settled(ebs, vol):
    v = ebs.describe_volumes(vol)["volumes"]
    return v if v["status"] != "creating" else None


@pytest.fixture
def walrus(tmp_path):
    with WalrusEnv(tmp_path / "walrus") as wl:
        creds = wl.add_user("karri-system")     # the CLC's own user (clc/clc_walrus.h)
        yield wl, wl.boto3(creds)


@pytest.fixture(autouse=True)
def _free_space(tmp_path):
    """Volumes are pre-allocated: do not leave gigabytes in pytest's tmp."""
    yield
    shutil.rmtree(tmp_path / "home" / "var/lib/karri/volumes", ignore_errors=True)
    shutil.rmtree(tmp_path / "walrus", ignore_errors=True)


@pytest.mark.root
def test_snapshot_of_an_exported_volume_goes_to_walrus_and_comes_back(tmp_path, walrus):
    wl, s3 = walrus
    reap("ks")
    home = str(tmp_path / "home")
    with Segment(f"ks{os.getpid() % 1000:03d}a", 9000, ("n",)) as seg:
        d = Daemon("karri-ebs", home, {"EBS_STORAGE_INTERFACE": seg.bridge})
        with d:
            ebs = Ebs(d.url)
            vol, snap = "vol-0000e001", "snap-0000e001"
            assert ebs.create_volume(vol, 1)["return"] == "true"
            r = ebs.export_volume(vol, [seg.mac("n")])
            target = f"{r['shelf']}.{r['slot']}"
            a, far = os.urandom(4 << 20), os.urandom(1 << 20)
            (tmp_path / "a").write_bytes(a)
            (tmp_path / "far").write_bytes(far)
            seg.aoe("n", "write", target, "-o", 0, "-f", tmp_path / "a")
            seg.aoe("n", "write", target, "-o", 700 << 20, "-f", tmp_path / "far")

            # The copy is taken before the answer; the upload follows it.
            s = ebs.create_snapshot(vol, snap, [presign(s3, "PUT", snap)],
                                    presign(s3, "PUT"))
            assert s["return"] == "true", s
            assert s["snapshot"]["status"] == "pending" and s["snapshot"]["volumeSize"] == "1"
            (tmp_path / "c").write_bytes(b"\xcc" * (2 << 20))
            seg.aoe("n", "write", target, "-o", 1 << 20, "-f", tmp_path / "c")
            # EBS killed mid-upload: the answered snapshot is not lost, the
            # restarted daemon uploads it again.
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait()
            d.start()
            s = wait_for(lambda: snapshot_settled(ebs, snap), 120, "the upload")
            assert s["status"] == "completed" and s["progress"] == "100%", s
            assert os.listdir(snapdir(d)) == [], "the staging copy must go once uploaded"

            # Walrus holds exactly the bytes from before the request, and
            # only them: the 1 GiB volume's object is the 5 MiB it holds.
            want = image_digest(GIB, {0: a, 700 << 20: far})
            size = s3.head_object(Bucket=BUCKET, Key=snap)["ContentLength"]
            assert 5 * MIB < size < SMALL, f"snapshot object of {size} bytes"
            print(f"snapshot object: {size} bytes for a 1 GiB volume holding 5 MiB")
            body = s3.get_object(Bucket=BUCKET, Key=snap)["Body"].read()
            assert object_digest(body) == want

            # A volume from the snapshot: made in the background, equal to it.
            assert code(ebs.create_volume("vol-0000e002", 0, snap)) == "InvalidParameterValue"
            r = ebs.create_volume("vol-0000e002", 0, snap, [presign(s3, "GET", snap)])
            assert r["return"] == "true", r
            assert r["volume"]["status"] == "creating" and r["volume"]["size"] == "1"
            v = wait_for(lambda: volume_settled(ebs, "vol-0000e002"), 120, "the volume")
            assert v["status"] == "available", v
            st = os.stat(vfile(d, "vol-0000e002"))
            assert st.st_size == GIB and st.st_blocks * 512 >= GIB, "must be pre-allocated"
            with open(vfile(d, "vol-0000e002"), "rb") as f:
                assert file_digest(f) == want
            # Deleted while being filled / uploaded: the transfer stops, nothing stays.
            r = ebs.create_volume("vol-0000e004", 0, snap, [presign(s3, "GET", snap)])
            assert r["return"] == "true", r
            assert ebs.delete_volume("vol-0000e004")["return"] == "true"
            s = ebs.create_snapshot(vol, "snap-0000e004", [presign(s3, "PUT", "snap-0000e004")])
            assert s["return"] == "true", s
            r = ebs.delete_snapshot("snap-0000e004", [presign(s3, "DELETE", "snap-0000e004")])
            assert r["return"] == "true", r
            assert os.listdir(snapdir(d)) == []
            assert not [f for f in os.listdir(os.path.dirname(vfile(d, vol)))
                        if f.startswith("vol-0000e004")]
            assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [snap]

            # Deleting needs the URLs, and takes the object with it.
            assert code(ebs.delete_snapshot(snap)) == "InvalidParameterValue"
            r = ebs.delete_snapshot(snap, [presign(s3, "DELETE", snap)])
            assert r["return"] == "true", r
            assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
            assert code(ebs.describe_snapshots(snap)) == "InvalidSnapshot.NotFound"
            # The volume made from it does not need it any more.
            assert ebs.describe_volumes("vol-0000e002")["volumes"]["status"] == "available"


def test_walrus_down_mid_upload_fails_the_snapshot_and_leaves_nothing(tmp_path, walrus):
    wl, s3 = walrus
    d = Daemon("karri-ebs", str(tmp_path / "home"), {})
    with d:
        ebs = Ebs(d.url)
        vol, snap = "vol-0000e101", "snap-0000e101"
        assert ebs.create_volume(vol, 1)["return"] == "true"
        with open(vfile(d, vol), "r+b") as f:
            f.write(os.urandom(1 << 20))
        # URLs that are not http(s), or not one per 4 GiB: refused, nothing made.
        put = presign(s3, "PUT", snap)
        assert code(ebs.create_snapshot(vol, snap, ["file:///etc/passwd"])) == \
            "InvalidParameterValue"
        assert code(ebs.create_snapshot(vol, snap, [put, put])) == "InvalidParameterValue"
        assert code(ebs.describe_snapshots(snap)) == "InvalidSnapshot.NotFound"
        # Creating a bucket one owns already is fine.
        s3.create_bucket(Bucket=BUCKET)
        # A URL Walrus refuses (signature altered): failed at once, with Walrus's word.
        bad = presign(s3, "PUT", "snap-0000e103")
        assert "X-Amz-Signature=" in bad.rsplit("&", 1)[1]
        bad = bad[:-1] + ("0" if bad[-1] != "0" else "1")
        assert ebs.create_snapshot(vol, "snap-0000e103", [bad])["return"] == "true"
        s = wait_for(lambda: snapshot_settled(ebs, "snap-0000e103"), 60, "the refusal")
        assert s["status"] == "error" and "403" in s["stateMessage"], s
        assert os.listdir(snapdir(d)) == []

        # A volume full of data (its object is a whole GiB), so that the upload
        # is still going when Walrus is killed once it has started receiving it.
        with open(vfile(d, vol), "r+b") as f:
            block = b"\x01" * (8 << 20)
            for _ in range(GIB // len(block)):
                f.write(block)
        r = ebs.create_snapshot(vol, snap, [presign(s3, "PUT", snap)], presign(s3, "PUT"))
        assert r["return"] == "true", r
        parts = os.path.join(wl.home, "var/lib/karri/walrus/tmp")

        def receiving():
            return any(os.path.getsize(os.path.join(parts, p)) > 0
                       for p in (os.listdir(parts) if os.path.isdir(parts) else []))
        wait_for(receiving, 30, "Walrus to receive the snapshot")
        wl.daemon.proc.send_signal(signal.SIGKILL)
        wl.daemon.proc.wait()

        s = wait_for(lambda: snapshot_settled(ebs, snap), 60, "the failure")
        assert s["status"] == "error", s
        assert "PUT" in s["stateMessage"] and "X-Amz-Signature" not in s["stateMessage"], s
        assert os.listdir(snapdir(d)) == [], "no staging copy left"
        assert "X-Amz-Signature" not in d.log(), "presigned URLs are credentials"

        # A volume from a snapshot while Walrus is down: an error, no file.
        r = ebs.create_volume("vol-0000e102", 1, "snap-0000e199",
                              [presign(s3, "GET", "snap-0000e199")])
        assert r["return"] == "true", r
        v = wait_for(lambda: volume_settled(ebs, "vol-0000e102"), 60, "the failure")
        assert v["status"] == "error" and v["stateMessage"], v
        assert not [f for f in os.listdir(os.path.dirname(vfile(d, vol)))
                    if f.startswith("vol-0000e102")]
        assert ebs.delete_volume("vol-0000e102")["return"] == "true"


def walrus_blobs(wl):
    """Walrus's stored object bodies that are snapshot objects."""
    top = os.path.join(wl.home, "var/lib/karri/walrus")
    found = []
    for d, _, files in os.walk(top):
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                if fh.read(len(MAGIC)) == MAGIC:
                    found.append(os.path.join(d, f))
    return found


@contextlib.contextmanager
def clc_with_ebs(tmp_path):
    """A CLC with a stub cluster, Walrus and karri-ebs registered, and alice's
    available 1 GiB volume: (cloud, alice, store, ebs daemon, volume id)."""
    from harness.clc import ClcCloud, register_stub_cluster
    from harness.images import ImageStore

    cloud = ClcCloud(tmp_path / "clc")
    alice = cloud.user("alice")
    cc = register_stub_cluster(cloud, "zone1")
    d = Daemon("karri-ebs", str(tmp_path / "home"), {})
    try:
        with cloud, ImageStore(cloud, tmp_path / "walrus") as store, d:
            cloud.karri("register-ebs", "ebs1", f"127.0.0.1:{d.port}")
            ec2 = alice.ec2
            vol = ec2.create_volume(Size=1, AvailabilityZone="zone1")["VolumeId"]
            wait_for(lambda: ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] ==
                     "available", 120, "the volume")
            yield cloud, alice, store, d, vol
    finally:
        cc.stop()


def test_through_the_clc_snapshots_live_in_walrus(tmp_path):
    """EC2 CreateSnapshot/CreateVolume/DeleteSnapshot: the CLC presigns, EBS moves the bytes."""
    with clc_with_ebs(tmp_path) as (cloud, alice, store, d, vol):
        ec2 = alice.ec2
        root = cloud.user("root", admin=True)
        data = os.urandom(3 << 20)
        with open(vfile(d, vol), "r+b") as f:
            f.write(data)
        snap = ec2.create_snapshot(VolumeId=vol)["SnapshotId"]
        with open(vfile(d, vol), "r+b") as f:     # after the request: not in it
            f.write(b"\xee" * (1 << 20))

        def snap_state():
            s = ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]
            return s if s["State"] != "pending" else None
        s = wait_for(snap_state, 180, "the snapshot")
        assert s["State"] == "completed" and s["Progress"] == "100%", s
        assert os.listdir(snapdir(d)) == []
        # The object is in the cloud's own bucket: not the user's, nor an admin's
        # to read; Walrus's blob of it holds the bytes from before the request.
        s3 = store.wl.boto3((root.access, root.secret))
        assert root.code_of(s3.get_object, Bucket=BUCKET, Key=snap) == "AccessDenied"
        blobs = walrus_blobs(store.wl)
        assert len(blobs) == 1 and os.path.getsize(blobs[0]) < SMALL
        with open(blobs[0], "rb") as f:
            assert object_digest(f.read()) == image_digest(GIB, {0: data})
        assert "X-Amz-Signature" not in d.log()

        vol2 = ec2.create_volume(SnapshotId=snap, AvailabilityZone="zone1")["VolumeId"]
        wait_for(lambda: ec2.describe_volumes(VolumeIds=[vol2])["Volumes"][0]["State"] ==
                 "available", 180, "the volume from the snapshot")
        with open(vfile(d, vol2), "rb") as f:
            assert file_digest(f) == image_digest(GIB, {0: data})

        ec2.delete_snapshot(SnapshotId=snap)
        assert alice.code_of(ec2.describe_snapshots, SnapshotIds=[snap]) == \
            "InvalidSnapshot.NotFound"
        assert code(Ebs(d.url).describe_snapshots(snap)) == "InvalidSnapshot.NotFound"
        assert walrus_blobs(store.wl) == []


def test_through_the_clc_a_failed_snapshot_says_why(tmp_path):
    """Walrus down: the snapshot ends in error and awscli shows EBS's reason as StateMessage."""
    with clc_with_ebs(tmp_path) as (cloud, alice, store, d, vol):
        ec2 = alice.ec2
        store.wl.daemon.proc.send_signal(signal.SIGKILL)    # registered, but down
        store.wl.daemon.proc.wait()
        snap = ec2.create_snapshot(VolumeId=vol)["SnapshotId"]

        def settled():
            s = alice.aws("describe-snapshots", "--snapshot-ids", snap)["Snapshots"][0]
            return s if s["State"] != "pending" else None
        s = wait_for(settled, 120, "the snapshot to fail")
        assert s["State"] == "error" and s.get("StateMessage"), s
        assert "X-Amz-Signature" not in s["StateMessage"], "presigned URLs are credentials"
        ec2.delete_volume(VolumeId=vol)


def test_volumes_from_raw_and_malformed_objects(tmp_path, walrus):
    """A raw object (an older EBS's) still restores; a malformed one fails the volume, leaving nothing."""
    wl, s3 = walrus
    d = Daemon("karri-ebs", str(tmp_path / "home"), {})
    with d:
        ebs = Ebs(d.url)
        s3.create_bucket(Bucket=BUCKET)
        raw = tmp_path / "raw"
        pieces = {0: os.urandom(1 * MIB), 900 * MIB: b"\x5a" * 4096}
        with open(raw, "wb") as f:
            f.truncate(GIB)
            for off, data in pieces.items():
                f.seek(off)
                f.write(data)
        with open(raw, "rb") as f:
            s3.put_object(Bucket=BUCKET, Key="snap-0000e201", Body=f)
        raw.unlink()
        r = ebs.create_volume("vol-0000e201", 1, "snap-0000e201",
                              [presign(s3, "GET", "snap-0000e201")])
        assert r["return"] == "true", r
        v = wait_for(lambda: volume_settled(ebs, "vol-0000e201"), 120, "the raw volume")
        assert v["status"] == "available", v
        with open(vfile(d, "vol-0000e201"), "rb") as f:
            assert file_digest(f) == image_digest(GIB, pieces)

        # Each refused as untrusted data: the volume is "error" with the reason.
        bad = {
            "too many extents": sparse_header(GIB, [(0, 4096)])[:32] +
            struct.pack("<Q", 1 << 40) + sparse_header(GIB, [(0, 4096)])[40:] + bytes(4096),
            "overlapping": sparse_header(GIB, [(0, 8192), (4096, 4096)]) + bytes(12288),
            "outside": sparse_header(GIB, [(GIB - 4096, 8192)]) + bytes(8192),
            "short data": sparse_header(GIB, [(0, 8192)]) + bytes(4096),
            "truncated": sparse_header(GIB, [(0, 4096)] * 300)[:5000],
        }
        for i, (what, body) in enumerate(bad.items()):
            key, vol = f"snap-0000e2{10 + i}", f"vol-0000e2{10 + i}"
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
            r = ebs.create_volume(vol, 1, key, [presign(s3, "GET", key)])
            assert r["return"] == "true", r
            v = wait_for(lambda: volume_settled(ebs, vol), 120, f"the {what} volume")
            assert v["status"] == "error" and "InvalidSnapshot" in v["stateMessage"], (what, v)
            assert "X-Amz-Signature" not in v["stateMessage"]
            assert not [f for f in os.listdir(os.path.dirname(vfile(d, vol)))
                        if f.startswith(vol)], what
            assert ebs.delete_volume(vol)["return"] == "true"
