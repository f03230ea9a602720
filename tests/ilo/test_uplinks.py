"""F10: the data plane follows the BMC. While the 530SFP+ DCB/LLDP agent is off in the emulator's
applied state, that adapter's uplinks drop every frame (nft table `lh_ilo_f10`); a Redfish fix
plus a reset removes the table. Shown with a recording runner and, as root, for real: nftables in
throw-away namespaces `lh-ilotest-<pid>*` with a ping across the uplink."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.lab.inventory import Inventory
from harness.lab.loader import load_lab
from harness.sim.ilo import BmcSpec, IloProcess, spec_from_lab
from harness.sim.ilo.state import Server
from harness.sim.ilo.uplinks import UplinkFollower, blocked, table_name
from harness.sim.scenarios import realised_lab, resolve
from tests.conftest import SIM_LAB
from tests.ilo.conftest import GEN10, PASSWORD, USER, session, wait_post

X530_SETTINGS = "/redfish/v1/Chassis/1/NetworkAdapters/PCIeSlot1/Settings/"
RESET = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset/"


def f10_spec(uplinks: dict[str, tuple[str, list[str]]] | None, scenario: bool = True
             ) -> dict[str, Any]:
    """srv-esx03 as the sim realises it under scenario F10 (or healthy), on a free port."""
    lab = load_lab(SIM_LAB)
    if scenario:
        lab = realised_lab(lab, resolve(["F10"]))
    inventory = Inventory.model_validate({
        "name": "t", "lab": lab.name, "backend": "sim",
        "bmcs": {GEN10: {"url": "https://127.0.0.1:0", "username": USER,
                         "password": f"plain:{PASSWORD}"}}})
    return spec_from_lab(lab, inventory, uplinks, post_step_s=0.05)


def test_f10_scenario_realises_the_fault_on_the_ilo5_server() -> None:
    lab = load_lab(SIM_LAB)
    real = realised_lab(lab, resolve(["F10"]))
    changed = [n for n in lab.servers if lab.servers[n] != real.servers[n]]
    assert changed == [GEN10]  # the Gen10 server; the anchored Gen9 copies stay healthy
    adapters = real.servers[GEN10].adapters
    assert [p.personality for p in adapters["flexlom"].ports.values()] == ["FCoE", "FCoE"]
    assert adapters["pcie1"].lldp_agent is False
    assert lab.servers[GEN10].adapters["pcie1"].lldp_agent is True  # the lab file is intact


def test_follower_loads_and_removes_the_table_with_a_recording_runner() -> None:
    calls: list[tuple[list[str], str, str]] = []

    def runner(argv: list[str], *, ns: str, stdin: str) -> None:
        calls.append((argv, ns, stdin))

    spec = BmcSpec.from_json(f10_spec({"esx03/vmnic6": ("lh-x-esx03", ["a", "b"]),
                                       "esx03/vmnic4": ("lh-x-esx03", ["f"])})["bmcs"][0])
    server = Server(spec)
    assert blocked(server) == {"lh-x-esx03": ["a", "b"]}  # 530SFP+ port 1 only; FCoE passes
    follower = UplinkFollower(server, runner)
    follower.sync()
    follower.sync()  # unchanged: nothing to run
    assert len(calls) == 1
    argv, ns, rules = calls[0]
    assert (argv, ns) == (["nft", "-f", "-"], "lh-x-esx03")
    assert f"table netdev {table_name(GEN10)} {{" in rules
    assert 'hook ingress device "a"' in rules and 'hook egress device "b"' in rules
    assert '"f"' not in rules

    async def fix_and_reset() -> None:
        server.applied_hooks.append(follower)
        server.adapters[2].pending["lldp_agent"] = True
        server.reset("ForceRestart")
        while server.post != "FinishedPost" or server.power != "On" or len(calls) < 2:
            await asyncio.sleep(0.01)

    asyncio.run(asyncio.wait_for(fix_and_reset(), 5))
    table = table_name(GEN10)
    assert calls[1][2] == f"table netdev {table}\ndelete table netdev {table}\n"


def test_each_bmc_owns_its_table() -> None:
    """Servers cabled to one switch share its namespace: a healthy server's follower must not
    delete the drops another server's follower loaded there."""
    calls: list[tuple[list[str], str, str]] = []

    def runner(argv: list[str], *, ns: str, stdin: str, check: bool = True) -> None:
        calls.append((argv, ns, stdin))

    spec = f10_spec({"esx03/vmnic6": ("lh-x-sw01", ["a"])})["bmcs"][0]
    sick = UplinkFollower(Server(BmcSpec.from_json(spec)), runner)
    healthy = UplinkFollower(Server(BmcSpec.from_json({**spec, "name": "srv-other"})), runner)
    healthy.server.adapters[2].lldp_agent = True
    sick.sync()
    healthy.sync()
    assert "drop" in calls[0][2] and table_name(GEN10) in calls[0][2]
    assert table_name(GEN10) not in calls[1][2]  # the healthy one touches only its own table


