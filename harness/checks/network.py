"""Network checks: what probes saw on the wire, against what the lab says.

Pure functions, like the design checks: the suites gather observations with probe agents and
pass them in. Uplink failures are attributed the way an engineer would: one silent port with
link up is F11 (silent uplink); every port of one adapter silent at once points at the adapter
itself, its personality or DCB/LLDP agent (F10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.checks.finding import Finding
from harness.facts import JsonValue
from harness.facts.wire import Answer, Heard, PathObservation, UplinkKey, VmknicTarget
from harness.lab.model import Lab
from harness.lab.views import VXLAN_MIN_MTU, expected_neighbours, host_port_groups


def adapter_of(lab: Lab, host: str, vmnic: str) -> tuple[str, list[str]] | None:
    """The adapter a vmnic is a port of, and all that adapter's vmnics."""
    h = lab.hosts[host]
    if h.server is None or h.server not in lab.servers:
        return None
    for name, adapter in lab.servers[h.server].adapters.items():
        ports = [p.vmnic for p in adapter.ports.values() if p.vmnic]
        if vmnic in ports:
            return f"{h.server}/{name} ({adapter.model})", ports
    return None


def classify(lab: Lab, dead: set[UplinkKey]) -> dict[UplinkKey, tuple[str, str]]:
    """Dead uplink -> (incident, why): F10 when every cabled port of its adapter is dead."""
    cabled = set(expected_neighbours(lab))
    out: dict[UplinkKey, tuple[str, str]] = {}
    for host, vmnic in dead:
        adapter = adapter_of(lab, host, vmnic)
        siblings = [v for v in (adapter[1] if adapter else []) if (host, v) in cabled]
        if adapter and len(siblings) > 1 and all((host, v) in dead for v in siblings):
            out[(host, vmnic)] = ("F10", f"every port of adapter {adapter[0]} "
                                         f"({', '.join(siblings)}) passes no traffic")
        else:
            out[(host, vmnic)] = ("F11", "this port alone passes no traffic")
    return out


def check_neighbours(lab: Lab, heard: Mapping[UplinkKey, Sequence[Heard]],
                     dead: set[UplinkKey]) -> list[Finding]:
    """Every cabled vmnic hears the switch port the cabling plan names, by each protocol the
    switch sends."""
    out: list[Finding] = []
    expected = expected_neighbours(lab)
    kinds = classify(lab, dead | {k for k in expected if not heard.get(k)})
    planned = {(_short(device), port): key for key, (device, port, _) in expected.items()}
    for key, (device, port, protocols) in sorted(expected.items()):
        if key not in heard:
            continue  # not observed (no probe there): nothing to judge
        host, vmnic = key
        got = heard[key]
        subject = f"{host}/{vmnic}"
        evidence: dict[str, JsonValue] = {
            "expected": {"device": device, "port": port, "protocols": list(protocols)},
            "heard": [{"protocol": h.protocol, "device": h.device, "port": h.port}
                      for h in got]}
        if not got:
            incident, why = kinds[key]
            out.append(Finding(
                incident, "error", subject,
                f"no CDP/LLDP neighbour on {vmnic} (cabled to {device} {port})",
                cause=(f"{why}; with the link up, the upstream port or the adapter silently "
                       "drops frames, CDP included" if incident == "F11" else
                       f"{why}: adapter personality or DCB/LLDP agent off (link up, no "
                       "traffic)"),
                fix=("check the switch port (shutdown, err-disabled, VLAN, ACL) and its CDP/LLDP "
                     "settings" if incident == "F11" else
                     "check the adapter's personality and DCB/LLDP agent through iLO, then "
                     "reset the server"),
                check="cabling-neighbours", source="observed", evidence=evidence))
            continue
        wrong = [h for h in got if _short(h.device) != _short(device) or h.port != port]
        missing = sorted(set(protocols) - {h.protocol for h in got})
        if wrong:
            cause, fix, planned_for = _wrong_port(key, wrong[0], (device, port), planned, heard)
            out.append(Finding(
                "F11", "error", subject,
                f"{vmnic} is cabled to {wrong[0].device} {wrong[0].port}, not {device} {port}",
                cause=cause, fix=fix, check="cabling-neighbours", source="observed",
                evidence={**evidence, "planned_for": planned_for}))
        elif missing:
            out.append(Finding(
                "F11", "warning", subject,
                f"{vmnic} hears {device} {port} but not by {', '.join(missing)}",
                cause="the switch does not send that discovery protocol on this port",
                fix=f"enable {', '.join(missing)} on {device} {port}",
                check="cabling-neighbours", source="observed", evidence=evidence))
    return out


