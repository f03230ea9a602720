"""lh-vcsim's esxcli without a data plane: what is configuration answers from the host's
configuration and the lab's hardware (NICs, storage adapters per the built personality), what
needs the host's network stack is a CLI fault that says so, the stock commands still work, and
the type info dynamic clients load has every new command and its result types."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from harness.drivers.vsphere import EsxcliError, EsxcliNotFoundError, VsphereDriver
from harness.drivers.vsphere.esxcli_map import nics, storage_adapters
from harness.lab.inventory import Secret
from harness.sim.vcenter import VcsimProcess
from tests.vcenter.conftest import PASSWORD, USER


@pytest.fixture
def driver(vcsim: VcsimProcess) -> VsphereDriver:
    return VsphereDriver(vcsim.connect(USER, Secret("plain:", PASSWORD)))


def test_hardware_answers_from_configuration(driver: VsphereDriver) -> None:
    with driver:
        listed = nics(driver.esxcli("esx01", "network nic list"), {})
        assert listed["vmnic4"].driver == "bnx2x" and listed["vmnic0"].driver == "tg3"
        hbas = storage_adapters(driver.esxcli("esx01", "storage core adapter list"))
        assert [h.driver for h in hbas].count("bnx2i") == 2  # flexlom ports 1-2: iSCSI
        detail = driver.esxcli("esx01", "network nic get", {"nicname": "vmnic4"})
        assert isinstance(detail, dict) and detail["DriverInfo"]["FirmwareVersion"] == \
            "bc 7.17.33"


def test_network_commands_need_the_data_plane_and_say_so(driver: VsphereDriver) -> None:
    with driver:
        with pytest.raises(EsxcliError, match="no data plane"):
            driver.esxcli("esx01", "network ip route ipv4 list")
        with pytest.raises(EsxcliError, match=r"Missing required parameter -n\|--nic-name"):
            driver.esxcli("esx01", "network nic get")
        with pytest.raises(EsxcliNotFoundError):
            driver.esxcli("esx01", "network ip dns server list")
        # stock commands go on working through the same executer
        assert driver.esxcli("esx01", "hardware clock get")


def _type_info(driver: VsphereDriver) -> ET.Element:
    """What a dynamic client (PowerCLI Get-EsxCli -V2, pyVmomi type loaders) reads first: the
    host's DynamicTypeManager and its type info."""
    ref = driver._host("esx01", "test")
    answer = driver.conn.post(
        "test", "RetrieveDynamicTypeManager",
        f'<RetrieveDynamicTypeManager xmlns="urn:vim25"><_this type="HostSystem">'
        f"{ref.moref}</_this></RetrieveDynamicTypeManager>")
    dtm = next(e for e in answer.iter() if e.tag.endswith("returnval"))
    return driver.conn.post(
        "test", "DynamicTypeMgrQueryTypeInfo",
        f'<DynamicTypeMgrQueryTypeInfo xmlns="urn:vim25"><_this type="{dtm.get("type")}">'
        f"{dtm.text}</_this></DynamicTypeMgrQueryTypeInfo>")


def test_type_info_describes_every_command(driver: VsphereDriver) -> None:
    with driver:
        info = _type_info(driver)
    names = {e.text for e in info.iter() if e.tag.endswith("}name")}
    for command in ("network.diag", "network.ip.route.ipv4", "network.ip.interface",
                    "network.ip.interface.ipv4", "network.ip.neighbor", "network.nic",
                    "storage.core.adapter"):
        assert f"vim.EsxCLI.{command}" in names
    for data in ("network.diag.ping.Summary", "network.nic.get.DriverInfo",
                 "storage.core.adapter.list.ScsiAdapter"):
        assert f"vim.EsxCLI.{data}" in names



OURS = ("network.diag", "network.ip.route.ipv4", "network.ip.interface",
        "network.ip.interface.ipv4", "network.ip.neighbor", "network.nic",
        "storage.core.adapter")


def test_every_described_command_runs(driver: VsphereDriver) -> None:
    """What the type info tells clients exists answers (a result, or the CLI's own error such
    as a missing parameter or no data plane), never NotFound."""
    with driver:
        info = _type_info(driver)
        commands = []
        for managed in (e for e in info.iter() if e.tag.endswith("managedTypeInfo")):
            name = next(c.text for c in managed if c.tag.endswith("}name"))
            ns = (name or "").removeprefix("vim.EsxCLI.")
            if ns in OURS:
                commands += [f"{ns.replace('.', ' ')} {m.findtext('{urn:vim25}name')}"
                             for m in managed if m.tag.endswith("}method")]
        assert len(commands) == 8
        for command in commands:
            try:
                driver.esxcli("esx01", command)
            except EsxcliNotFoundError:
                pytest.fail(f"{command} is described but not implemented")
            except EsxcliError:
                pass  # the CLI's own answer (missing parameter, no data plane)
