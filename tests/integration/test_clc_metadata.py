"""The instance metadata service as cloud-init and today's SDKs read it: every
version they ask for, GET / listing versions, the tree crawled the way
cloud-init's Ec2 datasource crawls it (block-device-mapping, network/interfaces,
public-keys), IMDSv2 tokens (issue, use, refuse), the identity document and
its signatures checked with openssl against the cloud's certificate, and the
CLC's log line per request.

The CLC identifies a guest by its address; here the requests come from
127.0.0.1, a registered cluster's host (the stub CC), which may name the
guest in X-Forwarded-For, as a CC proxying metadata does.
"""

import json
import sqlite3
import subprocess
import urllib.error
import urllib.request

import pytest

from harness.clc import ClcCloud, register_stub_cluster, wait_for
from harness.images import ImageStore, openssl_pair

VERSIONS = ["2016-09-02", "2018-09-24", "2021-03-23", "latest"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    keys = tmp_path_factory.mktemp("mdkeys")
    cert, key = openssl_pair(str(keys), "cloud")
    c = ClcCloud(tmp_path_factory.mktemp("clcmd"),
                 config={"KARRI_CLOUD_CERT": cert, "KARRI_CLOUD_KEY": key})
    c.cloud_cert = cert
    alice = c.user("alice")
    cc = register_stub_cluster(c, "zone1")
    with c, ImageStore(c, tmp_path_factory.mktemp("clcmd-walrus")) as store:
        c.cc, c.store = cc, store
        c.image = store.register(alice, "alice-md", "img")
        wait_for(lambda: alice.ec2.describe_availability_zones()["AvailabilityZones"][0]
                 ["State"] == "available")
        yield c
    cc.stop()


def launch(cloud, **kw):
    ec2 = cloud.users["alice"].ec2
    iid = ec2.run_instances(ImageId=cloud.image, MinCount=1, MaxCount=1, **kw)[
        "Instances"][0]["InstanceId"]

    def running():
        i = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        return i if i["State"]["Name"] == "running" else None
    inst = wait_for(running)
    return iid, inst["PrivateIpAddress"]


@pytest.fixture(scope="module")
def guest(cloud):
    ec2 = cloud.users["alice"].ec2
    ec2.create_key_pair(KeyName="mdk")
    ec2.create_security_group(GroupName="mdweb", Description="web")
    iid, ip = launch(cloud, KeyName="mdk", UserData="#cloud-config\nhostname: x\n",
                     SecurityGroups=["mdweb"], InstanceType="m1.small")
    yield {"id": iid, "ip": ip}
    ec2.terminate_instances(InstanceIds=[iid])


def request(cloud, ip, path, method="GET", headers=None):
    """(status, body bytes, headers) of a metadata request made on behalf of ip."""
    h = {"X-Forwarded-For": ip} if ip else {}
    h.update(headers or {})
    req = urllib.request.Request(f"http://127.0.0.1:{cloud.port}{path}", headers=h,
                                 method=method, data=b"" if method == "PUT" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


class Imds:
    """A guest's client as cloud-init's Ec2 datasource is: IMDSv2 token, then crawl."""

    def __init__(self, cloud, ip, token=True):
        self.cloud, self.ip, self.headers = cloud, ip, {}
        if token:
            status, body, hdrs = request(cloud, ip, "/latest/api/token", "PUT",
                                         {"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
            assert status == 200, body
            assert hdrs["X-aws-ec2-metadata-token-ttl-seconds"] == "21600"
            self.headers = {"X-aws-ec2-metadata-token": body.decode()}

    def get(self, path):
        status, body, _ = request(self.cloud, self.ip, path, headers=self.headers)
        assert status == 200, (path, status, body)
        return body.decode()

    def crawl(self, base):
        """cloud-init's ec2_utils.MetadataMaterializer, in short."""
        out = {}
        for field in self.get(base).splitlines():
            field = field.strip()
            if not field:
                continue
            if field.endswith("/"):
                out[field.rstrip("/")] = self.crawl(base + field)
                continue
            name, resource = field, field
            if "=" in field:                     # public-keys: "0=name"
                ident, name = field.split("=", 1)
                resource = f"{int(ident)}/openssh-key"
            blob = self.get(base + resource)
            out[name] = blob.splitlines() if "\n" in blob else blob
        return out


def test_versions_at_root_and_every_version_answers(cloud, guest):
    status, body, _ = request(cloud, guest["ip"], "/")
    assert status == 200
    listed = body.decode().split("\n")
    for v in VERSIONS + ["1.0", "2009-04-04"]:
        assert v in listed
    # GET / from anyone who is no instance is still the EC2 API (an error, not a list).
    status, body, _ = request(cloud, None, "/")
    assert status != 200 and b"<Response>" in body
    for v in VERSIONS:
        assert Imds(cloud, guest["ip"]).get(f"/{v}/meta-data/instance-id") == guest["id"]
    assert request(cloud, guest["ip"], "/2099-01-01/meta-data/")[0] in (400, 404)


def test_tree_as_cloud_init_crawls_it(cloud, guest):
    imds = Imds(cloud, guest["ip"])
    for v in VERSIONS:
        md = imds.crawl(f"/{v}/meta-data/")
        assert md["instance-id"] == guest["id"] and md["ami-id"] == cloud.image
        assert md["local-ipv4"] == guest["ip"]
        host = "ip-" + guest["ip"].replace(".", "-") + ".karri.compute.internal"
        assert md["local-hostname"] == host and md["hostname"] == host
        assert md["placement"] == {"availability-zone": "zone1", "region": "karri"}
        assert md["services"]["domain"] and md["instance-action"] == "none"
        assert md["ami-manifest-path"] == "alice-md/img.manifest.xml"
        assert md["security-groups"] == "mdweb"
        assert md["public-keys"]["mdk"].startswith("ssh-rsa ")
        bdm = md["block-device-mapping"]
        assert bdm["ami"] and bdm["root"].startswith("/dev/")
        assert {"ephemeral0", "swap"} <= set(bdm)
        macs = md["network"]["interfaces"]["macs"]
        assert list(macs) == [md["mac"]]
        nic = macs[md["mac"]]
        assert nic["device-number"] == "0" and nic["local-ipv4s"] == guest["ip"]
        assert nic["mac"] == md["mac"] and nic["security-groups"] == "mdweb"
        assert nic["security-group-ids"].startswith("sg-")
        assert "public-ipv4s" not in nic and "public-ipv4" not in md
    assert imds.get("/latest/user-data") == "#cloud-config\nhostname: x\n"
    # Leaves answer with or without a trailing slash (botocore asks ".../availability-zone/").
    assert imds.get("/latest/meta-data/placement/availability-zone/") == "zone1"
    assert request(cloud, guest["ip"], "/latest/meta-data/no-such-leaf")[0] == 404


def test_public_address_and_attached_volume_appear(cloud, guest):
    ec2 = cloud.users["alice"].ec2
    pub = ec2.allocate_address()["PublicIp"]
    ec2.associate_address(InstanceId=guest["id"], PublicIp=pub)
    # An attached EBS volume, as AttachVolume records it (no EBS here).
    db = sqlite3.connect(f"{cloud.home}/var/lib/karri/clc.db", timeout=10)
    with db:
        db.execute("INSERT INTO volumes (id, owner, size, zone, status, created, instance_id,"
                   " device, attach_status, attached) VALUES ('vol-0000md01', ?, 1, 'zone1',"
                   " 'in-use', 0, ?, '/dev/sdf', 'attached', 1)",
                   (cloud.users["alice"].account, guest["id"]))
    try:
        imds = Imds(cloud, guest["ip"], token=False)       # IMDSv1 works by default
        md = imds.crawl("/latest/meta-data/")
        assert md["public-ipv4"] == pub
        assert md["public-hostname"] == "ec2-" + pub.replace(".", "-") + \
            ".karri.compute.internal"
        nic = md["network"]["interfaces"]["macs"][md["mac"]]
        assert nic["public-ipv4s"] == pub
        assert nic["ipv4-associations"] == {pub: guest["ip"]}
        assert md["block-device-mapping"]["ebs1"] == "sdf"
    finally:
        with db:
            db.execute("DELETE FROM volumes WHERE id = 'vol-0000md01'")
        db.close()
        ec2.disassociate_address(PublicIp=pub)
        ec2.release_address(PublicIp=pub)


def openssl(*args, **kw):
    return subprocess.run(["/usr/bin/openssl", *args], capture_output=True, timeout=30, **kw)


def test_identity_document_signed_by_the_cloud(cloud, guest, tmp_path):
    imds = Imds(cloud, guest["ip"])
    assert imds.get("/latest/dynamic/instance-identity/").split("\n") == [
        "document", "pkcs7", "rsa2048", "signature"]
    doc = imds.get("/latest/dynamic/instance-identity/document")
    d = json.loads(doc)
    assert d["instanceId"] == guest["id"] and d["imageId"] == cloud.image
    assert d["accountId"] == cloud.users["alice"].account and d["region"] == "karri"
    assert d["availabilityZone"] == "zone1" and d["privateIp"] == guest["ip"]
    assert d["instanceType"] == "m1.small" and d["kernelId"] is None
    (tmp_path / "doc").write_text(doc)
    # signature: RSA-SHA256 over the document, checked with the certificate's public key.
    sig = imds.get("/latest/dynamic/instance-identity/signature")
    (tmp_path / "sig.b64").write_text(sig + "\n")
    assert openssl("base64", "-d", "-in", str(tmp_path / "sig.b64"),
                   "-out", str(tmp_path / "sig")).returncode == 0
    pub = openssl("x509", "-in", cloud.cloud_cert, "-pubkey", "-noout").stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    v = openssl("dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature",
                str(tmp_path / "sig"), str(tmp_path / "doc"))
    assert v.returncode == 0 and b"Verified OK" in v.stdout
    # pkcs7 (and rsa2048): detached PKCS#7, verified as AWS documents it.
    for leaf in ("pkcs7", "rsa2048"):
        p7 = imds.get(f"/latest/dynamic/instance-identity/{leaf}")
        (tmp_path / "p7.pem").write_text("-----BEGIN PKCS7-----\n" + p7 +
                                         "\n-----END PKCS7-----\n")
        v = openssl("smime", "-verify", "-in", str(tmp_path / "p7.pem"), "-inform", "PEM",
                    "-content", str(tmp_path / "doc"), "-certfile", cloud.cloud_cert,
                    "-CAfile", cloud.cloud_cert, "-out", "/dev/null")
        assert v.returncode == 0, v.stderr
    # A changed document does not verify.
    (tmp_path / "doc").write_text(doc.replace(guest["id"], "i-00000000"))
    v = openssl("dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature",
                str(tmp_path / "sig"), str(tmp_path / "doc"))
    assert v.returncode != 0


def test_imdsv2_tokens(cloud, guest):
    ip = guest["ip"]

    def put(ttl):
        h = {} if ttl is None else {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)}
        return request(cloud, ip, "/latest/api/token", "PUT", h)
    for bad in (None, 0, 21601, "x"):
        assert put(bad)[0] == 400
    status, token, _ = put(1)
    assert status == 200
    path = "/latest/meta-data/instance-id"
    ok = request(cloud, ip, path, headers={"X-aws-ec2-metadata-token": token.decode()})
    assert ok[:2] == (200, guest["id"].encode())
    assert request(cloud, ip, path, headers={"X-aws-ec2-metadata-token": "KR1bogus"})[0] == 401
    # Another instance's token is refused.
    other, other_ip = launch(cloud)
    try:
        st, tok2, _ = request(cloud, other_ip, "/latest/api/token", "PUT",
                              {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        assert st == 200
        assert request(cloud, ip, path,
                       headers={"X-aws-ec2-metadata-token": tok2.decode()})[0] == 401
    finally:
        cloud.users["alice"].ec2.terminate_instances(InstanceIds=[other])
    # The 2-second token expires: wait for that state, bounded.
    wait_for(lambda: request(cloud, ip, path,
                             headers={"X-aws-ec2-metadata-token": token.decode()})[0] == 401,
             timeout=10)
    # GET on the token path, PUT elsewhere: 405, as EC2.
    assert request(cloud, ip, "/latest/api/token")[0] == 405
    assert request(cloud, ip, "/latest/meta-data/", "PUT")[0] == 405
    # The EC2 API refuses PUT.
    assert request(cloud, None, "/services/Eucalyptus", "PUT")[0] == 404


def test_each_request_logged(cloud, guest):
    request(cloud, guest["ip"], "/latest/meta-data/ami-id")
    request(cloud, guest["ip"], "/latest/meta-data/nothing-here")
    log = wait_for(lambda: [line for line in cloud.clc.log().splitlines()
                            if "metadata: " + guest["id"] in line and "nothing-here" in line])
    assert log[-1].endswith("GET /latest/meta-data/nothing-here 404")
    assert "INFO" in log[-1] or "info" in log[-1]


def test_tokens_required(tmp_path):
    c = ClcCloud(tmp_path / "clc", config={"CLC_METADATA_TOKENS": "required"})
    alice = c.user("alice")
    cc = register_stub_cluster(c, "zone1")
    try:
        with c, ImageStore(c, tmp_path / "walrus") as store:
            c.image = store.register(alice, "alice-req", "i")
            wait_for(lambda: alice.ec2.describe_availability_zones()["AvailabilityZones"][0]
                     ["State"] == "available")
            iid, ip = launch(c)
            assert request(c, ip, "/latest/meta-data/instance-id")[0] == 401
            assert Imds(c, ip).get("/latest/meta-data/instance-id") == iid
    finally:
        cc.stop()
