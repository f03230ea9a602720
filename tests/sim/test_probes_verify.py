"""`labharness probes verify` against the running simulated lab reached as a real lab.

The sim's probe VMs (a namespace per host with sshd, a trunk per virtual switch, a NIC pinned
to each uplink) stand for the VMs `probes deploy` builds; `labharness sim inventory` describes
them as a real lab's inventory does. Verify must pass on them, tagged frames both ways on every
VLAN of every switch, and must say per host exactly what is missing when an inventory entry or
the probe VM is wrong: a trunk name, SSH, python3, scapy, an address.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from harness.sim import lifecycle
from harness.sim.dataplane import kernel
from tests.conftest import SIM_LAB, dump_yaml
from tests.sim.test_realinventory import labharness

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or kernel.detect().problem() is not None,
    reason=f"needs root and the sim's kernel features: {kernel.detect().problem()}")


@pytest.fixture(scope="module")
def real_inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The running sim's `backend: real` inventory, as data; the sim is taken down after."""
    up = labharness("sim", "up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        path = tmp_path_factory.mktemp("verify") / "real.yaml"
        made = labharness("sim", "inventory", "--output", str(path))
        assert made.returncode == 0, made.stdout + made.stderr
        yield YAML(typ="safe").load(path.read_text())
    finally:
        labharness("sim", "down")
        assert lifecycle.leftovers("sim") == []


def verify(data: dict[str, Any], path: Path, *extra: str) -> tuple[int, str]:
    path.write_text(dump_yaml(data))
    proc = labharness("probes", "verify", "--lab", str(SIM_LAB), "--inventory", str(path),
                      *extra)
    return proc.returncode, proc.stdout + proc.stderr


def host_block(out: str, host: str) -> str:
    """The lines verify printed for one host."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{host}:"))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")),
               len(lines))
    return "\n".join(lines[start:end])


def test_the_sims_probe_vms_pass(real_inventory: dict[str, Any], tmp_path: Path) -> None:
    code, out = verify(real_inventory, tmp_path / "real.yaml")
    assert code == 0, out
    assert "MISSING" not in out and "probe VMs ready" in out
    for host in ("esx01", "esx02", "esx03"):
        block = host_block(out, host)
        assert f"{host}: ok" in block
        for check in ("SSH:", "python3:", "scapy: scapy", "trunk vSwitch0 NIC:",
                      "trunk dvs-lab NIC:", "VLAN 10 on vSwitch0: ARP", "uplink vSwitch0 vmnic0"):
            assert f"ok      {check}" in block, block
        # every VLAN of the distributed switch passes tagged, both ways
        for vlan in (20, 30, 40, 50, 60, 100):
            assert f"ok      VLAN {vlan} on dvs-lab: ARP" in block, block
    # the host's own vmknic answers when it has one on that switch, else the gateway
    assert "for 198.18.20.11 (esx01 vmk1)" in out and "for 198.18.40.1 (gateway)" in out


def test_a_wrong_trunk_name_and_a_missing_address_are_named(
        real_inventory: dict[str, Any], tmp_path: Path) -> None:
    data = dict(real_inventory, probes={h: dict(p) for h, p in real_inventory["probes"].items()})
    actual = data["probes"]["esx02"]["trunks"]["vSwitch0"]
    data["probes"]["esx02"]["trunks"] = dict(data["probes"]["esx02"]["trunks"], vSwitch0="eth9")
    data["probes"]["esx03"]["addresses"] = {
        k: v for k, v in data["probes"]["esx03"]["addresses"].items() if k != "vmotion"}
    code, out = verify(data, tmp_path / "wrong.yaml")
    assert code == 1, out
    assert "esx01: ok" in out
    esx02 = host_block(out, "esx02")
    assert "esx02: 1 missing" in esx02
    assert ("MISSING trunk vSwitch0 NIC: eth9 (probes.esx02.trunks.vSwitch0) not found on the "
            "probe VM; it has ") in esx02 and actual in esx02
    esx03 = host_block(out, "esx03")
    assert ("MISSING VLAN 20 on dvs-lab: no address for network vmotion: add "
            "probes.esx03.addresses.vmotion (a free ADDRESS/PREFIX in 198.18.20.0/24)") in esx03
    assert "probe VMs not ready" in out


def test_no_ssh_no_python_and_no_scapy_are_named(real_inventory: dict[str, Any],
                                                 tmp_path: Path) -> None:
    # a Python without site-packages stands for a probe VM without python3-scapy
    bare = tmp_path / "python3-without-scapy"
    bare.write_text('#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n')
    bare.chmod(bare.stat().st_mode | stat.S_IXUSR)
    data = dict(real_inventory, probes={h: dict(p) for h, p in real_inventory["probes"].items()})
    data["probes"]["esx01"]["ssh"] = dict(data["probes"]["esx01"]["ssh"], port=2222)
    data["probes"]["esx02"]["python"] = "/nonexistent/python3"
    data["probes"]["esx03"]["python"] = str(bare)
    started = time.monotonic()
    # a VM that does not answer SSH yet is retried for --boot-timeout (a fresh clone booting)
    code, out = verify(data, tmp_path / "broken.yaml", "--boot-timeout", "6")
    assert time.monotonic() - started >= 6
    assert code == 1, out
    esx01 = host_block(out, "esx01")
    assert "MISSING SSH: cannot reach root@" in esx01 and ":2222" in esx01
    assert "skipped python3: not checked: no SSH" in esx01
    esx02 = host_block(out, "esx02")
    assert "ok      SSH:" in esx02
    assert ("MISSING python3: /nonexistent/python3 is not on the probe VM: install python3 or "
            "set probes.esx02.python") in esx02
    esx03 = host_block(out, "esx03")
    assert f"ok      python3: {bare}" in esx03
    assert f"MISSING scapy: {bare} has no scapy: install python3-scapy" in esx03
