"""karri.supervise: keep a simulated host's Karri daemons running.

./quickstart starts one supervisor per simulated host (inside the host's
network namespace) instead of the daemons themselves, as systemd's
Restart=on-failure does for the units in etc/ on a real host (systemd does
not run on these machines).  Python 3 stdlib only.

    python3 -m karri.supervise SPEC

SPEC is a JSON file written by karri.quickstart:

    {"host": "front", "state": ".../supervise.json", "log": ".../supervise.log",
     "children": [{"name": "karri-clc", "argv": [...], "env": {...}, "out": ".../karri-clc.out"}, ...]}

What it does:
  * starts each child (stdout and stderr appended to its "out" file), each
    in a session of its own so a signal meant for one reaches only it;
  * when a child dies it logs one line naming it, its pid and how it ended,
    and starts it again after a backoff: 0.5 s, doubling up to 30 s, back to
    0.5 s once the child has run 60 s;
  * a daemon still running from an earlier supervisor (one that was killed)
    is adopted, not started twice: the state file names each child's pid
    and start time, and a process with both and the same executable is
    watched (polled, it is not our child) until it ends, then restarted;
  * it is the subreaper of the daemons' own helpers (the NC's karri-aoe,
    the CC's dnsmasq), so an orphaned helper is reaped and never a zombie;
  * the state file (JSON, replaced atomically after every change) gives, per
    child: pid, state (running/backoff), restarts, started (epoch seconds),
    last_exit ("killed by SIGKILL", "exit 1") -- what `./quickstart status`
    shows;
  * SIGTERM or SIGINT: stop every child (SIGTERM, SIGKILL after 20 s), write
    the state, exit 0.  The NC leaves its guests running when stopped, as it
    always does.
"""

import json
import os
import signal
import sys
import time

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
STABLE_S = 60.0          # a child that ran this long starts its backoff over
STOP_GRACE_S = 20.0
TICK_S = 0.25
PR_SET_CHILD_SUBREAPER = 36


