"""`labharness probes plan|deploy|remove` against lh-vcsim provisioned from labs/sim.yaml.

Each test gets a fresh simulator built the way a nested lab is built (the provisioner), a
template VM made through pyVmomi, and an inventory that reaches the simulator as a real vCenter
(TLS pinned, password from a file). The commands run as users run them (a subprocess), and
everything they did is read back through pyVmomi in one PropertyCollector call: what deploy
created must be exactly what the plan listed, configured as a probe needs, and remove must
restore vCenter to its state before deploy, leaving what existed before untouched.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from harness.lab.inventory import Secret
from harness.lab.loader import load_lab
from harness.lab.model import Lab
from harness.procedures.probevms import journal
from harness.sim.vcenter import VcsimProcess
from harness.sim.vcenter.build import vcenter_build
from harness.sim.vcenter.provision import provision
from tests.conftest import SIM_LAB, LabWriter, dump_yaml
from tests.test_cli import labharness
from tests.vcenter.conftest import PASSWORD, USER
from tests.vcenter.tasks import wait_for_task
from tests.vcenter.test_provision import read_vcenter

HOSTS = ("esx01", "esx02", "esx03")
TEMPLATE = "probe-template"
MGMT = "VM Network"  # the VM port group on vSwitch0 a stock ESXi install has
# per host, in NIC order after the management NIC: vSwitch0's trunk and its two uplinks,
# then dvs-lab's trunk and its three uplinks
PROBE_NETWORKS = ["lh-probe-trunk-vSwitch0", "lh-probe-vSwitch0-vmnic0",
                  "lh-probe-vSwitch0-vmnic6", "lh-probe-trunk-dvs-lab",
                  "lh-probe-dvs-lab-uplink1", "lh-probe-dvs-lab-uplink2",
                  "lh-probe-dvs-lab-uplink3"]
DVPGS = [n for n in PROBE_NETWORKS if "dvs-lab" in n]
STANDARD = [n for n in PROBE_NETWORKS if "vSwitch0" in n]


@dataclass
class LabVcenter:
    si: Any
    inventory: Path
    journal: Path
    proc: VcsimProcess


@pytest.fixture(scope="module")
def sim_lab() -> Lab:
    return load_lab(SIM_LAB)


@pytest.fixture
def lab_vcenter(vcsim_binary: Path, sim_lab: Lab, tmp_path: Path) -> Iterator[LabVcenter]:
    """lh-vcsim provisioned from the sim lab, a VM port group on each host's vSwitch0 for the
    probe VMs' management NIC, a template VM on esx01 (one NIC, on it), and an inventory that
    reaches the simulator as a real lab's vCenter."""
    build = vcenter_build(sim_lab)
    with tempfile.TemporaryDirectory(prefix="lh-probevms-") as tmp, VcsimProcess.start(
            build.spec, "127.0.0.1:0", USER, PASSWORD, workdir=Path(tmp), binary=vcsim_binary,
            timeout=30) as proc:
        conn = proc.connect(USER, Secret("plain:", PASSWORD))
        try:
            provision(conn, build.lab)
        finally:
            conn.close()
        si = SmartConnect(host=proc.host, port=proc.port, user=USER, pwd=PASSWORD,
                          sslContext=proc.ssl_context())
        try:
            for host in HOSTS:
                _find(si, vim.HostSystem, host).configManager.networkSystem.AddPortGroup(
                    vim.host.PortGroup.Specification(name=MGMT, vlanId=10, vswitchName="vSwitch0",
                                                     policy=vim.host.NetworkPolicy()))
            _make_vm(si, TEMPLATE, "esx01", template=True)
            (tmp_path / "vc-password").write_text(PASSWORD + "\n")
            inventory = tmp_path / "site.yaml"
            inventory.write_text(dump_yaml({
                "name": "nested", "lab": "sim", "backend": "real",
                "vcenter": {"url": f"https://{proc.host}:{proc.port}/sdk", "username": USER,
                            "password": "file:vc-password", "ca_file": str(proc.cert_file)}}))
            yield LabVcenter(si, inventory, tmp_path / ".labharness" / "probes-sim.json", proc)
        finally:
            Disconnect(si)


