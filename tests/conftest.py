"""Shared helpers for labharness's own tests."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from harness.lab.source import load_yaml

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
SIM_LAB = ROOT / "labs" / "sim.yaml"
SIM_INVENTORY = ROOT / "inventory" / "sim.yaml"


def dump_yaml(data: Any) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()


@pytest.fixture(scope="session")
def sim_lab_data() -> dict[str, Any]:
    """The default lab as plain data (anchors expanded), to derive faulty labs from."""
    data = load_yaml(SIM_LAB).data
    assert isinstance(data, dict)
    return data


LabWriter = Callable[[Callable[[dict[str, Any]], None]], Path]


@pytest.fixture
def faulty_lab(sim_lab_data: dict[str, Any], tmp_path: Path) -> LabWriter:
    """Write a copy of the default lab with one change applied; returns the file's path."""
    counter = iter(range(1000))

    def write(change: Callable[[dict[str, Any]], None]) -> Path:
        data = copy.deepcopy(sim_lab_data)
        change(data)
        path = tmp_path / f"lab-{next(counter)}.yaml"
        path.write_text(dump_yaml(data), encoding="utf-8")
        return path

    return write
