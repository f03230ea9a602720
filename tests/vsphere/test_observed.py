"""The design checks run unchanged on what vCenter reports (the observed view)."""

from __future__ import annotations

from typing import Any

from pyVmomi import vim

from harness.checks.catalog import run_design_checks
from harness.checks.design import check_beacon_uplinks, check_nlb_port_group
from harness.checks.finding import Finding
from harness.checks.intent import view_from_lab
from harness.checks.observed import snapshot_option_keys, view_from_snapshot
from harness.checks.view import DesignView
from harness.drivers.vsphere import VsphereDriver
from harness.lab.model import Lab
from harness.lab.reference import shipped_reference
from tests.vsphere import labstate


def observed(driver: VsphereDriver, lab: Lab) -> DesignView:
    return view_from_snapshot(driver.snapshot(option_keys=snapshot_option_keys(lab)), lab)


def on_host(findings: list[Finding], host: str) -> list[Finding]:
    return [f for f in findings if f.subject == host or f.subject.startswith(f"{host}/")]


def test_view_has_the_intent_shape(driver: VsphereDriver, sim_lab: Lab) -> None:
    view = observed(driver, sim_lab)
    intent = view_from_lab(sim_lab)
    assert view.source == "observed" and sorted(view.hosts) == sorted(intent.hosts)
    esx01 = view.hosts["esx01"]
    assert (esx01.version, esx01.build) == ("6.5.0", 5969303)
    assert esx01.ntp_servers == tuple(labstate.NTP_SERVERS)
    assert esx01.advanced_options["Mem.ShareForceSalting"] == 2
    mgmt = esx01.port_groups["Management Network"]
    assert (mgmt.switch, mgmt.switch_kind, mgmt.vlan, mgmt.switch_mtu) == (
        "vSwitch0", "standard", 10, 1500)
    assert mgmt.teaming == intent.hosts["esx01"].port_groups["Management Network"].teaming
    assert mgmt.security == intent.hosts["esx01"].port_groups["Management Network"].security
    vmotion = esx01.port_groups["dvpg-vmotion"]
    assert (vmotion.switch, vmotion.switch_kind, vmotion.vlan, vmotion.switch_mtu) == (
        labstate.DVS, "distributed", 20, 9000)
    # DVS uplinks come back as the vmnics backing them on this host
    assert (vmotion.teaming.active, vmotion.teaming.standby) == (("vmnic4",), ("vmnic7",))
    nlb = esx01.port_groups["dvpg-nlb"]
    assert (nlb.security.mac_changes, nlb.security.forged_transmits) == (True, True)
    assert nlb.teaming.notify_switches is False
    # unset on the port group: the DVS default (reject), as intent resolves it
    assert vmotion.security == intent.hosts["esx01"].port_groups["dvpg-vmotion"].security
    vm_pg = esx01.port_groups["dvpg-vm"]
    assert vm_pg.teaming.failure_detection == "beacon_probing"
    assert vm_pg.teaming.active == ("vmnic4", "vmnic7", "vmnic5")
    vmk = esx01.vmknics
    assert (vmk["vmk0"].port_group, vmk["vmk0"].services) == ("Management Network",
                                                             ("management",))
    assert (vmk["vmk1"].port_group, vmk["vmk1"].services, vmk["vmk1"].mtu) == (
        "dvpg-vmotion", ("vmotion",), 9000)
    assert (vmk["vmk2"].port_group, vmk["vmk2"].services, vmk["vmk2"].tcpip_stack) == (
        "dvpg-vtep-a", ("vxlan",), "vxlan")
    nlb01 = view.vms["nlb01"]
    assert nlb01.host == "esx01"
    assert nlb01.nics[0].mac == labstate.VMS["nlb01"].mac
    assert nlb01.nics[0].port_group == "dvpg-nlb"
    assert nlb01.extra_config["sched.mem.pshare.salt"] == "nlb"
    # kept from the lab: vCenter knows nothing of NLB or of server adapters
    assert view.nlb_clusters == intent.nlb_clusters
    assert esx01.vmnic_adapter == intent.hosts["esx01"].vmnic_adapter


def test_healthy_host_passes_and_configured_faults_are_found(driver: VsphereDriver,
                                                             sim_lab: Lab) -> None:
    findings = run_design_checks(observed(driver, sim_lab), shipped_reference())
    assert all(f.source == "observed" for f in findings)
    assert on_host(findings, "esx01") == [], [f.text() for f in findings]
    # esx02 was left without NTP, esx03 has salting off while the lab wants intra-VM sharing
    assert [(f.id, f.check) for f in on_host(findings, "esx02")] == [("F05", "ntp-servers")]
    assert [(f.id, f.check) for f in on_host(findings, "esx03")] == [("F04", "page-sharing")]
    assert on_host(findings, "esx03")[0].evidence["Mem.ShareForceSalting"] == 0


