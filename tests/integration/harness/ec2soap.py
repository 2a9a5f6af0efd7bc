"""EC2 SOAP requests signed the way EC2's SOAP clients signed them, by xmlsec1.

    body = ec2soap.signed('<DescribeKeyPairs xmlns="%s"/>' % ec2soap.ns("2009-11-30"),
                          cert_pem, key_path)
    status, root = ec2soap.post(url, body)

The envelope is a WS-Security template (BinarySecurityToken with the user's
X.509 certificate, wsu:Timestamp, ds:Signature over the Body and the
Timestamp with exclusive c14n and RSA-SHA1) that the xmlsec1 command line
(the reference XML-DSig implementation, independent of Karri) signs.
"""

import datetime
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

XMLSEC1 = "/usr/bin/xmlsec1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TOKEN = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
DS = "http://www.w3.org/2000/09/xmldsig#"


def ns(version):
    return f"http://ec2.amazonaws.com/doc/{version}/"


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def cert_b64(cert_pem):
    return "".join(l for l in cert_pem.strip().splitlines() if not l.startswith("-----"))


def reference(uri, digest, prefixes=None):
    inc = (f'<ec:InclusiveNamespaces xmlns:ec="{EXC_C14N}" PrefixList="{prefixes}"/>'
           if prefixes else "")
    return (f'<ds:Reference URI="#{uri}"><ds:Transforms><ds:Transform Algorithm="{EXC_C14N}">'
            f'{inc}</ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/>'
            f'<ds:DigestValue/></ds:Reference>')


def template(op_xml, cert_pem, created=None, lifetime_s=300, sha256=False, soap12=False,
             prefixes=None):
    """The envelope to sign: op_xml in the Body, created defaults to now (UTC);
    prefixes: an InclusiveNamespaces PrefixList for the references, as WSS4J sends."""
    created = created or datetime.datetime.now(datetime.timezone.utc)
    expires = created + datetime.timedelta(seconds=lifetime_s)
    sig_alg = ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" if sha256
               else DS + "rsa-sha1")
    digest = "http://www.w3.org/2001/04/xmlenc#sha256" if sha256 else DS + "sha1"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soap:Envelope xmlns:soap="{SOAP12 if soap12 else SOAP11}" xmlns:wsu="{WSU}">\n'
        f' <soap:Header>\n'
        f'  <wsse:Security xmlns:wsse="{WSSE}" soap:mustUnderstand="1">\n'
        f'   <wsse:BinarySecurityToken EncodingType="{TOKEN}soap-message-security-1.0#Base64Binary"'
        f' ValueType="{TOKEN}x509-token-profile-1.0#X509v3" wsu:Id="CertId">'
        f'{cert_b64(cert_pem)}</wsse:BinarySecurityToken>\n'
        f'   <ds:Signature xmlns:ds="{DS}">\n'
        f'    <ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>'
        f'<ds:SignatureMethod Algorithm="{sig_alg}"/>'
        f'{reference("Body", digest, prefixes)}{reference("Timestamp", digest, prefixes)}'
        f'</ds:SignedInfo>\n'
        f'    <ds:SignatureValue/>\n'
        f'    <ds:KeyInfo><wsse:SecurityTokenReference><wsse:Reference URI="#CertId" '
        f'ValueType="{TOKEN}x509-token-profile-1.0#X509v3"/></wsse:SecurityTokenReference>'
        f'</ds:KeyInfo>\n'
        f'   </ds:Signature>\n'
        f'   <wsu:Timestamp wsu:Id="Timestamp"><wsu:Created>{iso(created)}</wsu:Created>'
        f'<wsu:Expires>{iso(expires)}</wsu:Expires></wsu:Timestamp>\n'
        f'  </wsse:Security>\n'
        f' </soap:Header>\n'
        f' <soap:Body wsu:Id="Body">{op_xml}</soap:Body>\n'
        f'</soap:Envelope>\n')


def sign(tmpl, key_path):
    """xmlsec1 --sign of a template with the private key at key_path: the signed bytes."""
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "t.xml"), os.path.join(d, "s.xml")
        with open(src, "w") as f:
            f.write(tmpl)
        subprocess.run([XMLSEC1, "--sign", "--privkey-pem", key_path,
                        "--id-attr:Id", f"{SOAP11}:Body", "--id-attr:Id", f"{SOAP12}:Body",
                        "--id-attr:Id", f"{WSU}:Timestamp",
                        "--id-attr:Id", f"{WSSE}:BinarySecurityToken",
                        "--output", out, src], check=True, capture_output=True, timeout=30)
        with open(out, "rb") as f:
            return f.read()


def signed(op_xml, cert_pem, key_path, **kw):
    return sign(template(op_xml, cert_pem, **kw), key_path)


def post(url, body, soap_action="", content_type="text/xml; charset=utf-8", headers=None):
    """POST a SOAP body: (HTTP status, parsed XML root); headers (a dict) get the answer's."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type,
                                                          "SOAPAction": soap_action})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            if headers is not None:
                headers.update(r.headers)
            return r.status, ET.fromstring(r.read())
    except urllib.error.HTTPError as e:
        if headers is not None:
            headers.update(e.headers)
        return e.code, ET.fromstring(e.read())


def response(root, env=SOAP11):
    """The element in the SOAP Body of an answer."""
    return root.find(f"{{{env}}}Body")[0]


def fault(root):
    """(faultcode, faultstring) of a SOAP 1.1 fault answer, or None."""
    f = root.find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
    return None if f is None else (f.findtext("faultcode"), f.findtext("faultstring"))


def fault12(root):
    """(Code/Value, Subcode/Value, Reason/Text) of a SOAP 1.2 fault answer, or None."""
    f = root.find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    if f is None:
        return None
    e = lambda p: f.findtext("/".join(f"{{{SOAP12}}}{x}" for x in p.split("/")))  # noqa
    return e("Code/Value"), e("Code/Subcode/Value"), e("Reason/Text")
