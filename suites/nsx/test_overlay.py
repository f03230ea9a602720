"""NSX VXLAN: the underlay carries 1600-byte frames between every VTEP pair (F02), and overlay
VMs reach each other, through the DLR and out through the ESG, without duplicate replies (F03).
"""

from __future__ import annotations

import allure
import pytest

from harness.checks.finding import Finding
from harness.checks.network import diagnose_path, edge_uplink, mtu_finding, path_finding
from harness.drivers.probe.client import AgentClient
from harness.drivers.probe.errors import ProbeError
from harness.facts import JsonValue
from harness.facts.wire import PathObservation, UplinkKey
from harness.lab.model import Lab
from harness.lab.views import VXLAN_MIN_MTU
from harness.pytest_plugin import assert_no_findings
from harness.sim.probesites import SimProbeSites

pytestmark = pytest.mark.needs("probe")

PATH_DOWN = ("NoArpReply", "Unreachable", "NoRoute")  # path down, not a harness failure


def _capture(agent: AgentClient, iface: str, dst: str, probe_sites: SimProbeSites,
             subject: str) -> str | None:
    """Ping again while capturing ICMP on the VM's interface; attach the pcap to the report."""
    path = probe_sites.evidence_path(f"overlay-{subject.replace('>', '')}.pcap")
    capture = agent.capture_start([iface], ip_proto=1, direction="any", pcap_path=str(path))
    try:
        agent.overlay_ping(dst, count=5, interval=0.02, window=0.5)
    except ProbeError:
        pass
    result = agent.capture_stop(capture)
    if result.pcap_path is None:
        return None
    allure.attach.file(result.pcap_path, name=f"capture {subject}",
                       attachment_type=allure.attachment_type.PCAP)
    return result.pcap_path


@pytest.mark.incident("F02")
@pytest.mark.per_subject("vtep_pairs")
def test_vtep_path_carries_1600(lab: Lab, probe_sites: SimProbeSites,
                                dead_uplinks: set[UplinkKey], subject: str) -> None:
    """From each VTEP to each other one, DF set: 1600 bytes pass, or the hop that stops them
    is named with its MTU (from the router's ICMP fragmentation-needed)."""
    a, b = subject.split("->")
    mine, theirs = probe_sites.vmknic(a, "vxlan"), probe_sites.vmknic(b, "vxlan")
    assert mine is not None and theirs is not None
    dst = str(theirs.ip.ip)
    obs = PathObservation(f"{a}/{mine.name}", f"{b}/{theirs.name}", True, "")
    try:
        result = probe_sites.at(a).path_mtu(dst, iface=mine.name, hi=VXLAN_MIN_MTU, lo=1200)
    except ProbeError as exc:
        if exc.error_type not in PATH_DOWN:
            raise  # the harness failed, not the underlay
        why = diagnose_path(lab, a, mine.port_group, dead_uplinks) or \
            diagnose_path(lab, b, theirs.port_group, dead_uplinks)
        if why is None:  # not an MTU question: the overlay tests judge reachability
            pytest.skip(f"VTEP {obs.source} -> {obs.target} does not answer at any size ({exc})")
        incident, cause = why
        assert_no_findings([path_finding(obs, incident, "vtep-path",
                                         f"VTEP {obs.source} cannot reach {obs.target}",
                                         cause=cause, fix="restore the underlay path")])
        return
    findings: list[Finding] = []
    if result.path_mtu < VXLAN_MIN_MTU:
        hop = result.limiting_hop
        obs = PathObservation(obs.source, obs.target, False, result.method, evidence={
            "path_mtu": result.path_mtu, "method": result.method,
            "size_probes": result.size_probes, "icmp_answered": result.icmp_answered,
            "trace": [{"ttl": h.ttl, "address": h.address} for h in result.trace]})
        findings.append(mtu_finding(obs, result.path_mtu, VXLAN_MIN_MTU,
                                    hop.address if hop else None, hop.mtu if hop else None,
                                    "VXLAN underlay"))
    assert_no_findings(findings)


@pytest.mark.incident("F03")
@pytest.mark.per_subject("overlay_paths")
def test_overlay_reachable_without_duplicates(lab: Lab, probe_sites: SimProbeSites,
                                              dead_uplinks: set[UplinkKey], subject: str) -> None:
    """Echoes between overlay VMs (same segment, through the DLR, out through the ESG) are each
    answered exactly once."""
    src, dst_name = subject.split("->")
    agent, iface = probe_sites.vm(src)
    if dst_name in lab.vms:
        nic = next(iter(lab.vms[dst_name].nics.values()))
        assert nic.ip is not None
        dst = str(nic.ip.ip)
    else:
        dst = dst_name
    try:
        result = agent.overlay_ping(dst, count=5, interval=0.02, window=0.5)
        sent, answered, duplicates = result.sent, result.answered, result.duplicates
        evidence: dict[str, JsonValue] = {
            "dst": dst, "sent": sent, "answered": answered, "duplicates": duplicates,
            "per_seq": {str(k): v for k, v in result.per_seq.items()}}
    except ProbeError as exc:  # not even ARP was answered
        if exc.error_type not in PATH_DOWN:
            raise
        sent, answered, duplicates = 5, 0, 0
        evidence = {"dst": dst, "error": str(exc)}
    if duplicates or answered < sent:
        evidence["pcap"] = _capture(agent, iface, dst, probe_sites, subject)
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
        seg = next(iter(lab.vms[src].nics.values())).port_group
        # the hosts whose VTEPs carry this path, and the ESG's uplink when leaving the overlay
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
            vtep = probe_sites.vmknic(host, service)
            why = why or (diagnose_path(lab, host, vtep.port_group, dead_uplinks)
                          if vtep else None)
        if why is None and dst_name not in lab.vms and edge is not None:
            why = diagnose_path(lab, edge[0], edge[1], dead_uplinks)
        incident, cause = why or ("F03", f"echoes on segment {seg} are lost with no dead "
                                         "uplink to explain it")
        findings.append(path_finding(obs, incident, "overlay-reachability",
                                     f"{answered} of {sent} echoes from {src} to "
                                     f"{dst_name} answered", cause=cause,
                                     fix="restore the VTEP's uplink or the overlay path",
                                     subject=subject))
    assert_no_findings(findings)
