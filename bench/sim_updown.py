"""Benchmark: simulated-lab up/down, ours (batched) vs one `ip` command per operation.

In one run: brings the default lab and a generated 32-host lab up and down with the real
lifecycle (daemons included), and builds the same 32-host plan the naive way (one subprocess
per `ip` operation) as the baseline. Prints times against the targets (default lab up <= 3 s,
down <= 0.5 s; 32 hosts up <= 10 s) and, last, `ratio=` naive build time / our build time.

Usage (root): .venv/bin/python bench/sim_updown.py
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from harness.lab import Lab, load_inventory, load_lab
from harness.sim import lifecycle
from harness.sim.dataplane import build, netns
from harness.sim.dataplane.plan import plan_dataplane

ROOT = Path(__file__).resolve().parent.parent


def big_lab(n_hosts: int) -> Lab:
    """The default lab with esx03 cloned until there are `n_hosts` hosts."""
    data: dict[str, Any] = load_lab(ROOT / "labs" / "sim.yaml").model_dump(mode="json")
    data["name"] = "lhbench"
    template_host = data["hosts"]["esx03"]
    template_server = data["servers"]["srv-esx03"]
    cables = [c for c in data["cabling"] if c["a"].startswith("esx03/")]
    for i in range(4, n_hosts + 1):
        host, server = f"esx{i:02d}", f"srv-esx{i:02d}"
        data["servers"][server] = copy.deepcopy(template_server)
        h = copy.deepcopy(template_host)
        h["server"] = server
        for vmk in h["vmknics"].values():
            ip, prefix = vmk["ip"].split("/")
            octets = ip.split(".")
            octets[3] = str(int(octets[3]) // 10 * 100 + i)  # .13 -> .1ii, .23 -> .2ii
            vmk["ip"] = ".".join(octets) + "/" + prefix
        data["hosts"][host] = h
        data["distributed_switches"]["dvs-lab"]["hosts"][host] = copy.deepcopy(
            data["distributed_switches"]["dvs-lab"]["hosts"]["esx03"])
        data["nsx"]["transport_zones"]["tz-lab"]["hosts"].append(host)
        for cable in cables:
            sw, port = cable["b"].split("/", 1)
            new_port = f"{port}-{i}"
            data["physical_switches"][sw]["ports"][new_port] = copy.deepcopy(
                data["physical_switches"][sw]["ports"][port])
            data["cabling"].append({"a": cable["a"].replace("esx03", host),
                                    "b": f"{sw}/{new_port}"})
    return Lab.model_validate(data)


def naive_build_seconds(lab: Lab) -> float:
    """Build the plan one `ip` subprocess per line (the baseline), then remove it."""
    plan = plan_dataplane(lab, None)
    original = build._batch

    def one_by_one(lines: Any, ns: str = "", tool: str = "ip") -> None:
        for line in lines:
            argv = [tool, *(["-n", ns] if ns else []), *_split(line)]
            netns.run(argv)

    build._batch = one_by_one  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        build.build(plan)
        return time.perf_counter() - start
    finally:
        build._batch = original  # type: ignore[assignment]
        build.teardown(plan.namespace_names(), plan.root_ifaces)


def _split(line: str) -> list[str]:
    import shlex

    return shlex.split(line)


def main() -> None:
    inventory = load_inventory(ROOT / "inventory" / "sim.yaml").inventory
    default = load_lab(ROOT / "labs" / "sim.yaml").model_copy(update={"name": "lhbench"})
    state = lifecycle.up(default, inventory.model_copy(update={"lab": "lhbench"}))
    start = time.perf_counter()
    lifecycle.down("lhbench")
    down_s = time.perf_counter() - start
    up_s = state.timings["up_s"]
    print(f"default lab: up {up_s:.2f} s (target <= 3), down {down_s:.2f} s (target <= 0.5), "
          f"{len(state.namespaces)} namespaces, {len(state.daemons)} daemons")

    big = big_lab(32)
    state = lifecycle.up(big, inventory.model_copy(update={"lab": "lhbench"}))
    start = time.perf_counter()
    lifecycle.down("lhbench")
    big_down = time.perf_counter() - start
    ours = state.timings["build_s"]
    print(f"32 hosts: up {state.timings['up_s']:.2f} s (target <= 10), build {ours:.2f} s, "
          f"down {big_down:.2f} s, {len(state.namespaces)} namespaces")
    naive = naive_build_seconds(big)
    print(f"32 hosts, one ip command per operation (baseline): build {naive:.2f} s")
    print(f"ratio={naive / ours:.1f}")


if __name__ == "__main__":
    main()
