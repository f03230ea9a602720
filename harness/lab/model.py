"""The lab model: what a lab should be, as typed, immutable data.

A lab file (`labs/*.yaml`) is validated into a `Lab`. The model only stores information; it does
no I/O and knows nothing of drivers. Collections of named things are mappings keyed by name, so a
name can only be defined once and references read naturally (`port_group: vMotion`).
Policy fields left unset on a port group inherit from its switch, as they do in vSphere.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Literal

from pydantic import Field, model_validator

from harness.lab.catalog import BmcKind, Personality, ServerModel, Slot
from harness.lab.types import (
    LAB_NAME_PATTERN,
    ElementName,
    InterfaceAddress,
    MacAddress,
    Mtu,
    ScalarValue,
    StrictModel,
    Vlan,
    VmkName,
    VmnicName,
    Vni,
)

LoadBalancing = Literal[
    "loadbalance_srcid", "loadbalance_srcmac", "loadbalance_ip", "failover_explicit",
    "loadbalance_loadbased",
]
FailureDetection = Literal["link_status", "beacon_probing"]
VmkService = Literal["management", "vmotion", "vxlan", "iscsi", "provisioning", "ft", "vsan"]
TcpIpStack = Literal["default", "vmotion", "vxlan", "provisioning"]
Discovery = Literal["cdp", "lldp"]
AdapterModelName = Literal["331i", "366FLR", "534FLR-SFP+", "530SFP+", "562SFP+"]


# ---------------------------------------------------------------------------------------------
# vCenter, NTP, networks


class VCenter(StrictModel):
    """The vCenter Server that manages the lab's hosts."""

    name: ElementName = "vcenter"
    version: str = Field(pattern=r"^\d+\.\d+(\.\d+)?$", description="product version, e.g. 8.0.2")
    build: int | None = Field(default=None, ge=1)
    datacenter: ElementName = "Datacenter"
    cluster: ElementName = "Cluster"
    network_rollback: bool = Field(
        default=True, description="config.vpxd.network.rollback: undo network changes that cut "
        "a host off (F01)")


class Ntp(StrictModel):
    """Lab-wide time settings; hosts inherit the servers unless they list their own."""

    servers: list[str] = Field(default_factory=list, description="NTP server names or addresses")
    max_offset_seconds: float = Field(default=5.0, gt=0, description="allowed host clock offset")


class Network(StrictModel):
    """One layer-2 segment (a VLAN) and the IPv4 subnet routed on it."""

    vlan: Vlan
    subnet: IPv4Network
    gateway: IPv4Address | None = None
    mtu: Mtu = 1500
    description: str = ""


# ---------------------------------------------------------------------------------------------
# HPE servers


class Bmc(StrictModel):
    """The server's iLO."""

    kind: BmcKind
    firmware: str | None = Field(
        default=None, description="iLO firmware release (e.g. 2.72); it selects the firmware "
        "variant (iLO 4 2.x, iLO 5 1.x/2.x/3.x, as the model runs); unset: the model's default")


class AdapterPort(StrictModel):
    """One port of an adapter: the vmnic ESXi makes of it and its storage personality."""

    vmnic: VmnicName | None = None
    personality: Personality = "Ethernet"


class Adapter(StrictModel):
    """A network adapter in a server slot."""

    model: AdapterModelName
    slot: Slot
    firmware: str | None = None
    lldp_agent: bool | None = Field(
        default=None, description="embedded LLDP/DCBX agent (DCB); only on adapters that have one")
    ports: dict[int, AdapterPort] = Field(default_factory=dict, description="port number -> port")


class BiosNics(StrictModel):
    """BIOS enablement of the server's network devices."""

    embedded: bool = True
    flexlom: bool = True
    pcie_slots: dict[int, bool] = Field(default_factory=dict, description="slot number -> enabled")


class HpeServer(StrictModel):
    """An HPE ProLiant server and its adapters."""

    model: ServerModel
    serial: str | None = None
    bmc: Bmc
    bios: BiosNics = BiosNics()
    adapters: dict[ElementName, Adapter] = Field(default_factory=dict)
    blade_enclosure: str | None = Field(
        default=None, description="Onboard Administrator enclosure, for blades (F07)")