def _find(si: Any, vim_type: Any, name: str) -> Any:
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim_type], True)
    try:
        return next((o for o in view.view if o.name == name), None)
    finally:
        view.Destroy()


def _make_vm(si: Any, name: str, host: str, *, template: bool = False) -> Any:
    """A small VM with one vmxnet3 NIC on the management network, as a user would make one."""
    content = si.RetrieveContent()
    dc = content.rootFolder.childEntity[0]
    h = _find(si, vim.HostSystem, host)
    network = next(n for n in h.network if n.name == MGMT)
    nic = vim.vm.device.VirtualDeviceSpec(operation="add", device=vim.vm.device.VirtualVmxnet3(
        key=-1, addressType="generated",
        backing=vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName=MGMT,
                                                                     network=network)))
    config = vim.vm.ConfigSpec(name=name, guestId="debian12_64Guest", numCPUs=1, memoryMB=512,
                               files=vim.vm.FileInfo(vmPathName=f"[{h.datastore[0].name}]"),
                               deviceChange=[nic])
    task = dc.vmFolder.CreateVM_Task(config=config, pool=h.parent.resourcePool, host=h)
    vm = wait_for_task(task)
    if template:
        vm.MarkAsTemplate()
    return vm


def probes(cmd: str, lv: LabVcenter, *extra: str, lab: Path = SIM_LAB
           ) -> subprocess.CompletedProcess[str]:
    return labharness("probes", cmd, "--lab", str(lab), "--inventory", str(lv.inventory),
                      *extra)


CLONE = ("--template", TEMPLATE, "--management-network", MGMT)

# ---------------------------------------------------------------------------------------------
# reading vCenter back


READ = {
    vim.HostSystem: ["name", "config.network.portgroup", "config.network.vswitch", "network"],
    vim.dvs.DistributedVirtualPortgroup: ["name", "key", "config"],
    vim.Network: ["name", "host"],
    vim.VirtualMachine: ["name", "runtime.host", "runtime.powerState", "config.template",
                         "config.hardware.device"],
}


def read(si: Any) -> dict[str, Any]:
    """Everything probes deploy could touch, in one RetrievePropertiesEx, as plain data."""
    objects, _calls = read_vcenter(si, READ)
    names = {str(o._moId): p["name"] for o, p in objects}
    dvpg_names = {p["key"]: p["name"] for o, p in objects
                  if isinstance(o, vim.dvs.DistributedVirtualPortgroup)}
    state: dict[str, Any] = {"hosts": {}, "dvpgs": {}, "networks": {}, "vms": {}}
    for obj, p in objects:
        if isinstance(obj, vim.HostSystem):
            state["hosts"][p["name"]] = {
                "port_groups": {pg.spec.name: _pg(pg) for pg in p["config.network.portgroup"]},
                "vswitches": {vs.name: sorted(vs.portgroup or []) for vs in
                              p["config.network.vswitch"]},
                "networks": sorted(names.get(str(n._moId), str(n._moId))
                                   for n in p.get("network") or [])}
        elif isinstance(obj, vim.dvs.DistributedVirtualPortgroup):
            state["dvpgs"][p["name"]] = _dvpg(p["config"])
        elif isinstance(obj, vim.Network):
            state["networks"][p["name"]] = sorted(names[str(h._moId)] for h in p.get("host") or [])
        elif isinstance(obj, vim.VirtualMachine):
            nics = [d for d in p.get("config.hardware.device") or []
                    if isinstance(d, vim.vm.device.VirtualEthernetCard)]
            state["vms"][p["name"]] = {
                "host": names.get(str(p["runtime.host"]._moId)) if p.get("runtime.host") else None,
                "power": str(p["runtime.powerState"]), "template": bool(p["config.template"]),
                "nics": [(d.key, _nic_network(d, dvpg_names), d.macAddress)
                         for d in sorted(nics, key=lambda d: d.key)]}
    return state


def _nic_network(d: Any, dvpg_names: dict[str, str]) -> str:
    port = getattr(d.backing, "port", None)
    return dvpg_names.get(port.portgroupKey, "?") if port else d.backing.deviceName


