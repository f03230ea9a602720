"""Per-uplink ARP beacons: healthy (including the blocked standby) vs a silently dropping port."""

from __future__ import annotations

from harness.drivers.probe.client import AgentPool
from tests.probe.topology import Lab, silent_port_nft


def test_both_uplinks_reach_the_gateway_even_the_blocked_standby(lab: Lab,
                                                                 pool: AgentPool) -> None:
    agent = pool.agent(lab.uplinks.esx)
    results = {v: agent.beacon(v, lab.uplinks.gateway) for v in ("vmnic0", "vmnic1")}

    assert all(r.reachable for r in results.values()), results
    assert results["vmnic0"].answered_by == results["vmnic1"].answered_by
    assert all(r.rtt_ms is not None and r.rtt_ms < 300 for r in results.values())


def test_silently_dropping_switch_port_fails_only_its_uplink(lab: Lab, pool: AgentPool) -> None:
    agent = pool.agent(lab.uplinks.esx)
    with lab.netlab.fault(lab.uplinks.switch, silent_port_nft("Gi1-0-1", ingress=True),
                          "delete table netdev lh_tp_silent"):
        dead = agent.beacon("vmnic0", lab.uplinks.gateway)
        alive = agent.beacon("vmnic1", lab.uplinks.gateway)
        carrier = {i.name: i.carrier for i in agent.interfaces()}

    assert carrier["vmnic0"]  # link stays up: only probing can tell
    assert not dead.reachable and dead.answered_by is None and dead.error is None
    assert alive.reachable


def test_beacon_to_an_address_nobody_has_is_unreachable(lab: Lab, pool: AgentPool) -> None:
    result = pool.agent(lab.uplinks.esx).beacon("vmnic0", "198.18.30.99", timeout=0.2)

    assert not result.reachable and result.rtt_ms is None
