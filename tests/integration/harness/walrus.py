"""A running Walrus with users, and the S3 clients the tests drive it with.

    with WalrusEnv(tmp_path) as wl:
        alice = wl.add_user("alice")            # (access key, secret key)
        wl.aws(alice, "s3", "mb", "s3://b1")    # /usr/bin/aws, checked
        s3 = wl.boto3(alice)                    # a boto3 S3 client

Users are made with the real admin CLI (`karri user add`) in the shared
users database of the daemon's KARRI_HOME.
"""

import os
import subprocess

from harness.daemons import Daemon, binary

AWS = "/usr/bin/aws"


class WalrusEnv:
    def __init__(self, home, config=None):
        self.home = str(home)
        self.daemon = Daemon("karri-walrus", self.home, config or {})
        self.users = {}

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.daemon.port}"

    def start(self):
        self.daemon.start()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.daemon.__exit__(*exc)

    def karri(self, *args, check=True):
        return subprocess.run([binary("karri"), "-f", self.daemon.config_path, *args],
                              env={"KARRI_HOME": self.home, "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, check=check, timeout=30)

    def add_user(self, name, admin=False):
        out = self.karri("user", "add", name, *(["--admin"] if admin else [])).stdout
        kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        creds = (kv["AWS_ACCESS_KEY_ID"], kv["AWS_SECRET_ACCESS_KEY"])
        self.users[name] = creds
        return creds

    def aws_env(self, creds):
        env = {"PATH": "/usr/bin:/bin", "HOME": self.home, "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
               "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": ""}
        if creds:
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = creds
        return env

    def aws(self, creds, *args, check=True, timeout=300):
        """Run /usr/bin/aws against Walrus; returns the CompletedProcess."""
        argv = [AWS, "--endpoint-url", self.endpoint, *args]
        if creds is None:
            argv.append("--no-sign-request")
        r = subprocess.run(argv, env=self.aws_env(creds), capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def boto3(self, creds, signature_version="s3v4", **config):
        import boto3
        from botocore.config import Config
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
            config=Config(signature_version=signature_version,
                          s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                          **config))

    def vmhwm_kib(self):
        with open(f"/proc/{self.daemon.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmHWM")
