"""Unknown-unicast flooding to the NLB cluster MAC: both nodes, until the switch learns it."""

from __future__ import annotations

from harness.drivers.probe.client import AgentPool
from harness.probes.flood import measure_flood
from harness.probes.frames import BROADCAST, ETH_P_RARP
from tests.probe.topology import Lab


def test_unknown_cluster_mac_floods_to_both_nodes_until_learned(lab: Lab,
                                                                pool: AgentPool) -> None:
    f = lab.flood
    client, node1, node2 = pool.agent(f.client), pool.agent(f.node1), pool.agent(f.node2)
    receivers = {"node1": (node1, "nlb0"), "node2": (node2, "nlb0")}
    try:
        flooded = measure_flood(client, "nlbc0", receivers, f.cluster_mac, 10)
        # node1 announces the cluster MAC (RARP with it as source), as notify-switches would
        node1.send_frames("nlb0", BROADCAST, 1, ethertype=ETH_P_RARP, src_mac=f.cluster_mac)
        learned = measure_flood(client, "nlbc0", receivers, f.cluster_mac, 10)
    finally:
        lab.netlab.exec(f.switch, "bridge", "fdb", "del", f.cluster_mac, "dev", "n1p", "master",
                        check=False)

    assert flooded.received == {"node1": 10, "node2": 10} and flooded.reached == ["node1",
                                                                                   "node2"]
    assert learned.received == {"node1": 10, "node2": 0} and learned.reached == ["node1"]
