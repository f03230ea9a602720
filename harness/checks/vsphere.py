"""Checks on what vCenter reports: time (F05), management paths before a migration (F01),
cabling against network hints, and which side differs when a design check fires.

Each check takes the lab (intent) and typed facts from `harness.drivers.vsphere` and returns
findings with `source="observed"`; none of them talks to vCenter itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from harness.checks.finding import Finding
from harness.checks.network import check_neighbours
from harness.facts import JsonValue
from harness.facts.vsphere import (
    NTP_RULESET,
    NTP_SERVICE,
    ROLLBACK_OPTION,
    ClockOffset,
    DvPortGroupFacts,
    HostFacts,
    NetworkHintFacts,
    Snapshot,
    VmknicFacts,
)
from harness.facts.wire import Heard, UplinkKey
from harness.lab.model import Lab
from harness.lab.views import expected_neighbours, uplink_carriage


def mark_sides(intent: Iterable[Finding], observed: Iterable[Finding]) -> list[Finding]:
    """Observed findings, each saying which side differs: the lab file has the same fault
    (fix the lab first), or only vCenter does (the lab is right; vCenter drifted from it)."""
    in_lab = {(f.id, f.subject, f.check) for f in intent}
    out: list[Finding] = []
    for f in observed:
        also_in_lab = (f.id, f.subject, f.check) in in_lab
        side = ("the lab file says so too" if also_in_lab
                else "vCenter differs from the lab, which is right here")
        out.append(replace(f, message=f"{f.message} ({side})",
                           evidence={**f.evidence, "differs": "lab" if also_in_lab
                                     else "observed"}))
    return out


def intended_ntp(lab: Lab, host: str) -> tuple[str, ...]:
    h = lab.hosts[host]
    return tuple(h.ntp_servers if h.ntp_servers is not None else lab.ntp.servers)


def check_time(lab: Lab, hosts: Mapping[str, HostFacts],
               offsets: Mapping[str, ClockOffset]) -> list[Finding]:
    """F05: NTP servers as the lab says, ntpd running with policy on, the NTP client firewall
    rule on, and the clock within the lab's bound of the harness clock. One finding per host
    with every problem, so a host's time story reads in one place."""
    out: list[Finding] = []
    bound = lab.ntp.max_offset_seconds
    for name in sorted(set(hosts) & set(lab.hosts)):
        facts = hosts[name]
        want = intended_ntp(lab, name)
        problems: list[str] = []
        evidence: dict[str, JsonValue] = {"ntp_servers": list(facts.ntp_servers),
                                          "intended": list(want)}
        if sorted(facts.ntp_servers) != sorted(want):
            problems.append(f"NTP servers {list(facts.ntp_servers) or 'none'}, the lab says "
                            f"{list(want)}")
        svc = facts.services.get(NTP_SERVICE)
        evidence["ntpd"] = None if svc is None else {"running": svc.running, "policy": svc.policy}
        if svc is None:
            problems.append("no ntpd service")
        else:
            if not svc.running:
                problems.append("ntpd is stopped")
            if svc.policy != "on":
                problems.append(f"ntpd policy is {svc.policy!r}, not 'on' (it will not start "
                                "with the host)")
        rule = facts.firewall_rulesets.get(NTP_RULESET)
        evidence["firewall_ntpClient"] = rule
        if rule is False:
            problems.append("the ntpClient firewall rule is off")
        clock = offsets.get(name)
        if clock is not None:
            evidence["offset_s"] = round(clock.offset_s, 3)
            evidence["uncertainty_s"] = round(clock.uncertainty_s, 3)
            if abs(clock.offset_s) - clock.uncertainty_s > bound:
                problems.append(f"clock {clock.offset_s:+.1f} s off (bound {bound:g} s)")
        if problems:
            out.append(Finding(
                "F05", "error", name, "; ".join(problems),
                cause="without working NTP host clocks drift minutes apart; VMware Tools sets "
                      "guest clocks from the host at boot (the Exchange Information Store that "
                      "would not start)",
                fix="set the lab's NTP servers (UpdateDateTimeConfig), set ntpd's policy to "
                    "'on' and start it, enable the ntpClient firewall rule; then check the "
                    "offset again",
                check="host-time", source="observed", evidence=evidence))
    return out


def hints_as_heard(hints: Iterable[NetworkHintFacts]) -> dict[UplinkKey, list[Heard]]:
    """Network hints in the shape the wire-side neighbour check reads."""
    out: dict[UplinkKey, list[Heard]] = {}
    for h in hints:
        heard = out.setdefault((h.host, h.device), [])
        if h.cdp is not None:
            heard.append(Heard("cdp", h.cdp.device_id, h.cdp.port_id))
        if h.lldp is not None:
            heard.append(Heard("lldp", h.lldp.system_name or h.lldp.chassis_id, h.lldp.port_id))
    return out


