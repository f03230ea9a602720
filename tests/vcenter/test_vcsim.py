"""lh-vcsim through pyVmomi, as the harness's drivers and provisioner will use it."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import SmartConnect
from pyVmomi import vim, vmodl

from harness.sim.vcenter import VcsimProcess
from harness.sim.vcenter.spec import VcsimSpec
from tests.vcenter.conftest import CLOCK_OFFSETS, PASSWORD, USER
from tests.vcenter.tasks import wait_for_task


def ip(address: str, mask: str = "255.255.255.0") -> Any:
    return vim.host.IpConfig(dhcp=False, ipAddress=address, subnetMask=mask)


def add_portgroup(host: Any, name: str, vlan: int = 0, vswitch: str = "vSwitch0") -> None:
    spec = vim.host.PortGroup.Specification(name=name, vlanId=vlan, vswitchName=vswitch,
                                            policy=vim.host.NetworkPolicy())
    host.configManager.networkSystem.AddPortGroup(spec)


def portgroups(network_info: Any) -> dict[str, Any]:
    return {pg.spec.name: pg for pg in network_info.portgroup}


# ---------------------------------------------------------------------------------------------
# inventory and access


def test_inventory_matches_the_lab_spec(si: Any, hosts: dict[str, Any],
                                        sim_spec: VcsimSpec) -> None:
    about = si.content.about
    assert (about.version, about.build) == ("6.5.0", "8307201")
    assert about.fullName == "VMware vCenter Server 6.5.0 build-8307201"
    dc = si.content.rootFolder.childEntity[0]
    assert dc.name == "DC-Lab"
    assert [c.name for c in dc.hostFolder.childEntity] == ["CL-Lab"]
    assert sorted(hosts) == ["esx01", "esx02", "esx03"]
    for spec in sim_spec.hosts:
        h = hosts[spec.name]
        assert h.parent.name == "CL-Lab"
        for product in (h.config.product, h.summary.config.product):
            assert product.version == spec.version
            assert product.build == str(spec.build)
        assert [p.device for p in h.config.network.pnic] == spec.vmnics
    # esx03 is the Gen10 with its own build
    assert hosts["esx03"].config.product.build == "7388607"
    macs = [p.mac for h in hosts.values() for p in h.config.network.pnic]
    assert len(macs) == len(set(macs)), "every pnic has its own MAC"


def test_task_names_are_the_wsdl_method_names_clients_resolve(si: Any,
                                                              hosts: dict[str, Any]) -> None:
    """TaskInfo.name is the WSDL method name, as vCenter sends it, so pyVmomi resolves it to
    the method (pyVim's WaitForTask reads info.name.info.name while a task runs); the vmodl
    spelling is descriptionId's."""
    h = hosts["esx01"]
    dc = si.content.rootFolder.childEntity[0]
    config = vim.vm.ConfigSpec(name="lh-task-names", guestId="otherGuest64", numCPUs=1,
                               memoryMB=128,
                               files=vim.vm.FileInfo(vmPathName=f"[{h.datastore[0].name}]"))
    create = dc.vmFolder.CreateVM_Task(config=config, pool=h.parent.resourcePool, host=h)
    vm = wait_for_task(create)
    power_on = vm.PowerOnVM_Task()
    wait_for_task(power_on)
    power_off = vm.PowerOffVM_Task()
    wait_for_task(power_off)
    destroy = vm.Destroy_Task()
    wait_for_task(destroy)
    # pyVmomi's UnknownManagedMethod (a name it could not resolve) has no `info`
    seen = [(getattr(getattr(t.info.name, "info", None), "wsdlName", repr(t.info.name)),
             t.info.descriptionId) for t in (create, power_on, power_off, destroy)]
    assert seen == [
        ("CreateVM_Task", "Folder.createVm"), ("PowerOnVM_Task", "VirtualMachine.powerOn"),
        ("PowerOffVM_Task", "VirtualMachine.powerOff"), ("Destroy_Task", "VirtualMachine.destroy")]


def test_wrong_password_is_refused(vcsim: VcsimProcess) -> None:
    with pytest.raises(vim.fault.InvalidLogin):
        SmartConnect(host=vcsim.host, port=vcsim.port, user=USER, pwd="wrong",
                     sslContext=vcsim.ssl_context())


def test_certificate_not_pinned_is_refused(vcsim: VcsimProcess) -> None:
    with pytest.raises(ssl.SSLError):
        SmartConnect(host=vcsim.host, port=vcsim.port, user=USER, pwd=PASSWORD,
                     sslContext=ssl.create_default_context(cafile=None, capath="/nonexistent"))


# ---------------------------------------------------------------------------------------------
# HostNetworkSystem


def test_add_portgroup_of_one_name_on_every_host(hosts: dict[str, Any]) -> None:
    for h in hosts.values():
        add_portgroup(h, "vMotion-PG", vlan=20)
    for h in hosts.values():
        pg = portgroups(h.config.network)["vMotion-PG"]
        assert pg.spec.vlanId == 20
        assert pg.key == "key-vim.host.PortGroup-vMotion-PG"
        assert pg.vswitch == "key-vim.host.VirtualSwitch-vSwitch0"
        assert pg.key in h.config.network.vswitch[0].portgroup
        assert "vMotion-PG" in [n.name for n in h.network]
    network = next(n for n in next(iter(hosts.values())).network if n.name == "vMotion-PG")
    assert sorted(h.name for h in network.host) == sorted(hosts)
    with pytest.raises(vim.fault.AlreadyExists):
        add_portgroup(hosts["esx01"], "vMotion-PG")


def test_the_stock_vm_network_is_shared_until_the_last_host_removes_it(
        hosts: dict[str, Any]) -> None:
    """Every host has "VM Network"; its Network entity lists them all, so one host removing
    its port group leaves the entity (and the other hosts' `network`) intact, and the last
    removal leaves no host pointing at a deleted object."""
    network = next(n for n in hosts["esx01"].network if n.name == "VM Network")
    assert sorted(h.name for h in network.host) == sorted(hosts)
    hosts["esx01"].configManager.networkSystem.RemovePortGroup("VM Network")
    assert sorted(h.name for h in network.host) == sorted(set(hosts) - {"esx01"})
    assert "VM Network" not in [n.name for n in hosts["esx01"].network]
    for name in sorted(set(hosts) - {"esx01"}):
        hosts[name].configManager.networkSystem.RemovePortGroup("VM Network")
    for h in hosts.values():
        assert [n.name for n in h.network] == []  # every reference resolves (none dangles)


def test_vmknic_add_update_remove_round_trip(hosts: dict[str, Any]) -> None:
    h = hosts["esx01"]
    ns = h.configManager.networkSystem
    add_portgroup(h, "vMotion-PG", vlan=20)
    device = ns.AddVirtualNic("vMotion-PG", vim.host.VirtualNic.Specification(
        ip=ip("198.18.20.11"), mtu=9000))
    assert device == "vmk1"
    for info in (ns.networkInfo, h.config.network):
        vnic = {v.device: v for v in info.vnic}["vmk1"]
        assert (vnic.portgroup, vnic.spec.ip.ipAddress, vnic.spec.mtu) == (
            "vMotion-PG", "198.18.20.11", 9000)
        assert vnic.port in [p.key for p in portgroups(info)["vMotion-PG"].port]

    ns.UpdateVirtualNic("vmk1", vim.host.VirtualNic.Specification(ip=ip("198.18.20.12")))
    for info in (ns.networkInfo, h.config.network):
        vnic = {v.device: v for v in info.vnic}["vmk1"]
        assert (vnic.spec.ip.ipAddress, vnic.spec.mtu) == ("198.18.20.12", 9000)

    ns.RemoveVirtualNic("vmk1")
    for info in (ns.networkInfo, h.config.network):
        assert [v.device for v in info.vnic] == ["vmk0"]
        assert portgroups(info)["vMotion-PG"].port == []
    with pytest.raises(vim.fault.NotFound):
        ns.RemoveVirtualNic("vmk1")
    # other hosts are untouched
    assert [v.device for v in hosts["esx02"].config.network.vnic] == ["vmk0"]


def test_portgroup_teaming_override_and_inheritance(hosts: dict[str, Any]) -> None:
    h = hosts["esx01"]
    ns = h.configManager.networkSystem
    vswitch = h.config.network.vswitch[0]
    spec = vswitch.spec
    spec.bridge = vim.host.VirtualSwitch.BondBridge(nicDevice=["vmnic0", "vmnic6"])
    spec.policy.security = vim.host.NetworkPolicy.SecurityPolicy(
        allowPromiscuous=False, macChanges=False, forgedTransmits=False)
    spec.policy.nicTeaming.nicOrder = vim.host.NetworkPolicy.NicOrderPolicy(
        activeNic=["vmnic0"], standbyNic=["vmnic6"])
    spec.policy.nicTeaming.failureCriteria.checkBeacon = False
    ns.UpdateVirtualSwitch("vSwitch0", spec)
    add_portgroup(h, "Inherits", vlan=30)
    add_portgroup(h, "Overrides", vlan=40)

    override = vim.host.PortGroup.Specification(
        name="Overrides", vlanId=41, vswitchName="vSwitch0",
        policy=vim.host.NetworkPolicy(
            security=vim.host.NetworkPolicy.SecurityPolicy(macChanges=True),
            nicTeaming=vim.host.NetworkPolicy.NicTeamingPolicy(
                policy="failover_explicit", notifySwitches=False,
                failureCriteria=vim.host.NetworkPolicy.NicFailureCriteria(checkBeacon=True),
                nicOrder=vim.host.NetworkPolicy.NicOrderPolicy(
                    activeNic=["vmnic6"], standbyNic=["vmnic0"]))))
    ns.UpdatePortGroup("Overrides", override)

    pgs = portgroups(h.config.network)
    over = pgs["Overrides"].computedPolicy
    assert pgs["Overrides"].spec.vlanId == 41
    assert (over.nicTeaming.nicOrder.activeNic, over.nicTeaming.nicOrder.standbyNic) == (
        ["vmnic6"], ["vmnic0"])
    assert over.nicTeaming.policy == "failover_explicit"
    assert over.nicTeaming.notifySwitches is False
    assert over.nicTeaming.failureCriteria.checkBeacon is True
    assert (over.security.allowPromiscuous, over.security.macChanges,
            over.security.forgedTransmits) == (False, True, False)

    inherit = pgs["Inherits"].computedPolicy
    assert (inherit.nicTeaming.nicOrder.activeNic, inherit.nicTeaming.nicOrder.standbyNic) == (
        ["vmnic0"], ["vmnic6"])
    assert inherit.nicTeaming.policy == "loadbalance_srcid"
    assert inherit.nicTeaming.notifySwitches is True
    assert inherit.nicTeaming.failureCriteria.checkBeacon is False
    assert inherit.security.macChanges is False
    assert h.config.network.vswitch[0].pnic == [
        "key-vim.host.PhysicalNic-vmnic0", "key-vim.host.PhysicalNic-vmnic6"]

    bad = vim.host.PortGroup.Specification(
        name="Overrides", vlanId=41, vswitchName="vSwitch0", policy=vim.host.NetworkPolicy(
            nicTeaming=vim.host.NetworkPolicy.NicTeamingPolicy(
                nicOrder=vim.host.NetworkPolicy.NicOrderPolicy(activeNic=["vmnic7"]))))
    with pytest.raises(vmodl.fault.InvalidArgument):
        ns.UpdatePortGroup("Overrides", bad)


# ---------------------------------------------------------------------------------------------
# time, services, options, firewall


def test_ntp_config_is_per_host(hosts: dict[str, Any]) -> None:
    dts = hosts["esx01"].configManager.dateTimeSystem
    dts.UpdateDateTimeConfig(vim.host.DateTimeConfig(
        ntpConfig=vim.host.NtpConfig(server=["198.18.10.1"])))
    assert list(dts.dateTimeInfo.ntpConfig.server) == ["198.18.10.1"]
    assert list(hosts["esx01"].config.dateTimeInfo.ntpConfig.server) == ["198.18.10.1"]
    for name in ("esx02", "esx03"):
        assert not hosts[name].config.dateTimeInfo.ntpConfig.server


def test_query_datetime_reflects_the_host_clock_offset(hosts: dict[str, Any]) -> None:
    now = dt.datetime.now(dt.UTC)
    skew = {name: (h.configManager.dateTimeSystem.QueryDateTime() - now).total_seconds()
            for name, h in hosts.items()}
    assert abs(skew["esx02"] - CLOCK_OFFSETS["esx02"]) < 2
    assert abs(skew["esx01"]) < 2 and abs(skew["esx03"]) < 2


def test_ntpd_start_stop_policy(hosts: dict[str, Any]) -> None:
    h = hosts["esx01"]
    ss = h.configManager.serviceSystem

    def ntpd(host: Any) -> Any:
        return next(s for s in host.config.service.service if s.key == "ntpd")

    assert ntpd(h).running is False
    ss.StartService("ntpd")
    ss.UpdateServicePolicy("ntpd", "on")
    assert (ntpd(h).running, ntpd(h).policy) == (True, "on")
    assert next(s for s in ss.serviceInfo.service if s.key == "ntpd").running is True
    assert ntpd(hosts["esx02"]).running is False
    with pytest.raises(vim.fault.InvalidState):
        ss.StartService("ntpd")
    ss.StopService("ntpd")
    with pytest.raises(vim.fault.InvalidState):
        ss.StopService("ntpd")
    ss.StartService("TSM-SSH")
    ss.RestartService("TSM-SSH")
    assert next(s for s in h.config.service.service if s.key == "TSM-SSH").running is True
    with pytest.raises(vmodl.fault.InvalidArgument):
        ss.UpdateServicePolicy("ntpd", "sometimes")
    with pytest.raises(vim.fault.NotFound):
        ss.StartService("no-such-service")


def test_advanced_options_are_per_host(hosts: dict[str, Any]) -> None:
    for h in hosts.values():
        [opt] = h.configManager.advancedOption.QueryOptions("Mem.ShareForceSalting")
        assert opt.value == 2
    hosts["esx01"].configManager.advancedOption.UpdateOptions(
        [vim.option.OptionValue(key="Mem.ShareForceSalting", value=0)])
    values = {name: {o.key: o.value for o in h.config.option}["Mem.ShareForceSalting"]
              for name, h in hosts.items()}
    assert values == {"esx01": 0, "esx02": 2, "esx03": 2}


def test_firewall_rulesets_are_per_host(hosts: dict[str, Any]) -> None:
    hosts["esx01"].configManager.firewallSystem.DisableRuleset("sshServer")

    def ssh_enabled(h: Any) -> bool:
        info = h.configManager.firewallSystem.firewallInfo
        return bool(next(r for r in info.ruleset if r.key == "sshServer").enabled)

    assert [ssh_enabled(hosts[n]) for n in ("esx01", "esx02", "esx03")] == [False, True, True]


# ---------------------------------------------------------------------------------------------
# PropertyCollector


def test_ntpd_start_with_servers_steps_the_clock(hosts: dict[str, Any]) -> None:
    """ESXi's ntpd starts with -g: with servers configured it steps the clock to their time;
    without servers, starting it changes nothing."""
    esx02 = hosts["esx02"]
    dts, svc = esx02.configManager.dateTimeSystem, esx02.configManager.serviceSystem

    def skew() -> float:
        return float((dts.QueryDateTime() - dt.datetime.now(dt.UTC)).total_seconds())

    assert skew() == pytest.approx(42, abs=2)
    svc.StartService("ntpd")  # no servers yet
    assert skew() == pytest.approx(42, abs=2)
    svc.StopService("ntpd")
    dts.UpdateDateTimeConfig(vim.host.DateTimeConfig(
        ntpConfig=vim.host.NtpConfig(server=["198.18.10.1"])))
    svc.StartService("ntpd")
    assert skew() == pytest.approx(0, abs=2)


def test_wait_for_updates_sees_an_added_vmknic(si: Any, hosts: dict[str, Any]) -> None:
    h = hosts["esx02"]
    pc = si.content.propertyCollector
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=h)],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(
            type=vim.HostSystem, pathSet=["config.network.vnic"])])
    pc_filter = pc.CreateFilter(spec, partialUpdates=False)
    try:
        options = vmodl.query.PropertyCollector.WaitOptions(maxWaitSeconds=5)
        first = pc.WaitForUpdatesEx("", options)
        add_portgroup(h, "vMotion-PG")
        h.configManager.networkSystem.AddVirtualNic(
            "vMotion-PG", vim.host.VirtualNic.Specification(ip=ip("198.18.20.12")))
        update = pc.WaitForUpdatesEx(first.version, options)
        assert update is not None, "no update within 5 s"
        [change] = [c for fs in update.filterSet for o in fs.objectSet for c in o.changeSet]
        assert change.name == "config.network.vnic"
        assert [v.device for v in change.val] == ["vmk0", "vmk1"]
    finally:
        pc_filter.Destroy()


