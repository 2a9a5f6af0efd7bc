"""Walrus's S3 API driven by real clients: /usr/bin/aws (s3 and s3api) and
boto3, against a karri-walrus with a temporary KARRI_HOME and users made
with `karri user add`.  Every test asserts on what the client sees."""

import base64
import hashlib
import http.client
import os
import signal
import socket
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from harness.walrus import WalrusEnv


@pytest.fixture(scope="module")
def wl(tmp_path_factory):
    with WalrusEnv(tmp_path_factory.mktemp("walrus")) as env:
        env.add_user("alice", admin=True)
        env.add_user("bob")
        yield env


@pytest.fixture(scope="module")
def alice(wl):
    return wl.boto3(wl.users["alice"])


@pytest.fixture(scope="module")
def bob(wl):
    return wl.boto3(wl.users["bob"])


_n = [0]


@pytest.fixture
def bucket(alice):
    _n[0] += 1
    name = f"bkt-{os.getpid()}-{_n[0]}"
    alice.create_bucket(Bucket=name)
    yield name
    for page in alice.get_paginator("list_objects_v2").paginate(Bucket=name):
        for o in page.get("Contents", []):
            alice.delete_object(Bucket=name, Key=o["Key"])
    for u in alice.list_multipart_uploads(Bucket=name).get("Uploads", []):
        alice.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
    alice.delete_bucket(Bucket=name)


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_awscli_bucket_and_object_lifecycle(wl, tmp_path):
    a = wl.users["alice"]
    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello walrus\n")
    wl.aws(a, "s3", "mb", "s3://cli-bucket")
    assert "cli-bucket" in wl.aws(a, "s3", "ls").stdout
    wl.aws(a, "s3", "cp", str(src), "s3://cli-bucket/dir/hello.txt")
    out = wl.aws(a, "s3", "ls", "s3://cli-bucket/", "--recursive").stdout
    assert "dir/hello.txt" in out and " 13 " in out
    got = wl.aws(a, "s3", "cp", "s3://cli-bucket/dir/hello.txt", "-").stdout
    assert got == "hello walrus\n"
    r = wl.aws(a, "s3", "rb", "s3://cli-bucket", check=False)
    assert r.returncode != 0 and "BucketNotEmpty" in r.stderr
    wl.aws(a, "s3", "rm", "s3://cli-bucket/dir/hello.txt")
    wl.aws(a, "s3", "rb", "s3://cli-bucket")
    assert "cli-bucket" not in wl.aws(a, "s3", "ls").stdout


def test_awscli_under_services_prefixes(wl, tmp_path):
    a = wl.users["alice"]
    for prefix in ("/services/objectstorage", "/services/Walrus"):
        env_url = wl.endpoint + prefix
        r = wl.aws(a, "--endpoint-url", env_url, "s3api", "list-buckets", check=False)
        # --endpoint-url given twice: the last wins in awscli
        assert r.returncode == 0, r.stderr


def test_bucket_errors(alice, bucket):
    with pytest.raises(ClientError) as e:
        alice.create_bucket(Bucket=bucket)
    assert code(e) == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as e:
        alice.create_bucket(Bucket="Not_Valid")
    assert code(e) == "InvalidBucketName"
    with pytest.raises(ClientError) as e:
        alice.head_bucket(Bucket="no-such-bucket-here")
    assert status(e) == 404
    with pytest.raises(ClientError) as e:
        alice.list_objects_v2(Bucket="no-such-bucket-here")
    assert code(e) == "NoSuchBucket"
    assert alice.get_bucket_location(Bucket=bucket).get("LocationConstraint") in (None, "")
    alice.head_bucket(Bucket=bucket)


