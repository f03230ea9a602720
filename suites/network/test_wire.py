"""The lab's network proven on the wire: cabling (CDP/LLDP), uplinks, vMotion and iSCSI paths,
unicast-NLB flooding. Every verdict comes from real frames sent and captured by probe agents.
"""

from __future__ import annotations

import pytest

from harness.checks.finding import Finding
from harness.checks.network import (
    check_neighbours,
    check_uplinks,
    diagnose_path,
    mtu_finding,
    path_finding,
)
from harness.drivers.probe.errors import ProbeError
from harness.facts import JsonValue
from harness.facts.wire import Heard, PathObservation, UplinkKey
from harness.lab.model import Lab
from harness.probes.flood import measure_flood
from harness.pytest_plugin import assert_no_findings
from harness.sim.probesites import SimProbeSites

pytestmark = pytest.mark.needs("probe")

# probe errors that mean "the network path is down", as opposed to harness failures
PATH_DOWN = ("NoArpReply", "Unreachable", "NoRoute")


def _key(subject: str) -> UplinkKey:
    host, vmnic = subject.split("/", 1)
    return host, vmnic


@pytest.mark.incident("F11")
@pytest.mark.per_subject("cabled_vmnics")
def test_cabling_matches_cdp_lldp(lab: Lab, heard: dict[UplinkKey, list[Heard]],
                                  dead_uplinks: set[UplinkKey], subject: str) -> None:
    """Each cabled vmnic hears the switch and port the cabling plan names."""
    findings = check_neighbours(lab, heard, dead_uplinks)
    assert_no_findings(f for f in findings if f.subject == subject)


@pytest.mark.incident("F11")
@pytest.mark.per_subject("cabled_vmnics")
def test_uplink_passes_traffic(
        lab: Lab, uplinks: dict[UplinkKey, tuple[bool | None, dict[str, JsonValue]]],
        subject: str) -> None:
    """Each uplink, standby included, answers a probe sent out of it alone."""
    if uplinks[_key(subject)][0] is None:
        pytest.skip(f"{subject} carries no VLAN with an address to probe")
    reachable = {k: ok for k, (ok, _) in uplinks.items() if ok is not None}
    evidence = {k: ev for k, (_, ev) in uplinks.items()}
    findings = [f for f in check_uplinks(lab, reachable, evidence) if f.subject == subject]
    assert_no_findings(findings)


def _pair(subject: str) -> tuple[str, str]:
    a, b = subject.split("->")
    return a, b


@pytest.mark.incident("F12")
@pytest.mark.per_subject("vmotion_pairs")
def test_vmotion_leaves_by_the_vmotion_vmk(lab: Lab, probe_sites: SimProbeSites,
                                          dead_uplinks: set[UplinkKey], subject: str) -> None:
    """vMotion traffic to the peer's vMotion vmknic leaves by this host's vMotion vmknic and is
    answered (F12: with vmk0 and vmk1 in one subnet it leaves by vmk0 and never arrives)."""
    a, b = _pair(subject)
    mine, theirs = probe_sites.vmknic(a, "vmotion"), probe_sites.vmknic(b, "vmotion")
    assert mine is not None and theirs is not None
    dst = str(theirs.ip.ip)
    result = probe_sites.at(a).egress_path(dst, candidates="vmk*", timeout=0.5)
    obs = PathObservation(f"{a}/{mine.name}", f"{b}/{theirs.name}", result.echo_replied,
                          f"left by {result.route_iface}", evidence={
                              "route_iface": result.route_iface, "route_src": result.route_src,
                              "arp_answered": result.arp_answered,
                              "answered_by_mac": result.answered_by_mac,
                              "frames_out": dict(result.frames_out),
                              "reply_iface": result.reply_iface, "dst": dst})
    findings: list[Finding] = []
    if result.route_iface != mine.name:
        findings.append(path_finding(
            obs, "F12", "vmotion-path",
            f"vMotion traffic to {b}/{theirs.name} ({dst}) leaves {a} by "
            f"{result.route_iface}, not {mine.name}"
            + ("" if result.echo_replied else "; nothing answered"),
            cause=f"{result.route_iface} and {mine.name} share the subnet of {dst}: the host "
                  f"routes it out of {result.route_iface}, onto the wrong VLAN",
            fix=f"give {mine.name} its own subnet (or the vMotion TCP/IP stack)"))
    elif not result.echo_replied:
        why = diagnose_path(lab, a, mine.port_group, dead_uplinks) or \
            diagnose_path(lab, b, theirs.port_group, dead_uplinks)
        incident, cause = why or ("F12", "no dead uplink explains it: check VLAN and ARP on "
                                          "both hosts")
        findings.append(path_finding(
            obs, incident, "vmotion-path",
            f"vMotion traffic from {a}/{mine.name} to {b}/{theirs.name} gets no reply",
            cause=cause, fix="restore the path (see the uplink findings)"))
    assert_no_findings(findings)


