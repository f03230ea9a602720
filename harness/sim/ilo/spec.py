"""The emulator's spec: one entry per server with a BMC, derived from the lab and the inventory.

The spec is plain JSON (written to a file for `python -m harness.sim.ilo`), so it is also what a
test or a benchmark hand-makes. `BmcSpec.from_json` turns one entry back into typed records and
names the entry and field when something is missing or wrong.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from harness.lab.catalog import (
    ADAPTERS,
    BMC_FIRMWARE,
    BMC_OF_MODEL,
    DEFAULT_BMC_FIRMWARE,
    firmware_line,
    firmware_version,
)
from harness.lab.inventory import Inventory, SecretError, resolve_secret
from harness.lab.model import HpeServer, Lab
from harness.sim.errors import SimError

Generation = Literal["ilo4", "ilo5"]
DEFAULT_ADAPTER_FIRMWARE: dict[str, str] = {
    "331i": "20.16.41", "366FLR": "1.2836.0", "534FLR-SFP+": "7.17.33", "530SFP+": "7.17.33",
    "562SFP+": "10.54.7"}
POST_STEP_S = 0.3  # seconds per PostState step during a reset (real servers: tens of seconds)
SESSION_LIMIT = 8
SESSION_TIMEOUT_S = 1800


class IloSpecError(SimError):
    """The lab, the inventory or a spec file cannot be turned into emulated BMCs."""


@dataclass(frozen=True)
class Uplink:
    """Where a port's frames go in the simulated data plane: a namespace and its interfaces."""

    netns: str
    ifaces: tuple[str, ...]


@dataclass(frozen=True)
class Peer:
    """What the switch at the other end of the cable advertises over LLDP."""

    system_name: str
    port_id: str
    chassis_id: str
    description: str = ""


@dataclass(frozen=True)
class PortSpec:
    number: int
    vmnic: str | None
    personality: str  # lab words: Ethernet | iSCSI | FCoE
    mac: str
    peer: Peer | None = None
    uplink: Uplink | None = None


@dataclass(frozen=True)
class AdapterSpec:
    name: str
    model: str
    slot: str  # embedded | flexlom | pcieN
    firmware: str
    lldp_agent: bool | None
    ports: tuple[PortSpec, ...]


PBKDF2_ITERATIONS = 20_000