def test_put_get_head_metadata_etag(alice, bucket):
    body = b"some bytes \x00\xff" * 1000
    r = alice.put_object(Bucket=bucket, Key="a/b c+d.bin", Body=body, ContentType="text/x-karri",
                         Metadata={"colour": "blue", "Size-Class": "xl"},
                         CacheControl="max-age=60", ContentDisposition="attachment")
    assert r["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    h = alice.head_object(Bucket=bucket, Key="a/b c+d.bin")
    assert h["ContentLength"] == len(body)
    assert h["ContentType"] == "text/x-karri"
    assert h["Metadata"] == {"colour": "blue", "size-class": "xl"}
    assert h["CacheControl"] == "max-age=60"
    assert h["ETag"] == r["ETag"]
    g = alice.get_object(Bucket=bucket, Key="a/b c+d.bin")
    assert g["Body"].read() == body
    assert g["ContentDisposition"] == "attachment"
    # overwrite, then delete
    alice.put_object(Bucket=bucket, Key="a/b c+d.bin", Body=b"v2")
    assert alice.get_object(Bucket=bucket, Key="a/b c+d.bin")["Body"].read() == b"v2"
    alice.delete_object(Bucket=bucket, Key="a/b c+d.bin")
    with pytest.raises(ClientError) as e:
        alice.get_object(Bucket=bucket, Key="a/b c+d.bin")
    assert code(e) == "NoSuchKey" and status(e) == 404
    # conditional GETs
    alice.put_object(Bucket=bucket, Key="c", Body=b"cond")
    etag = alice.head_object(Bucket=bucket, Key="c")["ETag"]
    with pytest.raises(ClientError) as e:
        alice.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        alice.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(e) == 304


def test_empty_object_then_more_on_the_same_connection(wl, bucket):
    """boto3 sends Expect: 100-continue with empty bodies too and, answered without a
    100 Continue, misreads the next answer on that connection (it waited for the read
    timeout, then retried).  No retries here: any misread fails the test."""
    import boto3
    from botocore.config import Config

    def client(creds):
        return boto3.session.Session().client(
            "s3", endpoint_url=wl.endpoint, region_name="us-east-1",
            aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
            config=Config(s3={"addressing_style": "path"}, read_timeout=10,
                          retries={"total_max_attempts": 1}))
    s3 = client(wl.users["alice"])
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    s3.put_object(Bucket=bucket, Key="next", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="empty")["ContentLength"] == 0
    anon = client(("AKIDOESNOTEXIST00000", "x" * 40))
    with pytest.raises(ClientError):
        anon.put_object(Bucket=bucket, Key="refused", Body=b"")
    with pytest.raises(ClientError) as e:
        anon.put_object(Bucket=bucket, Key="refused", Body=b"y")
    assert code(e) == "InvalidAccessKeyId"


def test_content_md5_is_checked(alice, bucket):
    body = b"checked body"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    alice.put_object(Bucket=bucket, Key="ok", Body=body, ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as e:
        alice.put_object(Bucket=bucket, Key="bad", Body=body, ContentMD5=bad)
    assert code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        alice.head_object(Bucket=bucket, Key="bad")
    assert status(e) == 404, "an upload with a bad digest must not become visible"


def test_ranged_gets(alice, bucket):
    body = bytes(range(256)) * 40
    alice.put_object(Bucket=bucket, Key="r", Body=body)
    g = alice.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert g["Body"].read() == body[10:20]
    assert g["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert alice.get_object(Bucket=bucket, Key="r", Range="bytes=-7")["Body"].read() == body[-7:]
    assert alice.get_object(Bucket=bucket, Key="r", Range="bytes=10000-")["Body"].read() == body[10000:]
    assert alice.get_object(Bucket=bucket, Key="r", Range="bytes=10000-99999")["Body"].read() == body[10000:]
    with pytest.raises(ClientError) as e:
        alice.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(body)}-")
    assert code(e) == "InvalidRange" and status(e) == 416


def test_listing_v1_v2(alice, bucket):
    keys = ["a.txt", "b/1", "b/2", "b/c/3", "c d/é", "z"]
    for k in keys:
        alice.put_object(Bucket=bucket, Key=k, Body=k.encode())
    v2 = alice.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in v2["Contents"]] == sorted(keys, key=lambda s: s.encode())
    assert v2["KeyCount"] == len(keys)
    d = alice.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in d["Contents"]] == ["a.txt", "z"]
    assert [p["Prefix"] for p in d["CommonPrefixes"]] == ["b/", "c d/"]
    d = alice.list_objects_v2(Bucket=bucket, Prefix="b/", Delimiter="/")
    assert [o["Key"] for o in d["Contents"]] == ["b/1", "b/2"]
    assert [p["Prefix"] for p in d["CommonPrefixes"]] == ["b/c/"]
    # pagination, v2 tokens and v1 markers, one key per page
    pages = list(alice.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 1}))
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == \
        sorted(keys, key=lambda s: s.encode())
    v1 = alice.list_objects(Bucket=bucket, MaxKeys=2)
    assert v1["IsTruncated"] and [o["Key"] for o in v1["Contents"]] == ["a.txt", "b/1"]
    v1 = alice.list_objects(Bucket=bucket, Marker="b/1", Delimiter="/")
    assert [o["Key"] for o in v1.get("Contents", [])] == ["z"]
    assert [p["Prefix"] for p in v1["CommonPrefixes"]] == ["b/", "c d/"]
    v1 = alice.list_objects(Bucket=bucket, Marker="b/", Delimiter="/")
    assert [p["Prefix"] for p in v1["CommonPrefixes"]] == ["c d/"]
    assert alice.list_objects_v2(Bucket=bucket, StartAfter="c")["Contents"][0]["Key"] == "c d/é"


