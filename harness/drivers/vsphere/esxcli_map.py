"""esxcli results (`EsxValue` trees) -> the typed records of `harness.facts.esxcli`.

Field names are esxcli's (the result struct's keys: `Recieved`, `DriverInfo.FirmwareVersion`,
`HBAName`). A field a command must have and lacks is an error that names the command and the
field; an optional one (a newer ESXi's addition) reads as its default.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.drivers.vsphere.esxcli import EsxcliError, EsxValue
from harness.facts.esxcli import (
    HostNic,
    Neighbour,
    PingRequest,
    PingResult,
    PingTrace,
    RouteEntry,
    StorageAdapter,
    VmkInterface,
)


class EsxcliResultError(EsxcliError):
    """An esxcli result lacks a field the harness reads, or has a value of the wrong kind."""

    def __init__(self, command: str, problem: str) -> None:
        super().__init__("", f"esxcli {command}", command, [problem], None)


def as_list(value: EsxValue) -> list[EsxValue]:
    """A list field: one element comes back as the element itself, none as ""."""
    if isinstance(value, list):
        return value
    return [] if value == "" else [value]


class _Struct:
    """Typed access to one result struct, with errors that say which command and field."""

    def __init__(self, command: str, value: EsxValue) -> None:
        if not isinstance(value, dict):
            raise EsxcliResultError(command, f"expected a struct, got {value!r:.80}")
        self.command, self.data = command, value

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key)
        if value is None:
            if default is None:
                raise EsxcliResultError(self.command, f"the result has no field {key}")
            return default
        if not isinstance(value, str):
            raise EsxcliResultError(self.command, f"field {key} is not a value: {value!r:.80}")
        return value

    def number(self, key: str, default: int | None = None) -> int:
        raw = self.text(key, None if default is None else str(default))
        try:
            return int(raw)
        except ValueError:
            raise EsxcliResultError(self.command, f"field {key} is {raw!r}, not an integer"
                                    ) from None

    def flag(self, key: str, default: bool | None = None) -> bool:
        raw = self.text(key, None if default is None else str(default).lower())
        return raw.strip().lower() == "true"

    def optional(self, key: str) -> str | None:
        value = self.data.get(key)
        return value if isinstance(value, str) and value not in ("", "N/A") else None

    def sub(self, key: str) -> _Struct:
        if key not in self.data:
            raise EsxcliResultError(self.command, f"the result has no field {key}")
        return _Struct(self.command, self.data[key])

    def subs(self, key: str) -> list[_Struct]:
        return [_Struct(self.command, v) for v in as_list(self.data.get(key, ""))]


def _rows(command: str, value: EsxValue) -> list[_Struct]:
    return [_Struct(command, v) for v in as_list(value)]


def routes(value: EsxValue) -> tuple[RouteEntry, ...]:
    command = "network ip route ipv4 list"
    return tuple(RouteEntry(r.text("Network"), r.text("Netmask"), r.text("Gateway"),
                            r.text("Interface"), r.text("Source", ""))
                 for r in _rows(command, value))


def interfaces(listed: EsxValue, ipv4: EsxValue) -> tuple[VmkInterface, ...]:
    """`ip interface list` joined with `ip interface ipv4 get` by vmknic name."""
    addresses = {r.text("Name"): r for r in _rows("network ip interface ipv4 get", ipv4)}
    out: list[VmkInterface] = []
    for r in _rows("network ip interface list", listed):
        name = r.text("Name")
        a = addresses.get(name)
        out.append(VmkInterface(
            name=name, netstack=r.text("NetstackInstance"), enabled=r.flag("Enabled"),
            mtu=r.number("MTU"), mac=r.text("MACAddress", ""), portset=r.text("Portset", ""),
            portgroup=r.optional("Portgroup"), vds_name=r.optional("VDSName"),
            ipv4=a.text("IPv4Address") if a else None,
            ipv4_netmask=a.text("IPv4Netmask") if a else None,
            address_type=a.text("AddressType", "") if a else None))
    return tuple(out)


def nics(listed: EsxValue, details: Mapping[str, EsxValue]) -> dict[str, HostNic]:
    """`nic list`, with `nic get -n` of each vmnic where it was read (driver version and
    firmware live only there)."""
    out: dict[str, HostNic] = {}
    for r in _rows("network nic list", listed):
        name = r.text("Name")
        version = firmware = None
        if name in details:
            info = _Struct("network nic get", details[name]).sub("DriverInfo")
            version, firmware = info.optional("Version"), info.optional("FirmwareVersion")
        out[name] = HostNic(
            name=name, pci=r.text("PCIDevice", ""), driver=r.text("Driver"),
            admin_up=r.text("AdminStatus", "Up") == "Up",
            link_up=r.text("LinkStatus", r.text("Link", "")) == "Up",
            speed_mb=r.number("Speed", 0), duplex=r.text("Duplex", ""),
            mac=r.text("MACAddress", ""), mtu=r.number("MTU", 0),
            description=r.text("Description", ""), driver_version=version, firmware=firmware)
    return out


def neighbours(value: EsxValue) -> tuple[Neighbour, ...]:
    return tuple(Neighbour(r.text("Neighbor"), r.text("MacAddress"), r.text("Vmknic"),
                           r.text("Expiry", ""), r.text("Type", ""))
                 for r in _rows("network ip neighbor list", value))


def storage_adapters(value: EsxValue) -> tuple[StorageAdapter, ...]:
    return tuple(StorageAdapter(r.text("HBAName"), r.text("Driver"), r.text("LinkState", ""),
                                r.text("UID", ""), r.text("Capabilities", ""),
                                r.text("Description", ""))
                 for r in _rows("storage core adapter list", value))


def ping(request: PingRequest, value: EsxValue) -> PingResult:
    """`network diag ping`: one Ping struct with its Summary and Trace entries."""
    command = "network diag ping"
    rows = _rows(command, value)
    if not rows:
        raise EsxcliResultError(command, "the result has no Ping")
    summary = rows[0].sub("Summary")
    trace = tuple(PingTrace(host=t.text("Host", ""), icmp_seq=t.number("ICMPSeq", 0),
                            ttl=t.number("TTL", 0), received_bytes=t.number("ReceivedBytes", 0),
                            roundtrip_us=t.number("RoundtripTime", 0),
                            dup=t.flag("Dup", False), detail=t.text("Detail", ""))
                  for t in rows[0].subs("Trace"))
    return PingResult(request=request, transmitted=summary.number("Transmitted"),
                      received=summary.number("Recieved"),
                      duplicated=summary.number("Duplicated", 0),
                      packet_lost=summary.number("PacketLost", 0),
                      roundtrip_avg_us=summary.number("RoundtripAvg", 0), trace=trace)
