"""Design checks: pure functions from a DesignView to findings, one per field incident.

Each function reads only the view, so the same check runs on the lab file (intent) and on what
vCenter reports (observed). Subjects use the lab's names: `esx01/vmk1`, `esx01/dvpg-nlb`.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations

from harness.checks.compat import check_host_versions
from harness.checks.finding import Finding
from harness.checks.view import DesignView, HostView
from harness.facts import JsonValue
from harness.lab.reference import Reference
from harness.lab.views import VXLAN_MIN_MTU

# VMware's range for statically assigned MACs (vSphere Networking: "Static MAC addresses").
STATIC_MAC_LOW = 0x005056000000
STATIC_MAC_HIGH = 0x0050563FFFFF
SALT_KEY = "sched.mem.pshare.salt"
SALTING_OPTION = "Mem.ShareForceSalting"


def check_vxlan_mtu(view: DesignView, ref: Reference) -> list[Finding]:
    """F02: VTEP vmknics, their switches and the underlay must carry 1600-byte frames."""
    out: list[Finding] = []
    for host in view.hosts.values():
        for vmk in host.vmknics.values():
            if "vxlan" not in vmk.services:
                continue
            subject = f"{host.name}/{vmk.name}"
            if vmk.mtu < VXLAN_MIN_MTU:
                out.append(Finding(
                    "F02", "error", subject, f"VTEP {vmk.name} has MTU {vmk.mtu}",
                    cause="VXLAN adds 50 bytes to every frame; a VTEP below 1600 drops or "
                          "fragments full-size overlay frames (small pings pass, real traffic "
                          "stalls)",
                    fix=f"set the MTU of {vmk.name} to at least {VXLAN_MIN_MTU} (NSX host "
                        "preparation: VXLAN MTU)",
                    check="vxlan-mtu", source=view.source,
                    evidence={"vmknic": vmk.name, "mtu": vmk.mtu, "required": VXLAN_MIN_MTU}))
            pg = host.port_groups.get(vmk.port_group)
            if pg is not None and pg.switch_mtu < VXLAN_MIN_MTU:
                out.append(Finding(
                    "F02", "error", subject,
                    f"VTEP {vmk.name} sits on {pg.switch} whose MTU is {pg.switch_mtu}",
                    cause="the switch MTU caps every frame the VTEP sends, so encapsulated "
                          "1500-byte frames cannot leave the host",
                    fix=f"raise the MTU of {pg.switch} to at least {VXLAN_MIN_MTU}",
                    check="vxlan-mtu", source=view.source,
                    evidence={"switch": pg.switch, "mtu": pg.switch_mtu,
                              "required": VXLAN_MIN_MTU}))
    for hop in view.underlay:
        if hop.mtu < VXLAN_MIN_MTU:
            out.append(Finding(
                "F02", "error", hop.subject, f"{hop.what} {hop.subject} on the VXLAN underlay "
                f"has MTU {hop.mtu}",
                cause="overlay traffic across L3 fails until every underlay hop carries "
                      f"{VXLAN_MIN_MTU}-byte frames (the field notes' router)",
                fix=f"set the MTU of {hop.subject} to at least {VXLAN_MIN_MTU}, on both ends "
                    "of the link",
                check="vxlan-mtu", source=view.source,
                evidence={"hop": hop.subject, "kind": hop.what, "mtu": hop.mtu,
                          "required": VXLAN_MIN_MTU}))
    return out


def check_nlb_port_group(view: DesignView, ref: Reference) -> list[Finding]:
    """F09: a unicast NLB port group must accept MAC changes and forged transmits and must not
    notify switches."""
    out: list[Finding] = []
    for cluster in view.nlb_clusters.values():
        if cluster.mode != "unicast":
            continue
        hosts = sorted({view.vms[m].host for m in cluster.members if m in view.vms})
        for hname in hosts:
            host = view.hosts.get(hname)
            pg = host.port_groups.get(cluster.port_group) if host else None
            if pg is None:
                continue
            subject = f"{hname}/{pg.name}"
            evidence: dict[str, JsonValue] = {
                "cluster": cluster.name, "cluster_mac": cluster.cluster_mac,
                "mac_changes": pg.security.mac_changes,
                "forged_transmits": pg.security.forged_transmits,
                "notify_switches": pg.teaming.notify_switches,
            }
            rejected = [n for n, ok in (("MAC address changes", pg.security.mac_changes),
                                        ("forged transmits", pg.security.forged_transmits))
                        if not ok]
            if rejected:
                out.append(Finding(
                    "F09", "error", subject,
                    f"port group {pg.name} of unicast NLB cluster {cluster.name} rejects "
                    f"{' and '.join(rejected)}",
                    cause="unicast NLB replaces each member's MAC with the cluster MAC "
                          f"{cluster.cluster_mac}; the vSwitch drops those frames",
                    fix=f"set {' and '.join(rejected)} to Accept on {pg.name}",
                    check="nlb-port-group", source=view.source, evidence=evidence))
            if pg.teaming.notify_switches:
                out.append(Finding(
                    "F09", "error", subject,
                    f"port group {pg.name} of unicast NLB cluster {cluster.name} notifies "
                    "switches",
                    cause="a RARP from one member teaches the physical switch the cluster MAC "
                          "on one port: the VIP then reaches only that node",
                    fix=f"set Notify Switches to No on {pg.name}",
                    check="nlb-port-group", source=view.source, evidence=evidence))
    return out


def check_beacon_uplinks(view: DesignView, ref: Reference) -> list[Finding]:
    """F11: beacon probing needs at least three uplinks to tell which one failed."""
    out: list[Finding] = []
    for host in view.hosts.values():
        for pg in host.port_groups.values():
            team = pg.teaming
            if team.failure_detection == "beacon_probing" and len(team.uplinks) < 3:
                out.append(Finding(
                    "F11", "error", f"{host.name}/{pg.name}",
                    f"beacon probing on {len(team.uplinks)} uplink(s) "
                    f"({', '.join(team.uplinks) or 'none'})",
                    cause="with two uplinks a lost beacon cannot say which uplink failed; ESXi "
                          "then shotguns traffic out of both and the failover misbehaves",
                    fix="use link-status failure detection, or give the team at least 3 uplinks",
                    check="beacon-uplinks", source=view.source,
                    evidence={"failure_detection": team.failure_detection,
                              "uplinks": list(team.uplinks)}))
    return out


def check_adapter_redundancy(view: DesignView, ref: Reference) -> list[Finding]:
    """F11: a team of two or more uplinks should not hang off one physical adapter."""
    out: list[Finding] = []
    for host in view.hosts.values():
        for pg in host.port_groups.values():
            uplinks = pg.teaming.uplinks
            adapters = {host.vmnic_adapter.get(u) for u in uplinks}
            if len(uplinks) >= 2 and len(adapters) == 1 and None not in adapters:
                adapter = adapters.pop()
                out.append(Finding(
                    "F11", "warning", f"{host.name}/{pg.name}",
                    f"all uplinks of {pg.name} ({', '.join(uplinks)}) are on adapter {adapter}",
                    cause="one adapter fault (firmware, personality, DCB) takes the whole team "
                          "down while links stay up",
                    fix="team uplinks from two different adapters",
                    check="adapter-redundancy", source=view.source,
                    evidence={"uplinks": list(uplinks), "adapter": adapter}))
    return out


def check_vmknic_subnets(view: DesignView, ref: Reference) -> list[Finding]:
    """F12: two vmknics of a host on one TCP/IP stack must not share a subnet (unless meant to)."""
    out: list[Finding] = []
    for host in view.hosts.values():
        vmks = sorted(host.vmknics.values(), key=lambda v: int(v.name[3:]))
        for first, second in combinations(vmks, 2):
            if first.ip is None or second.ip is None or first.tcpip_stack != second.tcpip_stack:
                continue
            if not first.ip.network.overlaps(second.ip.network):
                continue
            if second.name in first.subnet_shared_with or first.name in second.subnet_shared_with:
                continue
            out.append(Finding(
                "F12", "error", f"{host.name}/{second.name}",
                f"{second.name} ({second.ip}) shares a subnet with {first.name} ({first.ip})",
                cause=f"the host routes the whole subnet out of one vmknic (the first route, "
                      f"{first.name}): traffic meant for {second.name}"
                      f"{' (' + ', '.join(second.services) + ')' if second.services else ''} "
                      "leaves by the wrong VLAN and never arrives",
                fix=f"put {second.name} in its own subnet (or on its own TCP/IP stack)",
                check="vmknic-subnets", source=view.source,
                evidence={"vmknics": {first.name: str(first.ip), second.name: str(second.ip)},
                          "port_groups": {first.name: first.port_group,
                                          second.name: second.port_group}}))
    return out


def check_vm_mac_range(view: DesignView, ref: Reference) -> list[Finding]:
    """F14: static VM MACs must be inside 00:50:56:00:00:00-00:50:56:3F:FF:FF."""
    out: list[Finding] = []
    for vm in view.vms.values():
        for nic in vm.nics:
            if nic.address_type != "manual" or nic.mac is None:
                continue
            value = int(nic.mac.replace(":", ""), 16)
            if STATIC_MAC_LOW <= value <= STATIC_MAC_HIGH:
                continue
            override = str(vm.extra_config.get(f"{nic.label}.checkMACAddress", "true")).lower()
            if override == "false":
                continue
            out.append(Finding(
                "F14", "error", f"{vm.name}/{nic.label}",
                f"static MAC {nic.mac} is outside VMware's static range",
                cause="ESXi refuses to power on a VM whose static MAC is outside "
                      "00:50:56:00:00:00-00:50:56:3F:FF:FF (MACs kept from Workstation are)",
                fix=f"give {nic.label} a MAC in 00:50:56:00:00:00-00:50:56:3F:FF:FF, or allow "
                    f"it explicitly with {nic.label}.checkMACAddress = \"FALSE\"",
                check="vm-mac-range", source=view.source,
                evidence={"mac": nic.mac, "address_type": nic.address_type}))
    return out


def check_ntp_servers(view: DesignView, ref: Reference) -> list[Finding]:
    """F05: every host has NTP servers."""
    return [
        Finding(
            "F05", "error", host.name, f"{host.name} has no NTP servers",
            cause="without NTP host clocks drift minutes apart; VMware Tools then sets guest "
                  "clocks from the host at boot (the Exchange Information Store that would not "
                  "start)",
            fix="set the lab's NTP servers on the host, start ntpd with policy 'on' and enable "
                "the NTP client firewall rule",
            check="ntp-servers", source=view.source, evidence={"ntp_servers": []})
        for host in view.hosts.values() if not host.ntp_servers
    ]


def _salting(host: HostView) -> int:
    value = host.advanced_options.get(SALTING_OPTION, 2)
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def check_page_sharing(view: DesignView, ref: Reference) -> list[Finding]:
    """F04: Mem.ShareForceSalting and per-VM salts must give the page sharing the lab intends."""
    out: list[Finding] = []
    for host in view.hosts.values():
        salting = _salting(host)
        salts = {vm.name: str(vm.extra_config[SALT_KEY]) for vm in view.vms.values()
                 if vm.host == host.name and SALT_KEY in vm.extra_config}
        shared = sorted(s for s, n in Counter(salts.values()).items() if n >= 2)
        evidence: dict[str, JsonValue] = {"Mem.ShareForceSalting": salting, "salts": salts,
                    "intent": host.page_sharing}
        problem = None
        if salting not in (0, 1, 2):
            problem = (f"{SALTING_OPTION} is {host.advanced_options.get(SALTING_OPTION)!r}",
                       "only 0, 1 and 2 are meaningful", f"set {SALTING_OPTION} to 0, 1 or 2")
        elif host.page_sharing == "intra_vm" and (salting != 2 or shared):
            problem = (
                f"page sharing should stay inside each VM, but {SALTING_OPTION}={salting}"
                + (f" and VMs share salt(s) {', '.join(shared)}" if shared else ""),
                "salting 0/1 or a shared sched.mem.pshare.salt lets VMs share pages",
                f"set {SALTING_OPTION}=2 and give no two VMs the same salt")
        elif host.page_sharing == "inter_vm" and salting != 0:
            problem = (f"inter-VM page sharing is intended, but {SALTING_OPTION}={salting}",
                       "since 5.5U2/6.0 salting (default 2) silently turns inter-VM sharing off",
                       f"set {SALTING_OPTION}=0")
        elif host.page_sharing == "salt_groups" and (salting == 0 or not shared):
            problem = (f"salt groups are intended, but {SALTING_OPTION}={salting} and "
                       f"{'no two VMs share a salt' if not shared else 'salts are ignored'}",
                       "VMs share pages only with VMs of the same sched.mem.pshare.salt when "
                       f"{SALTING_OPTION} is 1 or 2",
                       f"set {SALTING_OPTION}=2 and the same sched.mem.pshare.salt on each "
                       "group's VMs")
        elif host.page_sharing is None and salting == 0 and salts:
            problem = (f"VMs set {SALT_KEY} but {SALTING_OPTION}=0 ignores it",
                       "with salting 0 every VM shares pages with every other VM",
                       f"set {SALTING_OPTION}=2, or remove the salts")
        if problem:
            message, cause, fix = problem
            out.append(Finding("F04", "error", host.name, message, cause=cause, fix=fix,
                               check="page-sharing", source=view.source, evidence=evidence))
    return out


def check_version_skew(view: DesignView, ref: Reference) -> list[Finding]:
    """F08: every host runs an ESXi build its vCenter release can manage."""
    if view.vcenter is None:
        return []
    hosts = [(h.name, h.version, h.build) for h in view.hosts.values()]
    return check_host_versions(view.vcenter.version, view.vcenter.build, hosts, view.source,
                               vcenter_name=view.vcenter.name, table=ref.compat)
