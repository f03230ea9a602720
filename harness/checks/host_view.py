"""Checks on what each ESXi host itself reports through esxcli, against the lab (and the BMC).

Pure functions over `harness.facts.esxcli` records; the suites read them through vCenter
(`VsphereDriver.host_views`, `vmkping`) and pass them in. Every finding cites the host's own
output: the routes it listed, the vmkping it ran (command line, summary and trace), its NIC and
storage adapter lists.

- F02: vmkping with DF set between VTEPs (`++netstack=vxlan -d -s 1572`, 8972 on jumbo
  underlays) passes, or says where the packet stops (the router's "Frag needed" in the trace)
  or that the host cannot even send it.
- F12: the route the host uses for a peer's vMotion vmknic leaves by the host's own vMotion
  vmknic, and a DF ping at that vmknic's MTU along it gets answers.
- F10: a converged adapter's ports give the host the storage adapters their personality
  implies (dependent iSCSI adapters for iSCSI ports; FCoE personality takes them away), tied to
  the personality the BMC reports; the host's NIC driver and firmware match the adapter the lab
  and the BMC describe.
- F11: a cabled vmnic has link at the adapter's speed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from ipaddress import IPv4Address

from harness.checks.finding import Finding
from harness.checks.server import find_adapter, manual_step, personality_item
from harness.facts import JsonValue
from harness.facts.esxcli import HostView, PingResult, RouteEntry, StorageAdapter
from harness.facts.redfish import ServerFacts
from harness.lab.catalog import ADAPTERS, accepted_drivers
from harness.lab.model import Lab
from harness.lab.views import VXLAN_MIN_MTU, expected_neighbours

ICMP_OVERHEAD = 28  # IPv4 + ICMP headers: vmkping -s 1572 sends a 1600-byte packet
TOO_LONG = "Message too long"
_MTU_IN_DETAIL = re.compile(r"mtu\s*=?\s*(\d+)", re.I)


def route_for(routes: Sequence[RouteEntry], ip: IPv4Address) -> RouteEntry | None:
    """The route a host uses for `ip`: the longest matching prefix, and among equal prefixes
    the first one listed (ESXi lists a network's connected routes in the order its vmknics were
    made and sends by the first)."""
    best: RouteEntry | None = None
    for route in routes:
        if route.contains(ip) and (best is None
                                   or route.prefix.prefixlen > best.prefix.prefixlen):
            best = route
    return best


def payload_sizes(mtu: int) -> list[int]:
    """vmkping -s sizes that prove a path carries `mtu`-byte packets: 1572 for VXLAN's 1600,
    plus 8972 when the path is meant to carry jumbo frames."""
    sizes = [VXLAN_MIN_MTU - ICMP_OVERHEAD]
    if mtu >= 9000:
        sizes.append(9000 - ICMP_OVERHEAD)
    return sizes


def _ping_evidence(*pings: PingResult | None) -> dict[str, JsonValue]:
    return {"vmkping": [p.to_dict() for p in pings if p is not None]}


def _routes_evidence(view: HostView, netstack: str) -> dict[str, JsonValue]:
    return {"host": view.host, "command": f"esxcli network ip route ipv4 list "
                                          f"--netstack={netstack}",
            "routes": [r.to_dict() for r in view.routes.get(netstack, ())]}


def limiting_hop(ping: PingResult) -> tuple[str, int | None] | None:
    """(hop, its MTU) from a "Frag needed and DF set (mtu = 1500)" in the ping's trace."""
    for trace in ping.icmp_errors():
        if "frag" in trace.detail.lower():
            found = _MTU_IN_DETAIL.search(trace.detail)
            return trace.host, int(found.group(1)) if found else None
    return None


# ---------------------------------------------------------------------------------------------
# F02: DF pings between VTEPs


