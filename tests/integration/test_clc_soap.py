"""The CLC's EC2 SOAP API, driven by an independent signer: xmlsec1 signs EC2
SOAP envelopes (WS-Security X.509, exclusive c14n, RSA-SHA1) with the user's
certificate and key from `karri credentials`, as EC2's SOAP tools did.
Answers come in the namespace of the requested version; state is the Query
API's (awscli sees what SOAP made and the other way round); unsigned,
tampered, foreign-CA and expired requests are clear faults that change
nothing.  The signature checks in detail: clc/soap-test.c.
"""

import datetime
import subprocess

import pytest

from harness import ec2soap
from harness.clc import ClcCloud
from harness.daemons import free_port

V = "2009-11-30"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = ClcCloud(tmp_path_factory.mktemp("clcsoap"))
    c.karri("register-cluster", "zone1", f"127.0.0.1:{free_port()}")
    with c:
        for name in ("alice", "bob"):
            u = c.user(name)
            d = tmp_path_factory.mktemp(f"creds-{name}")
            c.karri("credentials", name, str(d))
            u.cert, u.key = (d / f"{name}-cert.pem").read_text(), str(d / f"{name}-pk.pem")
        yield c


def call(cloud, user, op_xml, path="/services/Eucalyptus", **kw):
    """Sign op_xml as user and POST it: (status, answer root)."""
    body = ec2soap.signed(op_xml, user.cert, user.key, **kw)
    return ec2soap.post(f"http://127.0.0.1:{cloud.port}{path}", body)


def op(name, inner="", version=V):
    return f'<{name} xmlns="{ec2soap.ns(version)}">{inner}</{name}>'


def ok(status, root, name, version=V):
    """The <nameResponse> of a successful answer, checked for its namespace."""
    assert status == 200, ec2soap.fault(root)
    resp = ec2soap.response(root)
    assert resp.tag == f"{{{ec2soap.ns(version)}}}{name}Response"
    return resp


def texts(el, path, version=V):
    n = ec2soap.ns(version)
    return [e.text for e in el.findall("/".join(f"{{{n}}}{p}" for p in path.split("/")))]


def test_zones_answer_in_the_requested_version_on_every_path(cloud):
    alice = cloud.users["alice"]
    for version, path in (("2009-11-30", "/services/Eucalyptus"),
                          ("2014-10-01", "/services/Eucalyptus/"), ("2016-11-15", "/")):
        status, root = call(cloud, alice, op("DescribeAvailabilityZones", version=version),
                            path=path)
        resp = ok(status, root, "DescribeAvailabilityZones", version)
        assert texts(resp, "availabilityZoneInfo/item/zoneName", version) == ["zone1"]
        assert texts(resp, "requestId", version)[0]
    status, root = call(cloud, alice, op("DescribeRegions"))
    assert texts(ok(status, root, "DescribeRegions"), "regionInfo/item/regionName") == ["karri"]


def test_key_pairs_are_shared_with_the_query_api(cloud):
    alice = cloud.users["alice"]
    status, root = call(cloud, alice, op("CreateKeyPair", "<keyName>soap-k1</keyName>"))
    resp = ok(status, root, "CreateKeyPair")
    assert texts(resp, "keyName") == ["soap-k1"]
    assert texts(resp, "keyMaterial")[0].startswith("-----BEGIN RSA PRIVATE KEY-----")
    fingerprint = texts(resp, "keyFingerprint")[0]
    # awscli (Query, SigV4) sees the key SOAP made, with the same fingerprint...
    keys = {k["KeyName"]: k for k in alice.aws("describe-key-pairs")["KeyPairs"]}
    assert keys["soap-k1"]["KeyFingerprint"] == fingerprint
    # ...and SOAP sees the key awscli made, picked by a keySet.
    alice.aws("create-key-pair", "--key-name", "query-k1")
    status, root = call(cloud, alice, op("DescribeKeyPairs", "<keySet><item><keyName>query-k1"
                                         "</keyName></item></keySet>"))
    assert texts(ok(status, root, "DescribeKeyPairs"), "keySet/item/keyName") == ["query-k1"]
    # EC2's error codes arrive as faults.
    status, root = call(cloud, alice, op("CreateKeyPair", "<keyName>soap-k1</keyName>"))
    assert status == 500
    assert ec2soap.fault(root)[0] == "aws:Client.InvalidKeyPair.Duplicate"
    # The certificate says who the caller is: bob sees none of alice's keys.
    status, root = call(cloud, cloud.users["bob"], op("DescribeKeyPairs"))
    assert texts(ok(status, root, "DescribeKeyPairs"), "keySet/item/keyName") == []