def test_one_property_collector_call_reads_every_hosts_network(si: Any) -> None:
    content = si.content
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    calls: list[str] = []
    stub = si._stub
    invoke = stub.InvokeMethod

    def counting(mo: Any, info: Any, args: Any) -> Any:
        calls.append(info.name)
        return invoke(mo, info, args)

    stub.InvokeMethod = counting
    try:
        pc = content.propertyCollector
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[vmodl.query.PropertyCollector.ObjectSpec(
                obj=view, skip=True, selectSet=[vmodl.query.PropertyCollector.TraversalSpec(
                    name="view", type=vim.view.ContainerView, path="view", skip=False)])],
            propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim.HostSystem, pathSet=[
                "name", "config.network.vnic", "config.network.vswitch",
                "config.network.portgroup", "config.network.pnic"])])
        result = pc.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions())
        objects = list(result.objects)
        assert result.token is None
    finally:
        stub.InvokeMethod = invoke
        view.Destroy()
    assert calls == ["RetrievePropertiesEx"]
    facts = {o.propSet[0].val: {p.name: p.val for p in o.propSet} for o in objects
             if o.propSet[0].name == "name"}
    assert sorted(facts) == ["esx01", "esx02", "esx03"]
    for props in facts.values():
        assert [v.device for v in props["config.network.vnic"]] == ["vmk0"]
        assert [s.name for s in props["config.network.vswitch"]] == ["vSwitch0"]
        assert len(props["config.network.pnic"]) == 8  # vmnic0-7 of the DL360s