def test_beacon_probing_on_two_uplinks_is_found(driver: VsphereDriver, sim_lab: Lab,
                                                hosts: dict[str, Any]) -> None:
    """F11, configured as a user would: beacon probing on the 2-uplink management team."""
    assert check_beacon_uplinks(observed(driver, sim_lab), shipped_reference()) == []
    ns = hosts["esx01"].configManager.networkSystem
    ns.UpdatePortGroup("Management Network", vim.host.PortGroup.Specification(
        name="Management Network", vlanId=10, vswitchName="vSwitch0",
        policy=vim.host.NetworkPolicy(nicTeaming=vim.host.NetworkPolicy.NicTeamingPolicy(
            failureCriteria=vim.host.NetworkPolicy.NicFailureCriteria(checkBeacon=True)))))
    [finding] = check_beacon_uplinks(observed(driver, sim_lab), shipped_reference())
    assert (finding.id, finding.subject, finding.source) == (
        "F11", "esx01/Management Network", "observed")
    assert finding.evidence["uplinks"] == ["vmnic0", "vmnic6"]
    # the lab file itself is fine: the difference is on the observed side only
    assert check_beacon_uplinks(view_from_lab(sim_lab), shipped_reference()) == []


def test_nlb_port_group_notifying_switches_is_found(driver: VsphereDriver, sim_lab: Lab,
                                                    si: Any) -> None:
    """F09 on a DV port group changed behind the lab's back."""
    assert check_nlb_port_group(observed(driver, sim_lab), shipped_reference()) == []
    pg = next(p for p in si.content.rootFolder.childEntity[0].networkFolder.childEntity
              if isinstance(p, vim.dvs.DistributedVirtualPortgroup) and p.name == "dvpg-nlb")
    setting = vim.dvs.VmwareDistributedVirtualSwitch.VmwarePortConfigPolicy(
        uplinkTeamingPolicy=vim.dvs.VmwareDistributedVirtualSwitch.UplinkPortTeamingPolicy(
            notifySwitches=labstate.bool_policy(True)))
    labstate.wait(pg.ReconfigureDVPortgroup_Task(vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
        configVersion=pg.config.configVersion, defaultPortConfig=setting)))
    findings = check_nlb_port_group(observed(driver, sim_lab), shipped_reference())
    assert sorted(f.subject for f in findings) == ["esx01/dvpg-nlb", "esx02/dvpg-nlb"]
    assert all(f.id == "F09" and "notifies switches" in f.message for f in findings)


def test_the_harness_probe_port_groups_and_vms_are_not_the_labs_design(
        driver: VsphereDriver, sim_lab: Lab, si: Any, hosts: dict[str, Any]) -> None:
    """What `labharness probes deploy` builds (lh-probe-*: trunks, port groups pinned to one
    uplink, probe VMs) is the harness's instrument: the observed view leaves it out, so it is
    never reported as a fault of the lab. The same objects under other names are judged."""
    beacon = vim.host.NetworkPolicy(nicTeaming=vim.host.NetworkPolicy.NicTeamingPolicy(
        failureCriteria=vim.host.NetworkPolicy.NicFailureCriteria(checkBeacon=True)))
    ns = hosts["esx01"].configManager.networkSystem
    dc = si.content.rootFolder.childEntity[0]
    switch = next(d for d in dc.networkFolder.childEntity if d.name == labstate.DVS)
    workstation_mac = labstate.VmSpec("esx01", "dvpg-vm", "00:0c:29:12:34:56")
    for name in ("lh-probe-trunk-vSwitch0", "trunk-vSwitch0"):
        ns.AddPortGroup(vim.host.PortGroup.Specification(
            name=name, vlanId=4095, vswitchName="vSwitch0", policy=beacon))
    for name in ("lh-probe-esx01", "probe-esx01"):
        labstate.create_vm(dc, hosts, switch, name, workstation_mac)
    view = observed(driver, sim_lab)
    assert "lh-probe-trunk-vSwitch0" not in view.hosts["esx01"].port_groups
    assert "lh-probe-esx01" not in view.vms
    findings = run_design_checks(view, shipped_reference())
    assert sorted((f.id, f.subject) for f in findings if f.subject.startswith(
        ("esx01/", "probe", "lh-probe"))) == [("F11", "esx01/trunk-vSwitch0"),
                                              ("F14", "probe-esx01/ethernet0")]
