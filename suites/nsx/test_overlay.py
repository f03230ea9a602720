"""NSX VXLAN: the underlay carries 1600-byte frames between every VTEP pair (F02), and overlay
VMs reach each other, through the DLR and out through the ESG, without duplicate replies (F03).
"""

from __future__ import annotations

import pytest

from harness.checks.finding import Finding
from harness.checks.network import (
    diagnose_path,
    edge_uplink,
    explain_down_path,
    mtu_finding,
    path_finding,
)
from harness.drivers.probe.client import AgentClient
from harness.drivers.probe.errors import ProbeError
from harness.drivers.probe.paths import PathPlan, PathProbes
from harness.drivers.probe.sites import EchoJob, MtuJob, OverlayJob, ProbeSites
from harness.facts import JsonValue
from harness.facts.wire import PathObservation, UplinkKey, VmknicTarget
from harness.lab.model import Lab
from harness.lab.views import VXLAN_MIN_MTU, VXLAN_OVERHEAD, overlay_mtu
from harness.probes.evidence import MAX_FRAMES
from harness.pytest_plugin import assert_no_findings
from suites.conftest import (
    answers_of,
    cite_frames,
    echo_evidence,
    measure_paths,
    session_subjects,
    vmknic_with,
)

pytestmark = pytest.mark.needs("probe")

PATH_DOWN = ("NoArpReply", "Unreachable", "NoRoute")  # path down, not a harness failure


def _capture(agent: AgentClient, iface: str, dst: str, subject: str) -> dict[str, JsonValue]:
    """Ping again while the VM's agent keeps the ICMP frames on its interface; attach them to
    the report as a pcap (they come back over the agent's channel, from a namespace or a VM
    reached over SSH alike)."""
    capture = agent.capture_start([iface], ip_proto=1, direction="any", keep=MAX_FRAMES)
    try:
        agent.overlay_ping(dst, count=5, interval=0.02, window=0.5)
    except ProbeError as exc:
        if exc.error_type not in PATH_DOWN:
            agent.capture_stop(capture)
            raise
    return cite_frames(f"overlay {subject}", agent.capture_stop(capture).frames)


def _vtep_jobs(lab: Lab, targets: dict[tuple[str, str], VmknicTarget], subject: str
               ) -> tuple[EchoJob, MtuJob]:
    """Echoes, then the path MTU up to 1600, from a's VTEP network to b's VTEP."""
    a, b = subject.split("->")
    mine = vmknic_with(lab, targets, a, "vxlan")[0]
    dst = str(vmknic_with(lab, targets, b, "vxlan")[0].ip.ip)
    return (EchoJob(a, mine.port_group, dst, count=3),
            MtuJob(a, mine.port_group, dst, hi=VXLAN_MIN_MTU))


@pytest.fixture(scope="module")
def vtep_paths(lab: Lab, path_probes: PathProbes,
               vmknic_targets: dict[tuple[str, str], VmknicTarget],
               request: pytest.FixtureRequest) -> PathProbes:
    """Every VTEP pair this session tests, echoed at once, then the path MTU of each that
    answered."""
    return measure_paths(request, path_probes, _vtep_plan(lab, vmknic_targets, request))


