"""The lab's network proven on the wire: cabling (CDP/LLDP), uplinks, vMotion and iSCSI paths,
unicast-NLB flooding. Every verdict comes from real frames, sent and captured by the probe VMs
of the hosts (a trunk on each virtual switch, a NIC pinned to each uplink) and by the lab's VMs.
"""

from __future__ import annotations

import pytest

from harness.checks.finding import Finding
from harness.checks.network import (
    check_neighbours,
    check_uplinks,
    diagnose_path,
    explain_down_path,
    mtu_finding,
    path_finding,
)
from harness.drivers.probe.paths import PathPlan, PathProbes
from harness.drivers.probe.sites import EchoJob, MtuJob, ProbeSites, network_of
from harness.facts.wire import Heard, PathObservation, UplinkKey, VmknicTarget
from harness.lab.model import Lab
from harness.lab.views import host_port_groups
from harness.pytest_plugin import assert_no_findings
from suites.conftest import (
    UplinkProbe,
    answers_of,
    cite_frames,
    echo_evidence,
    measure_paths,
    session_subjects,
    vmknic_with,
)

pytestmark = pytest.mark.needs("probe")


def _key(subject: str) -> UplinkKey:
    host, vmnic = subject.split("/", 1)
    return host, vmnic


def _pair(subject: str) -> tuple[str, str]:
    a, b = subject.split("->")
    return a, b


@pytest.mark.incident("F11")
@pytest.mark.needs("vsphere")
@pytest.mark.per_subject("cabled_vmnics")
def test_cabling_matches_cdp_lldp(lab: Lab, heard: dict[UplinkKey, list[Heard]],
                                  dead_uplinks: set[UplinkKey], subject: str) -> None:
    """Each cabled vmnic hears the switch and port the cabling plan names (CDP/LLDP as the
    host heard them on that vmnic's wire); a silent one is told apart as F11 or F10 by the
    uplinks' own reachability."""
    findings = check_neighbours(lab, heard, dead_uplinks)
    assert_no_findings(f for f in findings if f.subject == subject)


@pytest.mark.incident("F11")
@pytest.mark.per_subject("cabled_vmnics")
def test_uplink_passes_traffic(
        lab: Lab, uplinks: dict[UplinkKey, UplinkProbe], subject: str) -> None:
    """Each uplink, standby included, answers echoes sent out of it alone."""
    mine = uplinks[_key(subject)]
    if mine.reachable is None:
        pytest.skip(f"{subject} carries no VLAN of the lab with an address to probe")
    reachable = {k: u.reachable for k, u in uplinks.items() if u.reachable is not None}
    evidence = {k: u.evidence for k, u in uplinks.items()}
    findings = [f for f in check_uplinks(lab, reachable, evidence) if f.subject == subject]
    if findings:
        evidence[_key(subject)] = {**mine.evidence,
                                   **cite_frames(f"uplink {subject}", mine.frames)}
        findings = [f for f in check_uplinks(lab, reachable, evidence) if f.subject == subject]
    assert_no_findings(findings)


def _echo_job(lab: Lab, a: str, theirs: VmknicTarget) -> EchoJob:
    """Echoes from `a`'s probe VM on the port group of `theirs`, as a member of the network
    that holds its address."""
    network = network_of(lab, str(theirs.ip.ip))
    return EchoJob(a, theirs.port_group, str(theirs.ip.ip),
                   network=network[0] if network else None, count=3)


def _mtu_job(a: str, theirs: VmknicTarget, required: int) -> MtuJob:
    return MtuJob(a, theirs.port_group, str(theirs.ip.ip), hi=required)


