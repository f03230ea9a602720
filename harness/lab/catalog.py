"""What the hardware in a lab can be: HPE server models and network adapters.

Validation uses these tables to say what is allowed (which slot, how many ports, which
personalities), so a lab that asks for an FCoE personality on a 1 Gb port fails at load time.
Sources: HPE QuickSpecs for the DL360 Gen9/Gen10 and the adapters named here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ServerModel = Literal["DL360 Gen9", "DL360 Gen10", "DL360 Gen10 Plus"]
BmcKind = Literal["ilo4", "ilo5"]
Slot = Literal["embedded", "flexlom", "pcie1", "pcie2", "pcie3"]
Personality = Literal["Ethernet", "iSCSI", "FCoE"]

BMC_OF_MODEL: dict[str, BmcKind] = {"DL360 Gen9": "ilo4", "DL360 Gen10": "ilo5",
                                    "DL360 Gen10 Plus": "ilo5"}
# ROM family of each model's system ROM (the BIOS attribute registry is named after it)
ROM_FAMILY: dict[str, str] = {"DL360 Gen9": "P89", "DL360 Gen10": "U32", "DL360 Gen10 Plus": "U46"}


@dataclass(frozen=True)
class FirmwareLine:
    """One line of iLO firmware a server model runs (HPE numbers releases MAJOR.MINOR, e.g.
    2.72). The line decides what the BMC serves: iLO 4 mirrors its tree at the legacy
    `/rest/v1`; iLO 5 1.x reports a port's LLDP neighbour only in the per-port `HpeLLDP`
    resource, 2.x and later also in the port's `Oem.Hpe.LldpData`."""

    kind: BmcKind
    major: int
    first_minor: int  # the first release of the line this model runs

    def label(self) -> str:
        gen = "4" if self.kind == "ilo4" else "5"
        return f"iLO {gen} {self.major}.{self.first_minor:02d} or a later {self.major}.x"

    def holds(self, version: tuple[int, int]) -> bool:
        return version[0] == self.major and version[1] >= self.first_minor


# What each model runs (HPE iLO 4/5 release notes and user guides): Gen9 ships iLO 4, whose
# RESTful API (with Redfish 1.0 conformance) is 2.30 and later; Gen10 shipped with iLO 5 1.10
# and takes 2.x and 3.x; Gen10 Plus came with iLO 5 2.x.
BMC_FIRMWARE: dict[str, tuple[FirmwareLine, ...]] = {
    "DL360 Gen9": (FirmwareLine("ilo4", 2, 30),),
    "DL360 Gen10": (FirmwareLine("ilo5", 1, 10), FirmwareLine("ilo5", 2, 0),
                    FirmwareLine("ilo5", 3, 0)),
    "DL360 Gen10 Plus": (FirmwareLine("ilo5", 2, 10), FirmwareLine("ilo5", 3, 0)),
}
# Firmware a lab leaves unset: what a freshly delivered server of that model reports.
DEFAULT_BMC_FIRMWARE: dict[str, str] = {"DL360 Gen9": "2.80", "DL360 Gen10": "2.72",
                                        "DL360 Gen10 Plus": "2.72"}
_VERSION = re.compile(r"(\d+)\.(\d{2})")


