"""Observations the network and NSX suites share, gathered once per session with probe agents
(only when a test asks for them: the design suite needs none).

Each fixture measures one thing across the whole lab (every cabled vmnic's neighbours, every
uplink's reachability), in parallel per host, so the tests that judge them are cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from harness.facts import JsonValue
from harness.facts.wire import Heard, UplinkKey
from harness.lab.model import Lab
from harness.lab.views import expected_neighbours, host_port_groups
from harness.sim.probesites import SimProbeSites

T = TypeVar("T")
K = TypeVar("K")

NEIGHBOUR_WAIT_S = 3.0  # lldpd sends every 1 s; allow its 1 s link debounce plus two intervals


def in_parallel(items: Iterable[K], work: Callable[[K], T]) -> dict[K, T]:
    items = list(items)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(items)))) as pool:
        return dict(zip(items, pool.map(work, items), strict=True))


@pytest.fixture(scope="session")
def heard(lab: Lab, probe_sites: SimProbeSites) -> dict[UplinkKey, list[Heard]]:
    """CDP/LLDP neighbours heard on every cabled vmnic."""
    expected = expected_neighbours(lab)
    hosts = sorted({h for h, _ in expected})

    def listen(host: str) -> dict[str, list[Heard]]:
        vmnics = sorted(v for h, v in expected if h == host)
        report = probe_sites.at(host).neighbours(vmnics, timeout=NEIGHBOUR_WAIT_S,
                                                 expect="both")
        return {v: [Heard(n.protocol, n.device_id, n.port_id)
                    for n in report.neighbours.get(v, [])] for v in vmnics}

    out: dict[UplinkKey, list[Heard]] = {}
    for host, by_vmnic in in_parallel(hosts, listen).items():
        out.update({(host, v): heard for v, heard in by_vmnic.items()})
    return out


def _vlan_of_link(link: str) -> int | None:
    if "." not in link:
        return None
    return int(link.split(".", 1)[1].rstrip("abcdefgh"))


def beacon_targets(lab: Lab, probe_sites: SimProbeSites, host: str) -> dict[int, list[str]]:
    """VLAN -> addresses that answer ARP on it: its gateway, then other hosts' vmknics."""
    targets: dict[int, list[str]] = {}
    for net in lab.networks.values():
        if net.gateway is not None:
            targets.setdefault(net.vlan, []).append(str(net.gateway))
    for vmk in probe_sites.state.vmknics:
        if vmk.host == host:
            continue
        pg = host_port_groups(lab, vmk.host).get(vmk.port_group)
        if pg is not None:
            targets.setdefault(pg.vlan, []).append(str(vmk.ip.ip))
    return targets


@pytest.fixture(scope="session")
def uplinks(lab: Lab, probe_sites: SimProbeSites
            ) -> dict[UplinkKey, tuple[bool | None, dict[str, JsonValue]]]:
    """Every cabled uplink probed on its own (standby included): an ARP probe out of one of its
    VLAN links to an address on that VLAN, answered on that same link."""
    keys = sorted(expected_neighbours(lab))

    def probe(key: UplinkKey) -> tuple[bool | None, dict[str, JsonValue]]:
        host, vmnic = key
        agent = probe_sites.at(host)
        targets = beacon_targets(lab, probe_sites, host)
        tried: list[dict[str, Any]] = []
        for link in probe_sites.uplink_links(host, vmnic):
            vlan = _vlan_of_link(link)
            for target in (targets.get(vlan, []) if vlan is not None else [])[:2]:
                for _ in range(2):
                    result = agent.beacon(link, target, timeout=0.3)
                    tried.append({"link": link, "target": target,
                                  "reachable": result.reachable, "rtt_ms": result.rtt_ms})
                    if result.reachable:
                        return True, {"probes": tried}
        return (False, {"probes": tried}) if tried else (None, {"probes": []})

    return in_parallel(keys, probe)


@pytest.fixture(scope="session")
def dead_uplinks(uplinks: dict[UplinkKey, tuple[bool | None, dict[str, JsonValue]]]
                 ) -> set[UplinkKey]:
    return {k for k, (ok, _) in uplinks.items() if ok is False}
