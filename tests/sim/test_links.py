"""A link is used only once the kernel has made it operational: `sim up` (before its daemons
send) and the namespace tests wait for that, and say which links never got there.

A new veth or bridge reads up, with carrier, before the kernel's link watch has run on it: a
veth opened before its peer does not transmit until then, and a bridge port does not forward
(a relay test lost its first frame in CI that way, right after a lab's namespaces were torn
down). Which states mean "not yet" is checked on netlink messages as the kernel sends them; the
waiting, on a link set the way a supplicant sets one (RFC 2863 "dormant" through
IFLA_OPERSTATE), since the kernel's own window cannot be held open on demand.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from harness.probes import netlink
from harness.sim.dataplane import build, netns
from tests.probe.netlab import NetLab, fixture_netlab

RTM_SETLINK, NLM_F_ACK = 19, 0x4
IF_OPER_DORMANT, IF_OPER_UP = 5, 6


def _link_message(flags: int, operstate: int, carrier_changes: int | None, kind: str) -> bytes:
    """An RTM_NEWLINK body as the kernel sends one: ifinfomsg, then attributes."""
    attrs = netlink._rta(netlink.IFLA_IFNAME, b"lk0\0") + netlink._rta(
        netlink.IFLA_OPERSTATE, bytes([operstate])) + netlink._rta(
        netlink.IFLA_LINKINFO, netlink._rta(netlink.IFLA_INFO_KIND, kind.encode() + b"\0"))
    if carrier_changes is not None:
        attrs += netlink._rta(netlink.IFLA_CARRIER_CHANGES, struct.pack("=I", carrier_changes))
    return netlink._IFINFO.pack(socket.AF_UNSPEC, 1, 7, flags, 0) + attrs


UP_CARRIER = netlink.IFF_UP | netlink.IFF_LOWER_UP


@pytest.mark.parametrize(("flags", "operstate", "changes", "kind", "activating"), [
    (UP_CARRIER, 3, 2, "veth", True),       # lowerlayerdown: its carrier came, not yet watched
    (UP_CARRIER, 2, 3, "bridge", True),     # down, the same for a bridge
    (UP_CARRIER, 0, 1, "bridge", True),     # unknown after a carrier change: never watched yet
    (UP_CARRIER, 0, 0, "bridge", False),    # unknown, carrier never changed: a portless bridge
    (UP_CARRIER, 0, None, "bridge", False),  # a kernel that does not count: not waited for
    (UP_CARRIER, 5, 2, "veth", True),       # dormant: carrier, but not operational
    (UP_CARRIER, 6, 2, "veth", False),      # up
    (netlink.IFF_UP, 3, 1, "veth", False),        # no carrier: nothing to wait for
    (netlink.IFF_LOWER_UP, 2, 1, "veth", False),  # administratively down
    (UP_CARRIER, 0, 1, "vxlan", False),     # other kinds are ready when up
])
def test_a_link_is_activating_until_the_kernel_made_it_operational(
        flags: int, operstate: int, changes: int | None, kind: str, activating: bool) -> None:
    link = netlink._link(_link_message(flags, operstate, changes, kind))
    assert (link.name, link.kind, link.carrier_changes) == ("lk0", kind, changes or 0)
    assert link.operstate == netlink.OPERSTATES[operstate]
    assert link.activating is activating


def set_operstate(ns: str, ifname: str, state: int) -> None:
    """RTM_SETLINK with IFLA_OPERSTATE only, as a supplicant sets it (acknowledged)."""
    with netns.entered(ns):
        body = netlink._IFINFO.pack(socket.AF_UNSPEC, 0, socket.if_nametoindex(ifname), 0, 0)
        list(netlink._request(RTM_SETLINK, NLM_F_ACK,
                              body + netlink._rta(netlink.IFLA_OPERSTATE, bytes([state]))))


@pytest.fixture
def links_ns() -> Iterator[tuple[NetLab, str]]:
    with fixture_netlab("lh-tlk-", "the link tests") as lab:
        ns = lab.add("links")
        # lkempty, a bridge without ports, has carrier from the start and no link watch step
        lab.ip(ns, "link add lk0 type veth peer name lk1", "link add lkbr type bridge",
               "link add lkempty type bridge", "link set lk0 master lkbr",
               *(f"link set {i} up" for i in ("lk0", "lk1", "lkbr", "lkempty")))
        yield lab, ns


def test_links_not_operational_are_waited_for_and_named(links_ns: tuple[NetLab, str]) -> None:
    lab, ns = links_ns
    lab.wait_operational(ns)  # a veth pair and a bridge with a port: all of them, soon
    assert build.activating([ns]) == []
    with netns.entered(ns):
        states = {link.name: (link.operstate, link.carrier) for link in netlink.links()}
    assert states["lkempty"] == ("unknown", True)
    assert states["lkbr"] == states["lk1"] == ("up", True)

    set_operstate(ns, "lk1", IF_OPER_DORMANT)
    assert build.activating([ns]) == [f"{ns}/lk1 (dormant)"]
    with pytest.raises(netns.NetnsError, match=rf"after 0.3 s: {ns}/lk1 \(dormant\)"):
        build.wait_operational([ns], timeout=0.3)

    # the wait ends when the link does, and says how long it took
    threading.Timer(0.4, set_operstate, (ns, "lk1", IF_OPER_UP)).start()
    started = time.monotonic()
    waited = build.wait_operational([ns], timeout=5)
    assert 0.3 <= waited <= time.monotonic() - started + 0.01
    assert build.activating([ns]) == []


def test_a_dormant_link_is_not_used_by_the_netlab_either(links_ns: tuple[NetLab, str]) -> None:
    lab, ns = links_ns
    lab.wait_operational(ns)
    set_operstate(ns, "lk1", IF_OPER_DORMANT)
    with pytest.raises(netns.NetnsError, match="lk1"):
        lab.wait_operational(ns, timeout=0.2)
    set_operstate(ns, "lk1", IF_OPER_UP)
    lab.wait_operational(ns, timeout=1)
