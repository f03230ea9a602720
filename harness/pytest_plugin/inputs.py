"""What a run is about: the lab, the inventory that reaches it, the backend, the scenarios.

`resolve_inputs` is the one place these are read and checked, for `labharness run` and for a
plain `pytest suites --lab ...` alike. It imports the simulated lab only for a sim inventory
(to ask the kernel what it can build) and for scenario names, so a run against a real lab loads
none of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.backend import Backend, backend_for
from harness.errors import OptionError
from harness.lab.loader import LoadedInventory, load_inventory, load_lab
from harness.lab.model import Lab


@dataclass(frozen=True)
class RunInputs:
    """A run's validated inputs.

    Attributes:
        sim_problem: why this machine cannot build the simulated lab (sim inventories only).
        scenarios: scenario keys (`F12`, `F11-cabling`) of the faults to apply to the simulated
            lab, in order.
    """

    lab: Lab | None
    inventory: LoadedInventory | None
    backend: Backend
    scenarios: tuple[str, ...] = ()
    sim_problem: str | None = None


def resolve_inputs(lab_path: Path | str | None, inventory_path: Path | str | None,
                   scenario_names: Sequence[str] = ()) -> RunInputs:
    """Load and cross-check a run's lab, inventory and scenarios.

    Raises:
        InputFileError: the lab or inventory file is invalid (every problem, located).
        UnknownScenarioError: a scenario name the simulated lab does not reproduce.
        OptionError: scenarios asked of a backend that is not the simulated lab, or of a
            machine that cannot build it.
    """
    lab = load_lab(Path(lab_path)) if lab_path else None
    loaded = load_inventory(Path(inventory_path), lab) if inventory_path else None
    sim_problem = None
    if loaded is not None and loaded.inventory.backend == "sim":
        from harness.sim.dataplane import kernel

        sim_problem = kernel.detect().problem()
    backend = backend_for(loaded, sim_problem)
    scenarios: tuple[str, ...] = ()
    if any(n.strip() for n in scenario_names):
        from harness.sim.scenarios import resolve

        scenarios = tuple(s.id for s in resolve(scenario_names))
        if backend.kind != "sim":
            raise OptionError("--scenario applies faults to the simulated lab only; use a sim "
                              "inventory (inventory/sim.yaml)")
        if sim_problem is not None:
            raise OptionError("--scenario needs the simulated lab, which cannot be built here: "
                              f"{sim_problem}")
    return RunInputs(lab, loaded, backend, scenarios, sim_problem)


class GivenInputs:
    """A run's inputs, already resolved by `labharness run`, for the pytest session it starts
    in-process (`pytest.main(plugins=[GivenInputs(inputs), ...])`): the session then tests
    the lab the run built the sim from, without reading and checking the files again (a
    32-host lab takes over a second to load)."""

    def __init__(self, inputs: RunInputs) -> None:
        self.inputs = inputs

