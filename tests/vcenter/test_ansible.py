"""Ansible's community.vmware modules, pyVmomi code no one here wrote, run unchanged against
lh-vcsim provisioned with the default lab: what they report must be what the lab says.

The modules come from the `ansible` bundle in their own virtualenv (./ci/client-venvs). One
ansible-playbook run per simulator state runs them all; its JSON callback output is compared with
the lab file, read independently of the provisioning code. The comparisons return one line per
difference, so a fault injected through pyVmomi must show up as exactly its own lines.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from harness.lab.inventory import Secret
from harness.lab.loader import load_lab
from harness.lab.model import Lab, PortGroup, StandardSwitch, Teaming
from harness.sim.vcenter import VcsimProcess, spec_from_lab
from harness.sim.vcenter.provision import provision
from tests.conftest import ROOT, SIM_LAB
from tests.vcenter.tasks import wait_for_task

CLIENT = "ansible-12.3.0"
CLIENT_VENV = ROOT / ".cache" / "clients" / CLIENT
PLAYBOOK_BIN = CLIENT_VENV / "bin" / "ansible-playbook"
USER = "lh-ansible"
PASSWORD = "lh-ansible-Passw0rd!"

pytestmark = pytest.mark.skipif(
    not PLAYBOOK_BIN.is_file(),
    reason=f"no {CLIENT} client venv at {CLIENT_VENV}: run ./ci/client-venvs to create it")

# Lab TCP/IP stack names -> vSphere netStackInstanceKey (written out here, not imported from
# the provisioning code, so a wrong mapping there shows up as a difference).
STACKS = {"default": "defaultTcpipStack", "vmotion": "vmotion",
          "provisioning": "vSphereProvisioning", "vxlan": "vxlan"}
# Lab vmknic services Ansible's vmware_vmkernel_info reports (iSCSI port binding and VXLAN are
# no NIC types; VXLAN shows as the stack).
VMK_FLAGS = {"management": "enable_management", "vmotion": "enable_vmotion",
             "vsan": "enable_vsan", "ft": "enable_ft"}
VIRTUALWIRE = re.compile(r"^vxw-dvs-\d+-virtualwire-\d+-sid-(\d+)-(.+)$")


# ---------------------------------------------------------------------------------------------
# running the modules


def playbook(lab: Lab, sim: VcsimProcess) -> list[dict[str, Any]]:
    """One play on localhost running every module; task names key the results."""
    assert lab.vcenter is not None
    conn = {"hostname": sim.host, "port": sim.port, "username": USER, "validate_certs": True}
    cluster = {**conn, "cluster_name": lab.vcenter.cluster}
    each_host = {"loop": sorted(lab.hosts)}
    tasks = [
        {"name": "host facts",
         "community.vmware.vmware_host_facts": {**conn, "esxi_hostname": "{{ item }}"},
         **each_host},
        {"name": "host vnics",
         "community.vmware.vmware_host_facts": {
             **conn, "esxi_hostname": "{{ item }}", "schema": "vsphere",
             "properties": ["config.network.vnic"]},
         **each_host},
        {"name": "vswitches",
         "community.vmware.vmware_vswitch_info": {**cluster, "policies": True}},
        {"name": "port groups",
         "community.vmware.vmware_portgroup_info": {**cluster, "policies": True}},
        {"name": "vmknics", "community.vmware.vmware_vmkernel_info": cluster},
        {"name": "dvs", "community.vmware.vmware_dvswitch_info": conn},
        # show_network_policy/show_mac_learning read defaultPortConfig.macManagementPolicy,
        # which vSphere has only since API 6.7: against a 6.5 vCenter (this lab's, real or
        # simulated) the module fails on None. An Ansible quirk; the VLAN and teaming parts
        # are version-independent.
        {"name": "dvs port groups",
         "community.vmware.vmware_dvs_portgroup_info": {
             **conn, "datacenter": lab.vcenter.datacenter, "show_vlan_info": True,
             "show_network_policy": False, "show_mac_learning": False}},
        {"name": "advanced options", "community.vmware.vmware_host_config_info": cluster},
        {"name": "ntp", "community.vmware.vmware_host_ntp_info": cluster},
        {"name": "services", "community.vmware.vmware_host_service_info": cluster},
    ]
    return [{"name": "community.vmware against lh-vcsim", "hosts": "localhost",
             "gather_facts": False, "tasks": tasks}]


def ansible_env(workdir: Path, sim: VcsimProcess, *, trust: bool = True) -> dict[str, str]:
    """The environment of an Ansible run that writes only below `workdir`.

    TLS: the modules verify (validate_certs=true) with an SSLContext on which community.vmware
    calls load_default_certs(); on Linux that is OpenSSL's default verify paths, which honour
    SSL_CERT_FILE, so pointing it at the simulator's certificate is what makes verification
    pass. REQUESTS_CA_BUNDLE does not: pyVmomi's SOAP stub uses http.client, not requests (it
    matters only to the vSphere Automation REST modules). test_tls_is_verified checks both.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "VMWARE_", "SSL_CERT_", "REQUESTS_CA_"))}
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update({
        "HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"),
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_NOCOLOR": "1",
        "VMWARE_PASSWORD": PASSWORD,  # the modules' documented fallback; kept off argv
        "PATH": f"{CLIENT_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    if trust:
        env["SSL_CERT_FILE"] = str(sim.cert_file)
    return env


def run_playbook(play: list[dict[str, Any]], workdir: Path, env: dict[str, str]
                 ) -> dict[str, dict[str, Any]]:
    """Run `play` with the client venv's ansible-playbook; task name -> localhost's result."""
    workdir.mkdir(parents=True, exist_ok=True)
    # YAML is a superset of JSON: the playbook is written with json.dumps.
    (workdir / "play.yml").write_text(json.dumps(play, indent=1), encoding="utf-8")
    (workdir / "inventory.ini").write_text(
        f"localhost ansible_connection=local "
        f"ansible_python_interpreter={CLIENT_VENV / 'bin' / 'python'}\n", encoding="utf-8")
    result = subprocess.run(
        [str(PLAYBOOK_BIN), "-i", "inventory.ini", "play.yml"], cwd=workdir, env=env,
        capture_output=True, text=True, timeout=300, check=False)
    try:
        out = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"ansible-playbook exit {result.returncode}, no JSON output:\n"
                    f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return {t["task"]["name"]: t["hosts"]["localhost"] for t in out["plays"][0]["tasks"]}


def failures(results: dict[str, dict[str, Any]]) -> list[str]:
    """`task: message` for every failed task (or loop item)."""
    out = []
    for name, res in results.items():
        for item in res.get("results", [res]):
            if item.get("failed"):
                out.append(f"{name} {item.get('item', '')}: {item.get('msg')}".strip())
    return out


def by_item(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A loop task's results by loop item (host name)."""
    return {r["item"]: r for r in res["results"]}


# ---------------------------------------------------------------------------------------------
# comparisons: lab vs what the modules reported, one line per difference


class Diff:
    """Collects `where: what is GOT, the lab says WANT` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def check(self, where: str, got: Any, want: Any) -> None:
        if got != want:
            self.lines.append(f"{where} is {got!r}, the lab says {want!r}")

    def names(self, where: str, got: Any, want: Any) -> None:
        """Compare two name collections as sorted lists (missing and extra both show)."""
        self.check(where, sorted(got), sorted(want))


def _order(team: Teaming, fallback: Teaming, uplinks: list[str]) -> tuple[list[str], list[str]]:
    """Active and standby uplinks: one setting, taken whole from the first layer that sets it."""
    order = team if (team.active is not None or team.standby is not None) else fallback
    standby = list(order.standby or [])
    active = list(order.active) if order.active is not None else [
        u for u in uplinks if u not in standby]
    return active, standby


def _first(default: Any, *values: Any) -> Any:
    return next((v for v in values if v is not None), default)


def host_diff(lab: Lab, r: dict[str, dict[str, Any]]) -> list[str]:
    """vmware_host_facts: every host's version, build, cluster, state and vmk addresses."""
    assert lab.vcenter is not None
    d = Diff()
    facts = {h: res["ansible_facts"] for h, res in by_item(r["host facts"]).items()}
    d.names("hosts with facts", facts, lab.hosts)
    for name, host in lab.hosts.items():
        f = facts.get(name, {})
        d.check(f"{name} version", f.get("ansible_distribution_version"), host.version)
        d.check(f"{name} build", f.get("ansible_distribution_build"), str(host.build))
        d.check(f"{name} cluster", f.get("cluster"), lab.vcenter.cluster)
        d.check(f"{name} connection state", f.get("ansible_host_connection_state"),
                "connected")
        d.names(f"{name} VMkernel interfaces", f.get("ansible_interfaces", []), host.vmknics)
        d.names(f"{name} IPv4 addresses", f.get("ansible_all_ipv4_addresses", []),
                [str(v.ip.ip) for v in host.vmknics.values()])
    return d.lines


def vswitch_diff(lab: Lab, r: dict[str, dict[str, Any]]) -> list[str]:
    """vmware_vswitch_info with policies: uplinks, MTU, teaming and security per vSwitch."""
    d = Diff()
    info = r["vswitches"]["hosts_vswitch_info"]
    d.names("hosts with vSwitches", info, lab.hosts)
    for hname, host in lab.hosts.items():
        got = info.get(hname, {})
        d.names(f"{hname} vSwitches", got, host.standard_switches)
        for sname, sw in host.standard_switches.items():
            if sname in got:
                _vswitch(d, f"{hname} {sname}", got[sname], sw)
    return d.lines


def _vswitch(d: Diff, where: str, got: dict[str, Any], sw: StandardSwitch) -> None:
    team, sec = sw.teaming, sw.security
    active, standby = _order(team, team, sw.uplinks)
    d.names(f"{where} uplinks", got.get("pnics", []), sw.uplinks)
    d.check(f"{where} MTU", got.get("mtu"), sw.mtu)
    d.check(f"{where} active uplinks", got.get("failover_active"), active)
    d.check(f"{where} standby uplinks", got.get("failover_standby"), standby)
    d.check(f"{where} load balancing", got.get("lb"),
            _first("loadbalance_srcid", team.load_balancing))
    d.check(f"{where} failure detection", got.get("failure_detection"),
            "beacon_probing" if team.failure_detection == "beacon_probing"
            else "link_status_only")
    d.check(f"{where} notify switches", got.get("notify"), _first(True, team.notify_switches))
    d.check(f"{where} failback", got.get("failback"), _first(True, team.failback))
    # A standard switch made through the API accepts MAC changes and forged transmits.
    d.check(f"{where} security [promiscuous, MAC changes, forged]", got.get("security"),
            [_first(False, sec.allow_promiscuous), _first(True, sec.mac_changes),
             _first(True, sec.forged_transmits)])


def portgroup_diff(lab: Lab, r: dict[str, dict[str, Any]]) -> list[str]:
    """vmware_portgroup_info with policies: standard port groups, VLANs and overrides."""
    d = Diff()
    info = r["port groups"]["hosts_portgroup_info"]
    d.names("hosts with port groups", info, lab.hosts)
    for hname, host in lab.hosts.items():
        got = {pg["portgroup"]: pg for pg in info.get(hname, [])}
        want = {pg_name: (sname, sw, pg) for sname, sw in host.standard_switches.items()
                for pg_name, pg in sw.port_groups.items()}
        d.names(f"{hname} standard port groups", got, want)
        for pg_name, (sname, sw, pg) in want.items():
            if pg_name in got:
                _portgroup(d, f"{hname} {pg_name}", got[pg_name], sname, sw, pg)
    return d.lines


def _portgroup(d: Diff, where: str, got: dict[str, Any], sname: str, sw: StandardSwitch,
               pg: PortGroup) -> None:
    d.check(f"{where} vSwitch", got.get("vswitch"), sname)
    d.check(f"{where} VLAN", got.get("vlan_id"), pg.vlan)
    sec = pg.security
    d.check(f"{where} security overrides", got.get("security"),
            ["No override" if v is None else v
             for v in (sec.allow_promiscuous, sec.mac_changes, sec.forged_transmits)])
    if pg.teaming.active is None and pg.teaming.standby is None:
        active: Any = "No override"
        standby: Any = "No override"
    else:
        active, standby = _order(pg.teaming, pg.teaming, sw.uplinks)
    d.check(f"{where} active uplinks", got.get("failover_active"), active)
    d.check(f"{where} standby uplinks", got.get("failover_standby"), standby)


def vmknic_diff(lab: Lab, r: dict[str, dict[str, Any]]) -> list[str]:
    """vmware_vmkernel_info and the vnics' port connections: address, MTU, stack, services and
    port group (a DVS-backed vmknic names its DV port group by key, resolved through
    vmware_dvs_portgroup_info)."""
    d = Diff()
    info = r["vmknics"]["host_vmk_info"]
    dvpg_names = {pg["key"]: pg["portgroup_name"]
                  for pgs in r["dvs port groups"]["dvs_portgroup_info"].values() for pg in pgs}
    vnics = {h: res["ansible_facts"]["config"]["network"]["vnic"]
             for h, res in by_item(r["host vnics"]).items()}
    d.names("hosts with vmknics", info, lab.hosts)
    for hname, host in lab.hosts.items():
        got = {v["device"]: v for v in info.get(hname, [])}
        port_group: dict[str, str] = {}
        for vnic in vnics.get(hname, []):
            name = vnic["portgroup"]
            dvport = vnic["spec"]["distributedVirtualPort"]
            if not name and dvport:
                key = dvport["portgroupKey"]
                name = dvpg_names.get(key, f"<unknown DV port group {key}>")
            port_group[vnic["device"]] = name
        d.names(f"{hname} vmknics", got, host.vmknics)
        for vname, vmk in host.vmknics.items():
            g = got.get(vname)
            if g is None:
                continue
            where = f"{hname} {vname}"
            d.check(f"{where} IPv4 address", g["ipv4_address"], str(vmk.ip.ip))
            d.check(f"{where} subnet mask", g["ipv4_subnet_mask"], str(vmk.ip.netmask))
            d.check(f"{where} DHCP", g["dhcp"], False)
            d.check(f"{where} MTU", g["mtu"], vmk.mtu)
            d.check(f"{where} TCP/IP stack", g["stack"], STACKS[vmk.tcpip_stack])
            d.check(f"{where} port group", port_group.get(vname), vmk.port_group)
            for service, flag in VMK_FLAGS.items():
                d.check(f"{where} {flag}", g[flag], service in vmk.services)
    return d.lines


def dvs_diff(lab: Lab, r: dict[str, dict[str, Any]]) -> list[str]:
    """vmware_dvswitch_info: members, uplinks, MTU, discovery protocol, version."""
    d = Diff()
    got = {s["configure"]["name"]: s["configure"]
           for s in r["dvs"]["distributed_virtual_switches"]}
    d.names("distributed switches", got, lab.distributed_switches)
    for dname, dvs in lab.distributed_switches.items():
        c = got.get(dname)
        if c is None:
            continue
        props = c["settings"]["properties"]
        d.names(f"{dname} member hosts", c["hosts"], dvs.hosts)
        d.check(f"{dname} uplink count", props["general"]["numUplinks"], len(dvs.uplinks))
        d.check(f"{dname} max MTU", props["advanced"]["maxMtu"], dvs.mtu)
        if dvs.discovery != "none":
            d.check(f"{dname} discovery protocol", props["discoveryProtocol"]["protocol"],
                    dvs.discovery)
        if dvs.version:
            d.check(f"{dname} version", props["general"]["version"], dvs.version)
    return d.lines


def dv_portgroup_diff(lab: Lab, r: dict[str, dict[str, Any]]) -> list[str]:
    """vmware_dvs_portgroup_info: the lab's DV port groups (VLAN, uplink order, teaming) and
    one NSX virtualwire port group per logical switch."""
    d = Diff()
    info = r["dvs port groups"]["dvs_portgroup_info"]
    d.names("switches with DV port groups", info, lab.distributed_switches)
    segments = dict(lab.nsx.segments) if lab.nsx else {}
    wires: list[str] = []
    for dname, dvs in lab.distributed_switches.items():
        got: dict[str, dict[str, Any]] = {}
        for pg in info.get(dname, []):
            name = pg["portgroup_name"]
            wire = VIRTUALWIRE.match(name)
            if wire:
                seg = segments.get(wire.group(2))
                if seg is None or seg.vni != int(wire.group(1)):
                    d.lines.append(f"{dname} has virtualwire {name} for no lab segment")
                wires.append(wire.group(2))
            elif not name.startswith(f"{dname}-DVUplinks"):
                got[name] = pg
        d.names(f"{dname} port groups", got, dvs.port_groups)
        for pg_name, pg in dvs.port_groups.items():
            g = got.get(pg_name)
            if g is None:
                continue
            where = f"{dname} {pg_name}"
            active, standby = _order(pg.teaming, dvs.teaming, dvs.uplinks)
            d.check(f"{where} VLAN", _vlan(g["vlan_info"]), str(pg.vlan))
            d.check(f"{where} active uplinks", g["active_uplinks"], active)
            d.check(f"{where} standby uplinks", g["standby_uplinks"], standby)
            team = g["teaming_policy"]
            d.check(f"{where} load balancing", team["policy"], _first(
                "loadbalance_srcid", pg.teaming.load_balancing, dvs.teaming.load_balancing))
            d.check(f"{where} notify switches", team["notify_switches"], _first(
                True, pg.teaming.notify_switches, dvs.teaming.notify_switches))
    d.check("NSX logical switch port groups", sorted(wires), sorted(segments))
    return d.lines


def _vlan(info: dict[str, Any]) -> str:
    """vmware_dvs_portgroup_info's vlan_info as one string: '40', 'trunk 0-4094', 'pvlan 7'."""
    if info.get("trunk"):
        return "trunk " + ",".join(info["vlan_id"])
    if info.get("pvlan"):
        return f"pvlan {info['vlan_id']}"
    return str(info.get("vlan_id"))


def host_settings_diff(lab: Lab, r: dict[str, dict[str, Any]]) -> list[str]:
    """NTP servers, ntpd running with policy on, advanced options."""
    d = Diff()
    ntp = r["ntp"]["hosts_ntp_info"]
    services = r["services"]["host_service_info"]
    options = r["advanced options"]["hosts_info"]
    for what, got in (("NTP", ntp), ("services", services), ("advanced options", options)):
        d.names(f"hosts with {what}", got, lab.hosts)
    for hname, host in lab.hosts.items():
        servers = host.ntp_servers if host.ntp_servers is not None else lab.ntp.servers
        d.check(f"{hname} NTP servers",
                [s for entry in ntp.get(hname, []) for s in entry["ntp_servers"]], servers)
        ntpd = [s for s in services.get(hname, []) if s["key"] == "ntpd"]
        d.check(f"{hname} ntpd (running, policy)",
                [(s["running"], s["policy"]) for s in ntpd], [(True, "on")])
        for key, value in host.advanced_options.items():
            d.check(f"{hname} {key}", options.get(hname, {}).get(key), value)
    return d.lines


COMPARISONS: list[Callable[[Lab, dict[str, dict[str, Any]]], list[str]]] = [
    host_diff, vswitch_diff, portgroup_diff, vmknic_diff, dvs_diff, dv_portgroup_diff,
    host_settings_diff]


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def lab() -> Lab:
    return load_lab(SIM_LAB)


def start_provisioned(binary: Path, lab: Lab, workdir: Path) -> tuple[VcsimProcess, Any]:
    """lh-vcsim for the lab on 127.0.0.1 (free port), provisioned; and a pyVmomi session."""
    sim = VcsimProcess.start(spec_from_lab(lab), "127.0.0.1:0", USER, PASSWORD,
                             workdir=workdir, binary=binary, timeout=30)
    try:
        si = SmartConnect(host=sim.host, port=sim.port, user=USER, pwd=PASSWORD,
                          sslContext=sim.ssl_context())
        with sim.connect(USER, Secret("plain:", PASSWORD)) as conn:
            provision(conn, lab)
    except BaseException:
        sim.stop()
        raise
    return sim, si


@pytest.fixture(scope="module")
def healthy(vcsim_binary: Path, lab: Lab, tmp_path_factory: pytest.TempPathFactory,
            ) -> Iterator[tuple[VcsimProcess, dict[str, dict[str, Any]]]]:
    """The provisioned simulator and what every module reported about it."""
    tmp = tmp_path_factory.mktemp("ansible-healthy")
    sim, si = start_provisioned(vcsim_binary, lab, tmp / "vcsim")
    try:
        Disconnect(si)
        work = tmp / "ansible"
        results = run_playbook(playbook(lab, sim), work, ansible_env(work, sim))
        yield sim, results
    finally:
        sim.stop()
        assert not sim.running


@pytest.fixture(scope="module")
def reported(healthy: tuple[VcsimProcess, dict[str, dict[str, Any]]]
             ) -> dict[str, dict[str, Any]]:
    return healthy[1]


# ---------------------------------------------------------------------------------------------
# the healthy lab: every module runs and reports exactly the lab


def test_every_module_runs_against_the_simulator(
        healthy: tuple[VcsimProcess, dict[str, dict[str, Any]]], lab: Lab) -> None:
    sim, reported = healthy
    assert failures(reported) == []
    assert list(reported) == [t["name"] for t in playbook(lab, sim)[0]["tasks"]]


@pytest.mark.parametrize("compare", COMPARISONS, ids=lambda f: f.__name__)
def test_reports_match_the_lab(compare: Callable[[Lab, dict[str, dict[str, Any]]], list[str]],
                               lab: Lab, reported: dict[str, dict[str, Any]]) -> None:
    assert compare(lab, reported) == []


def test_reports_carry_the_lab_values(lab: Lab, reported: dict[str, dict[str, Any]]) -> None:
    """Spot checks in the modules' own terms, so an empty comparison cannot hide empty output."""
    esx01 = by_item(reported["host facts"])["esx01"]["ansible_facts"]
    assert esx01["ansible_vmk0"]["ipv4"] == {"address": "198.18.10.11",
                                             "netmask": "255.255.255.0"}
    assert esx01["vsan_health"] == "unknown"
    vsw = reported["vswitches"]["hosts_vswitch_info"]["esx02"]["vSwitch0"]
    assert (vsw["pnics"], vsw["failover_active"], vsw["failover_standby"]) == (
        ["vmnic0", "vmnic6"], ["vmnic0"], ["vmnic6"])
    mgmt = reported["port groups"]["hosts_portgroup_info"]["esx03"]
    assert [(p["portgroup"], p["vlan_id"]) for p in mgmt] == [("Management Network", 10)]
    vmk1 = reported["vmknics"]["host_vmk_info"]["esx03"][1]
    assert (vmk1["device"], vmk1["mtu"], vmk1["enable_vmotion"]) == ("vmk1", 9000, True)
    dvs = reported["dvs"]["distributed_virtual_switches"][0]["configure"]
    assert (dvs["name"], sorted(dvs["hosts"])) == ("dvs-lab", ["esx01", "esx02", "esx03"])
    assert reported["ntp"]["hosts_ntp_info"]["esx02"][0]["ntp_servers"] == ["198.18.10.1"]
    assert reported["advanced options"]["hosts_info"]["esx03"]["Mem.ShareForceSalting"] == 2


# ---------------------------------------------------------------------------------------------
# faults made through pyVmomi show up as exactly their own differences


def _host(si: Any, name: str) -> Any:
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    try:
        return next(h for h in view.view if h.name == name)
    finally:
        view.Destroy()


def _dvs(si: Any, name: str) -> Any:
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(
        content.rootFolder, [vim.DistributedVirtualSwitch], True)
    try:
        return next(d for d in view.view if d.name == name)
    finally:
        view.Destroy()


def inject_faults(si: Any) -> list[str]:
    """Break one thing per comparison; return the difference lines each must cause."""
    esx01, esx02, esx03 = (_host(si, h) for h in ("esx01", "esx02", "esx03"))
    dvs = _dvs(si, "dvs-lab")
    pgs = {pg.name: pg for pg in dvs.portgroup}

    # esx03 vmk4 (VTEP) readdressed: host facts and vmkernel info both see it.
    esx03.configManager.networkSystem.UpdateVirtualNic("vmk4", vim.host.VirtualNic.Specification(
        ip=vim.host.IpConfig(dhcp=False, ipAddress="198.18.50.113",
                             subnetMask="255.255.255.0")))
    # esx01 vmk1 (vMotion) MTU back to 1500; esx02 vmk1 loses its vMotion tag.
    esx01.configManager.networkSystem.UpdateVirtualNic(
        "vmk1", vim.host.VirtualNic.Specification(mtu=1500))
    esx02.configManager.virtualNicManager.DeselectVnicForNicType("vmotion", "vmk1")
    # esx01 vmk3 moved from dvpg-iscsi-b to dvpg-iscsi-a.
    esx01.configManager.networkSystem.UpdateVirtualNic("vmk3", vim.host.VirtualNic.Specification(
        distributedVirtualPort=vim.dvs.PortConnection(
            switchUuid=dvs.uuid, portgroupKey=pgs["dvpg-iscsi-a"].key)))
    # esx03 vSwitch0 MTU 9000 (the full spec, as ESXi wants it).
    ns3 = esx03.configManager.networkSystem
    vs0 = next(v for v in ns3.networkInfo.vswitch if v.name == "vSwitch0")
    spec = vs0.spec
    spec.mtu = 9000
    ns3.UpdateVirtualSwitch("vSwitch0", spec)
    # esx02 gets a port group the lab does not have.
    esx02.configManager.networkSystem.AddPortGroup(vim.host.PortGroup.Specification(
        name="Rogue", vlanId=99, vswitchName="vSwitch0", policy=vim.host.NetworkPolicy()))
    # dvs-lab: max MTU 1600; dvpg-vm to VLAN 41.
    wait_for_task(dvs.ReconfigureDvs_Task(vim.dvs.VmwareDistributedVirtualSwitch.ConfigSpec(
        configVersion=dvs.config.configVersion, maxMtu=1600)))
    vm_pg = pgs["dvpg-vm"]
    wait_for_task(vm_pg.ReconfigureDVPortgroup_Task(vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
        configVersion=vm_pg.config.configVersion,
        defaultPortConfig=vim.dvs.VmwareDistributedVirtualSwitch.VmwarePortConfigPolicy(
            vlan=vim.dvs.VmwareDistributedVirtualSwitch.VlanIdSpec(vlanId=41, inherited=False)))))
    # esx02 NTP server changed; ntpd stopped on esx03; esx01 salting off.
    esx02.configManager.dateTimeSystem.UpdateDateTimeConfig(vim.host.DateTimeConfig(
        ntpConfig=vim.host.NtpConfig(server=["198.18.10.99"])))
    esx03.configManager.serviceSystem.StopService("ntpd")
    esx01.configManager.advancedOption.UpdateOptions(
        [vim.option.OptionValue(key="Mem.ShareForceSalting", value=0)])

    return [
        # host_diff
        "esx03 IPv4 addresses is ['198.18.10.13', '198.18.20.13', '198.18.30.13', "
        "'198.18.30.23', '198.18.50.113'], the lab says ['198.18.10.13', '198.18.20.13', "
        "'198.18.30.13', '198.18.30.23', '198.18.50.13']",
        # vswitch_diff
        "esx03 vSwitch0 MTU is 9000, the lab says 1500",
        # portgroup_diff
        "esx02 standard port groups is ['Management Network', 'Rogue'], "
        "the lab says ['Management Network']",
        # vmknic_diff
        "esx01 vmk1 MTU is 1500, the lab says 9000",
        "esx01 vmk3 port group is 'dvpg-iscsi-a', the lab says 'dvpg-iscsi-b'",
        "esx02 vmk1 enable_vmotion is False, the lab says True",
        "esx03 vmk4 IPv4 address is '198.18.50.113', the lab says '198.18.50.13'",
        # dvs_diff
        "dvs-lab max MTU is 1600, the lab says 9000",
        # dv_portgroup_diff
        "dvs-lab dvpg-vm VLAN is '41', the lab says '40'",
        # host_settings_diff
        "esx01 Mem.ShareForceSalting is 0, the lab says 2",
        "esx02 NTP servers is ['198.18.10.99'], the lab says ['198.18.10.1']",
        "esx03 ntpd (running, policy) is [(False, 'on')], the lab says [(True, 'on')]",
    ]


def test_faults_show_as_exactly_their_differences(vcsim_binary: Path, lab: Lab,
                                                  tmp_path: Path) -> None:
    sim, si = start_provisioned(vcsim_binary, lab, tmp_path / "vcsim")
    try:
        expected = inject_faults(si)
        Disconnect(si)
        work = tmp_path / "ansible"
        results = run_playbook(playbook(lab, sim), work, ansible_env(work, sim))
    finally:
        sim.stop()
    assert failures(results) == []
    found = sorted(line for compare in COMPARISONS for line in compare(lab, results))
    assert found == sorted(expected)


# ---------------------------------------------------------------------------------------------
# TLS is verified, and trusted only through SSL_CERT_FILE


def test_tls_is_verified(healthy: tuple[VcsimProcess, dict[str, dict[str, Any]]], lab: Lab,
                         tmp_path: Path) -> None:
    sim = healthy[0]
    assert lab.vcenter is not None
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "ntp", "community.vmware.vmware_host_ntp_info": {
            "hostname": sim.host, "port": sim.port, "username": USER, "validate_certs": True,
            "cluster_name": lab.vcenter.cluster}}]}]
    untrusted = ansible_env(tmp_path, sim, trust=False)
    results = run_playbook(play, tmp_path / "untrusted", untrusted)
    assert "CERTIFICATE_VERIFY_FAILED" in str(results["ntp"].get("msg")), results["ntp"]
    # requests' CA bundle variable does not reach pyVmomi's http.client connection.
    results = run_playbook(play, tmp_path / "requests-bundle",
                           {**untrusted, "REQUESTS_CA_BUNDLE": str(sim.cert_file)})
    assert "CERTIFICATE_VERIFY_FAILED" in str(results["ntp"].get("msg")), results["ntp"]
    results = run_playbook(play, tmp_path / "trusted", ansible_env(tmp_path, sim))
    assert failures(results) == []
    assert set(results["ntp"]["hosts_ntp_info"]) == set(lab.hosts)
