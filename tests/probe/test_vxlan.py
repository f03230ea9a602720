"""Overlay pings across VXLAN: clean vs a duplicate flood-replication entry (F03)."""

from __future__ import annotations

from harness.drivers.probe.client import AgentPool
from tests.probe.topology import Lab


def test_clean_overlay_has_one_reply_per_echo(lab: Lab, pool: AgentPool) -> None:
    result = pool.agent(lab.vxlan.vtep_a).overlay_ping(lab.vxlan.overlay_dst, count=5,
                                                       window=0.3)

    assert (result.sent, result.answered, result.duplicates, result.lost) == (5, 5, 0, 0)
    assert set(result.per_seq.values()) == {1} and result.iface == "vxlan5001"


def test_duplicate_replication_entry_doubles_every_reply(lab: Lab, pool: AgentPool) -> None:
    x = lab.vxlan
    fdb = ["bridge", "fdb", "{}", "00:00:00:00:00:00", "dev", "vxlan5001", "dst",
           x.duplicate_entry]
    lab.netlab.exec(x.vtep_a, *[a.format("append") for a in fdb])
    try:
        result = pool.agent(x.vtep_a).overlay_ping(x.overlay_dst, count=5, window=0.3)
    finally:
        lab.netlab.exec(x.vtep_a, *[a.format("del") for a in fdb], check=False)

    assert result.answered == 5 and result.lost == 0
    assert result.duplicates == 5 and set(result.per_seq.values()) == {2}
