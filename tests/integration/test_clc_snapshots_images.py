"""DescribeSnapshots with Owner and RestorableBy as euca2ools 3.4 sends them (two
requests, Owner=self then RestorableBy=self, concatenated: each snapshot must
come back once), and RegisterImage's VirtualizationType (paravirtual needs a
kernel, hvm takes none) reported back by DescribeImages, and every action of
docs/ec2-actions.md answering as that table says.  Snapshots are rows
in the CLC's database here (no EBS needed to list them).
"""

import sqlite3

import pytest

from harness.clc import ClcCloud
from harness.images import ImageStore
from test_clc_instance_attrs import query, strip_ns


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = ClcCloud(tmp_path_factory.mktemp("clcsnap"))
    c.user("alice")
    c.user("bob")
    with c, ImageStore(c, tmp_path_factory.mktemp("clcsnap-walrus")) as store:
        c.store = store
        yield c


def add_snapshot(cloud, sid, owner):
    db = sqlite3.connect(f"{cloud.home}/var/lib/karri/clc.db", timeout=10)
    with db:
        db.execute("INSERT INTO snapshots (id, owner, volume_id, volume_size, status,"
                   " progress, started) VALUES (?, ?, 'vol-00000001', 1, 'completed',"
                   " '100%', 0)", (sid, owner))
    db.close()


def snapshot_ids(cloud, user, params):
    st, root = query(cloud, user, {"Action": "DescribeSnapshots", **params})
    assert st == 200, ET_text(root)
    return [e.text for e in strip_ns(root).findall("./snapshotSet/item/snapshotId")]


def ET_text(root):
    import xml.etree.ElementTree as ET
    return ET.tostring(root)


def test_restorable_by_and_owner(cloud):
    alice, bob = cloud.users["alice"], cloud.users["bob"]
    add_snapshot(cloud, "snap-0000a001", alice.account)
    add_snapshot(cloud, "snap-0000a002", alice.account)
    add_snapshot(cloud, "snap-0000b001", bob.account)
    # euca-describe-snapshots: Owner=self, then RestorableBy=self.
    owned = snapshot_ids(cloud, alice, {"Owner.1": "self"})
    restorable = snapshot_ids(cloud, alice, {"RestorableBy.1": "self"})
    assert sorted(owned + restorable) == ["snap-0000a001", "snap-0000a002"]
    assert snapshot_ids(cloud, alice, {"Owner.1": alice.account}) == owned
    assert snapshot_ids(cloud, alice, {"Owner.1": bob.account}) == []
    assert snapshot_ids(cloud, alice, {"RestorableBy.1": "all"}) == []
    assert snapshot_ids(cloud, alice, {}) == owned
    # awscli's spelling of both.
    got = alice.aws("describe-snapshots", "--owner-ids", "self")["Snapshots"]
    assert sorted(s["SnapshotId"] for s in got) == owned
    got = alice.aws("describe-snapshots", "--restorable-by-user-ids", "self")["Snapshots"]
    assert got == []
    st, root = query(cloud, alice, {"Action": "DescribeSnapshots",
                                    "RestorableBy.1": "nobody"})
    assert st == 400 and root.find(".//Code").text == "InvalidUserID.Malformed"


def test_register_image_virtualization_type(cloud):
    alice = cloud.users["alice"]
    ec2, store = alice.ec2, cloud.store
    eki = store.register(alice, "alice-virt", "vmlinuz", kind="kernel")
    eri = store.register(alice, "alice-virt", "initrd", kind="ramdisk")
    loc = store.publish(alice, "alice-virt", "pv")
    pv = ec2.register_image(ImageLocation=loc, Name="pv", VirtualizationType="paravirtual",
                            KernelId=eki, RamdiskId=eri)["ImageId"]
    img = ec2.describe_images(ImageIds=[pv])["Images"][0]
    assert img["VirtualizationType"] == "paravirtual" and img["KernelId"] == eki
    hvm = ec2.register_image(ImageLocation=store.publish(alice, "alice-virt", "hvm"),
                             Name="hvm", VirtualizationType="hvm")["ImageId"]
    assert ec2.describe_images(ImageIds=[hvm])["Images"][0]["VirtualizationType"] == "hvm"
    loc2 = store.publish(alice, "alice-virt", "bad")
    assert alice.code_of(ec2.register_image, ImageLocation=loc2, Name="b1",
                         VirtualizationType="paravirtual") == "InvalidParameterCombination"
    assert alice.code_of(ec2.register_image, ImageLocation=loc2, Name="b2",
                         VirtualizationType="hvm", KernelId=eki) == \
        "InvalidParameterCombination"
    assert alice.code_of(ec2.register_image, ImageLocation=loc2, Name="b3",
                         VirtualizationType="xen") == "InvalidParameterValue"


def test_every_action_in_the_docs_answers_as_listed(cloud):
    """docs/ec2-actions.md: each "no" action is UnsupportedOperation, each
    Eucalyptus-only one InvalidAction, each "yes" one is not."""
    import os
    alice = cloud.users["alice"]
    doc = os.path.join(os.path.dirname(__file__), "../../docs/ec2-actions.md")
    euca_only = False
    checked = 0
    for line in open(doc):
        euca_only |= line.startswith("Eucalyptus-only")
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 4 or cells[2] not in ("yes", "no"):
            continue
        st, root = query(cloud, alice, {"Action": cells[1]})
        code = root.find(".//Code")
        code = code.text if code is not None else None
        if cells[2] == "yes":
            assert code not in ("UnsupportedOperation", "InvalidAction"), cells[1]
        else:
            assert code == ("InvalidAction" if euca_only else "UnsupportedOperation"), \
                (cells[1], code)
        checked += 1
    assert checked > 100
