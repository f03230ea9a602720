"""Typed facts of one HPE server as its iLO reports them over Redfish, and the changes the
server-build checks plan for it.

Records only: `harness.drivers.redfish.parse` fills them from Redfish documents; the checks
read them. iLO 4 and iLO 5 differ in shape (`Oem.Hp` vs `Oem.Hpe`, flat BIOS attributes vs
`Attributes`, `SettingsResult` vs `@Redfish.Settings`, the read-only HpBaseNetworkAdapter vs DMTF
NetworkAdapter); both land in the same records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class RedfishMessage:
    """One entry of `@Message.ExtendedInfo` or of `@Redfish.Settings.Messages`."""

    message_id: str
    args: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    message: str = ""

    @property
    def short_id(self) -> str:
        """`Base.1.4.PropertyUnknown` -> `PropertyUnknown` (iLO 4 also writes `Base.1.0:X`)."""
        return self.message_id.replace(":", ".").rsplit(".", 1)[-1]

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> RedfishMessage:
        # iLO 4 spells it MessageID; newer firmware MessageId.
        mid = item.get("MessageId", item.get("MessageID", ""))
        return cls(str(mid), tuple(str(a) for a in item.get("MessageArgs") or ()),
                   tuple(str(r) for r in item.get("RelatedProperties") or ()),
                   str(item.get("Message") or ""))

    def text(self) -> str:
        args = f" ({', '.join(self.args)})" if self.args else ""
        return f"{self.message_id}{args}"


Generation = Literal["ilo4", "ilo5"]
Scalar = str | int | float | bool | None


# settings messages that mean "applied" (or "will apply at the next reset")
OK_MESSAGES = frozenset({"Success", "SystemResetRequired", "Created", "ResetRequired"})


STORAGE_TYPES = {"iSCSI": "iSCSI", "FibreChannelOverEthernet": "FCoE", "FCoE": "FCoE",
                 "FibreChannel": "FibreChannel"}


@dataclass(frozen=True)
class SettingsState:
    """`@Redfish.Settings` (or iLO 4 `SettingsResult`): where pending values go and what the
    last apply (at a reset) said about them."""

    settings_uri: str | None
    etag: str | None
    time: str | None
    messages: tuple[RedfishMessage, ...] = ()

    @property
    def failures(self) -> tuple[RedfishMessage, ...]:
        return tuple(m for m in self.messages if m.short_id not in OK_MESSAGES)


@dataclass(frozen=True)
class BiosFacts:
    """Current BIOS attributes, the pending ones and the last apply's messages."""

    uri: str
    settings_uri: str | None
    registry: str | None
    current: Mapping[str, Scalar]
    pending: Mapping[str, Scalar]
    pending_etag: str | None
    result: SettingsState | None

    def pending_changes(self) -> dict[str, tuple[Scalar, Scalar]]:
        """Attributes whose pending value differs: name -> (current, pending)."""
        return {k: (self.current.get(k), v) for k, v in self.pending.items()
                if k in self.current and self.current[k] != v}


@dataclass(frozen=True)
class LldpNeighbour:
    """What the adapter port received from the switch over LLDP."""

    chassis_id: str | None
    port_id: str | None
    system_name: str | None
    dcbx: bool  # DCB TLVs (ETS/PFC) were received


@dataclass(frozen=True)
class PortFacts:
    """A physical port of an adapter."""

    uri: str | None
    number: int
    link_status: str | None
    speed_mbps: int | None
    mac: str | None
    neighbour: LldpNeighbour | None = None


@dataclass(frozen=True)
class FunctionFacts:
    """A NetworkDeviceFunction: the personality one port presents to the host."""

    uri: str
    id: str
    port: int | None
    func_type: str | None  # NetDevFuncType: Ethernet, iSCSI, FibreChannelOverEthernet, ...
    capabilities: tuple[str, ...]
    device_enabled: bool | None
    etag: str | None
    result: SettingsState | None


