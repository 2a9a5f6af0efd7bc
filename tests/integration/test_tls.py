"""Mutual TLS between Karri's daemons (common/tls/tls.h), with the certificates
`karri register-*` issues from the cloud CA.

A real CLC, CC and EBS and karri-ncsim (the NC contract, served over TLS
with --tls) on loopback, none with KARRI_INSECURE_HTTP.  The services are
registered first (the CA and every certificate are made then), the files
copied to each daemon's KARRI_HOME as an admin copies them to other hosts,
then the daemons start.  EC2 calls work end to end: the verbose zone
listing shows the node's capacity (the CLC asked the CC over TLS, the CC
polled the node over TLS), and a volume is created and deleted on EBS.
A client without a certificate, with one from another CA, or with a
user's X.509 pair from the cloud CA is refused by CC, NC and EBS, and a
node may not call the CC; plain HTTP gets a clear answer; the certificate the
server shows is issued by the cloud CA for the registered address; a
daemon without certificates refuses to start and names the files.
"""

import os
import shutil
import socket
import ssl
import subprocess
import uuid

import pytest

from harness.cc import NcSim
from harness.clc import ClcCloud, wait_for
from harness.daemons import Daemon, binary, free_port, run_daemon_once, soap_envelope

KEYS = "var/lib/karri/keys"


def install_keys(front, home, role):
    """What an admin copies to a component's host: its pair and the CA cert."""
    src, dst = os.path.join(front, KEYS), os.path.join(home, KEYS)
    os.makedirs(dst, exist_ok=True)
    for name in (f"{role}-cert.pem", f"{role}-pk.pem", "ca-cert.pem"):
        shutil.copy2(os.path.join(src, name), os.path.join(dst, name))