def _reach(lab: Lab, probe_sites: ProbeSites, paths: PathProbes,
           targets: dict[tuple[str, str], VmknicTarget], dead: set[UplinkKey], a: str,
           theirs: VmknicTarget, check: str, what: str, unknown: str) -> list[Finding]:
    """Echoes from `a`'s probe VM on the port group of `theirs`: answered on that VLAN by that
    vmknic, or a finding that says where the answers went (another vmknic of its host, on
    another VLAN), what explains the silence, or that nothing does."""
    _switch, vlan = probe_sites.port_group(a, theirs.port_group)
    job = _echo_job(lab, a, theirs)
    echo = paths.echo(job)
    if echo.answered == echo.sent and echo.sent:
        return []
    evidence = {**echo_evidence(echo), "attempts": paths.tries(job)}
    host_vmknics = [t for (h, _), t in targets.items() if h == theirs.host]
    incident, cause, more = explain_down_path(
        lab, source_host=a, target=theirs, vlan=vlan, answers=answers_of(echo),
        host_vmknics=host_vmknics, dead=dead, unknown=unknown)
    obs = PathObservation(f"{a} probe ({theirs.port_group}, VLAN {vlan})", theirs.subject,
                          False, "no answer", evidence={
                              **evidence, **more,
                              **cite_frames(f"{check} {a}->{theirs.subject}", echo.frames)})
    return [path_finding(obs, incident, check,
                         f"{what} traffic to {theirs.subject} ({theirs.ip.ip}) from {a} on "
                         f"{theirs.port_group} (VLAN {vlan}) gets {echo.answered} of "
                         f"{echo.sent} answers", cause=cause,
                         fix=(f"give {theirs.name} its own subnet (or its own TCP/IP stack)"
                              if incident == "F12" else "restore the path (see the uplink "
                              "findings and the frames in the evidence)"),
                         subject=theirs.subject)]


def _vmotion_ends(lab: Lab, targets: dict[tuple[str, str], VmknicTarget], subject: str
                  ) -> tuple[str, VmknicTarget, int]:
    """(a, b's vMotion vmknic, the MTU of a's vMotion vmknic) of a vMotion pair."""
    a, b = _pair(subject)
    mine = vmknic_with(lab, targets, a, "vmotion")[0]
    theirs = vmknic_with(lab, targets, b, "vmotion")[0]
    return a, theirs, lab.hosts[a].vmknics[mine.name].mtu


def _iscsi_ends(lab: Lab, targets: dict[tuple[str, str], VmknicTarget], subject: str
                ) -> tuple[str, list[VmknicTarget], int]:
    """(a, every iSCSI vmknic of b, the largest MTU of a's iSCSI vmknics) of an iSCSI pair."""
    a, b = _pair(subject)
    required = max(lab.hosts[a].vmknics[t.name].mtu
                   for t in vmknic_with(lab, targets, a, "iscsi"))
    return a, vmknic_with(lab, targets, b, "iscsi"), required


def plan_path_probes(lab: Lab, targets: dict[tuple[str, str], VmknicTarget],
                     request: pytest.FixtureRequest) -> PathPlan:
    """Every vMotion and iSCSI path this session tests: its echoes, then the path MTU of each
    that answered (measured ahead of the tests: `measure_paths`)."""
    ends: list[tuple[str, VmknicTarget, int | None]] = []
    for subject in session_subjects(request, test_vmotion_reaches_the_peers_vmotion_vmk):
        a, theirs, _mtu = _vmotion_ends(lab, targets, subject)
        ends.append((a, theirs, None))
    for subject in session_subjects(request, test_vmotion_path_carries_the_vmk_mtu):
        ends.append(_vmotion_ends(lab, targets, subject))
    for subject in session_subjects(request, test_iscsi_paths_carry_the_vmk_mtu):
        a, theirs_all, required = _iscsi_ends(lab, targets, subject)
        ends += [(a, theirs, required) for theirs in theirs_all]
    echoes = [_echo_job(lab, a, theirs) for a, theirs, _ in ends]
    return PathPlan(tuple(echoes), tuple(
        (e, _mtu_job(a, theirs, mtu)) for e, (a, theirs, mtu) in zip(echoes, ends, strict=True)
        if mtu is not None))


