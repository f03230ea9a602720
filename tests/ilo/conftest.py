"""Fixtures: a fresh emulator per test (iLO 4 srv-esx01 and iLO 5 srv-esx03 of the sim lab) on
127.0.0.1 free ports, with POST compressed to 50 ms per step; and helpers to drive it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redfish

from harness.lab.inventory import Inventory
from harness.lab.loader import load_lab
from harness.sim.ilo import IloEndpoint, IloProcess, spec_from_lab
from tests.conftest import ROOT, SIM_LAB

USER, PASSWORD = "Administrator", "lh-test-ilo"
GEN9, GEN10 = "srv-esx01", "srv-esx03"
CLIENTS = ROOT / ".cache" / "clients"


def make_spec(servers: tuple[str, ...] = (GEN9, GEN10), *, urls: dict[str, str] | None = None,
              **overrides: Any) -> dict[str, Any]:
    """The emulator spec of some sim-lab servers, each on 127.0.0.1 and a free port."""
    lab = load_lab(SIM_LAB)
    inventory = Inventory.model_validate({
        "name": "ilo-test", "lab": lab.name, "backend": "sim",
        "bmcs": {s: {"url": (urls or {}).get(s, "https://127.0.0.1:0"), "username": USER,
                     "password": f"plain:{PASSWORD}", "verify_tls": False} for s in servers}})
    spec = spec_from_lab(lab, inventory, post_step_s=0.05)
    for bmc in spec["bmcs"]:
        bmc.update(overrides)
    return spec


@pytest.fixture
def ilo(tmp_path: Path) -> Iterator[IloProcess]:
    proc = IloProcess.start(make_spec(), tmp_path / "ilo")
    try:
        yield proc
    finally:
        proc.stop()
        assert not proc.running


@pytest.fixture
def gen9(ilo: IloProcess) -> IloEndpoint:
    return ilo.endpoints[GEN9]


@pytest.fixture
def gen10(ilo: IloProcess) -> IloEndpoint:
    return ilo.endpoints[GEN10]


@contextmanager
def session(ep: IloEndpoint, auth: str = "session") -> Iterator[Any]:
    """A logged-in DMTF python-redfish-library client (no retries: the emulator is local)."""
    client = redfish.redfish_client(ep.url, USER, PASSWORD, max_retry=0, timeout=10,
                                    cafile=str(ep.cert_file))
    client.login(auth=auth)
    try:
        yield client
    finally:
        client.logout()


def message_ids(reply: Any) -> list[str]:
    """MessageIds of an iLO message body (errors and successes use the same wrapper)."""
    body = reply.dict if hasattr(reply, "dict") else reply
    return [m.get("MessageId") or m.get("MessageID")
            for m in body.get("error", {}).get("@Message.ExtendedInfo", [])]


def last_segments(ids: list[str]) -> list[str]:
    return [i.rsplit(".", 1)[-1] for i in ids]


def wait_post(client: Any, *, until: str = "FinishedPost", timeout: float = 5.0) -> list[str]:
    """Poll Systems/1 and return the distinct PostStates seen, in order, until `until`."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    oem = "Hpe" if "Hpe" in client.root.get("Oem", {}) else "Hp"
    while time.monotonic() < deadline:
        state = client.get("/redfish/v1/Systems/1/").dict["Oem"][oem]["PostState"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == until:
            return seen
        time.sleep(0.01)
    raise AssertionError(f"PostState never reached {until}: {seen}")


def client_venv(name: str) -> Path:
    """A third-party client's virtualenv (made by ci/client-venvs), or skip with the reason."""
    path = CLIENTS / name
    if not (path / "bin" / "python").exists():
        pytest.skip(f"client virtualenv {path} is missing: run ./ci/client-venvs (CI does)")
    return path
