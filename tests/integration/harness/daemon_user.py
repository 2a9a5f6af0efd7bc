"""The unprivileged user karri-clc, karri-walrus, karri-ebs and karri-cc's
child run as, for the tests.

Started as root (as the tests and the quickstart start them), those
daemons hand themselves what root made in their KARRI_HOME and become
EUCA_USER ("karri") before they open anything else (common/daemon/daemon.c; EBS
right after its AoE socket, ebs/main.c; the CC's child right after the
fork, its parent staying root: cc/priv.h).  What the
harness adds is what `make install` does on a real host, plus what only a
test has:

  * the system user and group `karri` (made once, the way `make install`
    makes them);
  * a path the user can walk to its KARRI_HOME: pytest's temporary
    directories are 0700 root, so each directory on the way gets o+x
    (search, not read);
  * files a test made outside the daemon's home and names in its config
    (an openssl key pair as KARRI_CLOUD_KEY/CERT, another daemon's
    USERS_DB): handed to the user, as an admin would, keys staying 0600.
"""

import os
import pwd
import subprocess

USER = "karri"
UNPRIVILEGED = {"karri-clc", "karri-walrus", "karri-ebs", "karri-cc",
                "karri-nc"}   # EBS: after its AoE socket; CC, NC: their children

# Config keys naming files (or directories) an unprivileged daemon opens.
_FILES = ("KARRI_CLOUD_KEY", "KARRI_CLOUD_CERT")
_DBS = ("CLC_DB", "USERS_DB", "WALRUS_DB")
_DIRS = ("WALRUS_STORAGE_DIR", "EBS_VOLUMES_DIR", "INSTANCE_PATH")


def ensure_user():
    """The karri user's passwd entry, made like `make install` makes it if missing."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pass
    if subprocess.run(["getent", "group", USER], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", "--system", USER], check=True, capture_output=True)
    subprocess.run(["useradd", "--system", "--gid", USER, "--home-dir", "/var/lib/karri",
                    "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "--comment", "Karri cloud daemons", USER], check=True, capture_output=True)
    return pwd.getpwnam(USER)


def reach(path):
    """Let anyone search every directory from / down to path (o+x, never o+r)."""
    d = os.path.abspath(path)
    while d != "/":
        if os.path.isdir(d):
            mode = os.stat(d).st_mode
            if not mode & 0o001:
                os.chmod(d, (mode & 0o7777) | 0o001)
        d = os.path.dirname(d)


def give(path, uid, gid):
    """Hand path to the user if root owns it (never following a link)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if st.st_uid == 0:
        os.chown(path, uid, gid, follow_symlinks=False)


def _inside(path, home):
    return os.path.abspath(path).startswith(os.path.abspath(home) + os.sep)


def sanitizer_logs(pw):
    """./run-tests' sanitizer runs send reports to files (ASAN_OPTIONS and
    UBSAN_OPTIONS log_path=DIR/prefix) in a directory root made: the user
    must be able to write there too, or a report would be lost."""
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        for opt in os.environ.get(var, "").split(":"):
            if opt.startswith("log_path=") and "/" in opt:
                d = os.path.dirname(opt[len("log_path="):])
                if os.path.isdir(d):
                    reach(d)
                    give(d, pw.pw_uid, pw.pw_gid)


def prepare(home, config):
    """Before an unprivileged daemon with this home and config starts as root."""
    if os.geteuid() != 0:
        return
    pw = ensure_user()
    reach(home)
    sanitizer_logs(pw)
    for key in _FILES + _DBS + _DIRS:
        path = config.get(key)
        if not path or _inside(path, home):
            continue   # the daemon hands over what is in its own home itself
        path = str(path)
        os.makedirs(path if key in _DIRS else os.path.dirname(path), exist_ok=True)
        reach(os.path.dirname(path))
        give(path, pw.pw_uid, pw.pw_gid)
        if key in _DBS:
            for extra in (path + "-wal", path + "-shm", os.path.dirname(path)):
                give(extra, pw.pw_uid, pw.pw_gid)