def check_df_ping(*, subject: str, what: str, source: str, target: str, size: int,
                  ping: PingResult, reachable: PingResult | None, vmk_mtu: int | None = None,
                  down: tuple[str, str] | None = None) -> list[Finding]:
    """F02: the host's own DF ping of `size` payload bytes to `target` is answered.

    Args:
        subject: what the finding is about (the pair, `esx01->esx02`).
        what: the kind of path, in words (`VXLAN underlay`).
        ping: the DF ping at `size`.
        reachable: a small ping without DF on the same path, run when the big one failed
            (None: not run); it tells an MTU limit from a path that is down.
        vmk_mtu: the MTU of the vmknic the ping leaves by, as the host lists it: a "Message too
            long" below it means a path MTU the host learned, not its own limit.
        down: (incident, cause) that explains a path that is down (a dead uplink), if known.
    """
    if ping.answered:
        return []
    packet = size + ICMP_OVERHEAD
    evidence = _ping_evidence(ping, reachable)
    fix = (f"raise the MTU of every hop between {source} and {target} to at least {packet} "
           "(both ends of each link)")
    if TOO_LONG in " ".join(ping.fault):
        learned = vmk_mtu is not None and vmk_mtu >= packet
        return [Finding(
            "F02", "error", subject,
            f"{source} refuses to send a {packet}-byte packet with DF set toward {target}: its "
            f"vmkping says \"{'; '.join(ping.fault)}\"",
            cause=(f"the vmknic's MTU is {vmk_mtu}, so the host has learned a smaller path MTU "
                   "toward the target from a hop's ICMP 'fragmentation needed': a hop on the "
                   f"{what} cannot carry {packet} bytes" if learned else
                   f"the vmknic the ping leaves by has an MTU of {vmk_mtu or 'less'}, smaller "
                   f"than the packet (the lab wants {packet} bytes to pass on the {what})"),
            fix=fix if learned else f"set the vmknic's MTU (and its switch's) to at least "
                                    f"{packet}",
            check="vmkping-df", source="observed",
            evidence={**evidence, "vmknic_mtu": vmk_mtu})]
    if reachable is not None and not reachable.answered:
        incident, cause = down or ("F02", f"{target} does not answer even small pings from "
                                          f"{source}: the path is down, cause unknown")
        return [Finding(
            incident, "error", subject,
            f"{what} path {source} -> {target} is down: neither the {packet}-byte DF ping nor "
            "a small one is answered", cause=cause,
            fix="restore the path (see the uplink findings and the host's vmkping output)",
            check="vmkping-df", source="observed", evidence=evidence)]
    hop = limiting_hop(ping)
    where = (f"hop {hop[0]} (MTU {hop[1]})" if hop and hop[1] else
             f"hop {hop[0]}" if hop else "an unidentified hop (no ICMP came back)")
    return [Finding(
        "F02", "error", subject,
        f"{what} path {source} -> {target} does not carry {packet}-byte packets with DF set "
        f"({ping.received} of {ping.transmitted} answered); limited at {where}",
        cause=("VXLAN adds 50 bytes: the underlay must carry 1600 (field notes: the router "
               "between L3 hosts)" if packet == VXLAN_MIN_MTU else
               f"every hop must carry the {packet}-byte packets the lab's MTU allows"),
        fix=fix, check="vmkping-df", source="observed", evidence=evidence)]


# ---------------------------------------------------------------------------------------------
# F12: the route and the vmknic the host's own traffic leaves by


