"""Image bundles end to end: karri-bundle makes a bundle (cloud and user
certificates made here with the openssl CLI, until the CLC's CA exists),
/usr/bin/aws uploads it, Walrus's internal operations validate the manifest
and hand out the decrypted image, which must be byte-identical to the
original.  Also: tampered parts and manifests, a bundle for another cloud,
ten concurrent first fetches decrypting once, non-admins refused."""

import concurrent.futures
import hashlib
import http.client
import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness.daemons import BUILD
from harness.walrus import WalrusEnv

MiB = 1 << 20


def openssl_pair(d, name):
    key, cert = os.path.join(d, f"{name}-pk.pem"), os.path.join(d, f"{name}-cert.pem")
    subprocess.run(["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("keys"))
    return {"cloud": openssl_pair(d, "cloud"), "user": openssl_pair(d, "user"),
            "other": openssl_pair(d, "other")}


@pytest.fixture(scope="module")
def wl(tmp_path_factory, keys):
    cert, key = keys["cloud"]
    with WalrusEnv(tmp_path_factory.mktemp("walrus"),
                   {"KARRI_CLOUD_CERT": cert, "KARRI_CLOUD_KEY": key}) as env:
        env.add_user("admin", admin=True)
        env.add_user("alice")
        env.aws(env.users["alice"], "s3", "mb", "s3://images")
        yield env


def bundle(keys, tmp_path, name, size, cloud="cloud", extra=()):
    src = tmp_path / name
    src.write_bytes(os.urandom(size))
    out = tmp_path / f"{name}-bundle"
    out.mkdir()
    subprocess.run([os.path.join(BUILD, "tools/karri-bundle"), "-i", str(src), "-c", keys["user"][0],
                    "-k", keys["user"][1], "--ec2cert", keys[cloud][0], "-u", "123456789012",
                    "-d", str(out), *extra], check=True, capture_output=True, timeout=60)
    return src, out


def upload(wl, out, prefix):
    wl.aws(wl.users["alice"], "s3", "cp", "--recursive", "--quiet", str(out),
           f"s3://images/{prefix}/")


def call(wl, user, op, method="GET", body=None, headers=None, **query):
    """An internal operation signed with SigV4; returns (status, headers, body)."""
    url = f"{wl.endpoint}/services/Karri/{op}?" + urllib.parse.urlencode(query)
    ak, sk = wl.users[user]
    req = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers or {}))
    S3SigV4Auth(Credentials(ak, sk), "s3", "us-east-1").add_auth(req)
    r = urllib.request.Request(url, data=body if method == "POST" else None,
                               headers=dict(req.headers.items()), method=method)
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def code_of(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return m.group(1).decode() if m else None


def sha(b):
    return hashlib.sha256(b).hexdigest()


def test_bundle_validate_fetch_identical(wl, keys, tmp_path):
    src, out = bundle(keys, tmp_path, "small.img", 3 * MiB + 123)
    assert sorted(os.listdir(out)) == ["small.img.manifest.xml", "small.img.part.00"]
    upload(wl, out, "small")
    with open(keys["user"][0], "rb") as f:
        cert = f.read()
    st, _, body = call(wl, "admin", "manifest", "POST", body=cert,
                       bucket="images", key="small/small.img.manifest.xml")
    assert st == 200, body
    assert b"<ImageKind>machine</ImageKind>" in body
    assert f"<Size>{3 * MiB + 123}</Size>".encode() in body
    assert b"<UserSignature>verified</UserSignature>" in body
    st, h, got = call(wl, "admin", "image", bucket="images", key="small/small.img.manifest.xml")
    assert st == 200 and h["x-karri-image-cache"] == "miss"
    assert sha(got) == sha(src.read_bytes())
    st, h, got = call(wl, "admin", "image", bucket="images", key="small/small.img.manifest.xml",
                      headers={"Range": "bytes=1000-1999"})
    assert st == 206 and h["x-karri-image-cache"] == "hit"
    assert got == src.read_bytes()[1000:2000]


def test_multipart_kernel_bundle(wl, keys, tmp_path):
    src, out = bundle(keys, tmp_path, "vmlinuz", 23 * MiB, extra=["--image-type", "kernel"])
    assert len([f for f in os.listdir(out) if ".part." in f]) == 3
    upload(wl, out, "kernel")
    st, _, body = call(wl, "admin", "manifest", bucket="images",
                       key="kernel/vmlinuz.manifest.xml", **{"user-signature": "skip"})
    assert st == 200, body
    assert b"<ImageKind>kernel</ImageKind>" in body and b"<PartCount>3</PartCount>" in body
    assert b"<UserSignature>skipped</UserSignature>" in body
    st, _, got = call(wl, "admin", "image", bucket="images", key="kernel/vmlinuz.manifest.xml")
    assert st == 200 and sha(got) == sha(src.read_bytes())


def test_ten_concurrent_fetches_decrypt_once(wl, keys, tmp_path):
    src, out = bundle(keys, tmp_path, "shared.img", 24 * MiB)
    upload(wl, out, "shared")
    before = wl.daemon.log().count("image cache: decrypting images/shared/")
    with concurrent.futures.ThreadPoolExecutor(10) as ex:
        res = list(ex.map(lambda _: call(wl, "admin", "image", bucket="images",
                                         key="shared/shared.img.manifest.xml"), range(10)))
    want = sha(src.read_bytes())
    assert all(st == 200 and sha(got) == want for st, _, got in res)
    assert wl.daemon.log().count("image cache: decrypting images/shared/") - before == 1
    assert {h["x-karri-image-cache"] for _, h, _ in res} <= {"miss", "joined", "hit"}


def test_tampered_part_is_refused(wl, keys, tmp_path):
    _, out = bundle(keys, tmp_path, "bad.img", 2 * MiB)
    part = out / "bad.img.part.00"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 1
    part.write_bytes(bytes(data))
    upload(wl, out, "badpart")
    # The part's digest is checked before any byte of it is decrypted; the answer
    # (200 and Content-Length already sent) is cut short, so the node sees a failure.
    with pytest.raises(http.client.IncompleteRead) as e:
        call(wl, "admin", "image", bucket="images", key="badpart/bad.img.manifest.xml")
    assert len(e.value.partial) == 0
    assert "does not match its SHA-1 digest" in wl.daemon.log()


def test_tampered_manifest_and_wrong_cloud(wl, keys, tmp_path):
    with open(keys["user"][0], "rb") as f:
        cert = f.read()
    _, out = bundle(keys, tmp_path, "m.img", MiB)
    man = out / "m.img.manifest.xml"
    man.write_text(man.read_text().replace(f"<size>{MiB}</size>", f"<size>{MiB + 1}</size>"))
    upload(wl, out, "badman")
    st, _, body = call(wl, "admin", "manifest", "POST", body=cert, bucket="images",
                       key="badman/m.img.manifest.xml")
    assert st == 400 and code_of(body) == "InvalidManifest"
    assert b"signature does not verify" in body
    with open(keys["other"][0], "rb") as f:
        st, _, body = call(wl, "admin", "manifest", "POST", body=f.read(), bucket="images",
                           key="badman/m.img.manifest.xml")
    assert st == 400 and b"signature does not verify" in body

    _, out = bundle(keys, tmp_path, "o.img", MiB, cloud="other")
    upload(wl, out, "othercloud")
    st, _, body = call(wl, "admin", "manifest", "POST", body=cert, bucket="images",
                       key="othercloud/o.img.manifest.xml")
    assert st == 400 and b"does not decrypt with the cloud" in body
    st, _, body = call(wl, "admin", "image", bucket="images", key="othercloud/o.img.manifest.xml")
    assert st == 400 and code_of(body) == "InvalidManifest"

    _, out = bundle(keys, tmp_path, "p.img", MiB)
    man = out / "p.img.manifest.xml"
    man.write_text(man.read_text().replace("<filename>p.img.part.00</filename>",
                                           "<filename>../../etc/passwd</filename>"))
    upload(wl, out, "traverse")
    st, _, body = call(wl, "admin", "manifest", bucket="images", key="traverse/p.img.manifest.xml",
                       **{"user-signature": "skip"})
    assert st == 400 and b"bad file name" in body
    (out / "junk.manifest.xml").write_text("<manifest><image>")
    upload(wl, out, "traverse")
    st, _, body = call(wl, "admin", "manifest", bucket="images",
                       key="traverse/junk.manifest.xml", **{"user-signature": "skip"})
    assert st == 400 and b"not well-formed" in body


def test_signature_wrapping_decoys_are_refused(wl, keys, tmp_path):
    """Issue 17: Walrus read the values from the first element named <image>
    (or <machine_configuration>) but checked the signature over the literal
    "<image>...</image>" text, so a decoy beside, around or before a copy of
    the signed elements passed as verified.  Every forgery here carries the
    user's valid signature over the original elements."""
    with open(keys["user"][0], "rb") as f:
        cert = f.read()
    _, out = bundle(keys, tmp_path, "w.img", MiB)
    man = out / "w.img.manifest.xml"
    text = man.read_text()
    mc = re.search(r"<machine_configuration>.*?</machine_configuration>", text, re.S).group(0)
    im = re.search(r"<image>.*?</image>", text, re.S).group(0)
    evil = im[len("<image>"):-len("</image>")].replace("<name>w.img</name>", "<name>evil.img</name>")
    evil_mc = "<architecture>evil</architecture><kernel_id>aki-0000beef</kernel_id>"
    forgeries = [
        text.replace(im, f'<image a="1">{evil}</image ><decoy>{im}</decoy>'),
        text.replace(im, f'<p:image xmlns:p="urn:x">{evil}</p:image>{im}'),
        text.replace(im, f'<image x="1">{evil}{im}</image >'),
        text.replace(mc, f'<machine_configuration a="1">{evil_mc}</machine_configuration >'
                         f"<decoy>{mc}</decoy>"),
    ]
    for i, forged in enumerate(forgeries):
        man.write_text(forged)
        upload(wl, out, f"wrap{i}")
        st, _, body = call(wl, "admin", "manifest", "POST", body=cert, bucket="images",
                           key=f"wrap{i}/w.img.manifest.xml")
        assert st == 400 and code_of(body) == "InvalidManifest", (i, body)
        assert b"exactly once" in body and b"evil" not in body, (i, body)
    # Inside the signed elements a field has one value, not one per reader.
    man.write_text(text.replace("<name>w.img</name>", "<name>w.img</name><name>evil.img</name>"))
    upload(wl, out, "wrapdup")
    st, _, body = call(wl, "admin", "manifest", bucket="images", key="wrapdup/w.img.manifest.xml",
                       **{"user-signature": "skip"})
    assert st == 400 and b"name&gt; appears more than once" in body, body
    # The untouched manifest still verifies.
    man.write_text(text)
    upload(wl, out, "wrapok")
    st, _, body = call(wl, "admin", "manifest", "POST", body=cert, bucket="images",
                       key="wrapok/w.img.manifest.xml")
    assert st == 200 and b"<UserSignature>verified</UserSignature>" in body, body
    assert b"<Name>w.img</Name>" in body and b"<Architecture>x86_64</Architecture>" in body


def test_missing_part_and_flags(wl, keys, tmp_path):
    _, out = bundle(keys, tmp_path, "q.img", MiB)
    wl.aws(wl.users["alice"], "s3", "cp", str(out / "q.img.manifest.xml"),
           "s3://images/lonely/q.img.manifest.xml")
    st, _, body = call(wl, "admin", "manifest", bucket="images", key="lonely/q.img.manifest.xml",
                       **{"user-signature": "skip"})
    assert st == 400 and b"part 0 is missing" in body
    st, _, body = call(wl, "admin", "manifest", bucket="images", key="lonely/q.img.manifest.xml")
    assert st == 400 and code_of(body) == "MissingParameter"


def test_non_admin_cannot_use_internal_operations(wl):
    for op, q in (("manifest", {"user-signature": "skip"}), ("image", {})):
        st, _, body = call(wl, "alice", op, bucket="images", key="small/small.img.manifest.xml",
                           **q)
        assert st == 403 and code_of(body) == "AccessDenied"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{wl.endpoint}/services/Karri/image?bucket=images&key=x",
                               timeout=10)
    assert e.value.code == 403