def _pg(pg: Any) -> dict[str, Any]:
    sec, team = pg.computedPolicy.security, pg.computedPolicy.nicTeaming
    return {"vswitch": pg.spec.vswitchName, "vlan": pg.spec.vlanId,
            "security": (sec.allowPromiscuous, sec.macChanges, sec.forgedTransmits),
            "policy": team.policy,
            "order": (list(team.nicOrder.activeNic or []), list(team.nicOrder.standbyNic or []))}


def _dvpg(config: Any) -> dict[str, Any]:
    setting = config.defaultPortConfig
    vlan = setting.vlan
    ranges = ([(r.start, r.end) for r in vlan.vlanId] if isinstance(
        vlan, vim.dvs.VmwareDistributedVirtualSwitch.TrunkVlanSpec) else vlan.vlanId)
    sec = setting.securityPolicy
    team = setting.uplinkTeamingPolicy
    order = team.uplinkPortOrder if team else None
    return {
        "vlan": ranges,
        "security": tuple(None if x is None else x.value for x in (
            sec.allowPromiscuous, sec.macChanges, sec.forgedTransmits)) if sec else None,
        "order": (list(order.activeUplinkPort or []), list(order.standbyUplinkPort or []))
        if order else None}


# ---------------------------------------------------------------------------------------------
# the tests


def test_plan_on_a_fresh_lab_lists_everything(lab_vcenter: LabVcenter) -> None:
    before = read(lab_vcenter.si)
    result = probes("plan", lab_vcenter, *CLONE)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "16 change(s)" in out  # 3 hosts x 3 standard port groups, 4 DV port groups, 3 VMs
    for name in PROBE_NETWORKS:
        assert name in out
    for host in HOSTS:
        assert f"lh-probe-{host}" in out
        assert f"  {host}:" in out  # the inventory entry to add
    assert "problem" not in out
    assert read(lab_vcenter.si) == before  # plan only reads
    assert not lab_vcenter.journal.exists()


def test_plan_says_what_is_missing(lab_vcenter: LabVcenter) -> None:
    result = probes("plan", lab_vcenter)
    assert result.returncode == 1
    assert "no probe VM: name a template to clone (--template)" in result.stdout
    result = probes("plan", lab_vcenter, "--template", "no-such-template",
                    "--management-network", "no-such-network")
    assert result.returncode == 1
    assert "--template no-such-template: vCenter has no VM or template named" in result.stdout
    assert "management network 'no-such-network' is not available on the host" in result.stdout


