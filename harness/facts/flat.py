"""Facts flattened for the run history: per layer, per subject, `key -> value` in the lab's words.

A nightly diff compares what a run read with what the run before it read (like pyATS
learn/diff): one vmknic's MTU, one BIOS attribute, one firmware version, one CDP neighbour.
Flat rows make that a comparison of keys. Only what describes the lab goes in; what changes
on every read without the lab changing (managed-object ids, DVS UUIDs, ETags, timings, clock
offsets, request counts) stays out, or every diff would be noise.

Pure functions over the typed records; the plugin calls them with what the session read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from harness.facts.esxcli import HostView
from harness.facts.redfish import ServerFacts
from harness.facts.router import RouterFacts
from harness.facts.vsphere import NetworkHintFacts, PolicyFacts, Snapshot

FactValue = str | int | float | bool | None | list[str]
"""One fact: a scalar, or a sorted list of names (NTP servers, a vmknic's services)."""

SubjectFacts = dict[str, FactValue]
LayerFacts = dict[str, SubjectFacts]  # subject (`esx02`, `srv-esx03`, `esx01/vmnic6`) -> facts
"""A layer's facts by subject, each `key -> value`."""

# layers of the history, each filled from one kind of read
VSPHERE = "vsphere"  # the vCenter snapshot (PropertyCollector)
ESXCLI = "esxcli"  # each host's own view through esxcli
WIRE = "wire"  # CDP/LLDP neighbours per vmnic as the hosts heard them (QueryNetworkHint)
REDFISH = "redfish"  # each server's BMC
ROUTER = "router"  # each router's own API or shell
LAYERS = (VSPHERE, ESXCLI, WIRE, REDFISH, ROUTER)


def _names(values: Iterable[str]) -> list[str]:
    return sorted(values)


def _policy(prefix: str, policy: PolicyFacts, out: SubjectFacts) -> None:
    s, t = policy.security, policy.teaming
    out.update({
        f"{prefix}.security.promiscuous": s.allow_promiscuous,
        f"{prefix}.security.mac_changes": s.mac_changes,
        f"{prefix}.security.forged_transmits": s.forged_transmits,
        f"{prefix}.teaming.load_balancing": t.load_balancing,
        f"{prefix}.teaming.active": None if t.active is None else list(t.active),
        f"{prefix}.teaming.standby": None if t.standby is None else list(t.standby),
        f"{prefix}.teaming.beacon": t.check_beacon,
        f"{prefix}.teaming.notify_switches": t.notify_switches,
        f"{prefix}.teaming.failback": t.failback,
    })


def vsphere_facts(snapshot: Snapshot) -> LayerFacts:
    """vCenter, each host (build, NTP, services, vmknics, vmnics, switches, options), each DVS
    and distributed port group, as one snapshot reported them."""
    out: LayerFacts = {}
    vc = snapshot.vcenter
    out["vcenter"] = {"version": vc.version, "build": vc.build, "api_version": vc.api_version}
    dvpg_names = {pg.key: pg.name for pg in snapshot.dv_port_groups.values()}
    for name, host in snapshot.hosts.items():
        f: SubjectFacts = {
            "connection_state": host.connection_state, "version": host.version,
            "build": host.build, "ntp.servers": _names(host.ntp_servers),
            "boot_time": (host.boot_time.isoformat(timespec="seconds")
                          if host.boot_time else None),
        }
        for key, svc in host.services.items():
            f[f"service.{key}.running"] = svc.running
            f[f"service.{key}.policy"] = svc.policy
        for key, enabled in host.firewall_rulesets.items():
            f[f"firewall.{key}.enabled"] = enabled
        for key, value in host.options.items():
            f[f"option.{key}"] = value
        for dev, vmk in host.vmknics.items():
            on = vmk.port_group or (dvpg_names.get(vmk.dvs_port.portgroup_key or "")
                                    if vmk.dvs_port else None)
            f.update({f"{dev}.mtu": vmk.mtu, f"{dev}.ip": str(vmk.ip) if vmk.ip else None,
                      f"{dev}.dhcp": vmk.dhcp, f"{dev}.port_group": on,
                      f"{dev}.netstack": vmk.netstack, f"{dev}.services": _names(vmk.services)})
        for dev, pnic in host.pnics.items():
            f[f"{dev}.speed_mb"] = pnic.speed_mb
        for vs in host.vswitches.values():
            f[f"vswitch.{vs.name}.mtu"] = vs.mtu
            f[f"vswitch.{vs.name}.uplinks"] = _names(vs.uplinks)
            _policy(f"vswitch.{vs.name}", vs.policy, f)
        for pg in host.port_groups.values():
            f[f"portgroup.{pg.name}.vlan"] = pg.vlan
            f[f"portgroup.{pg.name}.vswitch"] = pg.vswitch
            _policy(f"portgroup.{pg.name}", pg.computed, f)
        for ps in host.proxy_switches:
            f[f"dvs.{ps.dvs_name}.pnics"] = _names(ps.pnics)
        out[name] = f
    for dvs in snapshot.dvs.values():
        d: SubjectFacts = {"max_mtu": dvs.max_mtu, "version": dvs.version,
                           "uplinks": list(dvs.uplink_names),
                           "discovery": (f"{dvs.discovery.protocol}/{dvs.discovery.operation}"
                                         if dvs.discovery else None)}
        for member in dvs.members.values():
            d[f"member.{member.host}.pnics"] = _names(member.pnics)
        _policy("default", dvs.default_policy, d)
        out[f"dvs/{dvs.name}"] = d
    for dvpg in snapshot.dv_port_groups.values():
        p: SubjectFacts = {"dvs": dvpg.dvs, "vlan": dvpg.vlan, "uplink": dvpg.uplink}
        _policy("policy", dvpg.policy, p)
        out[f"dvportgroup/{dvpg.name}"] = p
    return out


def wire_facts(hints: Iterable[NetworkHintFacts]) -> LayerFacts:
    """The CDP and LLDP neighbour each host heard on each vmnic (`esx01/vmnic0`)."""
    out: LayerFacts = {}
    for h in hints:
        out[f"{h.host}/{h.device}"] = {
            "cdp.device": h.cdp.device_id if h.cdp else None,
            "cdp.port": h.cdp.port_id if h.cdp else None,
            "cdp.platform": h.cdp.platform if h.cdp else None,
            "cdp.mtu": h.cdp.mtu if h.cdp else None,
            "lldp.chassis": h.lldp.chassis_id if h.lldp else None,
            "lldp.port": h.lldp.port_id if h.lldp else None,
            "lldp.system": h.lldp.system_name if h.lldp else None,
        }
    return out


def esxcli_facts(views: Mapping[str, HostView]) -> LayerFacts:
    """Each host's vmknics, NICs (driver, firmware, link) and storage adapters as esxcli
    reports them."""
    out: LayerFacts = {}
    for host, view in views.items():
        f: SubjectFacts = {}
        for i in view.interfaces:
            f.update({f"{i.name}.mtu": i.mtu, f"{i.name}.enabled": i.enabled,
                      f"{i.name}.netstack": i.netstack, f"{i.name}.portgroup": i.portgroup})
        for nic in view.nics.values():
            f.update({f"{nic.name}.driver": nic.driver,
                      f"{nic.name}.driver_version": nic.driver_version,
                      f"{nic.name}.firmware": nic.firmware, f"{nic.name}.link_up": nic.link_up,
                      f"{nic.name}.speed_mb": nic.speed_mb, f"{nic.name}.mtu": nic.mtu})
        for a in view.storage_adapters:
            f[f"{a.name}.driver"] = a.driver
        out[host] = f
    return out


def server_facts(facts: ServerFacts, bios_attributes: Iterable[str]) -> LayerFacts:
    """One server's iLO: model, iLO firmware, the BIOS attributes the checks read, and per
    adapter its firmware, DCB/LLDP agent and per port link and personality."""
    f: SubjectFacts = {"generation": facts.generation, "model": facts.model,
                       "serial": facts.serial, "ilo.firmware": facts.firmware,
                       "power": facts.power.power_state}
    for attribute in sorted(bios_attributes):
        value = facts.bios.current.get(attribute)
        f[f"bios.{attribute}"] = value if value is None else str(value)
    for a in facts.adapters:
        where = a.slot or a.id
        f.update({f"{where}.name": a.name, f"{where}.part_number": a.part_number,
                  f"{where}.firmware": a.firmware, f"{where}.lldp_agent": a.lldp_agent,
                  f"{where}.dcb_capable": a.dcb_capable})
        for p in a.ports:
            f[f"{where}.port{p.number}.link"] = p.link_status
            f[f"{where}.port{p.number}.personality"] = a.personality(p.number)
    return {facts.name: f}


def router_facts(facts: RouterFacts) -> LayerFacts:
    """One router: its firmware and each interface's status, MTU and addresses."""
    f: SubjectFacts = {"kind": facts.kind, "firmware": facts.firmware,
                       "version": facts.version, "forwarding": facts.forwarding}
    for i in facts.interfaces:
        f.update({f"{i.device}.status": i.status, f"{i.device}.mtu": i.mtu,
                  f"{i.device}.addresses": _names(str(a) for a in i.addresses)})
    return {facts.name: f}