def check_vmotion_egress(*, view: HostView, vmk: str, target: str, target_ip: IPv4Address,
                         ping: PingResult | None, down: tuple[str, str] | None = None
                         ) -> list[Finding]:
    """F12: the host routes traffic for the peer vMotion vmknic `target` (at `target_ip`) out of
    its own vMotion vmknic `vmk` (on that vmknic's netstack), and a DF ping at `vmk`'s MTU,
    left to the host's routing, is answered."""
    subject = f"{view.host}/{vmk}"
    mine = view.interface(vmk)
    if mine is None:
        return [Finding("F12", "error", subject, f"{view.host} lists no {vmk} in `esxcli network "
                        "ip interface list`", cause="the vMotion vmknic is missing",
                        fix=f"create {vmk} as the lab says", check="vmotion-egress",
                        source="observed", evidence={"interfaces": [
                            i.name for i in view.interfaces]})]
    evidence: dict[str, JsonValue] = {**_routes_evidence(view, mine.netstack),
                                      **_ping_evidence(ping)}
    route = route_for(view.routes.get(mine.netstack, ()), target_ip)
    if route is None or route.interface != vmk:
        by = route.interface if route else None
        sharing = [i.name for i in view.interfaces if i.netstack == mine.netstack
                   and route is not None and i.ipv4 is not None
                   and route.contains(IPv4Address(i.ipv4))]
        return [Finding(
            "F12", "error", subject,
            f"{view.host} sends traffic for {target} ({target_ip}) out of "
            f"{by or 'no vmknic'}, not its vMotion vmknic {vmk}" +
            (f": its route for {route.prefix} leaves by {by}" if route else
             ": it has no route for it"),
            cause=(f"{' and '.join(sharing)} share the subnet {route.prefix} on "
                   f"{mine.netstack}; ESXi sends by the first vmknic of a subnet, so vMotion "
                   f"traffic leaves on {by}'s VLAN and never arrives" if route and
                   len(sharing) > 1 else
                   f"{vmk}'s subnet does not hold {target_ip}" if route else
                   f"no route on {mine.netstack} covers {target_ip}"),
            fix=f"give {vmk} its own subnet (or the vmotion TCP/IP stack) so the route to "
                f"{target} leaves by it", check="vmotion-egress", source="observed",
            evidence={**evidence, "route_vmknic": by})]
    if ping is not None and not ping.answered:
        incident, cause = down or ("F12", f"{target} does not answer although {view.host}'s "
                                          f"route leaves by {vmk}: cause unknown (see the "
                                          "host's vmkping)")
        size = ping.request.size or 56
        return [Finding(
            incident, "error", subject,
            f"{view.host}'s {size + ICMP_OVERHEAD}-byte DF ping to {target} ({target_ip}) by "
            f"{vmk} gets {ping.received} of {ping.transmitted} answers"
            + (f": {'; '.join(ping.fault)}" if ping.fault else ""),
            cause=cause, fix="restore the vMotion path (see the uplink findings)",
            check="vmotion-egress", source="observed", evidence={**evidence, "route_vmknic": vmk})]
    return []


# ---------------------------------------------------------------------------------------------
# F10: storage adapters follow the converged adapters' personality (host view vs BMC)


def _kind_of(adapter: StorageAdapter, drivers: dict[str, frozenset[str]]) -> str | None:
    for kind in ("iscsi", "fcoe"):
        if adapter.driver in drivers[kind]:
            return kind
    return None


def check_storage_adapters(lab: Lab, server: str, view: HostView,
                           bmc: ServerFacts | None = None) -> list[Finding]:
    """F10: the host has one dependent hardware iSCSI adapter per converged-adapter port the lab
    puts in iSCSI personality, and one FCoE adapter per FCoE port, by the adapter model's
    offload drivers (`esxcli storage core adapter list`); a shortfall is tied to the
    personality the BMC reports for those ports."""
    lab_server = lab.servers[server]
    out: list[Finding] = []
    # adapters that share an offload driver (534FLR-SFP+ and 530SFP+ both use bnx2i) are
    # counted together: the list does not say which port an adapter belongs to
    groups: dict[tuple[frozenset[str], frozenset[str]], list[tuple[str, int, str]]] = {}
    for aname, adapter in lab_server.adapters.items():
        drivers = accepted_drivers(adapter.model)
        if not drivers["iscsi"] and not drivers["fcoe"]:
            continue
        key = (drivers["iscsi"], drivers["fcoe"])
        groups.setdefault(key, []).extend(
            (aname, number, port.personality) for number, port in sorted(adapter.ports.items()))
    for (iscsi, fcoe), ports in groups.items():
        drivers = {"iscsi": iscsi, "fcoe": fcoe}
        seen: dict[str, list[StorageAdapter]] = {"iscsi": [], "fcoe": []}
        for hba in view.storage_adapters:
            kind = _kind_of(hba, drivers)
            if kind is not None:
                seen[kind].append(hba)
        want = {"iscsi": [p for p in ports if p[2] == "iSCSI"],
                "fcoe": [p for p in ports if p[2] == "FCoE"]}
        if all(len(seen[k]) == len(want[k]) for k in ("iscsi", "fcoe")):
            continue
        out.append(_storage_finding(lab, server, view, bmc, ports, want, seen, drivers))
    return out