def test_security_groups_and_rules(cloud):
    alice = cloud.users["alice"]
    status, root = call(cloud, alice, op("CreateSecurityGroup", "<groupName>soap-web</groupName>"
                                         "<groupDescription>web servers</groupDescription>"))
    assert texts(ok(status, root, "CreateSecurityGroup"), "return") == ["true"]
    status, root = call(cloud, alice, op(
        "AuthorizeSecurityGroupIngress",
        f"<userId>{alice.account}</userId><groupName>soap-web</groupName><ipPermissions><item>"
        "<ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort><groups/>"
        "<ipRanges><item><cidrIp>10.1.0.0/16</cidrIp></item></ipRanges></item></ipPermissions>"))
    ok(status, root, "AuthorizeSecurityGroupIngress")
    status, root = call(cloud, alice, op("DescribeSecurityGroups", "<securityGroupSet><item>"
                                         "<groupName>soap-web</groupName></item>"
                                         "</securityGroupSet>"))
    resp = ok(status, root, "DescribeSecurityGroups")
    assert texts(resp, "securityGroupInfo/item/groupDescription") == ["web servers"]
    assert texts(resp, "securityGroupInfo/item/ipPermissions/item/ipRanges/item/cidrIp") == \
        ["10.1.0.0/16"]
    g = alice.aws("describe-security-groups", "--group-names", "soap-web")["SecurityGroups"][0]
    assert g["IpPermissions"][0]["FromPort"] == 22
    assert g["IpPermissions"][0]["IpRanges"][0]["CidrIp"] == "10.1.0.0/16"


