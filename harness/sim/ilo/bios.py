"""The BIOS attributes an emulated ProLiant has, per generation, and its attribute registry.

One table drives everything BIOS: the current values (from the lab's BIOS NIC enablement), the
attribute registry clients validate against (ilorest refuses a value the registry lacks), and the
emulator's own checks of a pending PATCH. Names and values follow HPE's documentation: Gen9 NIC
enables are `Enabled`/`Disabled`, Gen10 ones `Auto`/`Disabled`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.lab.catalog import ROM_FAMILY
from harness.sim.ilo.spec import BmcSpec

SLOTS = (1, 2, 3)  # a DL360 has three PCIe slots on both generations


@dataclass(frozen=True)
class Attribute:
    """One BIOS attribute as its registry describes it (also any other writable property)."""

    name: str
    kind: str  # Enumeration | String | Integer | Boolean
    display: str = ""
    menu: str = ""
    values: tuple[str, ...] = ()
    default: Any = None
    read_only: bool = False
    lower: int | None = None
    upper: int | None = None
    max_length: int | None = None

    def problem(self, value: Any) -> str | None:
        """Why `value` is not acceptable ("not in list", "type"), or None when it is."""
        if self.kind == "Enumeration":
            return None if isinstance(value, str) and value in self.values else "not in list"
        if self.kind == "Boolean":
            return None if isinstance(value, bool) else "type"
        if self.kind == "Integer":
            if not isinstance(value, int) or isinstance(value, bool):
                return "type"
            if (self.lower is not None and value < self.lower) or \
                    (self.upper is not None and value > self.upper):
                return "not in list"
            return None
        if not isinstance(value, str):
            return "type"
        return "not in list" if self.max_length is not None and len(value) > self.max_length \
            else None


def _enum(name: str, display: str, menu: str, values: tuple[str, ...],
          default: str) -> Attribute:
    return Attribute(name, "Enumeration", display, menu, values, default)


def attributes(spec: BmcSpec) -> dict[str, Attribute]:
    """The BIOS attribute table of this server's generation."""
    gen10 = spec.generation == "ilo5"
    on = "Auto" if gen10 else "Enabled"
    dev = "System Options/Embedded Devices" if gen10 else "PCI Device Enable/Disable"
    net = "Network Options"
    table = [
        _enum("EmbNicEnable", "Embedded LOM", dev, (on, "Disabled"), on),
        _enum("FlexLom1Enable", "FlexibleLOM 1", dev, (on, "Disabled"), on),
        *[_enum(f"PciSlot{n}Enable", f"PCIe Slot {n}", dev, (on, "Disabled"), on)
          for n in SLOTS],
        _enum("Sriov", "SR-IOV", "Virtualization Options", ("Enabled", "Disabled"), "Enabled"),
        _enum("ProcHyperthreading", "Intel(R) Hyperthreading", "Processor Options",
              ("Enabled", "Disabled"), "Enabled"),
        _enum("ProcVirtualization", "Intel(R) Virtualization Technology",
              "Virtualization Options", ("Enabled", "Disabled"), "Enabled"),
        _enum("BootMode", "Boot Mode", "Boot Options", ("Uefi", "LegacyBios"), "Uefi"),
        _enum("PowerRegulator", "Power Regulator", "Power and Performance Options",
              ("DynamicPowerSavings", "StaticLowPower", "StaticHighPerf", "OsControl"),
              "StaticHighPerf"),
        _enum("NicBoot1", "Embedded LOM 1 Port 1", f"{net}/Network Boot Options",
              ("NetworkBoot", "Disabled"), "NetworkBoot"),
        _enum("NicBoot2", "Embedded LOM 1 Port 2", f"{net}/Network Boot Options",
              ("NetworkBoot", "Disabled"), "Disabled"),
        _enum("FCScanPolicy", "Fibre Channel/FCoE Scan Policy", "Storage Options",
              ("AllTargets", "CardConfig"), "CardConfig"),
        _enum("PreBootNetwork", "Pre-Boot Network Interface", net,
              ("Auto", "EmbNicPort1", "EmbNicPort2", "FlexLom1Port1", "FlexLom1Port2")
              if gen10 else ("Auto", "EmbNic", "FlexLom1", *[f"PciSlot{n}" for n in SLOTS]),
              "Auto"),
        Attribute("ServerAssetTag", "String", "Server Asset Tag", "System Default Options",
                  default="", max_length=32),
        Attribute("SerialNumber", "String", "Serial Number", "Advanced Service Options",
                  default=spec.serial, read_only=True),
        Attribute("ProductId", "String", "Product ID", "Advanced Service Options",
                  default="867959-B21" if gen10 else "755258-B21", read_only=True),
    ]
    if gen10:
        table += [
            _enum("WorkloadProfile", "Workload Profile", "Workload Profile",
                  ("GeneralPowerEfficientCompute", "GeneralPeakFrequencyCompute",
                   "Virtualization-PowerEfficient", "Virtualization-MaxPerformance", "Custom"),
                  "GeneralPowerEfficientCompute"),
            Attribute("NetworkBootRetryCount", "Integer", "Network Boot Retry Count", net,
                      default=20, lower=0, upper=20),
        ]
    return {a.name: a for a in table}