@dataclass(frozen=True)
class AdapterFacts:
    """A network adapter as the iLO reports it.

    Attributes:
        slot: `embedded`, `flexlom` or `pcieN`, derived from its location; None if unknown.
        lldp_agent: Oem.Hpe.Controllers[].EmbeddedLLDPFunctions.Enabled (the DCB/DCBX agent);
            None when the BMC does not report it (iLO 4).
        writable: Redfish may change its configuration (iLO 5, RedfishConfiguration Enabled).
        source: `NetworkAdapter` (DMTF, iLO 5) or `BaseNetworkAdapter` (HPE, read-only).
    """

    uri: str
    id: str
    name: str
    part_number: str | None
    serial: str | None
    firmware: str | None
    slot: str | None
    dcb_capable: bool | None
    lldp_agent: bool | None
    redfish_configuration: str | None
    writable: bool
    source: Literal["NetworkAdapter", "BaseNetworkAdapter"]
    etag: str | None = None
    settings_uri: str | None = None
    result: SettingsState | None = None
    ports: tuple[PortFacts, ...] = ()
    functions: tuple[FunctionFacts, ...] = ()

    def port(self, number: int) -> PortFacts | None:
        return next((p for p in self.ports if p.number == number), None)

    def functions_on(self, port: int) -> tuple[FunctionFacts, ...]:
        return tuple(f for f in self.functions if f.port == port)

    def personality(self, port: int) -> str | None:
        """The port's storage personality (`iSCSI`, `FCoE`) or `Ethernet`; None when the BMC
        shows no function for the port (iLO 4 cannot)."""
        types = [f.func_type for f in self.functions_on(port)
                 if f.func_type and f.device_enabled is not False]
        storage = [STORAGE_TYPES[t] for t in types if t in STORAGE_TYPES]
        if storage:
            return storage[0]
        if "Ethernet" in types:
            return "Ethernet"
        return "Disabled" if self.functions_on(port) else None


@dataclass(frozen=True)
class ResetAction:
    """A reset action the BMC advertises: where to POST and which ResetType values it takes."""

    target: str
    types: tuple[str, ...]


@dataclass(frozen=True)
class PowerFacts:
    """Power and POST state and the reset actions (from ComputerSystem)."""

    power_state: str | None
    post_state: str | None
    reset: ResetAction | None
    oem_reset: ResetAction | None  # HpeComputerSystemExt.SystemReset (ColdBoot, AuxCycle)
    boot_marker: str | None  # changes on every POST (PostDiscoveryCompleteTimeStamp)


@dataclass(frozen=True)
class ServerFacts:
    """Everything the server-build checks need from one BMC, read in one walk.

    Attributes:
        name: the server's name in the lab.
        firmware: the iLO firmware version, `2.72`.
        requests: HTTP requests the walk itself sent (login and logout not included).
    """

    name: str
    url: str
    generation: Generation
    manager_type: str
    firmware: str | None
    model: str | None
    serial: str | None
    system_uri: str
    power: PowerFacts
    bios: BiosFacts
    adapters: tuple[AdapterFacts, ...]
    adapter_view: str  # which collection the adapters came from
    requests: int = 0
    elapsed_ms: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def adapter_in(self, slot: str) -> AdapterFacts | None:
        return next((a for a in self.adapters if a.slot == slot), None)


@dataclass(frozen=True)
class SettingsChange:
    """One intended change.

    Attributes:
        subject: what it is about, in the lab's words (`srv-esx03/flexlom/port1`).
        resource: the current resource, whose `@Redfish.Settings` reports the outcome.
        settings_uri: where the pending values are PATCHed.
        body: the PATCH body.
        expect: JSON path (`a/b/0/c`) in `resource` -> the value it must have after the reset.
    """

    subject: str
    resource: str
    settings_uri: str
    body: Mapping[str, Any]
    expect: Mapping[str, Any]
    description: str


@dataclass(frozen=True)
class FixPlan:
    """What it takes to make one server match the lab: Redfish changes and, where the BMC cannot
    write, what to change by hand."""

    server: str
    changes: tuple[SettingsChange, ...] = ()
    manual: tuple[str, ...] = ()  # known wrong, and only a hand can change it
    unverified: tuple[str, ...] = ()  # the BMC cannot show it: check (and fix) by hand

    @property
    def empty(self) -> bool:
        return not self.changes and not self.manual and not self.unverified
