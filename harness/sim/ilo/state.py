"""What one emulated server is: power and POST state, BIOS and adapter settings, sessions.

No HTTP here. The rules that matter to clients live in this state machine: a PATCH only records
*pending* values; a reset runs the PostState sequence and applies them when POST reaches
`InPostDiscoveryComplete`, writing the settings messages clients read to know whether a change
took; adapter writes exist only on iLO 5 and only when the adapter's Redfish configuration is
enabled. Each `Server` owns its state, so emulated BMCs never share anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from harness.lab.catalog import ADAPTERS
from harness.sim.ilo.bios import Attribute, attributes, initial_values
from harness.sim.ilo.spec import AdapterSpec, BmcSpec, PortSpec, password_matches

# lab personality -> Redfish NetDevFuncType, and back
FUNC_TYPE = {"Ethernet": "Ethernet", "iSCSI": "iSCSI", "FCoE": "FibreChannelOverEthernet"}
PERSONALITY = {v: k for k, v in FUNC_TYPE.items()}

RESET_TYPES = {
    "ilo4": ("On", "ForceOff", "ForceRestart", "Nmi", "PushPowerButton"),
    "ilo5": ("On", "ForceOff", "GracefulShutdown", "ForceRestart", "Nmi", "PushPowerButton"),
}
POST_SEQUENCE = {  # after `Reset` (a restart) or straight from power-on
    "ilo4": ("InPost", "InPostDiscoveryComplete", "FinishedPost"),
    "ilo5": ("InPost", "InPostDiscoveryStart", "InPostDiscoveryComplete", "FinishedPost"),
}
IN_POST = frozenset({"Reset", "InPost", "InPostDiscoveryStart"})


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def etag_of(data: Any) -> str:
    """8 hex digits over a JSON value: iLO's ETag size."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:8].upper()


class StateError(Exception):
    """A request the server's current state refuses; carries the message to report."""

    def __init__(self, message: str, *args: str) -> None:
        self.message, self.args_ = message, list(args)
        super().__init__(f"{message} {' '.join(args)}".strip())


@dataclass
class SettingsResult:
    """The outcome of the last apply, as `@Redfish.Settings` (iLO 5) or `SettingsResult`
    (iLO 4) report it: message ids with args, the time, and the applied resource's ETag."""

    messages: list[tuple[str, list[str], str | None]] = field(
        default_factory=lambda: [("Base:Success", [], None)])
    time: str = field(default_factory=now_iso)
    etag: str = ""


@dataclass
class Function:
    """A NetworkDeviceFunction: one per adapter port, carrying the port's personality."""

    port: PortSpec
    func_type: str
    capabilities: tuple[str, ...]
    pending: dict[str, Any] = field(default_factory=dict)
    result: SettingsResult = field(default_factory=SettingsResult)


@dataclass
class Adapter:
    """A network adapter: its functions and, when it has one, the embedded LLDP/DCBX agent."""

    spec: AdapterSpec
    functions: list[Function]
    lldp_agent: bool | None  # None: the adapter has no embedded agent
    redfish_configuration: bool  # iLO 5 may write it (DCi adapters)
    pending: dict[str, Any] = field(default_factory=dict)
    result: SettingsResult = field(default_factory=SettingsResult)

    @property
    def dcb_capable(self) -> bool:
        return ADAPTERS[self.spec.model].dcb


@dataclass
class Session:
    id: str
    user: str
    token: str = field(repr=False)
    created: str
    last_used: float


