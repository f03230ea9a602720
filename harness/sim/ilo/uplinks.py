"""The data plane follows the BMC (F10): uplinks of an adapter whose DCB agent is off pass nothing.

In the field (INCIDENTS.md F10) the 530SFP+ ports of a server with the adapter's embedded
LLDP/DCBX agent disabled had link but passed no traffic. The emulator reproduces that from its
*applied* adapter state: while the agent is off, an nftables table `lh_ilo_f10` in the host's
namespace drops every frame in and out of those ports' uplink interfaces; when a reset applies
the fixed setting, the table goes. Ports without an uplink in the spec are never touched.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from harness.sim.dataplane import netns
from harness.sim.ilo.state import Server

TABLE = "lh_ilo_f10"  # one table per BMC: TABLE + "_" + a name made safe for nft


def table_name(server: str) -> str:
    """This server's table: several servers' uplinks share a switch namespace, and each BMC
    must replace only its own drops."""
    return f"{TABLE}_" + re.sub(r"[^A-Za-z0-9_]", "_", server)
# Adapters whose upstream needs DCBX to pass traffic (the F10 incident's 530SFP+).
NO_TRAFFIC_WITHOUT_DCB = frozenset({"530SFP+"})

Runner = Callable[..., Any]  # netns.run's signature: (argv, *, ns, stdin, check)


def blocked(server: Server) -> dict[str, list[str]]:
    """Namespace -> uplink interfaces that must drop everything in the applied state."""
    out: dict[str, list[str]] = {}
    for adapter in server.adapters:
        if adapter.spec.model in NO_TRAFFIC_WITHOUT_DCB and adapter.lldp_agent is False:
            for port in adapter.spec.ports:
                if port.uplink is not None:
                    out.setdefault(port.uplink.netns, []).extend(port.uplink.ifaces)
    return out


def ruleset(ifaces: Sequence[str], table: str = TABLE) -> str:
    """Replace the table atomically: (re)create it with drop chains, or only delete it."""
    lines = [f"table netdev {table}", f"delete table netdev {table}"]
    if ifaces:
        lines.append(f"table netdev {table} {{")
        for i, ifname in enumerate(ifaces):
            lines += [f'  chain in{i} {{ type filter hook ingress device "{ifname}" '
                      "priority -500; policy drop; }",
                      f'  chain out{i} {{ type filter hook egress device "{ifname}" '
                      "priority -500; policy drop; }"]
        lines.append("}")
    return "\n".join(lines) + "\n"


class UplinkFollower:
    """Keeps each uplink namespace's `lh_ilo_f10` table in line with the server's applied state."""

    def __init__(self, server: Server, runner: Runner = netns.run) -> None:
        self.server = server
        self.runner = runner
        self.namespaces = sorted({p.uplink.netns for a in server.spec.adapters for p in a.ports
                                  if p.uplink is not None})
        self.applied: dict[str, tuple[str, ...]] = {}
        self.table = table_name(server.spec.name)

    def sync(self) -> None:
        """Load or delete the table where the wanted state differs from what was last loaded.

        Raises:
            NetnsError: nft failed (with its stderr).
        """
        sync_all([self])

    def _changes(self) -> dict[str, tuple[str, ...]]:
        """Namespace -> the interfaces to drop on now, where that differs from what is loaded."""
        want = blocked(self.server)
        wanted = {ns: tuple(sorted(set(want.get(ns, [])))) for ns in self.namespaces}
        return {ns: ifaces for ns, ifaces in wanted.items() if self.applied.get(ns) != ifaces}

    async def __call__(self, server: Server) -> None:
        try:
            await asyncio.to_thread(self.sync)
        except netns.NetnsError as exc:
            print(f"{server.spec.name}: cannot make the uplinks follow the BMC: {exc}",
                  file=sys.stderr, flush=True)


def sync_all(followers: Sequence[UplinkFollower]) -> None:
    """Bring every follower's tables in line, one nft transaction per namespace: at start every
    BMC of a lab loads (or deletes) its table, and most share the same switch namespaces.

    Raises:
        NetnsError: nft failed (with its stderr); nothing in that namespace changed.
    """
    per_ns: dict[str, list[tuple[UplinkFollower, tuple[str, ...]]]] = {}
    for follower in followers:
        for ns, ifaces in follower._changes().items():
            per_ns.setdefault(ns, []).append((follower, ifaces))
    for ns, items in per_ns.items():
        script = "".join(ruleset(ifaces, f.table) for f, ifaces in items)
        items[0][0].runner(["nft", "-f", "-"], ns=ns, stdin=script)
        for follower, ifaces in items:
            follower.applied[ns] = ifaces
            what = f"drop every frame on {', '.join(ifaces)}" if ifaces else "pass traffic"
            print(f"{follower.server.spec.name}: uplinks in {ns} {what} "
                  f"(nft table {follower.table})", file=sys.stderr, flush=True)
