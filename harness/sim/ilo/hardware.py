"""The servers' adapters as their hosts see them, written for the simulated vCenter.

On a real server the host enumerates what the adapters present after POST: a FlexFabric port
in iSCSI personality shows ESXi an iSCSI function (a dependent hardware iSCSI adapter), in
FCoE personality an FCoE function instead, and every port reports the adapter's firmware. The
emulator owns that state (pending settings become applied during POST), so it writes the
applied state of every server it serves to one JSON file, at start and after every POST that
applies settings; lh-vcsim's esxcli reads it on each call (esxcli_hw.go). The file is replaced
atomically, so a reader never sees half of it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.sim.ilo.state import PERSONALITY, Server


def document(servers: Iterable[Server]) -> dict[str, Any]:
    """Every server's applied adapter state: per adapter its model and firmware, per port its
    vmnic (as the lab names it) and personality."""
    out: dict[str, Any] = {}
    for server in servers:
        adapters = []
        for adapter in server.adapters:
            ports = [{"number": fn.port.number, "vmnic": fn.port.vmnic,
                      "personality": PERSONALITY.get(fn.func_type, fn.func_type)}
                     for fn in adapter.functions]
            adapters.append({"name": adapter.spec.name, "model": adapter.spec.model,
                             "firmware": adapter.spec.firmware, "ports": ports})
        out[server.spec.name] = {"power": server.power, "adapters": adapters}
    return {"servers": out}


class HardwareFile:
    """Keeps the state file in line with the servers' applied state (an applied hook)."""

    def __init__(self, path: Path, servers: Iterable[Server]) -> None:
        self.path = path
        self.servers = list(servers)

    def write(self) -> None:
        """Replace the file with the current applied state.

        Raises:
            OSError: the file cannot be written.
        """
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(document(self.servers), indent=1) + "\n", encoding="utf-8")
        tmp.replace(self.path)

    async def __call__(self, server: Server) -> None:
        try:
            await asyncio.to_thread(self.write)
        except OSError as exc:
            print(f"{server.spec.name}: cannot write the hardware state {self.path}: {exc}",
                  file=sys.stderr, flush=True)
