"""The normalised view the design checks read.

Checks are written once over this view. It is built either from the lab file (intent) or, by the
vSphere driver, from what vCenter reports (observed); the check cannot tell which, and its
findings carry the view's `source` so a reader knows which side differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface

from harness.checks.finding import Source
from harness.lab.views import PortGroupView, UnderlayHop


@dataclass(frozen=True)
class VmknicView:
    """A VMkernel NIC."""

    name: str
    port_group: str
    ip: IPv4Interface | None
    mtu: int
    services: tuple[str, ...]
    tcpip_stack: str
    subnet_shared_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostView:
    """One ESXi host."""

    name: str
    version: str
    build: int
    ntp_servers: tuple[str, ...]
    advanced_options: Mapping[str, str | int | float | bool]
    port_groups: Mapping[str, PortGroupView]
    vmknics: Mapping[str, VmknicView]
    vmnic_adapter: Mapping[str, str] = field(default_factory=dict)
    page_sharing: str | None = None  # the lab's intent, carried into observed views too


@dataclass(frozen=True)
class VmNicView:
    """A VM network adapter."""

    label: str  # ethernet0
    mac: str | None
    address_type: str  # manual | generated | assigned
    port_group: str


@dataclass(frozen=True)
class VmView:
    """A virtual machine."""

    name: str
    host: str
    nics: tuple[VmNicView, ...]
    extra_config: Mapping[str, str | int | float | bool]


@dataclass(frozen=True)
class NlbView:
    """An NLB cluster (always from the lab: vCenter does not know NLB)."""

    name: str
    mode: str
    vip: IPv4Address
    cluster_mac: str
    port_group: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class VCenterView:
    """The vCenter Server that manages the hosts; build None when the lab does not give it."""

    name: str
    version: str
    build: int | None


@dataclass(frozen=True)
class DesignView:
    """Everything the design checks read, from one side (intent or observed)."""

    source: Source
    hosts: Mapping[str, HostView]
    vms: Mapping[str, VmView] = field(default_factory=dict)
    nlb_clusters: Mapping[str, NlbView] = field(default_factory=dict)
    underlay: tuple[UnderlayHop, ...] = ()
    vcenter: VCenterView | None = None