# ---------------------------------------------------------------------------------------------
# switches, port groups, VMkernel NICs


class Teaming(StrictModel):
    """NIC teaming and failover; unset fields inherit (port group -> switch)."""

    load_balancing: LoadBalancing | None = None
    active: list[str] | None = Field(default=None, description="active uplinks, in order")
    standby: list[str] | None = None
    failure_detection: FailureDetection | None = None
    notify_switches: bool | None = None
    failback: bool | None = None


class Security(StrictModel):
    """Layer-2 security policy; unset fields inherit (port group -> switch)."""

    allow_promiscuous: bool | None = None
    mac_changes: bool | None = None
    forged_transmits: bool | None = None


class PortGroup(StrictModel):
    """A port group with its VLAN and the policies it overrides."""

    vlan: Vlan = 0
    teaming: Teaming = Teaming()
    security: Security = Security()


class StandardSwitch(StrictModel):
    """A vSphere standard switch (vSwitch) on one host."""

    mtu: Mtu = 1500
    uplinks: list[VmnicName] = Field(default_factory=list)
    teaming: Teaming = Teaming()
    security: Security = Security()
    port_groups: dict[str, PortGroup] = Field(default_factory=dict)


class DvsHostMember(StrictModel):
    """A host's membership in a distributed switch: which vmnic backs each DVS uplink."""

    uplinks: dict[str, VmnicName] = Field(description="DVS uplink name -> vmnic")


class DistributedSwitch(StrictModel):
    """A vSphere distributed switch."""

    version: str | None = None
    mtu: Mtu = 1500
    uplinks: list[str] = Field(min_length=1, description="uplink port names, e.g. uplink1")
    discovery: Discovery | Literal["none"] = "cdp"
    teaming: Teaming = Teaming()
    security: Security = Security()
    hosts: dict[ElementName, DvsHostMember] = Field(default_factory=dict)
    port_groups: dict[str, PortGroup] = Field(default_factory=dict)


class VmkNic(StrictModel):
    """A VMkernel NIC."""

    port_group: str
    ip: InterfaceAddress = Field(description="ADDRESS/PREFIX, e.g. 198.18.10.11/24")
    services: list[VmkService] = Field(default_factory=list)
    mtu: Mtu = 1500
    tcpip_stack: TcpIpStack = "default"
    mac: MacAddress | None = None
    subnet_shared_with: list[VmkName] = Field(
        default_factory=list,
        description="vmknics that may share this one's subnet on purpose (iSCSI port binding)")


class EsxiHost(StrictModel):
    """An ESXi host, physical (on an HPE server) or nested (a VM)."""

    kind: Literal["physical", "nested"] = "physical"
    server: ElementName | None = Field(default=None, description="the HPE server it runs on")
    version: str = Field(pattern=r"^\d+\.\d+(\.\d+)?$", description="ESXi version, e.g. 6.5.0")
    build: int = Field(ge=1)
    vmnics: list[VmnicName] | None = Field(
        default=None, description="physical NICs; derived from the server's adapters if unset")
    ntp_servers: list[str] | None = Field(
        default=None, description="NTP servers; the lab's ntp.servers if unset")
    advanced_options: dict[str, ScalarValue] = Field(default_factory=dict)
    page_sharing: Literal["intra_vm", "inter_vm", "salt_groups"] | None = Field(
        default=None, description="intended transparent page sharing (F04)")
    standard_switches: dict[ElementName, StandardSwitch] = Field(default_factory=dict)
    vmknics: dict[VmkName, VmkNic] = Field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# physical network


class SwitchPort(StrictModel):
    """A port on a physical switch."""

    mode: Literal["access", "trunk"] = "trunk"
    vlans: list[Vlan] = Field(default_factory=list, description="access: one VLAN; trunk: allowed")
    native_vlan: Vlan | None = None
    mtu: Mtu = 1500
    description: str = ""