def _storage_finding(lab: Lab, server: str, view: HostView, bmc: ServerFacts | None,
                     ports: list[tuple[str, int, str]],
                     want: dict[str, list[tuple[str, int, str]]],
                     seen: dict[str, list[StorageAdapter]],
                     drivers: dict[str, frozenset[str]]) -> Finding:
    names = {"iscsi": "dependent iSCSI", "fcoe": "FCoE"}
    parts = [f"{len(seen[k])} {names[k]} adapter(s) ({'/'.join(sorted(drivers[k]))}"
             + (f": {', '.join(h.name for h in seen[k])}" if seen[k] else "")
             + f") where the lab's personalities give {len(want[k])}"
             for k in ("iscsi", "fcoe") if len(seen[k]) != len(want[k])]
    reported: dict[str, str | None] = {}
    if bmc is not None:
        for aname, number, _ in ports:
            adapter = lab.servers[server].adapters[aname]
            facts = find_adapter(bmc, adapter)
            reported[f"{aname}/port{number}"] = (facts.personality(number)
                                                 if facts is not None else None)
    differs = {p: r for p, r in reported.items() if r is not None
               and r != lab.servers[server].adapters[p.split("/")[0]].ports[
                   int(p.rsplit("port", 1)[1])].personality}
    unknown = [p for p, r in reported.items() if r is None]
    if differs:
        tie = ("the BMC reports " + ", ".join(f"{p} in {r}" for p, r in sorted(differs.items()))
               + " personality: that is what the host enumerated")
    elif bmc is not None and unknown:
        tie = (f"the BMC ({bmc.manager_type}) cannot show the ports' personality; the host's "
               "adapters say it differs from the lab")
    elif bmc is not None:
        tie = ("the BMC reports the lab's personalities: the host has not picked them up (a "
               "reset pending?) or a driver is missing")
    else:
        tie = "the ports' personality differs from the lab (no BMC in the inventory to confirm)"
    lab_ports = ", ".join(f"{a} port {n}: {p}" for a, n, p in ports)
    steps = "; ".join(
        manual_step(server, lab.servers[server].adapters[a], n, personality_item(p))
        for a, n, p in ports if f"{a}/port{n}" in differs or not differs)
    return Finding(
        "F10", "error", server,
        f"{view.host} has {'; '.join(parts)} ({lab_ports})",
        cause=(f"{tie}. In FCoE personality a FlexFabric port offers the host an FCoE "
               "function instead of its iSCSI one, so the dependent iSCSI adapters (and the "
               "iSCSI vmknics bound to them) are gone"),
        fix=("set the ports' personality as the lab says through the BMC and reset the server "
             "(`labharness run --allow-disruptive` does it where iLO 5 allows), or by hand: "
             + steps),
        check="host-storage-adapters", source="observed",
        evidence={"host": view.host, "command": "esxcli storage core adapter list",
                  "adapters": [a.to_dict() for a in view.storage_adapters],
                  "lab": lab_ports, "bmc_personality": dict(reported)})


# ---------------------------------------------------------------------------------------------
# F10/F11: each adapter port's vmnic as the host sees it


def _version_in(version: str, text: str) -> bool:
    """Whether the BMC's firmware version appears in the driver's firmware string (drivers
    decorate it: "bc 7.17.33", "FFV20.16.41")."""
    return re.search(rf"(?<![\d.]){re.escape(version)}(?![\d.])", text) is not None


