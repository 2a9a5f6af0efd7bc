"""A whole small Karri cloud without QEMU: a CLC, the real karri-cc, karri-ncsim
(simulated nodes), and a real Walrus holding image bundles (harness/images.py).
Two of them on one machine, on their own ports, make a private cloud and the
"public" cloud it bursts to (tests/integration/test_burst.py).

    with SmallCloud(tmp / "public", first_ip="127.1.0.41") as pub:
        bob = pub.user("bob")
        emi = pub.image(bob, "img")          # bundled, uploaded, registered
"""

import contextlib
import os

from harness.cc import NcSim
from harness.clc import ClcCloud, wait_for
from harness.daemons import Daemon
from harness.images import ImageStore


class SmallCloud:
    def __init__(self, home, first_ip, nodes=1, cores=4, zone="zone1", clc_config=None):
        self.home, self.zone = home, zone
        os.makedirs(home / "cc", exist_ok=True)
        self.ncs = NcSim(nodes=nodes, first_ip=first_ip, cores=cores)
        self.cc = Daemon("karri-cc", str(home / "cc"), {"VNET_MODE": "SYSTEM",
                                                        "NC_POLLING_FREQUENCY": 1,
                                                        "SCHEDPOLICY": "ROUNDROBIN"})
        self.cloud = ClcCloud(home / "front", clc_config)
        self.store = None
        self._stack = contextlib.ExitStack()

    def start(self):
        try:
            self._stack.enter_context(self.ncs)
            self._stack.enter_context(self.cc)
            self._stack.enter_context(self.cloud)
            self.karri("register-cluster", self.zone, f"127.0.0.1:{self.cc.port}")
            self.karri("register-nodes", self.zone, *self.ncs.node_names())
            self.store = self._stack.enter_context(ImageStore(self.cloud, self.home / "walrus"))
        except BaseException:
            self._stack.close()
            raise
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self._stack.close()

    @property
    def clc(self):
        return self.cloud.clc

    def karri(self, *args, check=True):
        return self.cloud.karri(*args, check=check)

    def user(self, name):
        return self.cloud.user(name)

    def image(self, user, name):
        return self.store.register(user, "images", name)

    def wait_zone(self, user, zone=None, timeout=30):
        zone = zone or self.zone

        def up():
            zs = user.ec2.describe_availability_zones()["AvailabilityZones"]
            return any(z["ZoneName"] == zone and z["State"] == "available" for z in zs)
        wait_for(up, timeout=timeout)
