"""The probe-VM port relay, in Python and in the kernel: the same frames cross both, the same way.

Built in one `lh-trl-relay` namespace (see `relay_check.py` for its wiring); the relay runs in
there, and what every interface received is compared with what a vSwitch trunk port does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.probe.netlab import NetLab, fixture_netlab

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def relay_ns() -> Iterator[tuple[NetLab, str]]:
    with fixture_netlab("lh-trl-", "the relay tests") as lab:
        ns = lab.add("relay")
        lab.ip(ns,
               "link add tr0 type veth peer name pu-pt0",
               "link add pt0.20 mtu 1500 type veth peer name pb0.20 mtu 9000",
               "link add br0 type bridge mcast_snooping 0",
               "link add vm4.30 type veth peer name sw4.30",
               "link add brx type veth peer name bry",
               "link set vm4.30 master br0", "link set brx master br0",
               *(f"link set {i} up" for i in
                 ("tr0", "pu-pt0", "pt0.20", "pb0.20", "br0", "vm4.30", "sw4.30", "brx", "bry")))
        lab.ip(ns, "link set tr0 mtu 9000", "link set pu-pt0 mtu 9000")
        # the first case's frame was lost in CI: sent right after a lab's namespaces were torn
        # down, before the kernel had made pt0.20 operational
        lab.wait_operational(ns)
        yield lab, ns


def run(relay_ns: tuple[NetLab, str], mode: str) -> dict[str, Any]:
    _lab, ns = relay_ns
    result = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m",
                             "tests.sim.relay_check", mode], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def untagged(hexframe: str) -> str:
    raw = bytes.fromhex(hexframe)
    return (raw[:12] + raw[16:]).hex() if raw[12:14] == b"\x81\x00" else hexframe


@pytest.mark.parametrize("mode", ["python", "kernel"])
def test_relay_tags_and_untags_like_a_trunk_port(relay_ns: tuple[NetLab, str],
                                                 mode: str) -> None:
    out = run(relay_ns, mode)
    assert out["kernel"] is (mode == "kernel")
    seen, sent = out["seen"], out["frames"]
    nothing = {"tr0": [], "pb0.20": [], "sw4.30": [], "bry": []}

    def only(case: str, where: str, vlan: int | None, data: str) -> None:
        expected = {k: v for k, v in nothing.items() if k != sent_on(case)}
        expected[where] = [[data, vlan]]
        assert seen[case] == expected, case

    def sent_on(case: str) -> str:
        return next(k for k in nothing if k not in seen[case])

    # a frame tagged V leaves untagged by V's link: into the port-group bridge for a trunk,
    # straight out of the vmnic for a pinned NIC (the vSwitch's other ports do not see it)
    only("tagged 20", "pb0.20", None, untagged(sent["tagged 20"]))
    only("tagged 30", "sw4.30", None, untagged(sent["tagged 30"]))
    # no VLAN of the port, no native VLAN, no room on the link: dropped
    for case in ("tagged 40", "untagged from the probe", "too big for pt0.20"):
        assert seen[case] == {k: v for k, v in nothing.items() if k != "tr0"}, case
    # what arrives on a link reaches the probe tagged with the link's VLAN...
    only("from the port-group bridge", "tr0", 20, sent["from the port-group bridge"])
    # ...and a vmnic's VLAN link still delivers it to its vSwitch bridge as well
    assert seen["from the switch"] == {
        "tr0": [[sent["from the switch"], 30]], "pb0.20": [],
        "bry": [[sent["from the switch"], None]]}
    # the vSwitch's own beacons stay out of the guest
    assert seen["beacon from the bridge"] == {k: v for k, v in nothing.items()
                                              if k != "pb0.20"}
    assert out["relayed"] == 4
    assert out["after_close"] == 0, "the relay went on after close()"
