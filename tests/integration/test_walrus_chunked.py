"""Walrus takes SigV4 streaming uploads (aws-chunked bodies signed chunk by
chunk, x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD) for
PutObject and UploadPart, and refuses a broken chain without leaving an
object or a temporary file behind.

The requests are built here: botocore's S3 SigV4 signer makes the seed
signature (and derives the signing key through SigV4Auth.signature), the
test frames the body and signs each chunk as the AWS document "Transferring
Payload in Multiple Chunks (Chunked Upload)" says."""

import hashlib
import http.client
import os
import time

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from harness.walrus import WalrusEnv

STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class StreamingAuth(S3SigV4Auth):
    """botocore's S3 signer, with the streaming literal as the payload hash."""

    def payload(self, request):
        return STREAMING


class ChunkedUpload:
    """One aws-chunked PUT: headers signed by botocore, chunks signed here."""

    def __init__(self, wl, creds, path, data, chunk=64 << 10, decoded_len=None,
                 extra_headers=None):
        self.wl, self.path, self.data, self.chunk = wl, path, data, chunk
        self.auth = StreamingAuth(Credentials(*creds), "s3", "us-east-1")
        self.decoded_len = len(data) if decoded_len is None else decoded_len
        self.extra = extra_headers or {}

    def pieces(self):
        return [self.data[i:i + self.chunk] for i in range(0, len(self.data), self.chunk)] + [b""]

    def sign_chunk(self, prev, data):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", self.request.context["timestamp"],
                         self.auth.credential_scope(self.request), prev, EMPTY_SHA256,
                         hashlib.sha256(data).hexdigest()])
        return self.auth.signature(sts, self.request)

    def frames(self, tamper=None):
        """The framed chunks; tamper(i, data, sig) -> (data, sig) may spoil chunk i."""
        out, prev = [], self.seed
        for i, piece in enumerate(self.pieces()):
            sig = self.sign_chunk(prev, piece)
            prev = sig
            if tamper:
                piece, sig = tamper(i, piece, sig)
            out.append(b"%x;chunk-signature=%s\r\n%s\r\n" % (len(piece), sig.encode(), piece))
        return out

    def body(self, tamper=None):
        return b"".join(self.frames(tamper))

    def sign(self, wire_len):
        """Sign the headers; wire_len None: the body goes as HTTP chunked, unsized."""
        headers = {"Content-Encoding": "aws-chunked",
                   "x-amz-decoded-content-length": str(self.decoded_len), **self.extra}
        if wire_len is not None:
            headers["Content-Length"] = str(wire_len)
        self.request = AWSRequest(method="PUT", url=self.wl.endpoint + self.path,
                                  headers=headers)
        self.auth.add_auth(self.request)
        self.seed = self.request.headers["Authorization"].rsplit("Signature=", 1)[1]

    def send(self, body_fn=None, encode_chunked=False):
        """Sign, frame (framing length is known before signing), PUT; (status, body)."""
        # The wire length depends only on the chunk sizes: sign with a
        # placeholder seed first to learn it.
        self.sign(0)
        body = (body_fn or self.body)()
        self.sign(None if encode_chunked else len(body))
        body = (body_fn or self.body)()
        headers = dict(self.request.headers.items())
        if encode_chunked:
            headers["Transfer-Encoding"] = "chunked"
        conn = http.client.HTTPConnection("127.0.0.1", self.wl.daemon.port, timeout=60)
        try:
            conn.putrequest("PUT", self.path, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders()
            try:
                if encode_chunked:
                    for i in range(0, len(body), 100000):
                        part = body[i:i + 100000]
                        conn.send(b"%x\r\n%s\r\n" % (len(part), part))
                    conn.send(b"0\r\n\r\n")
                else:
                    conn.send(body)
            except OSError:
                pass        # the server answered early and closed: read its answer
            resp = conn.getresponse()
            return resp.status, resp.read().decode(errors="replace"), resp.headers
        finally:
            conn.close()


def no_temp_files(wl):
    tmp = os.path.join(wl.home, "var/lib/karri/walrus/tmp")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not os.listdir(tmp):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with WalrusEnv(tmp_path_factory.mktemp("chunked") / "home") as wl:
        creds = wl.add_user("alice")
        s3 = wl.boto3(creds)
        s3.create_bucket(Bucket="chunky")
        yield wl, creds, s3


@pytest.mark.parametrize("size,chunk", [
    (9 * (1 << 20) + 12345, 64 << 10),    # > 8 MiB in 64 KiB chunks
    (200 << 10, 8 << 10),                 # the smallest chunks S3 allows
    (100, 64 << 10),                      # one short chunk
    (0, 64 << 10),                        # only the final chunk
])
def test_chunked_put_round_trip(env, size, chunk):
    wl, creds, s3 = env
    data = os.urandom(size)
    key = f"obj-{size}-{chunk}"
    status, body, headers = ChunkedUpload(wl, creds, f"/chunky/{key}", data, chunk,
                                          extra_headers={"Content-Type": "text/x-test"}).send()
    assert status == 200, body
    assert headers["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
    got = s3.get_object(Bucket="chunky", Key=key)
    assert got["Body"].read() == data
    assert got["ContentLength"] == size
    assert got["ContentType"] == "text/x-test"
    assert "ContentEncoding" not in got     # aws-chunked was the upload's, not the object's


def test_chunked_put_keeps_other_content_encodings(env):
    wl, creds, s3 = env
    data = os.urandom(30000)
    up = ChunkedUpload(wl, creds, "/chunky/gz", data,
                       extra_headers={"Content-Encoding": "aws-chunked,gzip"})
    status, body, _ = up.send()
    assert status == 200, body
    assert s3.head_object(Bucket="chunky", Key="gz")["ContentEncoding"] == "gzip"


def test_chunked_inside_http_chunked_transfer(env):
    wl, creds, s3 = env
    data = os.urandom(300000)
    status, body, _ = ChunkedUpload(wl, creds, "/chunky/te", data).send(encode_chunked=True)
    assert status == 200, body
    assert s3.get_object(Bucket="chunky", Key="te")["Body"].read() == data


def test_chunked_upload_part(env):
    wl, creds, s3 = env
    up = s3.create_multipart_upload(Bucket="chunky", Key="mpu")["UploadId"]
    parts, etags = [os.urandom(5 << 20), os.urandom(70000)], []
    for n, data in enumerate(parts, 1):
        status, body, headers = ChunkedUpload(
            wl, creds, f"/chunky/mpu?partNumber={n}&uploadId={up}", data).send()
        assert status == 200, body
        assert headers["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
        etags.append(headers["ETag"])
    s3.complete_multipart_upload(Bucket="chunky", Key="mpu", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    assert s3.get_object(Bucket="chunky", Key="mpu")["Body"].read() == b"".join(parts)


def swap(frames, i, j):
    frames[i], frames[j] = frames[j], frames[i]
    return frames


def flip(b):
    return bytes([b[0] ^ 1]) + b[1:]


def other_hex(sig):
    return ("0" if sig[10] != "0" else "1").join([sig[:10], sig[11:]])


def refused(wl, creds, s3, key, up_kw, body_of, status, code):
    up = ChunkedUpload(wl, creds, f"/chunky/{key}", **up_kw)
    got, body, _ = up.send(lambda: body_of(up))
    assert got == status, body
    assert f"<Code>{code}</Code>" in body
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket="chunky", Key=key)
    assert e.value.response["Error"]["Code"] == "404"
    assert no_temp_files(wl)


DATA = os.urandom(200000)      # four chunks of 64 KiB or less, then the final one


@pytest.mark.parametrize("case,up_kw,body_of,status,code", [
    ("tampered-data", {}, lambda u: u.body(
        tamper=lambda i, d, s: (flip(d), s) if i == 1 else (d, s)), 403, "SignatureDoesNotMatch"),
    ("wrong-chunk-signature", {}, lambda u: u.body(
        tamper=lambda i, d, s: (d, other_hex(s)) if i == 2 else (d, s)), 403,
     "SignatureDoesNotMatch"),
    ("wrong-final-signature", {}, lambda u: u.body(
        tamper=lambda i, d, s: (d, other_hex(s)) if i == 4 else (d, s)), 403,
     "SignatureDoesNotMatch"),
    ("chunks-swapped", {}, lambda u: b"".join(swap(u.frames(), 1, 2)), 403,
     "SignatureDoesNotMatch"),
    ("chunk-dropped", {"decoded_len": len(DATA) - 65536},
     lambda u: b"".join(u.frames()[:1] + u.frames()[2:]), 403, "SignatureDoesNotMatch"),
    ("truncated-no-final-chunk", {}, lambda u: u.body().rsplit(b"0;chunk-signature=", 1)[0],
     400, "IncompleteBody"),
    ("decoded-length-too-small", {"decoded_len": len(DATA) - 1}, lambda u: u.body(), 400,
     "IncompleteBody"),
    ("decoded-length-too-large", {"decoded_len": len(DATA) + 1}, lambda u: u.body(), 400,
     "IncompleteBody"),
    ("small-chunk-not-last", {"chunk": 4096}, lambda u: u.body(), 400, "InvalidChunkSizeError"),
    ("header-line-too-long", {}, lambda u: b"10000;chunk-signature=" + b"0" * 5000 + b"\r\n",
     400, "InvalidRequest"),
    ("bare-lf", {}, lambda u: u.body().replace(b"\r\n", b"\n", 1), 400, "InvalidRequest"),
    ("garbage-after-final", {}, lambda u: u.body() + b"junk", 400, "InvalidRequest"),
])
def test_chunked_refused(env, case, up_kw, body_of, status, code):
    wl, creds, s3 = env
    refused(wl, creds, s3, f"bad-{case}", {"data": DATA, **up_kw}, body_of, status, code)


def test_chunked_connection_lost_leaves_nothing(env):
    wl, creds, s3 = env
    up = ChunkedUpload(wl, creds, "/chunky/lost", os.urandom(1 << 20))
    up.sign(0)
    body = up.body()
    up.sign(len(body))
    body = up.body()
    conn = http.client.HTTPConnection("127.0.0.1", wl.daemon.port, timeout=30)
    conn.putrequest("PUT", "/chunky/lost", skip_accept_encoding=True)
    for k, v in up.request.headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(body[:len(body) // 2])
    conn.close()
    assert no_temp_files(wl)
    with pytest.raises(ClientError):
        s3.head_object(Bucket="chunky", Key="lost")


def test_chunked_needs_sigv4_header_and_object_put(env):
    wl, creds, s3 = env
    conn = http.client.HTTPConnection("127.0.0.1", wl.daemon.port, timeout=30)
    # Anonymous: nothing signs the seed.
    conn.request("PUT", "/chunky/anon", body=b"0;chunk-signature=" + b"0" * 64 + b"\r\n\r\n",
                 headers={"x-amz-content-sha256": STREAMING, "Content-Encoding": "aws-chunked",
                          "x-amz-decoded-content-length": "0"})
    r = conn.getresponse()
    assert r.status == 400 and b"InvalidRequest" in r.read()
    conn.close()
    # The other streaming forms are still not taken.
    up = ChunkedUpload(wl, creds, "/chunky/trailer", b"x" * 10)
    up.auth = type("T", (S3SigV4Auth,), {"payload": lambda self, r:
                                         "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})(
        Credentials(*creds), "s3", "us-east-1")
    status, body, _ = up.send()
    assert status == 501 and "NotImplemented" in body
