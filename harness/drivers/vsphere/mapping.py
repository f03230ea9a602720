"""Declarative mapping from PropertyCollector paths to typed facts. Pure: no I/O.

Each managed-object type has a table of `Prop(path, field, convert[, key])`. The same table
gives the PropertyCollector its pathSet (`collector.py`) and turns the returned property set
into fact fields here, so adding a fact is one row, not new request code. A `key` collects the
value into a mapping field under that key (keyed paths such as `config.option["Mem.X"]` read
one element of a large array instead of all of it). A small builder per type then resolves
what spans properties (vmknic services from the VirtualNicManager, managed-object ids to names).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from ipaddress import IPv4Interface
from typing import Any

from harness.drivers.vsphere.vmomi import vim
from harness.facts.vsphere import (
    DEFAULT_OPTION_KEYS,
    NTP_RULESET,
    NTP_SERVICE,
    CdpFacts,
    DiscoveryFacts,
    DvPortFacts,
    DvPortGroupFacts,
    DvsFacts,
    DvsMemberFacts,
    HostFacts,
    HostManagers,
    LldpFacts,
    NetworkHintFacts,
    OptionValue,
    PnicFacts,
    PolicyFacts,
    PortGroupFacts,
    ProxySwitchFacts,
    SecurityFacts,
    ServiceFacts,
    TeamingFacts,
    VmFacts,
    VmknicFacts,
    VmNicFacts,
    VswitchFacts,
)

DEFAULT_SERVICES: tuple[str, ...] = (NTP_SERVICE, "TSM-SSH")
DEFAULT_RULESETS: tuple[str, ...] = (NTP_RULESET,)


@dataclass(frozen=True)
class Prop:
    """One property path and the fact field it fills (under `key` for a mapping field)."""

    path: str
    field: str
    convert: Callable[[Any], Any]
    key: str | None = None


def _same(value: Any) -> Any:
    return value


def _str(value: Any) -> str:
    return str(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_datetime(value: Any) -> datetime | None:
    """An xsd:dateTime as pyVmomi gives it, in UTC (naive ones are UTC)."""
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _moid(value: Any) -> str | None:
    return None if value is None else str(value._moId)


def _moids(value: Any) -> tuple[str, ...]:
    return tuple(str(v._moId) for v in value or ())


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


# ---------------------------------------------------------------------------------------------
# policies


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def standard_policy(policy: Any) -> PolicyFacts:
    """A vim.host.NetworkPolicy (switch spec, port group spec or computedPolicy)."""
    if policy is None:
        return PolicyFacts()
    sec = policy.security
    security = SecurityFacts() if sec is None else SecurityFacts(
        _opt_bool(sec.allowPromiscuous), _opt_bool(sec.macChanges),
        _opt_bool(sec.forgedTransmits))
    team = policy.nicTeaming
    if team is None:
        return PolicyFacts(security, TeamingFacts())
    order = team.nicOrder
    criteria = team.failureCriteria
    rolling = _opt_bool(team.rollingOrder)
    teaming = TeamingFacts(
        load_balancing=_opt_str(team.policy),
        active=None if order is None else _strs(order.activeNic),
        standby=None if order is None else _strs(order.standbyNic),
        check_beacon=None if criteria is None else _opt_bool(criteria.checkBeacon),
        notify_switches=_opt_bool(team.notifySwitches),
        failback=None if rolling is None else not rolling,
    )
    return PolicyFacts(security, teaming)


def _policy_value(policy: Any) -> Any:
    """The value of a vim.BoolPolicy/StringPolicy, None when unset (inherited or absent)."""
    return None if policy is None else policy.value


def dvs_policy(setting: Any) -> PolicyFacts:
    """A DVS port setting (vim.dvs.VmwareDistributedVirtualSwitch.VmwarePortConfigPolicy)."""
    if setting is None:
        return PolicyFacts()
    sec = getattr(setting, "securityPolicy", None)
    security = SecurityFacts() if sec is None else SecurityFacts(
        _opt_bool(_policy_value(sec.allowPromiscuous)), _opt_bool(_policy_value(sec.macChanges)),
        _opt_bool(_policy_value(sec.forgedTransmits)))
    team = getattr(setting, "uplinkTeamingPolicy", None)
    if team is None:
        return PolicyFacts(security, TeamingFacts())
    order = team.uplinkPortOrder
    criteria = team.failureCriteria
    rolling = _opt_bool(_policy_value(team.rollingOrder))
    teaming = TeamingFacts(
        load_balancing=_opt_str(_policy_value(team.policy)),
        active=None if order is None else _strs(order.activeUplinkPort),
        standby=None if order is None else _strs(order.standbyUplinkPort),
        check_beacon=None if criteria is None else _opt_bool(_policy_value(criteria.checkBeacon)),
        notify_switches=_opt_bool(_policy_value(team.notifySwitches)),
        failback=None if rolling is None else not rolling,
    )
    return PolicyFacts(security, teaming)


def dvs_vlan(setting: Any) -> int | None:
    """VLAN of a DVS port setting: the id, 4095 for a trunk, the secondary id of a PVLAN."""
    vlan = getattr(setting, "vlan", None) if setting is not None else None
    if vlan is None:
        return None
    if hasattr(vlan, "pvlanId"):
        return int(vlan.pvlanId)
    value = getattr(vlan, "vlanId", None)
    if isinstance(value, int):
        return value
    return 4095 if value else None  # a trunk: a list of ranges


# ---------------------------------------------------------------------------------------------
# host network


def _bridge_nics(spec: Any) -> tuple[str, ...]:
    bridge = getattr(spec, "bridge", None) if spec is not None else None
    return _strs(getattr(bridge, "nicDevice", None))


def vswitches(value: Any) -> dict[str, VswitchFacts]:
    out: dict[str, VswitchFacts] = {}
    for vs in value or ():
        # a vswitch lists its port groups by key: `key-vim.host.PortGroup-<name>`
        names = tuple(str(k).removeprefix("key-vim.host.PortGroup-") for k in vs.portgroup or ())
        out[str(vs.name)] = VswitchFacts(
            name=str(vs.name), mtu=int(vs.mtu or 1500), uplinks=_bridge_nics(vs.spec),
            port_groups=names, policy=standard_policy(vs.spec.policy if vs.spec else None))
    return out


def port_groups(value: Any) -> dict[str, PortGroupFacts]:
    return {
        str(pg.spec.name): PortGroupFacts(
            name=str(pg.spec.name), vswitch=str(pg.spec.vswitchName), vlan=int(pg.spec.vlanId),
            computed=standard_policy(pg.computedPolicy))
        for pg in value or ()
    }


def _ip(ip: Any) -> IPv4Interface | None:
    if ip is None or not ip.ipAddress or not ip.subnetMask:
        return None
    try:
        return IPv4Interface(f"{ip.ipAddress}/{ip.subnetMask}")
    except ValueError:
        return None


def vnics(value: Any) -> tuple[tuple[str, VmknicFacts], ...]:
    """(vnic key, facts without services) per VMkernel NIC."""
    out: list[tuple[str, VmknicFacts]] = []
    for v in value or ():
        spec = v.spec
        port = spec.distributedVirtualPort if spec is not None else None
        dvs_port = None if port is None else DvPortFacts(
            str(port.switchUuid), _opt_str(port.portgroupKey), _opt_str(port.portKey))
        out.append((str(v.key), VmknicFacts(
            device=str(v.device), port_group=str(v.portgroup) if v.portgroup else None,
            dvs_port=dvs_port, ip=_ip(spec.ip), dhcp=bool(spec.ip and spec.ip.dhcp),
            mac=str(spec.mac or "").lower(), mtu=int(spec.mtu or 1500),
            netstack=str(spec.netStackInstanceKey or "defaultTcpipStack"), services=())))
    return tuple(out)


def vnic_services(value: Any) -> dict[str, tuple[str, ...]]:
    """vnic key -> nic types it is selected for. selectedVnic entries are `<nicType>.<vnic key>`."""
    out: dict[str, list[str]] = {}
    for config in value or ():
        for selected in config.selectedVnic or ():
            nic_type, _, vnic_key = str(selected).partition(".")
            out.setdefault(vnic_key, []).append(str(config.nicType or nic_type))
    return {k: tuple(v) for k, v in out.items()}


def pnics(value: Any) -> dict[str, PnicFacts]:
    out: dict[str, PnicFacts] = {}
    for p in value or ():
        speed = p.linkSpeed
        out[str(p.device)] = PnicFacts(
            device=str(p.device), mac=str(p.mac or "").lower(),
            speed_mb=None if speed is None else int(speed.speedMb),
            full_duplex=None if speed is None else bool(speed.duplex))
    return out


def proxy_switches(value: Any) -> tuple[ProxySwitchFacts, ...]:
    out: list[ProxySwitchFacts] = []
    for ps in value or ():
        port_to_uplink = {str(kv.key): str(kv.value) for kv in ps.uplinkPort or ()}
        backing = getattr(getattr(ps, "spec", None), "backing", None)
        uplinks: dict[str, str] = {}
        for spec in getattr(backing, "pnicSpec", None) or ():
            name = port_to_uplink.get(str(spec.uplinkPortKey)) if spec.uplinkPortKey else None
            if name is not None:
                uplinks[name] = str(spec.pnicDevice)
        devices = tuple(str(s.pnicDevice) for s in getattr(backing, "pnicSpec", None) or ())
        if not devices:  # `pnic` holds keys `key-vim.host.PhysicalNic-vmnicN`
            devices = tuple(str(k).removeprefix("key-vim.host.PhysicalNic-") for k in ps.pnic or ())
        out.append(ProxySwitchFacts(
            dvs_uuid=str(ps.dvsUuid), dvs_name=str(ps.dvsName or ""),
            mtu=int(ps.mtu) if ps.mtu else None, pnics=devices, uplinks=uplinks))
    return tuple(out)


def option_value(value: Any) -> OptionValue | None:
    """An OptionValue's value, as the scalar vSphere typed it."""
    v = getattr(value, "value", None)
    if isinstance(v, bool | int | float | str):
        return v
    return None if v is None else str(v)