class PhysicalSwitch(StrictModel):
    """A physical switch and the ports the lab uses."""

    hostname: str = Field(description="what CDP/LLDP advertise as device/system name")
    platform: str = "cisco WS-C3850-48P"
    software: str = ""
    discovery: list[Discovery] = Field(default_factory=lambda: list[Discovery](["cdp", "lldp"]))
    ports: dict[str, SwitchPort] = Field(description="port id as the switch names it")


class Cable(StrictModel):
    """One cable: `node/port` at each end (`esx01/vmnic0`, `sw01/GigabitEthernet1/0/1`)."""

    a: str = Field(pattern=r"^[^/\s]+/\S.*$", description="NODE/PORT")
    b: str = Field(pattern=r"^[^/\s]+/\S.*$", description="NODE/PORT")
    discovery: list[Discovery] | None = Field(
        default=None, description="neighbour protocols expected at the host end; default: what "
        "the switch sends")

    @property
    def ends(self) -> tuple[tuple[str, str], tuple[str, str]]:
        a_node, _, a_port = self.a.partition("/")
        b_node, _, b_port = self.b.partition("/")
        return (a_node, a_port), (b_node, b_port)


class RouterInterface(StrictModel):
    """A router interface on one of the lab's networks."""

    network: str
    ip: InterfaceAddress
    mtu: Mtu = 1500


class Route(StrictModel):
    """A static route."""

    destination: IPv4Network
    gateway: IPv4Address


class NatRule(StrictModel):
    """Source NAT (masquerade) of a source prefix out of one interface."""

    source: IPv4Network
    out_interface: str


class Router(StrictModel):
    """A router or firewall (an OpnSense VM in the field notes).

    `kind` says how the harness reads it: an OPNsense router through its REST API (the
    inventory's `opnsense` entry), a Linux router over SSH (sysctl, iproute2, nftables).
    """

    kind: Literal["opnsense", "linux"] = Field(
        default="opnsense", description="opnsense: read through the OPNsense REST API; "
        "linux: read over SSH with testinfra")
    version: str | None = Field(
        default=None, description="firmware release the router should run (OPNsense: 25.7, "
        "25.7.3)")
    interfaces: dict[str, RouterInterface] = Field(min_length=1)
    routes: list[Route] = Field(default_factory=list)
    nat: list[NatRule] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# NSX, NLB, VMs


class TransportZone(StrictModel):
    """An NSX transport zone: which hosts carry its segments."""

    hosts: list[ElementName] = Field(min_length=1)
    replication: Literal["unicast", "hybrid", "multicast"] = "unicast"


class Segment(StrictModel):
    """An NSX logical switch (VXLAN segment)."""

    vni: Vni
    transport_zone: str
    subnet: IPv4Network | None = None
    mtu: Mtu = Field(default=1500, description="MTU the segment offers its VMs; VXLAN adds 50 "
                     "bytes on the VTEP underlay, so 1500 needs 1550 there (NSX prepares 1600)")


class EdgeInterface(StrictModel):
    """An interface of a DLR or ESG: on a segment or on a lab network."""

    segment: str | None = None
    network: str | None = None
    ip: InterfaceAddress

    @model_validator(mode="after")
    def _one_attachment(self) -> EdgeInterface:
        if (self.segment is None) == (self.network is None):
            raise ValueError("set exactly one of `segment` (an NSX segment) or `network`")
        return self


class Edge(StrictModel):
    """An NSX distributed logical router (dlr) or edge services gateway (esg)."""

    kind: Literal["dlr", "esg"]
    interfaces: dict[str, EdgeInterface] = Field(min_length=1)
    routes: list[Route] = Field(default_factory=list)


class Nsx(StrictModel):
    """NSX for vSphere: transport zones, VXLAN segments and edges."""

    version: str | None = None
    transport_mtu: Mtu = Field(default=1600, description="MTU NSX host preparation sets on VTEPs")
    transport_zones: dict[ElementName, TransportZone] = Field(min_length=1)
    segments: dict[ElementName, Segment] = Field(default_factory=dict)
    edges: dict[ElementName, Edge] = Field(default_factory=dict)


