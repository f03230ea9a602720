"""The agent's safety policy: which interfaces it may use and which IPv4 prefixes it may probe.

The policy is fixed when the agent starts and is checked where frames leave (the socket for an
interface, the route to a destination), not only where requests are parsed, so a probe that
picks its interface from the routing table is held to it too.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from .errors import BadRequest, PolicyRefused


@dataclass(frozen=True)
class Policy:
    """Allowed interface-name globs and allowed destination prefixes."""

    allow_ifaces: tuple[str, ...]
    allow_prefixes: tuple[ipaddress.IPv4Network, ...]

    @classmethod
    def build(cls, ifaces: Iterable[str], prefixes: Iterable[str]) -> Policy:
        """Parse the command-line form; an empty prefix list would allow nothing, so refuse it."""
        nets: list[ipaddress.IPv4Network] = []
        for text in prefixes:
            try:
                nets.append(ipaddress.IPv4Network(text, strict=True))
            except ValueError as exc:
                raise BadRequest(f"invalid allowed prefix {text!r}: {exc}", prefix=text) from None
        if not nets:
            raise BadRequest("the probe policy needs at least one allowed destination prefix")
        globs = tuple(ifaces)
        if not globs:
            raise BadRequest("the probe policy needs at least one allowed interface pattern")
        return cls(globs, tuple(nets))

    def iface_allowed(self, name: str) -> bool:
        return _matches(self.allow_ifaces, name)

    def check_iface(self, name: str) -> None:
        if not self.iface_allowed(name):
            raise PolicyRefused(
                f"interface {name!r} is not allowed by the probe policy "
                f"(allowed: {', '.join(self.allow_ifaces)})", iface=name)

    def dst_allowed(self, address: str) -> bool:
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.allow_prefixes)

    def check_dst(self, address: str, what: str = "destination") -> None:
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            raise BadRequest(f"{what} {address!r} is not an IPv4 address",
                             address=address) from None
        if not self.dst_allowed(address):
            raise PolicyRefused(
                f"{what} {address} is outside the prefixes the probe policy allows "
                f"({', '.join(str(n) for n in self.allow_prefixes)})", address=address)

    def to_dict(self) -> dict[str, Any]:
        return {"allow_ifaces": list(self.allow_ifaces),
                "allow_prefixes": [str(n) for n in self.allow_prefixes]}


@functools.lru_cache(maxsize=4096)
def _matches(patterns: tuple[str, ...], name: str) -> bool:
    """Whether `name` matches one of the globs (asked on every frame a probe sends)."""
    return any(fnmatchcase(name, pattern) for pattern in patterns)
