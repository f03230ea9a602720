"""What an ESXi host itself reports through esxcli (read through vCenter: the host's
ManagedMethodExecuter, as `govc host.esxcli` and PowerCLI's Get-EsxCli use it).

Records only, in esxcli's own words: a route's Network is "default" for 0.0.0.0/0 and its
Gateway 0.0.0.0 for a connected network, a ping's summary counts what vmkping counted. Each
record can render itself as evidence that cites the command an engineer would type on the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from harness.facts import JsonValue

DEFAULT_NETSTACK = "defaultTcpipStack"


@dataclass(frozen=True)
class RouteEntry:
    """One line of `esxcli network ip route ipv4 list [-N netstack]`."""

    network: str  # "default" or the network address
    netmask: str
    gateway: str  # 0.0.0.0 for a connected network
    interface: str
    source: str  # MANUAL | DHCP

    @property
    def prefix(self) -> IPv4Network:
        address = "0.0.0.0" if self.network == "default" else self.network
        return IPv4Network(f"{address}/{self.netmask}", strict=False)

    def contains(self, ip: IPv4Address) -> bool:
        return ip in self.prefix

    def to_dict(self) -> dict[str, JsonValue]:
        return {"network": self.network, "netmask": self.netmask, "gateway": self.gateway,
                "interface": self.interface, "source": self.source}


@dataclass(frozen=True)
class VmkInterface:
    """One vmknic of `esxcli network ip interface list` with its address from
    `esxcli network ip interface ipv4 get`."""

    name: str
    netstack: str
    enabled: bool
    mtu: int
    mac: str
    portset: str
    portgroup: str | None  # None on a distributed switch
    vds_name: str | None
    ipv4: str | None = None
    ipv4_netmask: str | None = None
    address_type: str | None = None  # STATIC | DHCP | NONE


@dataclass(frozen=True)
class HostNic:
    """One vmnic of `esxcli network nic list`, with `nic get`'s driver information."""

    name: str
    pci: str
    driver: str
    admin_up: bool
    link_up: bool
    speed_mb: int
    duplex: str
    mac: str
    mtu: int
    description: str
    driver_version: str | None = None
    firmware: str | None = None  # DriverInfo.FirmwareVersion, as the driver prints it

    def to_dict(self) -> dict[str, JsonValue]:
        return {"name": self.name, "pci": self.pci, "driver": self.driver,
                "admin_status": "Up" if self.admin_up else "Down",
                "link_status": "Up" if self.link_up else "Down", "speed": self.speed_mb,
                "duplex": self.duplex, "mac": self.mac, "mtu": self.mtu,
                "description": self.description, "driver_version": self.driver_version,
                "firmware_version": self.firmware}


@dataclass(frozen=True)
class Neighbour:
    """One entry of `esxcli network ip neighbor list`."""

    ip: str
    mac: str
    vmknic: str
    expiry: str
    type: str


@dataclass(frozen=True)
class StorageAdapter:
    """One line of `esxcli storage core adapter list`."""

    name: str  # vmhbaN
    driver: str
    link_state: str
    uid: str
    capabilities: str
    description: str

    def to_dict(self) -> dict[str, JsonValue]:
        return {"hba": self.name, "driver": self.driver, "link_state": self.link_state,
                "uid": self.uid, "description": self.description}


@dataclass(frozen=True)
class HostView:
    """Everything the checks read from one host's esxcli, in one batch.

    Attributes:
        routes: netstack -> its IPv4 routes, for every netstack the host's vmknics are on.
        requests: SOAP requests the batch took for this host.
    """

    host: str
    interfaces: tuple[VmkInterface, ...]
    routes: Mapping[str, tuple[RouteEntry, ...]]
    nics: Mapping[str, HostNic]
    neighbours: tuple[Neighbour, ...]
    storage_adapters: tuple[StorageAdapter, ...]
    requests: int = 0

    def interface(self, name: str) -> VmkInterface | None:
        return next((i for i in self.interfaces if i.name == name), None)


@dataclass(frozen=True)
class PingRequest:
    """One `esxcli network diag ping` (vmkping) to run on a host."""

    host: str  # the ESXi host that pings
    target: str  # IPv4 address
    netstack: str | None = None  # -N
    interface: str | None = None  # -I, a vmknic on that netstack
    df: bool = False  # -d
    size: int | None = None  # -s, ICMP payload: 1572 makes a 1600-byte packet
    count: int = 3  # -c
    interval: float | None = None  # -i, seconds between echoes (ESXi's default: 1)

    def duration_s(self) -> float:
        """How long the host takes to answer: `count` echoes `interval` apart (ESXi: 1 s unless
        -i says otherwise) and a second's wait (-W 1) after the last; the SOAP read must allow
        that on top."""
        return self.count * (1.0 if self.interval is None else self.interval) + 1.0

    def command(self) -> str:
        """The command line an engineer would run on the host for the same ping."""
        parts = ["esxcli network diag ping", f"--host={self.target}"]
        if self.netstack:
            parts.append(f"--netstack={self.netstack}")
        if self.interface:
            parts.append(f"--interface={self.interface}")
        if self.df:
            parts.append("--df")
        if self.size is not None:
            parts.append(f"--size={self.size}")
        parts.append(f"--count={self.count}")
        if self.interval is not None:
            parts.append(f"--interval={self.interval:g}")
        return " ".join(parts)


@dataclass(frozen=True)
class PingTrace:
    """One line of the ping's Trace: a reply, or an ICMP error with its Detail."""

    host: str
    icmp_seq: int
    ttl: int
    received_bytes: int
    roundtrip_us: int
    dup: bool
    detail: str

    def to_dict(self) -> dict[str, JsonValue]:
        return {"host": self.host, "icmp_seq": self.icmp_seq, "ttl": self.ttl,
                "received_bytes": self.received_bytes, "roundtrip_us": self.roundtrip_us,
                "dup": self.dup, "detail": self.detail}


@dataclass(frozen=True)
class PingResult:
    """What the host's vmkping reported: its Summary and Trace, or the CLI's fault (ESXi
    answers a DF packet larger than the vmknic's MTU with "sendto() failed (Message too long)"
    instead of a summary)."""

    request: PingRequest
    transmitted: int = 0
    received: int = 0  # Summary.Recieved [sic]
    duplicated: int = 0
    packet_lost: int = 100  # percent
    roundtrip_avg_us: int = 0
    trace: tuple[PingTrace, ...] = ()
    fault: tuple[str, ...] = field(default_factory=tuple)

    @property
    def answered(self) -> bool:
        return not self.fault and self.received > 0

    def icmp_errors(self) -> tuple[PingTrace, ...]:
        """Trace entries that are not replies (Frag needed, unreachable...)."""
        return tuple(t for t in self.trace if t.detail)

    def to_dict(self) -> dict[str, JsonValue]:
        """The host's own output, for a finding's evidence."""
        out: dict[str, JsonValue] = {"host": self.request.host,
                                     "command": self.request.command()}
        if self.fault:
            out["fault"] = list(self.fault)
            return out
        out["summary"] = {"Transmitted": self.transmitted, "Recieved": self.received,
                          "Duplicated": self.duplicated, "PacketLost": self.packet_lost,
                          "RoundtripAvg": self.roundtrip_avg_us}
        out["trace"] = [t.to_dict() for t in self.trace]
        return out
