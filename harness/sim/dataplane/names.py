"""Names of everything the simulated data plane creates.

Namespaces are `lh-<lab>-<element>`, so a run's leftovers can be found and removed by exact name.
Interface names live inside namespaces (so `vmnic0` exists in every host) but are limited to 15
characters (IFNAMSIZ), which is why switch ports get short names and keep their real names
(`TenGigabitEthernet1/1/1`) as the interface alias that CDP/LLDP advertise.
"""

from __future__ import annotations

import hashlib
import re

IFNAMSIZ = 15
_ABBREV = (
    ("TenGigabitEthernet", "Te"), ("TwentyFiveGigE", "Twe"), ("FortyGigabitEthernet", "Fo"),
    ("HundredGigE", "Hu"), ("GigabitEthernet", "Gi"), ("FastEthernet", "Fa"),
    ("Ethernet", "Et"), ("Port-channel", "Po"),
)


def prefix(lab: str) -> str:
    """Every namespace of a lab starts with this."""
    return f"lh-{lab}-"


def netns(lab: str, element: str) -> str:
    return f"{prefix(lab)}{element}"


def root_veth(lab: str) -> str:
    """The one interface the sim puts in the root namespace: the harness end of the
    management network."""
    name = f"lh-{lab}-m"
    if len(name) <= IFNAMSIZ:
        return name
    return f"lh-{hashlib.sha1(lab.encode()).hexdigest()[:8]}-m"


def _fit(name: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:4]
    return name[: limit - 5] + "~" + digest


def switch_port(port: str) -> str:
    """`TenGigabitEthernet1/1/1` -> `Te1-1-1`, short enough to carry a `.4094b` suffix."""
    short = port
    for long, abbr in _ABBREV:
        if short.startswith(long):
            short = abbr + short[len(long):]
            break
    short = re.sub(r"[^A-Za-z0-9_-]", "-", short)
    return _fit(short, IFNAMSIZ - 6)


def sublink(port_ifname: str, vlan: int, n: int = 0) -> str:
    """One VLAN of a trunk: `vmnic4.20`, and `vmnic4.20b` for a second port group on VLAN 20.

    The kernel here has no 802.1Q devices, so each VLAN a cable carries is its own veth pair.
    """
    return f"{port_ifname}.{vlan}{'' if n == 0 else chr(ord('a') + n)}"


def short(name: str, limit: int, *, exact: bool = False) -> str:
    """A readable interface-name fragment of at most `limit` characters: cut at the limit when
    `exact` (the caller resolves clashes), else shortened with a digest that keeps it unique."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    return clean[:limit] if exact else _fit(clean, limit)
