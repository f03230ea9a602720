"""An emulated OPNsense REST API per `kind: opnsense` router of the simulated lab.

`router_spec` derives a router's configuration (interface assignments, gateways, API key) from
the lab; `OpnsenseProcess.start` serves it (`python -m harness.sim.opnsense`) inside the
router's namespace, where every answer is built from the kernel's state at request time.
"""

from harness.sim.opnsense.launcher import OpnsenseProcess, OpnsenseStartError
from harness.sim.opnsense.spec import (
    OpnsenseSpecError,
    RouterSpec,
    endpoint_of,
    new_api_key,
    router_spec,
)

__all__ = ["OpnsenseProcess", "OpnsenseSpecError", "OpnsenseStartError", "RouterSpec",
           "endpoint_of", "new_api_key", "router_spec"]