@pytest.mark.incident("F02")
@pytest.mark.per_subject("vtep_pairs")
def test_vtep_path_carries_1600(lab: Lab, probe_sites: ProbeSites, vtep_paths: PathProbes,
                                vmknic_targets: dict[tuple[str, str], VmknicTarget],
                                dead_uplinks: set[UplinkKey], subject: str) -> None:
    """From each VTEP's network to each other VTEP, DF set: 1600 bytes pass, or the hop that
    stops them is named with its MTU (from the router's ICMP fragmentation-needed)."""
    a, b = subject.split("->")
    mine = vmknic_with(lab, vmknic_targets, a, "vxlan")[0]
    theirs = vmknic_with(lab, vmknic_targets, b, "vxlan")[0]
    _switch, vlan = probe_sites.port_group(a, mine.port_group)
    echo_job, mtu_job = _vtep_jobs(lab, vmknic_targets, subject)
    echo = vtep_paths.echo(echo_job)
    obs = PathObservation(f"{a} probe ({mine.port_group}, VLAN {vlan})", theirs.subject, True,
                          "", evidence={**echo_evidence(echo),
                                        "attempts": vtep_paths.tries(echo_job)})
    if echo.answered < echo.sent or not echo.sent:
        incident, cause, more = explain_down_path(
            lab, source_host=a, target=theirs, vlan=vlan, answers=answers_of(echo),
            host_vmknics=[t for (h, _), t in vmknic_targets.items() if h == b],
            dead=dead_uplinks, unknown="F02")
        assert_no_findings([path_finding(
            PathObservation(obs.source, obs.target, False, "no answer",
                            {**obs.evidence, **more,
                             **cite_frames(f"vtep-path {subject}", echo.frames)}),
            incident, "vtep-path", f"VTEP {theirs.subject} does not answer {a}'s VTEP network "
            f"({echo.answered} of {echo.sent} echoes)", cause=cause,
            fix="restore the underlay path", subject=mine.subject)])
        return
    result = vtep_paths.path_mtu(mtu_job)
    findings: list[Finding] = []
    if result.path_mtu < VXLAN_MIN_MTU:
        hop = result.limiting_hop
        obs = PathObservation(mine.subject, theirs.subject, False, result.method, evidence={
            "path_mtu": result.path_mtu, "method": result.method,
            "size_probes": result.size_probes, "icmp_answered": result.icmp_answered,
            "lost": sum(1 for p in result.probes if p.outcome == "timeout"),
            "attempts": vtep_paths.tries(mtu_job),
            "probes": [p.to_dict() for p in result.probes],
            "trace": [{"ttl": h.ttl, "address": h.address} for h in result.trace],
            **cite_frames(f"vtep-mtu {subject}", result.frames)})
        findings.append(mtu_finding(obs, result.path_mtu, VXLAN_MIN_MTU,
                                    hop.address if hop else None, hop.mtu if hop else None,
                                    "VXLAN underlay"))
    assert_no_findings(findings)


def _reach_job(lab: Lab, subject: str) -> OverlayJob:
    """Five echoes from a VM to a VM (or an address), a half-second window for duplicates."""
    src, dst_name = subject.split("->")
    if dst_name in lab.vms:
        nic = next(iter(lab.vms[dst_name].nics.values()))
        assert nic.ip is not None
        return OverlayJob(src, str(nic.ip.ip), count=5, interval=0.02, window=0.5)
    return OverlayJob(src, dst_name, count=5, interval=0.02, window=0.5)


def _size_jobs(lab: Lab, subject: str) -> tuple[OverlayJob, OverlayJob]:
    """Small, then full-size (the VMs' MTU, within the segments' overlay MTU) DF echoes."""
    src, dst_name = subject.split("->")
    src_nic = next(iter(lab.vms[src].nics.values()))
    dst_nic = next(iter(lab.vms[dst_name].nics.values()))
    assert dst_nic.ip is not None
    size = min(src_nic.mtu, dst_nic.mtu, *(overlay_mtu(lab, n.port_group)
                                             for n in (src_nic, dst_nic)))
    small, full = (OverlayJob(src, str(dst_nic.ip.ip), count=3, interval=0.05, window=0.5,
                              size=probe_size) for probe_size in (64, size))
    return small, full


def _vtep_plan(lab: Lab, targets: dict[tuple[str, str], VmknicTarget],
               request: pytest.FixtureRequest) -> PathPlan:
    """Every VTEP pair this session tests: echoes, then the path MTU of each that answered."""
    vteps = [_vtep_jobs(lab, targets, subject)
             for subject in session_subjects(request, test_vtep_path_carries_1600)]
    return PathPlan(tuple(e for e, _ in vteps), tuple(vteps))


def _overlay_plan(lab: Lab, request: pytest.FixtureRequest) -> PathPlan:
    """Every overlay ping this session's overlay tests read."""
    jobs = [_reach_job(lab, subject) for subject in session_subjects(
        request, test_overlay_reachable_without_duplicates)]
    for subject in session_subjects(request, test_overlay_carries_full_size_frames):
        jobs += _size_jobs(lab, subject)
    return PathPlan(overlays=tuple(jobs))


