"""Provisioning: build a lab's vSphere configuration in a vCenter through the driver's
connection, as a nested-lab build would.

`policy` turns the lab's words into vSphere data objects, `inventory` reads the vCenter and
checks that the lab fits it before anything changes, `apply` makes the changes, and `session`
carries one build's calls, reads and task waits (all through `harness.drivers.vsphere`).
"""

from harness.sim.vcenter.provision.apply import provision
from harness.sim.vcenter.provision.inventory import PROVISIONED_KEY
from harness.sim.vcenter.provision.policy import segment_port_group
from harness.sim.vcenter.provision.report import ProvisionError, ProvisionReport, StageReport

__all__ = [
    "PROVISIONED_KEY",
    "ProvisionError",
    "ProvisionReport",
    "StageReport",
    "provision",
    "segment_port_group",
]
