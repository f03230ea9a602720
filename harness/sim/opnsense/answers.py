"""OPNsense API answers built from a router's configuration (the spec) and its kernel state.

Pure functions: each takes the spec and a `KernelState` snapshot and returns the document the
matching OPNsense controller returns, in the shape of the spec's release (read from core's
controllers at their tags):

- `interfaces/overview/*` (24.1+): OverviewController::parseIfInfo over ifconfig's parse
  (interfaces.lib.inc legacy_interfaces_details): `mtu` a string, `status` up/down or the
  link's word (`no carrier`), assigned interfaces with `ipv4: [{"ipaddr": "a/n"}]`, `addr4`
  from 25.1, `vlan_tag` from 24.7;
- `diagnostics/interface/getRoutes`: netstat -rWn as show_routes.py lists it (lower-cased
  headers, `link#N` for connected networks, host routes of the router's own addresses on lo0);
- `routes/gateway/status`: gateway_status.php over dpinger's reports;
- `core/tunables/searchItem` (25.1+), `firewall/source_nat/searchRule` (24.1+; every field
  from 25.7), firmware, system information (24.7+), ARP.

Linux names map to FreeBSD's where a client could tell: `lo` is `lo0`, IFF_LOWER_UP is
`running`, an interface up without a carrier says `no carrier`, one set down by hand `down`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network
from typing import Any

from harness.drivers.ssh.linuxrouter import bsd_routes, masquerades
from harness.sim.opnsense.kernel import KernelState
from harness.sim.opnsense.monitor import Report, has_data, status_of
from harness.sim.opnsense.spec import RouterSpec

FREEBSD = {(24, 1): "13.2-RELEASE-p9", (24, 7): "14.1-RELEASE-p6", (25, 1): "14.2-RELEASE-p3",
           (25, 7): "14.3-RELEASE-p2", (26, 1): "14.3-RELEASE-p7"}
NICKNAMES = {(24, 1): "Savvy Shark", (24, 7): "Thriving Tiger", (25, 1): "Ultimate Unicorn",
             (25, 7): "Visionary Viper", (26, 1): "Witty Woodpecker"}
_FLAGS = {"UP": "up", "BROADCAST": "broadcast", "LOOPBACK": "loopback", "LOWER_UP": "running",
          "MULTICAST": "multicast", "PROMISC": "promisc", "POINTOPOINT": "pointopoint",
          "NOARP": "noarp", "ALLMULTI": "allmulti"}
FLAG_ORDER = ("up", "broadcast", "loopback", "pointopoint", "running", "noarp", "promisc",
              "allmulti", "simplex", "multicast")  # as ifconfig prints them
_VIRTUAL_KINDS = {"bridge", "vxlan", "vlan", "gre", "gretap", "ipip", "sit", "wireguard", "tun",
                  "dummy", "bond", "macvlan"}
GATEWAY_WORDS = {"none": "Online", "force_down": "Offline (forced)", "down": "Offline",
                 "delay": "Latency", "loss": "Packetloss", "delay+loss": "Latency, Packetloss"}
INTERFACES_SEARCH = ("status", "description", "device", "link_type", "ipv4", "ipv6", "gateways",
                     "vlan_tag", "routes")


def device_of(ifname: str) -> str:
    """The name a client sees: the kernel's, except the loopback (FreeBSD's lo0)."""
    return "lo0" if ifname == "lo" else ifname


def ifname_of(device: str) -> str:
    return "lo" if device == "lo0" else device


def _series_key(spec: RouterSpec) -> tuple[int, int]:
    """The nearest documented series at or below the spec's (for per-release tables)."""
    return max((s for s in FREEBSD if s <= spec.series), default=min(FREEBSD))


# -- firmware and system ------------------------------------------------------------------------