@pytest.fixture(scope="module")
def paths(lab: Lab, path_probes: PathProbes,
          vmknic_targets: dict[tuple[str, str], VmknicTarget],
          request: pytest.FixtureRequest) -> PathProbes:
    """The session's vMotion and iSCSI paths, measured at once: the pair tests read their
    own."""
    return measure_paths(request, path_probes, plan_path_probes(lab, vmknic_targets, request))


@pytest.mark.incident("F12")
@pytest.mark.per_subject("vmotion_pairs")
def test_vmotion_reaches_the_peers_vmotion_vmk(
        lab: Lab, probe_sites: ProbeSites, paths: PathProbes,
        vmknic_targets: dict[tuple[str, str], VmknicTarget], dead_uplinks: set[UplinkKey],
        subject: str) -> None:
    """vMotion traffic from a's vMotion network reaches b's vMotion vmknic and is answered on
    the vMotion VLAN by that vmknic (F12: with vmk0 and vmk1 in one subnet, b answers from vmk0
    on the management VLAN and nothing comes back)."""
    a, theirs, _mtu = _vmotion_ends(lab, vmknic_targets, subject)
    assert_no_findings(_reach(lab, probe_sites, paths, vmknic_targets, dead_uplinks, a, theirs,
                              "vmotion-path", "vMotion", unknown="F12"))


def _jumbo_path(lab: Lab, probe_sites: ProbeSites, paths: PathProbes,
                targets: dict[tuple[str, str], VmknicTarget], dead: set[UplinkKey], a: str,
                theirs: VmknicTarget, required: int, what: str) -> list[Finding]:
    """The path from a's probe VM to `theirs` carries `required`-byte packets with DF set; a
    path that does not answer at all is explained (or said to be unexplained) instead."""
    down = _reach(lab, probe_sites, paths, targets, dead, a, theirs, "path-mtu", what,
                  unknown="F02")
    if down:
        return down
    job = _mtu_job(a, theirs, required)
    result = paths.path_mtu(job)
    if result.path_mtu >= required:
        return []
    hop = result.limiting_hop
    lost = sum(1 for p in result.probes if p.outcome == "timeout")
    obs = PathObservation(f"{a} probe ({theirs.port_group})", theirs.subject, False,
                          result.method, evidence={
                              "path_mtu": result.path_mtu, "method": result.method,
                              "size_probes": result.size_probes, "lost": lost,
                              "attempts": paths.tries(job),
                              "probes": [p.to_dict() for p in result.probes],
                              "icmp_answered": result.icmp_answered,
                              "trace": [{"ttl": h.ttl, "address": h.address}
                                        for h in result.trace],
                              **cite_frames(f"path-mtu {a}->{theirs.subject}", result.frames)})
    return [mtu_finding(obs, result.path_mtu, required, hop.address if hop else None,
                        hop.mtu if hop else None, what)]


@pytest.mark.incident("F02")
@pytest.mark.per_subject("vmotion_pairs")
def test_vmotion_path_carries_the_vmk_mtu(
        lab: Lab, probe_sites: ProbeSites, paths: PathProbes,
        vmknic_targets: dict[tuple[str, str], VmknicTarget], dead_uplinks: set[UplinkKey],
        subject: str) -> None:
    """From a's vMotion network to b's vMotion vmknic, DF set, at the MTU the lab gives a's
    vMotion vmknic (what vmkping -d -s does between them)."""
    a, theirs, required = _vmotion_ends(lab, vmknic_targets, subject)
    assert_no_findings(_jumbo_path(lab, probe_sites, paths, vmknic_targets, dead_uplinks, a,
                                   theirs, required, "vMotion"))


