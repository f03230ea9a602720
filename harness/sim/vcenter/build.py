"""What a lab's simulated vCenter is made of under some scenarios: the realised lab to provision,
the simulator spec, and the vSphere-side faults provisioning applies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from harness.lab.model import Lab
from harness.sim.scenarios import Scenario, VsphereFaults, realised_lab
from harness.sim.scenarios import vsphere_faults as scenario_faults
from harness.sim.vcenter.hostlogs import Reboot
from harness.sim.vcenter.launcher import boot_time, spec_from_lab
from harness.sim.vcenter.spec import VcsimSpec


@dataclass(frozen=True)
class VcenterBuild:
    """Everything needed to stand up a lab's simulated vCenter under some scenarios."""

    lab: Lab                    # the realised lab: what to provision
    spec: VcsimSpec             # the simulator spec (versions, builds, clock offsets)
    faults: VsphereFaults       # what provisioning applies beyond the realised lab
    # hosts rebooted from the DCUI (F06): the boot before and the reboot, for their logs
    reboots: dict[str, tuple[datetime, Reboot]] = field(default_factory=dict)


def vcenter_build(lab: Lab, scenarios: Sequence[Scenario] = ()) -> VcenterBuild:
    """The realised lab, simulator spec and vSphere faults for a lab under scenarios.

    Raises:
        ScenarioError: a scenario does not fit this lab.
        VcsimSpecError: the lab has no vCenter.
    """
    chosen = list(scenarios)
    realised = realised_lab(lab, chosen)
    faults = scenario_faults(lab, chosen)
    # a DCUI reboot just before this start: asked for three minutes ago, up a minute later
    now = datetime.now(UTC).replace(microsecond=0)
    reboots = {h: (boot_time(realised, h), Reboot(now - timedelta(minutes=3),
                                                 now - timedelta(minutes=2)))
               for h in faults.dcui_reboots}
    spec = spec_from_lab(realised, clock_offsets=faults.clock_offsets,
                         boot_times={h: r.booted for h, (_, r) in reboots.items()})
    return VcenterBuild(realised, spec, faults, reboots)