# ---------------------------------------------------------------------------------------------
# an unmodified community-samples-style script

SAMPLE = textwrap.dedent('''\
    """List hosts, vSwitches, port groups and vmknics (pyvmomi-community-samples style)."""
    import argparse
    import atexit

    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim

    parser = argparse.ArgumentParser()
    parser.add_argument("-s", "--host", required=True)
    parser.add_argument("-o", "--port", type=int, default=443)
    parser.add_argument("-u", "--user", required=True)
    parser.add_argument("-p", "--password", required=True)
    args = parser.parse_args()

    si = SmartConnect(host=args.host, user=args.user, pwd=args.password, port=args.port)
    atexit.register(Disconnect, si)
    content = si.RetrieveContent()
    container = content.viewManager.CreateContainerView(
        content.rootFolder, [vim.HostSystem], True)
    for host in container.view:
        print("host", host.name, host.summary.config.product.fullName)
        network = host.configManager.networkSystem.networkInfo
        for vswitch in network.vswitch:
            print("  vswitch", vswitch.name, "mtu", vswitch.mtu, "pnics", list(vswitch.pnic))
        for pg in network.portgroup:
            print("  portgroup", pg.spec.name, "vlan", pg.spec.vlanId)
        for vnic in network.vnic:
            print("  vmknic", vnic.device, vnic.portgroup, vnic.spec.ip.ipAddress)
    ''')


