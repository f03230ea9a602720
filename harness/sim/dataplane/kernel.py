"""Detect the kernel features the simulated data plane needs, in a scratch namespace.

Kernels differ (the one these notes were measured on has no bonding, 802.1Q or VLAN-filtering
bridges); the sim needs only veth, bridges, VXLAN and nftables' bridge and netdev families, and
says exactly what is missing instead of failing half-way through a build.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from harness.sim.dataplane import netns

REQUIRED_TOOLS = ("ip", "bridge", "nft", "lldpd", "lldpcli", "ssh-keygen")


@dataclass(frozen=True)
class KernelFeatures:
    """What the scratch namespace could create."""

    present: dict[str, bool]
    missing_tools: list[str]

    @property
    def missing(self) -> list[str]:
        needed = ("netns", "veth", "bridge", "vxlan", "nft-bridge", "nft-netdev-egress")
        return [f for f in needed if not self.present.get(f, False)]

    def problem(self) -> str | None:
        """A message naming what is missing, or None when the sim can be built."""
        parts = []
        if os.geteuid() != 0:
            parts.append("the simulated lab needs root (network namespaces)")
        if self.missing_tools:
            parts.append("missing commands: " + ", ".join(self.missing_tools)
                         + " (run ./ci/setup)")
        if self.missing:
            parts.append("missing kernel features: " + ", ".join(self.missing))
        return "; ".join(parts) or None


def detect(scratch: str = "lh-kernel-probe") -> KernelFeatures:
    """Try each feature in a scratch namespace and remove it again."""
    tools = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    present: dict[str, bool] = {}
    if os.geteuid() != 0 or "ip" in tools:
        return KernelFeatures(present, tools)
    name = f"{scratch}-{os.getpid()}"
    created = netns.run(["ip", "netns", "add", name], check=False).returncode == 0
    present["netns"] = created
    if not created:
        return KernelFeatures(present, tools)
    try:
        def ok(*argv: str) -> bool:
            return netns.run(list(argv), ns=name, check=False).returncode == 0

        present["veth"] = ok("ip", "link", "add", "lhp0", "type", "veth", "peer", "name",
                             "lhp1")
        present["bridge"] = ok("ip", "link", "add", "lhpbr", "type", "bridge")
        present["vxlan"] = ok("ip", "link", "add", "lhpvx", "type", "vxlan", "id", "42", "dstport",
                              "4789", "local", "198.18.0.1", "df", "set")
        present["bond"] = ok("ip", "link", "add", "lhpbo", "type", "bond")
        present["vlan"] = present["veth"] and ok("ip", "link", "add", "link", "lhp0", "name",
                                                 "lhp0.9", "type", "vlan", "id", "9")
        if "nft" not in tools and present["veth"]:
            present["nft-bridge"] = netns.run(
                ["nft", "-f", "-"], ns=name, check=False,
                stdin="table bridge t { chain c { type filter hook prerouting priority 0; }; }\n",
            ).returncode == 0
            present["nft-netdev-egress"] = netns.run(
                ["nft", "-f", "-"], ns=name, check=False,
                stdin='table netdev n { chain e { type filter hook egress device "lhp0" '
                      "priority 0; }; }\n").returncode == 0
    finally:
        netns.run(["ip", "netns", "del", name], check=False)
    return KernelFeatures(present, tools)
