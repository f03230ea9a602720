"""JSON Schema of lab and inventory files, for editors (yaml-language-server) and other tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from harness.lab.inventory import Inventory
from harness.lab.model import Lab

SCHEMA_DIR = Path(__file__).parent / "schema"
SchemaKind = Literal["lab", "inventory"]


def json_schema(kind: SchemaKind = "lab") -> dict[str, Any]:
    """The JSON Schema of a lab or inventory file."""
    model = Lab if kind == "lab" else Inventory
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://labharness.invalid/schema/{kind}.schema.json"
    return schema


def render_schema(kind: SchemaKind = "lab") -> str:
    """The schema as the committed file holds it (stable key order, trailing newline)."""
    return json.dumps(json_schema(kind), indent=2, sort_keys=True) + "\n"


def committed_schema_path(kind: SchemaKind) -> Path:
    return SCHEMA_DIR / f"{kind}.schema.json"
