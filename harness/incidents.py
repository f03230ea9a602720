"""The field incidents (F01-F14) that name every check, finding, test and scenario.

The ids and slugs are stable: they appear in test ids, findings, Allure features and scenario
names, so users can grep a nightly report for "F12" or "vmotion-subnet" and find the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

SCENARIO_ALL = "field-incidents"
"""The scenario name that applies every incident the simulated lab reproduces."""


@dataclass(frozen=True)
class Incident:
    """One field incident from design/INCIDENTS.md."""

    id: str
    slug: str
    title: str

    @property
    def label(self) -> str:
        """`F12 vmotion-subnet`: how reports name the incident."""
        return f"{self.id} {self.slug}"


INCIDENTS: dict[str, Incident] = {
    i.id: i
    for i in (
        Incident("F01", "vmk-migration", "Management vmk migration to a DVS loses the host"),
        Incident("F02", "vxlan-mtu", "VXLAN underlay MTU below 1600"),
        Incident("F03", "duplicate-replies", "Duplicate replies on overlay paths"),
        Incident("F04", "tps-salting", "Page-sharing salting differs from intent"),
        Incident("F05", "ntp-off", "Host NTP off or clock drifting"),
        Incident("F06", "reboot-cause", "Unexplained host reboot"),
        Incident("F07", "efuse-reset", "Power cycle needs an OA e-fuse reset"),
        Incident("F08", "version-skew", "Host build newer than vCenter supports"),
        Incident("F09", "nlb-unicast", "Unicast NLB port group policy breaks flooding"),
        Incident("F10", "nic-personality-dcb", "Adapter personality or DCB/LLDP agent wrong"),
        Incident("F11", "silent-uplink", "Uplink silently blocked; failover cannot notice"),
        Incident("F12", "vmotion-subnet", "Two vmknics of a host in one subnet"),
        Incident("F13", "depot-profiles", "Image profiles hidden in an offline bundle"),
        Incident("F14", "mac-range", "Static VM MAC outside VMware's allowed range"),
    )
}


def find_incident(name: str) -> Incident | None:
    """Look an incident up by id (`F12`, `f12`) or slug (`vmotion-subnet`)."""
    key = name.strip()
    if key.upper() in INCIDENTS:
        return INCIDENTS[key.upper()]
    for incident in INCIDENTS.values():
        if incident.slug == key.lower():
            return incident
    return None