def ami_tools_bundle(keys, tmp_path, name, image, part_size=MiB, write=None):
    """A bundle made the way ec2-ami-tools and euca2ools make it, with the
    system's tar, gzip and openssl CLI (nothing of Karri's): tar -S of the
    image, SHA-1 of the tar stream, gzip, openssl enc -aes-128-cbc under a
    random key and IV whose hex text is RSA (PKCS#1 v1.5) encrypted to the
    cloud's and the user's certificates, parts, and an RSA-SHA1 signature
    over <machine_configuration> and <image> as they appear in the file."""
    src_dir = tmp_path / f"{name}-src"
    src_dir.mkdir()
    if write:
        write(src_dir / name)       # e.g. a sparse file
    else:
        (src_dir / name).write_bytes(image)
    run = lambda argv, data=None: subprocess.run(  # noqa: E731
        argv, input=data, check=True, capture_output=True, timeout=60).stdout
    tar = run(["tar", "-c", "-h", "-S", "--owner", "0", "--group", "0", "-C", str(src_dir), name])
    key, iv = os.urandom(16).hex(), os.urandom(16).hex()
    enc = run(["/usr/bin/openssl", "enc", "-e", "-aes-128-cbc", "-K", key, "-iv", iv],
              run(["gzip", "-9", "-c"], tar))

    def rsa(text, cert):
        return run(["/usr/bin/openssl", "pkeyutl", "-encrypt", "-certin", "-inkey", cert,
                    "-pkeyopt", "rsa_padding_mode:pkcs1"], text.encode()).hex()

    out = tmp_path / f"{name}-amibundle"
    out.mkdir()
    parts = []
    for i in range(0, len(enc), part_size):
        fn = f"{name}.part.{i // part_size:02d}"
        (out / fn).write_bytes(enc[i:i + part_size])
        parts.append(f'<part index="{i // part_size}"><filename>{fn}</filename>'
                     f'<digest algorithm="SHA1">{hashlib.sha1(enc[i:i + part_size]).hexdigest()}'
                     f'</digest></part>')
    cloud, user = keys["cloud"][0], keys["user"][0]
    mc = ("<machine_configuration><architecture>x86_64</architecture><block_device_mapping>"
          "<mapping><virtual>ami</virtual><device>sda1</device></mapping>"
          "<mapping><virtual>root</virtual><device>/dev/sda1</device></mapping>"
          "</block_device_mapping></machine_configuration>")
    im = (f"<image><name>{name}</name><user>123456789012</user><type>machine</type>"
          f'<digest algorithm="SHA1">{hashlib.sha1(tar).hexdigest()}</digest>'
          f"<size>{len(image)}</size><bundled_size>{len(enc)}</bundled_size>"
          f'<ec2_encrypted_key algorithm="AES-128-CBC">{rsa(key, cloud)}</ec2_encrypted_key>'
          f'<user_encrypted_key algorithm="AES-128-CBC">{rsa(key, user)}</user_encrypted_key>'
          f"<ec2_encrypted_iv>{rsa(iv, cloud)}</ec2_encrypted_iv>"
          f"<user_encrypted_iv>{rsa(iv, user)}</user_encrypted_iv>"
          f'<parts count="{len(parts)}">{"".join(parts)}</parts></image>')
    sig = run(["/usr/bin/openssl", "dgst", "-sha1", "-sign", keys["user"][1]],
              (mc + im).encode()).hex()
    (out / f"{name}.manifest.xml").write_text(
        "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n<manifest><version>2007-10-10"
        "</version><bundler><name>euca-tools</name><version>3.4.1</version><release>0</release>"
        f"</bundler>{mc}{im}<signature>{sig}</signature></manifest>")
    return out


