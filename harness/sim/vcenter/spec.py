"""The spec `lh-vcsim` starts from, typed on this side as spec.go types it on the other.

The Go program decodes spec.json with unknown fields refused; these models write exactly the
fields its structs declare (a test compares the two), so a name that drifts on either side is
an error at once, not a field silently ignored.
"""

from __future__ import annotations

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


class HostSpec(_SpecModel):
    """One ESXi host of the cluster."""

    name: str
    version: str
    build: int
    api_version: str | None = None
    vmnics: list[str] = Field(default_factory=list)
    clock_offset_s: float | None = Field(default=None, description="seconds ahead (drift)")
    advanced_options: dict[str, str | int | float | bool] | None = None
    uplinks: dict[str, UplinkSpec] | None = Field(
        default=None, description="vmnic -> its switch port; none: every vmnic carries all")
    lldp: LldpSpec | None = None


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