def test_copy_and_delete_objects(alice, bucket):
    alice.put_object(Bucket=bucket, Key="src", Body=b"copy me", Metadata={"k": "v"})
    r = alice.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copy me").hexdigest()}"'
    h = alice.head_object(Bucket=bucket, Key="dst")
    assert h["Metadata"] == {"k": "v"}
    alice.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src",
                      MetadataDirective="REPLACE", Metadata={"n": "1"})
    assert alice.head_object(Bucket=bucket, Key="dst2")["Metadata"] == {"n": "1"}
    r = alice.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "src"}, {"Key": "dst"}, {"Key": "never-was"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["dst", "never-was", "src"]
    assert [o["Key"] for o in alice.list_objects_v2(Bucket=bucket)["Contents"]] == ["dst2"]



def test_copy_source_query_and_nul(alice, bucket):
    """x-amz-copy-source: ?versionId is split off before the key is decoded
    (a %3F stays in the key) and a %00 is refused, never a shorter key (fuzz)."""
    alice.put_object(Bucket=bucket, Key="what?now", Body=b"q")
    alice.put_object(Bucket=bucket, Key="src", Body=b"s")
    alice.copy_object(Bucket=bucket, Key="c1", CopySource={"Bucket": bucket, "Key": "what?now"})
    assert alice.get_object(Bucket=bucket, Key="c1")["Body"].read() == b"q"
    alice.copy_object(Bucket=bucket, Key="c2", CopySource=f"{bucket}/src?versionId=null")
    assert alice.get_object(Bucket=bucket, Key="c2")["Body"].read() == b"s"
    # botocore %-encodes a CopySource string: put the raw header in before signing.
    def raw_nul(request, **kwargs):
        request.headers.replace_header("x-amz-copy-source", f"{bucket}/src%00tail")
    alice.meta.events.register("before-sign.s3.CopyObject", raw_nul)
    try:
        with pytest.raises(ClientError) as e:
            alice.copy_object(Bucket=bucket, Key="c3", CopySource=f"{bucket}/src")
    finally:
        alice.meta.events.unregister("before-sign.s3.CopyObject", raw_nul)
    assert e.value.response["Error"]["Code"] == "InvalidArgument"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

def test_multipart_boto3(alice, bucket):
    part = os.urandom(5 << 20)
    up = alice.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="x/y",
                                       Metadata={"m": "1"})
    uid = up["UploadId"]
    e1 = alice.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=part)["ETag"]
    e2 = alice.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2, Body=b"tail")["ETag"]
    parts = alice.list_parts(Bucket=bucket, Key="mp", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 5 << 20), (2, 4)]
    assert [u["UploadId"] for u in alice.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [uid]
    with pytest.raises(ClientError) as e:
        alice.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert code(e) == "InvalidPartOrder"
    with pytest.raises(ClientError) as e:
        alice.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e2}]})
    assert code(e) == "InvalidPart"
    r = alice.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    md5s = hashlib.md5(hashlib.md5(part).digest() + hashlib.md5(b"tail").digest()).hexdigest()
    assert r["ETag"] == f'"{md5s}-2"'
    g = alice.get_object(Bucket=bucket, Key="mp")
    assert g["Body"].read() == part + b"tail"
    assert g["ContentType"] == "x/y" and g["Metadata"] == {"m": "1"}
    with pytest.raises(ClientError) as e:
        alice.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert code(e) == "NoSuchUpload"
    # too small a non-last part, then abort
    uid = alice.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    s1 = alice.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=1, Body=b"x")["ETag"]
    s2 = alice.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=2, Body=b"y")["ETag"]
    with pytest.raises(ClientError) as e:
        alice.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": s1}, {"PartNumber": 2, "ETag": s2}]})
    assert code(e) == "EntityTooSmall"
    alice.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)
    assert alice.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_multipart_awscli_20mib(wl, alice, bucket, tmp_path):
    src = tmp_path / "big.bin"
    data = os.urandom(20 << 20)
    src.write_bytes(data)
    wl.aws(wl.users["alice"], "s3", "cp", str(src), f"s3://{bucket}/big.bin")
    etag = alice.head_object(Bucket=bucket, Key="big.bin")["ETag"]
    assert etag.endswith('-3"'), etag    # awscli: 8 MiB parts above 8 MiB
    back = tmp_path / "back.bin"
    wl.aws(wl.users["alice"], "s3", "cp", f"s3://{bucket}/big.bin", str(back))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_presigned_urls_sigv4_and_sigv2(wl, alice, bucket):
    alice.put_object(Bucket=bucket, Key="p", Body=b"presigned!")
    url = alice.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"},
                                       ExpiresIn=60)
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == b"presigned!"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=10)
    assert e.value.code == 403 and b"SignatureDoesNotMatch" in e.value.read()
    put = alice.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pp"},
                                       ExpiresIn=60)
    req = urllib.request.Request(put, data=b"via presigned put", method="PUT")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    assert alice.get_object(Bucket=bucket, Key="pp")["Body"].read() == b"via presigned put"
    v2 = wl.boto3(wl.users["alice"], signature_version="s3")
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"},
                                    ExpiresIn=60)
    assert "AWSAccessKeyId=" in url
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == b"presigned!"
    expired = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"},
                                        ExpiresIn=-10)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(expired, timeout=10)
    assert e.value.code == 403


