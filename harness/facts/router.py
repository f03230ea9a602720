"""What a router reported about itself: interfaces, routing table, gateways, forwarding, NAT.

One set of records for every kind of router, so one check judges them all: the OPNsense
driver fills them from the router's REST API, the SSH reader from a Linux router's iproute2,
sysctl and nftables. Each snapshot says where every part was read (`reads`), so a finding can
cite the API call or the command its evidence came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal

RouterKind = Literal["opnsense", "linux"]


@dataclass(frozen=True)
class RouterInterfaceFacts:
    """One network interface of a router.

    Attributes:
        device: the kernel's name (`vtnet1`, `underlay_a`).
        identifier: OPNsense's assignment (`lan`, `wan`, `opt3`); None when unassigned or the
            router has no such notion (Linux).
        description: OPNsense's description (`UNDERLAY_A`); None when it has none.
        status: `up`, `down` (administratively) or what the link says (`no carrier`).
        mtu: None when the router did not report one.
    """

    device: str
    status: str
    mtu: int | None
    addresses: tuple[IPv4Interface, ...] = ()
    identifier: str | None = None
    description: str | None = None
    enabled: bool | None = None
    mac: str | None = None

    def known_as(self, name: str) -> bool:
        """Whether the lab's interface name means this interface: its device, its OPNsense
        identifier or its description (case-insensitive, as engineers write them)."""
        wanted = name.casefold()
        return any(n is not None and n.casefold() == wanted
                   for n in (self.device, self.identifier, self.description))


@dataclass(frozen=True)
class RouteFacts:
    """One entry of the router's routing table (netstat -rn on OPNsense, `ip route` on Linux).

    Attributes:
        destination: `default`, a prefix (`198.18.50.0/24`) or a host (`198.18.50.1`).
        gateway: a next-hop address, or `link#N` for a connected network (BSD's word).
        flags: BSD route flags (`U` up, `G` via a gateway, `S` static, `H` host).
        interface: the device the route leaves by.
    """

    destination: str
    gateway: str
    flags: str
    interface: str
    mtu: int | None = None

    @property
    def network(self) -> IPv4Network | None:
        """The destination as an IPv4 prefix (`default` is 0.0.0.0/0); None for IPv6 or junk."""
        if self.destination == "default":
            return IPv4Network("0.0.0.0/0")
        try:
            return IPv4Network(self.destination, strict=False)
        except ValueError:
            return None

    @property
    def next_hop(self) -> IPv4Address | None:
        """The gateway address; None for a connected route."""
        try:
            return IPv4Address(self.gateway)
        except ValueError:
            return None

    @property
    def up(self) -> bool:
        return "U" in self.flags


@dataclass(frozen=True)
class GatewayFacts:
    """A gateway the router monitors (OPNsense: dpinger), as its status page shows it.

    Attributes:
        status: OPNsense's code: `none` (Online), `down`, `force_down`, `loss`, `delay`,
            `delay+loss`; anything else means pending.
        loss, delay, stddev: as reported (`0.0 %`, `0.4 ms`; `~` when not monitored).
    """

    name: str
    address: str
    status: str
    status_translated: str = ""
    loss: str = "~"
    delay: str = "~"
    stddev: str = "~"
    monitor: str = "~"

    @property
    def online(self) -> bool:
        return self.status == "none"


@dataclass(frozen=True)
class NatRuleFacts:
    """A source NAT rule (OPNsense: Firewall > Automation > Source NAT; Linux: masquerade).

    Attributes:
        interface: where translated packets leave (OPNsense identifier or device name).
        source: the source network matched (`198.18.200.0/22`, `any`).
        target: what the source becomes (`wanip`: the interface address; an address).
    """

    interface: str
    source: str
    target: str
    enabled: bool = True
    description: str = ""


@dataclass(frozen=True)
class RouterFacts:
    """Everything read from one router in one pass.

    Attributes:
        source: how it was reached (`https://198.19.255.2/api`, `ssh opnsense01`).
        reads: what -> where it was read (`interfaces` -> `GET https://.../api/interfaces/
            overview/interfacesInfo`); findings cite these.
        firmware: the product and version it reports (`OPNsense 25.7.3`).
        forwarding: IPv4 forwarding; None when the router does not say (OPNsense before 25.1
            has no tunables API).
        gateways: None when the router has no gateway objects (Linux).
        nat: None when the router's NAT could not be read through this door.
    """

    name: str
    kind: RouterKind
    source: str
    interfaces: tuple[RouterInterfaceFacts, ...]
    routes: tuple[RouteFacts, ...]
    firmware: str | None = None
    version: str | None = None
    forwarding: bool | None = None
    gateways: tuple[GatewayFacts, ...] | None = None
    nat: tuple[NatRuleFacts, ...] | None = None
    reads: Mapping[str, str] = field(default_factory=dict)

    def interface(self, name: str) -> RouterInterfaceFacts | None:
        """The interface the lab calls `name`, by device, identifier or description."""
        return next((i for i in self.interfaces if i.known_as(name)), None)

    def read(self, what: str) -> str:
        """Where `what` was read, for a finding's evidence."""
        return self.reads.get(what, self.source)
