"""Room in the kernel's ARP table for the simulated lab.

A real lab's hosts, switches and probe VMs each have their own ARP table. The simulated lab's
namespaces share one: Linux keeps IPv4 neighbours of every network namespace in one table whose
size limits (`net.ipv4.neigh.default.gc_thresh1..3`) exist only in the root namespace. The
default hard limit is 1024 entries for the whole machine; a 32-host lab needs more than ten
times that, and past the limit the kernel refuses new neighbours (`table_fulls` in
/proc/net/stat/arp_cache grows): vmknics stop answering probes and the probes stop answering
the vmknics, which reads as paths without ARP replies on a healthy lab.

So before a lab is built its need is estimated (every address may learn every other address on
its subnet) and the limits are raised to it, on top of what the table holds already (another
lab side by side). They are never lowered: they are limits, not allocations, and another lab
or the machine's own use may rely on them.

That includes `gc_thresh1`, below which the kernel's periodic collection leaves the table alone.
A real host's table is far below its 128, so an entry it learnt stays (stale, checked again
when used) until the host's own timeout. The shared table is far above it, so every entry
unused for a minute was deleted: after a minute of quiet, the first frame of each VXLAN flood
and each routed hop waited for ARP again, and at 32 hosts an echo through the DLR came back
2 s late (measured: 2,031 ms for the first ping after 85 s idle, 1.1 ms with the entries kept).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from harness.sim.dataplane.plan import DataplanePlan

LIMITS = Path("/proc/sys/net/ipv4/neigh/default")
STATS = Path("/proc/net/stat/arp_cache")


def entries_needed(plan: DataplanePlan) -> int:
    """Neighbours the lab's addresses can learn: on each subnet, every address of every
    other (kernel addresses and the probe VMs' identities alike)."""
    per_subnet: Counter[str] = Counter(str(a.ip.network) for a in plan.addresses)
    for probe in plan.host_probes:
        per_subnet.update(str(ip.network) for _net, ip in probe.addresses)
    return sum(n * (n - 1) for n in per_subnet.values())


def in_use() -> int:
    """Entries the table holds now (the first column of the first CPU's line)."""
    try:
        lines = STATS.read_text(encoding="ascii").splitlines()
        return int(lines[1].split()[0], 16)
    except (OSError, IndexError, ValueError):
        return 0


def fit(plan: DataplanePlan) -> str | None:
    """Raise the table's limits so the lab fits; a note of what changed, or why not."""
    target = in_use() + entries_needed(plan)
    soft = 1 << max(0, target - 1).bit_length()  # a power of two >= target
    wanted = {"gc_thresh1": soft, "gc_thresh2": soft, "gc_thresh3": 2 * soft}
    raised: list[str] = []
    try:
        for key, value in wanted.items():
            path = LIMITS / key
            if int(path.read_text(encoding="ascii")) < value:
                path.write_text(str(value), encoding="ascii")
                raised.append(f"{key}={value}")
    except (OSError, ValueError) as exc:
        return (f"the kernel's ARP table limits could not be raised for {target} neighbours "
                f"({exc}); on a big lab, paths may lose ARP replies")
    if not raised:
        return None
    return (f"kernel ARP table limits raised for {target} neighbours "
            f"(net.ipv4.neigh.default.{', '.join(raised)}): every simulated host shares it")
