"""The OPNsense emulator's spec: one entry per `kind: opnsense` router the inventory reaches
through its API, derived from the (realised) lab.

The spec is what OPNsense keeps in config.xml: which device is assigned to which interface
(`lan`, `wan`, `opt1`...), its description, configured address and MTU, the gateways static
routes go through, and the API key. Everything else an answer says (addresses, MTUs, link
states, routes, forwarding, NAT) is read from the namespace's kernel at request time.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from ipaddress import IPv4Address
from typing import Any
from urllib.parse import urlsplit

from harness.lab.inventory import Inventory
from harness.lab.model import Lab
from harness.sim.dataplane import names
from harness.sim.errors import SimError

DEFAULT_VERSION = "25.7"  # what a lab that names no release gets
OLDEST_SERIES = (24, 1)  # the interfaces overview API (Interfaces > Overview) starts here
MGMT_DEVICE = "mgmt0"  # the sim's management NIC of every element


class OpnsenseSpecError(SimError):
    """The lab, the inventory or a spec file cannot be turned into emulated OPNsense APIs."""


@dataclass(frozen=True)
class InterfaceConfig:
    """One `<interfaces><identifier>` entry of config.xml."""

    identifier: str  # lan, wan, opt1
    device: str  # the kernel interface it is assigned to
    descr: str
    ipaddr: str  # configured address ("" when none)
    subnet: str  # prefix length, as config.xml keeps it
    mtu: str  # "" = the device's default


@dataclass(frozen=True)
class GatewayConfig:
    """A gateway (System > Gateways): static routes go through these, dpinger monitors them."""

    name: str  # WAN_GW
    interface: str  # identifier
    address: str
    monitor: str


@dataclass(frozen=True)
class RouterSpec:
    """One emulated OPNsense API and the router behind it.

    Attributes:
        netns: where to read the kernel state; "" when the emulator runs inside it (the sim).
        address, port: where the web GUI listens.
    """

    name: str
    address: str
    port: int
    version: str
    key: str
    secret: str
    hostname: str
    netns: str = ""
    interfaces: tuple[InterfaceConfig, ...] = ()
    gateways: tuple[GatewayConfig, ...] = ()

    @property
    def series(self) -> tuple[int, int]:
        return series_of(self.version)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "spec") -> RouterSpec:
        """Typed records from one spec entry.

        Raises:
            OpnsenseSpecError: naming the entry and field at fault.
        """
        try:
            spec = cls(
                name=str(data["name"]), address=str(data["address"]), port=int(data["port"]),
                version=str(data["version"]), key=str(data["key"]), secret=str(data["secret"]),
                hostname=str(data["hostname"]), netns=str(data.get("netns", "")),
                interfaces=tuple(InterfaceConfig(**i) for i in data.get("interfaces", [])),
                gateways=tuple(GatewayConfig(**g) for g in data.get("gateways", [])))
        except KeyError as exc:
            raise OpnsenseSpecError(f"{where}: missing field {exc.args[0]}") from None
        except (TypeError, ValueError) as exc:
            raise OpnsenseSpecError(f"{where}: {exc}") from None
        if spec.series < OLDEST_SERIES:
            raise OpnsenseSpecError(f"{where}: OPNsense {spec.version} is older than the "
                                    "emulated API (24.1 and later)")
        return spec

    def config_of(self, device: str) -> InterfaceConfig | None:
        return next((i for i in self.interfaces if i.device == device), None)


def series_of(version: str) -> tuple[int, int]:
    """`25.7.3_1` -> (25, 7).

    Raises:
        OpnsenseSpecError: not an OPNsense version.
    """
    parts = version.split("_", 1)[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise OpnsenseSpecError(f"{version!r} is not an OPNsense version (YY.M[.P], e.g. "
                                "25.7 or 25.7.3)") from None


def new_api_key() -> tuple[str, str]:
    """A key and a secret shaped like OPNsense's: 80 characters of base64 each."""
    return (base64.b64encode(os.urandom(60)).decode("ascii"),
            base64.b64encode(os.urandom(60)).decode("ascii"))


def _identifiers(interfaces: list[str]) -> dict[str, str]:
    """Lab interface -> OPNsense identifier: `lan` and `wan` keep theirs, the rest are
    `opt1`, `opt2`... in the lab's order (as the console's assignment makes them)."""
    out: dict[str, str] = {}
    n = 0
    for name in interfaces:
        if name.lower() in ("lan", "wan") and name.lower() not in out.values():
            out[name] = name.lower()
        else:
            n += 1
            out[name] = f"opt{n}"
    return out


def router_spec(lab: Lab, router: str, address: str, port: int, key: str, secret: str,
                netns: str = "") -> RouterSpec:
    """The spec of one router of `lab` (already carrying any scenario's changes).

    Raises:
        OpnsenseSpecError: the router is not `kind: opnsense`, or its release predates the API.
    """
    r = lab.routers[router]
    if r.kind != "opnsense":
        raise OpnsenseSpecError(f"router {router} is kind {r.kind}, not opnsense")
    version = r.version or DEFAULT_VERSION
    if series_of(version) < OLDEST_SERIES:
        raise OpnsenseSpecError(f"router {router}: lab says OPNsense {version}; the sim's "
                                "OPNsense API emulates 24.1 and later (set `version: "
                                f"\"{DEFAULT_VERSION}\"` or newer)")
    idents = _identifiers(list(r.interfaces))
    interfaces = [InterfaceConfig(
        identifier=idents[iname], device=names.short(iname, 15),
        descr="" if idents[iname] in ("lan", "wan") else iname, ipaddr=str(iface.ip.ip),
        subnet=str(iface.ip.network.prefixlen), mtu=str(iface.mtu))
        for iname, iface in r.interfaces.items()]
    # the management NIC the API is reached on: assigned too, as on a real router
    interfaces.append(InterfaceConfig(
        identifier=f"opt{sum(1 for i in idents.values() if i.startswith('opt')) + 1}",
        device=MGMT_DEVICE, descr="MGMT", ipaddr=address, subnet="24", mtu=""))
    gateways: list[GatewayConfig] = []
    for route in r.routes:
        iname = next((n for n, i in r.interfaces.items() if route.gateway in i.ip.network), None)
        if iname is None or any(g.address == str(route.gateway) for g in gateways):
            continue
        base = f"{idents[iname].upper()}_GW"
        taken = sum(1 for g in gateways if g.name.startswith(base))
        gateways.append(GatewayConfig(name=base if not taken else f"{base}{taken + 1}",
                                      interface=idents[iname], address=str(route.gateway),
                                      monitor=str(route.gateway)))
    domain = lab.name.replace("_", "-")
    return RouterSpec(name=router, address=address, port=port, version=version, key=key,
                      secret=secret, hostname=f"{router}.{domain}.lab", netns=netns,
                      interfaces=tuple(interfaces), gateways=tuple(gateways))


def endpoint_of(inventory: Inventory, router: str) -> tuple[str, int]:
    """The address and port the inventory reaches a router's API on.

    Raises:
        OpnsenseSpecError: the URL has no IPv4 address (the sim serves on addresses only).
    """
    url = urlsplit(str(inventory.opnsense[router].url))
    try:
        address = str(IPv4Address(url.hostname or ""))
    except ValueError:
        raise OpnsenseSpecError(f"inventory opnsense.{router}.url {url.geturl()}: the sim "
                                "serves on an IPv4 address of its management network") from None
    return address, url.port or 443

