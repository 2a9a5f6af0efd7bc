"""The CLC's EC2 Query API with real clients: awscli (SigV4), boto2 forced to
SigV2, boto3; authentication and error answers; key pairs, groups, tags,
addresses, zones/regions/types, images; one user cannot see another's things.
"""

import base64
import hashlib
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from cryptography.hazmat.primitives import serialization

from harness.clc import AwsError, ClcCloud
from harness.images import ImageStore


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = ClcCloud(tmp_path_factory.mktemp("clc"))
    with c:
        c.user("alice")
        c.user("bob")
        c.user("root", admin=True)
        yield c


@pytest.fixture
def alice(cloud):
    return cloud.users["alice"]


@pytest.fixture
def bob(cloud):
    return cloud.users["bob"]


def raw_get(cloud, params, path="/services/Eucalyptus"):
    """An unsigned or hand-made request: (status, body)."""
    url = f"http://127.0.0.1:{cloud.port}{path}?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# --- authentication and errors -------------------------------------------------

def test_sigv4_awscli_and_boto3_and_boto2_sigv2(alice):
    assert alice.aws("describe-regions")["Regions"][0]["RegionName"] == "karri"
    assert alice.boto3().describe_availability_zones()["AvailabilityZones"] == []
    regions = alice.boto2(sigv2=True).get_all_regions()
    assert [r.name for r in regions] == ["karri"]
    assert alice.boto2(sigv2=False).get_all_zones() == []   # boto2's default: SigV4


def test_wrong_signature_is_auth_failure_401(cloud, alice):
    bad = type(alice)(cloud, "x", alice.account, alice.access, "0" * 40)
    with pytest.raises(AwsError) as e:
        bad.aws("describe-key-pairs")
    assert e.value.code == "AuthFailure"
    import boto.exception
    with pytest.raises(boto.exception.EC2ResponseError) as e2:
        bad.boto2().get_all_key_pairs()
    assert e2.value.status == 401 and e2.value.error_code == "AuthFailure"


def test_unknown_access_key_is_auth_failure(cloud, alice):
    bad = type(alice)(cloud, "x", "0", "AKI" + "X" * 17, alice.secret)
    with pytest.raises(AwsError) as e:
        bad.aws("describe-key-pairs")
    assert e.value.code == "AuthFailure"


def test_expired_timestamp_is_request_expired(cloud, alice):
    import boto.exception
    conn = alice.boto2()
    old = time.gmtime(time.time() - 3600)
    real = time.gmtime
    try:
        # boto2's SigV2 signer stamps Timestamp with time.gmtime(): an hour ago.
        time.gmtime = lambda *a: old if not a else real(*a)
        with pytest.raises(boto.exception.EC2ResponseError) as e:
            conn.get_all_key_pairs()
    finally:
        time.gmtime = real
    assert e.value.status == 400 and e.value.error_code == "RequestExpired"


def test_no_authentication_is_rejected(cloud):
    status, body = raw_get(cloud, {"Action": "DescribeRegions", "Version": "2016-11-15"})
    assert status in (400, 401) and "<Code>" in body and "<RequestID>" in body


def test_unknown_action_and_unsupported_action(alice):
    b3 = alice.boto3()
    import botocore.exceptions
    with pytest.raises(botocore.exceptions.ClientError) as e:
        b3._make_api_call("DescribeVpcs", {})
    assert e.value.response["Error"]["Code"] == "UnsupportedOperation"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    conn = alice.boto2()
    import boto.exception
    with pytest.raises(boto.exception.EC2ResponseError) as e2:
        conn.get_object("DescribeUnicorns", {}, object)
    assert e2.value.status == 400 and e2.value.error_code == "InvalidAction"


