"""A running karri-clc for tests, with users and clients.

    with ClcCloud(tmp_path) as cloud:
        alice = cloud.user("alice")           # `karri user add`, returns a User
        out = alice.aws("describe-key-pairs")  # /usr/bin/aws ec2 ..., JSON parsed
        conn = alice.boto2()                   # boto2 EC2Connection forced to SigV2

The CLC runs with its own KARRI_HOME; `karri` is run against the same
config.  awscli is called with AWS_MAX_ATTEMPTS=1 so that 5xx answers are
seen at once instead of retried.
"""

import json
import os
import subprocess

from harness.daemons import Daemon, binary
from harness.wait import free_port, wait_for  # noqa: F401  (tests import wait_for from here)

AWS = "/usr/bin/aws"


class AwsError(Exception):
    def __init__(self, code, message, stderr):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.stderr = stderr


class User:
    def __init__(self, cloud, name, account, access, secret):
        self.cloud, self.name, self.account = cloud, name, account
        self.access, self.secret = access, secret

    def env(self):
        return {"PATH": "/usr/bin:/bin", "HOME": self.cloud.home,
                "AWS_ACCESS_KEY_ID": self.access, "AWS_SECRET_ACCESS_KEY": self.secret,
                "AWS_DEFAULT_REGION": "karri", "AWS_MAX_ATTEMPTS": "1",
                "AWS_PAGER": "", "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}

    def aws(self, *args, check=True):
        """aws ec2 ARGS --output json: the parsed answer, or AwsError with the EC2 code."""
        p = subprocess.run([AWS, "--endpoint-url", self.cloud.endpoint, "ec2", *args,
                            "--output", "json"], capture_output=True, text=True,
                           env=self.env(), timeout=60)
        if p.returncode != 0:
            if not check:
                return p
            err = p.stderr.strip()
            code = err.split("(", 1)[1].split(")", 1)[0] if "An error occurred (" in err else "?"
            raise AwsError(code, err, p.stderr)
        return json.loads(p.stdout) if p.stdout.strip() else {}

    @property
    def ec2(self):
        """A boto3 EC2 client (in-process: ~100x faster than the aws command)."""
        if not hasattr(self, "_ec2"):
            self._ec2 = self.boto3()
        return self._ec2

    def code_of(self, fn, *args, **kw):
        """The EC2 error code a boto3 call fails with (AssertionError if it succeeds)."""
        import botocore.exceptions
        try:
            fn(*args, **kw)
        except botocore.exceptions.ClientError as e:
            return e.response["Error"]["Code"]
        raise AssertionError(f"{fn.__name__} succeeded")

    def boto3(self):
        import boto3
        import botocore.config
        return boto3.client("ec2", endpoint_url=self.cloud.endpoint, region_name="karri",
                            aws_access_key_id=self.access, aws_secret_access_key=self.secret,
                            config=botocore.config.Config(retries={"max_attempts": 1}))

    def boto2(self, sigv2=True):
        """boto 2.49's EC2Connection; sigv2 forces HmacSHA256 SigV2 (euca2ools 3.1 style)."""
        import boto
        from boto.ec2.connection import EC2Connection
        from boto.ec2.regioninfo import RegionInfo
        if not boto.config.has_section("Boto"):
            boto.config.add_section("Boto")
        boto.config.set("Boto", "num_retries", "0")
        region = RegionInfo(name="karri", endpoint="127.0.0.1")
        conn = EC2Connection(self.access, self.secret, region=region, port=self.cloud.port,
                             path="/services/Eucalyptus", is_secure=False)
        if sigv2:
            # EC2Connection asks for 'hmac-v4'; the SigV2 query signer is what
            # euca2ools 3.1 and boto2 with signature_version 2 used.
            from boto import auth
            conn._auth_handler = auth.QuerySignatureV2AuthHandler(conn.host, boto.config,
                                                                  conn.provider)
        return conn


class ClcCloud:
    def __init__(self, tmp_path, config=None):
        self.home = str(tmp_path)
        self.https_port = free_port()
        self.cfg = {"VNET_PUBLICIPS": "10.99.0.1-10.99.0.3", "CLC_HTTPS_PORT": self.https_port,
                    **(config or {})}
        self.clc = Daemon("karri-clc", self.home, self.cfg)
        self.port = self.clc.port
        self.endpoint = f"http://127.0.0.1:{self.port}/services/Eucalyptus"
        self.users = {}

    def karri(self, *args, check=True):
        env = {"PATH": "/usr/bin:/bin", "KARRI_HOME": self.home}
        p = subprocess.run([binary("karri"), "-f", self.clc.config_path, *args],
                           capture_output=True, text=True, env=env, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError(f"karri {' '.join(args)}: {p.returncode}: {p.stderr}")
        return p

    def user(self, name, admin=False):
        out = self.karri("user", "add", name, *(["--admin"] if admin else [])).stdout
        kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        u = User(self, name, kv["EC2_USER_ID"], kv["AWS_ACCESS_KEY_ID"],
                 kv["AWS_SECRET_ACCESS_KEY"])
        self.users[name] = u
        return u

    def start(self):
        self.clc.start()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.clc.__exit__(*exc)


def register_stub_cluster(cloud, name="zone1"):
    """A StubCC on a free port, registered as cluster `name` (and a Walrus)."""
    from harness.ec2_ccstub import StubCC
    cc = StubCC(free_port()).start()
    cloud.karri("register-cluster", name, f"127.0.0.1:{cc.port}")
    cloud.karri("register-walrus", "walrus", "127.0.0.1:8779")
    return cc
