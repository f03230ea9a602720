"""Run an emulated OPNsense API as a process (`python -m harness.sim.opnsense`) and wait until
it serves. Modelled on `IloProcess`; both use `harness.sim.readyfile`.

`OpnsenseProcess.start` writes the spec (mode 0600: it holds the API secret), starts the
emulator, optionally inside the router's namespace, and waits for its ready file.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.sim import readyfile
from harness.sim.errors import SimError
from harness.sim.opnsense.spec import RouterSpec


class OpnsenseStartError(SimError):
    """The emulator exited or did not become ready; the message ends with its log's tail."""


@dataclass
class OpnsenseProcess(readyfile.ProcessHandle):
    """A running emulator: where it serves and the certificate it presents."""

    pid: int
    name: str
    url: str
    cert_file: Path
    log_file: Path
    argv: list[str]
    _proc: subprocess.Popen[bytes] = field(repr=False)

    @classmethod
    def start(cls, spec: RouterSpec, workdir: Path, *, netns: str | None = None,
              timeout: float = 30.0) -> OpnsenseProcess:
        """Start the emulator for one router and wait until it listens.

        Args:
            workdir: gets `<router>.spec.json`, the ready file, the log and the certificate.
            netns: run inside this network namespace (the router's, in the sim).

        Raises:
            OpnsenseStartError: with the tail of the emulator's log.
        """
        workdir.mkdir(parents=True, exist_ok=True)
        spec_file = workdir / f"{spec.name}.spec.json"
        ready_file, log_file = workdir / f"{spec.name}.ready.json", workdir / f"{spec.name}.log"
        readyfile.write_spec(spec_file, spec.to_json())
        argv = [sys.executable, "-m", "harness.sim.opnsense", "--spec", str(spec_file),
                "--ready", str(ready_file), "--cert-dir", str(workdir / "certs")]
        try:
            proc, info = readyfile.start_and_wait(argv, ready_file, log_file, timeout,
                                                  netns=netns)
        except (readyfile.ExitedEarly, readyfile.ReadyTimeout) as exc:
            raise OpnsenseStartError(f"OPNsense emulator of {spec.name} {exc}\n"
                                     f"{readyfile.log_tail(log_file)}") from None
        ep = info["endpoint"]
        return cls(pid=proc.pid, name=spec.name, url=str(ep["url"]),
                   cert_file=Path(ep["cert_file"]), log_file=log_file, argv=argv, _proc=proc)
