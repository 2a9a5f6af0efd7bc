"""A stand-in for karri-cc, for the CLC's tests while the real CC is built.

It speaks the CC contract (wsdl/karri-cc.h) over SOAP the way gSOAP does:
RunInstances starts instances "running" with private addresses from
10.77.0.0/24, DescribeInstances reports them, TerminateInstances ends them,
DescribeResources reports capacity, GetConsoleOutput returns a marker,
Assign/UnassignAddress succeed.  `delay_run` makes RunInstances hang (to
SIGKILL the CLC in the middle of it); `fail_run` makes it refuse.  Every
call is recorded in `calls` as (operation, parsed request).
"""

import base64
import http.server
import re
import threading
import time
import xml.etree.ElementTree as ET

CC = "urn:karri:cc:2026-11"
KR = "urn:karri:types:2026-11"
ENV = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
       "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" "
       f"xmlns:cc=\"{CC}\" xmlns:kr=\"{KR}\"><SOAP-ENV:Body>{{}}</SOAP-ENV:Body>"
       "</SOAP-ENV:Envelope>")


def _texts(el, name):
    return [c.text or "" for c in el.findall(f"{{{CC}}}{name}")]


class StubCC:
    def __init__(self, port, host="127.0.0.1"):
        self.port = port
        self.host = host
        self.instances = {}          # id -> dict
        self.calls = []
        self.delay_run = 0
        self.fail_run = None
        self.capacity = 4
        self.lock = threading.Lock()
        self.next_ip = 10
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                root = ET.fromstring(body)
                req = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
                op = req.tag.split("}")[1]
                stub.calls.append((op, req))
                out = stub.handle(op, req)
                data = ENV.format(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def ops(self, name):
        return [r for op, r in self.calls if op == name]

    @staticmethod
    def _resp(op, inner="", ok=True, status=None):
        st = f"<cc:statusMessage>{status}</cc:statusMessage>" if status else ""
        return (f"<cc:{op}Response><cc:correlationId>c</cc:correlationId><cc:userId>u"
                f"</cc:userId><cc:return>{'true' if ok else 'false'}</cc:return>{st}{inner}"
                f"</cc:{op}Response>")

    def _instance_xml(self, i):
        return ("<cc:instances>"
                f"<cc:reservationId>{i['res']}</cc:reservationId>"
                f"<cc:instanceId>{i['id']}</cc:instanceId>"
                f"<cc:imageId>{i['image']}</cc:imageId>"
                "<cc:netParams>"
                f"<kr:privateMacAddress>{i['mac']}</kr:privateMacAddress>"
                f"<kr:privateIp>{i['ip']}</kr:privateIp><kr:publicIp></kr:publicIp>"
                "<kr:vlan>-1</kr:vlan><kr:networkIndex>0</kr:networkIndex></cc:netParams>"
                f"<cc:stateName>{i['state']}</cc:stateName>"
                "<cc:launchTime>0</cc:launchTime>"
                "<cc:serviceTag>http://node1:8775/</cc:serviceTag>"
                "<cc:diskAttachment>virtio/tap</cc:diskAttachment>"
                "<cc:netAttachment>virtio</cc:netAttachment>"
                "</cc:instances>")

    def handle(self, op, req):
        if op == "DescribeResources":
            types = req.findall(f"{{{CC}}}instanceTypes")
            inner = "".join(
                f"<cc:resources><cc:instanceType><kr:name>{t.find(f'{{{KR}}}name').text}"
                f"</kr:name><kr:memory>0</kr:memory><kr:cores>0</kr:cores><kr:disk>0</kr:disk>"
                f"</cc:instanceType><cc:maxInstances>{self.capacity}</cc:maxInstances>"
                f"<cc:availableInstances>{self.capacity - len(self.running())}"
                "</cc:availableInstances></cc:resources>" for t in types)
            return self._resp(op, inner)
        if op == "RunInstances":
            if self.delay_run:
                time.sleep(self.delay_run)
            if self.fail_run:
                return self._resp(op, ok=False, status=self.fail_run)
            ids = _texts(req, "instanceIds")
            macs = _texts(req, "macAddresses")
            res = _texts(req, "reservationId")[0]
            image = _texts(req, "imageId")[0]
            with self.lock:
                for n, iid in enumerate(ids):
                    self.next_ip += 1
                    self.instances[iid] = {"id": iid, "res": res, "image": image,
                                           "mac": macs[n] if n < len(macs) else "",
                                           "ip": f"10.77.0.{self.next_ip}",
                                           "state": "Extant",
                                           "keyName": _texts(req, "keyName"),
                                           "userData": _texts(req, "userData")}
            return self._resp(op, "".join(self._instance_xml(self.instances[i]) for i in ids))
        if op == "DescribeInstances":
            with self.lock:
                live = [i for i in self.instances.values() if i["state"] != "gone"]
            # Its one node is always heard from: what it no longer lists is gone.
            return self._resp(op, "".join(self._instance_xml(i) for i in live) +
                              "<cc:heardNodes>http://node1:8775/</cc:heardNodes>")
        if op == "TerminateInstances":
            with self.lock:
                for iid in _texts(req, "instanceIds"):
                    if iid in self.instances:
                        self.instances[iid]["state"] = "gone"
            return self._resp(op)
        if op == "GetConsoleOutput":
            iid = _texts(req, "instanceId")[0]
            out = base64.b64encode(f"console of {iid}: KARRI-GUEST-OK\n".encode()).decode()
            return self._resp(op, f"<cc:consoleOutput>{out}</cc:consoleOutput>")
        if op in ("AssignAddress", "UnassignAddress", "RebootInstances", "ConfigureNetwork"):
            return self._resp(op)
        return self._resp(op, ok=False, status=f"NotImplemented: {op}")

    def running(self):
        return [i for i in self.instances.values() if i["state"] != "gone"]
