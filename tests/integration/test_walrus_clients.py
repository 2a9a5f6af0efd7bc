"""Walrus as euca2ools, s3cmd and boto2 talk to it: S3 SigV2 with every date
form those clients (and RFC 7231) send, s3cmd in V2 and V4 mode, and the
canned ACLs image bundles are uploaded with (aws-exec-read, ec2-bundle-read)
next to the rest of S3's.  Hand-signed requests are signed here, so each
date form is sent exactly as written."""

import base64
import email.utils
import hashlib
import hmac
import http.client
import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET

import botocore
import pytest
from botocore.exceptions import ClientError

from harness.walrus import WalrusEnv

# boto2 reads /etc/boto.cfg and ~/.boto when imported: none of that here.
os.environ["BOTO_CONFIG"] = "/dev/null"

S3CMD = "/usr/bin/s3cmd"
S3NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"


@pytest.fixture(scope="module")
def wl(tmp_path_factory):
    with WalrusEnv(tmp_path_factory.mktemp("walrus")) as env:
        env.add_user("alice")
        env.add_user("bob")
        env.add_user("carol")
        env.add_user("karri-system", admin=True)   # the CLC's identity (docs/decisions.md)
        yield env


@pytest.fixture(scope="module")
def alice(wl):
    return wl.boto3(wl.users["alice"])


_n = [0]


@pytest.fixture
def bucket(wl, alice):
    _n[0] += 1
    name = f"cli-{os.getpid()}-{_n[0]}"
    alice.create_bucket(Bucket=name)
    yield name
    alice.put_bucket_acl(Bucket=name, ACL="private")
    for o in alice.list_objects_v2(Bucket=name).get("Contents", []):
        alice.delete_object(Bucket=name, Key=o["Key"])
    alice.delete_bucket(Bucket=name)


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


# --- hand-signed S3 SigV2 ------------------------------------------------------

