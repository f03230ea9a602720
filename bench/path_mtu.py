"""Benchmark: path-MTU discovery when the bottleneck router answers vs when ICMP is black-holed.

Builds host --1600-- r1 --1600-- r2 --1500-- dst in namespaces `lh-tb-mtu-*` (198.18.80.0/22),
measures the path MTU from host to dst R times with r2 answering (ICMP frag-needed: use its
next-hop MTU, confirm once, trace the hop) and R times with r2's frag-needed dropped by nftables
(binary search with short timeouts). Prints probe counts and times for both, whether the counts
keep within the budgets (<= 3 answered, <= 12 black-holed), and as the last line
`ratio=N.N` (black-holed time / answered time). Removes everything it made. Needs root.

Usage: .venv/bin/python bench/path_mtu.py [R]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile

from harness.drivers.probe.client import AgentPool
from harness.probes.mtu import PathMtuResult

PREFIX = "lh-tb-mtu-"
HOST, R1, R2, DST_NS = (PREFIX + n for n in ("host", "r1", "r2", "dst"))
DST = "198.18.82.2"
BUDGET_ANSWERED, BUDGET_BLACKHOLED = 3, 12
# one-line nft needs ";" before each "}"
BLACKHOLE = ("table inet lh_tb_blackhole { chain out { type filter hook output priority 0; "
             "policy accept; icmp type destination-unreachable drop; }; }\n")


def _ip(ns: str, script: str) -> None:
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input=script, text=True, check=True,
                   capture_output=True)


def _exec(ns: str, *argv: str, stdin: str | None = None) -> None:
    subprocess.run(["ip", "netns", "exec", ns, *argv], input=stdin, text=True, check=True,
                   capture_output=True)


def build() -> None:
    for ns in (HOST, R1, R2, DST_NS):
        subprocess.run(["ip", "netns", "add", ns], check=True)
        _ip(ns, "link set lo up\n")
    _ip(HOST, f"link add up0 mtu 1600 type veth peer name r1-a mtu 1600 netns {R1}\n"
              "link set up0 up\naddr add 198.18.80.2/24 dev up0\n"
              "route add default via 198.18.80.1\n")
    _ip(R1, f"link add r1-b mtu 1600 type veth peer name r2-a mtu 1600 netns {R2}\n"
            "link set r1-a up\nlink set r1-b up\naddr add 198.18.80.1/24 dev r1-a\n"
            "addr add 198.18.81.1/24 dev r1-b\nroute add 198.18.82.0/24 via 198.18.81.2\n")
    _ip(R2, f"link add r2-b mtu 1500 type veth peer name up0 mtu 1500 netns {DST_NS}\n"
            "link set r2-a up\nlink set r2-b up\naddr add 198.18.81.2/24 dev r2-a\n"
            "addr add 198.18.82.1/24 dev r2-b\nroute add 198.18.80.0/24 via 198.18.81.1\n")
    _ip(DST_NS, "link set up0 up\naddr add 198.18.82.2/24 dev up0\n"
                "route add default via 198.18.82.1\n")
    for router in (R1, R2):
        _exec(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        _exec(router, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")


def teardown() -> None:
    for ns in (HOST, R1, R2, DST_NS):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def _summary(label: str, results: list[PathMtuResult]) -> tuple[float, int]:
    elapsed = statistics.mean(r.elapsed_ms for r in results)
    probes = max(r.size_probes for r in results)
    first = results[0]
    hop = (f"hop {first.limiting_hop.ttl} {first.limiting_hop.address} mtu "
           f"{first.limiting_hop.mtu}" if first.limiting_hop else "hop unknown")
    print(f"{label}: path MTU {first.path_mtu} by {first.method}, {probes} size probes, "
          f"{elapsed:.1f} ms ({hop}; sizes {[p.size for p in first.probes]})")
    return elapsed, probes


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    teardown()
    build()
    try:
        with tempfile.TemporaryDirectory(prefix="lh-tb-mtu-") as sockets:
            pool = AgentPool.start([HOST], sockets, ["198.18.0.0/15"], ["up*"])
            try:
                agent = pool.agent(HOST)
                answered = [agent.path_mtu(DST) for _ in range(rounds)]
                _exec(R2, "nft", "-f", "-", stdin=BLACKHOLE)
                try:
                    blackholed = [agent.path_mtu(DST) for _ in range(rounds)]
                finally:
                    _exec(R2, "nft", "delete", "table", "inet", "lh_tb_blackhole")
            finally:
                pool.close()
    finally:
        teardown()
    t_answered, n_answered = _summary("router answers (frag-needed)", answered)
    t_blackholed, n_blackholed = _summary("ICMP black-holed (search)  ", blackholed)
    ok = {True: "within", False: "OVER"}
    print(f"answered:    {n_answered} size probes, budget <= {BUDGET_ANSWERED}: "
          f"{ok[n_answered <= BUDGET_ANSWERED]} budget")
    print(f"black-holed: {n_blackholed} size probes, budget <= {BUDGET_BLACKHOLED}: "
          f"{ok[n_blackholed <= BUDGET_BLACKHOLED]} budget")
    print(f"ratio={t_blackholed / t_answered:.1f}")


if __name__ == "__main__":
    main()
