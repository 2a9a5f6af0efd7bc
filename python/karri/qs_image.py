"""The test image and the demo instance of ./quickstart, done the way a user
does it: karri-bundle, /usr/bin/aws s3 to upload, /usr/bin/aws ec2 to
register and run, all with a user's eucarc.

    from karri.qs_image import Eucarc, guest_files, publish_test_image, ensure_demo_instance
    rc = Eucarc("/var/lib/karri/quickstart")            # the directory `karri credentials` wrote
    ids = publish_test_image(rc, guest_files(), "build/gcc/tools/karri-bundle")
    # {"emi": "emi-...", "eki": "eki-...", "eri": "eri-..."}; a second call reuses them

The guest is tests/guest (kernel, busybox initramfs, 16 MiB disk), built and
cached by tests/guest/build-guest.  Images are named after a digest of the
three files ("karri-test-<digest>"), so the same guest is registered once
however often this runs, and a rebuilt guest gets images of its own.
"""

import hashlib
import json
import os
import subprocess
import tempfile
import time

from karri import TOP

AWS = "/usr/bin/aws"
BUCKET = "quickstart-test-image"     # karri-* buckets are the cloud's own (Walrus refuses them)
DEMO_NAME = "karri-demo"
MARKER = "KARRI-GUEST-UP"


class AwsFailed(Exception):
    pass


class Eucarc:
    """A user's credentials directory: the eucarc's variables and /usr/bin/aws with them."""

    def __init__(self, directory):
        self.dir = directory
        self.vars = {}
        with open(os.path.join(directory, "eucarc")) as f:
            for line in f:
                if line.startswith("export ") and "=" in line:
                    k, v = line[len("export "):].strip().split("=", 1)
                    self.vars[k] = v.strip("'\"").replace("${EUCA_KEY_DIR}", directory)

    def env(self):
        return {"PATH": "/usr/bin:/bin", "HOME": self.dir, "AWS_PAGER": "",
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "2",
                **{k: self.vars[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                             "AWS_DEFAULT_REGION")}}

    def aws(self, service, *args, check=True, timeout=120):
        """aws SERVICE ARGS against the eucarc's endpoint: parsed JSON for ec2, else stdout."""
        url = self.vars["EC2_URL"] if service == "ec2" else self.vars["S3_URL"]
        argv = [AWS, "--endpoint-url", url, service, *args]
        if service == "ec2":
            argv += ["--output", "json"]
        p = subprocess.run(argv, capture_output=True, text=True, env=self.env(), timeout=timeout)
        if p.returncode != 0:
            if not check:
                return None
            raise AwsFailed(f"aws {service} {' '.join(args[:2])}: {p.stderr.strip()}")
        if service == "ec2":
            return json.loads(p.stdout) if p.stdout.strip() else {}
        return p.stdout


