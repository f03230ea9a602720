"""Provisioning the simulated vCenter from a lab, read back the way a driver reads it.

Every round trip reads vCenter with one PropertyCollector call and compares it with what the lab
says, resolved independently (policy inheritance from harness.checks.intent). Each scenario is
provisioned from its realised lab and must change exactly its own facts, nothing else.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from harness.drivers.vsphere.connection import VsphereConnection
from harness.facts.vsphere import NIC_TYPE_OF_SERVICE, STACK_OF_NETSTACK
from harness.lab.inventory import Secret
from harness.lab.loader import load_lab
from harness.lab.model import Lab
from harness.lab.views import host_port_groups
from harness.sim.dataplane.plan import stable_mac as dataplane_mac
from harness.sim.scenarios import (
    SCENARIOS,
    ScenarioError,
    VsphereFaults,
    realised_lab,
    vsphere_faults,
)
from harness.sim.vcenter import VcsimProcess
from harness.sim.vcenter.build import vcenter_build
from harness.sim.vcenter.provision import (
    PROVISIONED_KEY,
    ProvisionError,
    ProvisionReport,
    provision,
)
from harness.sim.vcenter.spec import VcsimSpec
from tests.conftest import SIM_LAB
from tests.vcenter.conftest import PASSWORD, USER
from tests.vcenter.tasks import wait_for_task

HOSTS = ("esx01", "esx02", "esx03")
VSPHERE_SCENARIOS = ("F04", "F05", "F08", "F09", "F11", "F12", "F14")
STACK_NAMES = STACK_OF_NETSTACK


@pytest.fixture(scope="module")
def sim_lab() -> Lab:
    return load_lab(SIM_LAB)


@contextmanager
def simulator(binary: Path, spec: VcsimSpec) -> Iterator[tuple[Any, VsphereConnection]]:
    """A fresh lh-vcsim for `spec`, a plain pyVmomi session to look at it and the driver's
    connection that provisions it; stopped (by PID) afterwards."""
    with tempfile.TemporaryDirectory(prefix="lh-provision-") as tmp, VcsimProcess.start(
            spec, "127.0.0.1:0", USER, PASSWORD, workdir=Path(tmp), binary=binary,
            timeout=30) as proc:
        si = SmartConnect(host=proc.host, port=proc.port, user=USER, pwd=PASSWORD,
                          sslContext=proc.ssl_context())
        conn = proc.connect(USER, Secret("plain:", PASSWORD))
        try:
            yield si, conn
        finally:
            conn.close()
            Disconnect(si)


@contextmanager
def provisioned(binary: Path, lab: Lab, scenarios: tuple[str, ...] = ()
                ) -> Iterator[tuple[Any, ProvisionReport, Lab, VsphereFaults,
                                    VsphereConnection]]:
    build = vcenter_build(lab, [SCENARIOS[s] for s in scenarios])
    with simulator(binary, build.spec) as (si, conn):
        report = provision(conn, build.lab, vsphere_faults=build.faults)
        yield si, report, build.lab, build.faults, conn


# ---------------------------------------------------------------------------------------------
# reading vCenter back: one RetrievePropertiesEx over a ContainerView


READ = {
    vim.HostSystem: ["name", "config.product", "config.network.vswitch",
                     "config.network.portgroup", "config.network.vnic",
                     "config.network.proxySwitch", "config.virtualNicManagerInfo.netConfig",
                     "config.dateTimeInfo", "config.service.service", "config.firewall.ruleset",
                     "config.option", "configManager.dateTimeSystem"],
    vim.DistributedVirtualSwitch: ["name", "uuid", "config"],
    vim.dvs.DistributedVirtualPortgroup: ["name", "key", "config"],
    vim.VirtualMachine: ["name", "runtime.host", "config.hardware.device", "config.extraConfig"],
}


def read_vcenter(si: Any, props: dict[Any, list[str]] | None = None,
                 ) -> tuple[list[tuple[Any, dict[str, Any]]], list[str]]:
    """Everything the round trips compare (`props`, by default READ), in one PropertyCollector
    call (and the SOAP calls made, to prove it)."""
    props = READ if props is None else props
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, list(props), True)
    pc = vmodl.query.PropertyCollector
    spec = pc.FilterSpec(
        objectSet=[pc.ObjectSpec(obj=view, skip=True, selectSet=[pc.TraversalSpec(
            name="view", type=vim.view.ContainerView, path="view", skip=False)])],
        propSet=[pc.PropertySpec(type=t, pathSet=p) for t, p in props.items()])
    calls: list[str] = []
    stub = si._stub
    invoke, access = stub.InvokeMethod, stub.InvokeAccessor

    def counting(mo: Any, info: Any, args: Any) -> Any:
        calls.append(info.name)
        return invoke(mo, info, args)

    def accessing(mo: Any, info: Any) -> Any:
        calls.append(f"get {info.name}")
        return access(mo, info)

    stub.InvokeMethod, stub.InvokeAccessor = counting, accessing
    try:
        result = content.propertyCollector.RetrievePropertiesEx([spec], pc.RetrieveOptions())
        objects = [(o.obj, {p.name: p.val for p in o.propSet}) for o in result.objects]
        assert result.token is None
    finally:
        stub.InvokeMethod, stub.InvokeAccessor = invoke, access
        view.Destroy()
    return objects, calls


def _team(lb: str, active: list[str], standby: list[str], beacon: bool, notify: bool,
          rolling: bool) -> dict[str, Any]:
    return {"load_balancing": lb, "active": tuple(active), "standby": tuple(standby),
            "failure_detection": "beacon_probing" if beacon else "link_status",
            "notify_switches": notify, "failback": not rolling}


def observe(si: Any, clocks: bool = True) -> dict[str, Any]:
    """What vCenter reports, shaped like the lab: hosts, distributed switches, VMs."""
    objects, calls = read_vcenter(si)
    assert calls == ["RetrievePropertiesEx"]
    hosts = {o: p for o, p in objects if isinstance(o, vim.HostSystem)}
    host_name = {str(o): p["name"] for o, p in hosts.items()}
    switches = {p["uuid"]: p for o, p in objects if isinstance(o, vim.DistributedVirtualSwitch)}
    uuid_of = {str(o): p["uuid"] for o, p in objects
               if isinstance(o, vim.DistributedVirtualSwitch)}
    dvpgs = {p["key"]: p for o, p in objects if isinstance(o, vim.dvs.DistributedVirtualPortgroup)}
    uplink_pgs = {str(k) for d in switches.values() for k in d["config"].uplinkPortgroup or []}
    out: dict[str, Any] = {"hosts": {}, "dvs": {}, "vms": {}, "segments": {}}
    for props in hosts.values():
        name = props["name"]
        vswitches = {s.name: s for s in props["config.network.vswitch"]}
        pgs: dict[str, Any] = {}
        for pg in props["config.network.portgroup"]:
            c = pg.computedPolicy
            t = c.nicTeaming
            pgs[pg.spec.name] = {
                "switch": pg.spec.vswitchName, "switch_kind": "standard",
                "switch_mtu": vswitches[pg.spec.vswitchName].mtu, "vlan": pg.spec.vlanId,
                "security": {"allow_promiscuous": c.security.allowPromiscuous,
                             "mac_changes": c.security.macChanges,
                             "forged_transmits": c.security.forgedTransmits},
                "teaming": _team(t.policy, t.nicOrder.activeNic, t.nicOrder.standbyNic,
                                 t.failureCriteria.checkBeacon, t.notifySwitches,
                                 t.rollingOrder)}
        for proxy in props["config.network.proxySwitch"]:
            dvs = switches[proxy.dvsUuid]
            name_of = {kv.key: kv.value for kv in proxy.uplinkPort}
            vmnic = {name_of[p.uplinkPortKey]: p.pnicDevice for p in proxy.spec.backing.pnicSpec}
            for pg in dvpgs.values():
                if uuid_of[str(pg["config"].distributedVirtualSwitch)] != proxy.dvsUuid:
                    continue
                if (pg["name"].startswith("vxw-") or "-DVUplinks" in pg["name"]
                        or pg["key"] in uplink_pgs):
                    continue  # NSX virtualwires and the uplink port group
                s = pg["config"].defaultPortConfig
                t = s.uplinkTeamingPolicy
                order = t.uplinkPortOrder
                pgs[pg["name"]] = {
                    "switch": dvs["name"], "switch_kind": "distributed",
                    "switch_mtu": dvs["config"].maxMtu, "vlan": s.vlan.vlanId,
                    "security": {"allow_promiscuous": s.securityPolicy.allowPromiscuous.value,
                                 "mac_changes": s.securityPolicy.macChanges.value,
                                 "forged_transmits": s.securityPolicy.forgedTransmits.value},
                    "teaming": _team(t.policy.value,
                                     [vmnic[u] for u in order.activeUplinkPort if u in vmnic],
                                     [vmnic[u] for u in order.standbyUplinkPort if u in vmnic],
                                     t.failureCriteria.checkBeacon.value, t.notifySwitches.value,
                                     t.rollingOrder.value)}
        services: dict[str, set[str]] = {}
        for nc in props["config.virtualNicManagerInfo.netConfig"]:
            for key in nc.selectedVnic:
                services.setdefault(key.rsplit("-", 1)[-1], set()).add(nc.nicType)
        vmknics = {}
        for v in props["config.network.vnic"]:
            pg_name = v.portgroup
            if v.spec.distributedVirtualPort is not None:
                pg_name = dvpgs[v.spec.distributedVirtualPort.portgroupKey]["name"]
            vmknics[v.device] = {
                "port_group": pg_name, "ip": f"{v.spec.ip.ipAddress}/{v.spec.ip.subnetMask}",
                "mtu": v.spec.mtu, "tcpip_stack": STACK_NAMES[v.spec.netStackInstanceKey],
                "mac": v.spec.mac, "services": tuple(sorted(services.get(v.device, ())))}
        svc = {s.key: s for s in props["config.service.service"]}
        rules = {r.key: r.enabled for r in props["config.firewall.ruleset"]}
        out["hosts"][name] = {
            "version": props["config.product"].version,
            "build": int(props["config.product"].build),
            "vswitches": {n: {"mtu": s.mtu, "uplinks": tuple(s.spec.bridge.nicDevice)}
                          for n, s in vswitches.items()},
            "port_groups": pgs, "vmknics": vmknics,
            "ntp_servers": tuple(props["config.dateTimeInfo"].ntpConfig.server),
            "ntpd": (svc["ntpd"].running, svc["ntpd"].policy),
            "ntp_firewall": rules["ntpClient"],
            "options": {o.key: o.value for o in props["config.option"]},
        }
        if clocks:  # no property holds a host's clock: it is a method, one call per host
            ahead = (props["configManager.dateTimeSystem"].QueryDateTime()
                     - dt.datetime.now(dt.UTC)).total_seconds()
            out["hosts"][name]["clock_ahead_min"] = round(ahead / 60)
    for dvs in switches.values():
        cfg = dvs["config"]
        members = {}
        for m in cfg.host:
            members[host_name[str(m.config.host)]] = tuple(
                p.pnicDevice for p in m.config.backing.pnicSpec)
        out["dvs"][dvs["name"]] = {
            "mtu": cfg.maxMtu, "uplinks": tuple(cfg.uplinkPortPolicy.uplinkPortName),
            "discovery": (cfg.linkDiscoveryProtocolConfig.protocol,
                          cfg.linkDiscoveryProtocolConfig.operation),
            "members": members}
    for pg in dvpgs.values():
        m = re.fullmatch(r"vxw-dvs-\d+-virtualwire-\d+-sid-(\d+)-(.+)", pg["name"])
        if m:
            out["segments"][m.group(2)] = int(m.group(1))
    for o, props in objects:
        if not isinstance(o, vim.VirtualMachine):
            continue
        nics = []
        for d in props["config.hardware.device"]:
            if not isinstance(d, vim.vm.device.VirtualEthernetCard):
                continue
            b = d.backing
            if isinstance(b, vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo):
                pg_name = dvpgs[b.port.portgroupKey]["name"]
                seg = re.fullmatch(r"vxw-dvs-\d+-virtualwire-\d+-sid-\d+-(.+)", pg_name)
                pg_name = seg.group(1) if seg else pg_name
            else:
                pg_name = b.deviceName
            nics.append({"mac": d.macAddress, "type": d.addressType, "port_group": pg_name})
        out["vms"][props["name"]] = {
            "host": host_name[str(props["runtime.host"])], "nics": nics,
            "extra_config": {o.key: o.value for o in props["config.extraConfig"]
                             if o.key != "govcsim"}}  # the simulator's own marker
    return out


# ---------------------------------------------------------------------------------------------
# what the lab says, in the same shape


def expected(lab: Lab, faults: VsphereFaults) -> dict[str, Any]:
    out: dict[str, Any] = {"hosts": {}, "dvs": {}, "vms": {}, "segments": {}}
    for hname, host in lab.hosts.items():
        pgs = {}
        for pname, pg in host_port_groups(lab, hname).items():
            d = asdict(pg)
            d.pop("name")
            pgs[pname] = d
        off = faults.services_off.get(hname, ())
        out["hosts"][hname] = {
            "version": host.version, "build": host.build,
            "vswitches": {n: {"mtu": s.mtu, "uplinks": tuple(s.uplinks)}
                          for n, s in host.standard_switches.items()},
            "port_groups": pgs,
            "vmknics": {v: {
                "port_group": k.port_group, "ip": f"{k.ip.ip}/{k.ip.netmask}", "mtu": k.mtu,
                "tcpip_stack": k.tcpip_stack, "mac": k.mac or dataplane_mac(hname, v),
                "services": tuple(sorted(NIC_TYPE_OF_SERVICE[s] for s in k.services
                                         if s in NIC_TYPE_OF_SERVICE))}
                for v, k in host.vmknics.items()},
            "ntp_servers": tuple(host.ntp_servers if host.ntp_servers is not None
                                 else lab.ntp.servers),
            "ntpd": (False, "off") if "ntpd" in off else (True, "on"),
            "ntp_firewall": True,
            "options": dict(host.advanced_options),
            "clock_ahead_min": round(faults.clock_offsets.get(hname, 0) / 60),
        }
    for dname, dvs in lab.distributed_switches.items():
        out["dvs"][dname] = {
            "mtu": dvs.mtu, "uplinks": tuple(dvs.uplinks),
            "discovery": ("cdp", "none") if dvs.discovery == "none" else (dvs.discovery, "listen"),
            "members": {h: tuple(m.uplinks[u] for u in dvs.uplinks if u in m.uplinks)
                        for h, m in dvs.hosts.items()}}
    if lab.nsx is not None:
        out["segments"] = {name: seg.vni for name, seg in lab.nsx.segments.items()}
    for vname, vm in lab.vms.items():
        out["vms"][vname] = {
            "host": vm.host,
            "nics": [{"mac": n.mac, "type": n.address_type, "port_group": n.port_group}
                     for _, n in sorted(vm.nics.items())],
            "extra_config": {k: ("TRUE" if v is True else "FALSE" if v is False else str(v))
                             for k, v in vm.extra_config.items()}}
    return out


def project(observed: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """`observed` with open-ended maps (advanced options, extraConfig) cut to the keys the lab
    sets: ESXi and vCenter have many more than a lab names."""
    out = copy.deepcopy(observed)
    for hname, host in out["hosts"].items():
        if hname in want["hosts"]:
            keys = want["hosts"][hname]["options"]
            host["options"] = {k: v for k, v in host["options"].items() if k in keys}
    for vname, vm in out["vms"].items():
        if vname in want["vms"]:
            keys = want["vms"][vname]["extra_config"]
            vm["extra_config"] = {k: v for k, v in vm["extra_config"].items() if k in keys}
    return out


def flatten(value: Any, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    if isinstance(value, dict):
        out: dict[tuple[Any, ...], Any] = {}
        for k, v in value.items():
            out.update(flatten(v, (*path, k)))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, (*path, i)))
        return out
    return {path: value}


def differences(a: dict[str, Any], b: dict[str, Any]) -> set[tuple[Any, ...]]:
    fa, fb = flatten(a), flatten(b)
    return {p for p in fa.keys() | fb.keys() if fa.get(p, "<absent>") != fb.get(p, "<absent>")}


# ---------------------------------------------------------------------------------------------
# the healthy lab


@pytest.fixture(scope="module")
def healthy(vcsim_binary: Path, sim_lab: Lab) -> tuple[dict[str, Any], ProvisionReport]:
    with provisioned(vcsim_binary, sim_lab) as (si, report, _, _, _):
        return observe(si), report


def test_healthy_lab_round_trips(healthy: tuple[dict[str, Any], ProvisionReport],
                                 sim_lab: Lab) -> None:
    observed, report = healthy
    want = expected(sim_lab, VsphereFaults())
    assert project(observed, want) == want
    # and what the lab names is all there is: ESXi's "VM Network" is gone, nothing was added
    assert sorted(observed["hosts"]["esx01"]["port_groups"]) == sorted(
        ["Management Network", *sim_lab.distributed_switches["dvs-lab"].port_groups])
    print(f"\nprovisioning the default lab:\n{report.summary()}")


def test_provisioning_is_batched(healthy: tuple[dict[str, Any], ProvisionReport],
                                 sim_lab: Lab) -> None:
    """One inventory read, one task wait per kind of task, no property access."""
    _, report = healthy
    assert not [c for c in report.calls if c.startswith("Fetch ")], report.calls
    assert report.calls["RetrievePropertiesEx"] <= 4
    assert report.calls["CreateContainerView"] == 1
    assert report.calls["CreateFilter"] == 4  # DVS, DV port groups, host members, VMs
    assert report.calls["CreateVM_Task"] == len(sim_lab.vms)
    vmks = sum(len(h.vmknics) for h in sim_lab.hosts.values())
    assert report.calls["AddVirtualNic"] + report.calls["UpdateVirtualNic"] == vmks
    assert report.total_calls < 100
    assert {s.name for s in report.stages} >= {"read inventory", "distributed switches", "VMs"}


def test_provisioning_twice_is_refused_and_changes_nothing(vcsim_binary: Path,
                                                           sim_lab: Lab) -> None:
    with provisioned(vcsim_binary, sim_lab) as (si, _, lab, _, conn):
        before = observe(si, clocks=False)
        with pytest.raises(ProvisionError) as err:
            provision(conn, lab)
        assert PROVISIONED_KEY in str(err.value) and "start a fresh simulator" in str(err.value)
        assert err.value.report is not None
        made = set(err.value.report.calls)
        assert made <= {"CreateContainerView", "RetrievePropertiesEx", "DestroyView"}, made
        assert observe(si, clocks=False) == before


# ---------------------------------------------------------------------------------------------
# scenarios: the realised lab shows up in vCenter, and nothing else changes


EXPECTED_CHANGES: dict[str, set[tuple[Any, ...]]] = {
    "F04": {("hosts", "esx03", "options", "Mem.ShareForceSalting")},
    "F05": {("hosts", "esx02", "ntp_servers"), ("hosts", "esx02", "ntpd"),
            ("hosts", "esx02", "clock_ahead_min")},
    "F08": {("hosts", "esx03", "version"), ("hosts", "esx03", "build")},
    "F09": {("hosts", h, "port_groups", "dvpg-nlb", "teaming", "notify_switches")
            for h in HOSTS},
    "F11": {("hosts", h, "port_groups", "dvpg-vmotion", "teaming", "failure_detection")
            for h in HOSTS},
    "F12": {("hosts", h, "vmknics", "vmk1", "ip") for h in HOSTS},
    "F14": {("vms", "web01", "nics", 0, "mac")},
}


@pytest.mark.parametrize("scenario", VSPHERE_SCENARIOS)
def test_scenario_changes_exactly_its_facts(vcsim_binary: Path, sim_lab: Lab, scenario: str,
                                            healthy: tuple[dict[str, Any], ProvisionReport]
                                            ) -> None:
    with provisioned(vcsim_binary, sim_lab, (scenario,)) as (si, _, lab, faults, _):
        observed = observe(si)
    want = expected(lab, faults)
    assert project(observed, want) == want
    changed = differences(healthy[0], observed)
    assert changed == EXPECTED_CHANGES[scenario]


def test_f05_host_reports_what_the_incident_had(vcsim_binary: Path, sim_lab: Lab) -> None:
    with provisioned(vcsim_binary, sim_lab, ("F05",)) as (si, _, _, _, _):
        host = observe(si)["hosts"]["esx02"]
    assert host["ntp_servers"] == ()
    assert host["ntpd"] == (False, "off")
    assert host["clock_ahead_min"] == 6


def test_every_vsphere_scenario_at_once(vcsim_binary: Path, sim_lab: Lab,
                                        healthy: tuple[dict[str, Any], ProvisionReport]) -> None:
    with provisioned(vcsim_binary, sim_lab, VSPHERE_SCENARIOS) as (si, _, lab, faults, _):
        observed = observe(si)
    assert project(observed, expected(lab, faults)) == expected(lab, faults)
    assert differences(healthy[0], observed) == set().union(*EXPECTED_CHANGES.values())


# ---------------------------------------------------------------------------------------------
# standard switches only: port group overrides on vSwitches, VMs on standard port groups


def standard_only(lab: Lab) -> Lab:
    """The default lab with its DVS turned into a vSwitch1 per host (same port groups, uplinks
    as vmnics) and no NSX (segments need a DVS): the standard-switch path end to end."""
    data = lab.model_dump(mode="json")
    dvs = data.pop("distributed_switches")["dvs-lab"]
    data.pop("nsx")
    for hname, member in dvs["hosts"].items():
        to_vmnic = member["uplinks"]

        def vmnics(team: dict[str, Any], m: dict[str, str] = to_vmnic) -> dict[str, Any]:
            return {**team, **{k: [m[u] for u in team[k]]
                               for k in ("active", "standby") if team.get(k) is not None}}

        data["hosts"][hname]["standard_switches"]["vSwitch1"] = {
            "mtu": dvs["mtu"], "uplinks": [to_vmnic[u] for u in dvs["uplinks"]],
            "teaming": vmnics(dvs["teaming"]), "security": dvs["security"],
            "port_groups": {n: {**pg, "teaming": vmnics(pg["teaming"])}
                            for n, pg in dvs["port_groups"].items()}}
    for vm in data["vms"].values():
        for nic in vm["nics"].values():
            if nic["port_group"].startswith("ls-"):
                nic["port_group"] = "dvpg-vm"
    data["vms"]["web01"]["extra_config"] = {"sched.mem.pshare.salt": "web", "uuid.action": True}
    return Lab.model_validate(data)


@pytest.mark.parametrize("scenario", [(), ("F09",), ("F11",), ("F12",)], ids=str)
def test_standard_switch_lab_round_trips(vcsim_binary: Path, sim_lab: Lab,
                                         scenario: tuple[str, ...]) -> None:
    lab = standard_only(sim_lab)
    with provisioned(vcsim_binary, lab, scenario) as (si, report, realised, faults, _):
        observed = observe(si, clocks=False)
    want = expected(realised, faults)
    for host in want["hosts"].values():
        host.pop("clock_ahead_min")
    assert project(observed, want) == want
    assert "distributed switches" not in report.built
    nlb = observed["hosts"]["esx01"]["port_groups"]["dvpg-nlb"]
    assert nlb["switch"] == "vSwitch1"
    assert nlb["teaming"]["notify_switches"] is (scenario == ("F09",))
    assert observed["vms"]["web01"]["extra_config"] == {"sched.mem.pshare.salt": "web",
                                                        "uuid.action": "TRUE"}


# ---------------------------------------------------------------------------------------------
# errors name the lab element


def test_lab_that_does_not_fit_is_refused_before_any_change(vcsim_binary: Path,
                                                            sim_lab: Lab) -> None:
    data = sim_lab.model_dump(mode="json")
    data["hosts"]["esx01"]["vmknics"]["vmk7"] = data["hosts"]["esx01"]["vmknics"].pop("vmk4")
    data["hosts"]["esx02"]["vmknics"]["vmk1"]["port_group"] = "dvpg-vmotoin"
    data["vms"]["web01"]["nics"]["ethernet0"]["port_group"] = "no-such-pg"
    lab = Lab.model_validate(data)
    build = vcenter_build(sim_lab)
    with simulator(vcsim_binary, build.spec) as (_si, conn):
        with pytest.raises(ProvisionError) as err:
            provision(conn, lab)
        text = str(err.value)
        assert "hosts.esx01.vmknics.vmk7: the vSphere API names a new VMkernel NIC after the " \
               "lowest free number (vmk4 here)" in text
        assert "hosts.esx02.vmknics.vmk1: esx02 has no port group 'dvpg-vmotoin'" in text
        assert "vms.web01.nics.ethernet0: esx01 has no port group or segment 'no-such-pg'" in text
        assert err.value.report is not None
        assert set(err.value.report.calls) <= {"CreateContainerView", "RetrievePropertiesEx",
                                                "DestroyView"}
        # nothing was changed: the lab can still be provisioned
        provision(conn, sim_lab)


@pytest.mark.parametrize(("switch", "uplinks", "action", "fault"), [
    ("vSwitch9", ["vmnic0"], "AddVirtualSwitch", "ResourceInUse"),  # vSwitch0 has vmnic0
    ("vSwitch0", ["vmnic0", "vmnic6", "vmnic9"], "UpdateVirtualSwitch", "NotFound"),  # no vmnic9
])
def test_simulator_fault_names_the_element(vcsim_binary: Path, sim_lab: Lab, switch: str,
                                           uplinks: list[str], action: str, fault: str) -> None:
    """A vSphere fault from the simulator comes back naming the lab element and the call."""
    data = sim_lab.model_dump(mode="json")
    switches = data["hosts"]["esx02"]["standard_switches"]
    switches[switch] = {**switches.get(switch, {}), "uplinks": uplinks}
    lab = Lab.model_validate(data)
    with simulator(vcsim_binary, vcenter_build(sim_lab).spec) as (_si, conn), \
            pytest.raises(ProvisionError) as err:
        provision(conn, lab)
    assert (err.value.element, err.value.action) == (f"esx02/{switch}", action)
    assert fault in err.value.detail
    assert str(err.value).startswith(f"esx02/{switch}: {action}: {fault}")


def test_failed_task_names_the_element(vcsim_binary: Path, sim_lab: Lab) -> None:
    """A task fault: another DVS already holds esx01's vmnic4 when dvs-lab adds the host."""
    with simulator(vcsim_binary, vcenter_build(sim_lab).spec) as (si, conn):
        content = si.RetrieveContent()
        dc = content.rootFolder.childEntity[0]
        esx01 = next(h for h in dc.hostFolder.childEntity[0].host if h.name == "esx01")
        spec = vim.DistributedVirtualSwitch.CreateSpec(
            configSpec=vim.dvs.VmwareDistributedVirtualSwitch.ConfigSpec(
                name="dvs-other",
                uplinkPortPolicy=vim.DistributedVirtualSwitch.NameArrayUplinkPortPolicy(
                    uplinkPortName=["u1"]),
                host=[vim.dvs.HostMember.ConfigSpec(
                    operation="add", host=esx01, backing=vim.dvs.HostMember.PnicBacking(
                        pnicSpec=[vim.dvs.HostMember.PnicSpec(pnicDevice="vmnic4")]))]))
        task = dc.networkFolder.CreateDVS_Task(spec)
        wait_for_task(task)
        other = task.info.result
        # CreateDVS ignores members; vCenter's own build adds them with a reconfigure
        wait_for_task(other.ReconfigureDvs_Task(spec.configSpec))
        with pytest.raises(ProvisionError) as err:
            provision(conn, sim_lab)
    assert err.value.element == "dvs-lab"
    assert err.value.action == "ReconfigureDvs_Task (add hosts)"
    assert "ResourceInUse" in err.value.detail


