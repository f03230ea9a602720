"""Typed, immutable facts of one vCenter snapshot, in vSphere's own terms, and the vSphere
names the checks, the driver and the sim's provisioner share.

These records hold what vCenter reported, unresolved: a distributed port group's policy field is
None when vCenter leaves it unset (inheritance from the switch is resolved by the reader, e.g.
`harness.checks.observed`). Names are the field's words: vmnic, vmk, port group, uplink.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Interface

OptionValue = str | int | float | bool

# vSphere's own names for what the checks, the driver and the sim provisioner share
NTP_SERVICE = "ntpd"
NTP_RULESET = "ntpClient"
ROLLBACK_OPTION = "config.vpxd.network.rollback"  # a vCenter advanced setting (F01)
# What the checks read by default. Keyed reads keep the answer small on real ESXi, whose
# config.option holds over a thousand settings and config.firewall dozens of rulesets.
DEFAULT_OPTION_KEYS: tuple[str, ...] = ("Mem.ShareForceSalting",)

# The lab's words and vSphere's, both ways. A lab vmknic service -> the VirtualNicManager nic
# type that carries it (iSCSI port binding and NSX-V VTEPs are no nic types: iSCSI lives in
# the software iSCSI adapter, a VTEP is marked by the vxlan TCP/IP stack).
NIC_TYPE_OF_SERVICE: Mapping[str, str] = {
    "management": "management",
    "vmotion": "vmotion",
    "provisioning": "vSphereProvisioning",
    "ft": "faultToleranceLogging",
    "vsan": "vsan",
}
SERVICE_OF_NIC_TYPE: Mapping[str, str] = {v: k for k, v in NIC_TYPE_OF_SERVICE.items()}
# A lab tcpip_stack -> the vmknic's netStackInstanceKey.
NETSTACK_OF_STACK: Mapping[str, str] = {
    "default": "defaultTcpipStack",
    "vmotion": "vmotion",
    "vxlan": "vxlan",
    "provisioning": "vSphereProvisioning",
}
STACK_OF_NETSTACK: Mapping[str, str] = {v: k for k, v in NETSTACK_OF_STACK.items()}

# What labharness itself builds in a lab's vCenter (`labharness probes deploy`: the probe port
# groups and probe VMs) is named with this prefix. Those objects are the harness's instruments,
# not the lab's design: the observed design view leaves them out, and `probes remove` only ever
# touches what its journal lists.
PROBE_PREFIX = "lh-probe-"


def is_probe_object(name: str) -> bool:
    """Whether a port group or VM name is one labharness's probe tooling uses."""
    return name.startswith(PROBE_PREFIX)


@dataclass(frozen=True)
class SecurityFacts:
    """Layer-2 security policy; None = not set at this level."""

    allow_promiscuous: bool | None = None
    mac_changes: bool | None = None
    forged_transmits: bool | None = None


@dataclass(frozen=True)
class TeamingFacts:
    """NIC teaming and failover; None = not set at this level.

    `active`/`standby` are vmnics on a standard switch and uplink names on a DVS; None means no
    explicit order (every uplink active). `failback` is vSphere's `not rollingOrder`.
    """

    load_balancing: str | None = None
    active: tuple[str, ...] | None = None
    standby: tuple[str, ...] | None = None
    check_beacon: bool | None = None
    notify_switches: bool | None = None
    failback: bool | None = None


@dataclass(frozen=True)
class PolicyFacts:
    """Security and teaming of a switch or port group."""

    security: SecurityFacts = SecurityFacts()
    teaming: TeamingFacts = TeamingFacts()


@dataclass(frozen=True)
class VswitchFacts:
    """A standard switch on one host."""

    name: str
    mtu: int
    uplinks: tuple[str, ...]  # vmnics bonded to it
    port_groups: tuple[str, ...]
    policy: PolicyFacts


@dataclass(frozen=True)
class PortGroupFacts:
    """A standard port group with the policy ESXi computed from the switch and its overrides."""

    name: str
    vswitch: str
    vlan: int
    computed: PolicyFacts


@dataclass(frozen=True)
class DvPortFacts:
    """The distributed port a vmknic is connected to."""

    switch_uuid: str
    portgroup_key: str | None
    port_key: str | None


@dataclass(frozen=True)
class VmknicFacts:
    """A VMkernel NIC; `port_group` is set on a standard switch, `dvs_port` on a DVS."""

    device: str
    port_group: str | None
    dvs_port: DvPortFacts | None
    ip: IPv4Interface | None
    dhcp: bool
    mac: str
    mtu: int
    netstack: str  # netStackInstanceKey: defaultTcpipStack, vmotion, vxlan, ...
    services: tuple[str, ...]  # vSphere nic types selected for it: management, vmotion, ...


@dataclass(frozen=True)
class PnicFacts:
    """A physical NIC; `speed_mb` None = link down."""

    device: str
    mac: str
    speed_mb: int | None
    full_duplex: bool | None


@dataclass(frozen=True)
class ProxySwitchFacts:
    """A host's side of a DVS: which vmnics back it and which uplink each one is."""

    dvs_uuid: str
    dvs_name: str
    mtu: int | None
    pnics: tuple[str, ...]
    uplinks: Mapping[str, str]  # uplink name -> vmnic, where the backing says which


