"""esxcli on the simulated hosts, driven by govc (built from the govmomi release lh-vcsim pins)
exactly as engineers run it against a real vCenter, compared with what the lab says: the
routes and vmknics each TCP/IP stack has, the NICs with their drivers and link, vmkping with DF
between VTEPs and vMotion vmknics, and the storage adapters, which follow the personality the
emulated iLO applies after a Redfish change and a reset. Dynamic clients' type discovery
(DynamicTypeManager) describes the same types the results carry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from ipaddress import IPv4Interface
from pathlib import Path
from typing import Any

import pytest

from harness.checks.host_view import check_storage_adapters
from harness.checks.server import plan_adapter_fixes
from harness.drivers.redfish import RedfishBmc, read_server, remediate
from harness.drivers.vsphere import VsphereDriver
from harness.drivers.vsphere.esxcli import _argument
from harness.lab.catalog import ADAPTERS, esxi_drivers
from harness.lab.inventory import resolve_secret
from harness.lab.loader import LoadedInventory, load_inventory, load_lab
from harness.lab.model import Lab
from harness.lab.views import expected_neighbours
from harness.sim import lifecycle
from harness.sim.dataplane import kernel
from harness.sim.scenarios import change
from harness.sim.vcenter import build_govc
from tests.conftest import ROOT, SIM_INVENTORY, SIM_LAB

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or kernel.detect().problem() is not None,
    reason=f"needs root and the sim's kernel features: {kernel.detect().problem()}")

LAB = load_lab(SIM_LAB)
GATEWAY_OF_STACK = {"default": "management", "vxlan": "vxlan"}


@pytest.fixture(scope="module")
def inventory() -> Iterator[LoadedInventory]:
    """The healthy simulated lab, up for this module."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABHARNESS_")}
    up = subprocess.run([sys.executable, "-m", "harness.cli", "sim", "up"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600, check=False)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield load_inventory(SIM_INVENTORY, LAB)
    finally:
        lifecycle.down(LAB.name)
        assert lifecycle.leftovers(LAB.name) == []


@pytest.fixture(scope="module")
def govc(inventory: LoadedInventory) -> Any:
    """`govc host.esxcli -json -host HOST ...` against the sim's vCenter -> the result's Values
    (or the error text when govc fails)."""
    if not Path(build_govc()).exists():  # pragma: no cover - build_govc raises instead
        pytest.fail("govc was not built")
    vc = inventory.inventory.vcenter
    assert vc is not None
    env = {**os.environ, "GOVC_URL": str(vc.url), "GOVC_USERNAME": vc.username,
           "GOVC_PASSWORD": resolve_secret(vc.password, inventory.base_dir).reveal(),
           "GOVC_TLS_CA_CERTS": str(vc.ca_file), "GOVC_DATACENTER": LAB.vcenter.datacenter
           if LAB.vcenter else "", "GOVC_SHOW_UNRELEASED": "true"}
    binary = str(build_govc())

    def run(host: str, *args: str, command: str = "host.esxcli") -> Any:
        proc = subprocess.run([binary, command, "-json", "-host", host, *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            return proc.stderr.strip()
        out = json.loads(proc.stdout)
        return out["values"] if isinstance(out, dict) and "values" in out else out

    return run


def _one(row: dict[str, list[str]], key: str) -> str:
    return row[key][0]


def _lab_routes(lab: Lab, host: str, stack: str) -> Counter[tuple[str, str, str, str]]:
    """(network, netmask, gateway, vmknic) the lab implies for one TCP/IP stack of a host."""
    out: Counter[tuple[str, str, str, str]] = Counter()
    gateway_done = False
    for name, vmk in sorted(lab.hosts[host].vmknics.items()):
        if vmk.tcpip_stack != stack:
            continue
        net = vmk.ip.network
        out[(str(net.network_address), str(net.netmask), "0.0.0.0", name)] += 1
        gateway = next((n.gateway for n in lab.networks.values() if vmk.ip.ip in n.subnet), None)
        wants_default = stack != "default" or "management" in vmk.services
        if gateway is not None and wants_default and not gateway_done:
            out[("default", "0.0.0.0", str(gateway), name)] += 1
            gateway_done = True
    return out


@pytest.mark.parametrize("host", sorted(LAB.hosts))
def test_route_list_is_the_labs(govc: Any, host: str) -> None:
    for stack, netstack in (("default", "defaultTcpipStack"), ("vxlan", "vxlan")):
        rows = govc(host, "network", "ip", "route", "ipv4", "list", "-N", netstack)
        assert isinstance(rows, list), rows
        got = Counter((_one(r, "Network"), _one(r, "Netmask"), _one(r, "Gateway"),
                       _one(r, "Interface")) for r in rows)
        assert got == _lab_routes(LAB, host, stack), (host, netstack)


@pytest.mark.parametrize("host", sorted(LAB.hosts))
def test_vmknics_and_addresses_are_the_labs(govc: Any, host: str) -> None:
    listed = {_one(r, "Name"): r for r in govc(host, "network", "ip", "interface", "list")}
    addresses = {_one(r, "Name"): r for r in govc(host, "network", "ip", "interface", "ipv4",
                                                  "get")}
    lab_vmks = LAB.hosts[host].vmknics
    assert set(listed) == set(lab_vmks) == set(addresses)
    stacks = {"default": "defaultTcpipStack", "vxlan": "vxlan", "vmotion": "vmotion"}
    for name, vmk in lab_vmks.items():
        assert _one(listed[name], "NetstackInstance") == stacks[vmk.tcpip_stack]
        assert int(_one(listed[name], "MTU")) == vmk.mtu
        assert _one(listed[name], "Enabled") == "true"
        a = addresses[name]
        assert IPv4Interface(f"{_one(a, 'IPv4Address')}/{_one(a, 'IPv4Netmask')}") == vmk.ip
    only = govc(host, "network", "ip", "interface", "list", "-N", "vxlan")
    assert [_one(r, "Name") for r in only] == [n for n, v in lab_vmks.items()
                                               if v.tcpip_stack == "vxlan"]


@pytest.mark.parametrize("host", sorted(LAB.hosts))
def test_nic_list_is_the_labs(govc: Any, host: str) -> None:
    rows = {_one(r, "Name"): r for r in govc(host, "network", "nic", "list")}
    assert sorted(rows) == sorted(LAB.host_vmnics(host))
    cabled = {v for (h, v) in expected_neighbours(LAB) if h == host}
    server = LAB.servers[LAB.hosts[host].server or ""]
    for adapter in server.adapters.values():
        drivers = esxi_drivers(adapter.model, LAB.hosts[host].version)
        for port in adapter.ports.values():
            row = rows[port.vmnic or ""]
            up = port.vmnic in cabled
            assert _one(row, "Driver") == drivers.nic
            assert _one(row, "LinkStatus") == ("Up" if up else "Down"), port.vmnic
            assert int(_one(row, "Speed")) == (ADAPTERS[adapter.model].speed_gbps * 1000
                                               if up else 0)
            detail = govc(host, "network", "nic", "get", "-n", port.vmnic or "")
            firmware = _one(detail[0], "FirmwareVersion")
            assert (adapter.firmware or "") in firmware and _one(detail[0], "Driver") == \
                drivers.nic


def _vmk(host: str, service: str) -> tuple[str, str]:
    name, vmk = next((n, v) for n, v in sorted(LAB.hosts[host].vmknics.items())
                     if service in v.services)
    return name, str(vmk.ip.ip)


def test_vmkping_df_between_vteps_and_vmotion_vmknics(govc: Any) -> None:
    vtep, peer_vtep = _vmk("esx01", "vxlan")[0], _vmk("esx02", "vxlan")[1]
    rows = govc("esx01", "network", "diag", "ping", "-H", peer_vtep, "-N", "vxlan", "-I", vtep,
                "-d", "true", "-s", "1572", "-c", "2")
    assert isinstance(rows, list), rows
    assert (_one(rows[0], "Transmitted"), _one(rows[0], "Recieved")) == ("2", "2")
    assert set(rows[0]["ReceivedBytes"]) == {"1580"}  # 1572 + ICMP header, from the peer
    assert _one(rows[0], "Duplicated") == "0"
    vmotion = _vmk("esx02", "vmotion")[1]
    rows = govc("esx01", "network", "diag", "ping", "-H", vmotion, "-d", "true", "-s", "8972",
                "-c", "2")
    assert _one(rows[0], "Recieved") == "2"
    # the management vmknic has MTU 1500: ESXi refuses a 9000-byte DF packet there
    refused = govc("esx01", "network", "diag", "ping", "-H", vmotion, "-I", "vmk0", "-d", "true",
                   "-s", "8972", "-c", "1")
    assert isinstance(refused, str) and "Message too long" in refused
    # a vmknic of another stack is refused, as ESXi does
    wrong = govc("esx01", "network", "diag", "ping", "-H", peer_vtep, "-I", vtep, "-c", "1")
    assert isinstance(wrong, str) and "netstack" in wrong
    neighbours = govc("esx01", "network", "ip", "neighbor", "list", "-N", "vxlan")
    assert any(_one(r, "Vmknic") == vtep for r in neighbours)


def test_storage_adapters_are_the_labs(govc: Any) -> None:
    for host, spec in LAB.hosts.items():
        adapters = LAB.servers[spec.server or ""].adapters.values()
        iscsi = sum(1 for a in adapters for p in a.ports.values() if p.personality == "iSCSI")
        rows = govc(host, "storage", "core", "adapter", "list")
        drivers = Counter(_one(r, "Driver") for r in rows)
        assert drivers["bnx2i"] + drivers["qfle3i"] == iscsi, (host, drivers)
        assert drivers["bnx2fc"] + drivers["qfle3f"] == 0


def test_type_discovery_describes_what_the_results_carry(govc: Any,
                                                         inventory: LoadedInventory) -> None:
    model = govc("esx01", "network.diag", command="host.esxcli.model")
    data = {t["Name"]: t for t in model["DataTypeInfo"]}
    ping = data["vim.EsxCLI.network.diag.ping.Ping"]
    assert ping["WsdlName"] == "VimEsxCLInetworkdiagpingPing"
    assert {p["Name"]: p["Type"] for p in ping["Property"]} == {
        "Summary": "vim.EsxCLI.network.diag.ping.Summary",
        "Trace": "vim.EsxCLI.network.diag.ping.Trace[]"}
    managed = {t["Name"]: t for t in model["ManagedTypeInfo"]}["vim.EsxCLI.network.diag"]
    params = {p["Name"] for p in managed["Method"][0]["ParamTypeInfo"]}
    assert {"host", "interface", "netstack", "df", "size", "count"} <= params
    instances = govc("esx01", "-i", "network.diag", command="host.esxcli.model")
    assert {"Id": "ha-cli-handler-network-diag", "MoType": "vim.EsxCLI.network.diag"} in [
        {"Id": i["Id"], "MoType": i["MoType"]} for i in instances]
    # the DataObject a ping returns is typed with that WSDL name
    vc = inventory.inventory.vcenter
    assert vc is not None
    with VsphereDriver.connect(vc, inventory.base_dir) as driver:
        ref = driver._host("esx01", "test")
        mtype, mid = driver._cli.executer("esx01", ref.moref)
        answer = driver.conn.post("test", "ExecuteSoap", (
            f'<ExecuteSoap xmlns="urn:vim25"><_this type="{mtype}">{mid}</_this>'
            "<moid>ha-cli-handler-network-diag</moid><version>urn:vim25/5.0</version>"
            "<method>vim.EsxCLI.network.diag.ping</method>"
            f"{_argument('host', _vmk('esx02', 'management')[1])}{_argument('count', 1)}"
            "</ExecuteSoap>"))
    response = next(e for e in answer.iter() if e.tag.endswith("response"))
    obj = ET.fromstring(response.text or "")
    xsi = "{http://www.w3.org/2001/XMLSchema-instance}type"
    assert [e.get(xsi) for e in obj] == ["VimEsxCLInetworkdiagpingPing"]


def test_storage_adapters_follow_the_personality_the_bmc_applies(
        govc: Any, inventory: LoadedInventory) -> None:
    """Through the Gen10's iLO 5: FlexFabric port 1 to FCoE and a reset; the host then lists an
    FCoE adapter instead of that port's dependent iSCSI adapter, and the check ties it to the
    BMC. Set back the same way afterwards."""
    server, host = "srv-esx03", "esx03"
    fcoe_lab, _ = change(LAB, ("servers", server, "adapters", "flexlom", "ports", 1,
                               "personality"), "FCoE")
    endpoint = inventory.inventory.bmcs[server]
    with RedfishBmc.from_inventory(server, endpoint, inventory.base_dir) as bmc:
        facts = read_server(bmc)
        assert remediate(bmc, facts.system_uri, plan_adapter_fixes(fcoe_lab, server, facts))
        try:
            rows = govc(host, "storage", "core", "adapter", "list")
            drivers = Counter(_one(r, "Driver") for r in rows)
            assert (drivers["bnx2i"], drivers["bnx2fc"]) == (1, 1), drivers
            vc = inventory.inventory.vcenter
            assert vc is not None
            with VsphereDriver.connect(vc, inventory.base_dir) as driver:
                view = driver.host_views([host]).values[host]
            [finding] = check_storage_adapters(LAB, server, view, read_server(bmc))
            assert "the BMC reports flexlom/port1 in FCoE personality" in finding.cause
        finally:
            facts = read_server(bmc)
            remediate(bmc, facts.system_uri, plan_adapter_fixes(LAB, server, facts))
    rows = govc(host, "storage", "core", "adapter", "list")
    assert Counter(_one(r, "Driver") for r in rows)["bnx2i"] == 2