def _jumbo_path(lab: Lab, probe_sites: SimProbeSites, dead_uplinks: set[UplinkKey],
                subject: str, service: str, what: str) -> list[Finding]:
    a, b = _pair(subject)
    mine, theirs = probe_sites.vmknic(a, service), probe_sites.vmknic(b, service)
    assert mine is not None and theirs is not None
    required = lab.hosts[a].vmknics[mine.name].mtu
    dst = str(theirs.ip.ip)
    obs = PathObservation(f"{a}/{mine.name}", f"{b}/{theirs.name}", True, "")
    try:
        result = probe_sites.at(a).path_mtu(dst, iface=mine.name, hi=required, lo=1200)
    except ProbeError as exc:  # no ARP reply, nothing answered: the path itself is down
        if exc.error_type not in PATH_DOWN:
            raise  # the harness failed (agent gone, refused request): not a lab verdict
        why = diagnose_path(lab, a, mine.port_group, dead_uplinks) or \
            diagnose_path(lab, b, theirs.port_group, dead_uplinks)
        if why is None:  # not an MTU question: the reachability tests judge this path
            pytest.skip(f"{what} path {obs.source} -> {obs.target} does not answer at any size "
                        f"({exc}); the path tests report why")
        return [path_finding(obs, why[0], "path-mtu", f"{what} path {obs.source} -> "
                             f"{obs.target} does not answer", cause=why[1],
                             fix="restore the uplink (see the uplink findings)")]
    if result.path_mtu >= required:
        return []
    hop = result.limiting_hop
    obs = PathObservation(obs.source, obs.target, False, result.method,
                          evidence={"path_mtu": result.path_mtu, "method": result.method,
                                    "size_probes": result.size_probes,
                                    "trace": [{"ttl": h.ttl, "address": h.address}
                                              for h in result.trace]})
    return [mtu_finding(obs, result.path_mtu, required, hop.address if hop else None,
                        hop.mtu if hop else None, what)]


@pytest.mark.incident("F02")
@pytest.mark.per_subject("vmotion_pairs")
def test_vmotion_path_carries_the_vmk_mtu(lab: Lab, probe_sites: SimProbeSites,
                                          dead_uplinks: set[UplinkKey], subject: str) -> None:
    """Out of the vMotion vmknic (vmkping -I), DF set, at the vmknic's MTU."""
    assert_no_findings(_jumbo_path(lab, probe_sites, dead_uplinks, subject, "vmotion",
                                   "vMotion"))


@pytest.mark.incident("F02")
@pytest.mark.per_subject("iscsi_pairs")
def test_iscsi_path_carries_the_vmk_mtu(lab: Lab, probe_sites: SimProbeSites,
                                        dead_uplinks: set[UplinkKey], subject: str) -> None:
    """Out of the first iSCSI vmknic to the peer's, DF set, at the vmknic's MTU."""
    assert_no_findings(_jumbo_path(lab, probe_sites, dead_uplinks, subject, "iscsi", "iSCSI"))


@pytest.mark.incident("F09")
@pytest.mark.per_subject("nlb_clusters")
def test_unicast_nlb_floods_to_every_node(lab: Lab, probe_sites: SimProbeSites,
                                          dead_uplinks: set[UplinkKey], subject: str) -> None:
    """Frames to the cluster MAC reach every member, and no switch learns the cluster MAC."""
    cluster = lab.nlb_clusters[subject]
    if cluster.mode != "unicast":
        pytest.skip(f"{subject} is {cluster.mode}: switches handle its MAC as multicast")
    mac = cluster.effective_cluster_mac
    client, iface, _ = probe_sites.client(subject)
    count = 20
    flood = measure_flood(client, iface, {m: probe_sites.vm(m) for m in cluster.members},
                          mac, count)
    received = dict(flood.received)
    learned = [{"switch": sw, "port": e.get("ifname"), "mac": mac}
               for sw in lab.physical_switches for e in probe_sites.switch_fdb(sw)
               if str(e.get("mac", "")).lower() == mac]
    obs = PathObservation(f"client->{subject}", mac, True, "", evidence={
        "sent": count, "received": dict(received), "learned": learned})
    findings: list[Finding] = []
    silent = sorted(m for m, n in received.items() if n < count)
    if learned or silent:
        dead_paths = [diagnose_path(lab, lab.vms[m].host, cluster.port_group, dead_uplinks)
                      for m in silent]
        explained = [d for d in dead_paths if d is not None]
        if explained and not learned:
            incident, cause = explained[0]
        else:
            incident, cause = "F09", (
                f"a switch learned the cluster MAC {mac} on "
                f"{', '.join(str(x['switch']) + ' ' + str(x['port']) for x in learned)}; "
                "frames to the VIP now go to that port only (a node announced the cluster MAC: "
                "notify switches on the port group)" if learned else
                "frames to the cluster MAC do not reach every node")
        findings.append(path_finding(
            obs, incident, "nlb-flooding",
            f"NLB cluster {subject}: " + (f"{', '.join(silent)} received "
                                          f"{', '.join(str(received[m]) for m in silent)} of "
                                          f"{count} frames" if silent else
                                          "the cluster MAC was learned"),
            cause=cause, fix=f"set Notify Switches to No on {cluster.port_group} and flush the "
                             "switches' MAC tables" if incident == "F09" else
                             "restore the uplink (see the uplink findings)",
            subject=subject))
    assert_no_findings(findings)
