#!/usr/bin/python3
"""A plain HTTP server for images in the NC tests: serves a directory and
logs one line "GET <path> <status> <client>" per request to stdout (flushed), so a
test can count how often each image was fetched.

    nc_imgserver.py DIR ADDRESS PORT [DELAY]

DELAY (seconds, default 0) is waited before each answer: slow enough that
launches started one after another all ask while the first download runs.
"""
import functools
import http.server
import sys
import threading
import time

LOG_LOCK = threading.Lock()    # one whole line per request, whatever the threads do

DELAY = 0.0


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def send_head(self):
        time.sleep(DELAY)
        return super().send_head()

    def log_request(self, code="-", size="-"):
        with LOG_LOCK:
            sys.stdout.write("%s %s %s %s\n" % (self.command, self.path, code,
                                                 self.client_address[0]))
            sys.stdout.flush()


def main():
    global DELAY
    directory, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    DELAY = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    handler = functools.partial(Handler, directory=directory)
    http.server.ThreadingHTTPServer((addr, port), handler).serve_forever()


if __name__ == "__main__":
    main()
