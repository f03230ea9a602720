"""Virtual network adapters as vSphere data objects: the one way labharness builds a VM NIC.

A NIC is a `VirtualVmxnet3` whose backing names its network: a standard port group by name
(`NetworkBackingInfo`, with the vCenter Network entity) or a distributed port group by switch
uuid and port group key (`DistributedVirtualPortBackingInfo`). The simulated lab's provisioner
and `labharness probes deploy` both build NICs here, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from harness.drivers.vsphere.vmomi import vim


def standard_backing(port_group: str, network: Any) -> Any:
    """Backing on a standard port group (`network`: its vim.Network, bound to a stub)."""
    return vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName=port_group,
                                                               network=network)


def distributed_backing(switch_uuid: str, portgroup_key: str) -> Any:
    """Backing on a distributed port group: vCenter picks a free port of it."""
    return vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
        port=vim.dvs.PortConnection(switchUuid=switch_uuid, portgroupKey=portgroup_key))


def vmxnet3(key: int, backing: Any, *, connected: bool, mac: str | None = None,
            address_type: str = "generated") -> Any:
    """A vmxnet3 adapter; `key` negative for a new device (vCenter assigns the real one).

    Args:
        connected: connect it now (a powered-on VM); it always connects at power-on.
        mac: a static MAC (address_type manual); None lets vCenter generate one.
    """
    card = vim.vm.device.VirtualVmxnet3(
        key=key, addressType=address_type, backing=backing,
        connectable=vim.vm.device.VirtualDevice.ConnectInfo(
            startConnected=True, allowGuestControl=True, connected=connected))
    if mac is not None and address_type != "generated":
        card.macAddress = mac
    return card


def add(device: Any) -> Any:
    """The VirtualDeviceSpec that adds `device`."""
    return vim.vm.device.VirtualDeviceSpec(operation="add", device=device)


def edit(device: Any) -> Any:
    """The VirtualDeviceSpec that changes an existing device (its key says which)."""
    return vim.vm.device.VirtualDeviceSpec(operation="edit", device=device)


def remove(device: Any) -> Any:
    """The VirtualDeviceSpec that removes an existing device."""
    return vim.vm.device.VirtualDeviceSpec(operation="remove", device=device)