def product(spec: RouterSpec) -> dict[str, Any]:
    """product.php's object (the version file plus the update-check fields)."""
    series = f"{spec.series[0]}.{spec.series[1]}"
    return {
        "product_abi": series, "product_arch": "amd64",
        "product_copyright_owner": "Deciso B.V.", "product_copyright_url":
        "https://www.deciso.com/", "product_copyright_years": f"2014-20{spec.series[0]}",
        "product_email": "project@opnsense.org",
        "product_hash": hashlib.sha1(spec.version.encode()).hexdigest()[:10],
        "product_id": "opnsense", "product_name": "OPNsense",
        "product_nickname": NICKNAMES[_series_key(spec)], "product_series": series,
        "product_tier": "1", "product_version": spec.version,
        "product_website": "https://opnsense.org/", "product_latest": spec.version,
        "product_mirror": "https://pkg.opnsense.org/${ABI}", "product_time": "",
        "product_log": 0, "product_repos": "OPNsense", "product_check": None,
        "product_license": []}


def firmware_status(spec: RouterSpec) -> dict[str, Any]:
    """`core/firmware/status` before any update check (the router is offline from mirrors)."""
    return {"product": product(spec), "status_msg": "Firmware status requires to check for "
            "update first to provide more information.", "status": "none"}


def firmware_info(spec: RouterSpec) -> dict[str, Any]:
    return {"product_id": "opnsense", "product_version": spec.version, "package": [],
            "plugin": [], "changelog": [], "product": product(spec)}


def system_status() -> dict[str, Any]:
    """`core/system/status`: no pending system notifications."""
    return {"metadata": {"system": {"status": "OK", "message": "No pending messages",
                                    "title": "System"},
                         "translations": {"dialogTitle": "System Status",
                                          "dialogCloseButton": "Close"},
                         "subsystems": []}}


def system_information(spec: RouterSpec) -> dict[str, Any]:
    """`diagnostics/system/systemInformation` (24.7+)."""
    return {"name": spec.hostname,
            "versions": [f"OPNsense {spec.version}-amd64",
                         f"FreeBSD {FREEBSD[_series_key(spec)]}", "OpenSSL 3.0.16"],
            "updates": "Click to check for updates."}


# -- interfaces ---------------------------------------------------------------------------------

def ifconfig(state: KernelState) -> dict[str, dict[str, Any]]:
    """`interface list ifconfig`: every device as legacy_interfaces_details parses ifconfig."""
    out: dict[str, dict[str, Any]] = {}
    for link in state.links:
        ifname = str(link["ifname"])
        ether = link.get("link_type") == "ether"
        words = {_FLAGS[f] for f in link.get("flags", []) if f in _FLAGS}
        if ether and "broadcast" in words:
            words.add("simplex")
        flags = [f for f in FLAG_ORDER if f in words]
        kind = (link.get("linkinfo") or {}).get("info_kind")
        details: dict[str, Any] = {
            "flags": flags, "capabilities": [], "options": [],
            "macaddr": link.get("address", "00:00:00:00:00:00") if ether else "00:00:00:00:00:00",
            "ipv4": [{"ipaddr": a, "subnetbits": n, "tunnel": False}
                     for a, n in state.ipv4(ifname)],
            "ipv6": [], "supported_media": ["autoselect"] if ether else [],
            "is_physical": ether and kind not in _VIRTUAL_KINDS,
            "device": device_of(ifname), "mtu": str(link.get("mtu", "")),
        }
        if ether:
            details["macaddr_hw"] = link.get("permaddr", link.get("address"))
            details["media"] = "10Gbase-T <full-duplex>" if "LOWER_UP" in link.get(
                "flags", []) else "autoselect"
            details["media_raw"] = f"Ethernet autoselect ({details['media']})"
            if "UP" in link.get("flags", []):
                # a virtio/vmxnet NIC's link comes from the far end; down by hand, ifconfig's
                # status line no longer decides (OPNsense then says `down` from the flags)
                details["status"] = ("active" if "LOWER_UP" in link.get("flags", [])
                                     else "no carrier")
        details["nd6"] = {"flags": ["performnud", "ifdisabled"]}
        out[device_of(ifname)] = details
    return out