def _starttime(pid):
    """Field 22 of /proc/PID/stat; None if gone or a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _exe(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None


def _how(status):
    if os.WIFSIGNALED(status):
        try:
            name = signal.Signals(os.WTERMSIG(status)).name
        except ValueError:
            name = "signal %d" % os.WTERMSIG(status)
        return "killed by " + name
    return "exit %d" % os.WEXITSTATUS(status)


class Child:
    def __init__(self, spec):
        self.name = spec["name"]
        self.argv = spec["argv"]
        self.env = spec.get("env", {})
        self.out = spec["out"]
        self.pid = None
        self.start = None        # /proc start time of pid
        self.adopted = False     # not our child: polled
        self.started = None      # epoch seconds
        self.restarts = 0
        self.last_exit = None
        self.backoff = BACKOFF_FIRST
        self.due = 0.0           # monotonic time of the next start, while down

    def state(self):
        return {"pid": self.pid, "state": "running" if self.pid else "backoff",
                "adopted": self.adopted, "restarts": self.restarts, "started": self.started,
                "last_exit": self.last_exit, "start": self.start}


class Supervisor:
    def __init__(self, spec_path):
        with open(spec_path) as f:
            spec = json.load(f)
        self.host = spec["host"]
        self.state_path = spec["state"]
        self.log_path = spec["log"]
        self.children = [Child(c) for c in spec["children"]]
        self.stopping = False

    def log(self, msg):
        line = "%s karri-supervise[%s]: %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"),
                                                 self.host, msg)
        with open(self.log_path, "a") as f:
            f.write(line)

    def save(self):
        d = {"host": self.host, "supervisor": os.getpid(),
             "supervisor_start": _starttime(os.getpid()), "updated": time.time(),
             "children": {c.name: c.state() for c in self.children}}
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(d, f, indent=1)
        os.replace(tmp, self.state_path)

    # --- starting ----------------------------------------------------------

    def adopt(self):
        """Take over daemons an earlier (killed) supervisor left running."""
        try:
            with open(self.state_path) as f:
                old = json.load(f).get("children", {})
        except (OSError, ValueError):
            return
        for c in self.children:
            o = old.get(c.name) or {}
            pid, start = o.get("pid"), o.get("start")
            c.restarts = o.get("restarts", 0)
            c.last_exit = o.get("last_exit")
            if pid and start and _starttime(pid) != start:
                # it died while no supervisor ran (a killed one, a reboot)
                c.restarts += 1
                c.last_exit = "ended while no supervisor ran"
            elif pid and start and \
                    (_exe(pid) or "").replace(" (deleted)", "") == os.path.realpath(c.argv[0]):
                c.pid, c.start, c.adopted, c.started = pid, start, True, o.get("started")
                self.log("%s: adopted pid %d (left running by an earlier supervisor)"
                         % (c.name, pid))

    def spawn(self, c):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **c.env}
        out = os.open(c.out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            pid = os.fork()
            if pid == 0:         # the child: its own session, output to its file
                try:
                    os.setsid()
                    null = os.open("/dev/null", os.O_RDONLY)
                    os.dup2(null, 0)
                    os.dup2(out, 1)
                    os.dup2(out, 2)
                    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
                        signal.signal(s, signal.SIG_DFL)
                    signal.pthread_sigmask(signal.SIG_SETMASK, [])
                    os.execve(c.argv[0], c.argv, env)
                except BaseException as e:         # noqa: B036 -- in the child
                    os.write(2, ("karri-supervise: exec %s: %s\n" % (c.argv[0], e)).encode())
                os._exit(127)
        finally:
            os.close(out)
        c.pid, c.adopted, c.started = pid, False, time.time()
        c.start = _starttime(pid)
        self.log("%s: started pid %d%s" % (c.name, pid, " (restart %d)" % c.restarts
                                             if c.restarts else ""))

    # --- watching ----------------------------------------------------------

    def ended(self, c, how):
        ran = time.time() - (c.started or time.time())
        if ran >= STABLE_S:
            c.backoff = BACKOFF_FIRST
        c.last_exit = how
        c.restarts += 1
        self.log("%s: pid %d %s after %.0f s; restarting in %.1f s (restart %d)"
                 % (c.name, c.pid, how, ran, c.backoff, c.restarts))
        c.pid = c.start = None
        c.adopted = False
        c.due = time.monotonic() + c.backoff
        c.backoff = min(c.backoff * 2, BACKOFF_MAX)

    def reap(self):
        """Collect every ended child (ours, or an orphaned helper)."""
        changed = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            for c in self.children:
                if c.pid == pid and not c.adopted:
                    if not self.stopping:
                        self.ended(c, _how(status))
                    else:
                        c.pid = None
                    changed = True
        for c in self.children:
            if c.pid and c.adopted and _starttime(c.pid) != c.start:
                if not self.stopping:
                    self.ended(c, "ended (adopted: status unknown)")
                else:
                    c.pid = None
                changed = True
        return changed

    def run(self):
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, self.on_stop)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass                 # then orphaned helpers go to init, as before
        self.log("supervising %s (pid %d)" % (", ".join(c.name for c in self.children),
                                                os.getpid()))
        self.adopt()
        for c in self.children:
            if not c.pid:
                self.spawn(c)
        self.save()
        while not self.stopping:
            changed = self.reap()
            now = time.monotonic()
            for c in self.children:
                if not c.pid and now >= c.due and not self.stopping:
                    self.spawn(c)
                    changed = True
            if changed:
                self.save()
            time.sleep(TICK_S)
        self.stop()

    def on_stop(self, signum, _frame):
        self.stopping = True

    def stop(self):
        running = [c for c in self.children if c.pid]
        self.log("stopping %s" % (", ".join("%s (pid %d)" % (c.name, c.pid) for c in running)
                                 or "nothing"))
        for c in running:
            try:
                os.kill(c.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and any(_starttime(c.pid) == c.start
                                                  for c in running if c.pid):
            self.reap()
            time.sleep(0.1)
        for c in running:
            if c.pid and _starttime(c.pid) == c.start:
                self.log("%s: pid %d ignored SIGTERM, killing it" % (c.name, c.pid))
                os.kill(c.pid, signal.SIGKILL)
        time.sleep(0.1)
        self.reap()
        for c in self.children:
            c.pid = c.start = None
        self.save()
        self.log("stopped")


def main(argv):
    if len(argv) != 2:
        print("usage: python3 -m karri.supervise SPEC.json", file=sys.stderr)
        return 2
    Supervisor(argv[1]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
