"""Egress path of vMotion traffic when vmk0 and vmk1 share a subnet (F12) vs their own subnets."""

from __future__ import annotations

import pytest

from harness.drivers.probe.client import AgentPool, ProbeError
from tests.probe.topology import Lab


def test_own_subnet_leaves_by_vmk1_and_is_answered(lab: Lab, pool: AgentPool) -> None:
    result = pool.agent(lab.vmk.host_a).egress_path(lab.vmk.b_vmk1_own_subnet)
    b_vmk1_mac = _mac(lab, lab.vmk.host_b, "vmk1")

    assert (result.route_iface, result.route_src) == ("vmk1", "198.18.5.21")
    assert result.arp_answered and result.answered_by_mac == b_vmk1_mac
    assert result.echo_replied and result.reply_iface == "vmk1"
    assert result.frames_out["vmk0"] == 0 and result.frames_out["vmk1"] >= 2  # ARP + echo


def test_shared_subnet_sends_vmotion_out_of_vmk0_where_nobody_answers(lab: Lab,
                                                                      pool: AgentPool) -> None:
    result = pool.agent(lab.vmk.host_a).egress_path(lab.vmk.b_vmk1_same_subnet)

    assert (result.route_iface, result.route_src) == ("vmk0", "198.18.4.11")
    assert not result.arp_answered and result.answered_by_mac is None
    assert not result.echo_replied and result.reply_iface is None
    assert result.frames_out["vmk0"] >= 1 and result.frames_out["vmk1"] == 0


def test_management_peer_in_the_shared_subnet_is_fine(lab: Lab, pool: AgentPool) -> None:
    result = pool.agent(lab.vmk.host_a).egress_path(lab.vmk.b_vmk0)

    assert result.route_iface == "vmk0" and result.echo_replied
    assert result.answered_by_mac == _mac(lab, lab.vmk.host_b, "vmk0")


def test_no_broadcast_fallback_for_the_wrong_vlan_peer(lab: Lab, pool: AgentPool) -> None:
    """B would accept a broadcast echo for .22 arriving on vmk0 (weak host model) and reply:
    scapy's sr1 fallback turns this broken path into a success; the agent must not."""
    result = pool.agent(lab.vmk.host_a).echo(lab.vmk.b_vmk1_same_subnet, timeout=0.3)

    assert (result.iface, result.arp_answered, result.replied) == ("vmk0", False, False)


def test_pinning_the_vmk_like_vmkping_i_overrides_the_route(lab: Lab, pool: AgentPool) -> None:
    agent = pool.agent(lab.vmk.host_a)
    # B's vmk0 address asked for on VLAN 20: strict ARP on B leaves it unanswered
    wrong_vlan = agent.echo(lab.vmk.b_vmk0, iface="vmk1", timeout=0.3)
    # B's vmk1 answers ARP, but B routes its reply to 198.18.4.21 out of its own vmk0 and
    # asks for it there in vain: F12 breaks the return path on the peer too
    pinned = agent.echo(lab.vmk.b_vmk1_same_subnet, iface="vmk1", timeout=0.3)
    mtu = agent.path_mtu(lab.vmk.b_vmk1_own_subnet, iface="vmk1")

    assert (wrong_vlan.iface, wrong_vlan.src, wrong_vlan.arp_answered) == (
        "vmk1", "198.18.4.21", False)
    assert (pinned.iface, pinned.arp_answered, pinned.replied) == ("vmk1", True, False)
    assert (mtu.src_iface, mtu.method, mtu.path_mtu) == ("vmk1", "clean", 1500)
    with pytest.raises(ProbeError) as err:  # the routed path: vmk0, where nobody answers
        agent.path_mtu(lab.vmk.b_vmk1_same_subnet)
    assert err.value.error_type == "NoArpReply" and err.value.detail["iface"] == "vmk0"


def _mac(lab: Lab, ns: str, iface: str) -> str:
    out = lab.netlab.exec(ns, "cat", f"/sys/class/net/{iface}/address").stdout
    return out.strip()