def test_deploy_creates_exactly_the_plan_and_remove_restores_vcenter(
        lab_vcenter: LabVcenter) -> None:
    si = lab_vcenter.si
    # the user's own probe VM on esx03, and a port group named like ours on esx02 that fits
    _make_vm(si, "my-probe", "esx03")
    ns = _find(si, vim.HostSystem, "esx02").configManager.networkSystem
    sec = vim.host.NetworkPolicy.SecurityPolicy(allowPromiscuous=True, macChanges=True,
                                                forgedTransmits=True)
    ns.AddPortGroup(vim.host.PortGroup.Specification(
        name="lh-probe-trunk-vSwitch0", vlanId=4095, vswitchName="vSwitch0",
        policy=vim.host.NetworkPolicy(security=sec)))
    before = read(si)
    attach = ("--attach", "esx03=my-probe")

    plan = probes("plan", lab_vcenter, *CLONE, *attach)
    assert plan.returncode == 0, plan.stdout
    assert "exists (kept, never removed)" in plan.stdout
    deploy = probes("deploy", lab_vcenter, *CLONE, *attach, "--allow-disruptive")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    after = read(si)

    # exactly the planned objects, configured as probes need
    for host in HOSTS:
        pgs = after["hosts"][host]["port_groups"]
        new = sorted(set(pgs) - set(before["hosts"][host]["port_groups"]))
        assert new == sorted(STANDARD if host != "esx02" else STANDARD[1:]), host
        trunk = pgs["lh-probe-trunk-vSwitch0"]
        assert (trunk["vlan"], trunk["security"]) == (4095, (True, True, True))
        for vmnic in ("vmnic0", "vmnic6"):
            pinned = pgs[f"lh-probe-vSwitch0-{vmnic}"]
            assert (pinned["vlan"], pinned["security"], pinned["policy"], pinned["order"]) == (
                4095, (True, True, True), "failover_explicit", ([vmnic], []))
    assert sorted(set(after["dvpgs"]) - set(before["dvpgs"])) == sorted(DVPGS)
    assert after["dvpgs"]["lh-probe-trunk-dvs-lab"]["vlan"] == [(0, 4094)]
    for name in DVPGS:
        assert after["dvpgs"][name]["security"] == (True, True, True), name
    for uplink in ("uplink1", "uplink2", "uplink3"):
        assert after["dvpgs"][f"lh-probe-dvs-lab-{uplink}"]["order"] == ([uplink], [])
    assert sorted(set(after["vms"]) - set(before["vms"])) == ["lh-probe-esx01", "lh-probe-esx02"]
    for host in ("esx01", "esx02"):
        vm = after["vms"][f"lh-probe-{host}"]
        assert (vm["host"], vm["power"], vm["template"]) == (host, "poweredOn", False)
        assert [n for _k, n, _m in vm["nics"]] == [MGMT, *PROBE_NETWORKS]
        assert all(mac for _k, _n, mac in vm["nics"])
        assert all(mac.lower() in deploy.stdout for _k, _n, mac in vm["nics"][1:])
    mine = after["vms"]["my-probe"]
    assert [n for _k, n, _m in mine["nics"]] == [MGMT, *PROBE_NETWORKS]
    assert after["vms"][TEMPLATE] == before["vms"][TEMPLATE]

    journal = json.loads(lab_vcenter.journal.read_text())
    assert journal["lab"] == "sim"
    assert {e["state"] for e in journal["entries"]} == {"done"}
    assert sorted(e["kind"] for e in journal["entries"]).count("nic") == len(PROBE_NETWORKS)

    again = probes("plan", lab_vcenter, *CLONE, *attach)
    assert again.returncode == 0, again.stdout
    assert "nothing to do" in again.stdout and "0 change(s)" in again.stdout
    redeploy = probes("deploy", lab_vcenter, *CLONE, *attach, "--allow-disruptive")
    assert redeploy.returncode == 0 and "nothing to do" in redeploy.stdout
    assert read(si) == after

    remove = probes("remove", lab_vcenter, "--allow-disruptive")
    assert remove.returncode == 0, remove.stdout + remove.stderr
    assert read(si) == before  # the port group that was there before is still there
    assert not lab_vcenter.journal.exists()
    twice = probes("remove", lab_vcenter, "--allow-disruptive")
    assert twice.returncode == 0 and "nothing to remove" in twice.stdout


def test_remove_stops_at_a_failure_and_a_rerun_finishes(lab_vcenter: LabVcenter) -> None:
    si = lab_vcenter.si
    before = read(si)
    assert probes("deploy", lab_vcenter, *CLONE, "--allow-disruptive").returncode == 0
    entries = len(json.loads(lab_vcenter.journal.read_text())["entries"])
    # someone put a VMkernel NIC on our trunk on esx01: ESXi refuses to remove that port group
    ns = _find(si, vim.HostSystem, "esx01").configManager.networkSystem
    vmk = ns.AddVirtualNic("lh-probe-trunk-vSwitch0", vim.host.VirtualNic.Specification(
        ip=vim.host.IpConfig(dhcp=False, ipAddress="198.18.10.250", subnetMask="255.255.255.0")))
    failed = probes("remove", lab_vcenter, "--allow-disruptive")
    assert failed.returncode == 1
    assert "removing port group lh-probe-trunk-vSwitch0 on esx01/vSwitch0 failed" in (
        failed.stderr)
    left = json.loads(lab_vcenter.journal.read_text())["entries"]
    assert 0 < len(left) < entries
    assert left[-1]["name"] == "lh-probe-trunk-vSwitch0" and left[-1]["host"] == "esx01"
    ns.RemoveVirtualNic(vmk)
    finished = probes("remove", lab_vcenter, "--allow-disruptive")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert read(si) == before


