"""HPE iLO Redfish emulator (iLO 4 and iLO 5 flavours), one process for every BMC of a lab.

`spec_from_lab` derives the spec from a lab and inventory; `IloProcess.start` runs
`python -m harness.sim.ilo` with it. See `tree` for the resources, `state` for the rules.
Each BMC is the firmware variant its lab entry selects (`servers.X.bmc.firmware`, checked
against the lines the model runs in `harness.lab.catalog.BMC_FIRMWARE`): iLO 4 2.x also serves
the legacy `/rest/v1` tree (`legacy`); iLO 5 1.x reports LLDP only in each port's `HpeLLDP`,
2.x and 3.x also in the port's `Oem.Hpe.LldpData`; Gen10 Plus lists its DMTF adapter
collection empty and shows the adapters as base adapters.
"""

from harness.sim.ilo.launcher import IloEndpoint, IloProcess, IloStartError
from harness.sim.ilo.spec import BmcSpec, IloSpecError, load_spec, spec_from_lab

__all__ = ["BmcSpec", "IloEndpoint", "IloProcess", "IloSpecError", "IloStartError",
           "load_spec", "spec_from_lab"]
