"""Walrus streams: a large object up and down in bounded memory (VmHWM of
the daemon watched), and a SIGKILL in the middle of an upload leaves no
partial object, with the daemon restarting clean.  Quotas refuse what
does not fit.

The large-object size is WALRUS_TEST_BIG_MIB (default 1 GiB, as the issue asks;
about 25 s here)."""

import hashlib
import http.client
import os
import signal
import socket

import pytest
from botocore.exceptions import ClientError

from harness.wait import wait_for
from harness.walrus import WalrusEnv

BIG_MIB = int(os.environ.get("WALRUS_TEST_BIG_MIB", "1024"))
# The daemon's peak RSS may not grow by more than this while moving BIG_MIB.
HWM_BUDGET_MIB = 64


def write_random_file(path, mib):
    h = hashlib.sha256()
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mib):
            block = chunk[i % 4096:] + chunk[:i % 4096]   # distinct MiBs, cheap to make
            f.write(block)
            h.update(block)
    return h.hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def test_large_object_streams_in_bounded_memory(tmp_path):
    with WalrusEnv(tmp_path / "home") as wl:
        creds = wl.add_user("alice")
        s3 = wl.boto3(creds)
        s3.create_bucket(Bucket="big")
        src = tmp_path / "big.bin"
        digest = write_random_file(src, BIG_MIB)
        base = wl.vmhwm_kib()

        # One streamed PUT of the whole object (presigned, UNSIGNED-PAYLOAD) ...
        url = s3.generate_presigned_url("put_object", Params={"Bucket": "big", "Key": "one"},
                                        ExpiresIn=600)
        path = url.split(str(wl.daemon.port), 1)[1]
        conn = http.client.HTTPConnection("127.0.0.1", wl.daemon.port, timeout=120)
        with open(src, "rb") as f:
            conn.request("PUT", path, body=f, headers={"Content-Length": str(BIG_MIB << 20)})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        conn.close()
        # ... and awscli's multipart upload and parallel ranged download.
        wl.aws(creds, "s3", "cp", str(src), "s3://big/multi")
        back = tmp_path / "back.bin"
        wl.aws(creds, "s3", "cp", "s3://big/one", str(back))
        assert sha256_file(back) == digest
        back.unlink()
        # one plain GET of the whole object
        conn = http.client.HTTPConnection("127.0.0.1", wl.daemon.port, timeout=120)
        get = s3.generate_presigned_url("get_object", Params={"Bucket": "big", "Key": "multi"})
        conn.request("GET", get.split(str(wl.daemon.port), 1)[1])
        resp = conn.getresponse()
        h = hashlib.sha256()
        while block := resp.read(1 << 20):
            h.update(block)
        conn.close()
        assert h.hexdigest() == digest
        grown_mib = (wl.vmhwm_kib() - base) / 1024
        assert grown_mib < HWM_BUDGET_MIB, f"VmHWM grew by {grown_mib:.0f} MiB moving {BIG_MIB} MiB"


def test_sigkill_during_upload_leaves_no_partial_object(tmp_path):
    home = tmp_path / "home"
    wl = WalrusEnv(home).start()
    try:
        creds = wl.add_user("alice")
        s3 = wl.boto3(creds)
        s3.create_bucket(Bucket="crash")
        s3.put_object(Bucket="crash", Key="obj", Body=b"old version")
        url = s3.generate_presigned_url("put_object", Params={"Bucket": "crash", "Key": "obj"},
                                        ExpiresIn=600)
        path = url.split(str(wl.daemon.port), 1)[1]
        sock = socket.create_connection(("127.0.0.1", wl.daemon.port), timeout=10)
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{wl.daemon.port}\r\nContent-Length: {64 << 20}\r\n\r\n".encode())
        sock.sendall(os.urandom(8 << 20))      # an eighth of the body
        tmpdir = home / "var/lib/karri/walrus/tmp"
        wait_for(lambda: any(p.stat().st_size >= (8 << 20) for p in tmpdir.iterdir()),
                 30, "the partial upload to reach the disk", step=0.05)
        wl.daemon.proc.send_signal(signal.SIGKILL)
        wl.daemon.proc.wait(10)
        sock.close()
        assert list(tmpdir.iterdir()), "the crash should have left the temporary file"

        wl.daemon.start()
        assert list(tmpdir.iterdir()) == [], "temporary files must be removed at start"
        assert "unfinished upload" in wl.daemon.log()
        s3 = wl.boto3(creds)
        assert s3.get_object(Bucket="crash", Key="obj")["Body"].read() == b"old version"
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="crash")["Contents"]] == ["obj"]
        # and it serves new uploads normally
        s3.put_object(Bucket="crash", Key="obj", Body=b"new version")
        assert s3.get_object(Bucket="crash", Key="obj")["Body"].read() == b"new version"
        data_files = [p for d in (home / "var/lib/karri/walrus/data").iterdir() for p in d.iterdir()]
        assert len(data_files) == 1, "the replaced version's file must be gone"
    finally:
        wl.__exit__(None, None, None)


def test_quotas_refuse_what_does_not_fit(tmp_path):
    with WalrusEnv(tmp_path / "home", {"WALRUS_BUCKET_QUOTA": "1", "WALRUS_USER_QUOTA": "2"}) as wl:
        s3 = wl.boto3(wl.add_user("alice"))
        s3.create_bucket(Bucket="quota-1")
        s3.create_bucket(Bucket="quota-2")
        s3.create_bucket(Bucket="quota-3")
        s3.put_object(Bucket="quota-1", Key="a", Body=b"x" * (700 << 10))
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="quota-1", Key="b", Body=b"x" * (400 << 10))
        assert e.value.response["Error"]["Code"] == "EntityTooLarge"
        s3.put_object(Bucket="quota-2", Key="a", Body=b"x" * (1000 << 10))
        with pytest.raises(ClientError) as e:   # the user's 2 MiB are used up
            s3.put_object(Bucket="quota-3", Key="a", Body=b"x" * (400 << 10))
        assert e.value.response["Error"]["Code"] == "EntityTooLarge"
        s3.delete_object(Bucket="quota-1", Key="a")
        s3.put_object(Bucket="quota-3", Key="a", Body=b"x" * (400 << 10))
