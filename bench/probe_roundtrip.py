"""Benchmark: one ARP + ICMP probe through a persistent agent vs a fresh process per probe.

Builds two namespaces (`lh-tb-rt-a`, `lh-tb-rt-b`, one veth, 198.18.91.0/24), then in one run
times N echo probes (route lookup, explicit ARP, ICMP echo with explicit Ether) through a
persistent agent, and M of the same probe run as `ip netns exec NS python -c ...`, which pays
for the interpreter and the scapy import every time. Prints both per-probe times and, as the
last line, `ratio=N.N` (fresh / persistent; the target is >= 20). Removes everything it made,
also on Ctrl-C. Needs root.

Usage: .venv/bin/python bench/probe_roundtrip.py [N] [M]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

from harness.drivers.probe.client import AgentPool

NS_A, NS_B = "lh-tb-rt-a", "lh-tb-rt-b"
DST = "198.18.91.2"
FRESH_PROBE = (
    "from harness.probes.echo import echo\n"
    "from harness.probes.link import LinkContext\n"
    "from harness.probes.policy import Policy\n"
    "ctx = LinkContext(Policy.build(['vmk*'], ['198.18.0.0/15']))\n"
    f"result = echo(ctx, {DST!r})\n"
    "raise SystemExit(0 if result.replied else 1)\n")


def _ip(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(["ip", *argv], input=stdin, text=True, check=True, capture_output=True)


def build() -> None:
    for ns in (NS_A, NS_B):
        _ip("netns", "add", ns)
    _ip("-n", NS_A, "-batch", "-", stdin=(
        f"link add vmk0 type veth peer name vmk0 netns {NS_B}\n"
        "addr add 198.18.91.1/24 dev vmk0\nlink set vmk0 up\nlink set lo up\n"))
    _ip("-n", NS_B, "-batch", "-", stdin="addr add 198.18.91.2/24 dev vmk0\nlink set vmk0 up\n")


def teardown() -> None:
    for ns in (NS_A, NS_B):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    teardown()  # a crashed earlier run's namespaces, by exact name
    build()
    try:
        with tempfile.TemporaryDirectory(prefix="lh-tb-rt-") as sockets:
            pool = AgentPool.start([NS_A], sockets, ["198.18.0.0/15"], ["vmk*"])
            try:
                agent = pool.agent(NS_A)
                for _ in range(3):  # connect, first-use costs
                    agent.echo(DST)
                times = []
                for _ in range(n):
                    start = time.perf_counter()
                    if not agent.echo(DST).replied:
                        raise SystemExit("persistent agent: echo not answered")
                    times.append(time.perf_counter() - start)
            finally:
                pool.close()
        fresh = []
        for _ in range(m):
            start = time.perf_counter()
            subprocess.run(["ip", "netns", "exec", NS_A, sys.executable, "-c", FRESH_PROBE],
                           check=True)
            fresh.append(time.perf_counter() - start)
    finally:
        teardown()
    agent_ms = statistics.mean(times) * 1000
    fresh_ms = statistics.mean(fresh) * 1000
    median_ms = statistics.median(times) * 1000
    print(f"persistent agent: {agent_ms:.2f} ms/probe (median {median_ms:.2f}, {n} probes: "
          "route + ARP + ICMP echo over the agent's unix socket)")
    print(f"fresh process:    {fresh_ms:.1f} ms/probe ({m} probes: ip netns exec python -c, "
          "imports scapy each time)")
    print(f"ratio={fresh_ms / agent_ms:.1f}")


if __name__ == "__main__":
    main()
