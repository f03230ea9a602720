"""HPE iLO Redfish emulator (iLO 4 and iLO 5 flavours), one process for every BMC of a lab.

`spec_from_lab` derives the spec from a lab and inventory; `IloProcess.start` runs
`python -m harness.sim.ilo` with it. See `tree` for the resources, `state` for the rules.
"""

from harness.sim.ilo.launcher import IloEndpoint, IloProcess, IloStartError
from harness.sim.ilo.spec import BmcSpec, IloSpecError, load_spec, spec_from_lab

__all__ = ["BmcSpec", "IloEndpoint", "IloProcess", "IloSpecError", "IloStartError",
           "load_spec", "spec_from_lab"]