def foreign_pair(tmp_path):
    """alice's name on a certificate from some other CA: (cert PEM, key path)."""
    d = str(tmp_path)
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=60)  # noqa
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/ca.key",
        "-out", f"{d}/ca.pem", "-subj", "/CN=Karri cloud CA", "-days", "30")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/a.key",
        "-out", f"{d}/a.csr", "-subj", "/CN=alice")
    run("openssl", "x509", "-req", "-in", f"{d}/a.csr", "-CA", f"{d}/ca.pem", "-CAkey",
        f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/a.pem", "-days", "30")
    return open(f"{d}/a.pem").read(), f"{d}/a.key"


def test_bad_signatures_are_clear_faults_and_change_nothing(cloud, tmp_path):
    alice = cloud.users["alice"]
    url = f"http://127.0.0.1:{cloud.port}/services/Eucalyptus"
    create = lambda name: op("CreateKeyPair", f"<keyName>{name}</keyName>")  # noqa: E731
    signed = ec2soap.signed(create("bad-tampered"), alice.cert, alice.key)
    cert, key = foreign_pair(tmp_path)
    hour_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    cases = {
        "unsigned": (ec2soap.template(create("bad-unsigned"), alice.cert)
                     .split("<soap:Header>")[0] + "<soap:Body>" + create("bad-unsigned")
                     + "</soap:Body></soap:Envelope>").encode(),
        "tampered": signed.replace(b"bad-tampered", b"bad-tampered2"),
        "foreign CA": ec2soap.signed(create("bad-foreign"), cert, key),
        "expired": ec2soap.signed(create("bad-expired"), alice.cert, alice.key,
                                  created=hour_ago),
        # An unsigned second Body beside the signed one.
        "second body": signed.replace(b"</soap:Envelope>", b"<soap:Body>" +
                                      create("bad-second").encode() +
                                      b"</soap:Body></soap:Envelope>"),
    }
    want = {"unsigned": ("aws:Client.AuthFailure", "not signed"),
            "tampered": ("aws:Client.SignatureDoesNotMatch", "changed after signing"),
            "foreign CA": ("aws:Client.AuthFailure", "not from this cloud's CA"),
            "expired": ("aws:Client.RequestExpired", "Timestamp"),
            "second body": ("aws:Client.InvalidRequest", "one Body")}
    for case, body in cases.items():
        status, root = ec2soap.post(url, body)
        code, message = ec2soap.fault(root)
        assert status == 500 and code == want[case][0] and want[case][1] in message, \
            (case, code, message)
    names = [k["KeyName"] for k in alice.aws("describe-key-pairs")["KeyPairs"]]
    assert not [n for n in names if n.startswith("bad-")]
    # The untouched signed request still works: the faults above were the changes.
    status, root = ec2soap.post(url, signed)
    ok(status, root, "CreateKeyPair")


def test_unserved_actions_and_versions(cloud):
    alice = cloud.users["alice"]
    for body, code in ((op("CreateVpc", "<cidrBlock>10.0.0.0/16</cidrBlock>"),
                        "aws:Client.UnsupportedOperation"),
                       (op("DescribeUnicorns"), "aws:Client.InvalidAction"),
                       (op("DescribeRegions", version="2001-01-01"), "aws:Client.NoSuchVersion"),
                       (op("DescribeKeyPairs", "<keySet><item><bogus>x</bogus></item></keySet>"),
                        "aws:Client.UnknownParameter")):
        status, root = call(cloud, alice, body)
        assert status == 500 and ec2soap.fault(root)[0] == code, ec2soap.fault(root)


def test_soap12_and_rsa_sha256(cloud):
    """SOAP 1.2 envelopes get SOAP 1.2 answers; RSA-SHA256 signatures are accepted too."""
    alice = cloud.users["alice"]
    url = f"http://127.0.0.1:{cloud.port}/services/Eucalyptus"
    ct = "application/soap+xml; charset=utf-8"
    hdrs = {}
    body = ec2soap.signed(op("DescribeRegions"), alice.cert, alice.key, soap12=True, sha256=True)
    status, root = ec2soap.post(url, body, content_type=ct, headers=hdrs)
    assert status == 200 and hdrs["Content-Type"].startswith("application/soap+xml")
    resp = ec2soap.response(root, ec2soap.SOAP12)
    assert resp.tag == f"{{{ec2soap.ns(V)}}}DescribeRegionsResponse"
    body = ec2soap.signed(op("DeleteSecurityGroup", "<groupName>no-such</groupName>"),
                          alice.cert, alice.key, soap12=True)
    status, root = ec2soap.post(url, body, content_type=ct)
    code, subcode, reason = ec2soap.fault12(root)
    assert status == 400 and code.endswith(":Sender"), (code, subcode, reason)
    assert subcode == "aws:InvalidGroup.NotFound" and reason
    # References with an InclusiveNamespaces PrefixList (WSS4J's habit) verify too.
    body = ec2soap.signed(op("DescribeRegions"), alice.cert, alice.key, prefixes="soap wsu")
    status, root = ec2soap.post(url, body)
    ok(status, root, "DescribeRegions")


def test_instance_image_address_and_volume_families(cloud):
    """Each family answers over SOAP with the Query API's state."""
    alice = cloud.users["alice"]
    for name, path in (("DescribeInstances", "reservationSet"), ("DescribeImages", "imagesSet"),
                       ("DescribeVolumes", "volumeSet")):
        status, root = call(cloud, alice, op(name))
        assert ok(status, root, name).find(f"{{{ec2soap.ns(V)}}}{path}") is not None
    status, root = call(cloud, alice, op("AllocateAddress"))
    ip = texts(ok(status, root, "AllocateAddress"), "publicIp")[0]
    assert ip in [a["PublicIp"] for a in alice.aws("describe-addresses")["Addresses"]]
    status, root = call(cloud, alice, op("DescribeAddresses", "<publicIpsSet><item><publicIp>"
                                         f"{ip}</publicIp></item></publicIpsSet>"))
    assert texts(ok(status, root, "DescribeAddresses"), "addressesSet/item/publicIp") == [ip]
    status, root = call(cloud, alice, op("ReleaseAddress", f"<publicIp>{ip}</publicIp>"))
    ok(status, root, "ReleaseAddress")
    assert ip not in [a["PublicIp"] for a in alice.aws("describe-addresses")["Addresses"]]
    status, root = call(cloud, alice, op("TerminateInstances", "<instancesSet><item><instanceId>"
                                         "i-00000000</instanceId></item></instancesSet>"))
    assert ec2soap.fault(root)[0] == "aws:Client.InvalidInstanceID.NotFound"
