"""The simulated data plane: planning (no root), and a real build with traffic (root)."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.lab import Lab, load_inventory, load_lab
from harness.sim import lifecycle
from harness.sim.dataplane import build, kernel, names, netns
from harness.sim.dataplane.plan import SIM_SPACE, PlanError, mgmt_subnet, plan_dataplane
from harness.sim.probesites import forwarding_uplink, silenced
from harness.sim.scenarios import SCENARIOS, realised_lab
from harness.sim.state import SimState
from tests.conftest import SIM_INVENTORY, SIM_LAB

TEST_LAB = "lhtest"  # not "sim": never touches a simulated lab the user has running


def _test_lab() -> Lab:
    return lab_named(TEST_LAB)


def _inventory():  # type: ignore[no-untyped-def]
    inv = load_inventory(SIM_INVENTORY).inventory
    return inv.model_copy(update={"lab": TEST_LAB, "name": TEST_LAB})


# -- planning: pure --------------------------------------------------------------------------


def test_plan_names_fit_and_addresses_stay_in_the_sim_space() -> None:
    plan = plan_dataplane(_test_lab(), _inventory())
    assert all(n.startswith(f"lh-{TEST_LAB}-") for n in plan.namespace_names())
    for link in plan.links:
        for end in (link.a, link.b):
            assert len(end.ifname) <= names.IFNAMSIZ, end
    assert plan.root_ifaces == [names.root_veth(TEST_LAB)]
    for address in plan.addresses:
        assert address.ip.ip in SIM_SPACE, address  # 198.18.0.0/15 only


def test_plan_every_team_has_its_uplinks_and_one_bridge_per_vlan() -> None:
    plan = plan_dataplane(_test_lab(), _inventory())
    esx01 = {t.port_group: t for t in plan.teams[f"lh-{TEST_LAB}-esx01"]}
    vmotion = esx01["dvpg-vmotion"]
    assert [u.link for u in vmotion.uplinks] == ["vmnic4.20", "vmnic7.20"]
    assert vmotion.active_count == 1 and vmotion.failure_detection == "link_status"
    # the NLB port group shares VLAN 40 on vmnic7 with nothing else here, but its VLAN link
    # must not collide with the VM port group's on hosts that have both
    sw01 = {b.name: b for b in plan.bridges if b.ns == f"lh-{TEST_LAB}-sw01"}
    assert set(sw01) >= {"br-v10", "br-v20", "br-v50", "br-v60", "br-v100"}
    # NLB members carry the cluster MAC and mask it on egress
    nlb_rules = "\n".join(plan.nft[f"lh-{TEST_LAB}-nlb01"])
    assert "02:bf:c6:12:28:64" in nlb_rules and "ether type != 0x8035" in nlb_rules


def test_scenarios_change_what_is_realised_not_the_lab() -> None:
    lab = _test_lab()
    f12 = realised_lab(lab, [SCENARIOS["F12"]])
    assert str(f12.hosts["esx01"].vmknics["vmk1"].ip) == "198.18.10.21/24"
    assert str(lab.hosts["esx01"].vmknics["vmk1"].ip) == "198.18.20.11/24"
    f02 = realised_lab(lab, [SCENARIOS["F02"]])
    assert f02.routers["opnsense01"].interfaces["underlay_b"].mtu == 1500


# -- a real build: root ----------------------------------------------------------------------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or kernel.detect().problem() is not None,
    reason=f"needs root and the kernel features of the sim: {kernel.detect().problem()}")


def ping(ns: str, dst: str, *args: str, count: int = 1) -> int:
    """Replies received (iputils ping inside a namespace)."""
    result = netns.run(["ping", "-n", "-q", "-c", str(count), "-W", "1", *args, dst], ns=ns,
                       check=False)
    for line in result.stdout.splitlines():
        if "received" in line:
            return int(line.split(",")[1].split()[0])
    return 0


@pytest.fixture(scope="module")
def sim() -> Iterator[SimState]:
    state = lifecycle.up(_test_lab(), _inventory())
    try:
        yield state
    finally:
        lifecycle.down(TEST_LAB)
    assert lifecycle.leftovers(TEST_LAB) == []


def ns(element: str) -> str:
    return names.netns(TEST_LAB, element)


@needs_root
def test_up_ends_with_every_link_operational(sim: SimState) -> None:
    # the daemons started onto links that carry frames: up waited for the kernel's link watch
    assert "links_s" in sim.timings
    assert build.activating(sim.namespaces, sim.root_ifaces) == []


@needs_root
def test_traffic_flows_across_every_layer(sim: SimState) -> None:
    assert ping(ns("esx01"), "198.18.10.1") == 1  # management vmk to its gateway
    assert ping(ns("esx01"), "198.18.20.12") == 1  # vMotion, VLAN 20 through both switches
    # VTEP to VTEP across the router with full 1600-byte frames, DF set
    assert ping(ns("esx01"), "198.18.60.12", "-I", "198.18.50.11", "-M", "do", "-s",
                "1572") == 1
    assert ping(ns("web01"), "198.18.201.11") == 1  # same VXLAN segment, across L3
    assert ping(ns("web01"), "198.18.202.10") == 1  # through the DLR
    assert ping(ns("web01"), "198.18.100.1") == 1  # through DLR and ESG to the router
    assert ping(ns("client-vm"), "198.18.40.100") == 1  # the NLB VIP


@needs_root
def test_status_lists_namespaces_daemons_and_endpoints(sim: SimState) -> None:
    info = lifecycle.status(TEST_LAB)
    assert info["running"] is True
    assert all(n["present"] for n in info["namespaces"])
    assert {d["name"].split("-")[0] for d in info["daemons"]} == {"lldpd", "teaming", "sshd",
                                                                  "lh", "opnsense"}
    assert {d["name"] for d in info["daemons"] if d["name"].startswith("lh-")} == {
        "lh-vcsim", "lh-ilo"}
    assert all(d["running"] for d in info["daemons"])
    # the router's OPNsense API on its management address (its daemon in its namespace)
    assert info["endpoints"][0] == {"name": "opnsense01", "kind": "opnsense",
                                    "ns": ns("opnsense01"), "ip": "198.19.255.2", "port": 443}
    assert {d["ns"] for d in info["daemons"] if d["name"] == "opnsense-opnsense01"} == {
        ns("opnsense01")}
    assert [(e["name"], e["kind"], e["ip"]) for e in info["endpoints"][1:5]] == [
        ("vcenter", "vcenter", "198.19.255.10"), ("srv-esx01", "bmc", "198.19.255.21"),
        ("srv-esx02", "bmc", "198.19.255.22"), ("srv-esx03", "bmc", "198.19.255.23")]
    # each host's probe VM and each VM: sshd on the management network
    ssh = {e["name"]: e["ip"] for e in info["endpoints"] if e["kind"] == "ssh"}
    assert {"probe-esx01", "probe-esx02", "probe-esx03", "web01", "nlb02"} <= set(ssh)
    assert all(ip.startswith("198.19.255.") for ip in ssh.values())
    # how to log in, so other tools can be pointed at the sim (its credentials are public)
    assert info["access"]["vcenter"]["password"] == "lh-sim-Vcenter1!"
    assert info["access"]["srv-esx03"]["username"] == "Administrator"
    # the API key the sim made for the router this run: key as user name, secret as password
    assert len(info["access"]["opnsense01"]["username"]) == 80
    assert info["access"]["opnsense01"]["password"]
    teams = info["team_status"][ns("esx01")]
    assert teams["dvpg-vmotion"]["forwarding"] == "vmnic4"


@needs_root
def test_switch_sends_cdp_that_the_host_hears(sim: SimState) -> None:
    sock = lifecycle.run_dir(TEST_LAB) / f"lldpd-{ns('esx01')}.sock"
    deadline = time.monotonic() + 5
    found: dict[str, object] = {}
    while time.monotonic() < deadline and len(found) < 5:
        out = netns.run(["lldpcli", "-u", str(sock), "-f", "json", "show", "neighbors"],
                        ns=ns("esx01")).stdout
        data = json.loads(out).get("lldp", {}).get("interface", [])
        items = data if isinstance(data, list) else []
        found = {next(iter(i)): next(iter(i.values())) for i in items}
        time.sleep(0.2)
    assert set(found) == {"vmnic0", "vmnic4", "vmnic5", "vmnic6", "vmnic7"}
    port = json.dumps(found["vmnic4"])
    assert "TenGigabitEthernet1/1/1" in port and "lab-sw01.example.test" in port


def _outage(source: str, target: str, seconds: float) -> float:
    """Seconds without replies while pinging every 50 ms for `seconds`."""
    count = int(seconds / 0.05)
    got = ping(source, target, "-i", "0.05", "-W", "0.2", count=count)
    return (count - got) * 0.05


def _silence(sw: str, port: str, table: str) -> None:
    state = lifecycle.load_state(TEST_LAB)
    assert state is not None
    sw_ns, ifaces = state.ports[f"{sw}/{port}"].ns, state.ports[f"{sw}/{port}"].ifaces
    chains = "\n".join(
        f'chain i{i} {{ type filter hook ingress device "{x}" priority 0; policy drop; }}\n'
        f'chain o{i} {{ type filter hook egress device "{x}" priority 0; policy drop; }}'
        for i, x in enumerate(ifaces))
    netns.run(["nft", "-f", "-"], ns=sw_ns, stdin=f"table netdev {table} {{\n{chains}\n}}\n")


def _unsilence(sw: str, table: str) -> None:
    netns.run(["nft", "delete", "table", "netdev", table], ns=ns(sw))


@needs_root
def test_link_status_team_black_holes_a_silent_uplink(sim: SimState) -> None:
    """F11 in the field: vmnic4 is blocked upstream with its link up; "link status only" keeps
    sending vMotion traffic into it. The silence is the failover drill's own (`silenced`), so
    this also shows the drill reproduces the fault it looks for."""
    lab = _test_lab()
    assert _outage(ns("esx01"), "198.18.20.12", 0.5) == 0
    with silenced(lab, sim, "esx01", "vmnic4"):
        time.sleep(0.5)
        assert _outage(ns("esx01"), "198.18.20.12", 1.0) >= 0.9  # black hole, no failover
        assert forwarding_uplink(lab, "esx01", "dvpg-vmotion") == "vmnic4"
    assert _outage(ns("esx01"), "198.18.20.12", 0.5) == 0


@needs_root
def test_link_status_team_fails_over_when_the_link_goes_down(sim: SimState) -> None:
    state = lifecycle.load_state(TEST_LAB)
    assert state is not None
    port = state.ports["sw01/TenGigabitEthernet1/1/1"]
    sw_ns, ifaces = port.ns, port.ifaces
    for x in ifaces:
        netns.run(["ip", "link", "set", x, "down"], ns=sw_ns)
    try:
        time.sleep(0.4)
        team = lifecycle.status(TEST_LAB)["team_status"][ns("esx01")]["dvpg-vmotion"]
        assert team["forwarding"] == "vmnic7"
        assert _outage(ns("esx01"), "198.18.20.12", 0.5) == 0
    finally:
        for x in ifaces:
            netns.run(["ip", "link", "set", x, "up"], ns=sw_ns)
    time.sleep(0.4)  # failback to vmnic4
    team = lifecycle.status(TEST_LAB)["team_status"][ns("esx01")]["dvpg-vmotion"]
    assert team["forwarding"] == "vmnic4"


@needs_root
def test_beacon_probing_fails_over_from_a_silent_uplink(sim: SimState) -> None:
    """With beacon probing on three uplinks the silent one is found and avoided."""
    assert _outage(ns("client-vm"), "198.18.40.30", 0.5) == 0
    _silence("sw01", "TenGigabitEthernet1/1/3", "lh_test_beacon")  # esx03 vmnic4, forwarding
    try:
        outage = _outage(ns("client-vm"), "198.18.40.30", 2.0)
        assert 0 < outage < 1.0
        team = lifecycle.status(TEST_LAB)["team_status"][ns("esx03")]["dvpg-vm"]
        assert team["forwarding"] != "vmnic4"
        assert not next(u for u in team["uplinks"] if u["vmnic"] == "vmnic4")["healthy"]
    finally:
        _unsilence("sw01", "lh_test_beacon")


@needs_root
def test_up_is_idempotent_and_down_leaves_nothing() -> None:
    lab, inv = _test_lab(), _inventory()
    first = lifecycle.up(lab, inv)
    second = lifecycle.up(lab, inv)  # removes the first instance, daemons included
    try:
        assert not any(d.pid in {x.pid for x in second.daemons} for d in first.daemons)
        assert all(not lifecycle.daemons.is_running(d) for d in first.daemons)
    finally:
        report = lifecycle.down(TEST_LAB)
    assert len(report.removed) == len(second.namespaces)
    assert lifecycle.leftovers(TEST_LAB) == []
    assert not (Path("/sys/class/net") / names.root_veth(TEST_LAB)).exists()
    assert all(not lifecycle.daemons.is_running(d) for d in second.daemons)


@needs_root
def test_crashed_run_leftovers_are_removed_by_the_next_up() -> None:
    lab, inv = _test_lab(), _inventory()
    state = lifecycle.up(lab, inv)
    for d in state.daemons:  # the harness died: daemons killed, namespaces left behind
        os.killpg(d.pid, 9)
    (lifecycle.run_dir(TEST_LAB) / "state.json").unlink()
    assert lifecycle.leftovers(TEST_LAB)
    try:
        lifecycle.up(lab, inv)
    finally:
        lifecycle.down(TEST_LAB)
    assert lifecycle.leftovers(TEST_LAB) == []


@needs_root
def test_another_lab_on_the_management_network_is_removed_if_stale_else_named() -> None:
    """Every sim lab routes the same management network from the root namespace. A lab left by
    a killed session must not capture another lab's vCenter connections (they would be refused
    by its empty namespace): `up` removes it when nothing of it runs, and names it otherwise."""
    other = lab_named("lhother")
    plan = plan_dataplane(other, _inventory().model_copy(update={"lab": "lhother"}))
    state = lifecycle.up(_test_lab(), _inventory())
    try:
        with pytest.raises(lifecycle.SimError, match=f"in use by lab '{TEST_LAB}' on "
                           f"{names.root_veth(TEST_LAB)}, running"):
            lifecycle.claim_networks(plan, "lhother")
        for d in state.daemons:  # the session that ran it was killed
            os.killpg(d.pid, 9)
        deadline = time.monotonic() + 5
        while any(lifecycle.daemons.is_running(d) for d in state.daemons):
            assert time.monotonic() < deadline, "SIGKILLed daemons still run"
            time.sleep(0.05)
        assert lifecycle.claim_networks(plan, "lhother") == [
            f"removed stale lab '{TEST_LAB}' (nothing of it ran; it held 198.19.255.0/24 on "
            f"{names.root_veth(TEST_LAB)})"]
        assert lifecycle.leftovers(TEST_LAB) == []
    finally:
        lifecycle.down(TEST_LAB)


def lab_named(name: str) -> Lab:
    data = load_lab(SIM_LAB).model_dump(mode="json")
    data["name"] = name
    return Lab.model_validate(data)


@needs_root
def test_down_removes_a_lab_whose_state_another_version_wrote() -> None:
    """A state file this version cannot validate (a newer field) still names what to remove."""
    state = lifecycle.up(_test_lab(), _inventory())
    path = lifecycle.run_dir(TEST_LAB) / "state.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**raw, "written_by_a_newer_version": True}), encoding="utf-8")
    with pytest.raises(lifecycle.SimError):
        lifecycle.load_state(TEST_LAB)
    report = lifecycle.down(TEST_LAB)
    assert sorted(report.removed) == sorted(state.namespaces)
    assert lifecycle.leftovers(TEST_LAB) == []
    assert not any(lifecycle.daemons.is_running(d) for d in state.daemons)


def _vcenter_answers(state: SimState) -> str:
    """The lab's vCenter answers from the root namespace; its address."""
    vc = next(e for e in state.endpoints if e.kind == "vcenter")
    conn = http.client.HTTPSConnection(str(vc.ip), vc.port, timeout=10,
                                       context=ssl._create_unverified_context())
    try:
        conn.request("GET", "/sdk/vimServiceVersions.xml")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    return str(vc.ip)


