"""A real Walrus beside a test CLC, and image bundles in it, for RegisterImage.

RegisterImage has Walrus validate the bundle, so a test that registers an
image needs a Walrus sharing the CLC's users.db, registered with the CLC,
and a bundle uploaded by the registering user:

    with ClcCloud(tmp) as cloud:
        alice = cloud.user("alice")
        with ImageStore(cloud, tmp / "walrus") as store:
            loc = store.publish(alice, "b", "img")            # bucket/img.manifest.xml
            img = alice.ec2.register_image(ImageLocation=loc, Name="img")["ImageId"]
            eki = store.register(alice, "b", "vmlinuz", kind="kernel")

Bundles are made by tools/karri-bundle from a few KiB of random bytes, with a
cloud and a user key pair made here by the openssl CLI (the user's signature
is not checked by RegisterImage).
"""

import os
import subprocess

from harness.daemons import BUILD
from harness.walrus import WalrusEnv


def openssl_pair(d, name):
    key, cert = os.path.join(d, f"{name}-pk.pem"), os.path.join(d, f"{name}-cert.pem")
    if not os.path.exists(cert):
        subprocess.run(["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}"],
                       check=True, capture_output=True, timeout=60)
    return cert, key


class ImageStore:
    def __init__(self, cloud, home, name="walrus"):
        self.cloud, self.home, self.name = cloud, str(home), name
        os.makedirs(self.home, exist_ok=True)
        self.keys = os.path.join(self.home, "keys")
        os.makedirs(self.keys, exist_ok=True)
        self.cloud_pair = openssl_pair(self.keys, "cloud")
        self.user_pair = openssl_pair(self.keys, "user")
        users_db = os.path.join(cloud.home, "var/lib/karri/users.db")
        self.wl = WalrusEnv(os.path.join(self.home, "home"), {
            "USERS_DB": users_db, "KARRI_CLOUD_CERT": self.cloud_pair[0],
            "KARRI_CLOUD_KEY": self.cloud_pair[1]})
        self.buckets = set()
        self.count = 0

    def start(self):
        self.wl.start()
        self.cloud.karri("deregister-walrus", self.name, check=False)
        self.cloud.karri("register-walrus", self.name, f"127.0.0.1:{self.wl.daemon.port}")
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.wl.__exit__(*exc)

    def bundle(self, account, name, kind="machine", size=8192, data=None):
        """A bundle directory of `name` (random bytes unless data) for account."""
        self.count += 1
        work = os.path.join(self.home, f"b{self.count}")
        os.makedirs(work)
        src = os.path.join(work, name)
        with open(src, "wb") as f:
            f.write(data if data is not None else os.urandom(size))
        out = os.path.join(work, "bundle")
        os.makedirs(out)
        subprocess.run([os.path.join(BUILD, "tools/karri-bundle"), "-i", src,
                        "-c", self.user_pair[0], "-k", self.user_pair[1],
                        "--ec2cert", self.cloud_pair[0], "-u", account, "-d", out,
                        "--image-type", kind], check=True, capture_output=True, timeout=60)
        return out

    def upload(self, user, bucket, out, prefix=""):
        creds = (user.access, user.secret)
        if (user.name, bucket) not in self.buckets:
            r = self.wl.aws(creds, "s3", "mb", f"s3://{bucket}", check=False)
            if r.returncode != 0 and "BucketAlreadyOwnedByYou" not in r.stderr:
                raise AssertionError(f"aws s3 mb s3://{bucket}: {r.stderr}")
            self.buckets.add((user.name, bucket))
        dest = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}/"
        self.wl.aws(creds, "s3", "cp", "--recursive", "--only-show-errors", out,
                    dest)

    def publish(self, user, bucket, name, kind="machine", size=8192, prefix=""):
        """Bundle and upload as user; the ImageLocation to register."""
        self.upload(user, bucket, self.bundle(user.account, name, kind, size), prefix)
        return f"{bucket}/{prefix}{name}.manifest.xml"

    def register(self, user, bucket, name, kind="machine", **kw):
        """publish() then RegisterImage (Name defaults to name); the image id."""
        loc = self.publish(user, bucket, name, kind)
        kw.setdefault("Name", name)
        return user.ec2.register_image(ImageLocation=loc, **kw)["ImageId"]
