"""Scenario keys, pure (no sim): an incident's own scenario is keyed by its id, a variant by
the id and a variant name; every name users type resolves, and `field-incidents` applies one
scenario per incident. The mis-cabling variant (F11-cabling) realises swapped cables in the
data plane while the lab file keeps its cabling plan."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.incidents import INCIDENTS, SCENARIO_ALL, scenario_incident
from harness.lab import load_lab
from harness.lab.views import uplink_carriage
from harness.sim.dataplane.plan import plan_dataplane
from harness.sim.errors import UnknownScenarioError
from harness.sim.scenarios import (
    FIELD_INCIDENTS,
    SCENARIOS,
    ScenarioError,
    realise,
    resolve,
)
from tests.conftest import ROOT, SIM_LAB


def test_every_key_names_its_incident() -> None:
    for key, scenario in SCENARIOS.items():
        assert scenario.id == key
        assert scenario_incident(key) is scenario.incident
        assert key == scenario.incident.id or key.startswith(f"{scenario.incident.id}-")
    assert scenario_incident("F11-cabling") is INCIDENTS["F11"]
    assert scenario_incident("f12") is INCIDENTS["F12"]
    assert scenario_incident("F99-cabling") is None


def test_names_resolve_by_key_or_slug_and_field_incidents_is_one_per_incident() -> None:
    assert [s.id for s in resolve(["f11-cabling", "silent-uplink-cabling,F11"])] == [
        "F11-cabling", "F11"]
    assert [s.id for s in resolve(["silent-uplink"])] == ["F11"]
    everything = resolve([SCENARIO_ALL])
    assert everything == list(FIELD_INCIDENTS)
    assert [s.incident.id for s in everything] == sorted({s.incident.id
                                                          for s in SCENARIOS.values()})
    assert "F11-cabling" not in {s.id for s in everything}
    with pytest.raises(UnknownScenarioError, match="F11-cabling/silent-uplink-cabling"):
        resolve(["F11-swapped"])
    with pytest.raises(UnknownScenarioError, match="F07 efuse-reset is not reproduced"):
        resolve(["F07"])


def test_f11_cabling_swaps_two_like_ports_in_the_data_plane_only() -> None:
    """esx01's vmnic4 and vmnic7 (sw01 Te1/1/1 and Te1/1/5, the same SFP trunk): the realised
    lab cables each into the other's port, cable and VLAN links alike; the lab file is
    untouched, and every vmnic still carries the VLANs it carried."""
    lab = load_lab(SIM_LAB)
    realised, changes = realise(lab, [SCENARIOS["F11-cabling"]])
    te1, te5 = "sw01/TenGigabitEthernet1/1/1", "sw01/TenGigabitEthernet1/1/5"
    assert [(i, c.text()) for i, c in changes] == [
        ("F11-cabling", f"cabling.1.b: {te1} -> {te5}"),
        ("F11-cabling", f"cabling.4.b: {te5} -> {te1}")]
    assert lab.cabling[1].b == "sw01/TenGigabitEthernet1/1/1"
    assert uplink_carriage(realised) == uplink_carriage(lab)
    plan = plan_dataplane(realised)
    peers = {(k.a.ifname, k.b.ifname) for k in plan.links
             if k.a.ns == "lh-sim-esx01" and k.b.ns == "lh-sim-sw01"}
    assert {("vmnic4", "Te1-1-5"), ("vmnic7", "Te1-1-1"), ("vmnic4.20", "Te1-1-5.20"),
            ("vmnic7.20", "Te1-1-1.20")} <= peers
    assert not {p for p in peers if p[0].startswith("vmnic4") and "Te1-1-1" in p[1]}
    # the switch's lldpd sends each port's real name: on vmnic4's wire, Te1/1/5
    sw01 = next(x for x in plan.lldp if x.ns == "lh-sim-sw01")
    assert ("Te1-1-5", "TenGigabitEthernet1/1/5") in sw01.port_ids


def test_f11_cabling_needs_two_like_ports_on_one_switch() -> None:
    lab = load_lab(SIM_LAB)
    ports = {name: port.model_copy(update={"vlans": [*port.vlans, 4000 + i]})
             for i, (name, port) in enumerate(lab.physical_switches["sw01"].ports.items())}
    sw01 = lab.physical_switches["sw01"].model_copy(update={"ports": ports})
    unlike = lab.model_copy(update={"physical_switches": {**lab.physical_switches,
                                                          "sw01": sw01}})
    with pytest.raises(ScenarioError, match="two vmnics cabled to ports of one switch"):
        realise(unlike, [SCENARIOS["F11-cabling"]])


def test_the_cli_lists_every_scenario_and_what_field_incidents_applies() -> None:
    out = subprocess.run([sys.executable, "-m", "harness.cli", "sim", "scenarios"], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    lines = out.splitlines()
    for s in SCENARIOS.values():
        assert any(line.startswith(f"{s.label}: ") for line in lines), (s.label, out)
    [everything] = [line for line in lines if line.startswith(f"{SCENARIO_ALL}: ")]
    assert "F11," in everything and "F11-cabling" not in everything
