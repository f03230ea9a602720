"""Fixtures: one lh-vcsim build per session, a fresh simulator per test (it starts in ~0.1 s)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from harness.lab.loader import load_lab
from harness.sim.vcenter import VcsimProcess, build_binary, spec_from_lab
from harness.sim.vcenter.spec import VcsimSpec
from tests.conftest import SIM_LAB

USER = "lh-test"
PASSWORD = "lh-test-password"
# esx02's clock is 42 s fast, so QueryDateTime can be told apart per host.
CLOCK_OFFSETS = {"esx02": 42.0}


@pytest.fixture(scope="session")
def vcsim_binary() -> Path:
    if shutil.which("go") is None and not any((Path(__file__).parents[2] / "harness" / "sim" /
                                               "vcenter" / ".build").glob("lh-vcsim-*")):
        pytest.skip("lh-vcsim needs the Go toolchain (go >= 1.25 on PATH) to be built")
    t0 = time.monotonic()
    binary = build_binary()
    print(f"\nlh-vcsim build (or cache hit): {time.monotonic() - t0:.1f} s -> {binary.name}")
    return binary


@pytest.fixture(scope="session")
def sim_spec() -> VcsimSpec:
    return spec_from_lab(load_lab(SIM_LAB), clock_offsets=CLOCK_OFFSETS)


@pytest.fixture
def vcsim(vcsim_binary: Path, sim_spec: VcsimSpec, tmp_path: Path) -> Iterator[VcsimProcess]:
    proc = VcsimProcess.start(sim_spec, "127.0.0.1:0", USER, PASSWORD, workdir=tmp_path,
                              binary=vcsim_binary, timeout=30)
    try:
        yield proc
    finally:
        proc.stop()
        assert not proc.running


@pytest.fixture
def si(vcsim: VcsimProcess) -> Iterator[Any]:
    conn = SmartConnect(host=vcsim.host, port=vcsim.port, user=USER, pwd=PASSWORD,
                        sslContext=vcsim.ssl_context())
    try:
        yield conn
    finally:
        Disconnect(conn)


@pytest.fixture
def hosts(si: Any) -> dict[str, Any]:
    """Host name -> vim.HostSystem."""
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    try:
        return {h.name: h for h in view.view}
    finally:
        view.Destroy()