def test_a_pending_entry_is_undone_by_name(lab_vcenter: LabVcenter) -> None:
    """A deploy killed between a change and its `done` record leaves a pending entry; remove
    still finds and removes that object."""
    si = lab_vcenter.si
    before = read(si)
    assert probes("deploy", lab_vcenter, *CLONE, "--host", "esx01",
                  "--allow-disruptive").returncode == 0
    journal = json.loads(lab_vcenter.journal.read_text())
    for e in journal["entries"]:
        if e["kind"] in ("vm", "dv_port_group"):
            e["state"], e["moref"] = "pending", None
    lab_vcenter.journal.write_text(json.dumps(journal))
    assert probes("remove", lab_vcenter, "--allow-disruptive").returncode == 0
    assert read(si) == before


def test_deploy_and_remove_are_refused_without_allow_disruptive(
        lab_vcenter: LabVcenter, faulty_lab: LabWriter) -> None:
    before = read(lab_vcenter.si)
    refused = probes("deploy", lab_vcenter, *CLONE)
    assert refused.returncode == 2
    assert "pass --allow-disruptive" in refused.stderr and "Nothing was changed" in (
        refused.stderr)
    careful = faulty_lab(lambda d: d.update(disruptive_allowed=False))
    refused = probes("deploy", lab_vcenter, *CLONE, "--allow-disruptive", lab=careful)
    assert refused.returncode == 2 and "disruptive_allowed: false" in refused.stderr
    assert probes("remove", lab_vcenter).returncode == 2
    assert read(lab_vcenter.si) == before
    assert not lab_vcenter.journal.exists()


def test_deploy_is_refused_when_the_plan_has_problems(lab_vcenter: LabVcenter) -> None:
    ns = _find(lab_vcenter.si, vim.HostSystem, "esx02").configManager.networkSystem
    ns.AddPortGroup(vim.host.PortGroup.Specification(
        name="lh-probe-vSwitch0-vmnic0", vlanId=10, vswitchName="vSwitch0",
        policy=vim.host.NetworkPolicy()))
    before = read(lab_vcenter.si)
    result = probes("deploy", lab_vcenter, *CLONE, "--allow-disruptive")
    assert result.returncode == 1
    assert ("esx02: port group lh-probe-vSwitch0-vmnic0 exists (not created by labharness) but "
            "does not fit a probe: VLAN 10, not 4095") in result.stdout
    assert "nothing was changed" in result.stdout
    assert read(lab_vcenter.si) == before


def test_a_journal_for_another_lab_or_a_corrupted_one_is_a_clear_error(
        lab_vcenter: LabVcenter) -> None:
    path = lab_vcenter.journal
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 1, "lab": "site-a", "vcenter": "vc:443",
                                "entries": []}))
    other = probes("plan", lab_vcenter, *CLONE)
    assert other.returncode == 2
    assert f"{path}: this probe journal is for lab 'site-a', not 'sim'" in other.stderr
    path.write_text('{"version": 1, "lab": "sim", "entries": [')
    corrupt = probes("remove", lab_vcenter, "--allow-disruptive")
    assert corrupt.returncode == 2
    assert f"{path}:1:" in corrupt.stderr and "not valid JSON" in corrupt.stderr
    path.write_text(json.dumps({"version": 1, "lab": "sim", "vcenter": "vc:443",
                                "entries": [{"kind": "vm", "state": "done"}]}))
    invalid = probes("remove", lab_vcenter, "--allow-disruptive")
    assert invalid.returncode == 2
    assert "not a labharness probe journal" in invalid.stderr and "entries.0.vm.host" in (
        invalid.stderr)



def test_one_deploy_or_remove_at_a_time(lab_vcenter: LabVcenter) -> None:
    before = read(lab_vcenter.si)
    with journal.locked(lab_vcenter.journal):
        busy = probes("deploy", lab_vcenter, *CLONE, "--allow-disruptive")
    assert busy.returncode == 1
    assert "another labharness probes deploy or remove is using this journal" in busy.stderr
    assert read(lab_vcenter.si) == before