def _statistics(link: Mapping[str, Any]) -> dict[str, Any]:
    """`interface list stats` (pluginctl -I): netstat's words, values as strings."""
    stats = link.get("stats64", {})
    rx, tx = stats.get("rx", {}), stats.get("tx", {})
    return {"device": device_of(str(link["ifname"])),
            "driver": (link.get("linkinfo") or {}).get("info_kind", "lo") or "ether",
            "index": str(link.get("ifindex", "")), "mtu": str(link.get("mtu", "")),
            "packets received": str(rx.get("packets", 0)),
            "input errors": str(rx.get("errors", 0)),
            "packets transmitted": str(tx.get("packets", 0)),
            "output errors": str(tx.get("errors", 0)),
            "collisions": str(tx.get("collisions", 0)),
            "bytes received": str(rx.get("bytes", 0)),
            "bytes transmitted": str(tx.get("bytes", 0)),
            "multicasts received": str(rx.get("multicast", 0)), "multicasts transmitted": "0",
            "input queue drops": str(rx.get("dropped", 0)),
            "link state": "2" if "LOWER_UP" in link.get("flags", []) else "1",
            "line rate": "10000000000 bit/s"}


def interface_gateway(spec: RouterSpec, identifier: str) -> str | None:
    """Gateways::getInterfaceGateway: the address of the interface's (first) gateway."""
    return next((g.address for g in spec.gateways if g.interface == identifier), None)


def overview(spec: RouterSpec, state: KernelState, *, detailed: bool = False,
             device: str | None = None) -> list[dict[str, Any]]:
    """OverviewController::parseIfInfo: one formatted entry per device."""
    raw = ifconfig(state)
    if detailed:
        for link in state.links:
            dev = device_of(str(link["ifname"]))
            if dev in raw:
                raw[dev]["statistics"] = _statistics(link)
    for route in routes(spec, state):
        if route["netif"] in raw:
            raw[route["netif"]].setdefault("routes", []).append(route["destination"])
    series = spec.series
    out: list[dict[str, Any]] = []
    for dev, details in raw.items():
        if device is not None and dev != device:
            continue
        tmp = dict(details)
        tmp["status"] = "up" if "up" in details["flags"] else "down"
        if details.get("status") and details["status"] not in ("active", "running"):
            tmp["status"] = details["status"]
        cfg = spec.config_of(ifname_of(dev))
        if cfg is None:
            tmp["identifier"] = ""
            tmp["description"] = "Unassigned Interface"
            out.append(tmp)
            continue
        tmp["config"] = {"if": cfg.device, "descr": cfg.descr, "enable": "1",
                         "ipaddr": cfg.ipaddr, "subnet": cfg.subnet,
                         **({"mtu": cfg.mtu} if cfg.mtu else {}), "identifier": cfg.identifier}
        tmp["identifier"] = cfg.identifier
        tmp["description"] = cfg.descr or cfg.identifier.upper()
        tmp["enabled"] = True
        tmp["link_type"] = "static" if cfg.ipaddr else "none"
        addrs = state.ipv4(ifname_of(dev))
        if series >= (25, 1):
            tmp["addr4"] = f"{addrs[0][0]}/{addrs[0][1]}" if addrs else ""
            tmp["addr6"] = ""
        del tmp["ipv4"], tmp["ipv6"]
        if addrs:
            tmp["ipv4"] = [{"ipaddr": f"{a}/{n}"} for a, n in addrs]
        if series >= (24, 7):
            tmp["vlan_tag"] = None
        gateway = interface_gateway(spec, cfg.identifier)
        tmp["gateways"] = [gateway] if gateway else []
        out.append(tmp)
    return out


