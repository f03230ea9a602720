"""OPNsense API documents -> router facts. Pure functions: a parser gets a document and never
fetches.

The shapes are OPNsense's own, per release (core's controllers, read at their tags): numbers
often come as strings (`"mtu": "1500"`, ifconfig's regex capture), assigned interfaces carry
`ipv4: [{"ipaddr": "10.0.0.1/24"}]` while unassigned ones keep ifconfig's `ipaddr` and
`subnetbits`, `addr4` exists from 25.1 on, and search grids from 25.7 on hold raw values
next to `%field` descriptions. Each parser accepts every documented form and names the JSON
path of anything else.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Interface
from typing import Any

from harness.facts.router import GatewayFacts, NatRuleFacts, RouteFacts, RouterInterfaceFacts

FORWARDING_TUNABLE = "net.inet.ip.forwarding"
UNASSIGNED = "Unassigned Interface"


class PayloadProblem(ValueError):
    """A document's shape is not one OPNsense documents; `json_path` says where."""

    def __init__(self, json_path: str, message: str) -> None:
        self.json_path = json_path
        super().__init__(message)


@dataclass(frozen=True)
class Firmware:
    """What `core/firmware/status` says the router runs."""

    name: str  # OPNsense
    version: str  # 25.7.3, 25.7.3_1
    series: tuple[int, int]  # (25, 7)

    @property
    def text(self) -> str:
        return f"{self.name} {self.version}"


