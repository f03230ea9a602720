"""Remediations refuse without allow_disruptive, and with it change exactly what they say."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim

from harness.drivers.vsphere import (
    DisruptiveOperationRefused,
    PolicyPatch,
    VsphereDriver,
    VsphereHostUnreachableError,
    VsphereInvalidRequestError,
    VsphereTaskError,
    VsphereTimeoutError,
)
from harness.drivers.vsphere.collector import wait_until
from harness.drivers.vsphere.operations import wait_task
from harness.facts.vsphere import SecurityFacts
from harness.lab.model import Lab
from harness.sim.vcenter import spec_from_lab
from tests.vsphere import labstate
from tests.vsphere.conftest import StartSim, endpoint_for, pyvmomi_session

Op = Callable[[VsphereDriver, bool | None], object]

OPERATIONS: dict[str, Op] = {
    "set_ntp": lambda d, allow: d.set_ntp("esx02", ["198.18.10.1"], allow_disruptive=allow),
    "fix_standard": lambda d, allow: d.fix_port_group_policy(
        "Management Network", PolicyPatch(notify_switches=False), host="esx01",
        allow_disruptive=allow),
    "fix_dvpg": lambda d, allow: d.fix_port_group_policy(
        "dvpg-nlb", PolicyPatch(mac_changes=False), allow_disruptive=allow),
    "migrate": lambda d, allow: d.migrate_vmknic("esx01", "vmk1", "VM Network",
                                                 allow_disruptive=allow),
}


@pytest.mark.parametrize("op", OPERATIONS.values(), ids=list(OPERATIONS))
def test_refused_without_allow_disruptive(driver: VsphereDriver, op: Op) -> None:
    before = driver.snapshot()
    requests = driver.requests
    for allow in (None, False):
        with pytest.raises(DisruptiveOperationRefused, match="allow_disruptive"):
            op(driver, allow)
    assert driver.requests == requests, "a refused operation sends nothing"
    after = driver.snapshot()
    assert (after.hosts, after.dv_port_groups) == (before.hosts, before.dv_port_groups)


def test_driver_made_disruptive_runs_them(driver: VsphereDriver) -> None:
    driver.allow_disruptive = True
    state = driver.set_ntp("esx02", ["198.18.10.5"])
    assert state.servers == ("198.18.10.5",)
    with pytest.raises(DisruptiveOperationRefused):  # a call can still say no
        driver.set_ntp("esx02", ["198.18.10.6"], allow_disruptive=False)


def test_set_ntp(driver: VsphereDriver) -> None:
    before = driver.snapshot()
    state = driver.set_ntp("esx02", ["198.18.10.1", "198.18.10.2"], allow_disruptive=True)
    assert (state.servers, state.ntpd_running, state.ntpd_policy, state.firewall_enabled) == (
        ("198.18.10.1", "198.18.10.2"), True, "on", True)
    after = driver.snapshot()
    esx02 = after.hosts["esx02"]
    assert esx02.ntp_servers == ("198.18.10.1", "198.18.10.2")
    assert (esx02.services["ntpd"].running, esx02.services["ntpd"].policy) == (True, "on")
    assert esx02.firewall_rulesets["ntpClient"] is True
    for other in ("esx01", "esx03"):
        assert after.hosts[other] == before.hosts[other]
    # running again (ntpd already running) restarts it and changes the servers
    assert driver.set_ntp("esx02", ["198.18.10.3"], allow_disruptive=True).servers == (
        "198.18.10.3",)


def test_fix_standard_port_group(driver: VsphereDriver) -> None:
    patch = PolicyPatch(allow_promiscuous=False, mac_changes=True, notify_switches=False,
                        failback=False, failure_detection="beacon_probing",
                        active=("vmnic6",), standby=("vmnic0",))
    policy = driver.fix_port_group_policy("Management Network", patch, host="esx01",
                                          allow_disruptive=True)
    assert patch.satisfied_by(policy)
    snap = driver.snapshot()
    pg = snap.hosts["esx01"].port_groups["Management Network"]
    assert pg.computed == policy
    assert (pg.computed.teaming.active, pg.computed.teaming.standby) == (("vmnic6",),
                                                                         ("vmnic0",))
    assert pg.computed.security == SecurityFacts(False, True, False)  # forged: the switch's
    assert pg.vlan == 10  # untouched fields stay
    assert snap.hosts["esx02"].port_groups["Management Network"].computed.teaming.active == (
        "vmnic0",)


def test_fix_dv_port_group(driver: VsphereDriver) -> None:
    patch = PolicyPatch(mac_changes=False, forged_transmits=False, notify_switches=True,
                        active=("uplink1",), standby=("uplink2", "uplink3"))
    policy = driver.fix_port_group_policy("dvpg-nlb", patch, allow_disruptive=True)
    assert patch.satisfied_by(policy)
    pg = driver.snapshot().dv_port_groups["dvpg-nlb"]
    assert pg.policy == policy and pg.vlan == 40  # the VLAN survives the reconfigure
    assert pg.policy.teaming.standby == ("uplink2", "uplink3")


def test_migrate_vmknic_between_switches(driver: VsphereDriver) -> None:
    moved = driver.migrate_vmknic("esx01", "vmk1", "VM Network", allow_disruptive=True)
    assert (moved.port_group, moved.dvs_port) == ("VM Network", None)
    assert driver.snapshot().hosts["esx01"].vmknics["vmk1"].port_group == "VM Network"
    back = driver.migrate_vmknic("esx01", "vmk1", "dvpg-vmotion", allow_disruptive=True)
    snap = driver.snapshot()
    assert back.dvs_port is not None
    assert back.dvs_port.portgroup_key == snap.dv_port_groups["dvpg-vmotion"].key
    assert snap.hosts["esx01"].vmknics["vmk1"] == back
    assert back.ip is not None and str(back.ip.ip) == labstate.VMOTION_IP["esx01"]


@pytest.mark.parametrize("rollback", [True, False])
def test_migration_that_cuts_management(start_sim: StartSim, sim_lab: Lab, tmp_path: Path,
                                        rollback: bool) -> None:
    """F01: with the lab's cabling, vmnic0/vmnic6 carry only VLAN 10; moving vmk0 to an
    untagged port group cuts vCenter off the host (rolled back, or the host disconnects)."""
    lab = sim_lab.model_copy(update={"vcenter": sim_lab.vcenter.model_copy(
        update={"network_rollback": rollback})}) if sim_lab.vcenter else sim_lab
    sim = start_sim(spec_from_lab(lab))
    si = pyvmomi_session(sim)
    labstate.configure(si)
    with VsphereDriver.connect(endpoint_for(sim), tmp_path, allow_disruptive=True) as vc:
        if rollback:
            with pytest.raises(VsphereInvalidRequestError) as info:
                vc.migrate_vmknic("esx01", "vmk0", "VM Network")
            assert info.value.fault == "vim.fault.NetworkDisruptedAndConfigRolledBack"
            esx01 = vc.snapshot().hosts["esx01"]
            assert esx01.vmknics["vmk0"].port_group == "Management Network"
            assert esx01.connection_state == "connected"
        else:
            with pytest.raises(VsphereHostUnreachableError, match="esx01 is disconnected"):
                vc.migrate_vmknic("esx01", "vmk0", "VM Network")
            assert vc.snapshot().hosts["esx01"].connection_state == "disconnected"


def test_task_fault_and_timeout_are_typed(driver: VsphereDriver, si: Any) -> None:
    pg = next(p for p in si.content.rootFolder.childEntity[0].networkFolder.childEntity
              if isinstance(p, vim.dvs.DistributedVirtualPortgroup) and p.name == "dvpg-nlb")
    stale = vim.dvs.DistributedVirtualPortgroup.ConfigSpec(configVersion="stale", numPorts=8)
    task = vim.Task(pg.ReconfigureDVPortgroup_Task(stale)._moId, driver.conn.stub)
    with pytest.raises(VsphereTaskError) as info:
        wait_task(driver.conn, task, 10, "reconfigure dvpg-nlb")
    assert info.value.fault == "vim.fault.ConcurrentAccess"
    host = vim.HostSystem(driver.snapshot().hosts["esx01"].moref, driver.conn.stub)
    with pytest.raises(VsphereTimeoutError, match="not done after 1 s"):
        wait_until(driver.conn, host, ["name"], lambda values: False, 1.0, "never")


def test_network_rollback_is_read_from_vcenter_settings(driver: VsphereDriver, si: Any) -> None:
    """F01's precondition comes from vCenter's own advanced settings, as users change them."""
    assert driver.network_rollback() is True
    si.RetrieveContent().setting.UpdateOptions(changedValue=[
        vim.option.OptionValue(key="config.vpxd.network.rollback", value="false")])
    assert driver.network_rollback() is False
