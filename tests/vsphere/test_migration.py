"""F01: the guarded management-vmk migration against a provisioned simulator that knows which
VLANs each vmnic's switch port carries (so it loses a host the way vCenter does).

The lab is the default one with sw01's TenGigabitEthernet1/1/5 also carrying VLAN 10, so
esx01's vmnic7 (the DVS's uplink2) is a working management uplink and vmnic4 (uplink1) is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect
from pyVmomi import vim

from harness.drivers.vsphere import (
    DisruptiveOperationRefused,
    VsphereDriver,
    VsphereError,
    VsphereHostUnreachableError,
    VsphereTimeoutError,
)
from harness.lab.inventory import Secret
from harness.lab.model import Lab
from harness.procedures.migration import migrate_management_vmk
from harness.sim.vcenter import spec_from_lab
from harness.sim.vcenter.provision import provision
from tests.vcenter.tasks import wait_for_task
from tests.vsphere.conftest import PASSWORD, USER, StartSim, endpoint_for, pyvmomi_session


@pytest.fixture
def lab(sim_lab: Lab) -> Lab:
    data = sim_lab.model_dump(mode="json", by_alias=True, exclude_unset=True)
    data["physical_switches"]["sw01"]["ports"]["TenGigabitEthernet1/1/5"]["vlans"].append(10)
    return Lab.model_validate(data)


def _add_pg(dvs: Any, name: str, vlan: int, active: list[str]) -> None:
    setting = vim.dvs.VmwareDistributedVirtualSwitch.VmwarePortConfigPolicy(
        vlan=vim.dvs.VmwareDistributedVirtualSwitch.VlanIdSpec(vlanId=vlan),
        uplinkTeamingPolicy=vim.dvs.VmwareDistributedVirtualSwitch.UplinkPortTeamingPolicy(
            uplinkPortOrder=vim.dvs.VmwareDistributedVirtualSwitch.UplinkPortOrderPolicy(
                activeUplinkPort=active, standbyUplinkPort=[])))
    wait_for_task(dvs.AddDVPortgroup_Task([vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
        name=name, type="earlyBinding", numPorts=8, defaultPortConfig=setting)]))


@pytest.fixture
def sim(start_sim: StartSim, lab: Lab) -> Iterator[Any]:
    """The lab provisioned, plus dvpg-mgmt (VLAN 10 on uplink2 = vmnic7, which carries it) and
    dvpg-dead (VLAN 10 on uplink1 = vmnic4, which does not)."""
    proc = start_sim(spec_from_lab(lab))
    si = pyvmomi_session(proc)
    try:
        with proc.connect(USER, Secret("plain:", PASSWORD)) as conn:
            provision(conn, lab)
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(
            content.rootFolder, [vim.DistributedVirtualSwitch], True)
        dvs = next(d for d in view.view if d.name == "dvs-lab")
        _add_pg(dvs, "dvpg-mgmt", 10, ["uplink2"])
        _add_pg(dvs, "dvpg-dead", 10, ["uplink1"])
        yield proc, si
    finally:
        Disconnect(si)


@pytest.fixture
def driver(sim: Any, tmp_path: Path) -> Iterator[VsphereDriver]:
    with VsphereDriver.connect(endpoint_for(sim[0]), tmp_path) as vc:
        yield vc


def _set_rollback(si: Any, on: bool) -> None:
    si.RetrieveContent().setting.UpdateOptions(changedValue=[
        vim.option.OptionValue(key="config.vpxd.network.rollback", value=str(on).lower())])


def _vmk0(driver: VsphereDriver) -> Any:
    return driver.snapshot().hosts["esx01"].vmknics["vmk0"]


def test_refused_without_allow_disruptive(driver: VsphereDriver, lab: Lab) -> None:
    with pytest.raises(DisruptiveOperationRefused):
        migrate_management_vmk(driver, lab, "esx01", "vmk0", "dvpg-mgmt")
    assert _vmk0(driver).port_group == "Management Network"


def test_moves_to_a_port_group_with_a_working_uplink(driver: VsphereDriver, lab: Lab) -> None:
    asked: list[str] = []
    report = migrate_management_vmk(driver, lab, "esx01", "vmk0", "dvpg-mgmt",
                                    reachable=lambda ip: asked.append(ip) is None,
                                    allow_disruptive=True)
    assert report.outcome == "moved", report.text()
    assert asked == ["198.18.10.11"]  # management verified after the move
    assert _vmk0(driver).dvs_port is not None
    assert driver.snapshot().hosts["esx01"].connection_state == "connected"


def test_refuses_a_target_without_a_working_uplink(driver: VsphereDriver, lab: Lab) -> None:
    report = migrate_management_vmk(driver, lab, "esx01", "vmk0", "dvpg-dead",
                                    allow_disruptive=True)
    assert report.outcome == "refused", report.text()
    assert any("carries VLAN 10" in s for s in report.steps), report.text()
    assert _vmk0(driver).port_group == "Management Network"


def test_refuses_while_network_rollback_is_off(driver: VsphereDriver, lab: Lab, sim: Any
                                               ) -> None:
    _set_rollback(sim[1], False)
    report = migrate_management_vmk(driver, lab, "esx01", "vmk0", "dvpg-mgmt",
                                    allow_disruptive=True)
    assert report.outcome == "refused"
    assert [f.id for f in report.findings] == ["F01"]
    assert _vmk0(driver).port_group == "Management Network"


def test_moves_back_when_management_stops_answering(driver: VsphereDriver, lab: Lab) -> None:
    """vCenter keeps the host, but the vmk's address goes silent on the wire (an upstream
    fault vCenter cannot see): the procedure puts it back where it answered."""
    answers = iter([False, True])
    report = migrate_management_vmk(driver, lab, "esx01", "vmk0", "dvpg-mgmt",
                                    reachable=lambda ip: next(answers), allow_disruptive=True)
    assert report.outcome == "rolled back", report.text()
    assert _vmk0(driver).port_group == "Management Network"
    assert "answers" in report.steps[-1]


def test_what_the_unguarded_move_does(driver: VsphereDriver, sim: Any) -> None:
    """Without the checks, vCenter's rollback saves the host; with rollback off the host is
    lost, which is what the procedure exists to prevent."""
    with pytest.raises(VsphereError) as undone:
        driver.migrate_vmknic("esx01", "vmk0", "dvpg-dead", allow_disruptive=True)
    assert undone.value.fault == "vim.fault.NetworkDisruptedAndConfigRolledBack"
    assert _vmk0(driver).port_group == "Management Network"
    _set_rollback(sim[1], False)
    with pytest.raises(VsphereHostUnreachableError, match="disconnected"):
        driver.migrate_vmknic("esx01", "vmk0", "dvpg-dead", allow_disruptive=True)
    assert driver.snapshot().hosts["esx01"].connection_state == "disconnected"


def test_reports_a_lost_host_and_how_to_recover(driver: VsphereDriver, lab: Lab, sim: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """If the move loses the host anyway (here: the checks are fooled into passing a dead
    target, with rollback off), the report says so and how to recover, not "moved"."""
    from harness.procedures import migration

    monkeypatch.setattr(migration, "_target_problems", lambda *a: ([], 10))
    _set_rollback(sim[1], False)
    monkeypatch.setattr(driver, "network_rollback", lambda: True)  # as if read before the change
    report = migrate_management_vmk(driver, lab, "esx01", "vmk0", "dvpg-dead",
                                    allow_disruptive=True)
    assert report.outcome == "host lost", report.text()
    assert "console" in report.steps[-1]


def test_an_unclear_failure_is_looked_at_and_still_verified(
        driver: VsphereDriver, lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The move lands but the wait times out: the procedure reads where the vmk is, and then
    verifies management as after any move (here it stays silent, so it moves it back)."""
    real = driver.migrate_vmknic
    calls: list[str] = []

    def flaky(host: str, device: str, port_group: str, **kw: Any) -> Any:
        calls.append(port_group)
        moved = real(host, device, port_group, **kw)
        if len(calls) == 1:
            raise VsphereTimeoutError("vc", f"{host}: verify {device}", "no update in time")
        return moved

    monkeypatch.setattr(driver, "migrate_vmknic", flaky)
    report = migrate_management_vmk(driver, lab, "esx01", "vmk0", "dvpg-mgmt",
                                    reachable=lambda ip: False, allow_disruptive=True)
    assert calls == ["dvpg-mgmt", "Management Network"], report.text()
    assert report.outcome == "rolled back"
    assert _vmk0(driver).port_group == "Management Network"
