"""Design checks on the lab file: one test per check and subject (`esx01/vmk1`).

These need no backend: they lint what the lab *says*. The vSphere suite runs the same checks on
what vCenter *reports*.
"""

from __future__ import annotations

import pytest

from harness.checks.catalog import DESIGN_CHECKS
from harness.lab.model import Lab
from harness.pytest_plugin import assert_no_findings
from harness.pytest_plugin.fixtures import DesignFindings


@pytest.mark.incident("F02")
@pytest.mark.per_subject("vxlan_path")
def test_vxlan_mtu(design_findings: DesignFindings, subject: str) -> None:
    """VTEP vmknics, their switches and every underlay hop carry 1600-byte frames."""
    assert_no_findings(design_findings.of("vxlan-mtu", subject))


@pytest.mark.incident("F04")
@pytest.mark.per_subject("hosts")
def test_page_sharing(design_findings: DesignFindings, subject: str) -> None:
    """Mem.ShareForceSalting and VM salts give the page sharing the lab intends."""
    assert_no_findings(design_findings.of("page-sharing", subject))


@pytest.mark.incident("F05")
@pytest.mark.per_subject("hosts")
def test_ntp_servers(design_findings: DesignFindings, subject: str) -> None:
    """Every host has NTP servers."""
    assert_no_findings(design_findings.of("ntp-servers", subject))


@pytest.mark.incident("F08")
@pytest.mark.per_subject("hosts")
def test_vcenter_host_compat(design_findings: DesignFindings, subject: str) -> None:
    """Every host runs an ESXi build its vCenter release manages."""
    assert_no_findings(design_findings.of("vcenter-host-compat", subject))


@pytest.mark.incident("F09")
@pytest.mark.per_subject("nlb_port_groups")
def test_nlb_port_group(design_findings: DesignFindings, subject: str) -> None:
    """Unicast NLB port groups accept MAC changes and forged transmits and do not notify."""
    assert_no_findings(design_findings.of("nlb-port-group", subject))


@pytest.mark.incident("F11")
@pytest.mark.per_subject("port_groups")
def test_beacon_uplinks(design_findings: DesignFindings, subject: str) -> None:
    """Beacon probing only on teams of three or more uplinks."""
    assert_no_findings(design_findings.of("beacon-uplinks", subject))


@pytest.mark.incident("F11")
@pytest.mark.per_subject("port_groups")
def test_adapter_redundancy(design_findings: DesignFindings, subject: str) -> None:
    """A team of two or more uplinks spans more than one physical adapter."""
    assert_no_findings(design_findings.of("adapter-redundancy", subject))


@pytest.mark.incident("F12")
@pytest.mark.per_subject("vmknics")
def test_vmknic_subnets(design_findings: DesignFindings, subject: str) -> None:
    """No two vmknics of a host share a subnet unless the lab says so."""
    assert_no_findings(design_findings.of("vmknic-subnets", subject))


@pytest.mark.incident("F14")
@pytest.mark.per_subject("vm_nics")
def test_vm_mac_range(design_findings: DesignFindings, subject: str) -> None:
    """Static VM MACs are inside VMware's static range or explicitly allowed."""
    assert_no_findings(design_findings.of("vm-mac-range", subject))


def test_every_finding_has_a_test(design_findings: DesignFindings, lab: Lab) -> None:
    """A finding about a subject that no test above covers must not pass unseen."""
    covered = {(c.name, s) for c in DESIGN_CHECKS for s in c.subjects(lab)}
    assert_no_findings(f for f in design_findings.findings if (f.check, f.subject) not in covered)