def _mapping(doc: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise PayloadProblem(path, f"expected an object, got {type(doc).__name__}")
    return doc


def _list(doc: Any, path: str) -> Sequence[Any]:
    if not isinstance(doc, list):
        raise PayloadProblem(path, f"expected a list, got {type(doc).__name__}")
    return doc


def _str(row: Mapping[str, Any], key: str, path: str, *, default: str | None = None) -> str:
    value = row.get(key, default)
    if isinstance(value, bool) or value is None:
        if default is not None:
            return default
        raise PayloadProblem(f"{path}.{key}", "missing")
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise PayloadProblem(f"{path}.{key}", f"expected a string, got {type(value).__name__}")
    return value


def _int(value: Any, path: str) -> int | None:
    """OPNsense's numbers: ints, or strings of digits (ifconfig's captures); "" is unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadProblem(path, "expected a number, got a boolean")
    try:
        return int(str(value).strip())
    except ValueError:
        raise PayloadProblem(path, f"expected a number, got {value!r}") from None


def series_of(version: str) -> tuple[int, int]:
    """`25.7.3_1` -> (25, 7)."""
    parts = version.split("_", 1)[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise PayloadProblem("product.product_version",
                             f"{version!r} is not an OPNsense version (YY.M[.P])") from None


def parse_firmware(doc: Any) -> Firmware:
    """`GET /api/core/firmware/status` (every release): the `product` object."""
    product = _mapping(_mapping(doc, "(root)").get("product"), "product")
    version = _str(product, "product_version", "product")
    name = _str(product, "product_name", "product", default="OPNsense")
    return Firmware(name, version, series_of(version))


def recordset_rows(doc: Any) -> Sequence[Any]:
    """The `rows` of a search grid (`{total, rowCount, current, rows}`)."""
    return _list(_mapping(doc, "(root)").get("rows"), "rows")


def _ipv4(entries: Any, path: str) -> Iterator[IPv4Interface]:
    """IPv4 entries: `{"ipaddr": "a.b.c.d/nn"}` (assigned) or `{"ipaddr": "a.b.c.d",
    "subnetbits": nn}` (unassigned, and the raw ifconfig form)."""
    for i, entry in enumerate(_list(entries, path) if entries is not None else []):
        where = f"{path}[{i}]"
        entry = _mapping(entry, where)
        addr = _str(entry, "ipaddr", where)
        bits = entry.get("subnetbits")
        text = addr if "/" in addr else f"{addr}/{_int(bits, f'{where}.subnetbits') or 32}"
        try:
            yield IPv4Interface(text)
        except ValueError:
            raise PayloadProblem(f"{where}.ipaddr", f"{text!r} is not an IPv4 address") from None


def status_of(flags: Sequence[str], link: str | None) -> str:
    """OPNsense's interface status: `up` when the flags say so, else `down`; a link status
    other than active/running (`no carrier`) wins (OverviewController::parseIfInfo)."""
    status = "up" if "up" in flags else "down"
    if link and link not in ("active", "running"):
        status = link
    return status


def parse_interface_row(row: Any, path: str) -> RouterInterfaceFacts:
    """One row of `interfaces/overview/interfacesInfo` (24.1 and later)."""
    row = _mapping(row, path)
    device = _str(row, "device", path)
    addresses = list(_ipv4(row.get("ipv4"), f"{path}.ipv4"))
    addr4 = row.get("addr4")  # 25.1+: the primary address, "" when none
    if isinstance(addr4, str) and addr4:
        try:
            primary = IPv4Interface(addr4)
        except ValueError:
            raise PayloadProblem(f"{path}.addr4", f"{addr4!r} is not an address") from None
        if primary not in addresses:
            addresses.insert(0, primary)
    identifier = row.get("identifier") or None
    description = row.get("description") or None
    enabled = row.get("enabled")
    return RouterInterfaceFacts(
        device=device,
        status=_str(row, "status", path, default="down"),
        mtu=_int(row.get("mtu"), f"{path}.mtu"),
        addresses=tuple(addresses),
        identifier=str(identifier) if identifier else None,
        description=str(description) if description and description != UNASSIGNED else None,
        enabled=enabled if isinstance(enabled, bool) else None,
        mac=row.get("macaddr") if isinstance(row.get("macaddr"), str) else None)


def parse_interfaces(doc: Any) -> tuple[RouterInterfaceFacts, ...]:
    """`GET /api/interfaces/overview/interfacesInfo`: a search grid of interfaces."""
    return tuple(parse_interface_row(row, f"rows[{i}]")
                 for i, row in enumerate(recordset_rows(doc)))


def parse_interface_config(doc: Any, names: Any) -> tuple[RouterInterfaceFacts, ...]:
    """Before 24.1: `diagnostics/interface/getInterfaceConfig` (ifconfig parsed, keyed by
    device) with `getInterfaceNames` (device -> description of assigned interfaces)."""
    doc = _mapping(doc, "(root)")
    names = _mapping(names, "(root)") if names is not None else {}
    out: list[RouterInterfaceFacts] = []
    for device, details in doc.items():
        if device == "pfsync0":
            continue
        details = _mapping(details, device)
        flags = [str(f) for f in _list(details.get("flags", []), f"{device}.flags")]
        link = details.get("status")
        descr = names.get(device)
        out.append(RouterInterfaceFacts(
            device=str(device),
            status=status_of(flags, link if isinstance(link, str) else None),
            mtu=_int(details.get("mtu"), f"{device}.mtu"),
            addresses=tuple(_ipv4(details.get("ipv4"), f"{device}.ipv4")),
            description=str(descr) if isinstance(descr, str) and descr else None,
            mac=details.get("macaddr") if isinstance(details.get("macaddr"), str) else None))
    return tuple(out)


def parse_routes(doc: Any) -> tuple[RouteFacts, ...]:
    """`GET /api/diagnostics/interface/getRoutes`: netstat -rn as a list, keys the lower-cased
    column headers (`destination`, `gateway`, `flags`, `netif`, `mtu`; all strings)."""
    out: list[RouteFacts] = []
    for i, row in enumerate(_list(doc, "(root)")):
        where = f"[{i}]"
        row = _mapping(row, where)
        if row.get("proto", "ipv4") not in ("ipv4", ""):
            continue
        out.append(RouteFacts(
            destination=_str(row, "destination", where), gateway=_str(row, "gateway", where),
            flags=_str(row, "flags", where, default=""), interface=_str(row, "netif", where),
            mtu=_int(row.get("mtu"), f"{where}.mtu")))
    return tuple(out)


def parse_gateways(doc: Any) -> tuple[GatewayFacts, ...]:
    """`GET /api/routes/gateway/status`: `{"items": [...], "status": "ok"}`; with no gateway
    configured, `{"items": [], "status": "failed"}`."""
    items = _list(_mapping(doc, "(root)").get("items", []), "items")
    out: list[GatewayFacts] = []
    for i, item in enumerate(items):
        where = f"items[{i}]"
        item = _mapping(item, where)
        out.append(GatewayFacts(
            name=_str(item, "name", where), address=_str(item, "address", where, default="~"),
            status=_str(item, "status", where), status_translated=_str(
                item, "status_translated", where, default=""),
            loss=_str(item, "loss", where, default="~"),
            delay=_str(item, "delay", where, default="~"),
            stddev=_str(item, "stddev", where, default="~"),
            monitor=_str(item, "monitor", where, default="~")))
    return tuple(out)


def parse_forwarding(doc: Any) -> bool | None:
    """`core/tunables/searchItem` (25.1+): net.inet.ip.forwarding's value, or its default
    when the value is empty (OPNsense's "default"); None when the grid lacks the tunable."""
    for i, row in enumerate(recordset_rows(doc)):
        row = _mapping(row, f"rows[{i}]")
        if row.get("tunable") != FORWARDING_TUNABLE:
            continue
        value = _str(row, "value", f"rows[{i}]", default="")
        if value in ("", "default"):
            value = _str(row, "default_value", f"rows[{i}]", default="")
        return value.strip() not in ("", "0")
    return None


def parse_source_nat(doc: Any) -> tuple[NatRuleFacts, ...] | None:
    """`firewall/source_nat/searchRule`. From 25.7 rows hold every field's raw value (the
    interface identifier, `%interface` its description); earlier grids show only the search
    columns, which do not say where a rule applies: None then."""
    out: list[NatRuleFacts] = []
    for i, row in enumerate(recordset_rows(doc)):
        where = f"rows[{i}]"
        row = _mapping(row, where)
        if "interface" not in row or "source_net" not in row:
            return None
        if str(row.get("nonat", "0")) == "1":
            continue  # a "do not NAT" exception
        out.append(NatRuleFacts(
            interface=_str(row, "interface", where), source=_str(row, "source_net", where),
            target=_str(row, "target", where, default=""),
            enabled=str(row.get("enabled", "1")) == "1",
            description=_str(row, "description", where, default="")))
    return tuple(out)