def test_bundle_made_by_standard_tools_is_accepted(wl, keys, tmp_path):
    image = os.urandom(2 * MiB + 4321)
    out = ami_tools_bundle(keys, tmp_path, "ami.img", image)
    upload(wl, out, "ami")
    with open(keys["user"][0], "rb") as f:
        st, _, body = call(wl, "admin", "manifest", "POST", body=f.read(), bucket="images",
                           key="ami/ami.img.manifest.xml")
    assert st == 200, body
    assert b"<UserSignature>verified</UserSignature>" in body and b"<PartCount>3</PartCount>" in body
    st, _, got = call(wl, "admin", "image", bucket="images", key="ami/ami.img.manifest.xml")
    assert st == 200 and sha(got) == sha(image)


def test_sparse_image_bundled_with_tar_sparse(wl, keys, tmp_path):
    """ec2-ami-tools runs `tar -S`: a sparse disk image becomes a GNU sparse
    entry, here with more regions than its header holds (extension blocks)
    and a hole at the end.  Walrus hands out the holes as zeros."""
    size = 6 * MiB + 123
    regions = [(k * 128 * 1024, os.urandom(4096 if k % 3 else 5000)) for k in range(30)]
    image = bytearray(size)
    for off, data in regions:
        image[off:off + len(data)] = data

    def write(path):
        with open(path, "wb") as f:
            f.truncate(size)
            for off, data in regions:
                f.seek(off)
                f.write(data)

    out = ami_tools_bundle(keys, tmp_path, "sparse.img", bytes(image), write=write)
    upload(wl, out, "sparse")
    st, _, got = call(wl, "admin", "image", bucket="images", key="sparse/sparse.img.manifest.xml")
    assert st == 200 and len(got) == size and sha(got) == sha(bytes(image))
    assert "GNU sparse" not in wl.daemon.log()
