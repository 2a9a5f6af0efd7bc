"""`karri` for the cloud controller: credentials (eucarc usable by awscli as
written, X.509 pair from the cloud CA), registration of clusters, Walrus,
EBS and nodes, and instance types (see also test_clc_api.py)."""

import os
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding

from harness.clc import ClcCloud
from harness.daemons import free_port


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = ClcCloud(tmp_path_factory.mktemp("clcc"))
    with c:
        c.user("alice")
        yield c


def test_credentials_eucarc_works_with_awscli(cloud, tmp_path):
    d = tmp_path / "creds"
    cloud.karri("credentials", "alice", str(d))
    rc = (d / "eucarc").read_text()
    for key in ("EC2_URL", "S3_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION", "EC2_ACCESS_KEY", "EC2_SECRET_KEY", "EC2_USER_ID",
                "EC2_CERT", "EC2_PRIVATE_KEY", "EUCALYPTUS_CERT"):
        assert f"export {key}=" in rc
    assert 'aws --endpoint-url "$EC2_URL" ec2 describe-instances' in rc
    assert oct(os.stat(d / "eucarc").st_mode & 0o777) == "0o600"
    # Exactly as a user would: source it, then run the command it shows.
    out = subprocess.run(["bash", "-c", f'. "{d}/eucarc" && /usr/bin/aws --endpoint-url '
                          '"$EC2_URL" ec2 describe-instances && echo "$EC2_USER_ID" && '
                          'ls "$EC2_CERT" "$EC2_PRIVATE_KEY" "$EUCALYPTUS_CERT"'],
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin",
                                                              "HOME": str(tmp_path)},
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert '"Reservations": []' in out.stdout
    assert cloud.users["alice"].account in out.stdout
    # The user's certificate is signed by the cloud CA.
    ca = x509.load_pem_x509_certificate(
        open(f"{cloud.home}/var/lib/karri/ca/ca-cert.pem", "rb").read())
    cert = x509.load_pem_x509_certificate((d / "alice-cert.pem").read_bytes())
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                           cert.signature_hash_algorithm)
    assert cert.subject.rfc4514_string().startswith("CN=alice")
    assert cloud.karri("credentials", "nobody", str(tmp_path / "x"), check=False).returncode == 1


def test_register_describe_deregister(cloud):
    cc_port = free_port()
    out = cloud.karri("register-cluster", "zoneA", f"127.0.0.1:{cc_port}").stdout
    assert "registered cluster zoneA" in out
    assert os.path.exists(f"{cloud.home}/var/lib/karri/keys/cluster-zoneA-cert.pem")
    cloud.karri("register-ebs", "ebs1", "127.0.0.1")
    listing = cloud.karri("describe-services").stdout
    assert f"127.0.0.1:{cc_port}" in listing and "ebs1" in listing
    # The CLC picks the cluster up on its next poll, as an unavailable zone (nothing there).
    import time
    alice = cloud.users["alice"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        zones = alice.ec2.describe_availability_zones()["AvailabilityZones"]
        if zones and zones[0].get("Messages"):
            break
        time.sleep(0.3)
    assert zones[0]["ZoneName"] == "zoneA" and zones[0]["State"] == "unavailable"
    # Nodes are recorded even though the CC is down (and that is reported).
    p = cloud.karri("register-nodes", "zoneA", "10.1.1.5", check=False)
    assert p.returncode == 1 and "did not take the change" in p.stderr
    assert "10.1.1.5" in cloud.karri("describe-services").stdout
    assert cloud.karri("register-cluster", "bad name", "x", check=False).returncode == 2
    cloud.karri("deregister-nodes", "zoneA", "10.1.1.5", check=False)
    cloud.karri("deregister-cluster", "zoneA")
    cloud.karri("deregister-ebs", "ebs1")
    assert cloud.karri("deregister-ebs", "ebs1", check=False).returncode == 1
    assert "zoneA" not in cloud.karri("describe-services").stdout


def test_https_with_the_cloud_ca(cloud, tmp_path):
    """Once `karri` made the CA (and with it the CLC's certificate), a restarted CLC
    serves HTTPS on CLC_HTTPS_PORT, verifiable against the CA."""
    cloud.karri("credentials", "alice", str(tmp_path / "c"))
    cloud.clc.stop()
    cloud.clc.start()
    alice = cloud.users["alice"]
    env = {**alice.env(), "AWS_CA_BUNDLE": f"{cloud.home}/var/lib/karri/ca/ca-cert.pem"}
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url",
                        f"https://127.0.0.1:{cloud.https_port}/services/Eucalyptus", "ec2",
                        "describe-regions", "--output", "json"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert '"RegionName": "karri"' in p.stdout
    # Plain HTTP still answers on CLC_PORT.
    assert alice.ec2.describe_regions()["Regions"][0]["RegionName"] == "karri"
