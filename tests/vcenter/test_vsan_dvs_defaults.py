"""What a real vCenter always reports and third-party pyVmomi code reads without a nil check.

The stock simulator points every host's configManager.vsanSystem at one moref it never
registers (ManagedObjectNotFound on any call: Ansible's vmware_host_facts fails on it), and its
CreateDVS leaves config.productInfo, ipfixConfig, healthCheckConfig and multicastFilteringMode
unset when the create spec omits them (vmware_dvswitch_info fails on ipfixConfig). lh-vcsim
gives each host its own disabled vSAN service and fills vCenter's defaults on a new switch.
"""

from __future__ import annotations

from typing import Any

from pyVmomi import vim

from tests.vcenter.tasks import wait_for_task

DVS = vim.dvs.VmwareDistributedVirtualSwitch


def _create_dvs(si: Any, name: str, **config: Any) -> Any:
    """A DVS made the way provisioning makes one: name, uplinks, version, nothing else."""
    dc = si.RetrieveContent().rootFolder.childEntity[0]
    spec = vim.DistributedVirtualSwitch.CreateSpec(
        configSpec=DVS.ConfigSpec(
            name=name, maxMtu=9000,
            uplinkPortPolicy=vim.DistributedVirtualSwitch.NameArrayUplinkPortPolicy(
                uplinkPortName=["uplink1", "uplink2"]), **config),
        productInfo=vim.dvs.ProductSpec(version="6.5.0"))
    wait_for_task(dc.networkFolder.CreateDVS_Task(spec))
    return next(d for d in dc.networkFolder.childEntity if d.name == name)


def test_every_host_has_its_own_disabled_vsan_service(hosts: dict[str, Any]) -> None:
    refs = set()
    for name, host in hosts.items():
        vsan = host.configManager.vsanSystem
        assert vsan is not None, name
        refs.add(vsan._moId)
        status = vsan.QueryHostStatus()
        assert status.health == "unknown", name
        assert status.nodeState.state == "disabled", name
        assert status.uuid is None and status.nodeUuid is None, name
        assert vsan.config.enabled is False, name
        assert vsan.config.hostSystem == host, name
        assert host.config.vsanHostConfig.enabled is False, name
        assert host.config.vsanHostConfig.hostSystem == host, name
    assert len(refs) == len(hosts) == 3, refs


def test_new_dvs_reports_vcenter_defaults(si: Any) -> None:
    dvs = _create_dvs(si, "dvs-defaults")
    cfg = dvs.config
    assert (cfg.productInfo.name, cfg.productInfo.vendor, cfg.productInfo.version,
            cfg.productInfo.forwardingClass) == ("DVS", "VMware, Inc.", "6.5.0", "etherswitch")
    assert dvs.summary.productInfo.vendor == "VMware, Inc."
    assert cfg.multicastFilteringMode == "legacyFiltering"
    ipfix = cfg.ipfixConfig
    assert ipfix is not None
    assert (ipfix.collectorIpAddress, ipfix.activeFlowTimeout, ipfix.idleFlowTimeout,
            ipfix.samplingRate, ipfix.internalFlowsOnly) == (None, 60, 15, 0, False)
    checks = cfg.healthCheckConfig
    assert len(checks) == 2
    vlan_mtu, teaming = checks
    assert isinstance(vlan_mtu, DVS.VlanMtuHealthCheckConfig)
    assert isinstance(teaming, DVS.TeamingHealthCheckConfig)
    assert [(c.enable, c.interval) for c in checks] == [(False, 1), (False, 1)]


def test_defaults_never_override_what_the_create_spec_set(si: Any) -> None:
    dvs = _create_dvs(
        si, "dvs-netflow", multicastFilteringMode="snooping",
        ipfixConfig=DVS.IpfixConfig(collectorIpAddress="198.18.10.50", collectorPort=2055,
                                    activeFlowTimeout=120, idleFlowTimeout=30,
                                    samplingRate=10, internalFlowsOnly=True))
    cfg = dvs.config
    assert cfg.multicastFilteringMode == "snooping"
    ipfix = cfg.ipfixConfig
    assert (ipfix.collectorIpAddress, ipfix.collectorPort, ipfix.activeFlowTimeout,
            ipfix.idleFlowTimeout, ipfix.samplingRate, ipfix.internalFlowsOnly) == (
        "198.18.10.50", 2055, 120, 30, 10, True)