def options(value: Any) -> dict[str, OptionValue]:
    out: dict[str, OptionValue] = {}
    for o in value or ():
        v = option_value(o)
        if v is not None:
            out[str(o.key)] = v
    return out


def service(value: Any) -> ServiceFacts:
    return ServiceFacts(key=str(value.key), running=bool(value.running),
                        policy=str(value.policy))


def services(value: Any) -> dict[str, ServiceFacts]:
    return {str(s.key): service(s) for s in value or ()}


def rulesets(value: Any) -> dict[str, bool]:
    return {str(r.key): bool(r.enabled) for r in value or ()}


def host_props(option_keys: Sequence[str] | None = DEFAULT_OPTION_KEYS,
               service_keys: Sequence[str] | None = DEFAULT_SERVICES,
               ruleset_keys: Sequence[str] | None = DEFAULT_RULESETS) -> tuple[Prop, ...]:
    """The HostSystem table. `None` for a key list reads the whole array instead."""
    props = [
        Prop("name", "name", _str),
        Prop("runtime.connectionState", "connection_state", _str),
        Prop("config.product.version", "version", _opt_str),
        Prop("config.product.build", "build", _opt_str),
        Prop("runtime.bootTime", "boot_time", _opt_datetime),
        Prop("config.network.vswitch", "vswitches", vswitches),
        Prop("config.network.portgroup", "port_groups", port_groups),
        Prop("config.network.vnic", "vnics", vnics),
        Prop("config.network.pnic", "pnics", pnics),
        Prop("config.network.proxySwitch", "proxy_switches", proxy_switches),
        Prop("config.virtualNicManagerInfo.netConfig", "vnic_services", vnic_services),
        Prop("config.dateTimeInfo.ntpConfig.server", "ntp_servers", _strs),
        Prop("configManager.networkSystem", "managers", _moid, key="network_system"),
        Prop("configManager.dateTimeSystem", "managers", _moid, key="date_time_system"),
        Prop("configManager.serviceSystem", "managers", _moid, key="service_system"),
        Prop("configManager.firewallSystem", "managers", _moid, key="firewall_system"),
        Prop("configManager.advancedOption", "managers", _moid, key="advanced_option"),
    ]
    props += _keyed("config.option", "options", options, option_value, option_keys)
    props += _keyed("config.service.service", "services", services, service, service_keys)
    props += _keyed("config.firewall.ruleset", "firewall_rulesets", rulesets, _opt_bool,
                    ruleset_keys, leaf="enabled")
    return tuple(props)


