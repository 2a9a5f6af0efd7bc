"""Every Karri daemon starts, answers DescribeService, stops cleanly on
SIGTERM, and refuses to start -- saying why -- when its port is taken or its
configuration is bad.  Runs on loopback with a temporary KARRI_HOME each."""

import http.client
import os
import signal
import socket
import subprocess
import threading
import xml.etree.ElementTree as ET

import pytest

from harness.daemons import (DAEMONS, INTERNAL, NS, SOAP_ENV, Daemon, binary, element_dict,
                             free_port, run_daemon_once, soap_call, soap_envelope)

ALL = sorted(DAEMONS)


@pytest.fixture
def home(tmp_path):
    return str(tmp_path)


@pytest.mark.parametrize("name", ALL)
def test_starts_answers_and_stops_on_sigterm(name, home):
    d = Daemon(name, home).start()
    info = d.describe()
    assert info["serviceName"] == name
    assert info["state"] == "ENABLED"
    assert info["return"] == "true"
    assert int(info["pid"]) == d.proc.pid
    assert info["version"]
    with open(d.pid_path) as f:
        assert int(f.read()) == d.proc.pid

    assert d.stop(signal.SIGTERM, timeout=10) == 0
    assert not os.path.exists(d.pid_path), "pid file left behind"
    log = d.log()
    assert f"{name} " in log and "starting" in log
    assert "stopped after" in log


@pytest.mark.parametrize("name", ALL)
def test_refuses_a_taken_port(name, home):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        code, err = run_daemon_once(name, home, {DAEMONS[name][1]: port})
    assert code == 1
    assert f"cannot listen on 0.0.0.0:{port}" in err
    assert "Address already in use" in err


@pytest.mark.parametrize("name", ALL)
def test_bad_port_value_names_the_key_and_line(name, home):
    key = DAEMONS[name][1]
    path = os.path.join(home, "etc/karri/karri.conf")
    code, err = run_daemon_once(name, home, {key: "99999"})
    assert code == 1
    # write_config puts a comment on line 1, the port on line 2
    assert f"{path}:2" in err and key in err, err


@pytest.mark.parametrize("name", ALL)
def test_config_messages_are_said_once_and_name_the_daemon(name, home):
    """Before its log file opens a daemon's log is stderr: the refusal must not
    appear twice there, and a config warning must say which daemon it is from."""
    code, err = run_daemon_once(name, home, {"NOT_A_KARRI_KEY": "1", "LOG_KEEP": "lots"})
    assert code == 1
    path = os.path.join(home, "etc/karri/karri.conf")
    with open(path) as f:
        line = {ln.split("=")[0]: i for i, ln in enumerate(f.read().splitlines(), 1)}
    refusals = [ln for ln in err.splitlines() if "LOG_KEEP" in ln]
    assert refusals == [f'{name}: bad configuration: {path}:{line["LOG_KEEP"]}: LOG_KEEP: '
                        f'"lots" is not a whole number'], err
    warnings = [ln for ln in err.splitlines() if "unknown key NOT_A_KARRI_KEY" in ln]
    assert len(warnings) == 1, err
    assert f" WARN  {name}[" in warnings[0] and f'{path}:{line["NOT_A_KARRI_KEY"]}:' in warnings[0], err


def test_bad_enum_value_is_refused(home):
    code, err = run_daemon_once("karri-cc", home, {"SCHEDPOLICY": "FASTEST"})
    assert code == 1
    assert "SCHEDPOLICY" in err and "FASTEST" in err


def test_check_mode_reports_valid_and_invalid(home):
    d = Daemon("karri-nc", home)
    out = subprocess.run([binary("karri-nc"), "-n", "-f", d.config_path],
                         capture_output=True, text=True, env={"KARRI_HOME": home})
    assert out.returncode == 0 and "is valid" in out.stdout
    with open(d.config_path, "a") as f:
        f.write('USE_VIRTIO_DISK="maybe"\n')
    out = subprocess.run([binary("karri-nc"), "-n", "-f", d.config_path],
                         capture_output=True, text=True, env={"KARRI_HOME": home})
    assert out.returncode == 1 and "USE_VIRTIO_DISK" in out.stderr


def test_unknown_key_is_warned_about_and_ignored(home):
    with Daemon("karri-cc", home, {"NOT_A_KARRI_KEY": "1"}) as d:
        assert d.describe()["serviceName"] == "karri-cc"
        assert "unknown key NOT_A_KARRI_KEY" in d.stderr() + d.log()


def test_missing_explicit_config_is_refused(home):
    out = subprocess.run([binary("karri-ebs"), "-f", os.path.join(home, "nope.conf")],
                         capture_output=True, text=True, env={"KARRI_HOME": home}, timeout=10)
    assert out.returncode == 1
    assert "nope.conf" in out.stderr


