"""Field types shared by the lab and inventory models: names, MACs, MTUs, VLANs, scalars."""

from __future__ import annotations

import re
from ipaddress import IPv4Interface
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
)

_MAC = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")


class StrictModel(BaseModel):
    """Base of every lab/inventory model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        coerce_numbers_to_str=True,  # `version: 6.5` in YAML is a float; treat it as the text "6.5"
        validate_default=True,
    )


def _mac(value: str) -> str:
    v = value.strip().lower()
    if not _MAC.match(v):
        raise ValueError(f"{value!r} is not a MAC address (six hex pairs, e.g. 00:50:56:00:00:01)")
    return v.replace("-", ":")


MacAddress = Annotated[str, AfterValidator(_mac)]
"""A MAC address, normalised to lower-case colon form."""

# Element names become namespace names (`lh-<lab>-<name>`) and test ids, so keep them simple.
ElementName = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$", description="letters, digits, . _ -")
]
VmkName = Annotated[str, Field(pattern=r"^vmk[0-9]{1,3}$", description="vmk0, vmk1, ...")]
VmnicName = Annotated[str, Field(pattern=r"^vmnic[0-9]{1,3}$", description="vmnic0, vmnic1, ...")]
Vlan = Annotated[int, Field(ge=0, le=4095, description="0 = untagged, 4095 = all VLANs (trunk)")]
Mtu = Annotated[int, Field(ge=1280, le=9216, description="bytes of IP payload per frame")]
Vni = Annotated[int, Field(ge=5000, le=16777215, description="VXLAN network identifier")]


def _scalar(value: Any) -> str | int | float | bool:
    if isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError("must be a single value (text, number or true/false), not a list or mapping")


ScalarValue = Annotated[
    str | int | float | bool,
    PlainValidator(_scalar),
    WithJsonSchema({"type": ["string", "integer", "number", "boolean"]}),
]
"""An advanced option or extraConfig value: one scalar, reported as one error if it is not."""


def _needs_prefix(value: Any) -> Any:
    if isinstance(value, str) and "/" not in value:
        raise ValueError(f"{value!r} has no prefix length; write ADDRESS/PREFIX, e.g. "
                         f"{value}/24")
    return value


InterfaceAddress = Annotated[
    IPv4Interface, BeforeValidator(_needs_prefix),
    WithJsonSchema({"type": "string", "format": "ipvanyinterface",
                    "description": "ADDRESS/PREFIX, e.g. 198.18.10.11/24"}),
]
"""An interface address with its prefix length (a bare address would silently mean /32)."""

LAB_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,15}$"

# What each name pattern means, for error messages about list items and mapping keys (pydantic
# reports only the regular expression there).
PATTERN_HELP: dict[str, str] = {
    r"^vmk[0-9]{1,3}$": "vmk0, vmk1, ...",
    r"^vmnic[0-9]{1,3}$": "vmnic0, vmnic1, ...",
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$": "letters, digits, . _ -; at most 40 characters",
    LAB_NAME_PATTERN: "a lower-case letter, then lower-case letters, digits or -; at most 16 "
                      "characters (it prefixes every simulated-lab namespace)",
}