@pytest.mark.incident("F02")
@pytest.mark.per_subject("iscsi_pairs")
def test_iscsi_paths_carry_the_vmk_mtu(
        lab: Lab, probe_sites: ProbeSites, paths: PathProbes,
        vmknic_targets: dict[tuple[str, str], VmknicTarget], dead_uplinks: set[UplinkKey],
        subject: str) -> None:
    """From a's iSCSI network to every iSCSI vmknic of b (each port-bound path), DF set, at
    the MTU the lab gives a's iSCSI vmknics."""
    a, targets, required = _iscsi_ends(lab, vmknic_targets, subject)
    findings: list[Finding] = []
    for theirs in targets:
        findings += _jumbo_path(lab, probe_sites, paths, vmknic_targets, dead_uplinks, a,
                                theirs, required, "iSCSI")
    assert_no_findings(findings)


@pytest.mark.incident("F09")
@pytest.mark.per_subject("nlb_clusters")
def test_unicast_nlb_floods_to_every_node(lab: Lab, probe_sites: ProbeSites,
                                          path_probes: PathProbes,
                                          dead_uplinks: set[UplinkKey], subject: str) -> None:
    """Frames to the cluster MAC, sent from a host that runs no member, reach every member:
    the physical switches keep flooding them because none may learn the cluster MAC."""
    cluster = lab.nlb_clusters[subject]
    if cluster.mode != "unicast":
        pytest.skip(f"{subject} is {cluster.mode}: switches handle its MAC as multicast")
    member_hosts = {lab.vms[m].host for m in cluster.members}
    vlan = host_port_groups(lab, lab.vms[cluster.members[0]].host)[cluster.port_group].vlan
    senders = [(h, pg) for h in lab.hosts if h not in member_hosts and h in probe_sites.hosts
               for pg in [_port_group_on(lab, h, cluster.port_group, vlan)] if pg is not None]
    if not senders:
        pytest.skip(f"every host with a probe VM and VLAN {vlan} runs a member of {subject}: "
                    "frames sent there stay on that host; give a host without a member a "
                    "probe VM")
    sender, pg = senders[0]
    path_probes.settle()  # the members count frames in a short window: not beside a batch
    flood = probe_sites.flood(sender, pg, cluster.effective_cluster_mac, cluster.members)
    obs = PathObservation(f"{sender} probe ({pg}, VLAN {vlan})", flood.mac, True, "",
                          evidence={"sender": sender, **flood.to_dict(),
                                    **cite_frames(f"flood {subject}", [
                                        f for frames in flood.frames.values()
                                        for f in frames])})
    silent = sorted(m for m in cluster.members if flood.received.get(m, 0) < flood.sent)
    findings: list[Finding] = []
    if silent:
        explained = [why for m in silent
                     for why in [diagnose_path(lab, lab.vms[m].host, cluster.port_group,
                                               dead_uplinks)] if why is not None]
        reached = ", ".join(flood.reached) or "no"
        incident, cause = explained[0] if explained else (
            "F09", f"the frames reach {reached} member: a switch learned the cluster MAC on "
                   "one port (a node announced it: notify switches on the NLB port group), so "
                   "frames to the VIP no longer flood")
        findings.append(path_finding(
            obs, incident, "nlb-flooding",
            f"NLB cluster {subject}: {', '.join(silent)} received "
            f"{', '.join(str(flood.received.get(m, 0)) for m in silent)} of {flood.sent} "
            f"frames to {flood.mac}",
            cause=cause, fix=f"set Notify Switches to No on {cluster.port_group} and flush the "
                             "switches' MAC tables" if incident == "F09" else
                             "restore the uplink (see the uplink findings)",
            subject=subject))
    assert_no_findings(findings)


def _port_group_on(lab: Lab, host: str, port_group: str, vlan: int) -> str | None:
    """`port_group` if the host has it, else any port group of the host on the same VLAN (the
    probe sends on the VLAN; which port group carries it there does not matter)."""
    here = host_port_groups(lab, host)
    if port_group in here:
        return port_group
    return next((name for name, pg in sorted(here.items()) if pg.vlan == vlan), None)
