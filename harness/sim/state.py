"""The running simulated lab, as typed records: what `up` built, saved and loaded in one place.

`state.json` in the lab's run directory (`/run/labharness/<lab>/`) lets `down`, `status` and
other processes (the plugin, a second run) find every namespace, daemon, endpoint and realised
interface by exact name. Loading validates the file like any input: a state written by an older
labharness or damaged on disk is one located error, never a half-read dict.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.sim.dataplane.daemons import DaemonRecord
from harness.sim.dataplane.plan import (
    Endpoint,
    GuestInterface,
    HostProbePlan,
    PortLinks,
    ProbeClient,
    VmAccessPlan,
    VmknicInfo,
)
from harness.sim.errors import SimError


class SshMaterial(BaseModel):
    """The client key the harness logs in with and the known_hosts that pins the sim's sshd."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_file: str
    known_hosts: str


class EndpointAccess(BaseModel):
    """How to log in to one HTTPS endpoint of the sim, for `sim status --json`. Only the
    simulators' own, public credentials are shown (a sim inventory's `plain:` ones, the API
    key the sim made for an OPNsense router this run); any other env:/file: secret stays a
    reference. An OPNsense API key is the user name, its secret the password (HTTP Basic)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    username: str
    verify_tls: bool
    ca_file: str | None
    password: str | None = None
    password_ref: str | None = None
    username_ref: str | None = None


class SimState(BaseModel):
    """What a running simulated lab consists of (state.json).

    Attributes:
        namespaces, root_ifaces: everything `down` removes, by exact name.
        daemons: every process the sim started, to stop by PID.
        scenarios, faults: scenario keys applied (`F12`, `F11-cabling`), and each fault as
            applied.
        notes: what `up` did beyond building (a stale lab it removed first).
        ports: `host/vmnic` or `switch/port` -> its interfaces (cable and VLAN links).
        vm_ifaces: `vm/ethernet0` -> the guest interface; clients: NLB cluster -> its client.
        teams: host namespace -> the port groups its teaming controller runs.
        host_probes: each host's probe VM (trunks, pinned uplinks, addresses, where its sshd
            listens); vm_access: each VM's management address (sshd) and lab NICs.
    """

    model_config = ConfigDict(extra="forbid")

    lab: str
    namespaces: list[str]
    root_ifaces: list[str]
    daemons: list[DaemonRecord]
    scenarios: list[str] = Field(default_factory=list)
    faults: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    endpoints: list[Endpoint] = Field(default_factory=list)
    vmknics: list[VmknicInfo] = Field(default_factory=list)
    ports: dict[str, PortLinks] = Field(default_factory=dict)
    vm_ifaces: dict[str, GuestInterface] = Field(default_factory=dict)
    clients: dict[str, ProbeClient] = Field(default_factory=dict)
    teams: dict[str, list[str]] = Field(default_factory=dict)
    host_probes: list[HostProbePlan] = Field(default_factory=list)
    vm_access: list[VmAccessPlan] = Field(default_factory=list)
    ssh: SshMaterial | None = None
    access: dict[str, EndpointAccess] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    # the run that built the lab and tears it down at its end (None: `sim up`, kept on purpose)
    owner: DaemonRecord | None = None

    def vmknic(self, host: str, name: str) -> VmknicInfo | None:
        """A host's vmknic as the sim realised it."""
        return next((v for v in self.vmknics if v.host == host and v.name == name), None)


def load_state(path: Path) -> SimState | None:
    """The state saved at `path`, or None when there is none.

    Raises:
        SimError: the file exists but is not a state this labharness wrote (each field at
            fault named, and what to do).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SimError(f"{path}: cannot read the simulated lab's state: {exc.strerror}") from None
    try:
        return SimState.model_validate_json(text)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
                          for e in exc.errors()[:5])
        raise SimError(f"{path}: not a simulated-lab state this labharness can read ({where}); "
                       "remove it and run `labharness sim down`") from None


def save_state(state: SimState, path: Path) -> None:
    """Write the state atomically (a reader never sees half a file), readable by root only: it
    records how to log in to the sim's endpoints."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(state.model_dump_json(indent=2))
    tmp.replace(path)
