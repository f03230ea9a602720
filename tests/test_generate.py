"""The lab generator users size their labs with (`labharness sim generate`): what it writes is
an ordinary, valid, lint-clean lab and inventory of the default lab's shape."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from harness.checks.catalog import run_design_checks
from harness.checks.intent import view_from_lab
from harness.lab import generate
from harness.lab.loader import load_inventory, load_lab
from harness.lab.reference import shipped_reference
from harness.sim.dataplane.plan import mgmt_subnet
from tests.conftest import SIM_INVENTORY, SIM_LAB
from tests.test_cli import labharness


def _write(n: int, tmp_path: Path, subnet: str | None = None) -> tuple[Path, Path]:
    lab = generate.scale_lab(generate.load(SIM_LAB), n, f"lhgen{n}")
    inv = generate.scale_inventory(generate.load(SIM_INVENTORY), lab, lab["name"], subnet)
    return generate.write(lab, inv, tmp_path)


@pytest.mark.parametrize("n", [3, 9])
def test_a_generated_lab_loads_and_lints_clean(tmp_path: Path, n: int) -> None:
    lab_path, inv_path = _write(n, tmp_path, "198.19.241.0/24")
    lab = load_lab(lab_path)
    inventory = load_inventory(inv_path, lab).inventory

    assert sorted(lab.hosts) == [f"esx{i:02d}" for i in range(1, n + 1)]
    assert run_design_checks(view_from_lab(lab), shipped_reference()) == []
    # every host on the DVS and in the transport zone, each vmnic on its own switch port
    assert set(lab.distributed_switches["dvs-lab"].hosts) == set(lab.hosts)
    assert lab.nsx is not None and set(lab.nsx.transport_zones["tz-lab"].hosts) == set(lab.hosts)
    ports = [c.ends[1] for c in lab.cabling if c.ends[0][0] in lab.hosts]
    assert len(ports) == len(set(ports)) == 5 * n
    addresses = [v.ip.ip for h in lab.hosts.values() for v in h.vmknics.values()]
    assert len(addresses) == len(set(addresses))
    # a BMC per server on the lab's own management network, pinned in the lab's run dir
    assert set(inventory.bmcs) == set(lab.servers)
    assert str(mgmt_subnet(inventory)) == "198.19.241.0/24"
    assert all(ipaddress.ip_address(str(b.url.host)) in ipaddress.ip_network("198.19.241.0/24")
               and f"/run/labharness/lhgen{n}/" in str(b.ca_file)
               for b in inventory.bmcs.values())


def test_fewer_hosts_than_the_vms_need_is_refused() -> None:
    with pytest.raises(generate.GenerateError, match="esx01-esx03"):
        generate.scale_lab(generate.load(SIM_LAB), 2, "lhgen2")
    with pytest.raises(generate.GenerateError, match="hosts: 100 is not 1-99"):
        generate.scale_lab(generate.load(SIM_LAB), 100, "lhgen100")


def test_the_command_writes_both_files_and_refuses_bad_input(tmp_path: Path) -> None:
    result = labharness("sim", "generate", "--hosts", "4", "--name", "lhgen4",
                        "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "lhgen4.yaml").exists() and (tmp_path / "lhgen4.inventory.yaml").exists()
    assert labharness("validate", str(tmp_path / "lhgen4.yaml")).returncode == 0

    bad = labharness("sim", "generate", "--hosts", "4", "--subnet", "198.19.0.0/16",
                     "--out", str(tmp_path))
    assert bad.returncode == 2 and "must be a /24" in bad.stdout + bad.stderr