def test_missing_and_invalid_parameters(alice):
    with pytest.raises(AwsError) as e:
        alice.aws("delete-security-group")
    assert e.value.code == "MissingParameter"
    ec2 = alice.ec2
    assert alice.code_of(ec2.describe_instances,
                         Filters=[{"Name": "bogus", "Values": ["x"]}]) == "InvalidParameterValue"
    assert alice.code_of(ec2.describe_instances, InstanceIds=["i-XYZ"]) == \
        "InvalidInstanceID.Malformed"
    assert alice.code_of(ec2.describe_instances, InstanceIds=["i-12345678"]) == \
        "InvalidInstanceID.NotFound"
    assert alice.code_of(ec2.run_instances, ImageId="emi-12345678", MinCount=3,
                         MaxCount=2) == "InvalidParameterValue"
    assert alice.code_of(ec2.describe_instances, MaxResults=2) == "InvalidParameterValue"
    # DryRun never runs the action.
    assert alice.code_of(ec2.create_key_pair, KeyName="dry", DryRun=True) == "DryRunOperation"
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["dry"]}])[
        "KeyPairs"] == []
    # A parameter the action does not know is refused, not ignored.
    r = alice.boto2().make_request("DescribeKeyPairs", {"KeyNmae.1": "typo"})
    assert r.status == 400 and b"UnknownParameter" in r.read()


def test_versions_and_paths(alice):
    conn = alice.boto2()
    for version in ("2009-11-30", "2014-10-01", "2016-11-15"):
        conn.APIVersion = version
        body = conn.make_request("DescribeRegions", {}).read().decode()
        assert f'xmlns="http://ec2.amazonaws.com/doc/{version}/"' in body
    conn.APIVersion = "2020-01-01"
    r = conn.make_request("DescribeRegions", {})
    assert r.status == 400 and b"NoSuchVersion" in r.read()
    for path in ("/", "/services/Eucalyptus/"):
        c2 = alice.boto2()
        c2.path = path
        assert c2.make_request("DescribeRegions", {}).status == 200


def test_ec2_soap_unsigned_is_refused(cloud):
    """EC2 SOAP is served (test_clc_soap.py); unsigned, it is a clear AuthFailure fault."""
    body = (b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
            b'envelope/"><soap:Body><DescribeInstances xmlns="http://ec2.amazonaws.com/doc/'
            b'2009-11-30/"/></soap:Body></soap:Envelope>')
    req = urllib.request.Request(f"http://127.0.0.1:{cloud.port}/services/Eucalyptus",
                                 data=body, headers={"Content-Type": "text/xml",
                                                     "SOAPAction": "DescribeInstances"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    text = e.value.read().decode()
    assert e.value.code == 500 and "aws:Client.AuthFailure" in text and "not signed" in text


# --- key pairs --------------------------------------------------------------------

def test_create_key_pair_fingerprint_is_sha1_of_pkcs8(alice):
    k = alice.aws("create-key-pair", "--key-name", "kp-create")
    key = serialization.load_pem_private_key(k["KeyMaterial"].encode(), password=None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    want = ":".join(f"{b:02x}" for b in hashlib.sha1(der).digest())
    assert k["KeyFingerprint"] == want
    assert k["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert alice.code_of(alice.ec2.create_key_pair, KeyName="kp-create") == \
        "InvalidKeyPair.Duplicate"


def test_import_key_pair_fingerprint_is_md5_of_der_public_key(alice, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key()
    line = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    want = ":".join(f"{b:02x}" for b in hashlib.md5(der).digest())
    (tmp_path / "k.pub").write_bytes(line + b" me@host\n")
    got = alice.aws("import-key-pair", "--key-name", "kp-import",
                    "--public-key-material", f"fileb://{tmp_path / 'k.pub'}")
    assert got["KeyFingerprint"] == want
    # boto2 (SigV2) imports the same way; same fingerprint.
    kp = alice.boto2().import_key_pair("kp-import-2", line)
    assert kp.fingerprint == want
    names = {k["KeyName"]: k["KeyFingerprint"]
             for k in alice.ec2.describe_key_pairs()["KeyPairs"]}
    assert names["kp-import"] == want and names["kp-import-2"] == want
    assert alice.code_of(alice.ec2.import_key_pair, KeyName="bad",
                         PublicKeyMaterial=b"ssh-rsa bm90IGEga2V5") == "InvalidKey.Format"


def test_import_ed25519_key_fingerprint_is_base64_sha256(alice, tmp_path):
    """ssh-keygen's ed25519 key: EC2's fingerprint is ssh-keygen -l's SHA256 (base64, padded)."""
    key = tmp_path / "ed"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@host", "-f",
                    str(key)], check=True, timeout=30)
    shown = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{key}.pub"], check=True,
                           capture_output=True, text=True, timeout=30).stdout.split()[1]
    want = shown.removeprefix("SHA256:") + "="
    got = alice.aws("import-key-pair", "--key-name", "kp-ed25519",
                    "--public-key-material", f"fileb://{key}.pub")
    assert got["KeyFingerprint"] == want
    alice.ec2.create_key_pair(KeyName="kp-rsa-type")
    kps = {k["KeyName"]: k for k in alice.aws("describe-key-pairs")["KeyPairs"]}
    assert kps["kp-ed25519"]["KeyFingerprint"] == want
    assert kps["kp-ed25519"]["KeyType"] == "ed25519" and kps["kp-rsa-type"]["KeyType"] == "rsa"
    # the blob must hold one 32-byte ed25519 key: a 31-byte one is refused
    blob = base64.b64decode(open(f"{key}.pub").read().split()[1])
    short = base64.b64encode(blob[:15] + (31).to_bytes(4, "big") + blob[19:50]).decode()
    assert alice.code_of(alice.ec2.import_key_pair, KeyName="bad-ed",
                         PublicKeyMaterial=f"ssh-ed25519 {short} x".encode()) == "InvalidKey.Format"
    for name in ("kp-ed25519", "kp-rsa-type"):
        alice.ec2.delete_key_pair(KeyName=name)


def test_key_pairs_are_private_and_delete_is_idempotent(alice, bob):
    alice.ec2.create_key_pair(KeyName="kp-private")
    assert "kp-private" not in [k["KeyName"] for k in bob.ec2.describe_key_pairs()["KeyPairs"]]
    assert bob.code_of(bob.ec2.describe_key_pairs, KeyNames=["kp-private"]) == \
        "InvalidKeyPair.NotFound"
    bob.ec2.delete_key_pair(KeyName="kp-private")      # bob has none by that name: fine
    assert [k["KeyName"] for k in alice.ec2.describe_key_pairs(KeyNames=["kp-private"])
            ["KeyPairs"]] == ["kp-private"]
    got = alice.ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["kp-pri*"]}])
    assert [k["KeyName"] for k in got["KeyPairs"]] == ["kp-private"]
    alice.ec2.delete_key_pair(KeyName="kp-private")
    assert alice.code_of(alice.ec2.describe_key_pairs, KeyNames=["kp-private"]) == \
        "InvalidKeyPair.NotFound"