def test_sigv2_header_auth(wl, bucket):
    v2 = wl.boto3(wl.users["alice"], signature_version="s3")
    v2.put_object(Bucket=bucket, Key="v2 key", Body=b"signed with v2", Metadata={"a": "b"})
    assert v2.get_object(Bucket=bucket, Key="v2 key")["Body"].read() == b"signed with v2"
    assert "v2 key" in [o["Key"] for o in v2.list_objects(Bucket=bucket)["Contents"]]
    bad = wl.boto3((wl.users["alice"][0], "x" * 40), signature_version="s3")
    with pytest.raises(ClientError) as e:
        bad.get_object(Bucket=bucket, Key="v2 key")
    assert code(e) == "SignatureDoesNotMatch"


def test_bad_signatures_and_anonymous(wl, bucket):
    ak, sk = wl.users["alice"]
    wrong = wl.boto3((ak, sk[:-1] + ("A" if sk[-1] != "A" else "B")))
    with pytest.raises(ClientError) as e:
        wrong.list_objects_v2(Bucket=bucket)
    assert code(e) == "SignatureDoesNotMatch" and status(e) == 403
    unknown = wl.boto3(("AKIDOESNOTEXIST00000", sk))
    with pytest.raises(ClientError) as e:
        unknown.list_buckets()
    assert code(e) == "InvalidAccessKeyId"
    r = wl.aws(None, "s3api", "list-objects-v2", "--bucket", bucket, check=False)
    assert r.returncode != 0 and "AccessDenied" in r.stderr
    # a body that does not match the signed x-amz-content-sha256
    body = b"tampered"
    conn = http.client.HTTPConnection("127.0.0.1", wl.daemon.port, timeout=10)
    conn.request("PUT", f"/{bucket}/t", body=body, headers={
        "x-amz-content-sha256": hashlib.sha256(b"original").hexdigest(),
        "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "Authorization": "AWS4-HMAC-SHA256 Credential=" + ak + "/20200101/us-east-1/s3/aws4_request,"
                         " SignedHeaders=host, Signature=" + "0" * 64})
    resp = conn.getresponse()
    assert resp.status == 403 and b"<Code>" in resp.read()
    conn.close()


def test_payload_hash_mismatch_discards_upload(wl, alice, bucket):
    """A correctly signed header whose payload differs: XAmzContentSHA256Mismatch, nothing stored."""
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    ak, sk = wl.users["alice"]
    url = f"{wl.endpoint}/{bucket}/sha"
    req = botocore.awsrequest.AWSRequest(method="PUT", url=url, data=b"the signed body")
    req.headers["x-amz-content-sha256"] = hashlib.sha256(b"the signed body").hexdigest()
    botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(ak, sk), "s3",
                              "us-east-1").add_auth(req)
    p = req.prepare()
    conn = http.client.HTTPConnection("127.0.0.1", wl.daemon.port, timeout=10)
    conn.request("PUT", f"/{bucket}/sha", body=b"the other body!", headers=dict(p.headers))
    resp = conn.getresponse()
    assert resp.status == 400 and b"XAmzContentSHA256Mismatch" in resp.read()
    conn.close()
    with pytest.raises(ClientError):
        alice.head_object(Bucket=bucket, Key="sha")


