"""Pure parts of the probe driver: wire round trips, the policy, frame parsing, the protocol.

These run without root or namespaces.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.drivers.probe.agent import Agent, AgentInfo
from harness.probes import frames
from harness.probes.beacon import BeaconResult
from harness.probes.capture import CaptureFilter, CaptureResult
from harness.probes.cdp_lldp import Neighbour, NeighbourReport
from harness.probes.echo import EchoResult
from harness.probes.errors import BadRequest, PolicyRefused
from harness.probes.evidence import (
    SNAPLEN,
    Frame,
    FrameLog,
    frames_from_wire,
    frames_to_wire,
    pcap_bytes,
)
from harness.probes.flood import FloodResult, SendResult
from harness.probes.link import ArpResult, InterfaceInfo
from harness.probes.mtu import Hop, PathMtuResult, SizeProbe
from harness.probes.path import EgressResult
from harness.probes.policy import Policy
from harness.probes.trunk import Seen, TrunkEcho
from harness.probes.vxlan import OverlayPingResult

RESULTS: list[Any] = [
    PathMtuResult("198.18.20.2", "up0", 1500, Hop(2, "198.18.12.2", 1500), 2,
                  [Hop(1, "198.18.10.1"), Hop(2, "198.18.12.2", 1500), Hop(3, None)], True,
                  "frag-needed", [SizeProbe(1600, "frag-needed", 1500, "198.18.12.2"),
                                  SizeProbe(1500, "reply", None, "198.18.20.2")], 12.5),
    NeighbourReport({"vmnic0": [Neighbour("cdp", "sw1", "Gi1/0/1", "WS-C3850", "IOS",
                                          ["198.18.31.2"])], "vmnic1": []}, "any", False, 2500),
    BeaconResult("vmnic0", "198.18.30.1", True, 0.4, "02:00:00:00:00:01"),
    FloodResult("02:bf:c6:12:00:0a", 10, {"node1": 10, "node2": 0}),
    SendResult("nlbc0", "02:bf:c6:12:00:0a", "02:00:00:00:00:02", 10, 1.5),
    EgressResult("198.18.4.22", "vmk0", "198.18.4.11", False, None, False,
                 {"vmk0": 2, "vmk1": 0}, None),
    OverlayPingResult("198.18.61.2", 3, 3, 3, {1: 2, 2: 2, 3: 2}, 0, "vxlan5001", [0.1]),
    EchoResult("198.18.20.2", "up0", "198.18.10.2", "198.18.10.1", True, "02:00:00:00:00:03",
               True, 0.3, 62),
    ArpResult("up0", "198.18.10.1", True, "02:00:00:00:00:03", 0.1, 1),
    InterfaceInfo("up0", 2, "02:00:00:00:00:04", 1600, True, True, ["198.18.10.2/24"], "veth",
                  True),
    CaptureResult("cap-1", {"nlb0": 5}, 52.0, "/tmp/x.pcap", 5,
                  [Frame(1.5, "nlb0", b"\x02" * 60, 60, False)]),
    TrunkEcho("tr0", 20, "198.18.20.250/24", "198.18.20.12", "198.18.20.12", True,
              "02:00:00:00:00:05", 3, 64, True, {1: 1, 2: 2, 3: 0},
              [Seen("echo-reply", "tr0", 10, "02:00:00:00:00:06", "198.18.20.12", 1.25, 1)],
              20.0, [Frame(1.5, "tr0", b"\x01" * 64, 1514, True)]),
    AgentInfo("lh-tp-mh", 42, 4026531840, 1, "/x/agent.py", "2.8.0", ["up*"],
              ["198.18.0.0/15"], 1.5),
]


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: type(r).__name__)
def test_results_survive_the_json_wire(result: Any) -> None:
    wire = json.loads(json.dumps(result.to_dict()))

    assert type(result).from_dict(wire) == result


def test_policy_matches_globs_and_prefixes() -> None:
    policy = Policy.build(["vmk*", "vmnic?"], ["198.18.0.0/15"])

    assert policy.iface_allowed("vmk10") and policy.iface_allowed("vmnic1")
    assert not policy.iface_allowed("vmnic10") and not policy.iface_allowed("eth0")
    assert policy.dst_allowed("198.19.255.254") and not policy.dst_allowed("198.20.0.1")
    with pytest.raises(PolicyRefused, match=r"allowed: vmk\*, vmnic\?"):
        policy.check_iface("eth0")
    with pytest.raises(BadRequest, match="not an IPv4 address"):
        policy.check_dst("esx01.example.test")
    with pytest.raises(BadRequest, match="at least one allowed destination prefix"):
        Policy.build(["*"], [])
    with pytest.raises(BadRequest, match="invalid allowed prefix"):
        Policy.build(["*"], ["198.18.0.1/15"])


def test_frames_built_by_scapy_parse_back() -> None:
    arp = frames.parse_arp(frames.arp_request("02:00:00:00:00:01", "0.0.0.0", "198.18.30.1"))
    echo = frames.icmp_echo("02:00:00:00:00:01", "02:00:00:00:00:02", "198.18.10.2",
                            "198.18.20.2", 0x1234, 7, size=1500, ttl=3)
    ip = frames.parse_ipv4(echo)

    assert arp == frames.ArpView(1, "02:00:00:00:00:01", "0.0.0.0", "00:00:00:00:00:00",
                                 "198.18.30.1")
    assert ip is not None and (ip.total_length, ip.ttl, len(echo)) == (1500, 3, 1514)
    icmp = frames.parse_icmp(ip)
    assert icmp is not None and (icmp.type, icmp.ident, icmp.seq) == (8, 0x1234, 7)


def test_frag_needed_quotes_the_probe_it_answers() -> None:
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import Ether

    probe = IP(bytes(IP(src="198.18.10.2", dst="198.18.20.2", flags="DF")
                     / ICMP(id=0x1234, seq=9) / (b"\0" * 1572)))
    error = bytes(Ether(src="02:00:00:00:00:05", dst="02:00:00:00:00:01")
                  / IP(src="198.18.12.2", dst="198.18.10.2")
                  / ICMP(type=3, code=4, nexthopmtu=1500) / bytes(probe)[:28])
    ip = frames.parse_ipv4(error)
    assert ip is not None
    icmp = frames.parse_icmp(ip)

    assert icmp is not None
    assert (icmp.type, icmp.code, icmp.next_hop_mtu) == (3, 4, 1500)
    assert (icmp.ident, icmp.seq, icmp.inner_dst, icmp.inner_length) == (
        0x1234, 9, "198.18.20.2", 1600)


def test_capture_filter_direction_and_fields() -> None:
    frame = frames.ether_frame("02:00:00:00:00:01", "02:bf:c6:12:00:0a", 0x88B5, b"x")
    flt = CaptureFilter(dst_mac="02:bf:c6:12:00:0a", ethertype=0x88B5)

    assert flt.matches(frame, 3) and not flt.matches(frame, frames.PACKET_OUTGOING)
    assert CaptureFilter(direction="out").matches(frame, frames.PACKET_OUTGOING)
    assert not CaptureFilter(ip_proto=1).matches(frame, 0)
    with pytest.raises(BadRequest, match="one of in, out, any"):
        CaptureFilter(direction="both")


def _ask(agent: Agent, request: Any) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(agent.handle(json.dumps(request).encode()))
    return answer


def test_protocol_errors_answer_instead_of_crashing() -> None:
    agent = Agent(Policy.build(["up*"], ["198.18.0.0/15"]), "unit")

    assert _ask(agent, {"id": 1, "op": "ping"})["result"]["name"] == "unit"
    not_json = json.loads(agent.handle(b"{nope"))
    assert not not_json["ok"] and not_json["error"]["type"] == "BadRequest"
    missing = _ask(agent, {"id": 2, "op": "beacon", "args": {"iface": "up0"}})
    assert missing["id"] == 2 and "missing argument 'target'" in missing["error"]["message"]
    refused = _ask(agent, {"id": 3, "op": "beacon",
                           "args": {"iface": "up0", "target": "8.8.8.8"}})
    assert refused["error"]["type"] == "PolicyError"
    assert refused["error"]["detail"] == {"address": "8.8.8.8"}
    shut = _ask(agent, {"id": 4, "op": "shutdown"})
    assert shut["ok"] and agent.stopping


def test_evidence_pcap_is_read_back_by_scapy(tmp_path: Any) -> None:
    """The frames a verdict cites, written by our pcap writer, read by scapy's: VLAN tags,
    timestamps, and the length on the wire of a frame cut to the snap length."""
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import Dot1Q
    from scapy.utils import rdpcap

    echo = frames.icmp_echo("02:00:00:00:00:01", "02:00:00:00:00:02", "198.18.20.250",
                            "198.18.20.12", 7, 1, size=1600)
    log = FrameLog(limit=2)
    log.add("tr0", frames.tagged(echo, 20), sent=True, at=1000.25)
    log.add("tr1", frames.tagged(echo, 10), at=1000.5)
    log.add("tr0", echo)  # past the limit: counted, not kept
    assert log.dropped == 1 and len(log.frames) == 2
    path = tmp_path / "evidence.pcap"
    path.write_bytes(pcap_bytes(log.frames))
    packets = rdpcap(str(path))
    assert [p[Dot1Q].vlan for p in packets] == [20, 10]
    assert [float(p.time) for p in packets] == [1000.25, 1000.5]
    assert packets[0][IP].dst == "198.18.20.12" and packets[0][ICMP].seq == 1
    assert len(bytes(packets[0])) == SNAPLEN and packets[0].wirelen == len(echo) + 4


def test_frames_from_the_wire_decode_on_first_use() -> None:
    """A result's frames cross the agent's JSON channel and are decoded only when a verdict
    cites them; sent on again, they are the same dicts, and they equal the frames they carry."""
    echo = frames.icmp_echo("02:00:00:00:00:01", "02:00:00:00:00:02", "198.18.20.250",
                            "198.18.20.12", 7, 1, size=1600)
    log = FrameLog()
    log.add("tr0", frames.tagged(echo, 20), sent=True, at=1000.25)
    log.add("tr1", echo, at=1000.5)
    wire = frames_to_wire(log.frames)
    got = frames_from_wire(json.loads(json.dumps(wire)))
    assert len(got) == 2 and frames_to_wire(got) == wire
    assert got == log.frames and log.frames == got and list(got) == log.frames
    assert got[1].iface == "tr1" and got[0].sent and got[0].length == len(echo) + 4
    assert pcap_bytes(got) == pcap_bytes(log.frames)
    assert frames_from_wire(None) == [] and frames_from_wire([]) != log.frames

    broken = frames_from_wire([{"at": 1.0, "iface": "tr0", "data": "zz", "length": 1}])
    assert len(broken) == 1  # nothing decoded yet: a verdict that cites it finds out
    with pytest.raises(ValueError, match="non-hexadecimal"):
        list(broken)


def test_a_trunk_identity_keeps_only_its_own_icmp_as_evidence() -> None:
    """Probes of one address run side by side in a batch (every pair from one vmknic): each
    keeps the replies and ICMP errors that carry its own echo identifier, ARP about the
    address, and IP to it that cannot be attributed; not the replies to the other probes."""
    import ipaddress

    from scapy.layers.inet import ICMP, IP, UDP
    from scapy.layers.l2 import Ether

    from harness.probes.link import Received
    from harness.probes.trunk import TrunkLink

    me, peer, mine, theirs = "198.18.20.250", "198.18.20.12", "02:00:00:00:00:01", \
        "02:00:00:00:00:02"

    class Wire:
        def send(self, iface: str, frame: bytes) -> None:
            pass

    link = TrunkLink.__new__(TrunkLink)  # the identity without a namespace behind it
    link.ctx, link.iface, link.vlan, link.mac = Wire(), "tr0", None, mine
    link.address, link.idents, link.seen, link.log = (
        ipaddress.IPv4Interface(f"{me}/24"), set(), [], FrameLog())
    link.start = 0.0
    link.send(frames.icmp_echo(mine, theirs, me, peer, 7, 1))

    def reply(ident: int) -> bytes:
        return bytes(Ether(src=theirs, dst=mine) / IP(src=peer, dst=me)
                     / ICMP(type=0, id=ident, seq=1))

    def error(inner: Any) -> bytes:
        return bytes(Ether(src=theirs, dst=mine) / IP(src="198.18.20.1", dst=me)
                     / ICMP(type=3, code=4, nexthopmtu=1500) / IP(src=me, dst=peer) / inner)

    arrived = {"my reply": reply(7), "another probe's reply": reply(8),
               "my frag-needed": error(ICMP(id=7, seq=1)),
               "another probe's frag-needed": error(ICMP(id=8, seq=1)),
               "unreachable for UDP": error(UDP(sport=33434, dport=33434)),
               "ARP for me": frames.arp_request(theirs, peer, me),
               "ARP for another": frames.arp_request(theirs, peer, "198.18.20.99")}
    for frame in arrived.values():
        link._observe(Received("tr0", frame, 0, 0.0))
    kept = [f.data for f in link.log.frames if not f.sent]
    assert [label for label, frame in arrived.items() if frame[:SNAPLEN] in kept] == [
        "my reply", "my frag-needed", "unreachable for UDP", "ARP for me"]
    assert link.idents == {7}
