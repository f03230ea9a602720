"""The catalogue of design checks: an explicit, ordered tuple (no registration by import).

Each entry names its check, the incident it guards against, and the subjects it speaks about, so
suites can give every subject its own test and prove that no finding falls outside them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.checks import design
from harness.checks.finding import Finding
from harness.checks.view import DesignView
from harness.lab.model import Lab
from harness.lab.reference import Reference
from harness.lab.subjects import subjects_of

CheckFn = Callable[[DesignView, Reference], list[Finding]]


@dataclass(frozen=True)
class DesignCheck:
    """One design check and the subjects it covers."""

    name: str
    incident: str
    run: CheckFn
    subject_kind: str  # a key of harness.lab.subjects.SUBJECT_KINDS
    summary: str

    def subjects(self, lab: Lab) -> list[str]:
        """The subjects this check's findings can be about, in the lab."""
        return subjects_of(lab, self.subject_kind)


DESIGN_CHECKS: tuple[DesignCheck, ...] = (
    DesignCheck("vxlan-mtu", "F02", design.check_vxlan_mtu, "vxlan_path",
                "VTEPs, their switches and the underlay carry 1600-byte frames"),
    DesignCheck("page-sharing", "F04", design.check_page_sharing, "hosts",
                "Mem.ShareForceSalting and VM salts give the intended page sharing"),
    DesignCheck("ntp-servers", "F05", design.check_ntp_servers, "hosts",
                "every host has NTP servers"),
    DesignCheck("vcenter-host-compat", "F08", design.check_version_skew, "hosts",
                "every host's ESXi build is one its vCenter release manages"),
    DesignCheck("nlb-port-group", "F09", design.check_nlb_port_group, "nlb_port_groups",
                "unicast NLB port groups accept MAC changes/forged transmits, no notify"),
    DesignCheck("beacon-uplinks", "F11", design.check_beacon_uplinks, "port_groups",
                "beacon probing only with 3+ uplinks"),
    DesignCheck("adapter-redundancy", "F11", design.check_adapter_redundancy, "port_groups",
                "teams span more than one physical adapter"),
    DesignCheck("vmknic-subnets", "F12", design.check_vmknic_subnets, "vmknics",
                "no two vmknics of a host share a subnet"),
    DesignCheck("vm-mac-range", "F14", design.check_vm_mac_range, "vm_nics",
                "static VM MACs inside 00:50:56:00:00:00-00:50:56:3F:FF:FF"),
)

CHECKS_BY_NAME: dict[str, DesignCheck] = {c.name: c for c in DESIGN_CHECKS}


def run_design_checks(view: DesignView, ref: Reference) -> list[Finding]:
    """Every design check over one view, in catalogue order, against the reference tables."""
    return [finding for check in DESIGN_CHECKS for finding in check.run(view, ref)]
