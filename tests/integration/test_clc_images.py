"""RegisterImage has Walrus validate the bundle, and RunInstances hands the
nodes presigned URLs of the decrypted images.

A real karri-walrus shares the CLC's users.db (harness/images.py); bundles
are made by karri-bundle and uploaded with /usr/bin/aws.  Checked: a good
machine/kernel/ramdisk bundle registers as emi/eki/eri with the kind, name
and architecture from its manifest; a missing manifest, a missing part, a
tampered manifest, a bundle for another cloud and someone else's bundle are
refused with InvalidManifest and nothing is registered; the URL the CC gets
for a launch fetches exactly the original bytes, without any key, until it
expires, and nothing in the CLC's log shows the system user's secret.
"""

import hashlib
import os
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from harness.clc import ClcCloud, register_stub_cluster, wait_for
from harness.daemons import BUILD, free_port
from harness.images import ImageStore, openssl_pair


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = ClcCloud(tmp_path_factory.mktemp("clcimg"))
    c.user("alice")
    c.user("bob")
    c.user("root", admin=True)
    cc = register_stub_cluster(c, "zone1")
    with c, ImageStore(c, tmp_path_factory.mktemp("clcimg-walrus")) as store:
        c.cc, c.store = cc, store
        yield c
    cc.stop()


def images(user, **kw):
    return user.ec2.describe_images(**kw)["Images"]


def test_good_bundles_register_with_kind_from_manifest(cloud):
    alice, store = cloud.users["alice"], cloud.store
    kernel = store.publish(alice, "alice-img", "vmlinuz-test", kind="kernel")
    ramdisk = store.publish(alice, "alice-img", "initrd-test", kind="ramdisk")
    machine = store.publish(alice, "alice-img", "disk.img", prefix="machines/")
    eki = alice.aws("register-image", "--image-location", kernel, "--name", "k1")["ImageId"]
    # boto2 (SigV2), no Name: the manifest's name is taken.
    eri = alice.boto2().register_image(image_location=ramdisk)
    emi = alice.ec2.register_image(ImageLocation=machine, Name="m1", KernelId=eki,
                                   RamdiskId=eri)["ImageId"]
    assert eki.startswith("eki-") and eri.startswith("eri-") and emi.startswith("emi-")
    got = {i["ImageId"]: i for i in images(alice, ImageIds=[eki, eri, emi])}
    assert got[eki]["ImageType"] == "kernel" and got[eri]["ImageType"] == "ramdisk"
    assert got[eri]["Name"] == "initrd-test"
    assert got[emi]["ImageType"] == "machine" and got[emi]["Architecture"] == "x86_64"
    assert got[emi]["ImageLocation"] == "alice-img/machines/disk.img.manifest.xml"
    assert got[emi]["KernelId"] == eki and got[emi]["RamdiskId"] == eri