# --- security groups --------------------------------------------------------------

def test_groups_and_rules_both_shapes(alice, bob):
    gid = alice.aws("create-security-group", "--group-name", "web",
                    "--description", "web tier")["GroupId"]
    alice.aws("authorize-security-group-ingress", "--group-id", gid, "--ip-permissions",
              "IpProtocol=tcp,FromPort=80,ToPort=80,IpRanges=[{CidrIp=0.0.0.0/0}]",
              "IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=10.0.0.0/8}]")
    ec2 = alice.ec2
    assert alice.code_of(ec2.authorize_security_group_ingress, GroupId=gid, IpProtocol="tcp",
                         FromPort=80, ToPort=80, CidrIp="0.0.0.0/0") == \
        "InvalidPermission.Duplicate"
    # boto2's flat form over SigV2: a group-to-group grant and a CIDR rule.
    conn = alice.boto2()
    assert conn.authorize_security_group("web", src_security_group_name="default",
                                         src_security_group_owner_id=alice.account)
    assert conn.authorize_security_group("web", ip_protocol="udp", from_port=53, to_port=53,
                                         cidr_ip="192.168.0.0/16")
    groups = {g.name: g for g in conn.get_all_security_groups()}
    rules = {(r.ip_protocol, r.from_port, r.to_port): r for r in groups["web"].rules}
    assert ("tcp", "80", "80") in rules and ("udp", "53", "53") in rules
    assert [g.name for g in rules[("-1", None, None)].grants] == ["default"]
    assert alice.code_of(ec2.authorize_security_group_ingress, GroupId=gid, IpProtocol="tcp",
                         FromPort=80, ToPort=80, CidrIp="300.0.0.0/0") == "InvalidParameterValue"
    ec2.revoke_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=22, ToPort=22,
                                      CidrIp="10.0.0.0/8")
    assert alice.code_of(ec2.revoke_security_group_ingress, GroupId=gid, IpProtocol="tcp",
                         FromPort=22, ToPort=22, CidrIp="10.0.0.0/8") == \
        "InvalidPermission.NotFound"
    # bob sees only his own default group, and cannot touch alice's.
    assert [g["GroupName"] for g in bob.ec2.describe_security_groups()["SecurityGroups"]] == \
        ["default"]
    assert bob.code_of(bob.ec2.delete_security_group, GroupId=gid) == "InvalidGroup.NotFound"
    got = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["w*"]}])
    assert [g["GroupId"] for g in got["SecurityGroups"]] == [gid]
    assert alice.code_of(ec2.delete_security_group, GroupName="default") == "CannotDelete"
    ec2.delete_security_group(GroupId=gid)
    assert alice.code_of(ec2.create_security_group, GroupName="default",
                         Description="x") == "InvalidGroup.Duplicate"


