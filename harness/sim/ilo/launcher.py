"""Run the iLO emulator as a process (`python -m harness.sim.ilo`) and wait until it serves.

`IloProcess.start` writes the spec (mode 0600: user names and password digests), starts the
emulator, optionally inside a network namespace, waits for its ready file and returns the
endpoints; `stop` ends it by its PID. Modelled on `VcsimProcess`; both use `harness.sim.readyfile`.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.sim import readyfile
from harness.sim.errors import SimError


class IloStartError(SimError):
    """The emulator exited or did not become ready; `detail` holds the tail of its log."""

    def __init__(self, what: str, detail: str = "") -> None:
        self.what, self.detail = what, detail
        super().__init__(f"{what}\n{detail}" if detail else what)


@dataclass(frozen=True)
class IloEndpoint:
    """One emulated iLO as it serves: the URL to use and the certificate it presents."""

    name: str
    generation: str
    address: str
    port: int
    url: str
    cert_file: Path

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this iLO's self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.cert_file))


@dataclass
class IloProcess(readyfile.ProcessHandle):
    """A running emulator process and every BMC it serves."""

    pid: int
    endpoints: dict[str, IloEndpoint]
    workdir: Path
    log_file: Path
    hardware_file: Path  # the servers' applied adapter state (harness.sim.ilo.hardware)
    _proc: subprocess.Popen[bytes] = field(repr=False)

    @classmethod
    def start(cls, spec: Mapping[str, Any], workdir: Path, *, netns: str | None = None,
              timeout: float = 30.0) -> IloProcess:
        """Start the emulator and wait until every BMC listens.

        Args:
            spec: from `spec_from_lab` (or hand-made in tests).
            workdir: gets spec.json, ready.json, the log and the certificates.
            netns: run inside this network namespace (`ip netns exec`).
            timeout: seconds to wait for the ready file.

        Raises:
            IloStartError: with the tail of the emulator's log.
        """
        workdir.mkdir(parents=True, exist_ok=True)
        spec_file, ready_file = workdir / "spec.json", workdir / "ready.json"
        log_file, hardware_file = workdir / "ilo.log", workdir / "hardware.json"
        readyfile.write_spec(spec_file, spec)
        argv = [sys.executable, "-m", "harness.sim.ilo", "--spec", str(spec_file),
                "--ready", str(ready_file), "--cert-dir", str(workdir / "certs"),
                "--hardware", str(hardware_file)]
        try:
            proc, info = readyfile.start_and_wait(argv, ready_file, log_file, timeout,
                                                  netns=netns)
        except (readyfile.ExitedEarly, readyfile.ReadyTimeout) as exc:
            raise IloStartError(f"iLO emulator {exc}", readyfile.log_tail(log_file)) from None
        endpoints = {e["name"]: IloEndpoint(e["name"], e["generation"], e["address"],
                                            int(e["port"]), e["url"], Path(e["cert_file"]))
                     for e in info["endpoints"]}
        return cls(pid=proc.pid, endpoints=endpoints, workdir=workdir, log_file=log_file,
                   hardware_file=hardware_file, _proc=proc)
