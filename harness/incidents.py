"""The field incidents that name every check, finding, test and scenario: the one catalogue.

The ids and slugs are stable: they appear in test ids, findings, Allure features and scenario
names, so users can grep a nightly report for "F12" or "vmotion-subnet" and find the same thing.
Markers, finding validation, `labharness incidents` and docs/incidents.md are all made from
this table.
"""

from __future__ import annotations

from dataclasses import dataclass

SCENARIO_ALL = "field-incidents"
"""The scenario name that applies every incident the simulated lab reproduces, once each."""


@dataclass(frozen=True)
class Incident:
    """One field incident (the operations notes behind it are in design/INCIDENTS.md).

    Attributes:
        checks: what the harness checks for it, in one sentence.
    """

    id: str
    slug: str
    title: str
    checks: str

    @property
    def label(self) -> str:
        """`F12 vmotion-subnet`: how reports name the incident."""
        return f"{self.id} {self.slug}"


INCIDENTS: dict[str, Incident] = {
    i.id: i
    for i in (
        Incident("F01", "vmk-migration", "Management vmk migration to a DVS loses the host",
                 "before a migration: a second management path, vCenter's network rollback, "
                 "the target port group's VLAN on working uplinks; a guarded migration"),
        Incident("F02", "vxlan-mtu", "VXLAN underlay MTU below 1600",
                 "VTEP, DVS, switch-port and router MTUs; DF-set path MTU between VTEPs, the "
                 "limiting hop named from the router's ICMP"),
        Incident("F03", "duplicate-replies", "Duplicate replies on overlay paths",
                 "replies counted per ICMP sequence on overlay paths, the capture attached"),
        Incident("F04", "tps-salting", "Page-sharing salting differs from intent",
                 "Mem.ShareForceSalting and per-VM sched.mem.pshare.salt against the lab"),
        Incident("F05", "ntp-off", "Host NTP off or clock drifting",
                 "NTP servers, ntpd running with policy on, the firewall rule, clock offset"),
        Incident("F06", "reboot-cause", "Unexplained host reboot",
                 "boot time per host against the last run, the reason from the host's logs"),
        Incident("F07", "efuse-reset", "Power cycle needs an OA e-fuse reset",
                 "a power cycle that knows rack servers from blades and proves the host came "
                 "back"),
        Incident("F08", "version-skew", "Host build newer than vCenter supports",
                 "host build against the vCenter release's supported range; image profiles "
                 "of offline bundles"),
        Incident("F09", "nlb-unicast", "Unicast NLB port group policy breaks flooding",
                 "NLB port group security and notify-switches; frames to the cluster MAC reach "
                 "every node"),
        Incident("F10", "nic-personality-dcb", "Adapter personality or DCB/LLDP agent wrong",
                 "adapter personality and DCB/LLDP agent through iLO Redfish, fixed where the "
                 "BMC allows it; the affected uplinks on the wire"),
        Incident("F11", "silent-uplink", "Uplink silently blocked; failover cannot notice",
                 "per-uplink reachability, CDP/LLDP per vmnic against the cabling plan, "
                 "failure detection and adapter redundancy of every team"),
        Incident("F12", "vmotion-subnet", "Two vmknics of a host in one subnet",
                 "no two vmknics of a host share a subnet; vMotion traffic leaves by the "
                 "vMotion vmknic and is answered"),
        Incident("F13", "depot-profiles", "Image profiles hidden in an offline bundle",
                 "`labharness depot profiles FILE.zip` lists a bundle's image profiles"),
        Incident("F14", "mac-range", "Static VM MAC outside VMware's allowed range",
                 "every static VM MAC inside 00:50:56:00:00:00-00:50:56:3F:FF:FF"),
    )
}

ID_SPAN = f"{min(INCIDENTS)}-{max(INCIDENTS)}"
"""`F01-F14`: how messages name the range of incident ids."""


def find_incident(name: str) -> Incident | None:
    """Look an incident up by id (`F12`, `f12`) or slug (`vmotion-subnet`)."""
    key = name.strip()
    if key.upper() in INCIDENTS:
        return INCIDENTS[key.upper()]
    for incident in INCIDENTS.values():
        if incident.slug == key.lower():
            return incident
    return None


def scenario_incident(key: str) -> Incident | None:
    """The incident a scenario key names: a scenario is keyed by its incident's id (`F11`),
    and a second way of reproducing the same incident by the id and a variant (`F11-cabling`),
    so reports and findings still meet on the incident id."""
    return INCIDENTS.get(key.strip().split("-", 1)[0].upper())
