"""What a lab's simulated vCenter is made of under some scenarios: the realised lab to provision,
the simulator spec, and the vSphere-side faults provisioning applies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.lab.model import Lab
from harness.sim.scenarios import Scenario, VsphereFaults, realised_lab
from harness.sim.scenarios import vsphere_faults as scenario_faults
from harness.sim.vcenter.launcher import spec_from_lab
from harness.sim.vcenter.spec import VcsimSpec


@dataclass(frozen=True)
class VcenterBuild:
    """Everything needed to stand up a lab's simulated vCenter under some scenarios."""

    lab: Lab                    # the realised lab: what to provision
    spec: VcsimSpec             # the simulator spec (versions, builds, clock offsets)
    faults: VsphereFaults       # what provisioning applies beyond the realised lab


def vcenter_build(lab: Lab, scenarios: Sequence[Scenario] = ()) -> VcenterBuild:
    """The realised lab, simulator spec and vSphere faults for a lab under scenarios.

    Raises:
        ScenarioError: a scenario does not fit this lab.
        VcsimSpecError: the lab has no vCenter.
    """
    chosen = list(scenarios)
    realised = realised_lab(lab, chosen)
    faults = scenario_faults(lab, chosen)
    return VcenterBuild(realised, spec_from_lab(realised, clock_offsets=faults.clock_offsets),
                        faults)