# --- tags --------------------------------------------------------------------------

def test_tags_and_filters_and_pages(alice, bob):
    ec2 = alice.ec2
    ids = [ec2.create_security_group(GroupName=f"t{n}", Description="tagged")["GroupId"]
           for n in range(6)]
    alice.aws("create-tags", "--resources", *ids, "--tags", "Key=env,Value=prod",
              "Key=team,Value=core")
    ec2.create_tags(Resources=[ids[0]], Tags=[{"Key": "env", "Value": "dev"}])
    got = alice.aws("describe-tags", "--filters", "Name=key,Values=env",
                    "Name=value,Values=prod")["Tags"]
    assert sorted(t["ResourceId"] for t in got) == sorted(ids[1:])
    assert {t["ResourceType"] for t in got} == {"security-group"}
    groups = ec2.describe_security_groups(Filters=[{"Name": "tag:env", "Values": ["dev"]}])
    assert [g["GroupId"] for g in groups["SecurityGroups"]] == [ids[0]]
    assert {t["Key"]: t["Value"] for t in groups["SecurityGroups"][0]["Tags"]} == \
        {"env": "dev", "team": "core"}
    # Pages of 5 (boto3's paginator follows NextToken).
    pages = list(ec2.get_paginator("describe_tags").paginate(PaginationConfig={"PageSize": 5}))
    assert len(pages) >= 3 and sum(len(p["Tags"]) for p in pages) == 12
    ec2.delete_tags(Resources=[ids[0]], Tags=[{"Key": "env", "Value": "nope"}])
    ec2.delete_tags(Resources=[ids[0]], Tags=[{"Key": "team"}])
    left = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [ids[0]]}])["Tags"]
    assert [(t["Key"], t["Value"]) for t in left] == [("env", "dev")]
    assert bob.code_of(bob.ec2.create_tags, Resources=[ids[1]],
                       Tags=[{"Key": "x", "Value": "y"}]) == "InvalidGroup.NotFound"
    assert bob.ec2.describe_tags()["Tags"] == []
    assert alice.code_of(ec2.create_tags, Resources=[ids[1]],
                         Tags=[{"Key": "aws:x", "Value": "y"}]) == "InvalidParameterValue"
    assert alice.code_of(ec2.create_tags, Resources=["xyz-1"],
                         Tags=[{"Key": "a", "Value": "y"}]) == "InvalidID"


# --- addresses, zones, types ----------------------------------------------------------

def test_addresses_pool(alice, bob):
    a = alice.aws("allocate-address")["PublicIp"]
    assert a.startswith("10.99.0.")
    b = bob.boto2().allocate_address().public_ip
    assert b != a
    assert [x["PublicIp"] for x in alice.ec2.describe_addresses()["Addresses"]] == [a]
    assert bob.code_of(bob.ec2.release_address, PublicIp=a) == "InvalidAddress.NotFound"
    c = alice.ec2.allocate_address()["PublicIp"]
    assert alice.code_of(alice.ec2.allocate_address) == "AddressLimitExceeded"
    assert alice.code_of(alice.ec2.associate_address, PublicIp=a,
                         InstanceId="i-12345678") == "InvalidInstanceID.NotFound"
    for ip in (a, c):
        alice.ec2.release_address(PublicIp=ip)
    bob.ec2.release_address(PublicIp=b)
    assert alice.ec2.describe_addresses()["Addresses"] == []


