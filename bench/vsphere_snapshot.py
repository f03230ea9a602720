"""Benchmark: one PropertyCollector snapshot of every host's network vs naive attribute access.

Starts lh-vcsim with N hosts (default 1,000), then reads the same facts per host (name,
config.network.vnic/vswitch/portgroup/pnic) two ways: (a) RetrievePropertiesEx over a
ContainerView, following continuation tokens (pages of 100 objects), and (b) naive pyVmomi
attribute access, `h.config.network.vnic` and so on, which costs one round trip per attribute
per host. Requests are counted by wrapping `si._stub.InvokeMethod`. Prints both times and
request counts, checks both saw the same data, and prints `ratio=NN.N` (naive / collector) last.

Usage: .venv/bin/python bench/vsphere_snapshot.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from harness.sim.vcenter import VcsimProcess, build_binary

USER, PASSWORD = "bench", "bench-password"
PATHS = ["config.network.vnic", "config.network.vswitch", "config.network.portgroup",
         "config.network.pnic"]
PAGE = 100

Facts = dict[str, tuple[tuple[str, ...], ...]]


def spec(n: int) -> dict[str, Any]:
    hosts = [{"name": f"esx{i:04d}", "version": "6.5.0", "build": 5969303,
              "vmnics": [f"vmnic{k}" for k in range(4)]} for i in range(n)]
    return {"vcenter": {"name": "vcsa", "version": "6.5.0", "build": 8307201,
                        "datacenter": "DC", "cluster": "CL"}, "hosts": hosts}


def digest(vnic: Any, vswitch: Any, portgroup: Any, pnic: Any) -> tuple[tuple[str, ...], ...]:
    return (tuple(v.device for v in vnic), tuple(s.name for s in vswitch),
            tuple(p.spec.name for p in portgroup), tuple(p.device for p in pnic))


def collector(si: Any) -> Facts:
    content = si.content
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    pc = content.propertyCollector
    filter_spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(
            obj=view, skip=True, selectSet=[vmodl.query.PropertyCollector.TraversalSpec(
                name="view", type=vim.view.ContainerView, path="view", skip=False)])],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(
            type=vim.HostSystem, pathSet=["name", *PATHS])])
    result = pc.RetrievePropertiesEx(
        [filter_spec], vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=PAGE))
    objects = list(result.objects)
    while result.token:
        result = pc.ContinueRetrievePropertiesEx(result.token)
        objects.extend(result.objects)
    view.Destroy()
    facts: Facts = {}
    for obj in objects:
        props = {p.name: p.val for p in obj.propSet}
        facts[props["name"]] = digest(*(props.get(p, []) for p in PATHS))
    return facts


def naive(si: Any) -> Facts:
    content = si.content
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    facts: Facts = {}
    for h in view.view:
        facts[h.name] = digest(h.config.network.vnic, h.config.network.vswitch,
                               h.config.network.portgroup, h.config.network.pnic)
    view.Destroy()
    return facts


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory(prefix="lh-bench-vcsim-") as tmp:
        t0 = time.perf_counter()
        binary = build_binary()
        build_s = time.perf_counter() - t0
        with VcsimProcess.start(spec(n), "127.0.0.1:0", USER, PASSWORD, workdir=Path(tmp),
                                binary=binary, timeout=300) as sim:
            print(f"hosts={n} build_s={build_s:.1f} startup_s={sim.startup_s:.2f}")
            si = SmartConnect(host=sim.host, port=sim.port, user=USER, pwd=PASSWORD,
                              sslContext=sim.ssl_context())
            try:
                calls: list[str] = []
                stub = si._stub
                invoke = stub.InvokeMethod

                def counting(mo: Any, info: Any, args: Any) -> Any:
                    calls.append(info.name)
                    return invoke(mo, info, args)

                stub.InvokeMethod = counting
                t0 = time.perf_counter()
                pc_facts = collector(si)
                pc_s, pc_calls = time.perf_counter() - t0, len(calls)
                calls.clear()
                t0 = time.perf_counter()
                naive_facts = naive(si)
                naive_s, naive_calls = time.perf_counter() - t0, len(calls)
                stub.InvokeMethod = invoke
            finally:
                Disconnect(si)
    if pc_facts != naive_facts or len(pc_facts) != n:
        sys.exit(f"results differ: collector saw {len(pc_facts)} hosts, naive {len(naive_facts)}")
    print(f"collector: {pc_s:.2f} s, {pc_calls} requests")
    print(f"naive:     {naive_s:.2f} s, {naive_calls} requests")
    print(f"ratio={naive_s / pc_s:.1f}")


if __name__ == "__main__":
    main()
