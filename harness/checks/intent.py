"""Build the design view from a lab file (the intent side).

Effective port-group policies come from `harness.lab.views`, which applies vSphere's
inheritance (port group, then switch, then vSphere's default for the kind of switch).
"""

from __future__ import annotations

from harness.checks.view import (
    DesignView,
    HostView,
    NlbView,
    VCenterView,
    VmknicView,
    VmNicView,
    VmView,
)
from harness.lab.model import Lab
from harness.lab.views import host_port_groups, underlay_hops


def view_from_lab(lab: Lab) -> DesignView:
    """The intent side of the design view."""
    hosts: dict[str, HostView] = {}
    for hname, host in lab.hosts.items():
        pgs = host_port_groups(lab, hname)
        vmknics = {
            vname: VmknicView(
                name=vname, port_group=v.port_group, ip=v.ip, mtu=v.mtu,
                services=tuple(v.services), tcpip_stack=v.tcpip_stack,
                subnet_shared_with=tuple(v.subnet_shared_with),
            )
            for vname, v in host.vmknics.items()
        }
        ntp = host.ntp_servers if host.ntp_servers is not None else lab.ntp.servers
        hosts[hname] = HostView(
            name=hname, version=host.version, build=host.build, ntp_servers=tuple(ntp),
            advanced_options=dict(host.advanced_options), port_groups=pgs, vmknics=vmknics,
            vmnic_adapter=lab.vmnic_adapter(hname), page_sharing=host.page_sharing,
        )
    vms = {
        name: VmView(
            name=name, host=vm.host, extra_config=dict(vm.extra_config),
            nics=tuple(VmNicView(label, nic.mac, nic.address_type, nic.port_group)
                       for label, nic in vm.nics.items()),
        )
        for name, vm in lab.vms.items()
    }
    nlb = {
        name: NlbView(name, c.mode, c.vip, c.effective_cluster_mac, c.port_group, tuple(c.members))
        for name, c in lab.nlb_clusters.items()
    }
    vcenter = (VCenterView(lab.vcenter.name, lab.vcenter.version, lab.vcenter.build)
               if lab.vcenter is not None else None)
    return DesignView(source="intent", hosts=hosts, vms=vms, nlb_clusters=nlb,
                      underlay=underlay_hops(lab), vcenter=vcenter)


