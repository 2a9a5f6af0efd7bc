"""A whole Karri cloud for a test: karri.quickstart's, run beside anything
else on the machine (its own state dir, namespace prefix, sim net index, no
127.0.0.1 forwarders), driven like a user drives it: /usr/bin/aws with the
admin's eucarc.

    with Cloud(tmp_dir, prefix="ke1234", net=9) as cloud:
        cloud.ec2("describe-availability-zones")      # -> parsed JSON
        cloud.sim.front.run([...])                    # a command on the front end

stop() (also on leaving the with block) runs `karri.quickstart stop` and
checks that nothing of the cloud is left: no namespace, no process.

    Cloud(tmp_dir, prefix="kz1234", net=9, clusters=2, nodes=1)

is a cloud of two clusters (zone1, zone2), each with a head (its CC and
EBS) and one node on networks of its own (KARRI_QS_CLUSTERS, KARRI_QS_NODES);
leftovers() after stop() also looks for links and processes by namespace.
"""

import json
import os
import subprocess
import time

import karri.sim
from harness import simlife
from harness.daemons import BUILD
from karri import python_argv

AWS = "/usr/bin/aws"


class CloudError(AssertionError):
    pass


class Cloud:
    def __init__(self, qs_dir, prefix, net, clusters=1, nodes=None):
        self.qs = qs_dir
        self.prefix = prefix
        self.net = net
        self.env_qs = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "KARRI_BUILD": BUILD,
                       "KARRI_QS_DIR": qs_dir, "KARRI_QS_PREFIX": prefix,
                       "KARRI_QS_NET": str(net), "KARRI_QS_FORWARD": "no",
                       # the test image published, no demo instance: every node's
                       # capacity is the test's
                       "KARRI_QS_DEMO": "image"}
        if clusters != 1:
            self.env_qs["KARRI_QS_CLUSTERS"] = str(clusters)
        if nodes is not None:
            self.env_qs["KARRI_QS_NODES"] = str(nodes)
        self.env = None            # the user's environment: eucarc
        self.sim = None
        self.netns_ids = {}        # taken while up, for leftovers()
        self.up_output = ""

    # --- life cycle ------------------------------------------------------------
    def quickstart(self, *args, timeout=300):
        return subprocess.run(python_argv("quickstart", *args), capture_output=True, text=True,
                              timeout=timeout, env=self.env_qs)

    def up(self):
        os.makedirs(self.qs, exist_ok=True)
        out = self.quickstart("up")
        self.up_output = out.stdout + out.stderr
        if out.returncode != 0:
            raise CloudError("quickstart up failed:\n" + self.up_output)
        self.env = {"PATH": "/usr/bin:/bin", "HOME": self.qs}
        with open(os.path.join(self.qs, "eucarc")) as f:
            for line in f:
                if line.startswith("export ") and "=" in line and "${" not in line:
                    k, v = line[len("export "):].strip().split("=", 1)
                    self.env[k] = v.strip("'\"")
        self.sim = karri.sim.Sim.load(self.prefix, state_dir=os.path.join(self.qs, "sim"))
        self.netns_ids = simlife.netns_ids(self.prefix)
        return self

    def leftovers(self):
        """After stop(): what is left of the cloud's hosts (namespaces, links in
        the root namespace, processes in its namespaces or naming its sim's
        state dir), as readable strings; [] when all is gone."""
        return simlife.leftovers(self.prefix, os.path.join(self.qs, "sim"), self.netns_ids)

    def namespaces(self):
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return [l.split()[0] for l in out.splitlines() if l.startswith(self.prefix + "-")]

    def stop(self):
        """quickstart stop; then nothing of this cloud may be left."""
        pids = []
        if self.sim is not None:
            pids = [p for p in self._sim_pids()]
        out = self.quickstart("stop")
        left = self.namespaces()
        alive = [p for p in pids if _alive(p)]
        if out.returncode != 0 or left or alive:
            raise CloudError("quickstart stop left things: rc=%d namespaces=%s pids=%s\n%s%s"
                             % (out.returncode, left, alive, out.stdout, out.stderr))

    def _sim_pids(self):
        """Every process the sim started (daemons, libvirtds) by recorded pid."""
        pids = []
        for h in self.sim.hosts:
            pids += [pid for pid, _start in h.recorded_pids()]
        return pids

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.stop()

    # --- what a user runs -----------------------------------------------------
    def aws(self, service, *args, endpoint=None, check=True, timeout=120):
        argv = [AWS, "--endpoint-url", endpoint or (self.env["EC2_URL"] if service == "ec2"
                                                     else self.env["S3_URL"]),
                "--output", "json", service, *args]
        out = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and out.returncode != 0:
            raise CloudError("aws %s %s: rc=%d\n%s" % (service, " ".join(args), out.returncode,
                                                         out.stderr))
        if not check:
            return out
        return json.loads(out.stdout) if out.stdout.strip() else {}

    def ec2(self, *args, **kw):
        return self.aws("ec2", *args, **kw)

    def karri(self, *args):
        """The admin CLI on the front end (karri status, ...)."""
        conf = os.path.join(self.qs, "front", "etc/karri/karri.conf")
        return self.sim.front.run([os.path.join(BUILD, "tools", "karri"), "-f", conf,
                                   "-H", self.sim.front.priv_ip, *args], timeout=60,
                                  env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                       "KARRI_HOME": os.path.join(self.qs, "front")})

    # --- waiting --------------------------------------------------------------
    def instances(self, ids=None):
        args = ["describe-instances"] + (["--instance-ids", *ids] if ids else [])
        res = self.ec2(*args)
        return {i["InstanceId"]: i for r in res.get("Reservations", []) for i in r["Instances"]}

    def wait_instances(self, ids, state, timeout=180):
        deadline = time.monotonic() + timeout
        while True:
            now = self.instances(ids)
            if all(now.get(i, {}).get("State", {}).get("Name") == state for i in ids):
                return now
            if time.monotonic() > deadline:
                raise CloudError("instances not %s after %d s: %s" % (
                    state, timeout, {i: now.get(i, {}).get("State") for i in ids}))
            time.sleep(1)

    def console(self, iid):
        out = self.ec2("get-console-output", "--instance-id", iid, check=False)
        if out.returncode != 0:
            return ""
        return json.loads(out.stdout).get("Output") or ""

    def wait_console(self, iid, pred, what, timeout=120):
        """Poll the instance's console until pred(text) is true; returns the text."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.console(iid)
            if pred(text):
                return text
            if time.monotonic() > deadline:
                tail = "\n".join(l for l in text.splitlines() if "KARRI" in l)
                raise CloudError("%s: no %s on the console after %d s; KARRI lines:\n%s"
                                 % (iid, what, timeout, tail))
            time.sleep(2)

    def wait_volume(self, vol, status, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            v = self.ec2("describe-volumes", "--volume-ids", vol)["Volumes"][0]
            if v["State"] == status:
                return v
            if time.monotonic() > deadline:
                raise CloudError("%s not %s after %d s: %s" % (vol, status, timeout, v))
            time.sleep(1)


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
