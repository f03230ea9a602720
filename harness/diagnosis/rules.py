"""The diagnosis tables: which layer each check reads, and which finding explains which.

Data, not code: a rule says that a finding of one check explains findings of other checks on
the elements downstream of its subject along named lab relations (relations.Edge). The checks
already attribute each finding to an incident (the wire's path checks tell a dead uplink from a
misrouted answer); the diagnosis never moves a finding to another incident, it connects the
findings of one incident across layers and finds the one they all follow from.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.diagnosis.relations import Edge

LAYERS: dict[str, str] = {
    "lab": "the lab file",
    "redfish": "Redfish",
    "vsphere": "vCenter",
    "host": "the host's esxcli",
    "router": "the router's API",
    "wire": "probes on the wire",
    "other": "other",
}
"""Where a finding's evidence comes from, in the order a cause usually runs (bottom up)."""


@dataclass(frozen=True)
class CheckKind:
    """How the diagnosis reads a check's findings.

    Attributes:
        layer: where its evidence comes from (a key of LAYERS); `intent` findings of a design
            check are the lab file's.
        says: what a finding of it means, in a few words, for titles and chains.
    """

    layer: str
    says: str


CHECKS: dict[str, CheckKind] = {
    # In the order a fault travels (evidence chains are told in this order, the root first):
    # a setting in the server, the router or vCenter; the links it kills; the policies that
    # fail to route around them; what the host itself sees; the paths that fail on the wire.
    "adapter-port": CheckKind("redfish", "adapter personality or DCB/LLDP agent not as the lab "
                              "says"),
    "bios-nic-enablement": CheckKind("redfish", "adapter disabled in the BIOS"),
    "server-inventory": CheckKind("redfish", "server inventory not as the lab says"),
    "power-cycle": CheckKind("redfish", "power cycle did not bring the server back"),
    "router-config": CheckKind("router", "router interface not as the lab says"),
    "vmknic-subnets": CheckKind("vsphere", "vmknics share a subnet"),
    "nlb-port-group": CheckKind("vsphere", "NLB port group policy wrong for unicast"),
    "ntp-servers": CheckKind("vsphere", "NTP servers not as the lab says"),
    "page-sharing": CheckKind("vsphere", "page-sharing salting not as the lab says"),
    "vcenter-host-compat": CheckKind("vsphere", "host build outside what vCenter supports"),
    "vm-mac-range": CheckKind("vsphere", "VM MAC outside VMware's static range"),
    "vxlan-mtu": CheckKind("vsphere", "VXLAN MTU below 1600"),
    "reboot-cause": CheckKind("vsphere", "host rebooted since the last run"),
    "management-paths": CheckKind("vsphere", "management networking cannot survive a change"),
    "uplink-reachability": CheckKind("wire", "uplink passes no traffic while its link is up"),
    "cabling-neighbours": CheckKind("wire", "CDP/LLDP neighbour missing or not as cabled"),
    # the layer's name (vCenter) follows the words in titles and chains
    "cabling-network-hints": CheckKind("vsphere", "CDP/LLDP neighbour missing or not as cabled"),
    "host-nic": CheckKind("host", "vmnic missing or wrong on the host"),
    "host-nic-link": CheckKind("host", "vmnic link down on the host"),
    "beacon-uplinks": CheckKind("vsphere", "beacon probing on fewer than 3 uplinks"),
    "adapter-redundancy": CheckKind("vsphere", "a team relies on one adapter"),
    "host-storage-adapters": CheckKind("host", "storage adapters not as the lab implies"),
    "host-time": CheckKind("vsphere", "host clock or ntpd off"),
    "vmotion-egress": CheckKind("host", "vMotion leaves by the wrong vmknic or gets no answer"),
    "vmkping-df": CheckKind("host", "vmkping between VTEPs fails"),
    "path-mtu": CheckKind("wire", "path gets no answer or too small an MTU"),
    "vmotion-path": CheckKind("wire", "vMotion path gets no answer"),
    "vtep-path": CheckKind("wire", "VTEP path gets no answer"),
    "overlay-reachability": CheckKind("wire", "overlay VMs do not reach each other"),
    "overlay-mtu": CheckKind("wire", "overlay path drops full-size frames"),
    "overlay-duplicates": CheckKind("wire", "duplicate replies on an overlay path"),
    "nlb-flooding": CheckKind("wire", "frames to the NLB cluster MAC miss a node"),
    "failover-drill": CheckKind("wire", "failover drill lost traffic"),
}