def check_adapter_port_nic(lab: Lab, server: str, adapter_name: str, port: int,
                           view: HostView, bmc_firmware: str | None = None) -> list[Finding]:
    """The vmnic of one adapter port, from the host: present, with the adapter model's driver
    and the firmware the BMC (else the lab) reports (F10: the server build); with link at the
    adapter's speed when the cabling plan cables it (F11: an uplink without link)."""
    adapter = lab.servers[server].adapters[adapter_name]
    vmnic = adapter.ports[port].vmnic
    subject = f"{server}/{adapter_name}/port{port}"
    if vmnic is None:
        return []
    nic = view.nics.get(vmnic)
    label = f"{view.host} {vmnic} ({adapter.model} port {port})"
    if nic is None:
        return [Finding("F10", "error", subject, f"{view.host} has no {vmnic}: the lab makes it "
                        f"of {adapter.model} port {port}",
                        cause="the adapter is missing, disabled in BIOS, or its driver is not "
                              "loaded", fix="see the server-build findings; install the driver",
                        check="host-nic", source="observed",
                        evidence={"host": view.host, "command": "esxcli network nic list",
                                  "nics": sorted(view.nics)})]
    evidence: dict[str, JsonValue] = {"host": view.host,
                                      "command": f"esxcli network nic list; esxcli network "
                                                 f"nic get -n {vmnic}",
                                      "nic": nic.to_dict()}
    out: list[Finding] = []
    drivers = accepted_drivers(adapter.model)["nic"]
    if nic.driver not in drivers:
        out.append(Finding(
            "F10", "error", subject, f"{label} runs driver {nic.driver}, not one ESXi uses for "
            f"the {adapter.model} ({', '.join(sorted(drivers))})",
            cause="another adapter is in this slot, or ESXi claimed the port with an "
                  "unsupported driver", fix="fit the lab's adapter or install its driver VIB",
            check="host-nic", source="observed", evidence=evidence))
    want = bmc_firmware or adapter.firmware
    if want and (nic.firmware is None or not _version_in(want, nic.firmware)):
        whose = "the BMC reports" if bmc_firmware else "the lab says"
        out.append(Finding(
            "F10", "error", subject, f"{label} reports firmware {nic.firmware or 'none'}; "
            f"{whose} {want}",
            cause="the host reads another adapter or firmware than the BMC inventory (a "
                  "firmware update not yet active until a cold boot, or another card)",
            fix="update the adapter firmware to the lab's version (HPE SPP) and power-cycle",
            check="host-nic", source="observed",
            evidence={**evidence, "expected_firmware": want}))
    cabled = expected_neighbours(lab).get((view.host, vmnic))
    if cabled is not None:
        speed = ADAPTERS[adapter.model].speed_gbps * 1000
        if not (nic.admin_up and nic.link_up):
            out.append(Finding(
                "F11", "error", subject,
                f"{label} has no link (admin {'up' if nic.admin_up else 'down'}, link "
                f"{'up' if nic.link_up else 'down'}) though the cabling plan cables it to "
                f"{cabled[0]} {cabled[1]}",
                cause="the cable, transceiver or switch port is down (shutdown, err-disabled), "
                      "or the vmnic is administratively down",
                fix=f"check the cable and {cabled[0]} {cabled[1]}; `esxcli network nic up -n "
                    f"{vmnic}` if it is down on the host",
                check="host-nic-link", source="observed", evidence=evidence))
        elif nic.speed_mb != speed or nic.duplex.lower() != "full":
            out.append(Finding(
                "F11", "warning", subject,
                f"{label} links at {nic.speed_mb} Mb/s {nic.duplex}, the adapter does {speed} "
                "Mb/s full duplex",
                cause="auto-negotiation with the switch port settled lower (port speed setting, "
                      "cable or transceiver)",
                fix=f"check {cabled[0]} {cabled[1]}'s speed setting and the optics",
                check="host-nic-link", source="observed", evidence=evidence))
    return out

