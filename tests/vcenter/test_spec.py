"""The simulator spec is typed on both sides: the Python models and spec.go's structs name the
same JSON fields, so a field renamed or added on one side fails here, not at a lab's start."""

from __future__ import annotations

import re

from pydantic import BaseModel

from harness.sim.vcenter.launcher import GO_DIR
from harness.sim.vcenter.spec import (
    HardwareSpec,
    HostSpec,
    LldpSpec,
    NicSpec,
    SystemSpec,
    UplinkSpec,
    VcenterSpec,
    VcsimSpec,
)

PAIRS: dict[str, type[BaseModel]] = {
    "Spec": VcsimSpec, "VCenterSpec": VcenterSpec, "HostSpec": HostSpec,
    "UplinkSpec": UplinkSpec, "LldpSpec": LldpSpec, "NicSpec": NicSpec,
    "HardwareSpec": HardwareSpec, "SystemSpec": SystemSpec,
}


def go_struct_fields(source: str) -> dict[str, set[str]]:
    """struct name -> the JSON names of its fields, from `json:"name,..."` tags."""
    out: dict[str, set[str]] = {}
    for name, body in re.findall(r"type (\w+) struct \{(.*?)\n\}", source, re.S):
        out[name] = set(re.findall(r'json:"([^",]+)', body))
    return out


def test_python_and_go_specs_name_the_same_fields() -> None:
    go = go_struct_fields((GO_DIR / "spec.go").read_text(encoding="utf-8"))
    for struct, model in PAIRS.items():
        assert set(model.model_fields) == go[struct], struct


def test_the_spec_leaves_unset_fields_out() -> None:
    """lh-vcsim refuses unknown fields and reads a missing one as its zero value."""
    spec = VcsimSpec(vcenter=VcenterSpec(name="vc", version="8.0.2", build=1, datacenter="dc",
                                         cluster="c"),
                     hosts=[HostSpec(name="a", version="8.0.2", build=1)])
    assert "null" not in spec.to_json() and "clock_offset_s" not in spec.to_json()
