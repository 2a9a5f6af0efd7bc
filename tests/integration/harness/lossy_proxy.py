"""An HTTP relay in front of a real endpoint that can lose answers: the request
reaches the real service (which acts on it), but for the EC2 actions named in
`lose` the answer is held back and the connection dropped, as when a remote
cloud dies or the network breaks mid-call.  Host and every header pass
unchanged, so SigV4 signatures stay valid.

    with LossyProxy("http://127.0.0.1:8773/services/Eucalyptus") as px:
        px.lose = {"RunInstances"}      # the launch happens, its answer is lost
        url = px.url                    # give this to the client
"""

import http.server
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


class LossyProxy:
    def __init__(self, target, hold_s=5):
        self.target, self.hold_s = target, hold_s
        self.lose = set()
        self.lost = []          # actions whose answers were dropped
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                action = urllib.parse.parse_qs(body.decode(errors="replace")).get(
                    "Action", [""])[0]
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("content-length", "connection")}
                req = urllib.request.Request(proxy.target, data=body, headers=headers,
                                             method="POST")
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        status, data = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, data = e.code, e.read()
                if action in proxy.lose:
                    proxy.lost.append(action)
                    time.sleep(proxy.hold_s)
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        path = urllib.parse.urlsplit(target).path
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