def plan_path_probes(lab: Lab, targets: dict[tuple[str, str], VmknicTarget],
                     request: pytest.FixtureRequest) -> PathPlan:
    """The VTEP pairs and overlay pings this session's tests read (measured ahead of the
    tests: `measure_paths`)."""
    vteps = _vtep_plan(lab, targets, request)
    return PathPlan(vteps.echoes, vteps.mtus, _overlay_plan(lab, request).overlays)


@pytest.fixture(scope="module")
def overlay_paths(lab: Lab, path_probes: PathProbes,
                  request: pytest.FixtureRequest) -> PathProbes:
    """Every overlay ping this session's tests read, sent at once (each VM its own)."""
    return measure_paths(request, path_probes, _overlay_plan(lab, request))


@pytest.mark.incident("F03")
@pytest.mark.per_subject("overlay_paths")
def test_overlay_reachable_without_duplicates(lab: Lab, probe_sites: ProbeSites,
                                              overlay_paths: PathProbes,
                                              dead_uplinks: set[UplinkKey], subject: str) -> None:
    """Echoes between overlay VMs (same segment, through the DLR, out through the ESG) are each
    answered exactly once."""
    src, dst_name = subject.split("->")
    agent, iface = probe_sites.vm(src)
    job = _reach_job(lab, subject)
    dst = job.dst
    try:
        result = overlay_paths.overlay(job)
        sent, answered, duplicates = result.sent, result.answered, result.duplicates
        evidence: dict[str, JsonValue] = {
            "dst": dst, "sent": sent, "answered": answered, "duplicates": duplicates,
            "per_seq": {str(k): v for k, v in result.per_seq.items()},
            "attempts": overlay_paths.tries(job)}
    except ProbeError as exc:  # not even ARP was answered
        if exc.error_type not in PATH_DOWN:
            raise
        sent, answered, duplicates = 5, 0, 0
        evidence = {"dst": dst, "error": str(exc)}
    if duplicates or answered < sent:
        overlay_paths.settle()  # pinged again to keep the frames: not beside a batch
        evidence.update(_capture(agent, iface, dst, subject))
    obs = PathObservation(src, dst_name, answered == sent, "", evidence=evidence)
    findings: list[Finding] = []
    if duplicates:
        findings.append(path_finding(
            obs, "F03", "overlay-duplicates",
            f"{duplicates} duplicate replies from {dst_name} to {src} ({sent} echoes)",
            subject=subject,
            cause="a broadcast/unknown-unicast frame is replicated twice to one VTEP: a "
                  "duplicate entry in a VXLAN flood list (head-end replication table)",
            fix="remove the duplicate remote-VTEP entry (NSX: resync the host's VTEP table)"))
    if answered < sent:
        findings.append(_loss_finding(lab, src, dst_name, subject, obs, dead_uplinks,
                                      f"{answered} of {sent} echoes from {src} to {dst_name} "
                                      "answered"))
    assert_no_findings(findings)


def _loss_finding(lab: Lab, src: str, dst_name: str, subject: str, obs: PathObservation,
                  dead_uplinks: set[UplinkKey], message: str) -> Finding:
    """Echoes lost on an overlay path: explained by a dead uplink of a VTEP on the way (the
    source's and destination's hosts, and the edge host when the DLR/ESG routes), else an
    overlay fault of its own."""
    seg = next(iter(lab.vms[src].nics.values())).port_group
    legs = [(lab.vms[src].host, "vxlan")]
    if dst_name in lab.vms:
        legs.append((lab.vms[dst_name].host, "vxlan"))
    edge = edge_uplink(lab)
    dst_seg = (next(iter(lab.vms[dst_name].nics.values())).port_group
               if dst_name in lab.vms else None)
    if edge is not None and dst_seg != seg:  # routed by the DLR/ESG on the edge host
        legs.append((edge[0], "vxlan"))
    why = None
    for host, service in legs:
        vtep = next((v for v in lab.hosts[host].vmknics.values() if service in v.services),
                    None)
        why = why or (diagnose_path(lab, host, vtep.port_group, dead_uplinks)
                      if vtep else None)
    if why is None and dst_name not in lab.vms and edge is not None:
        why = diagnose_path(lab, edge[0], edge[1], dead_uplinks)
    incident, cause = why or ("F03", f"echoes on segment {seg} are lost with no dead "
                                     "uplink to explain it")
    return path_finding(obs, incident, "overlay-reachability", message, cause=cause,
                        fix="restore the VTEP's uplink or the overlay path", subject=subject)