# What a dead or mistaken uplink, vmknic or router interface is seen as further up
LINK_SYMPTOMS = ("cabling-neighbours", "cabling-network-hints", "host-nic", "host-nic-link")
PATH_SYMPTOMS = ("path-mtu", "vmotion-path", "vtep-path", "overlay-reachability",
                 "vmotion-egress", "vmkping-df", "failover-drill")
TRAFFIC: tuple[Edge, ...] = ("vmnic-portgroup", "portgroup-vmknic", "vmknic-overlay")


@dataclass(frozen=True)
class Rule:
    """A finding of `root` explains findings of `explains` that touch an element reached from
    the root's subject along `via` (no edges: the same element)."""

    root: str
    explains: tuple[str, ...]
    via: tuple[Edge, ...]
    why: str  # how the one leads to the other, for people reading the rule table


RULES: tuple[Rule, ...] = (
    # F10: an adapter port set wrong in the BMC is a vmnic that passes nothing (DCB/LLDP agent
    # off) or a server whose host finds FCoE where it needs iSCSI adapters
    Rule("adapter-port", ("uplink-reachability", *LINK_SYMPTOMS), ("port-vmnic",),
         "the port is that vmnic: the switch drops its frames and hears no LLDP"),
    Rule("adapter-port", ("host-storage-adapters", "host-nic"), ("port-server",),
         "the personality decides which storage adapters the host gets"),
    Rule("adapter-port", PATH_SYMPTOMS, ("port-vmnic", *TRAFFIC),
         "the paths that team that vmnic fail"),
    Rule("bios-nic-enablement", ("uplink-reachability", "host-nic", *LINK_SYMPTOMS),
         ("port-vmnic",), "a disabled adapter gives the host no vmnic"),
    # F11: a silent uplink (link up, every frame dropped upstream): no neighbour heard on it,
    # every path that teams it fails, and the team's failure detection cannot notice
    Rule("uplink-reachability", LINK_SYMPTOMS, (),
         "the same vmnic: a port that drops every frame sends no CDP either"),
    Rule("uplink-reachability", PATH_SYMPTOMS, TRAFFIC,
         "traffic of the port groups that team this vmnic is black-holed"),
    Rule("uplink-reachability", ("beacon-uplinks", "adapter-redundancy"),
         ("vmnic-portgroup", "portgroup-dvportgroup"),
         "the port group's failure detection is why traffic stays on the dead uplink"),
    Rule("cabling-neighbours", ("cabling-network-hints",), (),
         "vCenter's network hints hear the same silence, or the same wrong port, as the wire"),
    # F12: a vmknic in another's subnet: the host routes its traffic out of the other one
    Rule("vmknic-subnets", ("vmotion-egress", *PATH_SYMPTOMS), (),
         "the host routes the shared subnet out of the other vmknic"),
    Rule("vmotion-egress", ("vmotion-path", "path-mtu"), (),
         "the host's routes send it out of the wrong vmknic, so the wire sees no answer"),
    # F02: a router interface or a VXLAN MTU below 1600 limits the VTEP paths through it
    Rule("router-config", ("path-mtu", "vmkping-df", "vtep-path", "overlay-reachability",
                           "overlay-mtu", "vxlan-mtu"), ("interface-vmknic", "vmknic-overlay"),
         "VTEP traffic crosses that router interface"),
    Rule("vxlan-mtu", ("path-mtu", "vmkping-df", "vtep-path", "overlay-reachability",
                       "overlay-mtu"),
         ("portgroup-vmknic", "vmknic-overlay"), "a VTEP path is limited by its smallest MTU"),
    # F09: the port group's policy is why the cluster MAC reaches one node only
    Rule("nlb-port-group", ("nlb-flooding",), ("portgroup-nlb",),
         "the switch learns the cluster MAC and stops flooding it"),
    # F05: a host without NTP drifts
    Rule("ntp-servers", ("host-time",), (), "without NTP servers the clock drifts"),
)
