"""lh-vcsim as VMware's own CLI sees it: govc (built from the govmomi release lh-vcsim pins)
against the simulator provisioned from labs/sim.yaml, each answer compared with the lab.

govc decodes every object by the type vCenter gives it, so these catch what a pyVmomi read
forgives: a distributed switch typed DistributedVirtualSwitch (host.vnic.info panicked),
a physical host that says it is a VMware virtual machine, options a real host has and the
simulator did not, vpxa stopped on a host vCenter manages.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.facts.vsphere import NIC_TYPE_OF_SERVICE, STACK_OF_NETSTACK
from harness.lab.catalog import SERVER_PLATFORMS
from harness.lab.inventory import Secret
from harness.lab.loader import load_lab
from harness.lab.model import Lab
from harness.sim.ilo.spec import server_serial, server_uuid
from harness.sim.vcenter import VcsimProcess, build_govc
from harness.sim.vcenter.build import VcenterBuild, vcenter_build
from harness.sim.vcenter.hostlogs import Reboot, write_host_logs
from harness.sim.vcenter.launcher import host_system
from harness.sim.vcenter.provision import provision
from tests.conftest import SIM_LAB
from tests.vcenter.conftest import PASSWORD, USER

LAB = load_lab(SIM_LAB)
HOSTS = sorted(LAB.hosts)
Govc = Callable[..., Any]


@pytest.fixture(scope="module")
def govc(vcsim_binary: Path) -> Iterator[Govc]:
    """`govc COMMAND -json ARGS` against lh-vcsim provisioned from the lab -> parsed JSON
    (the test fails with govc's stderr when it exits non-zero)."""
    binary = str(build_govc())
    build = vcenter_build(LAB, [])
    with tempfile.TemporaryDirectory(prefix="lh-govc-") as tmp:
        spec = build.spec.model_copy(update={"hosts": [
            h.model_copy(update={"log_dir": str(_host_logs(Path(tmp) / "logs" / h.name,
                                                            h.name, h.boot_time))})
            for h in build.spec.hosts]})
        with VcsimProcess.start(spec, "127.0.0.1:0", USER, PASSWORD, workdir=Path(tmp),
                                binary=vcsim_binary, timeout=30) as proc:
            yield from _govc(binary, build, proc)


# esx01 was rebooted from its DCUI at this time (its logs say so); the others never were
DCUI_REBOOT = Reboot(datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
                     datetime(2026, 3, 1, 9, 32, tzinfo=UTC))
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _host_logs(where: Path, host: str, booted: datetime | None) -> Path:
    assert booted is not None
    if host == HOSTS[0]:
        write_host_logs(where, DCUI_REBOOT.booted, NOW, (booted, DCUI_REBOOT))
    else:
        write_host_logs(where, booted, NOW)
    return where


def _govc(binary: str, build: VcenterBuild, proc: VcsimProcess) -> Iterator[Govc]:
    """Provision the lab in the running simulator and yield the govc runner."""
    conn = proc.connect(USER, Secret("plain:", PASSWORD))
    try:
        provision(conn, build.lab, vsphere_faults=build.faults)
    finally:
        conn.close()
    env = {**os.environ, "GOVC_URL": proc.url, "GOVC_USERNAME": USER,
           "GOVC_PASSWORD": PASSWORD, "GOVC_TLS_CA_CERTS": str(proc.cert_file),
           "GOVC_PERSIST_SESSION": "false"}
    if LAB.vcenter is not None:
        env["GOVC_DATACENTER"] = LAB.vcenter.datacenter

    def run(command: str, *args: str, as_json: bool = True) -> Any:
        done = subprocess.run([binary, command, *(["-json"] if as_json else []), *args],
                              env=env, capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, f"govc {command} {' '.join(args)}: {done.stderr}"
        return _documents(done.stdout) if as_json else done.stdout

    yield run


def _documents(text: str) -> Any:
    """govc's JSON: one document, or a stream of them (object.collect) as a list."""
    decoder, docs, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        doc, at = decoder.raw_decode(text, len(text) - len(text[at:].lstrip()))
        docs.append(doc)
    return docs[0] if len(docs) == 1 else docs


def _switch_of(lab: Lab, host: str, port_group: str) -> str:
    """The switch (standard or distributed) a host's port group is on, per the lab."""
    for name, vswitch in lab.hosts[host].standard_switches.items():
        if port_group in vswitch.port_groups:
            return name
    return next(name for name, dvs in lab.distributed_switches.items()
                if port_group in dvs.port_groups)


@pytest.mark.parametrize("host", HOSTS)
def test_vnic_info_is_the_labs(govc: Govc, host: str) -> None:
    got = {i["device"]: i for i in govc("host.vnic.info", "-host", host)["info"]}
    want = LAB.hosts[host].vmknics
    assert sorted(got) == sorted(want)
    for name, vmk in want.items():
        info = got[name]
        assert info["network"] == vmk.port_group, name
        assert info["switch"] == _switch_of(LAB, host, vmk.port_group), name
        assert info["address"] == str(vmk.ip.ip), name
        assert STACK_OF_NETSTACK.get(info["stack"], info["stack"]) == vmk.tcpip_stack, name
        assert sorted(info["services"] or []) == sorted(
            NIC_TYPE_OF_SERVICE[s] for s in vmk.services if s in NIC_TYPE_OF_SERVICE), name


def test_distributed_switch_has_vcenters_type(govc: Govc) -> None:
    """find by the VMware type lists every lab switch (it was empty)."""
    found = govc("find", "/", "-type", "VmwareDistributedVirtualSwitch")
    assert sorted(p.rsplit("/", 1)[-1] for p in found) == sorted(LAB.distributed_switches)


@pytest.mark.parametrize("host", HOSTS)
def test_vswitch_and_portgroup_info_are_the_labs(govc: Govc, host: str) -> None:
    want = LAB.hosts[host].standard_switches
    vswitches = {v["name"]: v for v in govc("host.vswitch.info", "-host", host)["vswitch"]}
    assert sorted(vswitches) == sorted(want)
    for name, vswitch in want.items():
        got = vswitches[name]
        assert got["mtu"] == vswitch.mtu, name
        assert sorted(p.rsplit("-", 1)[-1] for p in got.get("pnic") or []) == \
            sorted(vswitch.uplinks), name
    groups = {g["spec"]["name"]: g["spec"]
              for g in govc("host.portgroup.info", "-host", host)["portgroup"]}
    assert groups == {pg: groups.get(pg) for s in want.values() for pg in s.port_groups}
    for vname, vswitch in want.items():
        for pg, spec in vswitch.port_groups.items():
            assert groups[pg]["vswitchName"] == vname and groups[pg]["vlanId"] == spec.vlan


@pytest.mark.parametrize("host", HOSTS)
def test_host_info_is_the_labs_server(govc: Govc, host: str) -> None:
    """A physical host reports its server's model, vendor, serial number, SMBIOS UUID,
    processors and memory, as the server's BMC does (not the VMware virtual machine)."""
    [system] = govc("host.info", "-host", host)["hostSystems"]
    hw = system["summary"]["hardware"]
    lab_host = LAB.hosts[host]
    assert lab_host.server is not None and lab_host.kind == "physical"
    server = LAB.servers[lab_host.server]
    platform = SERVER_PLATFORMS[server.model]
    serial = server_serial(lab_host.server, server)  # what the iLO emulator reports
    assert (hw["vendor"], hw["model"]) == (platform.vendor, f"ProLiant {server.model}")
    assert hw["uuid"] == server_uuid(lab_host.server, serial)
    tags = {i["identifierType"]["key"]: i["identifierValue"]
            for i in hw["otherIdentifyingInfo"]}
    assert tags["ServiceTag"] == serial
    assert hw["cpuModel"] == platform.cpu_model and hw["numCpuPkgs"] == platform.cpu_packages
    assert hw["numCpuCores"] == platform.cpu_packages * platform.cores_per_package
    assert hw["memorySize"] == platform.memory_gib << 30


def test_nested_hosts_keep_the_virtual_machine() -> None:
    nested = LAB.model_copy(update={"hosts": {
        name: h.model_copy(update={"kind": "nested"}) for name, h in LAB.hosts.items()}})
    assert all(host_system(nested, h) is None for h in HOSTS)
    assert all(host_system(LAB, h) is not None for h in HOSTS)


@pytest.mark.parametrize("host", HOSTS)
def test_option_ls_has_the_labs_and_esxis_options(govc: Govc, host: str) -> None:
    options = {o["key"]: o["value"] for o in govc("host.option.ls", "-host", host)}
    for key, value in LAB.hosts[host].advanced_options.items():
        assert options[key] == value, key
    # what hardening guides and administrators read, at ESXi's defaults
    assert options["Config.HostAgent.plugins.solo.enableMob"] is False
    assert options["UserVars.SuppressShellWarning"] == 0
    assert options["Syslog.global.logHost"] == ""
    assert len(options) >= 45
    one = govc("host.option.ls", "-host", host, "Config.HostAgent.plugins.solo.enableMob")
    assert [o["key"] for o in one] == ["Config.HostAgent.plugins.solo.enableMob"]


@pytest.mark.parametrize("host", HOSTS)
def test_service_ls_shows_vpxa_running_on_a_managed_host(govc: Govc, host: str) -> None:
    services = {s["key"]: s for s in govc("host.service.ls", "-host", host)}
    assert services["vpxa"]["running"] is True and services["vpxa"]["policy"] == "on"
    assert {"DCUI", "TSM", "TSM-SSH", "ntpd", "vpxa"} <= set(services)


def _names(govc: Govc, kind: str) -> dict[str, str]:
    """moref value -> name of every object of one kind (h: hosts, m: VMs)."""
    out = govc("object.collect", "-type", kind, "/", "name")
    return {o["obj"]["value"]: o["changeSet"][0]["val"] for o in out}


def test_dv_ports_are_keyed_per_switch_and_list_their_connectees(govc: Govc) -> None:
    """Every port key is unique on the switch, and -connected lists exactly the lab's
    vmknics and VM NICs on the switch's port groups (it listed none)."""
    [switch] = LAB.distributed_switches
    connected = govc("dvs.portgroup.info", "-connected", switch)["port"]
    free = govc("dvs.portgroup.info", switch)["port"]
    keys = [p["key"] for p in connected + free]
    assert len(keys) == len(set(keys)) and len(free) > len(connected) > 0
    hosts, vms = _names(govc, "h"), _names(govc, "m")
    got_vmk = sorted((hosts[p["connectee"]["connectedEntity"]["value"]], p["connectee"]["nicKey"])
                     for p in connected if p["connectee"]["type"] == "hostVmkVirtualNic")
    want_vmk = sorted((h, vmk) for h, host in LAB.hosts.items()
                      for vmk, nic in host.vmknics.items()
                      if nic.port_group in LAB.distributed_switches[switch].port_groups)
    assert got_vmk == want_vmk
    got_vm = sorted(vms[p["connectee"]["connectedEntity"]["value"]]
                    for p in connected if p["connectee"]["type"] == "vmVnic")
    assert got_vm == sorted(name for name, vm in LAB.vms.items() for _ in vm.nics.values())


def test_logs_ls_lists_each_hosts_logs(govc: Govc) -> None:
    """`govc logs.ls -host H`: the logs an ESXi host offers through vCenter's DiagnosticManager,
    keyed per host; without a host, vCenter's own (this simulated vCenter keeps none)."""
    listed = govc("logs.ls", "-host", HOSTS[1], as_json=False).split()
    assert listed == ["hostd", "/var/run/log/hostd.log", "vmkernel", "/var/run/log/vmkernel.log",
                      "vmksummary", "/var/run/log/vmksummary.log"]


def test_logs_tail_the_hosts_own_log(govc: Govc) -> None:
    """`govc logs -host H -log vmksummary -n N` finds the log's end (a start past it) and pages
    to it: the DCUI reboot of esx01 is in its logs, and another host's logs are its own."""
    tail = govc("logs", "-host", HOSTS[0], "-log", "vmksummary", "-n", "200",
                as_json=False).splitlines()
    assert "2026-03-01T09:30:02.000Z bootstop[2100001]: Host is rebooting" in tail
    assert tail[-1].startswith("2026-03-01T11:00:00.000Z heartbeat[")
    # govc seeks to line lineEnd - n and reads to the end: with 1-based line numbers (the API's
    # "line number for the first entry") that is n + 1 lines, ending at the log's last line
    last = govc("logs", "-host", HOSTS[0], "-log", "vmksummary", "-n", "2",
                as_json=False).splitlines()
    assert len(last) == 3 and last[-1] == tail[-1]
    hostd = govc("logs", "-host", HOSTS[0], "-log", "hostd", as_json=False)
    assert "through the Direct Console User Interface (DCUI)" in hostd
    other = govc("logs", "-host", HOSTS[1], "-log", "hostd", as_json=False)
    assert "DCUI" not in other and "Host has booted" in other