def initial_values(spec: BmcSpec, table: dict[str, Attribute]) -> dict[str, Any]:
    """Current values at power-on: registry defaults, with the lab's NIC enablement."""
    values = {name: a.default for name, a in table.items()}
    on, off = table["EmbNicEnable"].values
    nics = spec.bios_nics
    values["EmbNicEnable"] = on if nics.get("embedded", True) else off
    values["FlexLom1Enable"] = on if nics.get("flexlom", True) else off
    slots = {int(k): bool(v) for k, v in dict(nics.get("pcie_slots", {})).items()}
    for n in SLOTS:
        values[f"PciSlot{n}Enable"] = on if slots.get(n, True) else off
    return values


def registry_id(spec: BmcSpec) -> str:
    """The attribute registry's name: the ROM family (U46 Gen10 Plus, U32 Gen10, P89 Gen9) and a
    version."""
    family = ROM_FAMILY.get(spec.model, "U32" if spec.generation == "ilo5" else "P89")
    return f"BiosAttributeRegistry{family}.v1_2_68" if spec.generation == "ilo5" \
        else f"HpBiosAttributeRegistry{family}.1.1.00"


def registry_document(spec: BmcSpec, table: dict[str, Attribute], odata_id: str
                      ) -> dict[str, Any]:
    """The attribute registry as clients download it (iLO 4 names the key `Name`)."""
    gen10 = spec.generation == "ilo5"
    name_key = "AttributeName" if gen10 else "Name"
    entries = []
    for a in table.values():
        entry: dict[str, Any] = {
            name_key: a.name, "DisplayName": a.display, "HelpText": f"{a.display}.",
            "Type": a.kind, "ReadOnly": a.read_only, "GrayOut": False, "IsSystemUniqueProperty":
            a.read_only, "MenuPath": f"./{a.menu}", "DefaultValue": a.default}
        if a.values:
            entry["Value"] = [{"ValueName": v, "ValueDisplayName": v} for v in a.values]
        if a.lower is not None:
            entry["LowerBound"], entry["UpperBound"] = a.lower, a.upper
        if a.max_length is not None:
            entry["MaxLength"], entry["MinLength"] = a.max_length, 0
        entries.append(entry)
    menus = sorted({a.menu for a in table.values()})
    rid = registry_id(spec)
    doc: dict[str, Any] = {
        "@odata.id": odata_id, "Id": rid, "Name": "BIOS Attribute Registry", "Language": "en",
        "OwningEntity": "HPE", "RegistryVersion": rid.rsplit("v", 1)[-1].replace("_", "."),
        "SupportedSystems": [{"ProductName": f"ProLiant {spec.model}",
                              "SystemId": ROM_FAMILY.get(spec.model,
                                                         "U32" if gen10 else "P89")}],
        "RegistryEntries": {
            "Attributes": entries, "Dependencies": [],
            "Menus": [{"MenuName": m.split("/")[-1].replace(" ", ""),
                       "DisplayName": m.split("/")[-1],
                       "MenuPath": f"./{m}", "ReadOnly": False, "GrayOut": False}
                      for m in menus]}}
    doc["@odata.type"] = "#AttributeRegistry.v1_1_0.AttributeRegistry" if gen10 \
        else "#HpBiosAttributeRegistrySchema.1.1.0.HpBiosAttributeRegistrySchema"
    if not gen10:
        doc["Type"] = "HpBiosAttributeRegistrySchema.1.1.0"
    return doc