def _short(device: str) -> str:
    """A switch's name without its domain: CDP often sends the FQDN, LLDP the short name."""
    return device.split(".")[0]


def _wrong_port(key: UplinkKey, got: Heard, want: tuple[str, str],
                planned: Mapping[tuple[str, str], UplinkKey],
                heard: Mapping[UplinkKey, Sequence[Heard]]) -> tuple[str, str, str | None]:
    """(cause, fix, the vmnic the plan gives the heard port) for a vmnic that hears another
    port than planned: two vmnics that each hear the other's planned port are swapped."""
    host, vmnic = key
    device, port = want
    other = planned.get((_short(got.device), got.port))
    if other is None:
        return ("the cable is in another port than the cabling plan says",
                f"move the cable to {device} {port}, or correct the cabling plan", None)
    owner = f"{other[0]}/{other[1]}"
    theirs = other[1] if other[0] == host else owner  # another host's vmnic by its full name
    there = got.port if _short(got.device) == _short(device) else f"{got.device} {got.port}"
    if any(_short(h.device) == _short(device) and h.port == port for h in heard.get(other, ())):
        return (f"the cables of {vmnic} and {theirs} are swapped: {vmnic} hears the port the "
                f"plan gives {theirs} ({got.port}), and {theirs} hears {vmnic}'s ({port})",
                f"swap the cables in {device} {port} and {there}, or correct the cabling plan",
                owner)
    return (f"the cable is in the port the cabling plan gives {owner}",
            f"move the cable to {device} {port}, or correct the cabling plan", owner)


def check_uplinks(lab: Lab, reachable: Mapping[UplinkKey, bool],
                  evidence: Mapping[UplinkKey, Mapping[str, JsonValue]]) -> list[Finding]:
    """Every cabled uplink passes traffic (a beacon-style probe out of that vmnic)."""
    dead = {k for k, ok in reachable.items() if not ok}
    kinds = classify(lab, dead)
    out: list[Finding] = []
    for key in sorted(dead):
        host, vmnic = key
        incident, why = kinds[key]
        out.append(Finding(
            incident, "error", f"{host}/{vmnic}",
            f"{vmnic} passes no traffic while its link is up",
            cause=(f"{why}: blocked upstream; link-status failover never notices, so traffic "
                   "that uses it is black-holed (the vMotion that hung at 14%)"
                   if incident == "F11" else
                   f"{why}: FCoE personality or DCB/LLDP agent off on that adapter"),
            fix=("find what blocks the switch port; use beacon probing (3+ uplinks) where "
                 "silent failures must fail over" if incident == "F11" else
                 "set the adapter's personality and DCB/LLDP agent as the lab says, reset the "
                 "server"),
            check="uplink-reachability", source="observed", evidence=dict(evidence.get(key, {}))))
    return out


def forwarding_uplink(lab: Lab, host: str, port_group: str,
                      dead: set[UplinkKey]) -> tuple[str | None, str]:
    """The uplink a port group's traffic leaves by, given which uplinks are dead: ESXi's
    failover order, where link-status detection never sees a silent (link-up) failure."""
    pg = host_port_groups(lab, host).get(port_group)
    if pg is None:
        return None, "no such port group"
    team = pg.teaming
    if not team.uplinks:
        return None, "no uplinks"
    if team.failure_detection == "beacon_probing" and len(team.uplinks) >= 3:
        alive = [u for u in team.uplinks if (host, u) not in dead]
        return (alive[0] if alive else None), "beacon probing"
    return team.uplinks[0], "link status only"


def diagnose_path(lab: Lab, host: str, port_group: str, dead: set[UplinkKey]
                  ) -> tuple[str, str] | None:
    """If a failed path from `host` on `port_group` is explained by a dead uplink, the
    incident and explanation."""
    uplink, mode = forwarding_uplink(lab, host, port_group, dead)
    if uplink is None or (host, uplink) not in dead:
        return None
    incident, why = classify(lab, dead)[(host, uplink)]
    return incident, (f"{port_group} on {host} forwards through {uplink} ({mode}), which passes "
                      f"no traffic: {why}")


