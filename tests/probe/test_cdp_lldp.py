"""CDP and LLDP from lldpd on a simulated switch, parsed per uplink; a silent port shows nothing."""

from __future__ import annotations

import subprocess

from harness.drivers.probe.client import AgentPool
from tests.probe.topology import Lab, silent_port_nft


def test_both_uplinks_hear_cdp_and_lldp_from_their_switch_port(
        lab: Lab, pool: AgentPool, lldpd: subprocess.Popen[bytes]) -> None:
    report = pool.agent(lab.uplinks.esx).neighbours(["vmnic0", "vmnic1"], timeout=4,
                                                     expect="both")

    assert report.complete
    for vmnic, port in (("vmnic0", "GigabitEthernet1/0/1"), ("vmnic1", "GigabitEthernet1/0/2")):
        (cdp,) = report.on(vmnic, "cdp")
        assert (cdp.device_id, cdp.port_id, cdp.platform) == (
            lab.uplinks.hostname, port, lab.uplinks.platform)
        assert lab.uplinks.software in (cdp.software or "")
        assert lab.uplinks.switch_addr in cdp.addresses
        (lldp,) = report.on(vmnic, "lldp")
        assert lldp.device_id == lab.uplinks.hostname
        assert port in (lldp.port_id, lldp.port_description)


def test_port_with_dropped_egress_shows_no_neighbour(
        lab: Lab, pool: AgentPool, lldpd: subprocess.Popen[bytes]) -> None:
    with lab.netlab.fault(lab.uplinks.switch, silent_port_nft("Gi1-0-2", ingress=False),
                          "delete table netdev lh_tp_silent"):
        report = pool.agent(lab.uplinks.esx).neighbours(["vmnic0", "vmnic1"], timeout=2.5,
                                                         expect="any")

    assert not report.complete
    assert report.on("vmnic1") == []
    assert {n.protocol for n in report.on("vmnic0")} >= {"cdp"}