def interface_detail(spec: RouterSpec, state: KernelState, device: str) -> dict[str, Any]:
    """`interfaces/overview/getInterface/<device>`: one device, statistics merged, each value
    wrapped with its label; `{"message": "failed"}` for an unknown device."""
    found = overview(spec, state, detailed=True, device=device)
    if not found:
        return {"message": "failed"}
    info = dict(found[0])
    stats = info.pop("statistics", {})
    info.pop("config", None)
    info.update(stats)
    return {"message": {k: {"value": v, "translation": k.replace("_", " ").title()}
                        for k, v in info.items()}}


def interface_names(spec: RouterSpec) -> dict[str, str]:
    """`diagnostics/interface/getInterfaceNames`: device -> description of assigned ones."""
    return {device_of(c.device): c.descr or c.identifier.upper() for c in spec.interfaces}


# -- routes, ARP, gateways -----------------------------------------------------------------------

def routes(spec: RouterSpec, state: KernelState) -> list[dict[str, Any]]:
    """`diagnostics/interface/getRoutes`: netstat -rWn (FreeBSD 13+ columns), one dict per
    route, with the controller's `intf_description` and `id`."""
    index = {str(link["ifname"]): link.get("ifindex", 0) for link in state.links}
    mtu = {str(link["ifname"]): str(link.get("mtu", "")) for link in state.links}
    rows: list[tuple[tuple[int, int, int], dict[str, str]]] = []
    for dst, gateway, flags, dev in bsd_routes(state.routes, state.links):
        net = IPv4Network("0.0.0.0/0") if dst == "default" else IPv4Network(dst, strict=False)
        rows.append(((0 if dst == "default" else 1, int(net.network_address), net.prefixlen),
                     {"destination": "default" if dst == "default" else (
                         str(net.network_address) if net.prefixlen == 32 else str(net)),
                      "gateway": gateway, "flags": flags, "mtu": mtu.get(dev, ""),
                      "netif": device_of(dev)}))
    # the router's own addresses: host routes through the loopback, as FreeBSD keeps them
    for entry in state.addresses:
        ifname = str(entry.get("ifname"))
        for a in entry.get("addr_info", []):
            if a.get("family") != "inet":
                continue
            addr = IPv4Network(f"{a['local']}/32")
            own = ifname == "lo"
            rows.append(((1, int(addr.network_address), 32), {
                "destination": str(addr.network_address),
                "gateway": f"link#{index.get(ifname, 0)}", "flags": "UH" if own else "UHS",
                "mtu": mtu.get("lo", ""), "netif": "lo0"}))
    names = interface_names(spec)
    out: list[dict[str, Any]] = []
    for n, (_, row) in enumerate(sorted(rows, key=lambda r: r[0]), start=1):
        out.append({"proto": "ipv4", "destination": row["destination"],
                    "gateway": row["gateway"], "flags": row["flags"], "nhop#": str(n),
                    "mtu": row["mtu"], "netif": row["netif"], "expire": "",
                    "intf_description": names.get(row["netif"], ""),
                    "id": f"{row['destination']},{row['gateway']}"})
    return out


def arp(spec: RouterSpec, state: KernelState) -> list[dict[str, Any]]:
    """`diagnostics/interface/getArp`: resolved IPv4 neighbours (incomplete ones skipped)."""
    names = interface_names(spec)
    out: list[dict[str, Any]] = []
    for n in state.neighbours:
        state_words = n.get("state", [])
        if "lladdr" not in n or ":" in str(n.get("dst", "")) or "FAILED" in state_words:
            continue
        permanent = "PERMANENT" in state_words
        dev = device_of(str(n.get("dev", "")))
        out.append({"mac": n["lladdr"], "ip": n["dst"], "intf": dev, "expired": False,
                    "expires": -1 if permanent else 1200, "permanent": permanent,
                    "type": "ethernet", "manufacturer": "", "hostname": "",
                    "intf_description": names.get(dev, "")})
    return out


