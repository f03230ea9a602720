"""The simulated lab's router speaks OPNsense's API: served from inside its namespace on the
management network, with a key made for the run, read by the driver through the inventory and
by NAPALM's OPNsense driver; the F02 scenario's lowered MTU shows through the API and on the
wire (a full-size DF frame between the VTEP underlays is refused by the router, which names
its MTU)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.drivers.opnsense import OpnsenseClient, read_router
from harness.lab import Lab, load_inventory, load_lab
from harness.lab.inventory import Inventory
from harness.sim import lifecycle
from harness.sim.dataplane import kernel, names, netns
from harness.sim.scenarios import SCENARIOS
from harness.sim.state import SimState
from tests.conftest import SIM_INVENTORY, SIM_LAB
from tests.opnsense.test_clients import napalm

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or kernel.detect().problem() is not None,
    reason=f"needs root and the sim's kernel features: {kernel.detect().problem()}")

TEST_LAB = "lhtest"  # not "sim": never touches a simulated lab the user has running
ROUTER = "opnsense01"


def _lab() -> Lab:
    data = load_lab(SIM_LAB).model_dump(mode="json")
    data["name"] = TEST_LAB
    return Lab.model_validate(data)


def _inventory() -> Inventory:
    """inventory/sim.yaml for the test lab: its key files and certificate where the sim makes
    them for this lab."""
    inv = load_inventory(SIM_INVENTORY).inventory
    d = lifecycle.opnsense_dir(TEST_LAB)
    api = inv.opnsense[ROUTER].model_copy(update={
        "key": f"file:{d / f'{ROUTER}.key'}", "secret": f"file:{d / f'{ROUTER}.secret'}",
        "ca_file": str(d / "certs" / f"{ROUTER}.crt")})
    return inv.model_copy(update={"lab": TEST_LAB, "name": TEST_LAB,
                                  "opnsense": {ROUTER: api}})


@pytest.fixture(scope="module", params=["healthy", "F02"])
def sim(request: pytest.FixtureRequest) -> Iterator[tuple[str, SimState]]:
    scenarios = [] if request.param == "healthy" else [SCENARIOS[request.param]]
    state = lifecycle.up(_lab(), _inventory(), scenarios)
    try:
        yield request.param, state
    finally:
        lifecycle.down(TEST_LAB)
    assert lifecycle.leftovers(TEST_LAB) == []


def test_driver_reads_the_router_through_the_inventory(sim: tuple[str, SimState]) -> None:
    scenario, state = sim
    inv = _inventory()
    key_file = Path(inv.opnsense[ROUTER].key[len("file:"):])
    assert key_file.stat().st_mode & 0o077 == 0  # the run's API key: owner-only
    client = OpnsenseClient.from_inventory(ROUTER, inv.opnsense[ROUTER], Path("."))
    facts = read_router(client)
    assert facts.source == "https://198.19.255.2/api" and facts.firmware == "OPNsense 25.7"
    mtus = {i.device: i.mtu for i in facts.interfaces}
    assert mtus["underlay_a"] == 1600
    assert mtus["underlay_b"] == (1500 if scenario == "F02" else 1600)
    assert facts.forwarding is True
    assert facts.gateways and all(g.online for g in facts.gateways)
    # the emulator runs in the router's namespace: its own process, stopped by PID at down
    (daemon,) = [d for d in state.daemons if d.name == f"opnsense-{ROUTER}"]
    assert daemon.ns == names.netns(TEST_LAB, ROUTER)


def test_napalm_reads_the_sims_router(sim: tuple[str, SimState]) -> None:
    scenario, state = sim
    access = state.access[ROUTER]
    assert access.password is not None and access.ca_file is not None
    got = napalm(access.url.rstrip("/"), lifecycle.opnsense_dir(TEST_LAB) / "certs" /
                 f"{ROUTER}.crt", access.username, access.password, "get_interfaces")
    want = {n: i.mtu for n, i in _lab().routers[ROUTER].interfaces.items()}
    if scenario == "F02":
        want["underlay_b"] = 1500
    assert {n: got[n]["mtu"] for n in want} == want


def test_the_mtu_shows_on_the_wire(sim: tuple[str, SimState]) -> None:
    """VTEP to VTEP across the router with a full 1600-byte frame, DF set: answered on the
    healthy lab; under F02 the router refuses it with ICMP fragmentation-needed, MTU 1500."""
    scenario, _ = sim
    result = netns.run(["ping", "-n", "-c", "1", "-W", "1", "-I", "198.18.50.11", "-M", "do",
                        "-s", "1572", "198.18.60.12"], ns=names.netns(TEST_LAB, "esx01"),
                       check=False)
    if scenario == "healthy":
        assert result.returncode == 0, result.stdout
    else:
        assert result.returncode != 0
        assert "Frag needed and DF set (mtu = 1500)" in result.stdout, result.stdout
