"""Root conftest: only what pytest needs to find the labharness plugin for `suites/`.

An installed labharness registers its plugin through the `pytest11` entry point; a plain checkout
(PYTHONPATH=. pytest suites --lab labs/sim.yaml) registers it here instead.
"""

from importlib.metadata import entry_points

if not any(ep.name == "labharness" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["harness.pytest_plugin.plugin"]