@pytest.mark.parametrize("name", sorted(INTERNAL))
def test_internal_services_refuse_plain_http_without_the_dev_flag(name, home):
    code, err = run_daemon_once(name, home, {}, insecure=False)
    assert code == 1
    assert "KARRI_INSECURE_HTTP" in err


def test_garbage_is_a_fault_and_the_daemon_survives(home):
    with Daemon("karri-nc", home) as d:
        for body in [b"not xml at all", b"<a><b></a>", b"<?xml version='1.0'?><x/>", b"\x00\xff" * 100]:
            conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
            conn.request("POST", "/", body=body, headers={"Content-Type": "text/xml"})
            resp = conn.getresponse()
            assert resp.status >= 400
            resp.read()
            conn.close()
        assert d.describe()["serviceName"] == "karri-nc"


def test_many_calls_on_one_keep_alive_connection(home):
    """gSOAP closes a connection after 100 requests by default; Karri raises it."""
    with Daemon("karri-cc", home) as d:
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
        body = soap_envelope("svc", "DescribeService", {"correlationId": "c", "userId": "u"})
        for i in range(250):
            conn.request("POST", "/", body=body, headers={"Content-Type": "text/xml",
                                                          "Connection": "keep-alive"})
            resp = conn.getresponse()
            data = resp.read()
            assert resp.status == 200, f"call {i}: HTTP {resp.status}"
            assert resp.getheader("Connection", "").lower() != "close" or i == 249, f"closed after {i + 1}"
        el = ET.fromstring(data).find(f"{{{SOAP_ENV}}}Body")[0]
        assert element_dict(el)["serviceName"] == "karri-cc"
        conn.close()


def test_concurrent_clients_are_all_answered(home):
    with Daemon("karri-nc", home) as d:
        errors = []

        def client():
            try:
                for _ in range(25):
                    status, el = soap_call(d.url, "svc", "DescribeService")
                    assert status == 200 and element_dict(el)["serviceName"] == "karri-nc"
            except Exception as e:     # collected, asserted below
                errors.append(e)
        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors[:3]


def test_sigterm_while_a_client_holds_a_connection_open(home):
    d = Daemon("karri-ebs", home).start()
    idle = socket.create_connection(("127.0.0.1", d.port))
    try:
        assert d.stop(signal.SIGTERM, timeout=10) == 0
    finally:
        idle.close()


def aws(*args, endpoint):
    env = {"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
           "AWS_DEFAULT_REGION": "karri", "HOME": "/nonexistent"}
    return subprocess.run(["/usr/bin/aws", "--endpoint-url", endpoint, *args],
                          capture_output=True, text=True, env=env, timeout=60)


def test_clc_answers_ec2_clients_with_an_honest_error(home):
    # The EC2 API is served now (tests/integration/test_clc_*.py): a key that no
    # user holds is refused as EC2 refuses it.
    with Daemon("karri-clc", home) as d:
        out = aws("ec2", "describe-regions", endpoint=f"http://127.0.0.1:{d.port}/services/Eucalyptus")
        assert out.returncode != 0
        assert "(AuthFailure)" in out.stderr, out.stderr


def test_walrus_answers_s3_clients_with_an_honest_error(home):
    # S3 is served now (tests/integration/test_walrus_*.py): a key that no
    # user holds is refused as S3 refuses it.
    with Daemon("karri-walrus", home) as d:
        out = aws("s3api", "list-buckets", endpoint=f"http://127.0.0.1:{d.port}")
        assert out.returncode != 0
        assert "(InvalidAccessKeyId)" in out.stderr, out.stderr


def test_karri_describe_service_and_status(home):
    ports = {name: free_port() for name in ALL if name != "karri-nc"}
    config = {DAEMONS[n][1]: p for n, p in ports.items()}
    nc_port = free_port()
    config.update({"NC_PORT": nc_port, "NODES": f"127.0.0.1 127.0.0.2:{free_port()}"})
    daemons = []
    try:
        for name in ALL:
            sub = os.path.join(home, name)
            d = Daemon(name, sub, config, port=nc_port if name == "karri-nc" else ports[name])
            daemons.append(d.start())
        cfg = daemons[0].config_path
        out = subprocess.run([binary("karri"), "-f", cfg, "status"], capture_output=True, text=True,
                             timeout=60)
        rows = {line.split()[1]: line for line in out.stdout.splitlines()[1:]}
        # every front-end service and the first node are up; the second node is not there
        for name in ALL:
            port = nc_port if name == "karri-nc" else ports[name]
            row = next(r for url, r in rows.items() if f":{port}/" in url)
            assert row.split()[0] == name and "ENABLED" in row
        assert any("DOWN" in r and "127.0.0.2" in url for url, r in rows.items())
        assert out.returncode == 1        # something is down
        one = subprocess.run([binary("karri"), "describe-service", daemons[0].url],
                             capture_output=True, text=True, timeout=30)
        assert one.returncode == 0 and "service=karri-cc" in one.stdout
    finally:
        for d in daemons:
            d.stop()
