"""Design faults applied to the default lab, each with exactly the findings it must produce.

Every design check is proven both ways with these: the healthy lab has no findings, and each
fault yields its own findings and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Data = dict[str, Any]
HOSTS = ("esx01", "esx02", "esx03")


@dataclass(frozen=True)
class DesignFault:
    name: str
    change: Callable[[Data], None]
    expected: frozenset[tuple[str, str, str]]  # (incident, check, subject)


def _vtep_mtu(d: Data) -> None:
    d["hosts"]["esx01"]["vmknics"]["vmk4"]["mtu"] = 1500


def _dvs_mtu(d: Data) -> None:
    d["distributed_switches"]["dvs-lab"]["mtu"] = 1500


def _router_mtu(d: Data) -> None:
    d["routers"]["opnsense01"]["interfaces"]["underlay_a"]["mtu"] = 1500


def _switch_port_mtu(d: Data) -> None:
    d["physical_switches"]["sw01"]["ports"]["TenGigabitEthernet1/1/2"]["mtu"] = 1500


def _nlb_rejects_mac_changes(d: Data) -> None:
    nlb = d["distributed_switches"]["dvs-lab"]["port_groups"]["dvpg-nlb"]
    nlb["security"]["mac_changes"] = False


def _nlb_notifies(d: Data) -> None:
    nlb = d["distributed_switches"]["dvs-lab"]["port_groups"]["dvpg-nlb"]
    nlb["teaming"]["notify_switches"] = True


def _beacon_two_uplinks(d: Data) -> None:
    d["distributed_switches"]["dvs-lab"]["port_groups"]["dvpg-vmotion"]["teaming"][
        "failure_detection"] = "beacon_probing"


def _one_adapter_team(d: Data) -> None:
    # esx01's management team on the two 331i ports: both uplinks on one adapter
    vswitch = d["hosts"]["esx01"]["standard_switches"]["vSwitch0"]
    vswitch["uplinks"] = ["vmnic0", "vmnic1"]
    vswitch["teaming"]["standby"] = ["vmnic1"]
    d["cabling"] = [c for c in d["cabling"] if c["a"] != "esx01/vmnic6"]
    d["cabling"].append({"a": "esx01/vmnic1", "b": "sw02/TenGigabitEthernet1/1/5"})


def _vmotion_in_mgmt_subnet(d: Data) -> None:
    # F12 as in the field: vmk0 and vmk1 in one /24, on VLANs 10 and 20
    d["networks"]["vmotion"]["subnet"] = "198.18.10.0/24"
    for i, host in enumerate(HOSTS, start=1):
        d["hosts"][host]["vmknics"]["vmk1"]["ip"] = f"198.18.10.2{i}/24"


def _workstation_mac(d: Data) -> None:
    d["vms"]["web01"]["nics"]["ethernet0"]["mac"] = "00:0c:29:3a:5e:01"


def _host_without_ntp(d: Data) -> None:
    d["hosts"]["esx02"]["ntp_servers"] = []


def _salting_off(d: Data) -> None:
    d["hosts"]["esx03"]["advanced_options"]["Mem.ShareForceSalting"] = 0


def _host_newer_than_vcenter(d: Data) -> None:
    # F08 as in the field: a host patched past its vCenter (ESXi 6.5 U3 under vCenter 6.5 U2)
    d["hosts"]["esx03"]["build"] = 13932383


def _same(incident: str, check: str, *subjects: str) -> frozenset[tuple[str, str, str]]:
    return frozenset((incident, check, s) for s in subjects)


DESIGN_FAULTS: tuple[DesignFault, ...] = (
    DesignFault("F02-vtep-mtu", _vtep_mtu, _same("F02", "vxlan-mtu", "esx01/vmk4")),
    DesignFault("F02-dvs-mtu", _dvs_mtu,
                _same("F02", "vxlan-mtu", "esx01/vmk4", "esx02/vmk4", "esx03/vmk4")),
    DesignFault("F02-router-mtu", _router_mtu,
                _same("F02", "vxlan-mtu", "opnsense01/underlay_a")),
    DesignFault("F02-switch-port-mtu", _switch_port_mtu,
                _same("F02", "vxlan-mtu", "sw01/TenGigabitEthernet1/1/2")),
    DesignFault("F09-rejects-mac-changes", _nlb_rejects_mac_changes,
                _same("F09", "nlb-port-group", "esx01/dvpg-nlb", "esx02/dvpg-nlb")),
    DesignFault("F09-notify-switches", _nlb_notifies,
                _same("F09", "nlb-port-group", "esx01/dvpg-nlb", "esx02/dvpg-nlb")),
    DesignFault("F11-beacon-two-uplinks", _beacon_two_uplinks,
                _same("F11", "beacon-uplinks", *(f"{h}/dvpg-vmotion" for h in HOSTS))),
    DesignFault("F11-one-adapter", _one_adapter_team,
                _same("F11", "adapter-redundancy", "esx01/Management Network")),
    DesignFault("F12-vmotion-subnet", _vmotion_in_mgmt_subnet,
                _same("F12", "vmknic-subnets", *(f"{h}/vmk1" for h in HOSTS))),
    DesignFault("F14-workstation-mac", _workstation_mac,
                _same("F14", "vm-mac-range", "web01/ethernet0")),
    DesignFault("F05-no-ntp", _host_without_ntp, _same("F05", "ntp-servers", "esx02")),
    DesignFault("F04-salting-off", _salting_off, _same("F04", "page-sharing", "esx03")),
    DesignFault("F08-host-newer-than-vcenter", _host_newer_than_vcenter,
                _same("F08", "vcenter-host-compat", "esx03")),
)
