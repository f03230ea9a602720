"""The agent itself: namespace isolation, the safety policy, the protocol, process lifecycle."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.drivers.probe.client import (
    AgentPool,
    AgentUnavailable,
    BatchCall,
    PolicyError,
    ProbeError,
    ProbeTimeout,
)
from harness.probes.echo import EchoResult
from tests.probe.netlab import NetLab, existing_netns
from tests.probe.topology import ALLOW_IFACES, ALLOW_PREFIX, Lab


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _root_default_gateway() -> str | None:
    out = subprocess.run(["ip", "-4", "route", "show", "default"], capture_output=True,
                         text=True, check=False).stdout.split()
    return out[out.index("via") + 1] if "via" in out else None


def test_each_agent_runs_in_its_own_namespace(lab: Lab, pool: AgentPool) -> None:
    inodes = {ns: pool.agent(ns).ping().netns_inode for ns in lab.agent_namespaces}

    assert len(set(inodes.values())) == len(inodes)
    assert os.stat("/proc/self/ns/net").st_ino not in inodes.values()
    assert {ns: pool.agent(ns).ping().pid for ns in inodes} == pool.agent_pids


def test_agents_started_niced_serve_at_the_harness_niceness(pool: AgentPool) -> None:
    # the pool started with start_nice=5 (conftest): only the start yields the CPU
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    pids = [pool.proc.pid, *pool.agent_pids.values()]
    assert len(pids) > 1
    assert {pid: os.getpriority(os.PRIO_PROCESS, pid) for pid in pids} == dict.fromkeys(pids, ours)


def test_scapy_routes_are_the_namespaces_not_the_roots(lab: Lab, pool: AgentPool) -> None:
    routes = pool.agent(lab.mtu.host).scapy_routes()
    by_network = {r.network: r for r in routes}

    assert by_network["0.0.0.0/0"].gateway == lab.mtu.gateway
    assert by_network["0.0.0.0/0"].iface == "up0"
    assert by_network["198.18.10.0/24"].src == "198.18.10.2"
    names = {i.name for i in pool.agent(lab.mtu.host).interfaces()}
    assert {r.iface for r in routes} <= names
    root_gw = _root_default_gateway()
    assert root_gw is None or root_gw not in {r.gateway for r in routes}


def test_interfaces_report_mtu_mac_and_policy(lab: Lab, pool: AgentPool) -> None:
    ifaces = {i.name: i for i in pool.agent(lab.mtu.host).interfaces()}

    assert ifaces["up0"].mtu == 1600 and ifaces["up0"].ipv4 == ["198.18.10.2/24"]
    assert ifaces["up0"].up and ifaces["up0"].carrier and ifaces["up0"].allowed
    assert not ifaces["mgmt0"].allowed and not ifaces["lo"].allowed
    assert len(ifaces["up0"].mac.split(":")) == 6


@pytest.mark.parametrize(("op", "args"), [
    ("beacon", {"iface": "mgmt0", "target": "198.18.10.1"}),
    ("arp", {"iface": "lo", "target": "198.18.10.1"}),
    ("neighbours", {"ifaces": ["up0", "mgmt0"], "timeout": 0.1}),
    ("capture_start", {"ifaces": ["mgmt0"]}),
    ("send_frames", {"iface": "mgmt0", "dst_mac": "02:00:00:00:00:01", "count": 1}),
])
def test_policy_refuses_interfaces_outside_the_lab(lab: Lab, pool: AgentPool, op: str,
                                                   args: dict[str, object]) -> None:
    with pytest.raises(PolicyError) as err:
        pool.agent(lab.mtu.host).call(op, **args)

    assert err.value.namespace == lab.mtu.host and err.value.op == op
    assert "not allowed by the probe policy" in err.value.message


@pytest.mark.parametrize("op", ["echo", "path_mtu", "egress_path", "overlay_ping"])
def test_policy_refuses_destinations_outside_198_18(lab: Lab, pool: AgentPool, op: str) -> None:
    with pytest.raises(PolicyError, match=r"192\.0\.2\.1 is outside"):
        pool.agent(lab.mtu.host).call(op, dst="192.0.2.1")


def test_beacon_target_outside_prefix_is_refused(lab: Lab, pool: AgentPool) -> None:
    with pytest.raises(PolicyError, match="outside"):
        pool.agent(lab.uplinks.esx).beacon("vmnic0", "10.0.0.1")


def test_arp_less_destination_is_reported_not_broadcast(lab: Lab, pool: AgentPool) -> None:
    """scapy's sr1 would broadcast the echo when ARP fails, and any host owning the address on
    the segment would answer; the agent reports the failed ARP and sends nothing more."""
    agent = pool.agent(lab.mtu.host)
    capture = agent.capture_start(["up0"], direction="out", ethertype=0x0800)
    result = agent.echo(lab.mtu.unused, timeout=0.3)
    sent_ip = agent.capture_stop(capture).total

    assert not result.arp_answered and not result.replied and result.next_hop_mac is None
    assert sent_ip == 0
    with pytest.raises(ProbeError) as err:
        agent.path_mtu(lab.mtu.unused)
    assert err.value.error_type == "NoArpReply"


def test_echo_through_a_router_uses_the_gateways_mac(lab: Lab, pool: AgentPool) -> None:
    result = pool.agent(lab.mtu.host).echo(lab.mtu.dst)

    assert result.replied and result.next_hop == lab.mtu.gateway
    assert result.reply_ttl == 62  # two routers on the way back


def test_bad_requests_name_what_is_allowed(lab: Lab, pool: AgentPool) -> None:
    agent = pool.agent(lab.mtu.host)
    with pytest.raises(ProbeError, match=r"unknown op 'tracert'; known: .*path_mtu") as err:
        agent.call("tracert", dst=lab.mtu.dst)
    assert err.value.error_type == "BadRequest"
    with pytest.raises(ProbeError, match="unknown argument 'dstt' for echo; did you mean 'dst'"):
        agent.call("echo", dstt=lab.mtu.dst)
    with pytest.raises(ProbeError, match="'count' must be an integer"):
        agent.call("send_frames", iface="up0", dst_mac="02:00:00:00:00:01", count="3")
    assert agent.ping().pid == pool.agent_pids[lab.mtu.host]  # still serving


def test_capture_counts_and_writes_a_pcap(lab: Lab, pool: AgentPool, tmp_pcap: Path) -> None:
    sender, receiver = pool.agent(lab.flood.client), pool.agent(lab.flood.node1)
    capture = receiver.capture_start(["nlb0"], ethertype=0x88B5, pcap_path=str(tmp_pcap))
    sender.send_frames("nlbc0", "ff:ff:ff:ff:ff:ff", 5)
    time.sleep(0.05)
    result = receiver.capture_stop(capture)

    assert result.counts == {"nlb0": 5} and result.frames_written == 5
    from scapy.layers.l2 import Ether
    from scapy.utils import rdpcap

    packets = rdpcap(str(tmp_pcap))
    assert len(packets) == 5 and all(p[Ether].type == 0x88B5 for p in packets)
    with pytest.raises(ProbeError, match="no running capture"):
        receiver.capture_stop(capture)


def test_pool_close_leaves_no_process_and_namespace_goes(netlab: NetLab, tmp_path: Path) -> None:
    ns = netlab.add("life")
    try:
        pool = AgentPool.start([ns], tmp_path / "sock", [ALLOW_PREFIX], ALLOW_IFACES)
        pids = [pool.host_pid, *pool.agent_pids.values()]
        assert all(_alive(pid) for pid in pids)
        assert pool.agent(ns).ping().pid == pool.agent_pids[ns]
        pool.close()

        assert not any(_alive(pid) for pid in pids), pids
        assert not list((tmp_path / "sock").glob("*.sock"))
        assert netlab.pids_in(ns) == []
    finally:
        netlab.delete(ns)
    assert ns not in existing_netns()


def test_agents_die_with_a_killed_host(netlab: NetLab, tmp_path: Path) -> None:
    """Even SIGKILL, which the host cannot handle, leaves no agent behind (PR_SET_PDEATHSIG)."""
    ns = netlab.add("orphan")
    pool = AgentPool.start([ns], tmp_path / "sock", [ALLOW_PREFIX], ALLOW_IFACES)
    try:
        agent_pid = pool.agent_pids[ns]
        os.kill(pool.host_pid, signal.SIGKILL)
        pool.proc.wait()
        deadline = time.monotonic() + 3
        while _alive(agent_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(agent_pid)
    finally:
        pool.close()


def test_shutdown_stops_one_agent_and_the_host_reaps_it(netlab: NetLab, tmp_path: Path) -> None:
    ns1, ns2 = netlab.add("stop1"), netlab.add("stop2")
    pool = AgentPool.start([ns1, ns2], tmp_path / "sock", [ALLOW_PREFIX], ALLOW_IFACES)
    try:
        pid1 = pool.agent_pids[ns1]
        pool.agent(ns1).shutdown()
        deadline = time.monotonic() + 3
        while _alive(pid1) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(pid1)  # exited and reaped, not a zombie
        assert pool.agent(ns2).ping().pid == pool.agent_pids[ns2]
    finally:
        pool.close()


def test_a_timed_out_request_does_not_confuse_the_next_one(lab: Lab, pool: AgentPool) -> None:
    agent = pool.agent(lab.uplinks.esx)
    with pytest.raises(ProbeTimeout) as err:
        agent.call("neighbours", ifaces=["vmnic0"], timeout=0.8, expect="none",
                   call_timeout=0.2)
    assert err.value.namespace == lab.uplinks.esx and err.value.timeout == 0.2

    # the late answer to the timed-out request arrives first and is skipped by its id
    assert agent.ping().pid == pool.agent_pids[lab.uplinks.esx]


def test_a_missing_namespace_fails_the_start_with_the_reason(tmp_path: Path,
                                                             netlab: NetLab) -> None:
    with pytest.raises(AgentUnavailable, match="no network namespace 'lh-tp-absent'"):
        AgentPool.start(["lh-tp-absent"], tmp_path / "sock", [ALLOW_PREFIX], ALLOW_IFACES)


def test_a_batch_runs_probes_at_once_each_with_its_own_answers(lab: Lab, pool: AgentPool
                                                               ) -> None:
    """Eight probes in one batch, four at a time, on shared interfaces: each echo gets its own
    reply (no probe takes another's frames), a failed ARP stays that probe's result, and an op
    a batch may not run is that entry's error, not the batch's."""
    agent = pool.agent(lab.mtu.host)
    calls = [BatchCall("echo", {"dst": lab.mtu.dst, "timeout": 1.0}, 2.0) for _ in range(6)]
    calls.append(BatchCall("echo", {"dst": lab.mtu.unused, "timeout": 0.3}, 1.0))
    calls.append(BatchCall("shutdown", {}, 1.0))
    results = agent.batch(calls, parallel=4)

    assert len(results) == len(calls)
    echoes = [EchoResult.from_dict(r) for r in results[:6] if isinstance(r, dict)]
    assert len(echoes) == 6 and all(e.replied and e.reply_ttl == 62 for e in echoes)
    unused = results[6]
    assert isinstance(unused, dict) and not EchoResult.from_dict(unused).arp_answered
    refused = results[7]
    assert isinstance(refused, ProbeError) and refused.error_type == "BadRequest"
    assert "in a batch" in refused.message
    assert agent.ping().pid == pool.agent_pids[lab.mtu.host]  # still serving
    with pytest.raises(ProbeError, match="parallel 99 is not 1-32"):
        agent.batch(calls[:1], parallel=99)
