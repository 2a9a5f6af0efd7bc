#!/usr/bin/env -S sh -c 'top=$(dirname "$(readlink -f "$0")")/../../..; PYTHONPATH=$top/python:$top/tests/integration exec /usr/bin/python3 "$0" "$@"'
# (sh, above, puts python/ and tests/integration on PYTHONPATH: docs/decisions.md)
"""Regenerate soap-test.c's signed envelopes (./make.py in this directory; needs
openssl and xmlsec1).  A CA like Karri's, alice's certificate from it and
from another CA, and DescribeAvailabilityZones signed by xmlsec1 at
2027-01-15T08:00:00Z (soap-test.c's SIGNED_AT), plus broken variants.
Private keys are thrown away: only certificates and signed XML are kept."""

import datetime
import subprocess
import tempfile

from harness import ec2soap

AT = datetime.datetime(2027, 1, 15, 8, 0, 0, tzinfo=datetime.timezone.utc)
OP = '<DescribeAvailabilityZones xmlns="%s"/>' % ec2soap.ns("2009-11-30")


def sh(*args):
    subprocess.run(args, check=True, capture_output=True)


def ca_and_alice(d, name):
    ca, cakey = f"{d}/{name}-ca.pem", f"{d}/{name}-ca.key"
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", cakey, "-out", ca,
       "-subj", "/CN=Karri cloud CA", "-days", "3650",
       "-addext", "basicConstraints=critical,CA:TRUE")
    key, csr, cert = f"{d}/{name}-alice.key", f"{d}/{name}-alice.csr", f"{d}/{name}-alice.pem"
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
       "-subj", "/CN=alice")
    with open(f"{d}/ext", "w") as f:
        f.write("basicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\n")
    sh("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial",
       "-out", cert, "-days", "3650", "-extfile", f"{d}/ext")
    return ca, open(cert).read(), key


def main():
    with tempfile.TemporaryDirectory() as d:
        ca, cert, key = ca_and_alice(d, "karri")
        _, other_cert, other_key = ca_and_alice(d, "other")
        good = ec2soap.signed(OP, cert, key, created=AT).decode()
        other = ec2soap.signed(OP, other_cert, other_key, created=AT).decode()
        with open("ca-cert.pem", "w") as f:
            f.write(open(ca).read())
    signed_body = '<soap:Body wsu:Id="Body">%s</soap:Body>' % OP
    files = {
        "signed.xml": good,
        "other-ca.xml": other,
        # The body changed after signing.
        "tampered.xml": good.replace(OP, OP.replace("/>", "><availabilityZoneSet><item>"
                                     "<zoneName>z</zoneName></item></availabilityZoneSet>"
                                     "</DescribeAvailabilityZones>")),
        # Signature wrapping: the signed Body, intact, hidden in the header; another
        # Body (unsigned) in its place.
        "wrapped.xml": good.replace(signed_body, '<soap:Body><DeleteKeyPair xmlns="%s">'
                                    '<keyName>k</keyName></DeleteKeyPair></soap:Body>'
                                    % ec2soap.ns("2009-11-30"))
                           .replace(" </soap:Header>", "<Hidden>%s</Hidden></soap:Header>"
                                    % signed_body),
        "unsigned.xml": '<?xml version="1.0"?>\n<soap:Envelope xmlns:soap="%s"><soap:Body>'
                        '%s</soap:Body></soap:Envelope>\n' % (ec2soap.SOAP11, OP),
    }
    for name, text in files.items():
        with open(name, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
