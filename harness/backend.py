"""What a backend can do: which drivers the lab realisation in hand offers.

Tests ask for a capability (`@pytest.mark.needs("vsphere")`), never for a backend, so the same
suite runs against the simulated lab and against hardware, and says plainly why it skips.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from harness.lab.loader import LoadedInventory

CAPABILITIES: dict[str, str] = {
    "vsphere": "vCenter API (pyVmomi)",
    "redfish": "BMC Redfish API (iLO)",
    "ssh": "SSH to routers and hosts",
    "opnsense": "OPNsense routers' REST API",
    "probe": "packet probes on lab networks (scapy)",
}

# What the simulated lab realises: None when it does, else why not. Each part of the sim that
# lands adds its capability here.
SIM_PROVIDES: Mapping[str, str | None] = {
    "vsphere": None,  # lh-vcsim on the management network, provisioned from the lab
    "redfish": None,  # the iLO emulator on the management network, one BMC per server
    "ssh": None,  # routers' OpenSSH sshd on the management network
    "opnsense": None,  # the OPNsense API of `kind: opnsense` routers, served from their namespace
    "probe": None,  # probe agents in the data plane's namespaces
}
# what needs the simulated lab built on this machine
DATA_PLANE = ("vsphere", "redfish", "ssh", "opnsense", "probe")


@dataclass(frozen=True)
class Backend:
    """The realisation a run talks to and the capabilities it offers."""

    kind: Literal["none", "real", "sim"]
    capabilities: frozenset[str]
    missing: Mapping[str, str] = field(default_factory=dict)  # capability -> why not

    def why_not(self, capability: str) -> str | None:
        """None when the capability is there; otherwise an actionable reason."""
        if capability in self.capabilities:
            return None
        return self.missing.get(capability, f"backend {self.kind} does not offer {capability}")


def backend_for(loaded: LoadedInventory | None, sim_problem: str | None = None) -> Backend:
    """The backend an inventory describes (or none, when only the lab file is given).

    `sim_problem` says why this machine cannot build the simulated data plane (not root,
    missing kernel features or tools); the capabilities that need it are then missing.
    """
    if loaded is None:
        reason = "no inventory given: pass --inventory (or LABHARNESS_INVENTORY) to reach a lab"
        return Backend("none", frozenset(), {c: reason for c in CAPABILITIES})
    inv = loaded.inventory
    if inv.backend == "sim":
        missing = {c: r for c, r in SIM_PROVIDES.items() if r is not None}
        if sim_problem is not None:
            missing.update({c: f"the simulated lab cannot be built here: {sim_problem}"
                            for c in DATA_PLANE})
        return Backend("sim", frozenset(c for c in CAPABILITIES if c not in missing), missing)
    offered = {
        "vsphere": inv.vcenter is not None,
        "redfish": bool(inv.bmcs),
        "ssh": bool(inv.ssh),
        "opnsense": bool(inv.opnsense),
        "probe": bool(inv.probes),
    }
    where = {"vsphere": "vcenter", "redfish": "bmcs", "ssh": "ssh", "opnsense": "opnsense",
             "probe": "probes"}
    missing = {c: f"inventory {inv.name} has no `{where[c]}` section" for c, ok in offered.items()
               if not ok}
    return Backend("real", frozenset(c for c, ok in offered.items() if ok), missing)