def test_after_provision_steps_run_and_their_faults_are_named(vcsim_binary: Path,
                                                             sim_lab: Lab) -> None:
    seen: list[str] = []

    def stage_migration(si: Any, lab: Lab) -> None:
        seen.append(lab.name)

    def broken(si: Any, lab: Lab) -> None:
        raise vim.fault.NotFound(msg="no such DVS port")

    build = vcenter_build(sim_lab)
    with simulator(vcsim_binary, build.spec) as (_si, conn):
        report = provision(conn, build.lab, vsphere_faults=VsphereFaults(
            after_provision=(stage_migration,)))
    assert seen == ["sim"]
    assert report.stages[-1].name == "scenario steps"
    with simulator(vcsim_binary, build.spec) as (_si, conn), pytest.raises(ProvisionError) as err:
        provision(conn, build.lab, vsphere_faults=VsphereFaults(after_provision=(broken,)))
    assert (err.value.element, err.value.action) == ("scenario", "broken")
    assert "NotFound" in err.value.detail and "no such DVS port" in err.value.detail


def test_unknown_service_in_faults_is_a_clear_error(vcsim_binary: Path, sim_lab: Lab) -> None:
    with simulator(vcsim_binary, vcenter_build(sim_lab).spec) as (_si, conn), \
            pytest.raises(ProvisionError) as err:
        provision(conn, sim_lab, vsphere_faults=VsphereFaults(services_off={"esx01": ("ntpdd",)}))
    assert "esx01 has no service 'ntpdd'" in str(err.value)


