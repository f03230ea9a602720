"""How `probes verify` reads what it found: the reason an agent did not start, and a probe VM's
NICs against what the inventory names and what vCenter says (pure parts, no lab needed).

The end-to-end runs are tests/sim/test_probes_verify.py (the sim's probe VMs over SSH) and
tests/vcenter/test_probevms.py (deploy and remove against lh-vcsim).
"""

from __future__ import annotations

import pytest

from harness.lab.inventory import ProbeSite
from harness.lab.loader import load_lab
from harness.procedures.probevms.plan import probe_nics
from harness.procedures.probevms.verify import HostVerdict, check_nic, diagnose, inventory_lines
from tests.conftest import SIM_LAB

SITE = ProbeSite.model_validate({
    "ssh": {"host": "198.18.10.201", "username": "probe", "key_file": "id"},
    "trunks": {"vSwitch0": "ens224"}, "addresses": {"mgmt": "198.18.10.201/24"}})


@pytest.mark.parametrize(("message", "expected", "words"), [
    ("SSH authentication failed", ["missing", "skipped", "skipped"], "refused the login"),
    ("host key mismatch for 198.18.10.201: refusing to connect", ["missing", "skipped",
                                                                  "skipped"], "host key"),
    ("SSH connection failed: [Errno 111] Connection refused", ["missing", "skipped", "skipped"],
     "cannot reach probe@198.18.10.201:22"),
    ("remote agent did not start: remote agent exited (status 1)\n--- agent.log ---\n"
     "sudo: a password is required", ["ok", "missing", "skipped"], "passwordless `sudo -n"),
    ("remote agent did not start: remote agent exited (status 127)\n--- agent.log ---\n"
     "sudo: python3: command not found", ["ok", "missing", "skipped"], "python3 is not on"),
    ("remote agent did not start: remote agent exited (status 1)\n--- agent.log ---\n"
     "ModuleNotFoundError: No module named 'scapy'", ["ok", "ok", "missing"],
     "install python3-scapy"),
])
def test_why_an_agent_did_not_start(message: str, expected: list[str], words: str) -> None:
    checks = diagnose("esx01", SITE, message)
    assert [c.status for c in checks] == expected
    assert [c.what for c in checks] == ["SSH", "python3", "scapy"]
    assert any(words in c.detail for c in checks), checks


def test_nics_are_matched_by_mac() -> None:
    lab = load_lab(SIM_LAB)
    trunk, vmnic0 = probe_nics(lab, "esx01")[:2]
    macs = {trunk.network: "00:50:56:aa:00:01", vmnic0.network: "00:50:56:aa:00:02"}
    by_mac = {"00:50:56:aa:00:01": "ens256", "00:50:56:aa:00:02": "ens224"}
    up = {"ens192": True, "ens224": True, "ens256": True}
    v = HostVerdict("esx01")
    # the inventory names the NIC that is on the pinned port group, not the trunk
    assert check_nic(v, SITE, trunk, up, by_mac, macs) is None
    assert v.checks[-1].status == "missing"
    assert "ens224 (probes.esx01.trunks.vSwitch0) is not the NIC on lh-probe-trunk-vSwitch0" in (
        v.checks[-1].detail) and "is ens256" in v.checks[-1].detail
    assert v.trunks == {"vSwitch0": "ens256"}
    # not in the inventory at all: say which guest NIC it is
    assert check_nic(v, SITE, vmnic0, up, by_mac, macs) is None
    assert "probes.esx01.uplinks.vmnic0 is not set" in v.checks[-1].detail
    assert v.uplinks == {"vmnic0": "ens224"}
    # vCenter's MAC on no interface: SSH reaches another machine than the probe VM
    assert check_nic(v, SITE, trunk, up, {}, macs) is None
    assert "no interface of the machine at probes.esx01.ssh has it" in v.checks[-1].detail
    # right, and up
    right = SITE.model_copy(update={"trunks": {"vSwitch0": "ens256"}})
    assert check_nic(v, right, trunk, up, by_mac, macs) == "ens256"
    assert v.checks[-1].status == "ok"
    # right, but down
    assert check_nic(v, right, trunk, {**up, "ens256": False}, by_mac, macs) is None
    assert "ens256 is down on the probe VM" in v.checks[-1].detail


def test_inventory_entry_uses_the_names_found() -> None:
    lab = load_lab(SIM_LAB)
    v = HostVerdict("esx01", trunks={"vSwitch0": "ens256"}, uplinks={"vmnic0": "ens224"})
    lines = inventory_lines(lab, "esx01", v, {"lh-probe-trunk-dvs-lab": "00:50:56:aa:00:03"},
                            SITE)
    text = "\n".join(lines)
    assert lines[0] == "  esx01:"
    assert "ssh: {host: 198.18.10.201, username: probe, key_file: id}" in text
    assert "vSwitch0: ens256" in text and "dvs-lab: <guest NIC 00:50:56:aa:00:03>" in text
    assert "vmnic0: ens224" in text and "vmnic4: <guest NIC on lh-probe-dvs-lab-uplink1>" in text
    assert "mgmt: 198.18.10.201/24" in text and "vmotion: <free address in 198.18.20.0/24>" in (
        text)
