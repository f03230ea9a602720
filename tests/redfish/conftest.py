"""The iLO emulator on 127.0.0.1 (free ports, no namespaces) for the Redfish driver's tests.

Each test that needs BMCs starts its own emulator process (about 0.3 s) from the default lab, so
one test's writes and resets never leak into another's. `seed_f10` realises the F10 incident on
the Gen10 server the way the sim's F10 scenario does: FlexFabric ports in FCoE personality, the
530SFP+ embedded LLDP/DCBX agent off.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.drivers.redfish import RedfishBmc
from harness.lab.loader import load_inventory, load_lab
from harness.lab.model import Lab
from harness.sim.ilo import IloProcess, spec_from_lab
from tests.conftest import SIM_INVENTORY, SIM_LAB

GEN9, GEN10 = "srv-esx01", "srv-esx03"  # DL360 Gen9 (iLO 4) and Gen10 (iLO 5) in labs/sim.yaml
USER, PASSWORD = "Administrator", "lh-sim-ilo"  # the sim inventory's (public) credentials
POST_STEP_S = 0.05  # seconds per PostState step: a reset takes ~0.25 s
POLL_S = 0.02

SpecChange = Callable[[dict[str, Any]], None]


def bmc_entry(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return next(b for b in spec["bmcs"] if b["name"] == name)


def adapter_entry(spec: dict[str, Any], server: str, model: str) -> dict[str, Any]:
    return next(a for a in bmc_entry(spec, server)["adapters"] if a["model"] == model)


def seed_f10(spec: dict[str, Any]) -> None:
    """F10 on the Gen10 server: 534FLR-SFP+ ports in FCoE personality, 530SFP+ LLDP agent off."""
    for port in adapter_entry(spec, GEN10, "534FLR-SFP+")["ports"]:
        port["personality"] = "FCoE"
    adapter_entry(spec, GEN10, "530SFP+")["lldp_agent"] = False


@dataclass
class Ilo:
    """A running emulator with the Gen9 and Gen10 servers of the default lab."""

    proc: IloProcess
    lab: Lab
    sessions: list[RedfishBmc] = field(default_factory=list)

    def bmc(self, name: str, **kwargs: Any) -> RedfishBmc:
        """A logged-in session that pins the emulator's certificate (logged out at teardown)."""
        ep = self.proc.endpoints[name]
        kwargs.setdefault("verify", str(ep.cert_file))
        kwargs.setdefault("retries", 0)
        bmc = RedfishBmc(name, ep.url, USER, kwargs.pop("password", PASSWORD), **kwargs)
        bmc.login()
        self.sessions.append(bmc)
        return bmc

    def served(self, name: str, reset: bool = False) -> dict[str, Any]:
        """The emulator's own request counters (`/lh/requests`; DELETE resets them)."""
        ep = self.proc.endpoints[name]
        auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        req = urllib.request.Request(ep.url + "/lh/requests", method="DELETE" if reset else "GET",
                                     headers={"Authorization": f"Basic {auth}"})
        with urllib.request.urlopen(req, context=ep.ssl_context(), timeout=5) as resp:
            data: dict[str, Any] = json.loads(resp.read())
        return data


StartIlo = Callable[..., Ilo]


@pytest.fixture(scope="session")
def sim_lab() -> Lab:
    return load_lab(SIM_LAB)


@pytest.fixture
def start_ilo(tmp_path: Path, sim_lab: Lab) -> Iterator[StartIlo]:
    """Start the emulator: `start_ilo(seed_f10)` applies spec changes first."""
    running: list[Ilo] = []
    inventory = load_inventory(SIM_INVENTORY, sim_lab).inventory

    def start(*changes: SpecChange, post_step_s: float = POST_STEP_S) -> Ilo:
        spec = spec_from_lab(sim_lab, inventory, post_step_s=post_step_s)
        spec["bmcs"] = [b for b in spec["bmcs"] if b["name"] in (GEN9, GEN10)]
        for entry in spec["bmcs"]:
            entry["address"], entry["port"] = "127.0.0.1", 0
        for change in changes:
            change(spec)
        proc = IloProcess.start(spec, tmp_path / f"ilo{len(running)}")
        ilo = Ilo(proc, sim_lab)
        running.append(ilo)
        return ilo

    yield start
    for ilo in running:
        for bmc in ilo.sessions:
            bmc.logout()
        ilo.proc.stop()


@pytest.fixture
def ilo(start_ilo: StartIlo) -> Ilo:
    """A healthy emulator (the lab as it says)."""
    return start_ilo()