@needs_root
def test_two_labs_side_by_side_each_on_its_own_management_network(tmp_path: Path) -> None:
    """Two labs up at once on one machine: each inventory's /24 is that lab's management
    network, so both vCenters answer from the root namespace, each on its own address."""
    side = tmp_path / "side.yaml"
    side.write_text(SIM_INVENTORY.read_text().replace("198.19.255.", "198.19.254."))
    inv_b = load_inventory(side).inventory.model_copy(update={"lab": "lhside", "name": "lhside"})
    a = lifecycle.up(_test_lab(), _inventory())
    try:
        b = lifecycle.up(lab_named("lhside"), inv_b, base_dir=tmp_path)
        try:
            for state, net in ((a, "198.19.255."), (b, "198.19.254.")):
                assert _vcenter_answers(state).startswith(net)
        finally:
            lifecycle.down("lhside")
        # taking one down leaves the other whole: its namespaces, and its vCenter answering
        assert lifecycle.leftovers("lhside") == []
        assert sorted(lifecycle.leftovers(TEST_LAB)) == sorted(a.namespaces)
        _vcenter_answers(a)
    finally:
        lifecycle.down(TEST_LAB)
    assert lifecycle.leftovers(TEST_LAB) == [] and lifecycle.leftovers("lhside") == []


def test_the_management_network_follows_the_inventory() -> None:
    inv = _inventory()
    assert str(mgmt_subnet(inv)) == "198.19.255.0/24"
    url = type(inv.vcenter.url)
    moved = inv.model_copy(update={"vcenter": inv.vcenter.model_copy(update={
        "url": url("https://198.18.7.10/sdk")})})
    assert str(mgmt_subnet(moved)) == "198.18.7.0/24"
    outside = inv.model_copy(update={"vcenter": inv.vcenter.model_copy(update={
        "url": url("https://10.1.2.3/sdk")})})
    with pytest.raises(PlanError, match=r"outside 198\.18\.0\.0/15"):
        mgmt_subnet(outside)