def test_no_uplinks_no_nft(tmp_path: Path) -> None:
    with IloProcess.start(f10_spec(None), tmp_path) as proc, \
            session(proc.endpoints[GEN10]) as client:
        assert client.patch(X530_SETTINGS, body={"Oem": {"Hpe": {"Controllers": [
            {"EmbeddedLLDPFunctions": {"Enabled": True}}]}}}).status == 200
        client.post(RESET, body={"ResetType": "ForceRestart"})
        wait_post(client)
    assert "nft" not in proc.log_file.read_text()


# -- the real thing ---------------------------------------------------------------------------

def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _ping(ns: str, address: str) -> bool:
    return subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", address],
                          capture_output=True, check=False).returncode == 0


def _table(ns: str) -> bool:
    return subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "table", "netdev",
                           table_name(GEN10)],
                          capture_output=True, check=False).returncode == 0


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    """A host namespace with uplink u6 and a peer namespace at its other end (198.18.252.0/30)."""
    if os.geteuid() != 0 or not (shutil.which("nft") and shutil.which("ping")):
        pytest.skip("needs root, nft and ping to build throw-away namespaces")
    host, peer = f"lh-ilotest-{os.getpid()}", f"lh-ilotest-{os.getpid()}-p"
    try:
        _ip("netns", "add", host)
        _ip("netns", "add", peer)
        _ip("-n", host, "link", "add", "u6", "type", "veth", "peer", "name", "sw6",
            "netns", peer)
        _ip("-n", host, "addr", "add", "198.18.252.1/30", "dev", "u6")
        _ip("-n", peer, "addr", "add", "198.18.252.2/30", "dev", "sw6")
        for ns, dev in ((host, "u6"), (peer, "sw6"), (host, "lo"), (peer, "lo")):
            _ip("-n", ns, "link", "set", dev, "up")
    except subprocess.CalledProcessError as exc:
        for ns in (host, peer):
            _ip("netns", "del", ns, check=False)
        pytest.skip(f"cannot build test namespaces: {exc.stderr.strip()}")
    try:
        yield host, peer
    finally:
        for ns in (host, peer):
            _ip("netns", "del", ns, check=False)


def test_real_uplink_drops_until_redfish_fix_and_reset(namespaces: tuple[str, str],
                                                       tmp_path: Path) -> None:
    host, peer = namespaces
    assert _ping(peer, "198.18.252.1"), "the test link itself does not work"
    spec = f10_spec({"esx03/vmnic6": (host, ["u6"])})
    with IloProcess.start(spec, tmp_path) as proc:
        assert _table(host), proc.log_file.read_text()
        assert not _ping(peer, "198.18.252.1")  # link up, nothing passes
        assert _ip("-n", host, "link", "show", "u6").stdout.count("state UP") == 1
        with session(proc.endpoints[GEN10]) as client:
            reply = client.patch(X530_SETTINGS, body={"Oem": {"Hpe": {"Controllers": [
                {"EmbeddedLLDPFunctions": {"Enabled": True}}]}}})
            assert reply.status == 200
            assert not _ping(peer, "198.18.252.1")  # pending: nothing changes before reset
            client.post(RESET, body={"ResetType": "ForceRestart"})
            wait_post(client)
        assert not _table(host)
        assert _ping(peer, "198.18.252.1")
    # a healthy lab at start: the emulator removes a table left from before
    subprocess.run(["ip", "netns", "exec", host, "nft", "-f", "-"], check=True, text=True,
                   input=f"table netdev {table_name(GEN10)} {{ }}\n")
    with IloProcess.start(f10_spec({"esx03/vmnic6": (host, ["u6"])}, scenario=False),
                          tmp_path / "healthy"):
        assert not _table(host)
        assert _ping(peer, "198.18.252.1")