def test_two_users_are_isolated(wl, alice, bob, bucket):
    alice.put_object(Bucket=bucket, Key="secret", Body=b"alice only")
    assert bucket not in [b["Name"] for b in bob.list_buckets()["Buckets"]]
    assert bucket in [b["Name"] for b in alice.list_buckets()["Buckets"]]
    for call in (lambda: bob.list_objects_v2(Bucket=bucket),
                 lambda: bob.get_object(Bucket=bucket, Key="secret"),
                 lambda: bob.put_object(Bucket=bucket, Key="intruder", Body=b"x"),
                 lambda: bob.delete_object(Bucket=bucket, Key="secret"),
                 lambda: bob.delete_bucket(Bucket=bucket),
                 lambda: bob.get_bucket_acl(Bucket=bucket),
                 lambda: bob.create_multipart_upload(Bucket=bucket, Key="m")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDenied", call
    with pytest.raises(ClientError) as e:
        bob.create_bucket(Bucket=bucket)
    assert code(e) == "BucketAlreadyExists"
    assert alice.get_object(Bucket=bucket, Key="secret")["Body"].read() == b"alice only"


def anonymous(method, url):
    """(status, headers) of an unsigned request."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as r:
            r.read()
            return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


def test_acls(wl, alice, bob, bucket):
    anon_url = f"{wl.endpoint}/{bucket}/pub"
    alice.put_object(Bucket=bucket, Key="pub", Body=b"public", ACL="public-read",
                     ContentType="text/plain")
    with urllib.request.urlopen(anon_url, timeout=10) as r:
        assert r.read() == b"public"
    # anonymous HEAD answers as GET does, with the object's headers and no body
    st, hdrs = anonymous("HEAD", anon_url)
    assert st == 200 and hdrs["Content-Length"] == "6" and hdrs["Content-Type"] == "text/plain"
    assert hdrs["ETag"] == alice.head_object(Bucket=bucket, Key="pub")["ETag"]
    r = wl.aws(None, "s3api", "head-object", "--bucket", bucket, "--key", "pub")
    assert '"ContentLength": 6' in r.stdout
    alice.put_object(Bucket=bucket, Key="private", Body=b"mine")
    assert anonymous("GET", f"{wl.endpoint}/{bucket}/private")[0] == 403
    assert anonymous("HEAD", f"{wl.endpoint}/{bucket}/private")[0] == 403
    grants = alice.get_object_acl(Bucket=bucket, Key="pub")["Grants"]
    assert {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"} in \
        [g["Grantee"] for g in grants if g["Permission"] == "READ"]
    alice.put_object(Bucket=bucket, Key="auth", Body=b"users", ACL="authenticated-read")
    assert bob.get_object(Bucket=bucket, Key="auth")["Body"].read() == b"users"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{wl.endpoint}/{bucket}/auth", timeout=10)
    assert e.value.code == 403
    alice.put_object_acl(Bucket=bucket, Key="pub", ACL="private")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(anon_url, timeout=10)
    assert e.value.code == 403
    # an ACL document (not a canned header) works too
    owner = alice.get_object_acl(Bucket=bucket, Key="pub")["Owner"]
    alice.put_object_acl(Bucket=bucket, Key="pub", AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
         "Permission": "READ"}]})
    with urllib.request.urlopen(anon_url, timeout=10) as r:
        assert r.read() == b"public"
    # bucket ACL: public-read lets anyone list
    alice.put_bucket_acl(Bucket=bucket, ACL="public-read")
    keys = [o["Key"] for o in bob.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "auth" in keys and "pub" in keys
    with pytest.raises(ClientError) as e:
        bob.put_object(Bucket=bucket, Key="x", Body=b"x")
    assert code(e) == "AccessDenied"
    alice.put_bucket_acl(Bucket=bucket, ACL="private")
    with pytest.raises(ClientError) as e:
        bob.list_objects_v2(Bucket=bucket)
    assert code(e) == "AccessDenied"


def test_karri_bucket_names_are_reserved(wl, alice, bob):
    """karri-* buckets are the cloud's own (EBS snapshots in karri-snapshots)."""
    for client in (alice, bob):
        with pytest.raises(ClientError) as e:
            client.create_bucket(Bucket="karri-snapshots")
        assert code(e) == "AccessDenied" and status(e) == 403
        assert "reserved" in e.value.response["Error"]["Message"]
    r = wl.aws(wl.users["bob"], "s3", "mb", "s3://karri-mine", check=False)
    assert r.returncode != 0 and "AccessDenied" in r.stderr
    system = wl.boto3(wl.users.get("karri-system") or wl.add_user("karri-system", admin=True))
    system.create_bucket(Bucket="karri-snapshots")
    assert "karri-snapshots" in [b["Name"] for b in system.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        bob.list_objects_v2(Bucket="karri-snapshots")
    assert code(e) == "AccessDenied"
    system.delete_bucket(Bucket="karri-snapshots")


def test_deleted_user_loses_access(wl, tmp_path):
    creds = wl.add_user("carol")
    carol = wl.boto3(creds)
    carol.create_bucket(Bucket="carol-bucket")
    listed = wl.karri("user", "list").stdout
    assert "carol" in listed and "alice" in listed
    assert creds[0] in wl.karri("user", "keys", "carol").stdout
    carol.delete_bucket(Bucket="carol-bucket")
    wl.karri("user", "delete", "carol")
    with pytest.raises(ClientError) as e:
        carol.list_buckets()
    assert code(e) == "InvalidAccessKeyId"
    r = wl.karri("user", "delete", "carol", check=False)
    assert r.returncode == 1 and "no user carol" in r.stderr


def test_soap_describe_service_still_answers(wl):
    info = wl.daemon.describe()
    assert info["serviceName"] == "karri-walrus" and info["state"] == "ENABLED"


def test_large_bodies_hashed_beside_the_writer(wl, alice, bucket):
    """Above 8 MiB a blob's MD5 is computed by a thread reading the file back
    (blob_md5.c): the ETags of a PUT and a CopyObject are still the MD5, and an
    upload cut off while that thread runs leaves nothing behind."""
    data = os.urandom(20 << 20)
    md5 = f'"{hashlib.md5(data).hexdigest()}"'
    assert alice.put_object(Bucket=bucket, Key="big", Body=data)["ETag"] == md5
    r = alice.copy_object(Bucket=bucket, Key="big-copy", CopySource={"Bucket": bucket, "Key": "big"})
    assert r["CopyObjectResult"]["ETag"] == md5
    assert alice.get_object(Bucket=bucket, Key="big-copy")["Body"].read() == data
    url = alice.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "cut"},
                                       ExpiresIn=60)
    path = url.split(str(wl.daemon.port), 1)[1]
    with socket.create_connection(("127.0.0.1", wl.daemon.port), timeout=10) as s:
        s.sendall(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {32 << 20}\r\n\r\n"
                  .encode())
        s.sendall(data[:16 << 20])
    tmp = os.path.join(wl.home, "var/lib/karri/walrus/tmp")
    deadline = time.monotonic() + 10
    while os.listdir(tmp) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.listdir(tmp) == []
    with pytest.raises(ClientError) as e:
        alice.head_object(Bucket=bucket, Key="cut")
    assert status(e) == 404
    assert wl.daemon.proc.poll() is None