def v2_signature(secret, method, path, headers, date_line=None):
    """S3's SigV2 over method, Content-MD5, Content-Type, the date line, x-amz-*, path."""
    h = {k.lower(): v for k, v in headers.items()}
    if date_line is None:
        date_line = "" if "x-amz-date" in h else h.get("date", "")
    amz = "".join(f"{k}:{h[k]}\n" for k in sorted(h) if k.startswith("x-amz-"))
    sts = f"{method}\n{h.get('content-md5', '')}\n{h.get('content-type', '')}\n{date_line}\n" \
          f"{amz}{path}"
    mac = hmac.new(secret.encode(), sts.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def v2_request(wl, user, method, path, headers, body=None):
    """(status, body) of a request signed with the user's key as sent."""
    ak, sk = wl.users[user]
    headers = dict(headers)
    headers["Authorization"] = f"AWS {ak}:{v2_signature(sk, method, path, headers)}"
    conn = http.client.HTTPConnection("127.0.0.1", wl.daemon.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def error_code(body):
    return ET.fromstring(body).findtext("Code")


def date_forms(t):
    """The instant t in each HTTP-date form, keyed by a name for the test id."""
    g = time.gmtime(t)
    wk = time.strftime("%a", g)
    return {
        "imf-fixdate": email.utils.formatdate(t, usegmt=True),
        "formatdate -0000 (euca2ools)": email.utils.formatdate(t),
        "+0000 (s3cmd)": time.strftime("%a, %d %b %Y %H:%M:%S +0000", g),
        "rfc850": time.strftime("%A, %d-%b-%y %H:%M:%S GMT", g),
        "asctime": f"{wk} {time.strftime('%b', g)} {g.tm_mday:2d} "
                   f"{time.strftime('%H:%M:%S %Y', g)}",
        "+0530": time.strftime("%a, %d %b %Y %H:%M:%S +0530", time.gmtime(t + 19800)),
        "-0800": time.strftime("%a, %d %b %Y %H:%M:%S -0800", time.gmtime(t - 28800)),
    }


@pytest.mark.parametrize("header", ["Date", "x-amz-date"])
@pytest.mark.parametrize("form", list(date_forms(0)))
def test_v2_date_forms(wl, bucket, header, form):
    date = date_forms(time.time())[form]
    key = f"k-{header}-{form.split()[0]}"
    hdrs = {header: date, "Content-Type": "text/plain"}
    st, body = v2_request(wl, "alice", "PUT", f"/{bucket}/{key}", hdrs, b"dated")
    assert st == 200, (date, body)
    st, body = v2_request(wl, "alice", "GET", f"/{bucket}/{key}", {header: date})
    assert (st, body) == (200, b"dated"), date


def test_v2_numeric_zone_is_converted(wl, bucket):
    """Local time with its offset is the instant; the same digits as GMT are hours off."""
    t = time.time()
    local = time.strftime("%a, %d %b %Y %H:%M:%S", time.gmtime(t + 5 * 3600))
    st, _ = v2_request(wl, "alice", "GET", f"/{bucket}", {"Date": local + " +0500"})
    assert st == 200
    st, body = v2_request(wl, "alice", "GET", f"/{bucket}", {"Date": local + " GMT"})
    assert st == 403 and error_code(body) == "RequestTimeTooSkewed"
    old = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(t - 3600))
    st, body = v2_request(wl, "alice", "GET", f"/{bucket}", {"x-amz-date": old})
    assert st == 403 and error_code(body) == "RequestTimeTooSkewed"


@pytest.mark.parametrize("bad", [
    "{imf} junk",               # trailing garbage
    "{imf}Z",
    "{day}, 32 Dec 2026 14:00:00 GMT",      # out of range
    "{day}, 07 Dec 2026 24:00:00 GMT",
    "{day}, 30 Feb 2028 14:00:00 GMT",
    "{nogmt} +1500",            # no such zone
    "{nogmt} +0099",
    "{nogmt} +00:00",
    "{nogmt} EST",
    "{nogmt}",
    "2026-12-07T14:00:00Z",
    "yesterday",
])
def test_v2_malformed_dates_refused(wl, bucket, bad):
    imf = email.utils.formatdate(usegmt=True)
    date = bad.format(imf=imf, day=imf[:3], nogmt=imf[:-4])
    for header in ("Date", "x-amz-date"):
        st, body = v2_request(wl, "alice", "GET", f"/{bucket}", {header: date})
        assert st == 400 and error_code(body) == "AuthorizationHeaderMalformed", (header, date)


def test_v2_presigned_expires(wl, alice, bucket):
    alice.put_object(Bucket=bucket, Key="p", Body=b"presigned")
    ak, sk = wl.users["alice"]

    def get(expires):
        sig = v2_signature(sk, "GET", f"/{bucket}/p", {}, date_line=expires)
        q = f"AWSAccessKeyId={ak}&Expires={expires}&Signature=" \
            + sig.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
        conn = http.client.HTTPConnection("127.0.0.1", wl.daemon.port, timeout=10)
        conn.request("GET", f"/{bucket}/p?{q}")
        r = conn.getresponse()
        out = r.status, r.read()
        conn.close()
        return out

    assert get(str(int(time.time()) + 60)) == (200, b"presigned")
    st, body = get(str(int(time.time()) - 60))
    assert st == 403 and error_code(body) == "AccessDenied"
    for bad in ("+" + str(int(time.time()) + 60), str(int(time.time()) + 60) + ".0", "soon"):
        st, body = get(bad)
        assert st == 400, bad


# --- boto2, forced to SigV2 -------------------------------------------------------

@pytest.fixture(scope="module")
def boto2(wl):
    import boto.s3.connection
    ak, sk = wl.users["alice"]
    conn = boto.s3.connection.S3Connection(
        aws_access_key_id=ak, aws_secret_access_key=sk, host="127.0.0.1",
        port=wl.daemon.port, is_secure=False,
        calling_format=boto.s3.connection.OrdinaryCallingFormat())
    assert conn._required_auth_capability() == ["s3"]     # HmacAuthV1Handler: S3 SigV2
    return conn


@pytest.mark.parametrize("header,form", [
    ("Date", "formatdate -0000 (euca2ools)"),
    ("x-amz-date", "+0000 (s3cmd)"),
    ("Date", "rfc850"),
    ("Date", "asctime"),
    ("x-amz-date", "rfc850"),
    ("x-amz-date", "asctime"),
])
def test_boto2_sigv2_date_forms(boto2, bucket, header, form):
    """boto2 signs the Date it is given (else adds an IMF-fixdate); with
    x-amz-date it signs an empty date line, as AWS says."""
    hdrs = {header: date_forms(time.time())[form]}
    b = boto2.get_bucket(bucket, headers=hdrs)
    k = b.new_key("boto2 key")
    k.set_contents_from_string(b"from boto2", headers=hdrs)
    assert b.get_key("boto2 key", headers=hdrs).get_contents_as_string(headers=hdrs) == \
        b"from boto2"
    assert "boto2 key" in [x.name for x in b.list()]
    b.delete_key("boto2 key", headers=hdrs)
    assert b.get_key("boto2 key") is None


# --- s3cmd, V2 and V4 ---------------------------------------------------------------

def s3cmd_config(wl, tmp_path, user):
    ak, sk = wl.users[user]
    host = f"127.0.0.1:{wl.daemon.port}"
    cfg = tmp_path / f"s3cfg-{user}"
    cfg.write_text("[default]\n"
                   f"access_key = {ak}\nsecret_key = {sk}\n"
                   f"host_base = {host}\nhost_bucket = {host}\n"   # no %(bucket)s: path style
                   "use_https = False\nbucket_location = us-east-1\n"
                   "signature_v2 = False\nguess_mime_type = False\n"
                   "check_ssl_certificate = False\n")
    return cfg


@pytest.mark.parametrize("mode", ["--signature-v2", "v4"])
def test_s3cmd(wl, tmp_path, mode):
    cfg = s3cmd_config(wl, tmp_path, "alice")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LC_ALL": "C.UTF-8"}
    v2 = mode == "--signature-v2"

    def s3cmd(*args):
        # --debug says how each request was signed (V2: with x-amz-date "... +0000")
        argv = [S3CMD, "-c", str(cfg), "--debug", *([mode] if v2 else []), *args]
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"s3cmd {' '.join(args)}: {r.stdout}{r.stderr[-3000:]}"
        assert ("Using signature v4" in r.stderr, "Using signature v2" in r.stderr) == \
            (not v2, v2) and "Falling back" not in r.stderr, r.stderr[-3000:]
        if v2:
            assert re.search(r"x-amz-date:\w{3}, \d\d \w{3} \d{4} [\d:]{8} \+0000", r.stderr)
        return r.stdout

    name = f"s3cmd-{'v2' if v2 else 'v4'}-{os.getpid()}"
    src, dst = tmp_path / "up.bin", tmp_path / "down.bin"
    src.write_bytes(os.urandom(100000) + b"end")
    s3cmd("mb", f"s3://{name}")
    assert f"s3://{name}" in s3cmd("ls")
    s3cmd("put", str(src), f"s3://{name}/dir/up.bin")
    listing = s3cmd("ls", f"s3://{name}/dir/")
    assert f"s3://{name}/dir/up.bin" in listing and " 100003 " in listing
    s3cmd("get", f"s3://{name}/dir/up.bin", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    s3cmd("del", f"s3://{name}/dir/up.bin")
    assert "up.bin" not in s3cmd("ls", f"s3://{name}/dir/")
    s3cmd("rb", f"s3://{name}")
    assert f"s3://{name}" not in s3cmd("ls")


# --- canned ACLs ----------------------------------------------------------------

def grants(acl_xml):
    """[(type, id-or-uri, permission)] of an AccessControlPolicy answer."""
    root = ET.fromstring(acl_xml)
    out = []
    for g in root.iter(S3NS + "Grant"):
        grantee = g.find(S3NS + "Grantee")
        who = grantee.findtext(S3NS + "ID") or grantee.findtext(S3NS + "URI")
        out.append((grantee.get(XSI_TYPE), who, g.findtext(S3NS + "Permission")))
    return out


def canonical_id(wl, user):
    """A user's canonical id (the account id), as ListBuckets shows its Owner."""
    return wl.boto3(wl.users[user]).list_buckets()["Owner"]["ID"]


@pytest.mark.parametrize("acl", ["aws-exec-read", "ec2-bundle-read"])
def test_bundle_upload_with_exec_read(wl, alice, bucket, acl):
    """euca-upload-bundle: x-amz-acl aws-exec-read (the default) or ec2-bundle-read,
    signed with email.utils.formatdate()'s -0000 Date.  Its owner and the cloud
    (karri-system) may read the bundle; another user or anonymous may not."""
    parts = {"img.manifest.xml": b"<manifest/>", "img.part.00": b"\x00part" * 100}
    for key, data in parts.items():
        st, body = v2_request(wl, "alice", "PUT", f"/{bucket}/bundles/{key}", {
            "Date": email.utils.formatdate(), "x-amz-acl": acl,
            "Content-Type": "application/octet-stream"}, data)
        assert st == 200, body
    for key, data in parts.items():
        path = f"/{bucket}/bundles/{key}"
        for user, want in (("alice", 200), ("karri-system", 200), ("bob", 403)):
            st, body = v2_request(wl, user, "GET", path, {"Date": email.utils.formatdate()})
            assert st == want, (user, key, body)
            if want == 200:
                assert body == data
        conn = http.client.HTTPConnection("127.0.0.1", wl.daemon.port, timeout=10)
        conn.request("GET", path)
        assert conn.getresponse().status == 403
        conn.close()
    # GetObjectAcl: the owner's FULL_CONTROL and karri-system's READ, as S3 shows EC2's
    st, body = v2_request(wl, "alice", "GET", f"/{bucket}/bundles/img.manifest.xml?acl",
                          {"Date": email.utils.formatdate()})
    assert grants(body) == [("CanonicalUser", canonical_id(wl, "alice"), "FULL_CONTROL"),
                            ("CanonicalUser", canonical_id(wl, "karri-system"), "READ")]
    # ... and that document, put back, means the same ACL again
    st, _ = v2_request(wl, "alice", "PUT", f"/{bucket}/bundles/img.manifest.xml?acl",
                       {"Date": email.utils.formatdate(), "Content-Type": "application/xml"}, body)
    assert st == 200
    st, again = v2_request(wl, "alice", "GET", f"/{bucket}/bundles/img.manifest.xml?acl",
                           {"Date": email.utils.formatdate()})
    assert grants(again) == grants(body)


def test_unknown_canned_acl_refused(wl, alice, bucket):
    alice.put_object(Bucket=bucket, Key="x", Body=b"x")
    for call in (lambda: alice.put_object(Bucket=bucket, Key="x", Body=b"x", ACL="world-read"),
                 lambda: alice.put_object_acl(Bucket=bucket, Key="x", ACL="world-read"),
                 lambda: alice.copy_object(Bucket=bucket, Key="y", ACL="world-read",
                                           CopySource={"Bucket": bucket, "Key": "x"}),
                 lambda: alice.create_bucket(Bucket=f"bad-acl-{os.getpid()}", ACL="world-read")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "InvalidArgument"
    assert [o["Key"] for o in alice.list_objects_v2(Bucket=bucket)["Contents"]] == ["x"]


def test_canned_acls_grants_and_access(wl, alice, bucket):
    """Each canned ACL on an object bob wrote into alice's bucket: who may read it,
    and the grants GetObjectAcl shows."""
    bob, carol = wl.boto3(wl.users["bob"]), wl.boto3(wl.users["carol"])
    anon = wl.boto3(("x", "y"), signature_version=botocore.UNSIGNED)
    alice.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    bob.put_object(Bucket=bucket, Key="probe", Body=b"p")
    a_id, b_id = canonical_id(wl, "alice"), canonical_id(wl, "bob")
    sys_id = canonical_id(wl, "karri-system")
    cases = {
        # acl: (readers among alice/carol/karri-system/anonymous, grants beyond bob's own)
        "private": (set(), []),
        "public-read": ({"alice", "carol", "karri-system", "anon"},
                        [("Group", ALL_USERS, "READ")]),
        "public-read-write": ({"alice", "carol", "karri-system", "anon"},
                              [("Group", ALL_USERS, "READ"), ("Group", ALL_USERS, "WRITE")]),
        "authenticated-read": ({"alice", "carol", "karri-system"},
                               [("Group", AUTH_USERS, "READ")]),
        "aws-exec-read": ({"karri-system"}, [("CanonicalUser", sys_id, "READ")]),
        "ec2-bundle-read": ({"karri-system"}, [("CanonicalUser", sys_id, "READ")]),
        "bucket-owner-read": ({"alice"}, [("CanonicalUser", a_id, "READ")]),
        "bucket-owner-full-control": ({"alice"}, [("CanonicalUser", a_id, "FULL_CONTROL")]),
        "log-delivery-write": (set(), [("Group", LOG_DELIVERY, "WRITE"),
                                       ("Group", LOG_DELIVERY, "READ_ACP")]),
    }
    clients = {"alice": alice, "carol": carol, "anon": anon,
               "karri-system": wl.boto3(wl.users["karri-system"])}
    for acl, (readers, extra) in cases.items():
        key = f"obj-{acl}"
        bob.put_object(Bucket=bucket, Key=key, Body=acl.encode(), ACL=acl)
        got = bob.get_object_acl(Bucket=bucket, Key=key)
        shown = [(g["Grantee"]["Type"], g["Grantee"].get("ID") or g["Grantee"].get("URI"),
                  g["Permission"]) for g in got["Grants"]]
        assert shown == [("CanonicalUser", b_id, "FULL_CONTROL")] + extra, acl
        assert bob.get_object(Bucket=bucket, Key=key)["Body"].read() == acl.encode()
        for who, c in clients.items():
            try:
                ok = c.get_object(Bucket=bucket, Key=key)["Body"].read() == acl.encode()
            except ClientError as e:
                assert e.response["Error"]["Code"] == "AccessDenied", (acl, who)
                ok = False
            assert ok == (who in readers), (acl, who)
        # only bucket-owner-full-control lets the bucket's owner at the ACL itself
        try:
            alice.get_object_acl(Bucket=bucket, Key=key)
            acp = True
        except ClientError:
            acp = False
        assert acp == (acl == "bucket-owner-full-control"), acl
        # the same ACL set afterwards, as a header and as the document just read
        bob.put_object_acl(Bucket=bucket, Key=key, ACL="private")
        bob.put_object_acl(Bucket=bucket, Key=key, ACL=acl)
        bob.put_object_acl(Bucket=bucket, Key=key, AccessControlPolicy={
            "Owner": got["Owner"], "Grants": got["Grants"]})
        again = bob.get_object_acl(Bucket=bucket, Key=key)["Grants"]
        assert again == got["Grants"], acl
    # the bucket owner with full control may change the object's ACL
    alice.put_object_acl(Bucket=bucket, Key="obj-bucket-owner-full-control", ACL="public-read")
    # a grant that is no canned ACL is refused, not dropped
    with pytest.raises(ClientError) as e:
        bob.put_object_acl(Bucket=bucket, Key="probe", AccessControlPolicy={
            "Owner": {"ID": b_id}, "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": b_id}, "Permission": "FULL_CONTROL"},
                {"Grantee": {"Type": "CanonicalUser", "ID": sys_id}, "Permission": "WRITE"}]})
    assert code(e) == "NotImplemented"