def client_ctx(cert=None, key=None, ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca:
        ctx.load_verify_locations(ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def describe_service(ctx, port, timeout=5):
    """One DescribeService over TLS with ctx; returns (status line, body)."""
    body = soap_envelope("svc", "DescribeService", {"correlationId": uuid.uuid4(),
                                                    "userId": "test"})
    req = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(req)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), rest.decode(errors="replace")


def other_ca(tmp):
    """A CA that is not the cloud's, and a client certificate it signed."""
    d = str(tmp)

    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
         "ca.pem", "-days", "2", "-subj", "/O=Karri/CN=Karri cloud CA")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "c.key", "-out", "c.csr",
         "-subj", "/O=Karri/CN=cluster:zone1@127.0.0.1")
    ossl("x509", "-req", "-in", "c.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "c.pem", "-days", "2")
    return os.path.join(d, "c.pem"), os.path.join(d, "c.key")


def refused(ctx, port):
    """The server ends the handshake (or the connection) without answering."""
    try:
        status, _ = describe_service(ctx, port)
    except (ssl.SSLError, ConnectionError, OSError) as e:
        return str(e) or type(e).__name__
    raise AssertionError(f"port {port} answered {status} to a client it should refuse")


@pytest.fixture
def tls_cloud(tmp_path):
    front = str(tmp_path / "front")
    cloud = ClcCloud(tmp_path / "front", config={"KARRI_INSECURE_HTTP": "N"})
    cc_home, ebs_home = str(tmp_path / "cc"), str(tmp_path / "ebs")
    cc = Daemon("karri-cc", cc_home, {"VNET_MODE": "SYSTEM", "NC_POLLING_FREQUENCY": 1},
                insecure=False)
    ebs = Daemon("karri-ebs", ebs_home, {"EBS_MAX_VOLUME_SIZE": 2, "EBS_MAX_TOTAL_SIZE": 3},
                 insecure=False)
    ncport = free_port()
    ncs = NcSim(port=ncport, nodes=1, first_ip="127.0.0.1", cores=4)
    ncs.args += ["--tls", front]
    try:
        # Registration first: the CA, the CLC's own certificate and one per component.
        out = cloud.karri("register-cluster", "zone1", f"127.0.0.1:{cc.port}").stdout
        assert "https://127.0.0.1" in out and "installed as" in out, out
        cloud.karri("register-ebs", "ebs1", f"127.0.0.1:{ebs.port}")
        install_keys(front, cc_home, "cluster")
        install_keys(front, ebs_home, "ebs")
        for d in (cc, ebs):
            d.start(wait=False)
        cloud.start()
        ca = os.path.join(front, KEYS, "ca-cert.pem")
        good = client_ctx(os.path.join(front, KEYS, "clc-cert.pem"),
                          os.path.join(front, KEYS, "clc-pk.pem"), ca)
        for d in (cc, ebs):
            wait_for(lambda d=d: _answers(good, d.port), timeout=20)
        # The CC is up: register-nodes reaches it over TLS (and issues the node's pair,
        # installed in front/ since 127.0.0.1 is this host: ncsim reads it there).
        p = cloud.karri("register-nodes", "zone1", f"127.0.0.1:{ncport}", check=False)
        assert p.returncode == 0, p.stdout + p.stderr
        ncs.start()
        yield {"cloud": cloud, "cc": cc, "ebs": ebs, "ncs": ncs, "ncport": ncport,
               "front": front, "ca": ca, "good": good}
    finally:
        ncs.stop()
        for d in (cc, ebs):
            d.__exit__()
        cloud.__exit__()


def _answers(ctx, port):
    try:
        return describe_service(ctx, port)[0].endswith("200 OK")
    except OSError:
        return False


def test_ec2_calls_work_over_tls(tls_cloud):
    cloud = tls_cloud["cloud"]
    alice = cloud.user("alice")

    def capacity():
        zones = alice.ec2.describe_availability_zones(ZoneNames=["verbose"])["AvailabilityZones"]
        small = [z["State"] for z in zones if z["ZoneName"] == "|- m1.small"]
        return small and not small[0].startswith("0000 /") and small[0]
    # The CLC asked the CC (TLS), which polled the node (TLS): 4 cores free.
    assert wait_for(capacity, timeout=30).startswith("0004 / 0004")
    assert "karri-cc" in tls_cloud["cc"].log() and "over mutual TLS" in tls_cloud["cc"].log()

    # CLC -> EBS over TLS: a volume is made, seen available, and deleted.
    vol = alice.ec2.create_volume(Size=1, AvailabilityZone="zone1")["VolumeId"]
    wait_for(lambda: alice.ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"]
             == "available", timeout=30)
    alice.ec2.delete_volume(VolumeId=vol)

    # `karri status` reaches the CC over TLS too, as the front end.
    st = subprocess.run([binary("karri"), "-f", cloud.clc.config_path, "status"],
                        capture_output=True, text=True, env={"KARRI_HOME": cloud.home})
    assert "https://127.0.0.1:%d/" % tls_cloud["cc"].port in st.stdout, st.stdout
    assert "UP        zone=zone1 nodes=1" in st.stdout, st.stdout


def test_wire_is_tls_from_the_cloud_ca(tls_cloud):
    good, ca = tls_cloud["good"], tls_cloud["ca"]
    for port, cn in ((tls_cloud["cc"].port, "cluster:zone1"), (tls_cloud["ebs"].port, "ebs:ebs1"),
                     (tls_cloud["ncport"], "node:127.0.0.1")):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with good.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                cert = s.getpeercert()
                assert s.version() in ("TLSv1.2", "TLSv1.3")
        assert dict(x[0] for x in cert["issuer"])["commonName"] == "Karri cloud CA"
        assert dict(x[0] for x in cert["subject"])["commonName"].startswith(cn)
        assert ("IP Address", "127.0.0.1") in cert["subjectAltName"]
    status, body = describe_service(good, tls_cloud["cc"].port)
    assert status.endswith("200 OK") and "karri-cc" in body
    # The client checks the host too: the CC's certificate is for 127.0.0.1 only.
    p = subprocess.run([binary("karri"), "describe-service",
                        "https://localhost:%d/" % tls_cloud["cc"].port], capture_output=True,
                       text=True, env={"KARRI_HOME": tls_cloud["cloud"].home})
    assert p.returncode == 1 and "host name mismatch" in p.stderr, p.stderr
    # The CA file the daemons trust is the cloud CA's certificate.
    with open(ca) as f, open(os.path.join(tls_cloud["front"], "var/lib/karri/ca/ca-cert.pem")) as g:
        assert f.read() == g.read()


def test_clients_without_the_cloud_ca_are_refused(tls_cloud, tmp_path):
    ports = [tls_cloud["cc"].port, tls_cloud["ebs"].port, tls_cloud["ncport"]]
    ca = tls_cloud["ca"]
    foreign = client_ctx(*other_ca(tmp_path), ca)
    for port in ports:
        refused(client_ctx(ca=ca), port)       # no client certificate
        refused(foreign, port)                 # signed by another CA
    # The CC and EBS say why in their logs (the other CA even has the cloud
    # CA's name: the signature gives it away).
    for d in (tls_cloud["cc"], tls_cloud["ebs"]):
        assert "peer did not return a certificate" in d.log()
        assert "certificate verify failed" in d.log()
    # A server with a certificate from another CA is not trusted by Karri's clients.
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % ports[0],
                        "-CAfile", os.path.join(str(tmp_path), "ca.pem")], input="",
                       capture_output=True, text=True, timeout=10)
    assert "Verify return code: 0 (ok)" not in p.stdout