class NlbCluster(StrictModel):
    """A Windows NLB cluster."""

    mode: Literal["unicast", "multicast", "igmp_multicast"]
    vip: IPv4Address
    cluster_mac: MacAddress | None = Field(default=None, description="derived from vip if unset")
    port_group: str
    members: list[ElementName] = Field(min_length=2)

    @property
    def effective_cluster_mac(self) -> str:
        return self.cluster_mac or nlb_cluster_mac(self.mode, self.vip)


def nlb_cluster_mac(mode: str, vip: IPv4Address) -> str:
    """The MAC Windows NLB derives from the VIP: 02-BF (unicast), 03-BF (multicast), 01-00-5E-7F."""
    octets = [f"{b:02x}" for b in vip.packed]
    if mode == "unicast":
        return ":".join(["02", "bf", *octets])
    if mode == "multicast":
        return ":".join(["03", "bf", *octets])
    return ":".join(["01", "00", "5e", "7f", *octets[2:]])


class VmNic(StrictModel):
    """A VM network adapter."""

    port_group: str = Field(description="a port group, DVS port group or NSX segment")
    mtu: Mtu = Field(default=1500, description="the guest's interface MTU")
    mac: MacAddress | None = None
    mac_type: Literal["manual", "generated", "assigned"] | None = Field(
        default=None, description="manual (static) when a mac is given, else generated")
    ip: InterfaceAddress | None = None

    @property
    def address_type(self) -> str:
        if self.mac_type is not None:
            return self.mac_type
        return "manual" if self.mac else "generated"


class VirtualMachine(StrictModel):
    """A VM the lab cares about (NLB members, overlay test VMs, imported Workstation VMs)."""

    host: ElementName
    nics: dict[str, VmNic] = Field(default_factory=dict, description="ethernet0, ethernet1, ...")
    extra_config: dict[str, ScalarValue] = Field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# the lab


class Lab(StrictModel):
    """A whole lab: what should be true of it."""

    name: str = Field(pattern=LAB_NAME_PATTERN, description="short name; sim prefix")
    description: str = ""
    disruptive_allowed: bool = Field(
        default=False, description="whether --allow-disruptive may reboot, reconfigure or "
        "disconnect things in this lab")
    vcenter: VCenter | None = None
    ntp: Ntp = Ntp()
    networks: dict[ElementName, Network] = Field(default_factory=dict)
    servers: dict[ElementName, HpeServer] = Field(default_factory=dict)
    hosts: dict[ElementName, EsxiHost] = Field(default_factory=dict)
    distributed_switches: dict[ElementName, DistributedSwitch] = Field(default_factory=dict)
    physical_switches: dict[ElementName, PhysicalSwitch] = Field(default_factory=dict)
    cabling: list[Cable] = Field(default_factory=list)
    routers: dict[ElementName, Router] = Field(default_factory=dict)
    nsx: Nsx | None = None
    nlb_clusters: dict[ElementName, NlbCluster] = Field(default_factory=dict)
    vms: dict[ElementName, VirtualMachine] = Field(default_factory=dict)

    def host_vmnics(self, host: str) -> list[str]:
        """The host's vmnics: as listed, else every adapter port of its server that has one."""
        h = self.hosts[host]
        if h.vmnics is not None:
            return list(h.vmnics)
        if h.server is None or h.server not in self.servers:
            return []
        return [
            port.vmnic
            for adapter in self.servers[h.server].adapters.values()
            for port in adapter.ports.values()
            if port.vmnic is not None
        ]

    def vmnic_adapter(self, host: str) -> dict[str, str]:
        """vmnic -> `server/adapter` label, for hosts on a modelled server."""
        h = self.hosts[host]
        if h.server is None or h.server not in self.servers:
            return {}
        return {
            port.vmnic: f"{h.server}/{name}"
            for name, adapter in self.servers[h.server].adapters.items()
            for port in adapter.ports.values()
            if port.vmnic is not None
        }