class Server:
    """One server behind one emulated iLO."""

    def __init__(self, spec: BmcSpec) -> None:
        self.spec = spec
        self._verified: set[bytes] = set()  # sha256 of passwords that matched the digest
        self.power = "On"
        self.post = "FinishedPost"
        self.post_discovery_complete = now_iso()  # changes on every POST: a boot marker
        self.asset_tag = ""
        self.session_timeout = spec.session_timeout_s
        self.bios_table: dict[str, Attribute] = attributes(spec)
        self.bios: dict[str, Any] = initial_values(spec, self.bios_table)
        self.bios_pending: dict[str, Any] = {}
        self.bios_result = SettingsResult(etag=etag_of(self.bios))
        self.adapters = [self._adapter(a) for a in spec.adapters]
        self.sessions: dict[str, Session] = {}
        self.applied_hooks: list[Callable[[Server], Awaitable[None]]] = []
        self.requests: dict[str, int] = {}
        self._boot: asyncio.Task[None] | None = None
        self._counter = 0

    def _adapter(self, a: AdapterSpec) -> Adapter:
        model = ADAPTERS[a.model]
        caps = tuple(FUNC_TYPE[p] for p in model.personalities)
        # Only iLO 5 manages adapters over DCi; the converged (DCB-capable) ones allow writes.
        writable = self.spec.generation == "ilo5" and model.dcb
        agent = (a.lldp_agent if a.lldp_agent is not None else True) if model.dcb else None
        return Adapter(a, [Function(p, FUNC_TYPE[p.personality], caps) for p in a.ports],
                       agent, writable)

    # -- sessions ------------------------------------------------------------------------------
    def expire_sessions(self) -> None:
        cutoff = time.monotonic() - self.session_timeout
        for sid in [s.id for s in self.sessions.values() if s.last_used < cutoff]:
            del self.sessions[sid]

    def login(self, user: str, password: str) -> Session:
        """A new session.

        Raises:
            StateError: wrong credentials, or the session limit is reached.
        """
        self.expire_sessions()
        if not self._credentials_ok(user, password):
            raise StateError("iLO:UnauthorizedLoginAttempt")
        if len(self.sessions) >= self.spec.session_limit:
            raise StateError("Base:SessionLimitExceeded")
        self._counter += 1
        sid = f"{user.lower()}{self._counter:08x}{secrets.token_hex(4)}"
        session = Session(sid, user, secrets.token_hex(16), now_iso(), time.monotonic())
        self.sessions[sid] = session
        return session

    def session_for_token(self, token: str) -> Session | None:
        self.expire_sessions()
        for s in self.sessions.values():
            if secrets.compare_digest(s.token.encode(), token.encode()):
                s.last_used = time.monotonic()
                return s
        return None

    def basic_ok(self, user: str, password: str) -> bool:
        return self._credentials_ok(user, password)

    def _credentials_ok(self, user: str, password: str) -> bool:
        """The user name, and the password against the stored digest (a digest already
        verified in this process is remembered, so Basic auth on every request stays cheap)."""
        if not secrets.compare_digest(user.encode(), self.spec.username.encode()):
            return False
        key = hashlib.sha256(password.encode()).digest()
        if key in self._verified:
            return True
        if password_matches(password, self.spec.password_hash):
            self._verified.add(key)
            return True
        return False

    # -- settings ------------------------------------------------------------------------------
    def require_settable(self) -> None:
        """Settings may be changed when the server is off, or once POST has discovered devices.

        Raises:
            StateError: POST is before device discovery.
        """
        if self.power == "On" and self.post in IN_POST:
            raise StateError("iLO:UnableToModifyDuringSystemPOST")

    def bios_view(self) -> dict[str, Any]:
        """The pending view: current values with every pending change over them."""
        return {**self.bios, **self.bios_pending}

    def apply_pending(self) -> bool:
        """What BIOS does in POST: adopt pending values, report each rejected one.

        Returns:
            whether adapter settings changed (the data plane may have to follow).
        """
        stamp = now_iso()
        if self.bios_pending:
            msgs: list[tuple[str, list[str], str | None]] = [("Base:Success", [], None)]
            for name, value in self.bios_pending.items():
                attr = self.bios_table.get(name)
                if attr is None:
                    msgs.append(("Base:PropertyUnknown", [name], name))
                elif attr.read_only:
                    msgs.append(("Base:PropertyNotWritable", [name], name))
                elif attr.problem(value) is not None:
                    msgs.append(("Base:PropertyValueNotInList", [str(value), name], name))
                else:
                    self.bios[name] = value
            self.bios_pending = {}
            self.bios_result = SettingsResult(msgs, stamp, etag_of(self.bios))
        changed = False
        for adapter in self.adapters:
            if adapter.pending:
                if "lldp_agent" in adapter.pending and adapter.lldp_agent is not None:
                    changed |= adapter.lldp_agent != adapter.pending["lldp_agent"]
                    adapter.lldp_agent = bool(adapter.pending["lldp_agent"])
                adapter.pending = {}
                adapter.result = SettingsResult(time=stamp, etag=etag_of(adapter.lldp_agent))
            for fn in adapter.functions:
                if fn.pending:
                    new = fn.pending.get("NetDevFuncType", fn.func_type)
                    changed |= new != fn.func_type
                    fn.func_type = new
                    fn.pending = {}
                    fn.result = SettingsResult(time=stamp, etag=etag_of(fn.func_type))
        return changed

    # -- power ---------------------------------------------------------------------------------
    def reset(self, kind: str) -> None:
        """ComputerSystem.Reset (and the OEM buttons, mapped onto it).

        Raises:
            StateError: the reset type does not fit the power state.
        """
        on = self.power == "On"
        if kind in ("On",) or (kind == "PushPowerButton" and not on):
            if on:
                raise StateError("iLO:InvalidOperationForSystemState")
            self._start(self._boot_sequence(restart=False))
        elif kind in ("ForceRestart", "ColdBoot"):
            if not on:
                raise StateError("iLO:InvalidOperationForSystemState")
            self._start(self._boot_sequence(restart=True))
        elif kind == "ForceOff":
            if not on:
                raise StateError("iLO:InvalidOperationForSystemState")
            self._stop_boot()
            self.power, self.post = "Off", "PowerOff"
        elif kind in ("GracefulShutdown", "PushPowerButton"):
            if on:  # the OS shuts down, then power goes off; when off it is a no-op
                self._start(self._shutdown())
        elif kind == "Nmi":
            if not on:
                raise StateError("iLO:InvalidOperationForSystemState")
        else:
            raise StateError("Base:ActionParameterValueNotInList", kind, "ResetType")

    def _start(self, coro: Awaitable[None]) -> None:
        self._stop_boot()
        self._boot = asyncio.ensure_future(coro)

    def _stop_boot(self) -> None:
        if self._boot is not None and not self._boot.done():
            self._boot.cancel()
        self._boot = None

    async def _shutdown(self) -> None:
        await asyncio.sleep(self.spec.post_step_s)
        self.power, self.post = "Off", "PowerOff"

    async def _boot_sequence(self, *, restart: bool) -> None:
        step = self.spec.post_step_s
        if restart:
            self.post = "Reset"
            await asyncio.sleep(step)
        self.power = "On"
        for state in POST_SEQUENCE[self.spec.generation]:
            if state == "InPostDiscoveryComplete":
                self.apply_pending()
                self.post_discovery_complete = now_iso()
                for hook in self.applied_hooks:
                    await hook(self)
            self.post = state
            if state != "FinishedPost":
                await asyncio.sleep(step)

    async def close(self) -> None:
        if self._boot is not None:
            self._boot.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._boot