def test_only_components_allowed_to_call_are_let_in(tls_cloud, tmp_path):
    """The cloud CA also signs users' X.509 pairs: they open no internal port,
    even for a user named like the CLC; and a node may not call the CC."""
    cloud, ca = tls_cloud["cloud"], tls_cloud["ca"]
    cloud.user("karri-clc")
    creds = str(tmp_path / "creds")
    cloud.karri("credentials", "karri-clc", creds)
    user = client_ctx(os.path.join(creds, "karri-clc-cert.pem"),
                      os.path.join(creds, "karri-clc-pk.pem"), ca)
    for port in (tls_cloud["cc"].port, tls_cloud["ebs"].port, tls_cloud["ncport"]):
        refused(user, port)
    assert "not issued for TLS (CN=karri-clc)" in tls_cloud["cc"].log()
    keys = os.path.join(tls_cloud["front"], KEYS)
    node = client_ctx(os.path.join(keys, "node-cert.pem"), os.path.join(keys, "node-pk.pem"), ca)
    refused(node, tls_cloud["cc"].port)
    refused(node, tls_cloud["ebs"].port)
    assert "of node:127.0.0.1:%d@127.0.0.1: it may not call" % tls_cloud["ncport"] in \
        tls_cloud["cc"].log()
    # ... while the CLC's certificate is let in everywhere (the CC's, by the node).
    for port in (tls_cloud["cc"].port, tls_cloud["ebs"].port):
        assert describe_service(tls_cloud["good"], port)[0].endswith("200 OK")


def test_plain_http_to_a_tls_daemon_fails_clearly(tls_cloud):
    for d in (tls_cloud["cc"], tls_cloud["ebs"]):
        p = subprocess.run(["curl", "-sS", "-m", "5", "-d", "<x/>",
                            "http://127.0.0.1:%d/" % d.port], capture_output=True, text=True)
        assert "speaks HTTPS with client certificates" in p.stdout, p.stdout + p.stderr
        assert "not a TLS client" in d.log()


def test_no_certificate_no_start(tmp_path):
    code, err = run_daemon_once("karri-cc", str(tmp_path / "cc"), {}, insecure=False)
    assert code == 1
    assert "cluster-cert.pem" in err and "ca-cert.pem" in err and "KARRI_INSECURE_HTTP" in err
    assert "karri register-cluster" in err