def guest_files(flavor="cloud", timeout=900):
    """Build (or find cached) tests/guest; {"vmlinuz", "initrd", "disk"} paths."""
    p = subprocess.run(["/usr/bin/python3", os.path.join(TOP, "tests", "guest", "build-guest"),
                        "--flavor", flavor], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("tests/guest/build-guest failed:\n" + p.stderr)
    info = json.loads(p.stdout)
    return {k: info[k] for k in ("vmlinuz", "initrd", "disk")}


def _digest(guest):
    h = hashlib.sha256()
    for k in ("vmlinuz", "initrd", "disk"):
        with open(guest[k], "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:12]


def _registered(rc, names):
    """{name: image id} of the caller's images with these names (one call)."""
    imgs = rc.aws("ec2", "describe-images", "--owners", "self",
                  "--filters", f"Name=name,Values={','.join(names)}")["Images"]
    return {i["Name"]: i["ImageId"] for i in imgs}


def publish_test_image(rc, guest, bundle_tool, bucket=BUCKET, log=print):
    """Bundle, upload and register the test guest for the eucarc's user.

    rc: an Eucarc; guest: guest_files(); bundle_tool: the path of the built
    karri-bundle.  Returns {"emi", "eki", "eri"}: the machine image (disk)
    with its kernel and ramdisk as defaults.  Idempotent: images already
    registered under the same names (same guest) are returned as they are.
    """
    tag = f"karri-test-{_digest(guest)}"
    parts = [("eki", "kernel", "vmlinuz", f"{tag}-kernel"),
             ("eri", "ramdisk", "initrd", f"{tag}-ramdisk"),
             ("emi", "machine", "disk", tag)]
    have = _registered(rc, [name for _, _, _, name in parts])
    ids = {key: have.get(name) for key, _, _, name in parts}
    if all(ids.values()):
        return ids
    if rc.aws("s3", "mb", f"s3://{bucket}", check=False) is None:
        rc.aws("s3api", "head-bucket", "--bucket", bucket)     # exists and is ours
    with tempfile.TemporaryDirectory(prefix="karri-bundle-") as work:
        for key, kind, f, name in parts:
            if ids[key]:
                continue
            out = os.path.join(work, key)
            os.makedirs(out)
            t0 = time.monotonic()
            cmd = [bundle_tool, "-i", guest[f], "-c", rc.vars["EC2_CERT"],
                   "-k", rc.vars["EC2_PRIVATE_KEY"], "--ec2cert", rc.vars["EUCALYPTUS_CERT"],
                   "-u", rc.vars["EC2_USER_ID"], "-d", out, "--image-type", kind]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if p.returncode != 0:
                raise RuntimeError(f"karri-bundle {guest[f]}: {p.stderr.strip()}")
            rc.aws("s3", "cp", "--recursive", "--only-show-errors", out,
                   f"s3://{bucket}/{tag}/", timeout=600)
            manifest = [m for m in os.listdir(out) if m.endswith(".manifest.xml")][0]
            extra = []
            if kind == "machine":
                extra = ["--kernel-id", ids["eki"], "--ramdisk-id", ids["eri"]]
            ids[key] = rc.aws("ec2", "register-image", "--image-location",
                              f"{bucket}/{tag}/{manifest}", "--name", name,
                              "--architecture", "x86_64", *extra)["ImageId"]
            log(f"  {kind:8} {ids[key]}  {bucket}/{tag}/{manifest}  "
                f"({time.monotonic() - t0:.1f} s)")
    return ids


def demo_instances(rc):
    """The demo instances that are pending or running."""
    out = rc.aws("ec2", "describe-instances", "--filters", f"Name=tag:Name,Values={DEMO_NAME}",
                 "Name=instance-state-name,Values=pending,running")
    return [i for r in out["Reservations"] for i in r["Instances"]]


def ensure_demo_instance(rc, emi, instance_type="m1.small"):
    """The demo instance's id: the one already pending/running, or a new one."""
    have = demo_instances(rc)
    if have:
        return have[0]["InstanceId"], False
    out = rc.aws("ec2", "run-instances", "--image-id", emi, "--instance-type", instance_type,
                 "--count", "1", "--tag-specifications",
                 f"ResourceType=instance,Tags=[{{Key=Name,Value={DEMO_NAME}}}]")
    return out["Instances"][0]["InstanceId"], True


def wait_running(rc, iid, timeout=180):
    deadline = time.monotonic() + timeout
    while True:
        out = rc.aws("ec2", "describe-instances", "--instance-ids", iid)
        inst = out["Reservations"][0]["Instances"][0]
        state = inst["State"]["Name"]
        if state == "running":
            return inst
        if state in ("terminated", "shutting-down", "stopped") or time.monotonic() > deadline:
            reason = inst.get("StateReason", {}).get("Message") or inst.get("StateTransitionReason", "")
            raise RuntimeError(f"{iid} is {state}, not running {reason}".strip())
        time.sleep(1)


def wait_console_marker(rc, iid, marker=MARKER, timeout=180):
    """The console line holding marker, once the guest has printed it."""
    deadline = time.monotonic() + timeout
    while True:
        out = rc.aws("ec2", "get-console-output", "--instance-id", iid, check=False) or {}
        for line in (out.get("Output") or "").splitlines():
            if marker in line:
                return line.strip()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{iid}: no {marker} on its console after {timeout} s")
        time.sleep(2)