def test_bucket_canned_acls(wl, alice, bucket):
    """On a bucket: log-delivery-write shows LogDelivery's grants; bucket-owner-*
    are taken and mean private, as in S3; aws-exec-read lets the cloud list."""
    system = wl.boto3(wl.users["karri-system"])
    bob = wl.boto3(wl.users["bob"])
    for acl in ("log-delivery-write", "bucket-owner-read", "bucket-owner-full-control",
                "aws-exec-read"):
        alice.put_bucket_acl(Bucket=bucket, ACL=acl)
        shown = [(g["Grantee"].get("URI") or g["Grantee"].get("DisplayName"), g["Permission"])
                 for g in alice.get_bucket_acl(Bucket=bucket)["Grants"]]
        want = {"log-delivery-write": [("alice", "FULL_CONTROL"), (LOG_DELIVERY, "WRITE"),
                                       (LOG_DELIVERY, "READ_ACP")],
                "aws-exec-read": [("alice", "FULL_CONTROL"), ("karri-system", "READ")]}
        assert shown == want.get(acl, [("alice", "FULL_CONTROL")]), acl
        with pytest.raises(ClientError):
            bob.list_objects_v2(Bucket=bucket)
        if acl == "aws-exec-read":
            system.list_objects_v2(Bucket=bucket)
        else:
            with pytest.raises(ClientError):
                system.list_objects_v2(Bucket=bucket)
    name = f"ec2b-{os.getpid()}"
    alice.create_bucket(Bucket=name, ACL="ec2-bundle-read")
    system.list_objects_v2(Bucket=name)
    alice.delete_bucket(Bucket=name)
