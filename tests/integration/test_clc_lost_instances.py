"""An instance ends as lost only when its cluster knows it is gone (issue 15).

A karri-cc that restarts while a node does not answer lists none of that
node's instances; the CLC used to take that for their end and mark live
instances terminated.  Now the CC names the nodes it has heard from since it
started (heardNodes in DescribeInstances) and the CLC marks an unlisted
instance lost only on one of those.

A SmallCloud (CLC + real karri-cc + one karri-ncsim node): an instance runs;
the node hangs (SIGSTOP) and the CC restarts, so the CC's answers list
neither the instance nor its node.  The instance stays running over several
CLC polls.  Then the node answers again as a fresh karri-ncsim on the same
address, which no longer has the instance: the CLC marks it terminated.
"""

import os
import signal
import sqlite3

import pytest

from harness.cc import CcClient
from harness.wait import wait_for
from harness.smallcloud import SmallCloud

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="binds 127.1.0.x (fine as root)")

RECONCILE_S = 5     # the CLC's CLC_RECONCILE_S (clc/clc.h)
POLL_APPLIED = "cluster zone1: poll applied"   # clc/reconcile.c, at LOGLEVEL=DEBUG


def zone_state(user):
    return user.ec2.describe_availability_zones()["AvailabilityZones"][0]["State"]


def instance(user, iid):
    return user.ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]


def test_instance_of_an_unheard_node_is_not_lost(tmp_path):
    # DEBUG: the CLC logs each poll it applies ("cluster zone1: poll applied").
    with SmallCloud(tmp_path, first_ip="127.1.0.91", clc_config={"LOGLEVEL": "DEBUG"}) as sc:
        alice = sc.user("alice")
        emi = sc.image(alice, "img")
        sc.wait_zone(alice)
        iid = alice.ec2.run_instances(ImageId=emi, MinCount=1,
                                      MaxCount=1)["Instances"][0]["InstanceId"]
        wait_for(lambda: instance(alice, iid)["State"]["Name"] == "running", timeout=30)
        # Past the launch's grace period (PENDING_GRACE_S), where a row the
        # CC does not list used to be terminated at the first poll.
        db = sqlite3.connect(os.path.join(sc.cloud.home, "var/lib/karri/clc.db"), timeout=10)
        with db:
            db.execute("UPDATE instances SET launched = launched - 600 WHERE id = ?", (iid,))
        db.close()

        sc.ncs.signal(signal.SIGSTOP)
        sc.cc.stop()
        wait_for(lambda: zone_state(alice) == "unavailable", timeout=3 * RECONCILE_S)
        sc.cc.start()
        # The CLC has applied a poll of the restarted CC ...
        wait_for(lambda: zone_state(alice) == "available", timeout=3 * RECONCILE_S)
        # ... which lists nothing and has heard from no node.
        answer = CcClient(sc.cc.url).call("DescribeInstances")
        assert answer.get("instances", []) == [] and answer.get("heardNodes", []) == []
        # Over the next two polls the CLC applies, the instance stays as it was.
        applied = sc.clc.log().count(POLL_APPLIED)
        wait_for(lambda: sc.clc.log().count(POLL_APPLIED) >= applied + 2, 4 * RECONCILE_S,
                 "two more polls of the CC applied by the CLC")
        assert instance(alice, iid)["State"]["Name"] == "running"

        # The node answers again, without the instance: now it is gone.
        sc.ncs.stop()
        sc.ncs.proc = None
        sc.ncs.start()
        wait_for(lambda: instance(alice, iid)["State"]["Name"] == "terminated",
                 timeout=4 * RECONCILE_S)
        assert "no longer reports" in instance(alice, iid)["StateReason"]["Message"]
        answer = CcClient(sc.cc.url).call("DescribeInstances")
        assert answer["heardNodes"] == ["http://%s/" % sc.ncs.node_names()[0]]
