"""karri-ebs's AoE target against a hostile initiator with a memory (issue 17).

A real segment (a bridge in the root namespace -- the EBS storage NIC -- and
one node namespace) at MTU 9000, karri-ebs serving two volumes: one exported
to the node's MAC, one to a MAC nobody has.  From the node,
harness/aoe_hostile.py interleaves valid I/O (writes, reads checked against
what was written, reused tags, retransmits) with frames the target must not
act on (random and truncated frames, wrong versions, the response flag, MACs
not on the mask list, the other volume, broadcast ATA, oversized sector
counts and ranges past the end, mask-list edits, Query Config sets), all
drawn from one seeded random.Random -- the seed is printed, and
KARRI_AOE_HOSTILE_SEED=N replays a run.  Then: the target still runs and
serves, no answer went to a MAC off the mask list, every read matched, and
both volume files hold exactly what the valid writes put there (the other
volume: nothing).  Bounded: SECONDS of traffic, under a minute in all.
Needs root.
"""

import json
import os
import random
import shutil
import sys

import pytest

from harness.aoe import Ebs, Segment, parse_kv, reap
from harness.daemons import Daemon

pytestmark = pytest.mark.root

SCRIPT = os.path.join(os.path.dirname(__file__), "harness", "aoe_hostile.py")
SECONDS = 20
REGION = 4 << 20            # as aoe_hostile.REGION
TAIL = 64                   # as aoe_hostile.TAIL
NOBODY = "02:00:5e:00:00:99"


@pytest.fixture(scope="module", autouse=True)
def _reap():
    reap(f"kh{os.getpid() % 1000:03d}")
    yield


def test_target_keeps_serving_and_data_stays_intact_under_hostile_frames(tmp_path):
    seed = int(os.environ.get("KARRI_AOE_HOSTILE_SEED") or random.randrange(1 << 31))
    print(f"aoe hostile seed={seed} (KARRI_AOE_HOSTILE_SEED={seed} replays it)")
    home = str(tmp_path / "ebs")
    prefix = f"kh{os.getpid() % 1000:03d}"
    try:
        with Segment(prefix, 9000, ("n",)) as seg:
            with Daemon("karri-ebs", home, {"EBS_STORAGE_INTERFACE": seg.bridge}) as d:
                ebs = Ebs(d.url)
                for vol, mac in (("vol-0000b001", seg.mac("n")), ("vol-0000b002", NOBODY)):
                    assert ebs.create_volume(vol, 1)["return"] == "true"
                    exp = ebs.export_volume(vol, [mac])
                    assert exp["return"] == "true", exp
                    if vol == "vol-0000b001":
                        mine, target_mac = f"{exp['shelf']}.{exp['slot']}", exp["targetMac"]
                    else:
                        other = f"{exp['shelf']}.{exp['slot']}"
                info = parse_kv(seg.aoe("n", "discover", mine).stdout)
                sectors = int(info["bytes"]) // 512
                shadow = tmp_path / "shadow"
                r = seg.run("n", [sys.executable, SCRIPT, seg.nic("n"), target_mac, mine, other,
                                  sectors, seed, SECONDS, shadow], timeout=SECONDS + 40)
                out = json.loads(r.stdout)
                print(f"aoe hostile seed={seed} frames: {out['counts']}")
                assert d.proc.poll() is None, f"karri-ebs died (seed {seed})"
                assert out["failures"] == [], f"seed {seed}"
                # Both kinds of traffic really happened.
                assert out["counts"].get("write", 0) > 50 and out["counts"].get("read", 0) > 50
                assert sum(out["counts"].values()) > 1000, out["counts"]
                # The target still answers a fresh initiator, with its volume's name.
                assert parse_kv(seg.aoe("n", "discover", mine).stdout)["config"] == "vol-0000b001"
                # The files: exactly the valid writes in ours, nothing in the other one.
                expect = shadow.read_bytes()
                volumes = os.path.join(home, "var/lib/karri/volumes")
                for vol, want in (("vol-0000b001", expect), ("vol-0000b002", bytes(len(expect)))):
                    with open(os.path.join(volumes, f"{vol}.img"), "rb") as f:
                        head = f.read(REGION)
                        f.seek((sectors - TAIL) * 512)
                        tail = f.read()
                    assert head == want[:REGION], f"{vol}: first {REGION} bytes differ (seed {seed})"
                    assert tail == want[REGION:], f"{vol}: last {TAIL} sectors differ (seed {seed})"
                assert "ERROR" not in d.log(), d.log()[-2000:]
    finally:
        # Volumes are pre-allocated: do not leave gigabytes in pytest's tmp.
        shutil.rmtree(os.path.join(home, "var/lib/karri/volumes"), ignore_errors=True)

