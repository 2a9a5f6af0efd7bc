"""What /proc says of a process the test started: its privileges, its
children, its state.  One reader for the privilege tests (test_privileges,
test_cc_privsep, test_nc_privsep) and the benches that follow a daemon's
privileged parent to its child (bench/ccscale)."""


def status(pid):
    """The privilege lines of /proc/PID/status: Uid/Gid as int lists, Cap* as
    ints, NoNewPrivs as its text ("1"), Groups as a list of strings."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid"):
                out[key] = [int(v) for v in value.split()]
            elif key.startswith("Cap"):
                out[key] = int(value.strip(), 16)
            elif key == "NoNewPrivs":
                out[key] = value.strip()
            elif key == "Groups":
                out[key] = value.split()
    return out


def children(pid):
    """The pids pid forked (its main thread's children)."""
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(c) for c in f.read().split()]


def state(pid):
    """The one-letter state of /proc/PID/stat (R, S, T, Z, ...)."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def rss_mb(pid):
    """Resident memory, MiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0