def gateway_status(spec: RouterSpec, reports: Mapping[str, Report | None]) -> dict[str, Any]:
    """`routes/gateway/status`: gateway_status.php over dpinger's reports."""
    items: list[dict[str, Any]] = []
    for gw in spec.gateways:
        report = reports.get(gw.name)
        status = status_of(report)
        known = has_data(report) and report is not None
        items.append({
            "name": gw.name, "address": gw.address or "~", "status": status,
            "loss": f"{report.loss_pct:0.1f} %" if known and report else "~",
            "delay": f"{report.delay_ms:0.1f} ms" if known and report else "~",
            "stddev": f"{report.stddev_ms:0.1f} ms" if known and report else "~",
            "monitor": gw.monitor or "~",
            "status_translated": GATEWAY_WORDS.get(status, "Pending")})
    return {"items": items, "status": "ok" if items else "failed"}


# -- tunables and NAT ---------------------------------------------------------------------------

def tunables(state: KernelState) -> list[dict[str, Any]]:
    """`core/tunables/searchItem` rows (25.1+) for the sysctls the kernel state answers:
    net.inet.ip.forwarding (system.inc's default 1; the value is what differs from it)."""
    rows: list[dict[str, Any]] = []
    for tunable, value, default, descr in (
            ("net.inet.ip.forwarding", state.forwarding, "1",
             "Enable IP forwarding between interfaces"),):
        rows.append({"uuid": _uuid(hashlib.md5(tunable.encode()).hexdigest()),
                     "tunable": tunable, "value": "" if value == default else value,
                     "descr": descr, "default_value": default, "type": "w"})
    return rows


def _uuid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:32]}"


def source_nat(spec: RouterSpec, state: KernelState) -> list[dict[str, Any]]:
    """`firewall/source_nat/searchRule` rows: one per masquerade rule of the ruleset. From
    25.7 a row holds every field's raw value and `%field` descriptions; before, only the
    search columns (enabled, sequence, description)."""
    rows: list[dict[str, Any]] = []
    for seq, (source, oif) in enumerate(masquerades(state.ruleset), start=1):
        cfg = spec.config_of(oif)
        ident = cfg.identifier if cfg else oif
        descr = (cfg.descr or cfg.identifier.upper()) if cfg else oif
        uuid = _uuid(hashlib.md5(f"snat/{source}/{oif}".encode()).hexdigest())
        description = f"masquerade {source} out of {descr}"
        if spec.series < (25, 7):
            rows.append({"uuid": uuid, "enabled": "1", "sequence": str(seq),
                         "description": description})
            continue
        rows.append({
            "uuid": uuid, "enabled": "1", "nonat": "0", "sequence": str(seq),
            "interface": ident, "%interface": descr, "ipprotocol": "inet",
            "%ipprotocol": "IPv4", "protocol": "any", "%protocol": "any",
            "source_net": source, "source_not": "0", "source_port": "",
            "destination_net": "any", "destination_not": "0", "destination_port": "",
            "target": f"{ident}ip", "%target": f"{descr} address", "target_port": "",
            "log": "0", "categories": "", "%categories": "", "description": description})
    return rows


def recordset(rows: Sequence[Mapping[str, Any]], fields: Sequence[str] | None, *,
              row_count: int = -1, current: int = 1, phrase: str = "") -> dict[str, Any]:
    """searchRecordsetBase: `{total, rowCount, current, rows}`, a case-insensitive search
    over `fields` (every field when None) and one page (`rowCount` -1: all)."""
    words = phrase.lower().split()

    def matches(row: Mapping[str, Any]) -> bool:
        values = [str(v).lower() for k, v in row.items() if fields is None or k in fields]
        return all(any(w in v for v in values) for w in words)

    found = [dict(r) for r in rows if matches(r)]
    page = found if row_count < 0 else found[(current - 1) * row_count:current * row_count]
    return {"total": len(found), "rowCount": len(page), "current": current, "rows": page}