def wrong_egress(answers: Sequence[Answer], vlan: int, target: VmknicTarget,
                 host_vmknics: Sequence[VmknicTarget]) -> tuple[VmknicTarget, Answer] | None:
    """Another vmknic of the target's host that answered for the target's traffic on another
    VLAN than the one it was sent on (F12 on the wire: the host routes the shared subnet out
    of that vmknic)."""
    for answer in answers:
        if answer.vlan == vlan or answer.kind not in ("arp-request", "echo-reply"):
            continue
        for vmk in host_vmknics:
            if vmk.name != target.name and (answer.src_ip == str(vmk.ip.ip)
                                            or (vmk.mac is not None
                                                and answer.src_mac == vmk.mac)):
                return vmk, answer
    return None


def explain_down_path(lab: Lab, *, source_host: str, target: VmknicTarget, vlan: int,
                      answers: Sequence[Answer], host_vmknics: Sequence[VmknicTarget],
                      dead: set[UplinkKey], unknown: str) -> tuple[str, str, dict[str, JsonValue]]:
    """Why a path from `source_host`'s probe to `target` (sent on `vlan`) gets no answer:
    (incident, cause, evidence). In order: the target answers from another vmknic on another
    VLAN (F12); a dead uplink on either side explains it (F10/F11); else the cause is unknown
    and the incident is the caller's (`unknown`)."""
    wrong = wrong_egress(answers, vlan, target, host_vmknics)
    if wrong is not None:
        vmk, answer = wrong
        return "F12", (
            f"{target.host} answers traffic for {target.name} ({target.ip.ip}) from {vmk.name} "
            f"({answer.src_ip}, {answer.src_mac}) on VLAN {answer.vlan}, not from {target.name} "
            f"on VLAN {vlan}: {vmk.name} and {target.name} share a subnet, so the host routes "
            f"it out of {vmk.name} and the answers never arrive"), {
            "egress_vmknic": vmk.name, "egress_vlan": answer.vlan, "expected_vlan": vlan,
            "seen": answer.kind}
    for host, pg in ((source_host, target.port_group), (target.host, target.port_group)):
        why = diagnose_path(lab, host, pg, dead)
        if why is not None:
            return why[0], why[1], {}
    return unknown, (f"down, cause unknown: nothing answered on VLAN {vlan} and no dead uplink "
                     "or misrouted answer explains it (see the frames in the evidence)"), {}


def path_finding(obs: PathObservation, incident: str, check: str, message: str, cause: str,
                 fix: str, subject: str | None = None) -> Finding:
    return Finding(incident, "error", subject or obs.source, message, cause=cause, fix=fix,
                   check=check, source="observed",
                   evidence={"source": obs.source, "target": obs.target, "detail": obs.detail,
                             **dict(obs.evidence)})


def mtu_finding(obs: PathObservation, path_mtu: int | None, required: int, hop: str | None,
                hop_mtu: int | None, what: str) -> Finding:
    """F02: a path that cannot carry `required`-byte packets with DF set."""
    where = f"hop {hop} (MTU {hop_mtu})" if hop else "an unidentified hop (no ICMP came back)"
    return path_finding(
        obs, "F02", "path-mtu",
        f"{what} path {obs.source} -> {obs.target} carries {path_mtu or 'no'}-byte packets, "
        f"needs {required}; limited at {where}",
        cause=("VXLAN adds 50 bytes: the underlay must carry 1600 (field notes: the router "
               "between L3 hosts)" if required == VXLAN_MIN_MTU else
               f"every hop of a {what} path must carry its vmknic's MTU"),
        fix=f"raise the MTU of {hop or 'the limiting hop'} to at least {required}, on both ends "
            "of the link")


def edge_uplink(lab: Lab) -> tuple[str, str] | None:
    """(host, port group) of the ESG's uplink: the sim runs edges on the first transport-zone
    host, on the port group of the uplink network's VLAN."""
    if lab.nsx is None or not lab.nsx.transport_zones:
        return None
    host = next(iter(lab.nsx.transport_zones.values())).hosts[0]
    for edge in lab.nsx.edges.values():
        for iface in edge.interfaces.values():
            if edge.kind == "esg" and iface.network is not None:
                vlan = lab.networks[iface.network].vlan
                for pg in host_port_groups(lab, host).values():
                    if pg.vlan == vlan:
                        return host, pg.name
    return None