@pytest.mark.incident("F02")
@pytest.mark.per_subject("overlay_vm_pairs")
def test_overlay_carries_full_size_frames(lab: Lab, probe_sites: ProbeSites,
                                          overlay_paths: PathProbes,
                                          dead_uplinks: set[UplinkKey], subject: str) -> None:
    """Between overlay VMs, DF-set echoes as large as the VMs' MTU (1500 bytes: 1550 on the VTEP
    underlay) are answered like small ones. This is what users meet with F02: pings work,
    then SSH sessions and copies hang, because only full-size frames vanish in the underlay."""
    src, dst_name = subject.split("->")
    agent, iface = probe_sites.vm(src)
    jobs = _size_jobs(lab, subject)
    dst, size = jobs[1].dst, jobs[1].size
    got: dict[int, int] = {}
    for job in jobs:
        try:
            got[job.size] = overlay_paths.overlay(job).answered
        except ProbeError as exc:  # not even ARP was answered
            if exc.error_type not in PATH_DOWN:
                raise
            got[job.size] = 0
    evidence: dict[str, JsonValue] = {"dst": dst, "dont_fragment": True, "sent_per_size": 3,
                                      "answered": {str(k): v for k, v in got.items()},
                                      "attempts": [overlay_paths.tries(j) for j in jobs]}
    if got[size]:  # one full-size answer proves the path carries the size: loss, not a limit
        return
    obs = PathObservation(src, dst_name, False, "", evidence=evidence)
    if not got[64]:  # the path itself is down: say why, as the reachability test does
        assert_no_findings([_loss_finding(
            lab, src, dst_name, subject, obs, dead_uplinks,
            f"none of 3 small echoes from {src} to {dst_name} answered: the overlay path is "
            "down, so full-size frames cannot be judged")])
    # a missing answer is loss until confirmed: send the size again while capturing (not
    # beside a batch)
    overlay_paths.settle()
    capture = agent.capture_start([iface], ip_proto=1, direction="any", keep=MAX_FRAMES)
    confirmed = 0
    try:
        confirmed = agent.overlay_ping(dst, count=3, interval=0.05, window=0.5,
                                       size=size).answered
    except ProbeError as exc:
        if exc.error_type not in PATH_DOWN:
            raise
    finally:
        frames = agent.capture_stop(capture).frames
    evidence["confirm_answered"] = confirmed
    if confirmed:
        return
    evidence.update(cite_frames(f"overlay-mtu {subject}", frames))
    hosts = sorted({lab.vms[src].host, lab.vms[dst_name].host})
    sent = sum(int(a["sent"] or 0) for a in overlay_paths.tries(jobs[1])) + 3
    assert_no_findings([path_finding(
        obs, "F02", "overlay-mtu",
        f"{size}-byte echoes (DF) from {src} to {dst_name} vanish while 64-byte ones pass "
        f"(none of {sent} answered)",
        cause=f"VXLAN adds {VXLAN_OVERHEAD} bytes: a {size}-byte frame needs "
              f"{size + VXLAN_OVERHEAD} on the VTEP underlay between {' and '.join(hosts)} (or "
              "via the edge host), and a hop there carries less; small pings still work, so "
              "the fault shows as hung sessions",
        fix=f"raise every underlay hop between the VTEPs to at least {size + VXLAN_OVERHEAD} "
            "(NSX prepares 1600)", subject=subject)])