# ---------------------------------------------------------------------------------------------
# scenarios as data (no simulator)


def test_realised_labs_carry_each_vsphere_change(sim_lab: Lab) -> None:
    def realised(s: str) -> Lab:
        return realised_lab(sim_lab, [SCENARIOS[s]])

    assert realised("F04").hosts["esx03"].advanced_options["Mem.ShareForceSalting"] == 0
    assert realised("F05").hosts["esx02"].ntp_servers == []
    f08 = realised("F08").hosts["esx03"]
    assert (f08.version, f08.build) == ("6.7.0", 8169922)
    vmotion = realised("F11").distributed_switches["dvs-lab"].port_groups["dvpg-vmotion"]
    assert vmotion.teaming.failure_detection == "beacon_probing"
    assert realised("F14").vms["web01"].nics["ethernet0"].mac == "00:0c:29:01:20:01"
    assert vsphere_faults(sim_lab, [SCENARIOS["F05"]]) == VsphereFaults(
        clock_offsets={"esx02": 360.0}, services_off={"esx02": ("ntpd",)})
    assert vsphere_faults(sim_lab, [SCENARIOS[s] for s in VSPHERE_SCENARIOS if s != "F05"]) \
        == VsphereFaults()


def test_f11_keeps_the_data_plane_outcome(sim_lab: Lab) -> None:
    """Beacon probing on two uplinks cannot tell which failed: the teaming controller keeps the
    silent one, as with link status. So F11 only changes what vCenter reports."""
    lab = realised_lab(sim_lab, [SCENARIOS["F11"]])
    team = host_port_groups(lab, "esx01")["dvpg-vmotion"].teaming
    assert len(team.uplinks) == 2 and team.failure_detection == "beacon_probing"
    assert host_port_groups(sim_lab, "esx01")["dvpg-vmotion"].teaming == replace(
        team, failure_detection="link_status")


def test_scenarios_say_what_a_lab_lacks(sim_lab: Lab) -> None:
    data = sim_lab.model_dump(mode="json")
    for host in data["hosts"].values():
        host["page_sharing"] = None
    with pytest.raises(ScenarioError, match="F04 needs a host with a `page_sharing` intent"):
        realised_lab(Lab.model_validate(data), [SCENARIOS["F04"]])
    data = sim_lab.model_dump(mode="json")
    data["vcenter"]["version"] = "9.0.0"
    with pytest.raises(ScenarioError, match=r"no ESXi line newer than vCenter 9\.0\.0"):
        realised_lab(Lab.model_validate(data), [SCENARIOS["F08"]])
    data = sim_lab.model_dump(mode="json")
    for vm in data["vms"].values():
        for nic in vm["nics"].values():
            nic["mac"] = None
    with pytest.raises(ScenarioError, match="F14 needs a VM"):
        realised_lab(Lab.model_validate(data), [SCENARIOS["F14"]])
    clash = VsphereFaults(clock_offsets={"esx01": 1.0})
    with pytest.raises(ScenarioError, match="different clock offsets on esx01"):
        clash.merged(VsphereFaults(clock_offsets={"esx01": 2.0}))
