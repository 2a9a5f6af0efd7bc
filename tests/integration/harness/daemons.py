"""Start Karri's daemons for a test, talk SOAP to them, and stop them.

A Daemon is one built daemon binary (from $KARRI_BUILD, see ./run-tests)
running with its own temporary KARRI_HOME and config file, optionally inside
a network namespace of the simulated hosts.  Stopping is by PID; a daemon
that outlives its test is killed.

    with Daemon("karri-nc", home, {"NC_PORT": port}) as nc:
        info = nc.describe()          # the DescribeService answer, as a dict
"""

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET

from harness import daemon_user
from harness.wait import free_port  # noqa: F401  (tests import free_port from here)

SRC = os.environ.get("KARRI_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "../../..")))
BUILD = os.environ.get("KARRI_BUILD", os.path.join(SRC, "build", "gcc"))

# Where each binary is in the build tree, its port key, and its SOAP path.
DAEMONS = {
    "karri-clc": ("clc/karri-clc", "CLC_PORT", "/services/Karri"),
    "karri-walrus": ("walrus/karri-walrus", "WALRUS_PORT", "/services/Karri"),
    "karri-cc": ("cc/karri-cc", "CC_PORT", "/"),
    "karri-nc": ("nc/karri-nc", "NC_PORT", "/"),
    "karri-ebs": ("ebs/karri-ebs", "EBS_PORT", "/"),
}
INTERNAL = {"karri-cc", "karri-nc", "karri-ebs"}   # daemon-to-daemon SOAP

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = {
    "svc": "urn:karri:service:2026-11",
    "nc": "urn:karri:nc:2026-11",
    "cc": "urn:karri:cc:2026-11",
    "ebs": "urn:karri:ebs:2026-11",
}


def binary(name):
    """Path of a built program, e.g. binary("karri-nc") or binary("karri")."""
    rel = "tools/karri" if name == "karri" else DAEMONS[name][0]
    path = os.path.join(BUILD, rel)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is not built (run ./run-tests, or make in {BUILD})")
    return path


def write_config(path, values):
    """A karri.conf in eucalyptus.conf syntax; returns the path."""
    with open(path, "w") as f:
        f.write("# written by the Karri tests\n")
        for k, v in values.items():
            f.write(f'{k}="{v}"\n')
    return path


def soap_envelope(prefix, element, fields):
    ns = NS[prefix]
    body = "".join(f"<{prefix}:{k}>{v}</{prefix}:{k}>" for k, v in fields.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}" xmlns:{prefix}="{ns}">'
            f"<SOAP-ENV:Body><{prefix}:{element}>{body}</{prefix}:{element}>"
            f"</SOAP-ENV:Body></SOAP-ENV:Envelope>").encode()


def soap_call(url, prefix, element, fields=None, timeout=10):
    """POST one SOAP request; returns (HTTP status, parsed body element)."""
    fields = {"correlationId": str(uuid.uuid4()), "userId": "test", **(fields or {})}
    req = urllib.request.Request(url, data=soap_envelope(prefix, element, fields), method="POST",
                                 headers={"Content-Type": "text/xml; charset=utf-8",
                                          "SOAPAction": f'"urn:karri:{prefix}#{element}"'})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, data = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read()
    body = ET.fromstring(data).find(f"{{{SOAP_ENV}}}Body")
    return status, body[0]


def element_dict(el):
    """Children of an element as {localname: text}."""
    return {child.tag.split("}")[-1]: child.text for child in el}


class Daemon:
    """One Karri daemon process with its own KARRI_HOME."""

    def __init__(self, name, home, config=None, netns=None, host="127.0.0.1", port=None,
                 args=(), insecure=True):
        self.name = name
        self.home = home
        self.netns = netns
        self.host = host
        self.port_key = DAEMONS[name][1]
        self.port = port or free_port()
        cfg = {self.port_key: self.port, "KARRI_BIND_ADDRESS": host if host != "127.0.0.1" else "0.0.0.0"}
        # insecure: plain HTTP between daemons (the CLC and `karri` then register
        # http:// endpoints); otherwise mutual TLS (tests/integration/test_tls.py).
        self.tls = not insecure and name in INTERNAL
        if insecure:
            cfg["KARRI_INSECURE_HTTP"] = "Y"
        cfg.update(config or {})
        os.makedirs(os.path.join(home, "etc/karri"), exist_ok=True)
        self.config = cfg
        self.config_path = write_config(os.path.join(home, "etc/karri/karri.conf"), cfg)
        self.args = list(args)
        self.proc = None
        self.stderr_path = os.path.join(home, f"{name}.stderr")

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}{DAEMONS[self.name][2]}"

    @property
    def log_path(self):
        return os.path.join(self.home, "var/log/karri", f"{self.name}.log")

    @property
    def pid_path(self):
        return os.path.join(self.home, "var/run/karri", f"{self.name}.pid")

    def command(self):
        argv = [binary(self.name), "-f", self.config_path] + self.args
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns] + argv
        return argv

    def start(self, wait=True):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "KARRI_HOME": self.home}
        if self.name in daemon_user.UNPRIVILEGED:
            daemon_user.prepare(self.home, self.config)   # it becomes karri itself
        self.proc = subprocess.Popen(self.command(), env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr_path, "wb"), start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.stderr()}")
            try:
                return self.describe(timeout=2)
            except (OSError, ET.ParseError) as e:
                last = e
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not answer on {self.url}: {last}")

    def describe(self, timeout=5):
        if self.netns:
            out = subprocess.run(["ip", "netns", "exec", self.netns, binary("karri"),
                                  "describe-service", self.url], capture_output=True,
                                 text=True, timeout=timeout + 5, check=True).stdout
            return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        status, el = soap_call(self.url, "svc", "DescribeService", timeout=timeout)
        if status != 200:
            raise OSError(f"DescribeService answered HTTP {status}")
        return element_dict(el)

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signal the daemon and wait; returns its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_daemon_once(name, home, config, args=(), timeout=10, insecure=True):
    """Run a daemon that is expected to exit by itself (bad config, -n, port taken)."""
    d = Daemon(name, home, config, args=args, insecure=insecure)
    d.start(wait=False)
    try:
        code = d.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        d.proc.kill()
        d.proc.wait()
        raise
    return code, d.stderr()