def password_digest(password: str, *, salt: bytes | None = None,
                    iterations: int = PBKDF2_ITERATIONS) -> str:
    """`pbkdf2_sha256$ITERATIONS$SALT$DIGEST`: what the emulator keeps instead of a password,
    as a BMC keeps its users' passwords (the spec file is written to disk)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    expected = password_digest(password, salt=bytes.fromhex(salt), iterations=int(iterations))
    return secrets.compare_digest(expected.encode(), stored.encode()) and bool(digest)


@dataclass(frozen=True)
class BmcSpec:
    """One emulated iLO and the server behind it."""

    name: str
    address: str
    port: int
    username: str
    password_hash: str = field(repr=False)  # password_digest(): the spec never holds the password
    generation: Generation
    model: str  # DL360 Gen9 | DL360 Gen10
    serial: str
    firmware: str
    bios_nics: Mapping[str, Any]  # {"embedded": bool, "flexlom": bool, "pcie_slots": {n: bool}}
    adapters: tuple[AdapterSpec, ...]
    host: str | None = None
    post_step_s: float = POST_STEP_S
    session_limit: int = SESSION_LIMIT
    session_timeout_s: int = SESSION_TIMEOUT_S

    @property
    def firmware_major(self) -> int:
        """The firmware line: iLO 5 1.x has only the per-port `HpeLLDP` resource for LLDP."""
        version = firmware_version(self.firmware)
        return version[0] if version else 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BmcSpec:
        """Typed record of one spec entry.

        Raises:
            IloSpecError: a field is missing or has the wrong type (names entry and field).
        """
        where = f"bmc {data.get('name', '?')!r}"
        try:
            adapters = tuple(
                AdapterSpec(
                    name=str(a["name"]), model=str(a["model"]), slot=str(a["slot"]),
                    firmware=str(a["firmware"]), lldp_agent=a.get("lldp_agent"),
                    ports=tuple(PortSpec(
                        number=int(p["number"]), vmnic=p.get("vmnic"),
                        personality=str(p["personality"]), mac=str(p["mac"]),
                        peer=Peer(**p["peer"]) if p.get("peer") else None,
                        uplink=Uplink(str(p["uplink"]["netns"]), tuple(p["uplink"]["ifaces"]))
                        if p.get("uplink") else None)
                        for p in a["ports"]))
                for a in data["adapters"])
            gen = data["generation"]
            if gen not in ("ilo4", "ilo5"):
                raise IloSpecError(f"{where}: generation {gen!r} is not one of ilo4, ilo5")
            model, firmware = str(data["model"]), str(data["firmware"])
            if model in BMC_FIRMWARE and firmware_line(model, firmware) is None:
                allowed = ", ".join(line.label() for line in BMC_FIRMWARE[model])
                raise IloSpecError(f"{where}: firmware {firmware!r} is not one a {model} runs "
                                   f"({allowed})")
            for a in adapters:
                for port in a.ports:
                    # drops go only into namespaces the sim made, never the machine's own
                    if port.uplink is not None and not port.uplink.netns.startswith("lh-"):
                        raise IloSpecError(f"{where}: adapter {a.name!r} port {port.number}: "
                                           f"uplink netns {port.uplink.netns!r} is not one the "
                                           "sim created (lh-...)")
                if a.model not in ADAPTERS:
                    raise IloSpecError(f"{where}: adapter {a.name!r} model {a.model!r} is not one "
                                       f"of {', '.join(ADAPTERS)}")
            return cls(
                name=str(data["name"]), address=str(data["address"]), port=int(data["port"]),
                username=str(data["username"]),
                password_hash=str(data["password_hash"]), generation=gen,
                model=str(data["model"]), serial=str(data["serial"]),
                firmware=str(data["firmware"]), bios_nics=dict(data["bios_nics"]),
                adapters=adapters, host=data.get("host"),
                post_step_s=float(data.get("post_step_s", POST_STEP_S)),
                session_limit=int(data.get("session_limit", SESSION_LIMIT)),
                session_timeout_s=int(data.get("session_timeout_s", SESSION_TIMEOUT_S)))
        except KeyError as exc:
            raise IloSpecError(f"{where}: missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise IloSpecError(f"{where}: {exc}") from None


def load_spec(data: Mapping[str, Any]) -> list[BmcSpec]:
    """All BMCs of a spec document (`{"bmcs": [...]}`).

    Raises:
        IloSpecError: not a spec document, or an entry is invalid.
    """
    entries = data.get("bmcs") if isinstance(data, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise IloSpecError("the spec has no `bmcs` list: nothing to emulate")
    return [BmcSpec.from_json(e) for e in entries]


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("/".join(parts).encode()).digest()


def server_serial(name: str, server: HpeServer) -> str:
    """The server's serial number: the lab's, or a stable one of HPE's form (CZJ and seven
    characters) derived from its name. The BMC and the OS on the server report the same one."""
    return server.serial or "CZJ" + _digest(name).hex()[:7].upper()


def server_uuid(name: str, serial: str) -> str:
    """The server's SMBIOS UUID, stable per server: Redfish's System UUID and the ESXi host's
    hardware.systemInfo.uuid are the same value on a real server."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.{serial}"))


def _mac(*parts: str, oui: str = "94:18:82") -> str:
    """A stable MAC for a port (HPE's OUI), so the same lab always shows the same addresses."""
    return oui + "".join(f":{b:02x}" for b in _digest(*parts)[:3])


