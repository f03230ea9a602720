"""What probes observed on a lab's wire, as the network checks read it.

Probe agents return their own detailed results (`harness.probes`); the suites condense them into
these records, which name lab subjects (`esx01/vmk1`) and keep the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Interface

from harness.facts import JsonValue

UplinkKey = tuple[str, str]  # (host, vmnic)


@dataclass(frozen=True)
class Heard:
    """One CDP/LLDP neighbour heard on an interface."""

    protocol: str  # cdp | lldp
    device: str
    port: str


@dataclass(frozen=True)
class PathObservation:
    """A probe along a path between two lab endpoints."""

    source: str  # `esx01/vmk1`, `web01/ethernet0`
    target: str  # `esx02/vmk1`, an address
    ok: bool
    detail: str
    evidence: Mapping[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """A frame about a probe's own address, as the probe saw it: what it was, the VLAN it
    arrived on and who sent it (an echo reply, an ARP request looking for the probe, an ICMP
    error)."""

    kind: str  # echo-reply | arp-request | frag-needed | time-exceeded | unreachable
    vlan: int | None
    src_mac: str
    src_ip: str


@dataclass(frozen=True)
class VmknicTarget:
    """A vmknic as the wire tests aim at it: its address, MAC and port group, as vCenter
    reports them (`observed`) or as the lab says when there is no vCenter to ask (`intent`)."""

    host: str
    name: str
    ip: IPv4Interface
    mac: str | None
    port_group: str
    source: str  # observed | intent

    @property
    def subject(self) -> str:
        return f"{self.host}/{self.name}"