@dataclass(frozen=True)
class ServiceFacts:
    """A host service (ntpd, TSM-SSH)."""

    key: str
    running: bool
    policy: str  # on | off | automatic


@dataclass(frozen=True)
class HostManagers:
    """Managed-object ids of a host's managers, for method calls after a snapshot."""

    network_system: str | None = None
    date_time_system: str | None = None
    service_system: str | None = None
    firewall_system: str | None = None
    advanced_option: str | None = None


@dataclass(frozen=True)
class HostFacts:
    """One ESXi host as vCenter reports it. Every field but the name has a default (what an
    unreported property reads as), so a new fact is a field here and a row in the driver's
    mapping table (`harness.drivers.vsphere.mapping.host_props`)."""

    name: str
    moref: str
    connection_state: str = "unknown"  # connected | disconnected | notResponding
    version: str | None = None
    build: str | None = None
    boot_time: datetime | None = None  # runtime.bootTime: moves when the host reboots (F06)
    vswitches: Mapping[str, VswitchFacts] = field(default_factory=dict)
    port_groups: Mapping[str, PortGroupFacts] = field(default_factory=dict)
    vmknics: Mapping[str, VmknicFacts] = field(default_factory=dict)
    pnics: Mapping[str, PnicFacts] = field(default_factory=dict)
    proxy_switches: tuple[ProxySwitchFacts, ...] = ()
    ntp_servers: tuple[str, ...] = ()
    services: Mapping[str, ServiceFacts] = field(default_factory=dict)
    firewall_rulesets: Mapping[str, bool] = field(default_factory=dict)  # key -> enabled
    options: Mapping[str, OptionValue] = field(default_factory=dict)
    managers: HostManagers = HostManagers()


@dataclass(frozen=True)
class DiscoveryFacts:
    """CDP/LLDP of a switch: protocol cdp|lldp, operation listen|advertise|both|none."""

    protocol: str
    operation: str


@dataclass(frozen=True)
class DvsMemberFacts:
    """A host's membership of a DVS and the vmnics backing it (from the DVS's config)."""

    host: str
    pnics: tuple[str, ...]


@dataclass(frozen=True)
class DvsFacts:
    """A distributed switch."""

    name: str
    uuid: str
    max_mtu: int | None
    uplink_names: tuple[str, ...]
    members: Mapping[str, DvsMemberFacts]
    discovery: DiscoveryFacts | None
    default_policy: PolicyFacts
    default_vlan: int | None
    version: str | None


@dataclass(frozen=True)
class DvPortGroupFacts:
    """A distributed port group; policy fields None where vCenter reports nothing."""

    name: str
    key: str
    dvs: str
    vlan: int | None  # VLAN id; 4095 for a trunk range, the secondary id for a PVLAN
    policy: PolicyFacts
    uplink: bool  # the DVS's own uplink port group


@dataclass(frozen=True)
class VmNicFacts:
    """A VM network adapter; `label` is the VMX name (ethernet0 ...), by device order."""

    label: str
    key: int
    mac: str | None
    address_type: str  # manual | generated | assigned
    network: str | None  # port group or DV port group name


@dataclass(frozen=True)
class VmFacts:
    """A virtual machine."""

    name: str
    host: str | None
    nics: tuple[VmNicFacts, ...]
    extra_config: Mapping[str, str]


@dataclass(frozen=True)
class VcenterFacts:
    """The vCenter itself (from ServiceContent.about)."""

    full_name: str
    version: str
    build: str
    api_version: str
    instance_uuid: str | None


@dataclass(frozen=True)
class Snapshot:
    """Everything one PropertyCollector call returned, mapped; `requests` counts SOAP calls."""

    vcenter: VcenterFacts
    hosts: Mapping[str, HostFacts]
    dvs: Mapping[str, DvsFacts]
    dv_port_groups: Mapping[str, DvPortGroupFacts]
    vms: Mapping[str, VmFacts]
    taken_at: datetime
    elapsed_s: float
    requests: int
    pages: int
    # What vCenter could not report per object (path -> fault), e.g. a keyed option that the
    # host does not have.
    missing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ClockOffset:
    """A host clock read through QueryDateTime against the harness clock.

    `offset_s` = host clock - harness clock at the request's midpoint; the true offset is within
    `uncertainty_s` (half the round trip) of it.
    """

    host: str
    offset_s: float
    uncertainty_s: float
    host_time: datetime


@dataclass(frozen=True)
class CdpFacts:
    """What a pnic heard by CDP."""

    device_id: str
    port_id: str
    address: str | None = None
    platform: str | None = None
    software: str | None = None
    vlan: int | None = None
    mtu: int | None = None
    holdtime: int | None = None  # seconds the switch asks neighbours to keep it (3 intervals)


@dataclass(frozen=True)
class LldpFacts:
    """What a pnic heard by LLDP."""

    chassis_id: str
    port_id: str
    system_name: str | None = None
    port_description: str | None = None
    ttl: int | None = None  # time to live the switch sent (tx interval x tx hold, 4 by default)


@dataclass(frozen=True)
class NetworkHintFacts:
    """QueryNetworkHint for one pnic: neighbours and the subnets seen on it."""

    host: str
    device: str
    cdp: CdpFacts | None
    lldp: LldpFacts | None
    subnets: tuple[str, ...] = ()
