"""The snapshot reports exactly what was configured, in at most three SOAP requests."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Interface
from typing import Any

from harness.drivers.vsphere import Snapshot, VsphereDriver
from harness.facts.vsphere import (
    DiscoveryFacts,
    PolicyFacts,
    SecurityFacts,
    ServiceFacts,
    TeamingFacts,
)
from harness.sim.vcenter.spec import VcsimSpec
from tests.vsphere import labstate
from tests.vsphere.conftest import CLOCK_OFFSETS


def test_vcenter_and_hosts(driver: VsphereDriver, plain_spec: VcsimSpec) -> None:
    snap = driver.snapshot()
    assert (snap.vcenter.version, snap.vcenter.build) == ("6.5.0", "8307201")
    assert snap.vcenter.full_name == "VMware vCenter Server 6.5.0 build-8307201"
    assert sorted(snap.hosts) == list(labstate.HOSTS)
    for spec in plain_spec.hosts:
        h = snap.hosts[spec.name]
        assert (h.version, h.build, h.connection_state) == (
            spec.version, str(spec.build), "connected")
        assert sorted(h.pnics) == sorted(spec.vmnics)
    macs = [p.mac for h in snap.hosts.values() for p in h.pnics.values()]
    assert len(macs) == len(set(macs)) and all(m.startswith("00:50:56:") for m in macs)
    assert snap.hosts["esx01"].pnics["vmnic0"].speed_mb == 10000
    assert snap.missing == {}


def test_standard_switch_and_port_groups(driver: VsphereDriver) -> None:
    snap = driver.snapshot()
    for name in labstate.HOSTS:
        h = snap.hosts[name]
        vs = h.vswitches["vSwitch0"]
        assert (vs.uplinks, vs.mtu) == (("vmnic0", "vmnic6"), 1500)
        assert vs.policy == PolicyFacts(
            SecurityFacts(False, False, False),
            TeamingFacts("loadbalance_srcid", ("vmnic0",), ("vmnic6",), False, True, True))
        mgmt = h.port_groups["Management Network"]
        assert (mgmt.vswitch, mgmt.vlan) == ("vSwitch0", 10)
        assert mgmt.computed == vs.policy  # no overrides: the computed policy is the switch's


def test_vmknics(driver: VsphereDriver) -> None:
    snap = driver.snapshot()
    pg_key = {pg.name: pg.key for pg in snap.dv_port_groups.values()}
    for name in labstate.HOSTS:
        vmks = snap.hosts[name].vmknics
        assert sorted(vmks) == ["vmk0", "vmk1", "vmk2"]
        vmk0, vmk1, vmk2 = vmks["vmk0"], vmks["vmk1"], vmks["vmk2"]
        assert (vmk0.port_group, vmk0.dvs_port, vmk0.ip, vmk0.mtu, vmk0.services) == (
            "Management Network", None, IPv4Interface(f"{labstate.MGMT_IP[name]}/24"), 1500,
            ("management",))
        assert vmk1.port_group is None and vmk1.dvs_port is not None
        assert vmk1.dvs_port.switch_uuid == snap.dvs[labstate.DVS].uuid
        assert vmk1.dvs_port.portgroup_key == pg_key["dvpg-vmotion"]
        assert (vmk1.ip, vmk1.mtu, vmk1.netstack, vmk1.services) == (
            IPv4Interface(f"{labstate.VMOTION_IP[name]}/24"), 9000, "defaultTcpipStack",
            ("vmotion",))
        assert vmk2.dvs_port is not None and vmk2.dvs_port.portgroup_key == pg_key["dvpg-vtep-a"]
        assert (vmk2.netstack, vmk2.mtu, vmk2.services) == ("vxlan", 1600, ())
        macs = {v.mac for v in vmks.values()}
        assert len(macs) == 3 and not macs & {p.mac for p in snap.hosts[name].pnics.values()}


def test_distributed_switch_and_port_groups(driver: VsphereDriver) -> None:
    snap = driver.snapshot()
    dvs = snap.dvs[labstate.DVS]
    assert (dvs.max_mtu, dvs.uplink_names) == (9000, labstate.UPLINKS)
    assert dvs.discovery == DiscoveryFacts("cdp", "listen")
    backing = tuple(labstate.DVS_BACKING[u] for u in labstate.UPLINKS)
    assert {h: m.pnics for h, m in dvs.members.items()} == dict.fromkeys(labstate.HOSTS, backing)
    assert dvs.default_policy.security == SecurityFacts(False, False, False)
    assert dvs.default_policy.teaming.load_balancing == "loadbalance_srcid"
    for name in labstate.HOSTS:
        [proxy] = snap.hosts[name].proxy_switches
        assert (proxy.dvs_name, proxy.dvs_uuid, proxy.mtu) == (labstate.DVS, dvs.uuid, 9000)
        assert dict(proxy.uplinks) == labstate.DVS_BACKING
        assert set(proxy.pnics) == set(backing)
        # backing pnics leave the standard switch
        assert not set(backing) & set(snap.hosts[name].vswitches["vSwitch0"].uplinks)
    for pg_name, spec in labstate.DVPGS.items():
        pg = snap.dv_port_groups[pg_name]
        assert (pg.dvs, pg.vlan, pg.uplink) == (labstate.DVS, spec.vlan, False)
        team = pg.policy.teaming
        assert (team.active, team.standby, team.check_beacon, team.notify_switches,
                team.failback, team.load_balancing) == (
            spec.active, spec.standby, spec.beacon, spec.notify, True, "failover_explicit")
        expected_sec = SecurityFacts() if spec.mac_changes is None else SecurityFacts(
            False, spec.mac_changes, spec.forged)
        assert pg.policy.security == expected_sec


def test_time_services_firewall_options(driver: VsphereDriver) -> None:
    snap = driver.snapshot()
    for name in labstate.HOSTS:
        h = snap.hosts[name]
        configured = name in labstate.NTP_HOSTS
        assert h.ntp_servers == (tuple(labstate.NTP_SERVERS) if configured else ())
        assert h.services["ntpd"] == ServiceFacts("ntpd", configured, "on" if configured
                                                  else "off")
        assert h.services["TSM-SSH"] == ServiceFacts("TSM-SSH", False, "off")
        assert h.firewall_rulesets == {"ntpClient": configured}
        assert h.options == {"Mem.ShareForceSalting": labstate.SALTING.get(name, 2)}


def test_option_keys_choose_what_is_read(driver: VsphereDriver) -> None:
    everything = driver.snapshot(option_keys=None, service_keys=None, ruleset_keys=None)
    h = everything.hosts["esx01"]
    assert h.options["Config.HostAgent.log.level"] == "info"
    assert h.options["Mem.ShareForceSalting"] == 2
    assert {"ntpd", "TSM-SSH", "DCUI"} <= set(h.services)
    assert len(h.firewall_rulesets) > 10 and h.firewall_rulesets["ntpClient"] is True
    picked = driver.snapshot(option_keys=("Config.HostAgent.log.level", "No.Such.Option"))
    assert picked.hosts["esx01"].options == {"Config.HostAgent.log.level": "info"}


def test_vms(driver: VsphereDriver) -> None:
    snap = driver.snapshot()
    assert sorted(snap.vms) == sorted(labstate.VMS)
    for name, spec in labstate.VMS.items():
        vm = snap.vms[name]
        [nic] = vm.nics
        assert (vm.host, nic.label, nic.network) == (spec.host, "ethernet0", spec.network)
        if spec.mac:
            assert (nic.mac, nic.address_type) == (spec.mac, "manual")
        else:
            assert nic.address_type == "generated" and nic.mac
        for key, value in spec.extra.items():
            assert vm.extra_config[key] == value
    assert "sched.mem.pshare.salt" not in snap.vms["mon01"].extra_config


def test_snapshot_is_three_requests(driver: VsphereDriver) -> None:
    before = len(driver.conn.calls)
    snap = driver.snapshot()
    assert snap.requests == 3 and snap.pages == 1
    assert driver.conn.calls[before:] == ["CreateContainerView", "RetrievePropertiesEx",
                                          "DestroyView"]


def _content(snap: Snapshot) -> tuple[Any, ...]:
    return (snap.vcenter, snap.hosts, snap.dvs, snap.dv_port_groups, snap.vms, snap.missing)


def test_paging_gives_identical_facts(driver: VsphereDriver) -> None:
    whole = driver.snapshot()
    paged = driver.snapshot(page_size=2)
    # 3 hosts + 1 DVS + 5 DV port groups + 3 VMs = 12 objects in pages of 2
    assert paged.pages == 6
    assert paged.requests == 3 + paged.pages - 1
    assert driver.conn.calls[-7:] == ["RetrievePropertiesEx", *["ContinueRetrievePropertiesEx"]
                                      * 5, "DestroyView"]
    assert _content(paged) == _content(whole)
    assert replace(paged, taken_at=whole.taken_at, elapsed_s=whole.elapsed_s,
                   requests=whole.requests, pages=whole.pages) == whole


def test_clock_offsets_per_host(driver: VsphereDriver) -> None:
    driver.snapshot()  # learns the hosts' dateTimeSystems: no lookup request needed
    before = driver.requests
    offsets = driver.clock_offsets()
    assert driver.requests - before == len(labstate.HOSTS)  # one QueryDateTime each
    assert offsets.errors == {}
    for name in labstate.HOSTS:
        reading = offsets.values[name]
        expected = CLOCK_OFFSETS.get(name, 0.0)
        assert abs(reading.offset_s - expected) < 1.0 + reading.uncertainty_s, reading
        assert reading.uncertainty_s < 1.0


def test_clock_offsets_without_snapshot_look_hosts_up_once(driver: VsphereDriver) -> None:
    offsets = driver.clock_offsets(["esx02", "esx99"])
    assert abs(offsets.values["esx02"].offset_s - CLOCK_OFFSETS["esx02"]) < 1.5
    assert "no host 'esx99'" in str(offsets.errors["esx99"])
    before = driver.requests
    driver.clock_offsets(["esx01"])
    assert driver.requests - before == 1


def test_network_hints_per_pnic(driver: VsphereDriver, plain_spec: VcsimSpec) -> None:
    hints = driver.network_hints()
    assert hints.errors == {}
    for spec in plain_spec.hosts:
        got = hints.values[spec.name]
        assert [h.device for h in got] == spec.vmnics
        # no data plane here: no neighbour on any port, as ESXi reports a silent port
        assert all(h.cdp is None and h.lldp is None for h in got)
