"""Path MTU: clean path, a bottleneck that answers with frag-needed, and one that black-holes it."""

from __future__ import annotations

from harness.drivers.probe.client import AgentPool
from tests.probe.topology import BLACKHOLE_NFT, Lab

# r1 loses the first three full-size (1600-byte) echoes it should forward, then forwards the
# rest: loss on a loaded path, not a limit. nft's quota counts the bytes it has matched.
LOSE_FIRST_THREE_NFT = """
table inet lh_tp_lossy {
    chain lossy {
        type filter hook forward priority 0; policy accept;
        ip length 1600 icmp type echo-request quota until 4800 bytes drop
    }
}
"""


def test_clean_path_needs_one_probe(lab: Lab, pool: AgentPool) -> None:
    result = pool.agent(lab.mtu.host).path_mtu(lab.mtu.clean_dst)

    assert (result.method, result.path_mtu, result.size_probes) == ("clean", 1600, 1)
    assert result.limiting_hop is None and result.icmp_answered


def test_frag_needed_names_the_bottleneck_hop_within_three_probes(lab: Lab,
                                                                  pool: AgentPool) -> None:
    result = pool.agent(lab.mtu.host).path_mtu(lab.mtu.dst)

    assert result.method == "frag-needed" and result.path_mtu == 1500
    assert result.size_probes <= 3, result.probes
    assert result.limiting_hop is not None
    assert (result.limiting_hop.ttl, result.limiting_hop.address, result.limiting_hop.mtu) == (
        2, lab.mtu.bottleneck_hop, 1500)
    assert [h.address for h in result.trace] == [lab.mtu.gateway, lab.mtu.bottleneck_hop,
                                                 lab.mtu.dst]


def test_black_holed_icmp_falls_back_to_binary_search_confirming_each_loss(
        lab: Lab, pool: AgentPool) -> None:
    """No ICMP comes back: a binary search, in which every size that gets nothing is sent again
    before it counts as too big (a lost frame is not a limit)."""
    with lab.netlab.fault(lab.mtu.r2, BLACKHOLE_NFT, "delete table inet lh_tp_blackhole"):
        result = pool.agent(lab.mtu.host).path_mtu(lab.mtu.dst)

    assert result.method == "search" and result.path_mtu == 1500
    assert not result.icmp_answered
    assert result.size_probes <= 24, result.probes
    timeouts = [p.size for p in result.probes if p.outcome == "timeout"]
    assert all(timeouts.count(size) >= 2 for size in timeouts), result.probes
    assert result.limiting_hop is None  # nothing on the path said who it was
    assert all(p.outcome in ("reply", "timeout") for p in result.probes)


def test_a_size_lost_three_times_and_then_carried_is_carried(lab: Lab, pool: AgentPool) -> None:
    """The full size's first three echoes are lost (no ICMP), the search below it finds 1599;
    before that counts as a limit, the size just above it is sent again with the first probe's
    patience, and it is carried: the path carries 1600, and the probes show every loss."""
    with lab.netlab.fault(lab.mtu.r1, LOSE_FIRST_THREE_NFT, "delete table inet lh_tp_lossy"):
        result = pool.agent(lab.mtu.host).path_mtu(lab.mtu.clean_dst)

    assert result.path_mtu == 1600, result.probes
    assert [p.outcome for p in result.probes if p.size == 1600] == [
        "timeout", "timeout", "timeout", "reply"], result.probes
    assert result.limiting_hop is None