def check_cabling_hints(lab: Lab, hints: Iterable[NetworkHintFacts]) -> list[Finding]:
    """Every cabled vmnic's CDP/LLDP neighbour, as vCenter's network hints report it, is the
    switch port the cabling plan names (the same rules as the wire-side check)."""
    cabled = expected_neighbours(lab)
    heard = {k: v for k, v in hints_as_heard(hints).items() if k in cabled}
    return [replace(f, check="cabling-network-hints") for f in
            check_neighbours(lab, heard, dead=set())]


def management_uplinks(snapshot: Snapshot, host: HostFacts, vmk: VmknicFacts
                       ) -> tuple[list[str], int | None]:
    """The vmnics a vmknic can leave through (active, then standby) and its VLAN."""
    if vmk.port_group is not None:
        pg = host.port_groups.get(vmk.port_group)
        if pg is None:
            return [], None
        vs = host.vswitches.get(pg.vswitch)
        bonded = list(vs.uplinks) if vs is not None else []
        team = pg.computed.teaming
        if team.active is None and team.standby is None:
            return bonded, pg.vlan
        order = [*(team.active or ()), *(team.standby or ())]
        return [n for n in order if n in bonded], pg.vlan
    if vmk.dvs_port is None:
        return [], None
    dvpg: DvPortGroupFacts | None = next(
        (p for p in snapshot.dv_port_groups.values() if p.key == vmk.dvs_port.portgroup_key),
        None)
    proxy = next((p for p in host.proxy_switches if p.dvs_uuid == vmk.dvs_port.switch_uuid),
                 None)
    dvs = next((d for d in snapshot.dvs.values() if d.uuid == vmk.dvs_port.switch_uuid), None)
    if dvpg is None or proxy is None or dvs is None:
        return [], None
    team = dvpg.policy.teaming
    default = dvs.default_policy.teaming
    active = team.active if team.active is not None else default.active
    standby = team.standby if team.standby is not None else default.standby
    names = ([*(active or ()), *(standby or ())] if active is not None or standby is not None
             else list(dvs.uplink_names))
    vlan = dvpg.vlan if dvpg.vlan is not None else dvs.default_vlan
    return [proxy.uplinks[n] for n in names if n in proxy.uplinks], vlan


def _management_vmks(host: HostFacts) -> list[VmknicFacts]:
    tagged = [v for v in host.vmknics.values() if "management" in v.services]
    return tagged or [v for v in host.vmknics.values() if v.device == "vmk0"]


def check_management_paths(lab: Lab, snapshot: Snapshot, rollback: bool | None
                           ) -> list[Finding]:
    """F01, before any migration of management networking: vCenter's network rollback is on,
    every host is connected, and every host's management reaches vCenter through at least two
    uplinks whose switch ports carry its VLAN, so moving one of them cannot cut it off."""
    out: list[Finding] = []
    if rollback is False:
        out.append(Finding(
            "F01", "error", "vcenter",
            f"{ROLLBACK_OPTION} is false: a network change that cuts a host off stays",
            cause="without network rollback, moving the last working management path (vmk or "
                  "uplink) to a port group without working uplinks disconnects the host; only "
                  "a reboot at the console brings it back",
            fix=f"set {ROLLBACK_OPTION} = true in vCenter's advanced settings",
            check="management-paths", source="observed",
            evidence={ROLLBACK_OPTION: rollback}))
    carried = uplink_carriage(lab)
    for name in sorted(set(snapshot.hosts) & set(lab.hosts)):
        host = snapshot.hosts[name]
        if host.connection_state != "connected":
            out.append(Finding(
                "F01", "error", name, f"vCenter reports {name} {host.connection_state}",
                cause="its management network lost every working path (or the host is down)",
                fix="restore management from the host console (DCUI: Restore Network "
                    "Settings / Restore Standard Switch), then reconnect it in vCenter",
                check="management-paths", source="observed",
                evidence={"connection_state": host.connection_state}))
            continue
        paths: dict[str, list[str]] = {}
        for vmk in _management_vmks(host):
            uplinks, vlan = management_uplinks(snapshot, host, vmk)
            working = [u for u in uplinks
                       if vlan is not None and vlan in carried.get(name, {}).get(u, [])]
            paths[vmk.device] = working
        total = sorted({u for us in paths.values() for u in us})
        if len(total) >= 2:
            continue
        out.append(Finding(
            "F01", "error" if not total else "warning", name,
            (f"{name}'s management has no working uplink" if not total else
             f"{name}'s management has a single working uplink ({total[0]})"),
            cause="moving that uplink or the management vmk to a port group whose uplinks do "
                  "not carry the management VLAN cuts vCenter off the host (F01)",
            fix="before migrating, give management a second path: a second active or standby "
                "uplink carrying its VLAN, or a temporary second management vmk",
            check="management-paths", source="observed",
            evidence={"paths": {k: list(v) for k, v in paths.items()}}))
    return out