def test_bad_bundles_refused_nothing_registered(cloud, tmp_path):
    alice, bob, root, store = (cloud.users["alice"], cloud.users["bob"],
                               cloud.users["root"], cloud.store)
    before = len(images(root))
    ec2 = alice.ec2

    def refused(loc, code="InvalidManifest", user=alice):
        err = user.aws("register-image", "--image-location", loc, "--name",
                       f"n{abs(hash(loc)) % 100000}", check=False)
        assert err.returncode != 0, loc
        assert f"({code})" in err.stderr, err.stderr
        return err.stderr

    # No such manifest, no such bucket.
    assert "no manifest" in refused("alice-img/nothing.manifest.xml")
    refused("no-such-bucket/x.manifest.xml")
    # A part missing.
    out = store.bundle(alice.account, "holey.img", size=40000)
    store.upload(alice, "alice-img", out)
    creds = (alice.access, alice.secret)
    store.wl.aws(creds, "s3", "rm", "s3://alice-img/holey.img.part.00")
    assert "part 0 is missing" in refused("alice-img/holey.img.manifest.xml")
    # A manifest that is not XML.
    junk = tmp_path / "junk.manifest.xml"
    junk.write_text("this is not a manifest")
    store.wl.aws(creds, "s3", "cp", str(junk), "s3://alice-img/junk.manifest.xml")
    refused("alice-img/junk.manifest.xml")
    # A bundle encrypted for another cloud: the cloud's key cannot open it.
    other = openssl_pair(str(tmp_path), "othercloud")
    src = tmp_path / "foreign.img"
    src.write_bytes(os.urandom(5000))
    fdir = tmp_path / "foreign"
    fdir.mkdir()
    subprocess.run([os.path.join(BUILD, "tools/karri-bundle"),
                    "-i", str(src), "-c", store.user_pair[0], "-k", store.user_pair[1],
                    "--ec2cert", other[0], "-u", alice.account, "-d", str(fdir)],
                   check=True, capture_output=True, timeout=60)
    store.upload(alice, "alice-img", str(fdir))
    refused("alice-img/foreign.img.manifest.xml")
    # Alice's good bundle is not Bob's to register; the admin may.
    loc = store.publish(alice, "alice-img", "mine.img")
    assert "not uploaded by your account" in refused(loc, user=bob)
    # Malformed locations never reach Walrus.
    assert alice.code_of(ec2.register_image, ImageLocation="nobucket",
                         Name="x") == "InvalidParameterValue"
    # A location too long for the URL a launch hands the nodes is refused now, not then.
    assert "too long" in refused("alice-img/" + "k" * 900 + ".manifest.xml",
                                 code="InvalidParameterValue")
    assert len(images(root)) == before
    assert root.ec2.register_image(ImageLocation=loc, Name="root-mine")["ImageId"]


def test_run_hands_nodes_presigned_image_urls(cloud):
    alice, store = cloud.users["alice"], cloud.store
    data = os.urandom(70000)
    out = store.bundle(alice.account, "run.img", data=data)
    store.upload(alice, "alice-img", out, prefix="run/")
    emi = alice.ec2.register_image(ImageLocation="alice-img/run/run.img.manifest.xml",
                                   Name="run")["ImageId"]
    wait_for(lambda: alice.ec2.describe_availability_zones()["AvailabilityZones"][0]["State"]
             == "available")
    iid = alice.ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"]
    run = cloud.cc.ops("RunInstances")[-1]
    url = next(el.text for el in run.iter() if el.tag.split("}")[-1] == "imageURL")
    assert "/services/Karri/image?bucket=alice-img&key=run%2Frun.img.manifest.xml" in url
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=3600" in url
    # Anyone holding the URL (a node) gets the decrypted image, with no key.
    with urllib.request.urlopen(url, timeout=30) as r:
        assert hashlib.sha256(r.read()).hexdigest() == hashlib.sha256(data).hexdigest()
    # Changed, it is refused.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url.replace("key=run%2F", "key=xrun%2F"), timeout=30)
    assert e.value.code == 403
    alice.ec2.terminate_instances(InstanceIds=[iid])
    # The URLs (and so the system identity's signatures) never show in the CLC's log.
    access_key = re.search(r"X-Amz-Credential=(\w+)", url).group(1)
    log = cloud.clc.log()
    assert access_key not in log and "X-Amz-Signature" not in log
    assert "karri-system" in cloud.karri("user", "list").stdout


def test_walrus_missing_or_down_is_a_clear_error(tmp_path):
    with ClcCloud(tmp_path) as c:
        alice = c.user("alice")
        ec2 = alice.ec2
        assert alice.code_of(ec2.register_image, ImageLocation="b1/i.manifest.xml",
                             Name="i") == "InvalidParameterValue"      # none registered
        c.karri("register-walrus", "walrus", f"127.0.0.1:{free_port()}")
        err = alice.aws("register-image", "--image-location", "b1/i.manifest.xml",
                        "--name", "i", check=False)
        assert "(Unavailable)" in err.stderr and "Walrus" in err.stderr, err.stderr
        assert ec2.describe_images()["Images"] == []