def test_instance_types_regions_zones(alice, cloud):
    types = {t["InstanceType"]: t for t in alice.aws("describe-instance-types")["InstanceTypes"]}
    assert set(types) == {"m1.small", "c1.medium", "m1.large", "m1.xlarge", "c1.xlarge"}
    assert types["m1.small"]["VCpuInfo"]["DefaultVCpus"] == 1
    assert types["c1.xlarge"]["MemoryInfo"]["SizeInMiB"] == 2048
    cloud.karri("instance-type", "set", "m1.small", "1", "192", "3", "io")
    types = {t["InstanceType"]: t
             for t in alice.ec2.describe_instance_types()["InstanceTypes"]}
    assert types["m1.small"]["MemoryInfo"]["SizeInMiB"] == 192
    assert "io" in cloud.karri("instance-type", "list").stdout
    cloud.karri("instance-type", "set", "m1.small", "1", "128", "2", "standard")
    assert cloud.karri("instance-type", "set", "m9.huge", "1", "1", "1", "io",
                       check=False).returncode == 1
    assert alice.code_of(alice.ec2.describe_regions, RegionNames=["us-east-1"]) == \
        "InvalidParameterValue"


# --- images -----------------------------------------------------------------------------

def test_images_visibility_and_launch_permissions(alice, bob, cloud, tmp_path):
    root = cloud.users["root"]
    ec2, bec2 = alice.ec2, bob.ec2
    with ImageStore(cloud, tmp_path) as store:
        loc = store.publish(alice, "alice-bucket", "img")
        kloc = store.publish(alice, "alice-bucket", "vmlinuz", kind="kernel")
        img = alice.aws("register-image", "--image-location", loc,
                        "--name", "alice-image")["ImageId"]
        kern = alice.boto2().register_image(image_location=kloc, name="k")
    assert img.startswith("emi-")
    assert kern.startswith("eki-")
    assert alice.code_of(ec2.register_image, ImageLocation="nobucket", Name="x") == \
        "InvalidParameterValue"
    assert alice.code_of(ec2.register_image, ImageLocation="b/x.manifest.xml",
                         Name="alice-image") == "InvalidAMIName.Duplicate"
    assert bec2.describe_images()["Images"] == []
    assert bob.code_of(bec2.describe_images, ImageIds=[img]) == "InvalidAMIID.NotFound"
    # Launch permission for bob's account: he sees it, executable-by self.
    alice.aws("modify-image-attribute", "--image-id", img, "--launch-permission",
              f"Add=[{{UserId={bob.account}}}]")
    assert [i["ImageId"] for i in bec2.describe_images(ExecutableUsers=["self"])["Images"]] \
        == [img]
    attr = ec2.describe_image_attribute(ImageId=img, Attribute="launchPermission")
    assert attr["LaunchPermissions"] == [{"UserId": bob.account}]
    assert bob.code_of(bec2.modify_image_attribute, ImageId=img,
                       LaunchPermission={"Add": [{"Group": "all"}]}) == "InvalidAMIID.NotFound"
    ec2.reset_image_attribute(ImageId=img, Attribute="launchPermission")
    assert bec2.describe_images()["Images"] == []
    # Public through boto2's old shape (SigV2).
    assert alice.boto2().modify_image_attribute(img, "launchPermission", "add", groups=["all"])
    imgs = bec2.describe_images(Owners=[alice.account])["Images"]
    assert [(i["ImageId"], i["Public"]) for i in imgs] == [(img, True)]
    assert bec2.describe_images(Owners=["self"])["Images"] == []
    got = ec2.describe_images(Filters=[{"Name": "image-type", "Values": ["kernel"]}])["Images"]
    assert [i["ImageId"] for i in got] == [kern]
    # The admin sees every image; bob cannot deregister alice's.
    assert {img, kern} <= {i["ImageId"] for i in root.ec2.describe_images()["Images"]}
    assert bob.code_of(bec2.deregister_image, ImageId=img) == "InvalidAMIID.NotFound"
    ec2.deregister_image(ImageId=img)
    ec2.deregister_image(ImageId=kern)
    assert ec2.describe_images()["Images"] == []


# --- volumes without EBS --------------------------------------------------------------------

def test_volumes_without_ebs_get_a_clear_error(alice, bob):
    with pytest.raises(AwsError) as e:
        alice.aws("create-volume", "--size", "1", "--availability-zone", "nozone")
    assert e.value.code == "InvalidParameterValue"
    assert alice.ec2.describe_volumes()["Volumes"] == []
    assert bob.code_of(bob.ec2.delete_volume, VolumeId="vol-12345678") == \
        "InvalidVolume.NotFound"
    assert alice.code_of(alice.ec2.describe_snapshots, SnapshotIds=["snap-12345678"]) == \
        "InvalidSnapshot.NotFound"