def test_community_sample_script_runs_unchanged(vcsim: VcsimProcess, tmp_path: Path) -> None:
    script = tmp_path / "list_host_networks.py"
    script.write_text(SAMPLE, encoding="utf-8")
    # The script verifies TLS with the default context; point it at the pinned certificate.
    env = {**os.environ, "SSL_CERT_FILE": str(vcsim.cert_file)}
    result = subprocess.run(
        [sys.executable, str(script), "-s", vcsim.host, "-o", str(vcsim.port), "-u", USER,
         "-p", PASSWORD], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("\nhost ") + out.startswith("host ") == 3
    assert "host esx01 VMware ESXi 6.5.0 build-5969303" in out
    assert "  vswitch vSwitch0 mtu 1500" in out
    assert "  portgroup Management Network vlan 0" in out
    assert "  vmknic vmk0 Management Network" in out


def test_hosts_on_versions_the_stock_simulator_cannot_parse(vcsim_binary: Path,
                                                            tmp_path: Path) -> None:
    """Real ESXi 7.0 U3 reports version 7.0.3, which govmomi's version parser rejects (it
    panicked while adding the next host); both hosts come up with their own identity."""
    spec = VcsimSpec.model_validate({
        "vcenter": {"name": "vc", "version": "8.0.2", "build": 22385739, "datacenter": "dc",
                    "cluster": "c"},
        "hosts": [{"name": "a", "version": "7.0.3", "build": 21930508},
                  {"name": "b", "version": "7.0.3", "build": 21930508}]})
    with VcsimProcess.start(spec, "127.0.0.1:0", USER, PASSWORD, workdir=tmp_path,
                            binary=vcsim_binary, timeout=30) as proc:
        si = SmartConnect(host=proc.host, port=proc.port, user=USER, pwd=PASSWORD,
                          sslContext=proc.ssl_context())
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem],
                                                       True)
        assert sorted((h.name, h.config.product.version) for h in view.view) == [
            ("a", "7.0.3"), ("b", "7.0.3")]
