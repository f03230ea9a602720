"""Fixtures: a fresh lh-vcsim per test on 127.0.0.1, configured through pyVmomi (labstate.py),
and the driver connected to it with TLS verified against the simulator's certificate."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect, SmartConnect

from harness.drivers.vsphere import VsphereDriver
from harness.lab.inventory import TlsEndpoint
from harness.lab.loader import load_lab
from harness.lab.model import Lab
from harness.sim.vcenter import VcsimProcess, build_binary, spec_from_lab
from harness.sim.vcenter.spec import VcsimSpec
from tests.conftest import ROOT, SIM_LAB
from tests.vsphere import labstate

USER = "lh-vsphere"
PASSWORD = "lh-vsphere-Passw0rd!"
CLOCK_OFFSETS = {"esx02": 42.0}


@pytest.fixture(scope="session")
def vcsim_binary() -> Path:
    if shutil.which("go") is None and not any(
            (ROOT / "harness" / "sim" / "vcenter" / ".build").glob("lh-vcsim-*")):
        pytest.skip("lh-vcsim needs the Go toolchain (go >= 1.25 on PATH) to be built")
    return build_binary()


@pytest.fixture(scope="session")
def sim_lab() -> Lab:
    return load_lab(SIM_LAB)


@pytest.fixture(scope="session")
def plain_spec(sim_lab: Lab) -> VcsimSpec:
    """The default lab's simulator spec without uplink data: with no data plane, every vmnic
    carries every VLAN, so configuration tests never trip the management-path guard."""
    spec = spec_from_lab(sim_lab, clock_offsets=CLOCK_OFFSETS)
    return spec.model_copy(update={"hosts": [
        h.model_copy(update={"uplinks": None, "lldp": None}) for h in spec.hosts]})


StartSim = Callable[[dict[str, Any]], VcsimProcess]


@pytest.fixture
def start_sim(vcsim_binary: Path, tmp_path: Path) -> Iterator[StartSim]:
    """Start a simulator from a spec; every one started is stopped (by PID) at teardown."""
    started: list[VcsimProcess] = []

    def start(spec: VcsimSpec) -> VcsimProcess:
        proc = VcsimProcess.start(spec, "127.0.0.1:0", USER, PASSWORD,
                                  workdir=tmp_path / f"vcsim{len(started)}",
                                  binary=vcsim_binary, timeout=30)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
        assert not proc.running


@pytest.fixture
def vcsim(start_sim: StartSim, plain_spec: VcsimSpec) -> VcsimProcess:
    return start_sim(plain_spec)


def endpoint_for(sim: VcsimProcess, **changes: Any) -> TlsEndpoint:
    fields: dict[str, Any] = {"url": f"https://{sim.host}:{sim.port}/sdk", "username": USER,
                              "password": f"plain:{PASSWORD}", "ca_file": str(sim.cert_file)}
    fields.update(changes)
    return TlsEndpoint(**fields)


@pytest.fixture
def endpoint(vcsim: VcsimProcess) -> TlsEndpoint:
    return endpoint_for(vcsim)


def pyvmomi_session(sim: VcsimProcess) -> Any:
    return SmartConnect(host=sim.host, port=sim.port, user=USER, pwd=PASSWORD,
                        sslContext=sim.ssl_context())


@pytest.fixture
def si(vcsim: VcsimProcess) -> Iterator[Any]:
    conn = pyvmomi_session(vcsim)
    try:
        yield conn
    finally:
        Disconnect(conn)


@pytest.fixture
def hosts(si: Any) -> dict[str, Any]:
    """The lab state of labstate.py, applied; host name -> vim.HostSystem."""
    return labstate.configure(si)


@pytest.fixture
def driver(hosts: dict[str, Any], endpoint: TlsEndpoint, tmp_path: Path,
           ) -> Iterator[VsphereDriver]:
    with VsphereDriver.connect(endpoint, tmp_path) as vc:
        yield vc