def _peers(lab: Lab) -> dict[tuple[str, str], Peer]:
    """(host, vmnic) -> the switch port cabled to it, from the lab's cabling."""
    out: dict[tuple[str, str], Peer] = {}
    for cable in lab.cabling:
        for (node, port), (other, oport) in (cable.ends, cable.ends[::-1]):
            sw = lab.physical_switches.get(other)
            if node in lab.hosts and sw is not None:
                out[(node, port)] = Peer(sw.hostname, oport, _mac(other, oui="00:1b:54"),
                                         sw.software)
    return out


def spec_from_lab(lab: Lab, inventory: Inventory,
                  uplinks: Mapping[str, tuple[str, list[str]]] | None = None, *,
                  base_dir: Path = Path("."), post_step_s: float = POST_STEP_S
                  ) -> dict[str, Any]:
    """The emulator spec: one entry per lab server that the inventory has a BMC for.

    Args:
        lab: the lab as the sim realises it (scenarios applied).
        inventory: gives each BMC's URL (listen address and port) and credentials.
        uplinks: `host/vmnic` -> (netns, [interfaces]) of the data plane (`plan.ports`); ports
            without an entry get no uplink, and then the emulator never touches nftables.
        base_dir: where `file:` secrets of the inventory are relative to.
        post_step_s: seconds per PostState step of a reset.

    Raises:
        IloSpecError: a BMC URL has no host, or a password reference cannot be resolved.
    """
    host_of = {h.server: name for name, h in lab.hosts.items() if h.server is not None}
    peers = _peers(lab)
    links = dict(uplinks or {})
    bmcs: list[dict[str, Any]] = []
    for name, server in lab.servers.items():
        endpoint = inventory.bmcs.get(name)
        if endpoint is None:
            continue
        url = urlsplit(str(endpoint.url))
        if not url.hostname:
            raise IloSpecError(f"inventory bmcs.{name}.url {endpoint.url} has no host")
        try:
            password = resolve_secret(endpoint.password, base_dir).reveal()
        except SecretError as exc:
            raise IloSpecError(f"inventory bmcs.{name}.password: {exc}") from None
        host = host_of.get(name)
        adapters = []
        for aname, adapter in server.adapters.items():
            ports = []
            for number, port in sorted(adapter.ports.items()):
                entry: dict[str, Any] = {
                    "number": number, "vmnic": port.vmnic, "personality": port.personality,
                    "mac": _mac(name, aname, str(number))}
                if host is not None and port.vmnic is not None:
                    peer = peers.get((host, port.vmnic))
                    if peer is not None:
                        entry["peer"] = vars(peer)
                    link = links.get(f"{host}/{port.vmnic}")
                    if link is not None:
                        entry["uplink"] = {"netns": link[0], "ifaces": list(link[1])}
                ports.append(entry)
            # a lab may list fewer ports than the adapter has; the BMC still sees them all
            for number in range(1, ADAPTERS[adapter.model].ports + 1):
                if number not in adapter.ports:
                    ports.append({"number": number, "vmnic": None, "personality": "Ethernet",
                                  "mac": _mac(name, aname, str(number))})
            ports.sort(key=lambda p: int(p["number"]))
            adapters.append({
                "name": aname, "model": adapter.model, "slot": adapter.slot,
                "firmware": adapter.firmware or DEFAULT_ADAPTER_FIRMWARE[adapter.model],
                "lldp_agent": adapter.lldp_agent, "ports": ports})
        generation = BMC_OF_MODEL.get(server.model, server.bmc.kind)
        bmcs.append({
            "name": name, "host": host, "address": url.hostname,
            "port": 443 if url.port is None else url.port,
            "username": endpoint.username, "password_hash": password_digest(password),
            "generation": generation,
            "model": server.model,
            "serial": server_serial(name, server),
            "firmware": server.bmc.firmware or DEFAULT_BMC_FIRMWARE[server.model],
            "bios_nics": {"embedded": server.bios.embedded, "flexlom": server.bios.flexlom,
                          "pcie_slots": {str(k): v for k, v in server.bios.pcie_slots.items()}},
            "adapters": adapters, "post_step_s": post_step_s})
    return {"bmcs": bmcs}
