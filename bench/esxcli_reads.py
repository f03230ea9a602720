"""Benchmark: every host's esxcli view in one batch vs `govc host.esxcli` per command.

Brings the default simulated lab up (lh-vcsim answers esxcli from each host's namespace), then
reads the same esxcli commands for every host two ways: (a) `VsphereDriver.host_views()`, all
hosts concurrently over one session, the executer retrieved once per host (interface list,
ipv4 get, routes per netstack, nic list, nic get per vmnic, neighbour list, storage adapter
list); (b) as an engineer scripts it, one `govc host.esxcli -host H <command>` per command and
host (govc built from the pinned govmomi), each a login, executer and CLI-info lookup, the
command and a logout. Requests are counted by the driver's connection and, for govc, by its own
debug log (one `.req.headers` file per round trip). Checks both saw the same routes and NICs,
prints times and requests per host, and last `ratio=NN.N` (govc time / batch time).

Usage (root, under the sim lock): .venv/bin/python bench/esxcli_reads.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.drivers.vsphere import VsphereDriver
from harness.facts.esxcli import HostView
from harness.lab import load_inventory, load_lab
from harness.lab.inventory import resolve_secret
from harness.sim import lifecycle
from harness.sim.vcenter import build_govc

ROOT = Path(__file__).resolve().parent.parent


def commands(view: HostView) -> list[list[str]]:
    """The esxcli commands `host_views` runs for this host, as govc arguments."""
    out = [["network", "ip", "interface", "list"], ["network", "ip", "interface", "ipv4", "get"]]
    out += [["network", "ip", "route", "ipv4", "list", "-N", stack] for stack in view.routes]
    out += [["network", "nic", "list"]]
    out += [["network", "nic", "get", "-n", nic] for nic in view.nics]
    out += [["network", "ip", "neighbor", "list"], ["storage", "core", "adapter", "list"]]
    return out


def main() -> None:
    lab = load_lab(ROOT / "labs" / "sim.yaml")
    loaded = load_inventory(ROOT / "inventory" / "sim.yaml", lab)
    govc = str(build_govc())
    lifecycle.up(lab, loaded.inventory, base_dir=loaded.base_dir)
    try:
        vc = loaded.inventory.vcenter
        assert vc is not None
        with VsphereDriver.connect(vc, loaded.base_dir) as driver:
            driver.snapshot()  # host refs, as the suites have them before reading esxcli
            before = driver.requests
            t0 = time.perf_counter()
            got = driver.host_views(sorted(lab.hosts))
            batch_s, batch_requests = time.perf_counter() - t0, driver.requests - before
        if got.errors:
            sys.exit(f"esxcli failed: {got.errors}")
        views = got.values
        env = {**os.environ, "GOVC_URL": str(vc.url), "GOVC_USERNAME": vc.username,
               "GOVC_PASSWORD": resolve_secret(vc.password, loaded.base_dir).reveal(),
               "GOVC_TLS_CA_CERTS": str(vc.ca_file), "GOVC_DATACENTER": "DC-Lab",
               "GOVC_DEBUG": "true"}
        govc_requests: dict[str, int] = {}
        seen: dict[str, dict[str, Any]] = {}
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="lh-bench-govc-") as debug:
            for host, view in sorted(views.items()):
                hdir = Path(debug) / host
                hdir.mkdir()
                for args in commands(view):
                    proc = subprocess.run([govc, "host.esxcli", "-json", "-host", host, *args],
                                          env={**env, "GOVC_DEBUG_PATH": str(hdir)},
                                          capture_output=True, text=True, check=True)
                    seen.setdefault(host, {})[" ".join(args)] = json.loads(proc.stdout)["values"]
                govc_requests[host] = sum(1 for _ in hdir.rglob("*.req.headers"))
        govc_s = time.perf_counter() - t0
    finally:
        lifecycle.down(lab.name)
    for host, view in views.items():
        for stack, routes in view.routes.items():
            rows = seen[host][f"network ip route ipv4 list -N {stack}"]
            assert [r["Interface"][0] for r in rows] == [r.interface for r in routes], host
        assert sorted(r["Name"][0] for r in seen[host]["network nic list"]) == sorted(view.nics)
    print(f"hosts={len(views)}; the same routes and NICs both ways")
    print(f"batch: {batch_s:.2f} s, {batch_requests} requests; per host "
          + ", ".join(f"{h}={v.requests}" for h, v in sorted(views.items())))
    print(f"govc:  {govc_s:.2f} s, {sum(govc_requests.values())} requests; per host "
          + ", ".join(f"{h}={n}" for h, n in sorted(govc_requests.items())))
    print(f"ratio={govc_s / batch_s:.1f}")


if __name__ == "__main__":
    main()
