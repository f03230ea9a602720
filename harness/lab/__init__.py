"""Lab and inventory models, their strict YAML loader and cross-reference validation."""

from harness.lab.inventory import Inventory, Secret, SecretError, resolve_secret
from harness.lab.loader import LoadedInventory, load_inventory, load_lab
from harness.lab.model import Lab
from harness.lab.source import InputFileError, Problem

__all__ = [
    "InputFileError",
    "Inventory",
    "Lab",
    "LoadedInventory",
    "Problem",
    "Secret",
    "SecretError",
    "load_inventory",
    "load_lab",
    "resolve_secret",
]