def _keyed(path: str, field: str, whole: Callable[[Any], Any], one: Callable[[Any], Any],
           keys: Sequence[str] | None, leaf: str = "") -> list[Prop]:
    if keys is None:
        return [Prop(path, field, whole)]
    for k in keys:
        if '"' in k or "]" in k:
            raise ValueError(f"cannot read {path} key {k!r}: quotes and ] are not allowed")
    suffix = f".{leaf}" if leaf else ""
    return [Prop(f'{path}["{k}"]{suffix}', field, one, key=k) for k in keys]


_HOST_FIELDS = frozenset(f.name for f in fields(HostFacts))


def build_host(moref: str, f: Mapping[str, Any]) -> HostFacts:
    """HostFacts from a host's mapped fields: each field its table row filled goes through as
    it is; vmknic services (from the VirtualNicManager) and manager ids are joined here."""
    services_by_key: Mapping[str, tuple[str, ...]] = f.get("vnic_services", {})
    vmks = {
        facts.device: replace(facts, services=services_by_key.get(key, ()))
        for key, facts in f.get("vnics", ())
    }
    plain = {k: v for k, v in f.items() if k in _HOST_FIELDS and k not in ("name", "managers")}
    return HostFacts(name=f["name"], moref=moref, vmknics=vmks,
                     managers=HostManagers(**f.get("managers", {})), **plain)


