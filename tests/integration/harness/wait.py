"""Waiting on events, and a free port: the one copy every test uses.

    from harness.wait import wait_for, free_port
    vol = wait_for(lambda: describe(v) if describe(v)["state"] == "available" else None,
                   60, "volume %s available" % v)

A test waits for something it can observe (a state, a counter, a log line)
and never sleeps and then asserts that nothing happened: a wait that ends
early is a pass, one that times out names what it waited for and the last
value it saw, so the failure reads without re-running.
"""

import socket
import time


class WaitTimeout(AssertionError, TimeoutError):
    """An AssertionError (pytest shows it as a failed check); also a
    TimeoutError, so callers that caught the older helpers' error still do."""


def wait_for(predicate, timeout=20, what="condition", step=0.2, detail=None):
    """predicate()'s first truthy value within timeout seconds.

    Otherwise raise WaitTimeout naming `what`, the last value predicate()
    returned and, if given, detail() (e.g. the tail of a daemon's log)."""
    deadline = time.monotonic() + timeout
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            msg = "timed out after %g s waiting for %s; last value seen: %r" % (timeout, what, last)
            if detail is not None:
                msg += "\n" + str(detail())
            raise WaitTimeout(msg)
        time.sleep(step)


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on at this moment (the kernel's pick)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
