"""karri: Karri's Python -- the simulated hosts and the quickstart's cloud on them.

    karri.sim         the simulated hosts: a front end and N nodes in network
                      namespaces, bridges, a libvirtd per node
                      (CLI: python3 -m karri.sim up|down|status|exec)
    karri.quickstart  the cloud of ./quickstart (python3 -m karri.quickstart up|status|...)
    karri.supervise   keeps one simulated host's daemons running (started by quickstart)
    karri.qs_image    the test image and the demo instance, published as a user does

./quickstart, the integration tests (tests/integration/harness) and the
benchmarks (bench/) all import this one package.  No code edits sys.path:
python/, the directory above this package, reaches the import path from
whoever starts Python -- tests/integration/pytest.ini's `pythonpath` for
pytest, the first line of each bench/ script and ./quickstart as PYTHONPATH --
and a Python this package starts gets it from python_argv()
(docs/decisions.md, "One Python package, no sys.path edits").
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # python/
TOP = os.path.dirname(ROOT)                                           # the checkout
PYTHON = "/usr/bin/python3"    # never the pyenv shim first in PATH (DESIGN.md 7)


def python_argv(module, *args):
    """argv that runs karri.<module> with args in a new Python.  `env` hands
    the child this copy's ROOT as PYTHONPATH, so it imports the same package
    whatever environment it starts in (a clean one, another namespace); env
    and then Python exec in place, so the pid started is the module's."""
    return ["/usr/bin/env", "PYTHONPATH=" + ROOT, PYTHON, "-m", "karri." + module, *args]