def raw_request(wl, path):
    """One request sent byte for byte (no client re-encodes the path);
    returns (status, body)."""
    with socket.create_connection(("127.0.0.1", wl.daemon.port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(v) for k, _, v in (h.partition(b":") for h in lines[1:])
                  if k.strip().lower() == b"content-length")
    assert len(body) == length
    return int(lines[0].split()[1]), body


@pytest.mark.parametrize("path,want", [
    ("/bucket/abcdefgh%zz", "InvalidURI"),
    ("/no-such-bucket/" + "k" * 300 + "%zz", "InvalidURI"),
    ("/services/Walrus/bucket/abc%4", "InvalidURI"),
    ("/bucket/a%00b", "InvalidURI"),
    ("/bucket%zz/key", "InvalidBucketName"),
    ("/a%00b/key", "InvalidBucketName"),
])
def test_bad_escape_in_path_gets_a_clean_error(wl, path, want):
    """Issue 17: a bad %-escape in the key left the decoded key without its
    NUL, and the 400 InvalidURI answer (sent before any authentication)
    quoted it, with whatever heap bytes followed.  The answer must be
    well-formed and quote only what was sent; a %00 must not cut a bucket
    or key name short into another one."""
    st, body = raw_request(wl, path)
    assert st == 400, body
    assert all(32 <= b < 127 or b == 10 for b in body), body
    root = ET.fromstring(body)
    assert root.findtext("Code") == want
    assert root.find("Key") is None
    assert root.findtext("Resource") == path
    assert wl.daemon.proc.poll() is None
