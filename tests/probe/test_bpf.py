"""The kernel filters of `harness.probes.bpf`, run in the kernel: frames sent on one end of a
veth, read through a filtered socket on the other, in a namespace of their own."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.probe.netlab import NetLab

ROOT = Path(__file__).resolve().parents[2]

# sends labelled frames on bpfa, reads bpfb through a filter, prints the labels that got through
SCRIPT = r"""
import json, socket, sys, time
sys.path.insert(0, sys.argv[1])
from harness.probes import bpf, frames
from harness.probes.link import _with_tag, open_tap
me, other = "198.18.90.1", "198.18.90.2"
mac = "02:00:00:00:90:01"
def arp(spa, tpa):
    return frames.arp_request(mac, spa, tpa)
def ip_to(dst):
    return frames.icmp_echo(mac, "02:00:00:00:90:02", other, dst, 7, 1)
sent = {"arp-from-me": arp(me, other), "arp-for-me": arp(other, me),
        "arp-others": arp(other, "198.18.90.3"), "ip-to-me": ip_to(me),
        "ip-to-other": ip_to("198.18.90.3"), "tagged-ip-to-me": frames.tagged(ip_to(me), 20),
        "tagged-arp-for-me": frames.tagged(arp(other, me), 20),
        "tagged-ip-to-other": frames.tagged(ip_to("198.18.90.3"), 20),
        "beacon": bytes.fromhex("ffffffffffff020000009001") + b"\x89\x22LHBC\x12\x34"
        + b"\0" * 40,
        "beacon-of-another-host": bytes.fromhex("ffffffffffff020000009002") + b"\x89\x22LHBC"
        + b"\x99\x99" + b"\0" * 40}
program = {"address": bpf.about_address(me),
           "beacon": bpf.ethertype_and_halfword(0x8922, 18, 0x1234),
           "relay": bpf.arrived_except(0x8922)}[sys.argv[2]]
rx = open_tap("bpfb")
bpf.attach(rx, program)
while True:  # what queued before the filter was attached
    try:
        rx.recvmsg(65535, 64)
    except BlockingIOError:
        break
tx = open_tap("bpfa")
for label, frame in sent.items():
    tx.send(frame)
time.sleep(0.2)
got = []
while True:
    try:
        data, ancillary, _flags, _addr = rx.recvmsg(65535, 64)
    except BlockingIOError:
        break
    data = _with_tag(data, ancillary)  # a veth with VLAN offload moves the tag to auxdata
    got += [label for label, frame in sent.items() if frame == data]
print(json.dumps(got))
"""


@pytest.fixture(scope="module")
def veth_ns(netlab: NetLab) -> str:
    ns = netlab.add("bpf")
    netlab.ip(ns, "link add bpfa type veth peer name bpfb", "link set bpfa up",
              "link set bpfb up")
    netlab.wait_operational(ns)  # the frames are sent at once: none may meet an idle queue
    return ns


def _through(netlab: NetLab, ns: str, program: str) -> set[str]:
    out = netlab.exec(ns, sys.executable, "-c", SCRIPT, str(ROOT), program).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_a_probe_reads_only_frames_about_its_address(netlab: NetLab, veth_ns: str) -> None:
    assert _through(netlab, veth_ns, "address") == {
        "arp-from-me", "arp-for-me", "ip-to-me", "tagged-ip-to-me", "tagged-arp-for-me"}


def test_a_vswitch_reads_only_its_own_beacons(netlab: NetLab, veth_ns: str) -> None:
    assert _through(netlab, veth_ns, "beacon") == {"beacon"}


def test_a_relay_reads_everything_but_beacons(netlab: NetLab, veth_ns: str) -> None:
    assert _through(netlab, veth_ns, "relay") == {
        "arp-from-me", "arp-for-me", "arp-others", "ip-to-me", "ip-to-other",
        "tagged-ip-to-me", "tagged-arp-for-me", "tagged-ip-to-other"}
