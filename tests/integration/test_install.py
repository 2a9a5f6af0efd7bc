"""`make install DESTDIR=...` (done by ./run-tests into build/stage) puts the
daemons, the CLI, the config, the service units and the WSDL where an admin
expects them."""

import os

import pytest

STAGE = os.path.join(os.environ.get("KARRI_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))),
                     "build", "stage", "usr", "local")


@pytest.fixture(scope="module")
def stage():
    if not os.path.isdir(STAGE):
        pytest.skip(f"no staged install at {STAGE} (./run-tests makes it)")
    return STAGE


@pytest.mark.parametrize("daemon", ["clc", "cc", "nc", "ebs", "walrus"])
def test_daemon_and_unit_installed(stage, daemon):
    exe = os.path.join(stage, "sbin", f"karri-{daemon}")
    assert os.access(exe, os.X_OK)
    with open(os.path.join(stage, "lib/systemd/system", f"karri-{daemon}.service")) as f:
        unit = f.read()
    assert f"ExecStart=/usr/local/sbin/karri-{daemon} -f /usr/local/etc/karri/karri.conf" in unit
    assert "@" not in unit.replace("multi-user", "")


def test_cli_config_and_wsdl_installed(stage):
    assert os.access(os.path.join(stage, "bin", "karri"), os.X_OK)
    with open(os.path.join(stage, "etc/karri/karri.conf")) as f:
        conf = f.read()
    for key in ("NODES", "HYPERVISOR", "VNET_MODE", "NC_DISK_ATTACH", "USE_VIRTIO_ROOT"):
        assert key in conf
    wsdl = os.path.join(stage, "share/karri/wsdl")
    for svc in ("nc", "cc", "ebs", "svc"):
        with open(os.path.join(wsdl, f"{svc}.wsdl")) as f:
            assert "<definitions" in f.read()
