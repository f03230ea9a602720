"""What the hardware in a lab can be: HPE server models and network adapters.

Validation uses these tables to say what is allowed (which slot, how many ports, which
personalities), so a lab that asks for an FCoE personality on a 1 Gb port fails at load time.
Sources: HPE QuickSpecs for the DL360 Gen9/Gen10 and the adapters named here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ServerModel = Literal["DL360 Gen9", "DL360 Gen10"]
BmcKind = Literal["ilo4", "ilo5"]
Slot = Literal["embedded", "flexlom", "pcie1", "pcie2", "pcie3"]
Personality = Literal["Ethernet", "iSCSI", "FCoE"]

BMC_OF_MODEL: dict[str, BmcKind] = {"DL360 Gen9": "ilo4", "DL360 Gen10": "ilo5"}


@dataclass(frozen=True)
class AdapterModel:
    """One adapter model and what it can do."""

    model: str
    full_name: str
    ports: int
    speed_gbps: int
    form: Literal["embedded", "flexlom", "pcie"]
    personalities: tuple[Personality, ...]  # storage personalities beyond plain Ethernet
    dcb: bool  # has an embedded LLDP/DCBX agent that must be on for DCB


ADAPTERS: dict[str, AdapterModel] = {
    a.model: a
    for a in (
        AdapterModel("331i", "HPE Ethernet 1Gb 4-port 331i Adapter", 4, 1, "embedded",
                     ("Ethernet",), False),
        AdapterModel("366FLR", "HPE Ethernet 1Gb 4-port 366FLR Adapter", 4, 1, "flexlom",
                     ("Ethernet",), False),
        AdapterModel("534FLR-SFP+", "HPE FlexFabric 10Gb 2-port 534FLR-SFP+ Adapter", 2, 10,
                     "flexlom", ("Ethernet", "iSCSI", "FCoE"), True),
        AdapterModel("530SFP+", "HPE Ethernet 10Gb 2-port 530SFP+ Adapter", 2, 10, "pcie",
                     ("Ethernet", "iSCSI"), True),
        AdapterModel("562SFP+", "HPE Ethernet 10Gb 2-port 562SFP+ Adapter", 2, 10, "pcie",
                     ("Ethernet",), False),
    )
}


def slot_form(slot: str) -> str:
    """`pcie2` -> `pcie`: the kind of slot an adapter model must fit."""
    return "pcie" if slot.startswith("pcie") else slot