# ---------------------------------------------------------------------------------------------
# distributed switches and port groups


def discovery(value: Any) -> DiscoveryFacts | None:
    if value is None:
        return None
    return DiscoveryFacts(str(value.protocol), str(value.operation))


def dvs_members(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(host moid, backing vmnics) per DVS host member config."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for member in value or ():
        cfg = member.config
        if cfg is None or cfg.host is None:
            continue
        specs = getattr(cfg.backing, "pnicSpec", None) or ()
        out.append((str(cfg.host._moId), tuple(str(s.pnicDevice) for s in specs)))
    return tuple(out)


def _config(attr: str, convert: Callable[[Any], Any] = _same) -> Callable[[Any], Any]:
    return lambda config: convert(getattr(config, attr, None))


# The DVS's `config` is read whole: maxMtu and linkDiscoveryProtocolConfig exist only on the
# VMware DVS's config type, and a path through them is not valid for the base DVS type that
# a view of all switches asks about. A vCenter has a handful of switches, so this stays small.
DVS_PROPS: tuple[Prop, ...] = (
    Prop("name", "name", _str),
    Prop("uuid", "uuid", _str),
    Prop("config", "max_mtu", _config("maxMtu", lambda v: None if v is None else int(v))),
    Prop("config", "uplink_names",
         _config("uplinkPortPolicy", lambda p: _strs(getattr(p, "uplinkPortName", None)))),
    Prop("config", "member_configs", _config("host", dvs_members)),
    Prop("summary.hostMember", "member_refs", _moids),
    Prop("config", "discovery", _config("linkDiscoveryProtocolConfig", discovery)),
    Prop("config", "default_policy", _config("defaultPortConfig", dvs_policy)),
    Prop("config", "default_vlan", _config("defaultPortConfig", dvs_vlan)),
    Prop("config", "uplink_portgroups", _config("uplinkPortgroup", _moids)),
    Prop("summary.productInfo.version", "version", _opt_str),
)

DVPG_PROPS: tuple[Prop, ...] = (
    Prop("name", "name", _str),
    Prop("key", "key", _str),
    Prop("config.distributedVirtualSwitch", "dvs", _moid),
    Prop("config.defaultPortConfig", "policy", dvs_policy),
    Prop("config.defaultPortConfig", "vlan", dvs_vlan),
    Prop("tag", "tags", lambda v: tuple(str(t.key) for t in v or ())),
)
UPLINK_PG_TAG = "SYSTEM/DVS.UPLINKPG"  # vCenter tags a DVS's uplink port group with it


def build_dvs(f: Mapping[str, Any], host_names: Mapping[str, str]) -> DvsFacts:
    members: dict[str, DvsMemberFacts] = {}
    for moid, devices in f.get("member_configs", ()):
        if moid in host_names:
            members[host_names[moid]] = DvsMemberFacts(host_names[moid], devices)
    for moid in f.get("member_refs", ()):  # membership without backing details
        name = host_names.get(moid)
        if name is not None and name not in members:
            members[name] = DvsMemberFacts(name, ())
    return DvsFacts(
        name=f["name"], uuid=f.get("uuid", ""), max_mtu=f.get("max_mtu"),
        uplink_names=f.get("uplink_names", ()), members=members, discovery=f.get("discovery"),
        default_policy=f.get("default_policy", PolicyFacts()), default_vlan=f.get("default_vlan"),
        version=f.get("version"))


def build_dvpg(moref: str, f: Mapping[str, Any], dvs_names: Mapping[str, str],
               uplink_pgs: Iterable[str]) -> DvPortGroupFacts:
    return DvPortGroupFacts(
        name=f["name"], key=f.get("key", moref), dvs=dvs_names.get(f.get("dvs") or "", ""),
        vlan=f.get("vlan"), policy=f.get("policy", PolicyFacts()),
        uplink=moref in set(uplink_pgs) or UPLINK_PG_TAG in f.get("tags", ()))


# ---------------------------------------------------------------------------------------------
# virtual machines


def vm_nics(value: Any) -> tuple[tuple[int, str | None, str, str, str], ...]:
    """(key, mac, addressType, backing kind, network ref) per virtual Ethernet card."""
    out: list[tuple[int, str | None, str, str, str]] = []
    for d in value or ():
        if not isinstance(d, vim.vm.device.VirtualEthernetCard):
            continue
        backing = d.backing
        port = getattr(backing, "port", None)
        if port is not None and getattr(port, "portgroupKey", None):
            kind, ref = "dvpg", str(port.portgroupKey)
        elif getattr(backing, "deviceName", None):
            kind, ref = "network", str(backing.deviceName)
        elif getattr(backing, "opaqueNetworkId", None):
            kind, ref = "opaque", str(backing.opaqueNetworkId)
        else:
            kind, ref = "none", ""
        mac = str(d.macAddress).lower() if d.macAddress else None
        out.append((int(d.key), mac, str(d.addressType or "generated"), kind, ref))
    return tuple(out)


def extra_config(value: Any) -> dict[str, str]:
    return {str(o.key): str(o.value) for o in value or ()}


VM_PROPS: tuple[Prop, ...] = (
    Prop("name", "name", _str),
    Prop("runtime.host", "host", _moid),
    Prop("config.hardware.device", "nics", vm_nics),
    Prop("config.extraConfig", "extra_config", extra_config),
)


def build_vm(f: Mapping[str, Any], host_names: Mapping[str, str],
             dvpg_names: Mapping[str, str]) -> VmFacts:
    nics: list[VmNicFacts] = []
    # ESXi numbers a VM's adapters ethernet0, ethernet1, ... in device order.
    for index, (key, mac, address_type, kind, ref) in enumerate(sorted(f.get("nics", ()))):
        network = dvpg_names.get(ref, ref) if kind == "dvpg" else (ref or None)
        nics.append(VmNicFacts(f"ethernet{index}", key, mac, address_type, network))
    host = f.get("host")
    return VmFacts(name=f["name"], host=host_names.get(host) if host else None,
                   nics=tuple(nics), extra_config=f.get("extra_config", {}))


# ---------------------------------------------------------------------------------------------
# the engine


def apply(props: Iterable[Prop], prop_set: Iterable[Any]) -> dict[str, Any]:
    """Fact fields from one object's returned property set, by the table."""
    by_path: dict[str, list[Prop]] = {}
    for p in props:
        by_path.setdefault(p.path, []).append(p)
    fields: dict[str, Any] = {}
    for dp in prop_set:
        for p in by_path.get(str(dp.name), ()):
            value = p.convert(dp.val)
            if p.key is None:
                fields[p.field] = value
            elif value is not None:
                fields.setdefault(p.field, {})[p.key] = value
    return fields


# ---------------------------------------------------------------------------------------------
# network hints (a method's answer, not a property; same rule: declarative and pure)


def _kv(params: Any) -> dict[str, str]:
    return {str(p.key): str(p.value) for p in params or ()}


def network_hints(host: str, value: Any) -> tuple[NetworkHintFacts, ...]:
    """QueryNetworkHint's answer for one host."""
    out: list[NetworkHintFacts] = []
    for hint in value or ():
        cdp_info = hint.connectedSwitchPort
        cdp = None if cdp_info is None or not cdp_info.devId else CdpFacts(
            device_id=str(cdp_info.devId), port_id=str(cdp_info.portId or ""),
            address=_opt_str(cdp_info.address or None),
            platform=_opt_str(cdp_info.hardwarePlatform or None),
            software=_opt_str(cdp_info.softwareVersion or None),
            vlan=int(cdp_info.vlan) if cdp_info.vlan else None,
            mtu=int(cdp_info.mtu) if cdp_info.mtu else None,
            holdtime=int(cdp_info.timeout or cdp_info.ttl) if (cdp_info.timeout
                                                               or cdp_info.ttl) else None)
        lldp_info = hint.lldpInfo
        lldp = None
        if lldp_info is not None and lldp_info.chassisId:
            params = _kv(lldp_info.parameter)
            lldp = LldpFacts(chassis_id=str(lldp_info.chassisId),
                             port_id=str(lldp_info.portId or ""),
                             system_name=params.get("System Name"),
                             port_description=params.get("Port Description"),
                             ttl=int(lldp_info.timeToLive) if lldp_info.timeToLive else None)
        subnets = tuple(f"{s.ipSubnet} vlan {s.vlanId}" for s in hint.subnet or ())
        out.append(NetworkHintFacts(host, str(hint.device), cdp, lldp, subnets))
    return tuple(out)