def firmware_version(text: str) -> tuple[int, int] | None:
    """`2.72` -> (2, 72); None when it is not an iLO release number."""
    match = _VERSION.fullmatch(text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def firmware_line(model: str, firmware: str) -> FirmwareLine | None:
    """The line of `model`'s firmware that `firmware` belongs to, or None."""
    version = firmware_version(firmware)
    if version is None:
        return None
    return next((line for line in BMC_FIRMWARE.get(model, ()) if line.holds(version)), None)


@dataclass(frozen=True)
class ServerPlatform:
    """What one server model reports about itself through SMBIOS, to its BMC and to the OS on it
    (ESXi, and so vCenter's host hardware summary): one processor SKU and memory size per model,
    as the lab's servers were bought. The BMC emulator and the simulated vCenter both read this
    table, so a check comparing the two sees one server."""

    vendor: str  # SMBIOS manufacturer: "HP" up to Gen9, "HPE" from Gen10 (HPE's split, 2015)
    product: str  # SMBIOS product name: "ProLiant DL360 Gen9"
    cpu_model: str  # the processor's brand string, as ESXi reports it
    cpu_packages: int
    cores_per_package: int
    threads_per_core: int
    cpu_mhz: int
    memory_gib: int


SERVER_PLATFORMS: dict[str, ServerPlatform] = {
    "DL360 Gen9": ServerPlatform("HP", "ProLiant DL360 Gen9",
                                 "Intel(R) Xeon(R) CPU E5-2650 v4 @ 2.20GHz", 2, 12, 2, 2200, 384),
    "DL360 Gen10": ServerPlatform("HPE", "ProLiant DL360 Gen10",
                                  "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", 2, 16, 2, 2100, 384),
    "DL360 Gen10 Plus": ServerPlatform("HPE", "ProLiant DL360 Gen10 Plus",
                                       "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz", 2, 28, 2, 2000,
                                       512),
}


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


@dataclass(frozen=True)
class EsxiDrivers:
    """How ESXi drives one adapter model: the NIC driver and, for converged adapters, the
    storage offload drivers of its iSCSI and FCoE functions, with the PCI description ESXi
    lists (`esxcli network nic list`)."""

    description: str
    nic: str
    nic_version: str
    iscsi: str | None = None
    fcoe: str | None = None


# Per model: the vmklinux drivers of ESXi 6.0/6.5 images, then the native drivers that replace
# them from 6.7 (VMware Compatibility Guide entries for these HPE adapters; HPE's 6.5 custom
# images already carry some native ones, so a check accepts either).
ESXI_DRIVERS: dict[str, tuple[EsxiDrivers, EsxiDrivers]] = {
    "331i": (EsxiDrivers("Broadcom Corporation NetXtreme BCM5719 Gigabit Ethernet", "tg3",
                         "3.137l.v60.1"),
             EsxiDrivers("Broadcom Corporation NetXtreme BCM5719 Gigabit Ethernet", "ntg3",
                         "4.1.3.2")),
    "366FLR": (EsxiDrivers("Intel Corporation I350 Gigabit Network Connection", "igb", "5.3.3"),
               EsxiDrivers("Intel Corporation I350 Gigabit Network Connection", "igbn", "1.4.7")),
    "534FLR-SFP+": (
        EsxiDrivers("QLogic Corporation NetXtreme II BCM57810 10 Gigabit Ethernet", "bnx2x",
                    "2.713.30.v60.8", iscsi="bnx2i", fcoe="bnx2fc"),
        EsxiDrivers("QLogic Corporation NetXtreme II BCM57810 10 Gigabit Ethernet", "qfle3",
                    "1.0.67.0", iscsi="qfle3i", fcoe="qfle3f")),
    "530SFP+": (
        EsxiDrivers("QLogic Corporation NetXtreme II BCM57810 10 Gigabit Ethernet", "bnx2x",
                    "2.713.30.v60.8", iscsi="bnx2i", fcoe="bnx2fc"),
        EsxiDrivers("QLogic Corporation NetXtreme II BCM57810 10 Gigabit Ethernet", "qfle3",
                    "1.0.67.0", iscsi="qfle3i", fcoe="qfle3f")),
    "562SFP+": (EsxiDrivers("Intel Corporation Ethernet Controller X710 for 10GbE SFP+", "i40e",
                            "1.5.6"),
                EsxiDrivers("Intel Corporation Ethernet Controller X710 for 10GbE SFP+", "i40en",
                            "1.7.17")),
}
NATIVE_DRIVERS_FROM = (6, 7)


def esxi_drivers(model: str, esxi_version: str) -> EsxiDrivers:
    """The drivers an ESXi release uses for an adapter model (native ones from 6.7 on)."""
    major, minor = (int(x) for x in esxi_version.split(".")[:2])
    legacy, native = ESXI_DRIVERS[model]
    return native if (major, minor) >= NATIVE_DRIVERS_FROM else legacy


def accepted_drivers(model: str) -> dict[str, frozenset[str]]:
    """Every driver ESXi may use for a model, by function: `nic`, `iscsi`, `fcoe`."""
    out: dict[str, set[str]] = {"nic": set(), "iscsi": set(), "fcoe": set()}
    for d in ESXI_DRIVERS[model]:
        out["nic"].add(d.nic)
        if d.iscsi:
            out["iscsi"].add(d.iscsi)
        if d.fcoe:
            out["fcoe"].add(d.fcoe)
    return {k: frozenset(v) for k, v in out.items()}
