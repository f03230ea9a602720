"""Benchmark: the vSphere driver's snapshot vs naive per-host pyVmomi attribute access.

Starts lh-vcsim with N hosts (default 1,000) on 127.0.0.1 and reads the same host facts two
ways over one session: (a) `VsphereDriver.snapshot()`, one RetrievePropertiesEx over a
ContainerView (plus CreateContainerView and DestroyView), and (b) the way most scripts do it,
`h.config.network.vnic`, `h.config.option` ... per host, each attribute walk one round trip
that fetches the whole top-level property. Both sides go through the driver's declarative
converters, so their facts must compare equal. Requests are counted by the connection's wrapper
around the pyVmomi stub. Prints both times and request counts, then `ratio=NN.N` (naive /
snapshot) last. Targets: snapshot <= 3 requests and >= 30x faster.

Usage: .venv/bin/python bench/vsphere_snapshot.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.drivers.vsphere import VsphereConnection, VsphereDriver, mapping
from harness.drivers.vsphere.vmomi import vim
from harness.facts.vsphere import DEFAULT_OPTION_KEYS, HostFacts
from harness.lab.inventory import Secret
from harness.sim.vcenter import VcsimProcess, build_binary
from harness.sim.vcenter.spec import HostSpec, VcenterSpec, VcsimSpec

USER, PASSWORD = "bench", "bench-password"


def spec(n: int) -> VcsimSpec:
    hosts = [HostSpec(name=f"esx{i:04d}", version="6.5.0", build=5969303,
                      vmnics=[f"vmnic{k}" for k in range(4)]) for i in range(n)]
    return VcsimSpec(vcenter=VcenterSpec(name="vcsa", version="6.5.0", build=8307201,
                                         datacenter="DC", cluster="CL"), hosts=hosts)


def _keyed(items: Any, keys: tuple[str, ...], key: Any, value: Any) -> dict[str, Any]:
    return {key(i): value(i) for i in items or () if key(i) in keys}


def naive(conn: VsphereConnection) -> dict[str, HostFacts]:
    """The same host facts as the snapshot, by attribute access per host."""
    content = vim.ServiceInstance("ServiceInstance", conn.stub).RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    hosts: dict[str, HostFacts] = {}
    for h in view.view:
        managers = h.configManager
        fields: dict[str, Any] = {
            "name": h.name,
            "connection_state": str(h.runtime.connectionState),
            "version": h.config.product.version,
            "build": h.config.product.build,
            "vswitches": mapping.vswitches(h.config.network.vswitch),
            "port_groups": mapping.port_groups(h.config.network.portgroup),
            "vnics": mapping.vnics(h.config.network.vnic),
            "pnics": mapping.pnics(h.config.network.pnic),
            "proxy_switches": mapping.proxy_switches(h.config.network.proxySwitch),
            "vnic_services": mapping.vnic_services(h.config.virtualNicManagerInfo.netConfig),
            "ntp_servers": tuple(h.config.dateTimeInfo.ntpConfig.server or ()),
            "services": _keyed(h.config.service.service, mapping.DEFAULT_SERVICES,
                               lambda s: s.key, mapping.service),
            "firewall_rulesets": _keyed(h.config.firewall.ruleset, mapping.DEFAULT_RULESETS,
                                        lambda r: r.key, lambda r: bool(r.enabled)),
            "options": _keyed(h.config.option, DEFAULT_OPTION_KEYS,
                              lambda o: o.key, mapping.option_value),
            "managers": {
                "network_system": managers.networkSystem._moId,
                "date_time_system": managers.dateTimeSystem._moId,
                "service_system": managers.serviceSystem._moId,
                "firewall_system": managers.firewallSystem._moId,
                "advanced_option": managers.advancedOption._moId,
            },
        }
        facts = mapping.build_host(h._moId, fields)
        hosts[facts.name] = facts
    view.Destroy()
    return hosts


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory(prefix="lh-bench-vcsim-") as tmp:
        t0 = time.perf_counter()
        binary = build_binary()
        build_s = time.perf_counter() - t0
        with VcsimProcess.start(spec(n), "127.0.0.1:0", USER, PASSWORD, workdir=Path(tmp),
                                binary=binary, timeout=300) as sim:
            print(f"hosts={n} build_s={build_s:.1f} startup_s={sim.startup_s:.2f}", flush=True)
            conn = VsphereConnection(sim.url, USER, Secret("plain:", PASSWORD),
                                     context=sim.ssl_context())
            with VsphereDriver(conn) as vc:
                snap = vc.snapshot()
                print(f"snapshot: {snap.elapsed_s:.2f} s, {snap.requests} requests "
                      f"({', '.join(conn.calls)})", flush=True)
                before = conn.requests
                t0 = time.perf_counter()
                naive_hosts = naive(conn)
                naive_s, naive_requests = time.perf_counter() - t0, conn.requests - before
    if naive_hosts != dict(snap.hosts) or len(naive_hosts) != n:
        differ = sorted(k for k in naive_hosts if naive_hosts[k] != snap.hosts.get(k))
        sys.exit(f"results differ: snapshot saw {len(snap.hosts)} hosts, naive "
                 f"{len(naive_hosts)}; differing: {differ[:5]}")
    print(f"naive:    {naive_s:.2f} s, {naive_requests} requests")
    met = snap.requests <= 3 and naive_s / snap.elapsed_s >= 30
    print(f"facts identical for {n} hosts; target (<= 3 requests, >= 30x) "
          f"{'met' if met else 'NOT met'}")
    print(f"ratio={naive_s / snap.elapsed_s:.1f}")


if __name__ == "__main__":
    main()
