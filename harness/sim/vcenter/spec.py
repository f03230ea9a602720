"""The spec `lh-vcsim` starts from, typed on this side as spec.go types it on the other.

The Go program decodes spec.json with unknown fields refused; these models write exactly the
fields its structs declare (a test compares the two), so a name that drifts on either side is
an error at once, not a field silently ignored.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UplinkSpec(_SpecModel):
    """What one vmnic's upstream switch port carries."""

    vlans: list[int] = Field(description="VLANs the port forwards to the host (0: untagged)")
    link: bool = Field(description="carrier and forwarding (false: a dead port)")


class LldpSpec(_SpecModel):
    """The host's lldpd control socket (in its data-plane namespace) and its interface names:
    QueryNetworkHint answers from that lldpd's neighbour table."""

    socket: str
    interfaces: dict[str, str] = Field(description="interface -> vmnic")
    command: str | None = Field(default=None, description="lldpcli; default: from PATH")


class NicSpec(_SpecModel):
    """One vmnic's adapter port as the host's driver reports it (esxcli network nic)."""

    model: str = Field(description="the lab's adapter model (534FLR-SFP+)")
    adapter: str = Field(description="the adapter's name on the server (flexlom)")
    port: int
    description: str = Field(description="PCI vendor and device, as ESXi lists it")
    driver: str
    driver_version: str
    firmware: str = Field(description="until the BMC's applied state says otherwise")
    speed_mb: int
    iscsi_driver: str | None = None
    fcoe_driver: str | None = None
    personality: str | None = Field(default=None, description="as built: Ethernet|iSCSI|FCoE")


class HardwareSpec(_SpecModel):
    """The BMC emulator's applied adapter state (a JSON file it rewrites after each reset)
    and the server's name in it: storage adapters and NIC firmware follow it."""

    file: str
    server: str


class SystemSpec(_SpecModel):
    """The physical server a host runs on, as its SMBIOS tells ESXi (and so vCenter): what
    the server's BMC reports too. A nested host has none and keeps the simulator's VMware
    virtual hardware."""

    vendor: str = Field(description="SMBIOS manufacturer (HP up to Gen9, HPE from Gen10)")
    model: str = Field(description="SMBIOS product name (ProLiant DL360 Gen9)")
    serial: str
    uuid: str = Field(description="SMBIOS UUID, the BMC's System UUID")
    cpu_model: str
    cpu_packages: int
    cores_per_package: int
    threads_per_core: int
    cpu_mhz: int
    memory_mb: int


class HostSpec(_SpecModel):
    """One ESXi host of the cluster."""

    name: str
    version: str
    build: int
    api_version: str | None = None
    vmnics: list[str] = Field(default_factory=list)
    boot_time: datetime | None = Field(default=None, description="when it last booted")
    log_dir: str | None = Field(default=None, description="its logs (hostlogs.py), served by "
                                "the DiagnosticManager")
    clock_offset_s: float | None = Field(default=None, description="seconds ahead (drift)")
    advanced_options: dict[str, str | int | float | bool] | None = None
    uplinks: dict[str, UplinkSpec] | None = Field(
        default=None, description="vmnic -> its switch port; none: every vmnic carries all")
    lldp: LldpSpec | None = None
    netns: str | None = Field(default=None, description="data-plane namespace esxcli runs in")
    netstacks: dict[str, str] | None = Field(
        default=None, description="TCP/IP stack -> routing table in that namespace")
    nics: dict[str, NicSpec] | None = None
    hardware: HardwareSpec | None = None
    system: SystemSpec | None = Field(default=None, description="none: a nested host")


class VcenterSpec(_SpecModel):
    """The vCenter, its product version, datacenter and cluster."""

    name: str
    version: str
    build: int
    api_version: str | None = None
    datacenter: str
    cluster: str
    network_rollback: bool | None = Field(
        default=None, description="config.vpxd.network.rollback (default true, as on vCenter)")


class VcsimSpec(_SpecModel):
    """The inventory skeleton the simulator starts with. Host configuration (switches,
    vmknics, NTP, options) is not part of it: the provisioner applies that through the vSphere
    API, exactly as on a nested lab."""

    vcenter: VcenterSpec
    hosts: list[HostSpec]

    def to_json(self) -> str:
        """spec.json as lh-vcsim reads it (unset optional fields left out)."""
        return self.model_dump_json(indent=1, exclude_none=True)
