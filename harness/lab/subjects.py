"""The kinds of subject a test can be about, each listed from the lab definition.

One explicit table (no registration at import): `@pytest.mark.per_subject("vmknics")` gives a
test one case per subject of that kind, design checks name the kind their findings speak about,
and reports group by subject. Subjects are named in the lab's own words (`esx01/vmk1`,
`esx01->esx02`, `srv-esx03/flexlom/port1`) and always come from the lab: what a lab says should
exist is tested even when the real thing lacks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.lab.model import Lab
from harness.lab.views import expected_neighbours, host_port_groups, underlay_hops


def _hosts(lab: Lab) -> list[str]:
    return sorted(lab.hosts)


def _vmknics(lab: Lab) -> list[str]:
    return [f"{h}/{v}" for h, host in lab.hosts.items() for v in sorted(host.vmknics)]


def _port_groups(lab: Lab) -> list[str]:
    return [f"{h}/{p}" for h in lab.hosts for p in sorted(host_port_groups(lab, h))]


def _vxlan_path(lab: Lab) -> list[str]:
    vteps = [f"{h}/{v}" for h, host in lab.hosts.items() for v, vmk in host.vmknics.items()
             if "vxlan" in vmk.services]
    return vteps + list(dict.fromkeys(hop.subject for hop in underlay_hops(lab)))


def _nlb_port_groups(lab: Lab) -> list[str]:
    out: list[str] = []
    for cluster in lab.nlb_clusters.values():
        for member in cluster.members:
            vm = lab.vms.get(member)
            if vm is not None and f"{vm.host}/{cluster.port_group}" not in out:
                out.append(f"{vm.host}/{cluster.port_group}")
    return out


def _vm_nics(lab: Lab) -> list[str]:
    return [f"{name}/{label}" for name, vm in lab.vms.items() for label in vm.nics]


def _cabled_vmnics(lab: Lab) -> list[str]:
    return [f"{h}/{v}" for h, v in sorted(expected_neighbours(lab))]


def vmk_with(lab: Lab, host: str, service: str) -> str | None:
    """The host's first vmknic (by name) that carries `service`."""
    return next((n for n, v in sorted(lab.hosts[host].vmknics.items()) if service in v.services),
                None)


def _pairs(service: str) -> Callable[[Lab], list[str]]:
    def pairs(lab: Lab) -> list[str]:
        hosts = [h for h in lab.hosts if vmk_with(lab, h, service)]
        return [f"{a}->{b}" for a in hosts for b in hosts if a != b]
    return pairs


def _nlb_clusters(lab: Lab) -> list[str]:
    return sorted(lab.nlb_clusters)


def _routers(lab: Lab) -> list[str]:
    return sorted(lab.routers)


def external_target(lab: Lab) -> str | None:
    """The first hop beyond the ESG: the gateway of the network its uplink is on."""
    if lab.nsx is None:
        return None
    for edge in lab.nsx.edges.values():
        for iface in edge.interfaces.values():
            if edge.kind == "esg" and iface.network is not None:
                gateway = lab.networks[iface.network].gateway
                return str(gateway) if gateway is not None else None
    return None


def _overlay_vms(lab: Lab) -> list[str]:
    if lab.nsx is None:
        return []
    segments = lab.nsx.segments
    return [v for v, vm in lab.vms.items() if any(n.port_group in segments
                                                  for n in vm.nics.values())]


def _overlay_vm_pairs(lab: Lab) -> list[str]:
    """Every pair of overlay VMs (src->dst), each path once."""
    vms = _overlay_vms(lab)
    return [f"{a}->{b}" for i, a in enumerate(vms) for b in vms[i + 1:]]


def _overlay_paths(lab: Lab) -> list[str]:
    """VM to VM across every pair of overlay VMs, and the first overlay VM to the ESG's
    upstream."""
    if lab.nsx is None:
        return []
    vms = _overlay_vms(lab)
    paths = _overlay_vm_pairs(lab)
    upstream = external_target(lab)
    if upstream is not None:
        paths += [f"{v}->{upstream}" for v in vms[:1]]
    return paths


def _servers(lab: Lab) -> list[str]:
    return sorted(lab.servers)


def _adapter_ports(lab: Lab) -> list[str]:
    return [f"{name}/{aname}/port{n}" for name, server in sorted(lab.servers.items())
            for aname, adapter in server.adapters.items() for n in sorted(adapter.ports)]


@dataclass(frozen=True)
class SubjectKind:
    """A kind of subject: its name in markers, what it is in words, and how to list it."""

    name: str
    what: str
    list: Callable[[Lab], list[str]]


SUBJECT_KINDS: dict[str, SubjectKind] = {k.name: k for k in (
    SubjectKind("hosts", "ESXi hosts", _hosts),
    SubjectKind("vmknics", "VMkernel NICs (host/vmk)", _vmknics),
    SubjectKind("port_groups", "port groups per host (host/port group)", _port_groups),
    SubjectKind("vxlan_path", "VTEP vmknics and VXLAN underlay hops", _vxlan_path),
    SubjectKind("nlb_port_groups", "NLB port groups per member host", _nlb_port_groups),
    SubjectKind("vm_nics", "VM network adapters (vm/ethernetN)", _vm_nics),
    SubjectKind("cabled_vmnics", "cabled vmnics (host/vmnic)", _cabled_vmnics),
    SubjectKind("vmotion_pairs", "host pairs with vMotion vmknics", _pairs("vmotion")),
    SubjectKind("iscsi_pairs", "host pairs with iSCSI vmknics", _pairs("iscsi")),
    SubjectKind("vtep_pairs", "host pairs with VTEPs", _pairs("vxlan")),
    SubjectKind("nlb_clusters", "NLB clusters", _nlb_clusters),
    SubjectKind("routers", "routers", _routers),
    SubjectKind("overlay_paths", "overlay VM paths (src->dst)", _overlay_paths),
    SubjectKind("overlay_vm_pairs", "pairs of overlay VMs (src->dst)", _overlay_vm_pairs),
    SubjectKind("servers", "HPE servers", _servers),
    SubjectKind("adapter_ports", "adapter ports (server/adapter/portN)", _adapter_ports),
)}


def subjects_of(lab: Lab, kind: str) -> list[str]:
    """Every subject of `kind` in the lab, in a stable order.

    Raises:
        KeyError: an unknown kind (the message names the known ones).
    """
    if kind not in SUBJECT_KINDS:
        raise KeyError(f"unknown subject kind {kind!r}; kinds: {', '.join(SUBJECT_KINDS)}")
    return SUBJECT_KINDS[kind].list(lab)
